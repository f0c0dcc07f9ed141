//! Tables in a PDF's text layer, found from its layout: consecutive lines
//! cut into the same number of cells (see [`super::layout::Cell`]) whose
//! cells stand in the same columns, row under row.
//!
//! Why this way: a PDF has no tables, only characters at positions. What
//! makes a table plain to a reader is alignment — every row's cells fall
//! in the same columns, set clearly apart — and that is what is checked:
//! at least [`MIN_ROWS`] rows going down the page, each cell overlapping
//! exactly one column and the columns in order. A line with fewer cells
//! just under a row, each in one column, continues that row's cells (a
//! cell that wraps). Two-column tables must have short cells on the left
//! (a key and its value): two columns of running text, which PDFium may
//! read as one line with a wide gap, have long lines on both sides.
//!
//! The first row is the header, so every chunk of a long table repeats it
//! (see [`super::table::Table`]). Ruled lines are not read: alignment alone
//! decides, which also finds tables drawn without rules (booktabs).

use super::layout::{Cell, Line};
use super::table::Table;

/// Fewest rows (the header included) that make a table.
pub(crate) const MIN_ROWS: usize = 3;

/// Longest left cell, in characters, of a two-column table.
const MAX_KEY_CHARS: usize = 30;

/// A table found among a page's lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    /// Index of its first line.
    pub start: usize,
    /// Index past its last line.
    pub end: usize,
    /// Its header (the first row) and rows.
    pub table: Table,
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
            Some(found) => {
                i = found.end;
                out.push(found);
            }
            None => i += 1,
        }
    }
    out
}

/// The table starting at line `start`, if one does.
fn table_at(lines: &[Line], start: usize) -> Option<Found> {
    let first = &lines[start];
    if first.cells.len() < 2 {
        return None;
    }
    let mut columns: Vec<[f32; 2]> = first.cells.iter().map(|c| [c.rect[0], c.rect[2]]).collect();
    let mut rows: Vec<Vec<String>> = vec![first.cells.iter().map(|c| c.text.clone()).collect()];
    let mut prev = first;
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
        if at.len() == columns.len() {
            for (col, c) in columns.iter_mut().zip(&line.cells) {
                col[0] = col[0].min(c.rect[0]);
                col[1] = col[1].max(c.rect[2]);
            }
            rows.push(line.cells.iter().map(|c| c.text.clone()).collect());
        } else if gap < 0.5 * h && rows.len() > 1 {
            // Cells that wrapped: joined to the row above.
            let Some(row) = rows.last_mut() else { break };
            for (&col, c) in at.iter().zip(&line.cells) {
                super::layout::join(&mut row[col], &c.text);
            }
        } else {
            break;
        }
        prev = line;
        end += 1;
    }
    if rows.len() < MIN_ROWS {
        return None;
    }
    if columns.len() == 2 && rows.iter().any(|r| r[0].chars().count() > MAX_KEY_CHARS) {
        return None;
    }
    let mut rows = rows.into_iter();
    let header = rows.next()?;
    Some(Found {
        start,
        end,
        table: Table {
            header,
            rows: rows.collect(),
        },
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
    fn aligned_rows_are_a_table_with_their_header_and_wrapped_cells() {
        let lines = vec![
            row(50.0, &[(50.0, "本办法适用于全体员工。")]),
            row(80.0, &[(50.0, "城市"), (150.0, "级别"), (260.0, "上限")]),
            row(94.0, &[(50.0, "北京"), (150.0, "一线"), (270.0, "600")]),
            row(108.0, &[(50.0, "成都"), (150.0, "省会城"), (270.0, "450")]),
            // "省会城" wraps: "市" under it, in its column.
            row(121.0, &[(150.0, "市")]),
            row(134.0, &[(50.0, "其他"), (150.0, "其余"), (270.0, "350")]),
            row(170.0, &[(50.0, "超出标准部分由个人承担。")]),
        ];
        let found = tables(&lines);
        assert_eq!(found.len(), 1);
        let t = &found[0];
        assert_eq!((t.start, t.end), (1, 6));
        assert_eq!(t.table.header, ["城市", "级别", "上限"]);
        assert_eq!(
            t.table.rows,
            [
                vec!["北京", "一线", "600"],
                vec!["成都", "省会城市", "450"],
                vec!["其他", "其余", "350"]
            ]
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
