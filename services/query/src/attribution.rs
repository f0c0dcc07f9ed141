//! Citations for sentences the model left unmarked.
//!
//! Models cite unevenly: a large one writes `[n]` after most statements, a
//! small one copies a sentence from a source and cites nothing. An answer
//! whose provenance the reader cannot check is worth less than one whose
//! sentences point at their page, so after generation each sentence without
//! a marker is matched against the sources that were in the prompt: when
//! nearly all of its content words (Latin words and numbers, Chinese
//! character pairs) occur in one source, that source is cited for it, as a
//! citation of origin [`Origin::Overlap`]. The answer text is left as the
//! model wrote it; the reader sees which citations the model made and which
//! were matched.
//!
//! The test is containment, not similarity: a sentence that adds words of
//! its own (a paraphrase, an inference, a hallucination) is not attributed,
//! so a matched citation means the source says what the sentence says.

use crate::prompt::Source;
use serde::Serialize;
use std::collections::HashSet;

/// How a citation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The model wrote the `[n]` marker.
    Marker,
    /// An unmarked sentence of the answer is contained in the source.
    Overlap,
}

/// Share of a sentence's content terms that must occur in one source.
const CONTAINMENT: f64 = 0.8;
/// Sentences with fewer content terms are too short to attribute.
const MIN_TERMS: usize = 3;

/// English function words, which say nothing about where a sentence came
/// from.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "has", "have",
    "in", "is", "it", "its", "of", "on", "or", "that", "the", "their", "there", "this", "to",
    "was", "were", "what", "when", "which", "who", "will", "with", "you", "your",
];

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Content terms: lower-cased Latin words and numbers (function words
/// dropped), and pairs of adjacent Chinese characters.
fn terms(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut word = String::new();
    let mut prev_cjk: Option<char> = None;
    let flush = |word: &mut String, out: &mut HashSet<String>| {
        if !word.is_empty() && !STOPWORDS.contains(&word.as_str()) {
            out.insert(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush(&mut word, &mut out);
            if let Some(p) = prev_cjk {
                out.insert([p, c].iter().collect());
            }
            prev_cjk = Some(c);
        } else {
            prev_cjk = None;
            if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
            } else {
                flush(&mut word, &mut out);
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The answer's sentences, split after Latin and Chinese sentence ends and
/// at line breaks.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = match c {
            '。' | '！' | '？' | '；' | '\n' => true,
            '.' | '!' | '?' | ';' => chars.peek().is_none_or(|(_, n)| n.is_whitespace()),
            _ => false,
        };
        if end {
            let j = i + c.len_utf8();
            out.push(&text[start..j]);
            start = j;
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Whether a sentence carries a `[n]` marker (the answer's markers are
/// already normalised to that form).
fn has_marker(sentence: &str) -> bool {
    let b = sentence.as_bytes();
    b.windows(3).any(|w| w[0] == b'[' && w[1].is_ascii_digit())
}

/// Source numbers for the unmarked sentences of `answer`, in order of first
/// use, leaving out those already in `cited`.
pub fn attribute(answer: &str, sources: &[Source], cited: &[u32]) -> Vec<u32> {
    if sources.is_empty() {
        return Vec::new();
    }
    let source_terms: Vec<HashSet<String>> = sources.iter().map(|s| terms(&s.chunk.text)).collect();
    let mut found = Vec::new();
    for sentence in sentences(answer) {
        if has_marker(sentence) {
            continue;
        }
        let t = terms(sentence);
        if t.len() < MIN_TERMS {
            continue;
        }
        // The source containing most of the sentence; on a tie, the one
        // retrieval ranked higher.
        let best = sources
            .iter()
            .zip(&source_terms)
            .map(|(s, st)| (t.iter().filter(|w| st.contains(*w)).count(), s))
            .max_by(|(a, sa), (b, sb)| a.cmp(b).then(sb.rank.cmp(&sa.rank)));
        if let Some((hits, s)) = best
            && hits as f64 >= CONTAINMENT * t.len() as f64
            && !cited.contains(&s.n)
            && !found.contains(&s.n)
        {
            found.push(s.n);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhishu_retrieval::ChunkDoc;

    fn source(n: u32, rank: usize, text: &str) -> Source {
        Source {
            n,
            chunk: ChunkDoc {
                chunk_id: format!("c{n}"),
                document_id: format!("d{n}"),
                version: 1,
                collection: "c".into(),
                page: Some(2),
                text: text.into(),
                ..ChunkDoc::default()
            },
            score: 1.0,
            rank,
        }
    }

    fn sources() -> Vec<Source> {
        vec![
            source(
                1,
                1,
                "The emergency vault code for Project Kestrel is 4471-ZETA. It changes every quarter.",
            ),
            source(2, 2, "The canteen serves lunch from noon to two."),
            source(
                3,
                3,
                "差旅报销须在出差结束后十个工作日内提交，逾期不予受理。",
            ),
        ]
    }

    #[test]
    fn a_copied_sentence_is_attributed_to_its_source() {
        let got = attribute(
            "The emergency vault code for Project Kestrel is 4471-ZETA. The canteen serves lunch from noon to two.",
            &sources(),
            &[],
        );
        assert_eq!(got, vec![1, 2]);
    }

    #[test]
    fn chinese_sentences_are_attributed() {
        let got = attribute("报销须在出差结束后十个工作日内提交。", &sources(), &[]);
        assert_eq!(got, vec![3]);
    }

    #[test]
    fn added_claims_are_not_attributed() {
        // Most of the words are the model's own: no source says this.
        let got = attribute(
            "The vault code was leaked by a contractor last winter and nobody noticed.",
            &sources(),
            &[],
        );
        assert!(got.is_empty(), "{got:?}");
        let got = attribute("差旅费用由总经理亲自审批并当天报销。", &sources(), &[]);
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn marked_sentences_and_cited_sources_are_left_alone() {
        let answer = "The vault code for Project Kestrel is 4471-ZETA [1]. The canteen serves lunch from noon to two.";
        assert_eq!(attribute(answer, &sources(), &[]), vec![2]);
        assert_eq!(attribute(answer, &sources(), &[2]), Vec::<u32>::new());
        assert!(attribute("Yes.", &sources(), &[]).is_empty());
        assert!(attribute("The vault code is 4471-ZETA.", &[], &[]).is_empty());
    }

    #[test]
    fn sentences_split_in_both_languages() {
        assert_eq!(
            sentences("One. Two!\n三。四？ v1.2 is out"),
            vec!["One.", " Two!", "\n", "三。", "四？", " v1.2 is out"]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
        );
    }
}
