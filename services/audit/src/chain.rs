//! The hash of one link.
//!
//! The hash covers every stored column that carries meaning — sequence
//! number, id, time, actor, action, outcome, client address, the payload and
//! the previous hash. Writer and verifier share these functions, so the
//! encoding cannot drift between them.
//!
//! # Why the payload is hashed as stored bytes
//!
//! Encoding 1 hashed a canonical re-serialisation of the payload *value*: at
//! write time of the value in memory, at verification time of the value
//! parsed back from the database. Those two agree only if every number
//! survives text → parse → text unchanged, and a JSON float parser that is
//! not correctly rounded (serde_json's default one) returns a neighbouring
//! `f64` for about one float in seven: ordinary chat events then verified as
//! "modified". Encoding 2 removes the round trip from the chain altogether:
//! the writer encodes the payload once ([`canonical_json`]), stores that
//! text, and hashes those very bytes; the verifier hashes the bytes it reads
//! and parses them only for display. No parser, float formatter or library
//! version sits between what was hashed and what is checked, and any change
//! to a stored byte — even one that would parse to the same value — changes
//! the hash. The fixed columns (strings and integers, no floats) are still
//! encoded as canonical JSON, where text and value are one to one.
//!
//! Encoding 1 links (written before the fix) are still checked with
//! encoding 1, now with a correctly rounded parser (serde_json's
//! `float_roundtrip`), under which serde_json's own shortest float output
//! parses back to the same `f64`: every link that was intact when written
//! verifies; the stored text must also be exactly what that writer wrote
//! (`payload.to_string()`), so bytes that merely parse to the same value —
//! whitespace, a duplicated key — are caught too. The encoding is bound into
//! the hash through a distinct domain prefix, so relabelling a link's
//! encoding cannot make a changed link pass.

use serde_json::Value;
use sha2::{Digest, Sha256};
use zhishu_store::AuditRecord;

/// `prev_hash` of the first link.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The encoding new links are written with: the stored payload bytes are
/// hashed (see the module documentation).
pub const ENCODING: i64 = 2;

/// The encoding of links written before version 0.2: a canonical
/// re-serialisation of the parsed payload.
pub const LEGACY_ENCODING: i64 = 1;

/// SHA-256 (hex) of a link of the current [`ENCODING`]: its fixed columns as
/// canonical JSON, then the stored payload text byte for byte.
/// `record.hash` and `record.encoding` are not read (the encoding is the
/// domain prefix). Writers set `payload_json` with [`canonical_json`].
pub fn link_hash(record: &AuditRecord) -> String {
    let mut buf = String::with_capacity(256);
    buf.push_str("zhishu-audit-v2\n");
    write_canonical(&Value::Object(fixed_columns(record)), &mut buf);
    buf.push('\n');
    let mut hasher = Sha256::new();
    hasher.update(buf.as_bytes());
    hasher.update(record.payload_json.as_bytes());
    hex::encode(hasher.finalize())
}

/// The columns both encodings hash besides the payload: strings and
/// integers only.
fn fixed_columns(record: &AuditRecord) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("seq".into(), record.seq.into());
    m.insert("id".into(), record.id.clone().into());
    m.insert("occurred_at".into(), record.occurred_at.into());
    m.insert("actor".into(), record.actor.clone().into());
    m.insert("action".into(), record.action.clone().into());
    m.insert("outcome".into(), record.outcome.clone().into());
    m.insert("client_addr".into(), record.client_addr.clone().into());
    m.insert("prev_hash".into(), record.prev_hash.clone().into());
    m
}

/// SHA-256 (hex) of a link of [`LEGACY_ENCODING`]: canonical JSON of every
/// field with the *parsed* payload. Only verification uses it, for links
/// written before encoding 2.
pub fn legacy_link_hash(record: &AuditRecord) -> String {
    let mut fields = fixed_columns(record);
    fields.insert("payload".into(), record.payload.clone());
    let mut buf = String::with_capacity(512);
    buf.push_str("zhishu-audit-v1\n");
    write_canonical(&Value::Object(fields), &mut buf);
    hex::encode(Sha256::digest(buf.as_bytes()))
}

/// The hash `record` must carry under the encoding it says it was written
/// with; `None` for an encoding this version does not know.
pub(crate) fn expected_hash(record: &AuditRecord) -> Option<String> {
    match record.encoding {
        ENCODING => Some(link_hash(record)),
        // The old writer stored exactly `payload.to_string()`, and with a
        // correctly rounded parser that text is a fixed point: anything else
        // in the column (added whitespace, a duplicated key that a parser
        // would read one way and a person another) was changed since.
        LEGACY_ENCODING if written_by_the_old_writer(record) => Some(legacy_link_hash(record)),
        LEGACY_ENCODING => Some(String::new()),
        _ => None,
    }
}

/// Whether the stored text is exactly what the encoding-1 writer stored
/// for this value (`Value::to_string`). Compared as text: `Value`'s own
/// `PartialEq<String>` would compare a JSON string value instead.
fn written_by_the_old_writer(record: &AuditRecord) -> bool {
    let text: String = record.payload.to_string();
    text.as_str() == record.payload_json.as_str()
}

/// `value` as JSON with object keys sorted at every depth and no
/// insignificant whitespace; numbers as serde_json writes them (integers
/// exactly, floats as the shortest text that reads back as the same `f64`).
/// This is the text a new link stores and hashes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&map[key.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> AuditRecord {
        let payload = serde_json::json!({"b": [1, {"y": 2, "x": 1}], "a": "差旅 \"quoted\"", "score": 0.1 + 0.2});
        AuditRecord {
            seq: 1,
            id: "e1".into(),
            occurred_at: 1_700_000_000_000,
            actor: "张伟".into(),
            action: "search".into(),
            outcome: "ok".into(),
            client_addr: None,
            payload_json: canonical_json(&payload),
            payload,
            encoding: ENCODING,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
            search_text: String::new(),
            document_ids: String::new(),
        }
    }

    #[test]
    fn canonical_text_sorts_keys_at_every_depth() {
        let a = record();
        let reordered: Value = serde_json::from_str(
            r#"{"score": 0.30000000000000004, "a": "差旅 \"quoted\"", "b": [1, {"x": 1, "y": 2}]}"#,
        )
        .unwrap();
        assert_eq!(canonical_json(&reordered), a.payload_json);
        assert_eq!(
            a.payload_json,
            r#"{"a":"差旅 \"quoted\"","b":[1,{"x":1,"y":2}],"score":0.30000000000000004}"#
        );
        assert_eq!(link_hash(&a).len(), 64);
    }

    #[test]
    fn every_meaningful_field_is_covered() {
        let base = link_hash(&record());
        let changes: [fn(&mut AuditRecord); 10] = [
            |r| r.seq = 2,
            |r| r.id = "e2".into(),
            |r| r.occurred_at += 1,
            |r| r.actor = "李".into(),
            |r| r.action = "chat".into(),
            |r| r.outcome = "refused".into(),
            |r| r.client_addr = Some("1.2.3.4".into()),
            |r| r.payload_json = r.payload_json.replace("差旅", "changed"),
            // The same value in other bytes is a change to what was stored.
            |r| r.payload_json = r.payload_json.replace(",", ", "),
            |r| r.prev_hash = "1".repeat(64),
        ];
        for change in changes {
            let mut r = record();
            change(&mut r);
            assert_ne!(link_hash(&r), base);
        }
        // Derived search columns, the parsed value and the stored hash are
        // not inputs of encoding 2.
        let mut r = record();
        r.hash = "x".into();
        r.search_text = "x".into();
        r.payload = Value::Null;
        assert_eq!(link_hash(&r), base);
    }

    #[test]
    fn relabelling_the_encoding_changes_the_expected_hash() {
        let mut r = record();
        let v2 = expected_hash(&r).unwrap();
        r.encoding = LEGACY_ENCODING;
        assert_ne!(expected_hash(&r).unwrap(), v2);
        r.encoding = 3;
        assert_eq!(expected_hash(&r), None);
    }

    /// Numbers of every awkward kind serde_json can hold.
    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>().prop_map(Value::from),
            any::<f32>().prop_map(Value::from),
            (any::<u64>(), -320i32..320).prop_map(|(m, e)| Value::from(m as f64 * 10f64.powi(e))),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(Value::from(-0.0f64)),
            Just(Value::from(f64::MIN_POSITIVE / 3.0)),
            Just(Value::from(5e-324)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5000))]

        /// The legacy encoding verifies links written by the old writer:
        /// with a correctly rounded parser, parsing the stored text gives
        /// back exactly the value that was hashed.
        #[test]
        fn legacy_links_round_trip_through_their_stored_text(n in number(), s in ".*") {
            let mut r = record();
            r.encoding = LEGACY_ENCODING;
            r.payload = serde_json::json!({"score": n, "text": s});
            let written = legacy_link_hash(&r);
            // The old writer stored `payload.to_string()`.
            let stored = r.payload.to_string();
            r.payload = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(legacy_link_hash(&r), written, "{}", stored);
        }

        /// Canonical text parses back to a value whose canonical text is the
        /// same bytes: the stored text is a fixed point.
        #[test]
        fn canonical_text_is_a_fixed_point(n in number(), m in number(), s in ".*") {
            let v = serde_json::json!({"z": [n, {"s": s}], "a": m});
            let text = canonical_json(&v);
            let back: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(canonical_json(&back), text);
        }
    }
}
