//! Page layout: positioned glyphs or recognised words → lines →
//! paragraphs, with the rectangles they occupy, and headings found by type
//! size. One place for the PDF text layer and for OCR, so both read the
//! same way.
//!
//! Why these rules: PDFium gives characters in reading order with the line
//! breaks it infers, but no paragraphs; a paragraph ends where the gap to
//! the next line is clearly larger than the line spacing, or where the text
//! jumps back up (the next column). Lines of Chinese join without a space,
//! lines of English with one, and a word hyphenated across a line break is
//! rejoined. Headings are the short paragraphs set clearly larger than the
//! body text, levelled by size — the only structure most PDFs carry, and
//! what lets a PDF chunk cite `2 住宿标准` rather than only a page.

use super::Rect;

/// One character with its box, in points on the page as it is shown (its
/// rotation and crop box applied), y growing downwards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glyph {
    /// The character.
    pub ch: char,
    /// Left, top, right, bottom; `None` for characters the engine
    /// generated (spaces, line breaks).
    pub rect: Option<[f32; 4]>,
    /// The box of the character's ink alone, where known: gaps between
    /// cells are measured ink to ink, because a full-width bracket's box
    /// holds half an em of blank beside its ink.
    pub ink: Option<[f32; 4]>,
    /// Type size in points (0 when unknown).
    pub size: f32,
}

/// A line of text with its box, in the page's own units (points for PDF,
/// pixels for OCR), y growing downwards.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    /// The text, trimmed.
    pub text: String,
    /// Left, top, right, bottom.
    pub rect: [f32; 4],
    /// Type size (0 for OCR lines: never a heading by size).
    pub size: f32,
    /// The line cut where its characters stand clearly apart (more than
    /// [`CELL_GAP`] of the type size): the cells when the line is a row of
    /// a table. One cell for ordinary text.
    pub cells: Vec<Cell>,
}

/// A run of a line's text standing apart from the rest: a table cell
/// where rows line up (see [`super::columns`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    /// The text, trimmed.
    pub text: String,
    /// Left, top, right, bottom.
    pub rect: [f32; 4],
}

/// A gap between two characters of a line wider than this many type sizes
/// separates cells. Word spaces are about a third of the size and stretch
/// to about two thirds in justified text; table columns are set at least a
/// size apart (LaTeX's default column gap is 1.2 sizes at 10 pt).
pub(crate) const CELL_GAP: f32 = 1.0;

/// A paragraph of one page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Para {
    /// Its lines joined.
    pub text: String,
    /// Each line's box, as fractions of the page.
    pub boxes: Vec<Rect>,
    /// Largest type size of its lines.
    pub size: f32,
    /// Number of lines.
    pub lines: usize,
    /// True when the paragraph is a table found from its layout: `text`
    /// is then a Markdown table, one row a line.
    pub table: bool,
}

/// Characters written without spaces between words: CJK ideographs, kana,
/// hangul, and the full-width punctuation set with them.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3000..=0x30FF | 0x3100..=0x31FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF | 0x20000..=0x3134F)
}

/// Appends `next` to `out`, with a space between them unless either side
/// of the join is CJK. A word hyphenated at the end of `out` (a letter, a
/// hyphen, then a letter starting `next`) is rejoined.
pub(crate) fn join(out: &mut String, next: &str) {
    let next = next.trim();
    if next.is_empty() {
        return;
    }
    let Some(last) = out.chars().last() else {
        out.push_str(next);
        return;
    };
    let first = next.chars().next().unwrap_or(' ');
    if last == '-' && first.is_lowercase() {
        let mut rev = out.chars().rev();
        rev.next();
        if rev.next().is_some_and(char::is_alphabetic) {
            out.pop();
            out.push_str(next);
            return;
        }
    }
    if !(is_cjk(last) || is_cjk(first)) {
        out.push(' ');
    }
    out.push_str(next);
}

/// Lines from a page's glyphs, in the engine's order: a line ends at a
/// line break (`\n`, `\r`).
pub(crate) fn lines(glyphs: &[Glyph]) -> Vec<Line> {
    /// The line being built: its text, box, size and cells so far.
    #[derive(Default)]
    struct Building {
        text: String,
        rect: Option<[f32; 4]>,
        size: f32,
        cells: Vec<Cell>,
        cell: String,
        cell_rect: Option<[f32; 4]>,
        /// Right edge and type size of the last character with a box.
        last: Option<(f32, f32)>,
    }
    fn union(a: Option<[f32; 4]>, r: [f32; 4]) -> [f32; 4] {
        match a {
            None => r,
            Some(a) => [
                a[0].min(r[0]),
                a[1].min(r[1]),
                a[2].max(r[2]),
                a[3].max(r[3]),
            ],
        }
    }
    impl Building {
        fn end_cell(&mut self) {
            let t = self.cell.trim();
            if let (false, Some(rect)) = (t.is_empty(), self.cell_rect) {
                self.cells.push(Cell {
                    text: t.to_owned(),
                    rect,
                });
            }
            self.cell.clear();
            self.cell_rect = None;
        }
        fn end_line(&mut self, out: &mut Vec<Line>) {
            self.end_cell();
            let t = self.text.trim();
            if let (false, Some(rect)) = (t.is_empty(), self.rect) {
                out.push(Line {
                    text: t.to_owned(),
                    rect,
                    size: self.size,
                    cells: std::mem::take(&mut self.cells),
                });
            }
            *self = Building::default();
        }
    }
    let mut out = Vec::new();
    let mut b = Building::default();
    for g in glyphs {
        if g.ch == '\n' || g.ch == '\r' {
            b.end_line(&mut out);
            continue;
        }
        if let Some(r) = g.rect.filter(|_| !g.ch.is_whitespace()) {
            let em = if g.size > 0.0 { g.size } else { r[3] - r[1] };
            let ink = g.ink.unwrap_or(r);
            if let Some((right, size)) = b.last
                && ink[0] - right > CELL_GAP * em.max(size).max(1.0)
            {
                b.end_cell();
            }
            b.last = Some((ink[2], em));
            b.rect = Some(union(b.rect, r));
            b.cell_rect = Some(union(b.cell_rect, r));
            b.size = b.size.max(g.size);
        }
        b.text.push(g.ch);
        b.cell.push(g.ch);
    }
    b.end_line(&mut out);
    out
}

/// Counts of a page's non-space characters: readable ones, and those a
/// reader cannot use (replacement, private-use or control characters: the
/// "text" of a font without a Unicode map is glyph numbers).
fn census(lines: &[Line]) -> (usize, usize) {
    let (mut good, mut bad) = (0usize, 0usize);
    for c in lines.iter().flat_map(|l| l.text.chars()) {
        if c.is_whitespace() {
            continue;
        }
        if c == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(&c) || c.is_control() {
            bad += 1;
        } else {
            good += 1;
        }
    }
    (good, bad)
}

/// True when a page's lines hold readable text: some letters, and not
/// mostly replacement or private-use characters (a font without a
/// Unicode map, whose "text" is glyph numbers).
pub(crate) fn readable(lines: &[Line]) -> bool {
    let (good, bad) = census(lines);
    good >= 3 && bad * 2 < good + bad
}

/// Fewest unusable characters that make a page's text layer garbled
/// rather than merely empty.
const GARBLED_CHARS: usize = 20;

/// True when a page draws text that cannot be read (glyph numbers from a
/// font without a Unicode map, as some office exports write): the page
/// shows words a reader sees, so it is one for OCR, like a scan.
pub(crate) fn garbled(lines: &[Line]) -> bool {
    let (_, bad) = census(lines);
    bad >= GARBLED_CHARS && !readable(lines)
}

/// How much a page's text reads left to right in the frame its glyphs are
/// measured in: over consecutive characters of a line side by side, those
/// that step right minus those that step left. Text turned a quarter
/// scores about zero (characters stack), text upside down below zero.
pub(crate) fn reads_forward(glyphs: &[Glyph]) -> i64 {
    let mut score = 0i64;
    let mut last: Option<[f32; 4]> = None;
    for g in glyphs {
        if g.ch == '\n' || g.ch == '\r' {
            last = None;
            continue;
        }
        let Some(r) = g.rect.filter(|_| !g.ch.is_whitespace()) else {
            continue;
        };
        if let Some(p) = last {
            let centre = |r: [f32; 4]| ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
            let ((px, py), (x, y)) = (centre(p), centre(r));
            let tall = (p[3] - p[1]).max(r[3] - r[1]).max(0.1);
            if (y - py).abs() < 0.5 * tall && (x - px).abs() > 0.0 {
                score += if x > px { 1 } else { -1 };
            }
        }
        last = Some(r);
    }
    score
}

/// Puts the words of each line (runs of characters between spaces) left
/// to right by where they stand, keeping each word's own characters in
/// order; a space is kept between words. For a page read turned back,
/// whose engine order follows the page as shown.
pub(crate) fn words_left_to_right(glyphs: &[Glyph]) -> Vec<Glyph> {
    let space = Glyph {
        ch: ' ',
        rect: None,
        ink: None,
        size: 0.0,
    };
    let mut out = Vec::with_capacity(glyphs.len());
    let mut words: Vec<Vec<Glyph>> = Vec::new();
    let mut word: Vec<Glyph> = Vec::new();
    let flush_line = |words: &mut Vec<Vec<Glyph>>, out: &mut Vec<Glyph>| {
        let left = |w: &Vec<Glyph>| {
            w.iter()
                .filter_map(|g| g.rect.map(|r| r[0]))
                .fold(f32::INFINITY, f32::min)
        };
        words.sort_by(|a, b| left(a).total_cmp(&left(b)));
        for (i, w) in words.drain(..).enumerate() {
            if i > 0 {
                out.push(space);
            }
            out.extend(w);
        }
    };
    for g in glyphs {
        if g.ch == '\n' || g.ch == '\r' {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            flush_line(&mut words, &mut out);
            out.push(*g);
        } else if g.ch.is_whitespace() || g.rect.is_none() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(*g);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    flush_line(&mut words, &mut out);
    out
}

/// Puts lines in reading order: top to bottom, and lines side by side
/// (each one's middle within the first's height) left to right.
pub(crate) fn reading_order(lines: &mut [Line]) {
    lines.sort_by(|a, b| a.rect[1].total_cmp(&b.rect[1]));
    let mut start = 0;
    while start < lines.len() {
        let [_, top, _, bottom] = lines[start].rect;
        let mut end = start + 1;
        while end < lines.len() {
            let middle = (lines[end].rect[1] + lines[end].rect[3]) / 2.0;
            if middle > bottom || middle < top {
                break;
            }
            end += 1;
        }
        lines[start..end].sort_by(|a, b| a.rect[0].total_cmp(&b.rect[0]));
        start = end;
    }
}

/// A rectangle (left, top, right, bottom; y down) on a `width × height`
/// page, turned with the page a quarter clockwise `quarters` times: where
/// it is on the turned page (whose size is `height × width` after an odd
/// number of turns).
pub(crate) fn turn(r: [f32; 4], quarters: u8, width: f32, height: f32) -> [f32; 4] {
    let (mut r, mut w, mut h) = (r, width, height);
    for _ in 0..quarters % 4 {
        // (x, y) → (h − y, x): the left edge becomes the top.
        r = [h - r[3], r[0], h - r[1], r[2]];
        std::mem::swap(&mut w, &mut h);
    }
    r
}

/// Groups a page's lines into paragraphs, boxes as fractions of the page
/// (`width` × `height` in the lines' units).
pub(crate) fn paragraphs(lines: &[Line], width: f32, height: f32) -> Vec<Para> {
    let mut out: Vec<Para> = Vec::new();
    let frac = |r: [f32; 4]| Rect {
        x0: (r[0] / width).clamp(0.0, 1.0),
        y0: (r[1] / height).clamp(0.0, 1.0),
        x1: (r[2] / width).clamp(0.0, 1.0),
        y1: (r[3] / height).clamp(0.0, 1.0),
    };
    let mut tables = super::columns::tables(lines).into_iter().peekable();
    let mut prev: Option<&Line> = None;
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        // A table found from the layout is a paragraph of its own.
        if let Some(t) = tables.next_if(|t| t.start == i) {
            let rows = &lines[t.start..t.end];
            if let Some(text) = t.table.markdown() {
                // A box a Markdown line: the header's, again for the rule
                // under it, then each row's; so a chunk of rows marks them.
                let header = t.rects.first().copied().unwrap_or_default();
                let boxes = std::iter::once(header)
                    .chain(t.rects.iter().copied())
                    .map(frac)
                    .collect();
                out.push(Para {
                    text,
                    boxes,
                    size: rows.iter().map(|l| l.size).fold(0.0, f32::max),
                    lines: rows.len(),
                    table: true,
                });
            }
            prev = None;
            i = t.end;
            continue;
        }
        let starts_new = match prev {
            None => true,
            Some(p) => {
                let h = (p.rect[3] - p.rect[1])
                    .max(line.rect[3] - line.rect[1])
                    .max(1.0);
                let gap = line.rect[1] - p.rect[3];
                let size_changed = p.size > 0.0
                    && line.size > 0.0
                    && (p.size - line.size).abs() > 0.15 * p.size.max(line.size);
                // Clearly more than line spacing, or back up the page (a
                // new column), or a change of type size.
                gap > 0.7 * h || line.rect[1] < p.rect[1] - 0.5 * h || size_changed
            }
        };
        match out.last_mut() {
            Some(para) if !starts_new => {
                join(&mut para.text, &line.text);
                para.boxes.push(frac(line.rect));
                para.size = para.size.max(line.size);
                para.lines += 1;
            }
            _ => out.push(Para {
                text: line.text.clone(),
                boxes: vec![frac(line.rect)],
                size: line.size,
                lines: 1,
                table: false,
            }),
        }
        prev = Some(line);
        i += 1;
    }
    out
}

/// Heading levels for paragraphs: a short paragraph (at most two lines,
/// 80 characters, not ending a sentence) set at least 15 % larger than the
/// body size (the size most characters have) is a heading; the largest
/// such size is level 1. `None` for every other paragraph.
pub(crate) fn heading_levels(paras: &[&Para]) -> Vec<Option<u8>> {
    // Body size: the size (to half a point) holding most characters.
    let mut by_size: Vec<(i32, usize)> = Vec::new();
    for p in paras.iter().filter(|p| p.size > 0.0 && !p.table) {
        let key = (p.size * 2.0).round() as i32;
        let n = p.text.chars().count();
        match by_size.iter_mut().find(|(k, _)| *k == key) {
            Some(e) => e.1 += n,
            None => by_size.push((key, n)),
        }
    }
    let Some(&(body, _)) = by_size.iter().max_by_key(|(_, n)| *n) else {
        return vec![None; paras.len()];
    };
    let body = body as f32 / 2.0;
    let is_heading = |p: &Para| {
        let chars = p.text.chars().count();
        !p.table
            && p.size >= body * 1.15
            && p.lines <= 2
            && (2..=80).contains(&chars)
            && !p
                .text
                .ends_with(['。', '.', '，', ',', '；', ';', ':', '：'])
    };
    let mut sizes: Vec<i32> = paras
        .iter()
        .filter(|p| is_heading(p))
        .map(|p| (p.size * 2.0).round() as i32)
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    paras
        .iter()
        .map(|p| {
            if !is_heading(p) {
                return None;
            }
            let key = (p.size * 2.0).round() as i32;
            let rank = sizes.iter().position(|s| *s == key).unwrap_or(0);
            Some((rank + 1).min(6) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Glyphs of `text` set from `x` on a baseline `y` points above the
    /// bottom of an A4 page (as PDF user space counts), in the page's
    /// y-down display space.
    fn glyphs(text: &str, x: f32, y: f32, size: f32) -> Vec<Glyph> {
        let top = 842.0 - y - size;
        text.chars()
            .enumerate()
            .map(|(i, ch)| Glyph {
                ch,
                rect: Some([
                    x + i as f32 * size,
                    top,
                    x + (i + 1) as f32 * size,
                    top + size,
                ]),
                ink: None,
                size,
            })
            .collect()
    }

    #[test]
    fn chinese_lines_join_without_spaces_english_with_and_hyphens_rejoin() {
        let mut s = String::from("根据国家有关财");
        join(&mut s, "务制度，制定本办法。");
        assert_eq!(s, "根据国家有关财务制度，制定本办法。");
        let mut s = String::from("Travel by");
        join(&mut s, "taxi is reim-");
        join(&mut s, "bursed at night");
        assert_eq!(s, "Travel by taxi is reimbursed at night");
        let mut s = String::from("Qwen3-");
        join(&mut s, "32B");
        assert_eq!(s, "Qwen3- 32B");
    }

    #[test]
    fn paragraphs_break_at_gaps_and_headings_are_found_by_size() {
        let mut g = glyphs("1 总则", 72.0, 700.0, 16.0);
        g.push(Glyph {
            ch: '\n',
            rect: None,
            ink: None,
            size: 0.0,
        });
        g.extend(glyphs(
            "为规范公司差旅费用的报销流程，提高资金",
            72.0,
            670.0,
            10.0,
        ));
        g.push(Glyph {
            ch: '\n',
            rect: None,
            ink: None,
            size: 0.0,
        });
        g.extend(glyphs("使用效率，制定本办法。", 72.0, 657.0, 10.0));
        g.push(Glyph {
            ch: '\n',
            rect: None,
            ink: None,
            size: 0.0,
        });
        g.extend(glyphs("本办法适用于全体员工。", 72.0, 620.0, 10.0));
        let lines = lines(&g);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].rect[1] < lines[1].rect[1], "y grows downwards");
        let paras = paragraphs(&lines, 595.0, 842.0);
        let texts: Vec<&str> = paras.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "1 总则",
                "为规范公司差旅费用的报销流程，提高资金使用效率，制定本办法。",
                "本办法适用于全体员工。"
            ]
        );
        assert_eq!(paras[1].boxes.len(), 2);
        let b = paras[1].boxes[0];
        assert!(
            b.x0 > 0.1 && b.x1 < 1.0 && b.y0 > 0.15 && b.y1 < 0.25,
            "{b:?}"
        );
        let refs: Vec<&Para> = paras.iter().collect();
        assert_eq!(heading_levels(&refs), [Some(1), None, None]);
    }

    #[test]
    fn glyph_numbers_are_not_text() {
        let l = |t: &str| Line {
            text: t.into(),
            rect: [0.0; 4],
            size: 10.0,
            cells: Vec::new(),
        };
        assert!(!readable(&[l("\u{E001}\u{E002}\u{E003}\u{E004} a")]));
        assert!(!readable(&[l("  ")]));
        assert!(readable(&[l("报销时限")]));
        // A page of glyph numbers is garbled (one for OCR); a few stray
        // ones, or readable text, are not.
        let numbers: String = (1u8..40).map(|b| char::from(b % 26 + 1)).collect();
        assert!(garbled(&[l(&numbers)]));
        assert!(!garbled(&[l("\u{1}\u{2}\u{3}")]));
        assert!(!garbled(&[
            l("报销时限"),
            l("Travel by taxi is reimbursed at night")
        ]));
    }

    #[test]
    fn words_of_a_line_are_put_left_to_right_and_lines_in_reading_order() {
        let space = Glyph {
            ch: ' ',
            rect: None,
            ink: None,
            size: 0.0,
        };
        let newline = Glyph { ch: '\n', ..space };
        // "2 报销时限 4" as a turned page's engine gives it: the words in
        // the order they show, which is not left to right.
        let mut g = glyphs("4", 400.0, 700.0, 10.0);
        g.push(space);
        g.extend(glyphs("报销时限", 100.0, 700.0, 10.0));
        g.push(space);
        g.extend(glyphs("2", 50.0, 700.0, 10.0));
        let ordered = words_left_to_right(&g);
        let text: String = ordered.iter().map(|g| g.ch).collect();
        assert_eq!(text, "2 报销时限 4");
        assert!(reads_forward(&ordered) > reads_forward(&g));
        // Lines given bottom first, and right before left on one row.
        let mut g = glyphs("b", 300.0, 700.0, 10.0);
        g.push(newline);
        g.extend(glyphs("a", 50.0, 700.0, 10.0));
        g.push(newline);
        g.extend(glyphs("top", 50.0, 720.0, 10.0));
        let mut l = lines(&g);
        reading_order(&mut l);
        let texts: Vec<&str> = l.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["top", "a", "b"]);
    }

    proptest! {
        /// Joining never loses or reorders a non-space character, whatever
        /// the scripts on either side.
        #[test]
        fn join_keeps_every_character(a in "[a-z中文，。 -]{0,12}", b in "[a-z中文，。 -]{0,12}") {
            let mut s = a.trim().to_owned();
            join(&mut s, &b);
            let strip = |t: &str| t.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>();
            prop_assert_eq!(strip(&s), strip(&format!("{a}{b}")));
        }

        /// Four quarter turns bring a box back; a turn keeps its size
        /// (sides swapped) and keeps it on the turned page.
        #[test]
        fn turning_a_box_is_a_rotation(
            x in 0f32..500.0, y in 0f32..700.0, bw in 0f32..100.0, bh in 0f32..100.0, q in 0u8..4
        ) {
            let (w, h) = (600.0f32, 800.0f32);
            let r = [x, y, x + bw, y + bh];
            let back = turn(turn(r, q, w, h), 4 - q, if q % 2 == 1 { h } else { w }, if q % 2 == 1 { w } else { h });
            for (a, b) in r.iter().zip(back) {
                prop_assert!((a - b).abs() < 1e-3, "{r:?} -> {back:?}");
            }
            let t = turn(r, 1, w, h);
            prop_assert!(((t[2] - t[0]) - bh).abs() < 1e-3 && ((t[3] - t[1]) - bw).abs() < 1e-3);
            prop_assert!(t[0] >= -1e-3 && t[2] <= h + 1e-3 && t[1] >= -1e-3 && t[3] <= w + 1e-3);
        }

        /// Every line of the page lands in exactly one paragraph, in order.
        #[test]
        fn paragraphs_partition_lines(ys in proptest::collection::vec(0f32..800.0, 1..30)) {
            let lines: Vec<Line> = ys.iter().enumerate().map(|(i, y)| Line {
                text: format!("l{i}"),
                rect: [10.0, *y, 100.0, y + 10.0],
                size: 10.0,
                cells: Vec::new(),
            }).collect();
            let paras = paragraphs(&lines, 600.0, 820.0);
            let n: usize = paras.iter().map(|p| p.lines).sum();
            prop_assert_eq!(n, lines.len());
            let joined: Vec<String> = paras.iter().flat_map(|p| p.text.split(' ').map(str::to_owned).collect::<Vec<_>>()).collect();
            let want: Vec<String> = (0..lines.len()).map(|i| format!("l{i}")).collect();
            prop_assert_eq!(joined, want);
            for p in &paras {
                for b in &p.boxes {
                    prop_assert!(b.x0 <= b.x1 && b.y0 <= b.y1 && b.y1 <= 1.0 && b.x0 >= 0.0);
                }
            }
        }
    }
}
