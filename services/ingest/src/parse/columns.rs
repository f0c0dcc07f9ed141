//! Tables in a PDF's text layer, found from its layout: consecutive lines
//! cut into the same number of cells (see [`super::layout::Cell`]) whose
//! cells stand in the same columns, row under row.
//!
//! Why this way: a PDF has no tables, only characters at positions. What
//! makes a table plain to a reader is alignment — every row's cells fall
//! in the same columns, set clearly apart — and that is what is checked:
//! at least [`MIN_ROWS`] rows going down the page, each cell overlapping
//! exactly one column and the columns in order. A line with fewer cells is
//! a row with empty cells, unless it sits closer to the row above than
//! rows sit to each other: then its cells wrapped and join that row's.
//! What lines up but is not a table is refused: columns whose cells are as
//! wide as lines of running text (two text columns that PDFium reads
//! across as one line), two-column "tables" whose left cells are more than
//! a short key, and a left column that only numbers its rows (第一条 …,
//! (1) …: a list or the articles of a regulation, set with a wide space).
//!
//! The first row is the header, so every chunk of a long table repeats it
//! (see [`super::table::Table`]). Ruled lines are not read: alignment alone
//! decides, which also finds tables drawn without rules (booktabs).

use super::layout::{Cell, Line};
use super::table::Table;

/// Fewest rows (the header included) that make a table.
pub(crate) const MIN_ROWS: usize = 3;

/// A table found among a page's lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    /// Index of its first line.
    pub start: usize,
    /// Index past its last line.
    pub end: usize,
    /// Its header (the first row) and rows.
    pub table: Table,
    /// Each row's box (the header's first): the union of its lines'.
    pub rects: Vec<[f32; 4]>,
}

/// The column each cell stands in, when every cell overlaps exactly one of
/// `columns` and they come in order; `None` otherwise.
fn columns_of(columns: &[[f32; 2]], cells: &[Cell]) -> Option<Vec<usize>> {
    let mut out = Vec::with_capacity(cells.len());
    for c in cells {
        let mut hit = columns
            .iter()
            .enumerate()
            .filter(|(_, col)| c.rect[0] < col[1] && c.rect[2] > col[0])
            .map(|(i, _)| i);
        let (Some(i), None) = (hit.next(), hit.next()) else {
            return None;
        };
        if out.last().is_some_and(|&last| i <= last) {
            return None;
        }
        out.push(i);
    }
    Some(out)
}

/// The tables among a page's lines (in reading order), in order and never
/// overlapping.
pub(crate) fn tables(lines: &[Line]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match table_at(lines, i) {
            Run::Table(found) => {
                i = found.end;
                out.push(found);
            }
            // Lines that line up but read as prose or a list: none of them
            // starts a table either (and a hostile page of them costs one
            // pass, not one per line).
            Run::NotATable(end) => i = end.max(i + 1),
            Run::None => i += 1,
        }
    }
    out
}

/// What starts at a line.
enum Run {
    /// A table.
    Table(Found),
    /// Aligned lines up to this index that are not a table.
    NotATable(usize),
    /// Nothing aligned.
    None,
}

/// Widest a column of prose-length cells may be, in type sizes (median
/// cell): wider, the "cells" are lines of running text in columns.
const MAX_CELL_EMS: f32 = 25.0;

/// Widest the left cell of a two-column table may be, in type sizes (a key
/// and its value; running text in two columns is wider).
const MAX_KEY_EMS: f32 = 15.0;

/// True for a cell that only numbers what follows (第一条, （一）, 一、,
/// 1., (a), §2): a numbered list or the articles of a regulation, not a
/// column of a table.
fn list_marker(text: &str) -> bool {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > 8 {
        return false;
    }
    if t.starts_with('第') && t.ends_with(['条', '章', '节', '款', '项']) {
        return true;
    }
    let inner = t
        .trim_start_matches(['(', '（', '§'])
        .trim_end_matches([')', '）', '、', '.', '．']);
    let numeral = inner.chars().all(|c| c.is_ascii_digit())
        || inner
            .chars()
            .all(|c| "一二三四五六七八九十百零〇".contains(c))
        || (inner.chars().count() == 1 && inner.chars().all(|c| c.is_ascii_alphabetic()));
    inner != t && !inner.is_empty() && numeral
}

/// The table starting at line `start`, if one does.
fn table_at(lines: &[Line], start: usize) -> Run {
    let first = &lines[start];
    if first.cells.len() < 2 {
        return Run::None;
    }
    let mut columns: Vec<[f32; 2]> = first.cells.iter().map(|c| [c.rect[0], c.rect[2]]).collect();
    let mut rows: Vec<Vec<String>> = vec![first.cells.iter().map(|c| c.text.clone()).collect()];
    let mut rects: Vec<[f32; 4]> = vec![first.rect];
    // Widths of each column's cells, in type sizes.
    let mut widths: Vec<Vec<f32>> = vec![Vec::new(); columns.len()];
    let em = |l: &Line| {
        if l.size > 0.0 {
            l.size
        } else {
            (l.rect[3] - l.rect[1]).max(1.0)
        }
    };
    for (w, c) in widths.iter_mut().zip(&first.cells) {
        w.push((c.rect[2] - c.rect[0]) / em(first));
    }
    // Top-to-top distance between full rows: lines closer than this are
    // one row's wrapped cells.
    let mut row_pitch: Option<f32> = None;
    let mut prev = first;
    let mut prev_full = true;
    let mut end = start + 1;
    while let Some(line) = lines.get(end) {
        let h = (prev.rect[3] - prev.rect[1])
            .max(line.rect[3] - line.rect[1])
            .max(1.0);
        let gap = line.rect[1] - prev.rect[3];
        // Rows go down the page, a row's height or two apart at most.
        if gap < -0.3 * h || gap > 2.0 * h {
            break;
        }
        let Some(at) = columns_of(&columns, &line.cells) else {
            break;
        };
        let pitch = line.rect[1] - prev.rect[1];
        let full = at.len() == columns.len();
        if full {
            for (col, c) in columns.iter_mut().zip(&line.cells) {
                col[0] = col[0].min(c.rect[0]);
                col[1] = col[1].max(c.rect[2]);
            }
            if prev_full {
                row_pitch = Some(row_pitch.map_or(pitch, |p| p.min(pitch)));
            }
            rows.push(line.cells.iter().map(|c| c.text.clone()).collect());
            rects.push(line.rect);
        } else if row_pitch.is_some_and(|p| pitch < p - 0.15 * h) && rows.len() > 1 {
            // Closer than rows are apart: cells that wrapped, joined to
            // the row above.
            let (Some(row), Some(rect)) = (rows.last_mut(), rects.last_mut()) else {
                break;
            };
            *rect = [
                rect[0].min(line.rect[0]),
                rect[1].min(line.rect[1]),
                rect[2].max(line.rect[2]),
                rect[3].max(line.rect[3]),
            ];
            for (&col, c) in at.iter().zip(&line.cells) {
                super::layout::join(&mut row[col], &c.text);
            }
        } else {
            // A row with empty cells.
            let mut row = vec![String::new(); columns.len()];
            for (&col, c) in at.iter().zip(&line.cells) {
                row[col].clone_from(&c.text);
            }
            rows.push(row);
            rects.push(line.rect);
        }
        for (&col, c) in at.iter().zip(&line.cells) {
            widths[col].push((c.rect[2] - c.rect[0]) / em(line));
        }
        prev_full = full;
        prev = line;
        end += 1;
    }
    if rows.len() < MIN_ROWS {
        return Run::None;
    }
    let median = |v: &[f32]| {
        let mut v = v.to_vec();
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let prose = widths.iter().any(|w| median(w) > MAX_CELL_EMS)
        || (columns.len() == 2 && widths[0].iter().any(|&w| w > MAX_KEY_EMS))
        || rows.iter().all(|r| list_marker(&r[0]));
    if prose {
        return Run::NotATable(end);
    }
    let mut rows = rows.into_iter();
    let Some(header) = rows.next() else {
        return Run::None;
    };
    Run::Table(Found {
        start,
        end,
        table: Table {
            header,
            rows: rows.collect(),
        },
        rects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line at `y` whose cells start at the given x positions, 10 points
    /// a character.
    fn row(y: f32, cells: &[(f32, &str)]) -> Line {
        let cells: Vec<Cell> = cells
            .iter()
            .map(|&(x, t)| Cell {
                text: t.into(),
                rect: [x, y, x + 10.0 * t.chars().count() as f32, y + 10.0],
            })
            .collect();
        let left = cells.first().map_or(0.0, |c| c.rect[0]);
        let right = cells.last().map_or(0.0, |c| c.rect[2]);
        Line {
            text: cells
                .iter()
                .map(|c| c.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            rect: [left, y, right, y + 10.0],
            size: 10.0,
            cells,
        }
    }

    #[test]
    fn aligned_rows_are_a_table_with_their_header_wrapped_and_empty_cells() {
        let lines = vec![
            row(50.0, &[(50.0, "本办法适用于全体员工。")]),
            row(80.0, &[(50.0, "城市"), (150.0, "级别"), (260.0, "上限")]),
            row(94.0, &[(50.0, "北京"), (150.0, "一线"), (270.0, "600")]),
            row(108.0, &[(50.0, "成都"), (150.0, "省会城"), (270.0, "450")]),
            // "省会城" wraps: "市" under it, closer than rows are apart.
            row(118.0, &[(150.0, "市")]),
            row(134.0, &[(50.0, "其他"), (150.0, "其余"), (270.0, "350")]),
            // An empty cell, a row's pitch below: a row of its own.
            row(148.0, &[(50.0, "绵阳"), (270.0, "300")]),
            row(180.0, &[(50.0, "超出标准部分由个人承担。")]),
        ];
        let found = tables(&lines);
        assert_eq!(found.len(), 1);
        let t = &found[0];
        assert_eq!((t.start, t.end), (1, 7));
        assert_eq!(t.table.header, ["城市", "级别", "上限"]);
        // A box a row; the wrapped row's covers both its lines.
        assert_eq!(t.rects.len(), 5);
        assert_eq!((t.rects[2][1], t.rects[2][3]), (108.0, 128.0));
        assert_eq!(
            t.table.rows,
            [
                vec!["北京", "一线", "600"],
                vec!["成都", "省会城市", "450"],
                vec!["其他", "其余", "350"],
                vec!["绵阳", "", "300"]
            ]
        );
    }

    #[test]
    fn numbered_articles_are_a_list_not_a_table() {
        // 第一条　… set with a full-width space: two "cells" a line.
        let lines: Vec<Line> = (0..4)
            .map(|i| {
                row(
                    80.0 + 14.0 * i as f32,
                    &[
                        (50.0, ["第一条", "第二条", "第三条", "第四条"][i]),
                        (100.0, "员工出差须事先申请。"),
                    ],
                )
            })
            .collect();
        assert!(tables(&lines).is_empty());
        let marked = ["(1)", "（二）", "三、", "4.", "§5", "第十二条"];
        assert!(marked.iter().all(|m| list_marker(m)), "{marked:?}");
        assert!(
            !["北京", "2026", "E1047", "(note)", "第一名"]
                .iter()
                .any(|m| list_marker(m))
        );
    }

    #[test]
    fn misaligned_or_short_runs_and_running_text_are_not_tables() {
        // Two rows only.
        let two = vec![
            row(80.0, &[(50.0, "a"), (150.0, "b")]),
            row(94.0, &[(50.0, "c"), (150.0, "d")]),
        ];
        assert!(tables(&two).is_empty());
        // Cells that wander between columns.
        let wandering = vec![
            row(80.0, &[(50.0, "aa"), (150.0, "bb"), (250.0, "cc")]),
            row(94.0, &[(50.0, "aaaaaaaaaaaa"), (250.0, "cc")]),
            row(108.0, &[(50.0, "aa"), (190.0, "bb"), (300.0, "cc")]),
        ];
        assert!(tables(&wandering).is_empty());
        // Two columns of running text read across as one line each.
        let prose = "the quick brown fox jumps over the lazy dog again";
        let columns: Vec<Line> = (0..10)
            .map(|i| row(80.0 + 14.0 * i as f32, &[(50.0, prose), (600.0, prose)]))
            .collect();
        assert!(tables(&columns).is_empty());
        // Rows far apart are not one table.
        let apart = vec![
            row(80.0, &[(50.0, "a"), (150.0, "b")]),
            row(94.0, &[(50.0, "c"), (150.0, "d")]),
            row(300.0, &[(50.0, "e"), (150.0, "f")]),
        ];
        assert!(tables(&apart).is_empty());
    }

    proptest! {
        /// Whatever the lines, tables are in order, never overlap, hold at
        /// least MIN_ROWS rows, and every row has a cell for each column.
        #[test]
        fn tables_are_ordered_disjoint_and_rectangular(
            spec in proptest::collection::vec(
                (0f32..40.0, proptest::collection::vec((0f32..500.0, "[a-z]{1,6}"), 1..5)),
                0..25,
            )
        ) {
            let mut y = 0.0;
            let lines: Vec<Line> = spec.iter().map(|(dy, cells)| {
                y += dy;
                let mut cells: Vec<(f32, &str)> = cells.iter().map(|(x, t)| (*x, t.as_str())).collect();
                cells.sort_by(|a, b| a.0.total_cmp(&b.0));
                row(y, &cells)
            }).collect();
            let found = tables(&lines);
            let mut after = 0;
            for t in &found {
                prop_assert!(t.start >= after && t.end > t.start && t.end <= lines.len());
                prop_assert!(t.table.rows.len() + 1 >= MIN_ROWS);
                for r in &t.table.rows {
                    prop_assert_eq!(r.len(), t.table.header.len());
                }
                after = t.end;
            }
        }
    }
}
