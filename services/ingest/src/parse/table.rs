//! Tables: one type for every format that has them (CSV, spreadsheets,
//! DOCX, HTML, Markdown), rendered as a Markdown table — the form a chat
//! model reads best and the one the prompt shows. Chunking cuts a table
//! between rows and repeats its header in every chunk (see
//! [`crate::chunk`]), so a retrieved row group always says what its
//! columns are.
//!
//! Spreadsheets are read as a person sees them: each cell's cached value,
//! never its formula (a formula's text answers nothing); dates as dates;
//! a merged cell's value in every cell it spans; every sheet, its name in
//! the section path; hidden sheets skipped or included by policy.

use super::{BlockKind, ParseError, Parsed, normalise_space};
use calamine::{Data, Dimensions, Reader, Sheets, open_workbook_auto_from_rs};
use std::io::Cursor;
use zhishu_core::config::HiddenSheets;

/// A table: a header row and the rows under it, cells as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Column names (may be empty strings where a column has none).
    pub header: Vec<String>,
    /// Body rows; a row may be shorter or longer than the header.
    pub rows: Vec<Vec<String>>,
}

/// Lines of a rendered table that are its header: the names and the
/// `| --- |` rule under them.
pub(crate) const HEADER_LINES: usize = 2;

impl Table {
    /// The table as Markdown: `| a | b |`, the rule, then one line per row
    /// with at least one non-empty cell. Cells are whitespace-normalised and
    /// `|` is escaped. Columns without a name are named by their letter
    /// (`A`, `B`, … as a spreadsheet shows them). `None` when no row has a
    /// value.
    pub fn markdown(&self) -> Option<String> {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| cell_text(c)).collect::<Vec<_>>())
            .filter(|r: &Vec<String>| r.iter().any(|c| !c.is_empty()))
            .collect();
        if rows.is_empty() {
            return None;
        }
        let width = rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.header.len()))
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
            out.push('|');
            for c in cells {
                out.push(' ');
                out.push_str(&c);
                out.push_str(" |");
            }
            out.push('\n');
        };
        line(
            &mut out,
            &mut (0..width).map(|i| {
                let h = self.header.get(i).map(|h| cell_text(h)).unwrap_or_default();
                if h.is_empty() { column_name(i) } else { h }
            }),
        );
        line(&mut out, &mut (0..width).map(|_| "---".to_owned()));
        for r in &rows {
            line(
                &mut out,
                &mut (0..width).map(|i| r.get(i).cloned().unwrap_or_default()),
            );
        }
        out.pop();
        Some(out)
    }
}

/// A cell for a Markdown line: one line, `|` escaped.
fn cell_text(c: &str) -> String {
    normalise_space(c).replace('|', "\\|")
}

/// A spreadsheet's name for the 0-based column `i`: A…Z, AA…
pub(crate) fn column_name(mut i: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

pub(crate) fn parse_csv(text: &str) -> Result<Parsed, ParseError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
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
    parsed.push_table(&Table { header, rows }, None);
    Ok(parsed)
}

/// A cell's value as the spreadsheet shows it.
fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::DateTime(dt) if dt.is_duration() => {
            let secs = (dt.as_f64() * 86_400.0).round() as i64;
            format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
        }
        Data::DateTime(dt) => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else if dt.as_f64() < 1.0 {
                // A time of day with no date.
                format!("{h:02}:{mi:02}:{s:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
        other => other.to_string(),
    }
}

/// Distinct non-empty values in a row.
fn distinct_values(row: &[String]) -> usize {
    let mut seen: Vec<&str> = row
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// The merged regions of a sheet, where the format records them.
fn merged(book: &mut Sheets<Cursor<Vec<u8>>>, name: &str) -> Vec<Dimensions> {
    match book {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        Sheets::Xls(x) =>
        {
            #[allow(deprecated)]
            x.worksheet_merge_cells(name).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

pub(crate) fn parse_spreadsheet(bytes: &[u8], hidden: HiddenSheets) -> Result<Parsed, ParseError> {
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| ParseError::Invalid(format!("not a readable spreadsheet: {e}")))?;
    let sheets: Vec<(String, bool)> = book
        .sheets_metadata()
        .iter()
        .filter(|s| s.typ == calamine::SheetType::WorkSheet)
        .map(|s| (s.name.clone(), s.visible == calamine::SheetVisible::Visible))
        .collect();
    let mut parsed = Parsed::default();
    for (name, visible) in sheets {
        if !visible && hidden == HiddenSheets::Skip {
            continue;
        }
        let range = book
            .worksheet_range(&name)
            .map_err(|e| ParseError::Invalid(format!("sheet {name:?}: {e}")))?;
        let Some((top, left)) = range.start() else {
            continue;
        };
        let mut grid: Vec<Vec<String>> =
            range.rows().map(|r| r.iter().map(cell).collect()).collect();
        // A merged cell shows its value across the whole region.
        for m in merged(&mut book, &name) {
            let at = |(r, c): (u32, u32)| {
                (
                    (r as usize).checked_sub(top as usize),
                    (c as usize).checked_sub(left as usize),
                )
            };
            let (Some(r0), Some(c0)) = at(m.start) else {
                continue;
            };
            let Some(value) = grid.get(r0).and_then(|r| r.get(c0)).cloned() else {
                continue;
            };
            for r in m.start.0..=m.end.0 {
                for c in m.start.1..=m.end.1 {
                    if let (Some(r), Some(c)) = at((r, c))
                        && let Some(slot) = grid.get_mut(r).and_then(|row| row.get_mut(c))
                        && slot.is_empty()
                    {
                        slot.clone_from(&value);
                    }
                }
            }
        }
        // The first row with a value is the header.
        let Some(first) = grid
            .iter()
            .position(|r| r.iter().any(|c| !c.trim().is_empty()))
        else {
            continue;
        };
        let mut rows = grid.split_off(first);
        parsed.push(BlockKind::Heading(1), &name, None);
        // Title rows above the header (one value, often merged across the
        // sheet) are the table's caption, not its column names.
        while rows.len() > 1 && distinct_values(&rows[0]) <= 1 && rows[0].len() > 1 {
            let title = rows.remove(0);
            if let Some(t) = title.iter().find(|c| !c.trim().is_empty()) {
                parsed.push(BlockKind::Paragraph, t, None);
            }
        }
        let mut header = rows.remove(0);
        for (i, h) in header.iter_mut().enumerate() {
            if h.trim().is_empty() {
                *h = column_name(left as usize + i);
            }
        }
        parsed.push_table(&Table { header, rows }, None);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_becomes_a_markdown_table() {
        let p = parse_csv("城市,limit\n北京,600\n,\nShang|hai,550\n").unwrap();
        assert_eq!(p.blocks.len(), 1);
        assert_eq!(p.blocks[0].kind, BlockKind::Table);
        assert_eq!(
            p.blocks[0].text,
            "| 城市 | limit |\n| --- | --- |\n| 北京 | 600 |\n| Shang\\|hai | 550 |"
        );
    }

    #[test]
    fn columns_are_named_like_a_spreadsheet() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
    }

    #[test]
    fn garbage_is_not_a_spreadsheet() {
        assert!(matches!(
            parse_spreadsheet(b"not a zip", HiddenSheets::Skip),
            Err(ParseError::Invalid(_))
        ));
    }
}
