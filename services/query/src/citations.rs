//! Citations: `[n]` markers in an answer, checked against the sources the
//! prompt held, while the answer streams.
//!
//! A marker is `[1]`, `[1, 2]`, `[1][2]`, or the full-width `【1】` / `［1］`
//! a model writing Chinese tends to produce; all come out as `[1][2]`, the
//! one form clients render as chips. A number that names no provided source
//! is dropped from the text, never shown as a citation the user cannot
//! open. Text that merely looks like a bracket (`[link]`, `[x]`) passes
//! through untouched.

use crate::attribution::Origin;
use crate::prompt::Source;
use serde::Serialize;

/// Characters a marker may hold between its brackets, at most: enough for
/// `[12, 13, 14, 15]`, small enough that a stray `[` holds back little.
const MAX_MARKER: usize = 24;

/// A resolved citation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    /// The marker's number.
    pub n: u32,
    /// Document id.
    pub document_id: String,
    /// Document version.
    pub document_version: i64,
    /// Document title.
    pub title: String,
    /// Source path.
    pub path: String,
    /// Page, for paged formats.
    pub page: Option<i64>,
    /// Heading path.
    pub section: String,
    /// Chunk id.
    pub chunk_id: String,
    /// The start of the passage.
    pub snippet: String,
    /// The whole passage, for a reader who opens the citation.
    pub text: String,
    /// Whether the model wrote the marker or the sentence was matched to
    /// the source afterwards (see [`crate::attribution`]).
    pub origin: Origin,
}

impl Citation {
    /// The citation of a source.
    pub fn of(source: &Source, origin: Origin) -> Self {
        let c = &source.chunk;
        let mut snippet: String = c.text.chars().take(280).collect();
        if c.text.chars().count() > 280 {
            snippet.push('…');
        }
        Self {
            n: source.n,
            document_id: c.document_id.clone(),
            document_version: c.version,
            title: c.title.clone(),
            path: c.path.clone(),
            page: c.page,
            section: c.section_path.clone(),
            chunk_id: c.chunk_id.clone(),
            snippet,
            text: c.text.clone(),
            origin,
        }
    }
}

fn opens(c: char) -> bool {
    matches!(c, '[' | '【' | '［')
}

fn closes(c: char) -> bool {
    matches!(c, ']' | '】' | '］')
}

fn inner(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ',' | ' ' | '，' | '、' | ';')
}

/// Filters markers out of streamed text; see the module docs.
#[derive(Debug)]
pub struct CitationFilter {
    sources: u32,
    pending: String,
    cited: Vec<u32>,
}

enum Scan {
    /// A complete marker of this many bytes, with these numbers.
    Marker(usize, Vec<u32>),
    /// Not a marker: emit the opening bracket as text.
    Text,
    /// Could still become a marker: wait for more text.
    Incomplete,
}

fn scan(s: &str) -> Scan {
    let mut chars = s.char_indices();
    chars.next(); // the opening bracket
    let mut numbers = Vec::new();
    let mut digits = String::new();
    for (i, c) in chars {
        if closes(c) {
            if !digits.is_empty() {
                numbers.push(digits.parse().unwrap_or(u32::MAX));
            }
            if numbers.is_empty() {
                return Scan::Text;
            }
            return Scan::Marker(i + c.len_utf8(), numbers);
        }
        if !inner(c) || i > MAX_MARKER {
            return Scan::Text;
        }
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !digits.is_empty() {
            numbers.push(digits.parse().unwrap_or(u32::MAX));
            digits.clear();
        }
    }
    Scan::Incomplete
}

impl CitationFilter {
    /// A filter for an answer over `sources` sources (numbered 1..=n).
    pub fn new(sources: usize) -> Self {
        Self {
            sources: sources as u32,
            pending: String::new(),
            cited: Vec::new(),
        }
    }

    /// Feeds streamed text; returns what may be shown now.
    pub fn push(&mut self, text: &str) -> String {
        self.pending.push_str(text);
        self.drain(false)
    }

    /// Returns what is left at the end of the answer.
    pub fn finish(&mut self) -> String {
        self.drain(true)
    }

    /// Valid numbers cited so far, in order of first use.
    pub fn cited(&self) -> &[u32] {
        &self.cited
    }

    fn drain(&mut self, end: bool) -> String {
        let mut out = String::new();
        let mut rest = std::mem::take(&mut self.pending);
        loop {
            let Some(at) = rest.find(opens) else {
                out.push_str(&rest);
                return out;
            };
            out.push_str(&rest[..at]);
            rest.drain(..at);
            match scan(&rest) {
                Scan::Marker(len, numbers) => {
                    for n in numbers {
                        if (1..=self.sources).contains(&n) {
                            out.push_str(&format!("[{n}]"));
                            if !self.cited.contains(&n) {
                                self.cited.push(n);
                            }
                        }
                    }
                    rest.drain(..len);
                }
                Scan::Text => {
                    let first = rest.chars().next().map_or(1, char::len_utf8);
                    out.push_str(&rest[..first]);
                    rest.drain(..first);
                }
                Scan::Incomplete if end => {
                    out.push_str(&rest);
                    return out;
                }
                Scan::Incomplete => {
                    self.pending = rest;
                    return out;
                }
            }
        }
    }
}

/// Resolves cited numbers to citations, in order of first use.
pub fn resolve(cited: &[u32], sources: &[Source], origin: Origin) -> Vec<Citation> {
    cited
        .iter()
        .filter_map(|n| sources.iter().find(|s| s.n == *n))
        .map(|s| Citation::of(s, origin))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sources: usize, pieces: &[&str]) -> (String, Vec<u32>) {
        let mut f = CitationFilter::new(sources);
        let mut out: String = pieces.iter().map(|p| f.push(p)).collect();
        out.push_str(&f.finish());
        (out, f.cited().to_vec())
    }

    #[test]
    fn a_citation_carries_the_whole_passage_and_a_short_snippet() {
        let text = "报销流程。".repeat(100);
        let source = Source {
            n: 2,
            chunk: zhishu_retrieval::synthetic::chunk(7, 3, "finance", text.clone(), 600),
            score: 0.5,
            rank: 1,
        };
        let c = &resolve(&[2, 5], &[source], Origin::Marker)[0];
        assert_eq!(c.n, 2);
        assert_eq!(c.text, text, "the whole passage");
        assert_eq!(
            c.snippet.chars().count(),
            281,
            "280 characters and an ellipsis"
        );
        assert!(c.snippet.ends_with('…') && text.starts_with(c.snippet.trim_end_matches('…')));
    }

    #[test]
    fn valid_markers_pass_and_are_recorded() {
        let (out, cited) = run(
            3,
            &["Refunds take 5 days [2]. Travel ", "is booked online [1]."],
        );
        assert_eq!(out, "Refunds take 5 days [2]. Travel is booked online [1].");
        assert_eq!(cited, vec![2, 1]);
    }

    #[test]
    fn markers_split_across_pieces_are_held_until_whole() {
        let mut f = CitationFilter::new(3);
        assert_eq!(f.push("See ["), "See ");
        assert_eq!(f.push("1"), "");
        assert_eq!(f.push("] and"), "[1] and");
        assert_eq!(f.cited(), &[1]);
    }

    #[test]
    fn unknown_numbers_are_dropped() {
        let (out, cited) = run(2, &["A [7]. B [2, 9]. C [0]."]);
        assert_eq!(out, "A . B [2]. C .");
        assert_eq!(cited, vec![2]);
    }

    #[test]
    fn lists_and_full_width_markers_are_normalised() {
        let (out, cited) = run(3, &["报销需要发票【1】，出差［2、3］。Also [1, 3]."]);
        assert_eq!(out, "报销需要发票[1]，出差[2][3]。Also [1][3].");
        assert_eq!(cited, vec![1, 2, 3]);
    }

    #[test]
    fn brackets_that_are_not_markers_pass_through() {
        let (out, cited) = run(3, &["a [link](x) and [x] and [", " 2 ] and [] end ["]);
        assert_eq!(out, "a [link](x) and [x] and [2] and [] end [");
        assert_eq!(cited, vec![2]);
    }
}
