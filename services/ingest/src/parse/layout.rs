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

/// One character with its box, in PDF points (y grows upwards).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Glyph {
    /// The character.
    pub ch: char,
    /// Left, bottom, right, top; `None` for characters the engine
    /// generated (spaces, line breaks).
    pub rect: Option<[f32; 4]>,
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
}

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
/// line break (`\n`, `\r`). Boxes are turned to y-down for `page_height`.
pub(crate) fn lines(glyphs: &[Glyph], page_height: f32) -> Vec<Line> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rect: Option<[f32; 4]> = None;
    let mut size = 0f32;
    let mut flush = |text: &mut String, rect: &mut Option<[f32; 4]>, size: &mut f32| {
        let t = text.trim();
        if let (false, Some([l, b, r, t_])) = (t.is_empty(), *rect) {
            out.push(Line {
                text: t.to_owned(),
                rect: [l, page_height - t_, r, page_height - b],
                size: *size,
            });
        }
        text.clear();
        *rect = None;
        *size = 0.0;
    };
    for g in glyphs {
        if g.ch == '\n' || g.ch == '\r' {
            flush(&mut text, &mut rect, &mut size);
            continue;
        }
        text.push(g.ch);
        if let Some(r) = g.rect.filter(|_| !g.ch.is_whitespace()) {
            rect = Some(match rect {
                None => r,
                Some(a) => [
                    a[0].min(r[0]),
                    a[1].min(r[1]),
                    a[2].max(r[2]),
                    a[3].max(r[3]),
                ],
            });
            size = size.max(g.size);
        }
    }
    flush(&mut text, &mut rect, &mut size);
    out
}

/// True when a page's lines hold readable text: some letters, and not
/// mostly replacement or private-use characters (a font without a
/// Unicode map, whose "text" is glyph numbers).
pub(crate) fn readable(lines: &[Line]) -> bool {
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
    good >= 3 && bad * 2 < good + bad
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
    let mut prev: Option<&Line> = None;
    for line in lines {
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
            }),
        }
        prev = Some(line);
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
    for p in paras.iter().filter(|p| p.size > 0.0) {
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
        p.size >= body * 1.15
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

    fn glyphs(text: &str, x: f32, y: f32, size: f32) -> Vec<Glyph> {
        text.chars()
            .enumerate()
            .map(|(i, ch)| Glyph {
                ch,
                rect: Some([x + i as f32 * size, y, x + (i + 1) as f32 * size, y + size]),
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
            size: 0.0,
        });
        g.extend(glyphs("使用效率，制定本办法。", 72.0, 657.0, 10.0));
        g.push(Glyph {
            ch: '\n',
            rect: None,
            size: 0.0,
        });
        g.extend(glyphs("本办法适用于全体员工。", 72.0, 620.0, 10.0));
        let lines = lines(&g, 842.0);
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
        };
        assert!(!readable(&[l("\u{E001}\u{E002}\u{E003}\u{E004} a")]));
        assert!(!readable(&[l("  ")]));
        assert!(readable(&[l("报销时限")]));
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

        /// Every line of the page lands in exactly one paragraph, in order.
        #[test]
        fn paragraphs_partition_lines(ys in proptest::collection::vec(0f32..800.0, 1..30)) {
            let lines: Vec<Line> = ys.iter().enumerate().map(|(i, y)| Line {
                text: format!("l{i}"),
                rect: [10.0, *y, 100.0, y + 10.0],
                size: 10.0,
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
