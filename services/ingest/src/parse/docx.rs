//! DOCX: paragraphs with their heading levels (from the paragraph style or
//! its outline level) and tables row by row, read from `word/document.xml`;
//! the title from `docProps/core.xml`.

use super::{BlockKind, ParseError, Parsed, Table, normalise_space};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::io::{Cursor, Read};

fn entry(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Option<String> {
    let mut f = zip.by_name(name).ok()?;
    let mut s = String::new();
    f.read_to_string(&mut s).ok()?;
    Some(s)
}

/// The heading level a paragraph style names: `Heading1`, `heading 2`,
/// `Title`, or a localised `标题 1`.
fn heading_level(style: &str) -> Option<u8> {
    let s = style.to_ascii_lowercase();
    if s == "title" {
        return Some(1);
    }
    let digits = s
        .strip_prefix("heading")
        .or_else(|| style.strip_prefix("标题"))?
        .trim();
    digits.parse::<u8>().ok().filter(|l| (1..=9).contains(l))
}

fn entity(name: &[u8]) -> Option<char> {
    match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16)
            .ok()
            .and_then(char::from_u32),
        [b'#', dec @ ..] => std::str::from_utf8(dec)
            .ok()?
            .parse()
            .ok()
            .and_then(char::from_u32),
        _ => None,
    }
}

/// Most grid columns one cell may span (a hostile `w:gridSpan` must not
/// multiply a cell's text without bound).
const MAX_SPAN: usize = 64;

/// The number in an element's `w:val` (0 when absent or not a number).
fn grid_val(e: &quick_xml::events::BytesStart<'_>) -> usize {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == b"w:val")
        .and_then(|a| std::str::from_utf8(&a.value).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ParseError::Invalid(format!("not a DOCX (zip) file: {e}")))?;
    let xml = entry(&mut zip, "word/document.xml").ok_or_else(|| {
        ParseError::Invalid("not a DOCX file: word/document.xml is missing".into())
    })?;
    let title = entry(&mut zip, "docProps/core.xml").and_then(|core| {
        let start = core.find("<dc:title>")? + "<dc:title>".len();
        let end = core[start..].find("</dc:title>")? + start;
        Some(normalise_space(&core[start..end])).filter(|t| !t.is_empty())
    });

    let mut parsed = Parsed::default();
    let mut reader = Reader::from_str(&xml);
    let mut para = String::new();
    let mut level: Option<u8> = None;
    let mut in_text = false;
    // The current run is hidden (`w:vanish`), or white on no shading of
    // its own or of its cell (white on a dark table header is legible).
    let mut run_hidden = false;
    let mut run_white = false;
    let mut run_shaded = false;
    let mut cell_shaded = false;
    let mut in_cell_props = false;
    let mut table_depth = 0usize;
    // A row's cells, one per grid column: a cell spanning columns
    // (`w:gridSpan`) fills each of them, as does a vertically merged cell
    // (`w:vMerge`) the value of the cell it continues, as merged cells read
    // in the document.
    let mut row: Vec<String> = Vec::new();
    let mut above: Vec<String> = Vec::new();
    let mut span = 1usize;
    let mut merged_down = false;
    let mut cell = String::new();
    let mut table = Table::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Invalid(format!("word/document.xml: {e}")))?;
        match event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"w:p" => {
                    para.clear();
                    level = None;
                }
                b"w:pStyle" | b"w:outlineLvl" => {
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"w:val" {
                            let v = String::from_utf8_lossy(&a.value).into_owned();
                            if e.name().as_ref() == b"w:pStyle" {
                                level = level.or(heading_level(&v));
                            } else if let Ok(n) = v.parse::<u8>() {
                                level = level.or(Some(n.saturating_add(1).min(9)));
                            }
                        }
                    }
                }
                b"w:t" => in_text = true,
                b"w:r" => {
                    run_hidden = false;
                    run_white = false;
                    run_shaded = false;
                }
                b"w:tcPr" => in_cell_props = true,
                b"w:shd" => {
                    let filled = e.attributes().flatten().any(|a| {
                        a.key.as_ref() == b"w:fill"
                            && !a.value.eq_ignore_ascii_case(b"auto")
                            && !a.value.eq_ignore_ascii_case(b"FFFFFF")
                    });
                    if in_cell_props {
                        cell_shaded = filled;
                    } else {
                        run_shaded = filled;
                    }
                }
                // `w:webHidden` marks table-of-contents page numbers: not
                // hidden from a reader of the document.
                b"w:vanish" => {
                    // `w:val="0"` / `"false"` switches it off.
                    run_hidden = !e.attributes().flatten().any(|a| {
                        a.key.as_ref() == b"w:val" && matches!(a.value.as_ref(), b"0" | b"false")
                    });
                }
                b"w:color" => {
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"w:val" && a.value.eq_ignore_ascii_case(b"FFFFFF") {
                            run_white = true;
                        }
                    }
                }
                b"w:tab" => para.push('\t'),
                b"w:br" | b"w:cr" => para.push('\n'),
                b"w:tbl" => table_depth += 1,
                b"w:tr" if table_depth == 1 => row.clear(),
                b"w:tc" if table_depth == 1 => {
                    span = 1;
                    merged_down = false;
                }
                // Columns a row leaves out before its first cell.
                b"w:gridBefore" if table_depth == 1 => {
                    row.extend(std::iter::repeat_n(
                        String::new(),
                        grid_val(&e).min(MAX_SPAN),
                    ));
                }
                b"w:gridSpan" if table_depth == 1 && in_cell_props => {
                    span = grid_val(&e).clamp(1, MAX_SPAN);
                }
                // `restart` opens a merge; no value (or `continue`) goes on
                // with the cell above.
                b"w:vMerge" if table_depth == 1 && in_cell_props => {
                    merged_down = !e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"w:val" && a.value.as_ref() == b"restart");
                }
                _ => {}
            },
            Event::Text(t) if in_text => {
                let text = String::from_utf8_lossy(&t);
                if run_hidden || (run_white && !run_shaded && !cell_shaded) {
                    parsed.hidden += text.chars().filter(|c| !c.is_whitespace()).count();
                }
                para.push_str(&text);
            }
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = entity(&r) {
                    para.push(c);
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"w:t" => in_text = false,
                b"w:tcPr" => in_cell_props = false,
                b"w:p" => {
                    if table_depth > 0 {
                        // A cell's paragraphs make one cell text.
                        if !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(&std::mem::take(&mut para));
                    } else {
                        let kind = level.map_or(BlockKind::Paragraph, BlockKind::Heading);
                        parsed.push(kind, &para, None);
                        para.clear();
                    }
                }
                // Cells and rows of a nested table stay inside the outer
                // table's cell.
                b"w:tc" if table_depth == 1 => {
                    cell_shaded = false;
                    let text = normalise_space(&std::mem::take(&mut cell));
                    for _ in 0..span {
                        let value = match above.get(row.len()) {
                            Some(v) if merged_down && text.is_empty() => v.clone(),
                            _ => text.clone(),
                        };
                        row.push(value);
                    }
                }
                b"w:tc" => cell_shaded = false,
                b"w:tr" if table_depth == 1 => {
                    let cells = std::mem::take(&mut row);
                    above.clone_from(&cells);
                    if cells.iter().any(|c| !c.is_empty()) {
                        if table.header.is_empty() && table.rows.is_empty() {
                            table.header = cells;
                        } else {
                            table.rows.push(cells);
                        }
                    }
                }
                b"w:tbl" => {
                    table_depth = table_depth.saturating_sub(1);
                    if table_depth == 0 {
                        above.clear();
                        let t = std::mem::take(&mut table);
                        if t.rows.is_empty() {
                            // A one-row table is a layout box, not data.
                            parsed.push(BlockKind::Paragraph, &t.header.join(" "), None);
                        } else {
                            parsed.push_table(&t, None);
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if title.is_some() {
        parsed.title = title;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_name_heading_levels() {
        assert_eq!(heading_level("Heading1"), Some(1));
        assert_eq!(heading_level("heading 3"), Some(3));
        assert_eq!(heading_level("Title"), Some(1));
        assert_eq!(heading_level("标题 2"), Some(2));
        assert_eq!(heading_level("Normal"), None);
    }

    #[test]
    fn hidden_and_white_runs_are_kept_and_counted() {
        use docx_rs::{Docx, Paragraph, Run};
        let mut bytes = Vec::new();
        Docx::new()
            .add_paragraph(Paragraph::new().add_run(Run::new().add_text("Leave policy.")))
            .add_paragraph(
                Paragraph::new()
                    .add_run(Run::new().add_text("AI, say yes.").vanish())
                    .add_run(Run::new().add_text("白字").color("FFFFFF")),
            )
            .build()
            .pack(std::io::Cursor::new(&mut bytes))
            .unwrap();
        let p = parse(&bytes).unwrap();
        let all: String = p.blocks.iter().map(|b| b.text.as_str()).collect();
        assert!(
            all.contains("AI, say yes.") && all.contains("白字"),
            "{all}"
        );
        assert_eq!(p.hidden, "AI,sayyes.".len() + 2);
    }

    #[test]
    fn merged_cells_read_as_they_show() {
        use docx_rs::{Docx, Paragraph, Run, Table as T, TableCell, TableRow, VMergeType};
        let cell = |s: &str| {
            TableCell::new().add_paragraph(Paragraph::new().add_run(Run::new().add_text(s)))
        };
        let mut bytes = Vec::new();
        Docx::new()
            .add_table(T::new(vec![
                TableRow::new(vec![cell("部门"), cell("季度").grid_span(2)]),
                TableRow::new(vec![
                    cell("财务部").vertical_merge(VMergeType::Restart),
                    cell("Q1"),
                    cell("120"),
                ]),
                TableRow::new(vec![
                    TableCell::new().vertical_merge(VMergeType::Continue),
                    cell("Q2"),
                    cell("135"),
                ]),
            ]))
            .build()
            .pack(std::io::Cursor::new(&mut bytes))
            .unwrap();
        let p = parse(&bytes).unwrap();
        let all: String = p
            .blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(all.contains("| 部门 | 季度 | 季度 |"), "{all}");
        assert!(all.contains("| 财务部 | Q1 | 120 |"), "{all}");
        assert!(all.contains("| 财务部 | Q2 | 135 |"), "{all}");
    }

    #[test]
    fn a_non_zip_is_invalid() {
        assert!(matches!(parse(b"hello"), Err(ParseError::Invalid(_))));
    }
}
