//! CSV and spreadsheets: each row rendered with its headers
//! (`header: value; header: value`), so a retrieved row reads on its own.
//! Rows are grouped into blocks of a few rows; chunking splits further.

use super::{BlockKind, ParseError, Parsed};
use calamine::{Data, Reader, open_workbook_auto_from_rs};
use std::io::Cursor;

/// Rows per block.
const ROWS_PER_BLOCK: usize = 20;

fn render(
    parsed: &mut Parsed,
    heading: Option<&str>,
    headers: &[String],
    rows: impl Iterator<Item = Vec<String>>,
) {
    if let Some(h) = heading {
        parsed.push(BlockKind::Heading(1), h, None);
    }
    let mut block = String::new();
    let mut n = 0;
    for row in rows {
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(
                |(i, v)| match headers.get(i).filter(|h| !h.trim().is_empty()) {
                    Some(h) => format!("{}: {}", h.trim(), v.trim()),
                    None => v.trim().to_owned(),
                },
            )
            .collect();
        block.push_str(&line.join("; "));
        block.push_str(".\n");
        n += 1;
        if n % ROWS_PER_BLOCK == 0 {
            parsed.push(BlockKind::Table, &block, None);
            block.clear();
        }
    }
    parsed.push(BlockKind::Table, &block, None);
}

pub(crate) fn parse_csv(text: &str) -> Result<Parsed, ParseError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ParseError::Invalid(format!("CSV header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let r = r.map_err(|e| ParseError::Invalid(format!("CSV row {}: {e}", i + 2)))?;
        rows.push(r.iter().map(str::to_owned).collect());
    }
    let mut parsed = Parsed::default();
    render(&mut parsed, None, &headers, rows.into_iter());
    Ok(parsed)
}

fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string(),
    }
}

pub(crate) fn parse_spreadsheet(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| ParseError::Invalid(format!("not a readable spreadsheet: {e}")))?;
    let mut parsed = Parsed::default();
    for name in book.sheet_names() {
        let range = book
            .worksheet_range(&name)
            .map_err(|e| ParseError::Invalid(format!("sheet {name:?}: {e}")))?;
        let mut rows = range.rows();
        let headers: Vec<String> = rows
            .next()
            .map(|r| r.iter().map(cell).collect())
            .unwrap_or_default();
        render(
            &mut parsed,
            Some(&name),
            &headers,
            rows.map(|r| r.iter().map(cell).collect()),
        );
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_carry_their_headers() {
        let p = parse_csv("城市,limit\n北京,600\n,\nShanghai,550\n").unwrap();
        assert_eq!(p.blocks.len(), 1);
        assert_eq!(
            p.blocks[0].text,
            "城市: 北京; limit: 600. 城市: Shanghai; limit: 550."
        );
    }

    #[test]
    fn garbage_is_not_a_spreadsheet() {
        assert!(matches!(
            parse_spreadsheet(b"not a zip"),
            Err(ParseError::Invalid(_))
        ));
    }
}
