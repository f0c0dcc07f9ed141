//! One line of an export, in JSON lines or CSV.

use serde_json::value::RawValue;
use zhishu_store::AuditRecord;

/// The CSV header line.
pub const CSV_HEADER: &str = "seq,id,time,actor,action,outcome,client_addr,question,answer,documents,prev_hash,hash,payload\n";

/// One JSON line of an export. `event` is the stored payload text spliced
/// in byte for byte (not re-serialised), so the line carries exactly what
/// the chain hashed: a verifier outside Zhishu can recompute every hash
/// from the export alone (docs/security.md).
#[derive(serde::Serialize)]
struct Line<'a> {
    seq: i64,
    id: &'a str,
    time: String,
    occurred_at: i64,
    actor: &'a str,
    action: &'a str,
    outcome: &'a str,
    client_addr: Option<&'a str>,
    encoding: i64,
    event: Option<&'a RawValue>,
    /// The stored text when it is not JSON (a tampered row): exported as
    /// found, never dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_unparsable: Option<&'a str>,
    prev_hash: &'a str,
    hash: &'a str,
}

/// The record as one JSON line (with its stored fields and payload).
pub fn jsonl_line(r: &AuditRecord) -> String {
    // Spliced only when the stored text is exactly one JSON value (the
    // parser would drop surrounding whitespace: a change to show, not hide).
    let raw: Option<&RawValue> = serde_json::from_str::<&RawValue>(&r.payload_json)
        .ok()
        .filter(|raw| raw.get().len() == r.payload_json.len());
    let line = Line {
        seq: r.seq,
        id: &r.id,
        time: rfc3339(r.occurred_at),
        occurred_at: r.occurred_at,
        actor: &r.actor,
        action: &r.action,
        outcome: &r.outcome,
        client_addr: r.client_addr.as_deref(),
        encoding: r.encoding,
        event: raw,
        event_unparsable: raw.is_none().then_some(r.payload_json.as_str()),
        prev_hash: &r.prev_hash,
        hash: &r.hash,
    };
    // Strings, integers and already-valid JSON text: serialising cannot fail.
    let mut text = serde_json::to_string(&line).unwrap_or_default();
    text.push('\n');
    text
}

/// The record as one CSV line (RFC 4180 quoting).
pub fn csv_line(r: &AuditRecord) -> String {
    let text = |key: &str| {
        r.payload
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let fields = [
        r.seq.to_string(),
        r.id.clone(),
        rfc3339(r.occurred_at),
        r.actor.clone(),
        r.action.clone(),
        r.outcome.clone(),
        r.client_addr.clone().unwrap_or_default(),
        text("question"),
        text("answer"),
        r.document_ids.trim().to_string(),
        r.prev_hash.clone(),
        r.hash.clone(),
        r.payload_json.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| quote(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

fn quote(field: &str) -> String {
    // A leading =, +, - or @ would be a formula in a spreadsheet: neutralise it.
    let field = if field.starts_with(['=', '+', '-', '@']) {
        format!("'{field}")
    } else {
        field.to_string()
    };
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\"\nbye"), "\"say \"\"hi\"\"\nbye\"");
        assert_eq!(quote("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(quote("差旅"), "差旅");
    }
}

/// Parses a time filter: Unix milliseconds, or `YYYY-MM-DD`, or
/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (UTC).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad = || {
        format!(
            "`{text}` is not a time: use Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)"
        )
    };
    let (date, clock) = match text.split_once('T') {
        Some((d, c)) => (d, Some(c.strip_suffix('Z').ok_or_else(bad)?)),
        None => (text, None),
    };
    let parts: Vec<i64> = date
        .split('-')
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let [year, month, day] = parts[..] else {
        return Err(bad());
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let (mut secs, mut millis) = (0, 0);
    if let Some(clock) = clock {
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, "0"));
        let hms: Vec<i64> = hms
            .split(':')
            .map(|p| p.parse::<i64>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        let [h, m, s] = hms[..] else {
            return Err(bad());
        };
        if h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        secs = h * 3600 + m * 60 + s;
        millis = format!("{frac:0<3}")[..3]
            .parse::<i64>()
            .map_err(|_| bad())?;
    }
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok((days * 86_400 + secs) * 1000 + millis)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn parses_what_it_prints() {
        for ms in [0, 1_700_000_000_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_time(&rfc3339(ms)), Ok(ms));
        }
        assert_eq!(parse_time("2023-11-14"), Ok(1_699_920_000_000));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert!(parse_time("yesterday").unwrap_err().contains("YYYY-MM-DD"));
        assert!(parse_time("2023-13-01").is_err());
    }
}
