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
use std::collections::HashMap;
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

/// The merged regions of a sheet, where the format records them (`ods`:
/// an ODS file's regions by sheet, read once).
fn merged(
    book: &mut Sheets<Cursor<Vec<u8>>>,
    ods: &HashMap<String, Vec<Dimensions>>,
    name: &str,
) -> Vec<Dimensions> {
    match book {
        Sheets::Xlsx(x) => x.merge_cells_by_sheet_name(name).unwrap_or_default(),
        Sheets::Xls(x) =>
        {
            #[allow(deprecated)]
            x.worksheet_merge_cells(name).unwrap_or_default()
        }
        Sheets::Ods(_) => ods.get(name).cloned().unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Most merged regions read from one ODS file: a hostile file cannot make
/// the list grow without bound.
const MAX_ODS_MERGES: usize = 100_000;

/// The merged regions of each sheet of an OpenDocument spreadsheet, which
/// calamine does not report: `content.xml` marks the first cell of each
/// region with `table:number-columns-spanned` / `-rows-spanned`, and its
/// position counts every row and cell before it with their
/// `…-repeated` multiplicities, as calamine counts them. The XML is read
/// as a stream, once for all sheets.
fn ods_merges(bytes: &[u8]) -> HashMap<String, Vec<Dimensions>> {
    use quick_xml::events::{BytesStart, Event};
    let mut out: HashMap<String, Vec<Dimensions>> = HashMap::new();
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return out;
    };
    let Ok(content) = zip.by_name("content.xml") else {
        return out;
    };
    let number = |e: &BytesStart<'_>, key: &[u8]| -> u32 {
        e.attributes()
            .flatten()
            .find(|a| a.key.as_ref() == key)
            .and_then(|a| std::str::from_utf8(&a.value).ok()?.trim().parse().ok())
            .unwrap_or(1)
            .max(1)
    };
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(content));
    let mut buf = Vec::new();
    // The sheet being read and how deep in nested tables (subtables in a
    // cell have rows of their own).
    let mut sheet: Option<String> = None;
    let mut depth = 0usize;
    let (mut row, mut col, mut row_repeats) = (0u32, 0u32, 1u32);
    let mut count = 0usize;
    loop {
        buf.clear();
        let (e, empty) = match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(e)) => {
                match e.name().as_ref() {
                    b"table:table" if depth == 1 => (sheet, depth) = (None, 0),
                    b"table:table" if depth > 1 => depth -= 1,
                    b"table:table-row" if depth == 1 => row = row.saturating_add(row_repeats),
                    _ => {}
                }
                continue;
            }
            Ok(Event::Eof) | Err(_) => return out,
            Ok(_) => continue,
        };
        match e.name().as_ref() {
            b"table:table" if depth == 0 => {
                let name = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"table:name")
                    .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()));
                if let (Some(name), false) = (name, empty) {
                    (sheet, depth, row) = (Some(name), 1, 0);
                }
            }
            b"table:table" if depth > 0 && !empty => depth += 1,
            b"table:table-row" if depth == 1 => {
                col = 0;
                row_repeats = number(&e, b"table:number-rows-repeated");
                if empty {
                    row = row.saturating_add(row_repeats);
                }
            }
            b"table:table-cell" | b"table:covered-table-cell" if depth == 1 => {
                let cols = number(&e, b"table:number-columns-spanned");
                let rows = number(&e, b"table:number-rows-spanned");
                if let (true, Some(name)) =
                    ((cols > 1 || rows > 1) && count < MAX_ODS_MERGES, &sheet)
                {
                    count += 1;
                    out.entry(name.clone()).or_default().push(Dimensions {
                        start: (row, col),
                        end: (row.saturating_add(rows - 1), col.saturating_add(cols - 1)),
                    });
                }
                col = col.saturating_add(number(&e, b"table:number-columns-repeated"));
            }
            _ => {}
        }
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
    let ods = if matches!(book, Sheets::Ods(_)) {
        ods_merges(bytes)
    } else {
        HashMap::new()
    };
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
        for m in merged(&mut book, &ods, &name) {
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
            // Only the part of a region inside the sheet's cells: a hostile
            // region claiming a million rows costs nothing.
            let rows = r0..=at(m.end).0.unwrap_or(0).min(grid.len().saturating_sub(1));
            for r in rows {
                let Some(row) = grid.get_mut(r) else { break };
                let last = at(m.end).1.unwrap_or(0).min(row.len().saturating_sub(1));
                for slot in row.iter_mut().take(last + 1).skip(c0) {
                    if slot.is_empty() {
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

    /// An OpenDocument spreadsheet (written by odfpy) shows each merged
    /// cell's value in every cell it covers, as it reads on screen: down
    /// (`一线城市` on both its rows), across (the note), after rows written
    /// once with a repeat count, on the right sheet; the title merged
    /// across the sheet is the caption.
    #[test]
    fn merged_cells_in_ods_read_as_they_show() {
        let bytes = include_bytes!("../../../../tests/data/sheets/merged.ods");
        let p = parse_spreadsheet(bytes, HiddenSheets::Skip).unwrap();
        let texts: Vec<(BlockKind, &str)> =
            p.blocks.iter().map(|b| (b.kind, b.text.as_str())).collect();
        let table = |sheet: &str| {
            let at = texts
                .iter()
                .position(|(_, t)| *t == sheet)
                .unwrap_or_else(|| panic!("{sheet} in {texts:?}"));
            texts[at..]
                .iter()
                .find(|(k, _)| *k == BlockKind::Table)
                .map(|(_, t)| *t)
                .unwrap()
        };
        assert_eq!(
            table("Notes"),
            "| About | merged note | merged note |\n| --- | --- | --- |\n| x | y | z |"
        );
        assert!(
            texts.contains(&(BlockKind::Paragraph, "差旅住宿标准（2026）")),
            "{texts:?}"
        );
        assert_eq!(
            table("住宿标准"),
            "| 城市级别 | 城市 | 职级 | 每晚上限 |\n| --- | --- | --- | --- |\n\
             | 一线城市 | 北京 | 经理 | 900 |\n| 一线城市 | 上海 | 员工 | 600 |\n\
             | 二线城市 | 成都 | 员工 | 450 |\n| 二线城市 | 成都 | 员工 | 450 |\n\
             | 三线城市 | 按实报销，凭发票 | 按实报销，凭发票 | 350 |"
        );
    }

    /// Each region is found where it sits, rows written once with a repeat
    /// count counted as many times, on its own sheet only.
    #[test]
    fn ods_regions_are_counted_with_repeats() {
        let bytes = include_bytes!("../../../../tests/data/sheets/merged.ods");
        let all = ods_merges(bytes);
        let got = &all["住宿标准"];
        let want = [((1, 0), (1, 3)), ((3, 0), (4, 0)), ((7, 1), (7, 2))];
        let got: Vec<_> = got.iter().map(|d| (d.start, d.end)).collect();
        assert_eq!(got, want);
        assert_eq!(
            all["Notes"]
                .iter()
                .map(|d| (d.start, d.end))
                .collect::<Vec<_>>(),
            [((0, 1), (0, 2))]
        );
        assert_eq!(all.len(), 2);
        assert!(ods_merges(b"not a zip").is_empty());
    }

    #[test]
    fn garbage_is_not_a_spreadsheet() {
        assert!(matches!(
            parse_spreadsheet(b"not a zip", HiddenSheets::Skip),
            Err(ParseError::Invalid(_))
        ));
    }
}
