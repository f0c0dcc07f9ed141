//! How much each word of a question counts in late interaction.
//!
//! Why: MaxSim averages, over the question's word pieces, each piece's
//! best cosine against the passage, every piece alike. "How", "do", "I"
//! and "?" then count as much as "compressed" or "备份", and they find a
//! close match in any passage written as a how-to, so the pass rewards
//! phrasing as BM25 did before it left such words out. The pieces are
//! weighted instead by what the index knows of the word each lies in:
//! nothing for the words BM25 leaves out of a question (its stop words
//! and the words that frame a question, in both languages) and for
//! punctuation, and the square root of the word's inverse document
//! frequency over the chunks otherwise, so a word most chunks hold counts
//! little and a rare one much. A Latin piece takes its whole word's
//! frequency (`pg`, `_dump` count as `pg_dump`); a Chinese piece its
//! rarest character bigram, a single character the bigrams it forms
//! with its neighbours in the question (the index holds bigrams of every
//! run of Chinese characters). On the shipped sets (nDCG@10 of hybrid
//! with the pass, docs/retrieval.md): docs-en 0.739 → 0.758 (its English
//! questions 0.715 → 0.740), docs-zh 0.871 → 0.882 (its Chinese questions
//! 0.820 → 0.842), eval-zh-en 0.924 → 0.921; keyword queries unmoved. The
//! square root because the plain IDF lost Chinese keyword queries
//! (`scripts/late_words_study.py`).

use super::{
    BIGRAM, CHINESE_QUESTION_WORDS, ENGLISH_STOP_WORDS, LexicalIndex, QUESTION_WORDS, analyze,
    is_han,
};
use crate::RetrievalError;
use std::collections::HashMap;
use tantivy::Term;

/// What a piece of a question stands for, as late interaction weighs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PieceTerms {
    /// Punctuation, or part of a word that only frames the question:
    /// weight 0.
    Framing,
    /// The index terms whose rarest weighs the piece.
    Terms(Vec<String>),
}

/// What the piece at byte span `span` of `question` stands for (see the
/// module documentation). A span that does not fall on character
/// boundaries of the question stands for nothing.
pub(crate) fn piece_terms(question: &str, span: (usize, usize)) -> PieceTerms {
    let (start, end) = span;
    let Some(piece) = question.get(start..end) else {
        return PieceTerms::Framing;
    };
    let Some((at, first)) = piece.char_indices().find(|(_, c)| c.is_alphanumeric()) else {
        return PieceTerms::Framing;
    };
    let at = start + at;
    if first.is_ascii_alphanumeric() {
        let word = ascii_word(question, at).to_lowercase();
        if ENGLISH_STOP_WORDS.contains(&word.as_str()) || QUESTION_WORDS.contains(&word.as_str()) {
            return PieceTerms::Framing;
        }
        return PieceTerms::Terms(analyze(&word));
    }
    if is_han(first) {
        if inside_chinese_framing(question, start, end) {
            return PieceTerms::Framing;
        }
        let hans: Vec<char> = piece.chars().filter(|c| is_han(*c)).collect();
        if hans.len() >= 2 {
            return PieceTerms::Terms(hans.windows(2).map(|w| bigram(w[0], w[1])).collect());
        }
        let before = question[..at].chars().next_back().filter(|c| is_han(*c));
        let after = question[at + first.len_utf8()..]
            .chars()
            .next()
            .filter(|c| is_han(*c));
        let mut terms: Vec<String> = before
            .map(|b| bigram(b, first))
            .into_iter()
            .chain(after.map(|a| bigram(first, a)))
            .collect();
        if terms.is_empty() {
            terms.push(first.to_string());
        }
        return PieceTerms::Terms(terms);
    }
    PieceTerms::Terms(analyze(piece))
}

/// Weights without an index to count in: 0 for what [`piece_terms`]
/// calls framing, 1 for the rest (BM25 inside the vector store).
pub(crate) fn subject_weights(question: &str, spans: &[(usize, usize)]) -> Vec<f32> {
    spans
        .iter()
        .map(|&s| match piece_terms(question, s) {
            PieceTerms::Framing => 0.0,
            PieceTerms::Terms(_) => 1.0,
        })
        .collect()
}

/// The run of ASCII letters, digits and underscores around byte `at`.
fn ascii_word(text: &str, at: usize) -> &str {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = at;
    while from > 0 && word(bytes[from - 1]) {
        from -= 1;
    }
    let mut to = at;
    while to < bytes.len() && word(bytes[to]) {
        to += 1;
    }
    &text[from..to]
}

/// Whether `start..end` lies inside a Chinese word that frames the
/// question ([`CHINESE_QUESTION_WORDS`]).
fn inside_chinese_framing(question: &str, start: usize, end: usize) -> bool {
    CHINESE_QUESTION_WORDS.iter().any(|w| {
        question
            .match_indices(w)
            .any(|(s, m)| s <= start && end <= s + m.len())
    })
}

/// The index term of a character bigram.
fn bigram(a: char, b: char) -> String {
    [BIGRAM, a, b].iter().collect()
}

/// BM25's inverse document frequency of a term held by `df` of `n`
/// documents: `ln(1 + (n − df + 0.5) / (df + 0.5))`.
pub(crate) fn idf(df: u64, n: u64) -> f32 {
    let (df, n) = (df as f64, n.max(df) as f64);
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln() as f32
}

impl LexicalIndex {
    /// Late interaction's weight of each question piece at the byte spans
    /// `spans` of `question`: 0 for framing, the square root of the
    /// rarest of its terms' [`idf`] over the chunks otherwise (see the
    /// module documentation). Counted over the whole index, as BM25's IDF
    /// is, not per scope.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn piece_weights(
        &self,
        question: &str,
        spans: &[(usize, usize)],
    ) -> Result<Vec<f32>, RetrievalError> {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs();
        let mut known: HashMap<String, f32> = HashMap::new();
        let mut out = Vec::with_capacity(spans.len());
        for &span in spans {
            let PieceTerms::Terms(terms) = piece_terms(question, span) else {
                out.push(0.0);
                continue;
            };
            let mut best = 0.0f32;
            for t in terms {
                let w = match known.get(&t) {
                    Some(w) => *w,
                    None => {
                        let df = searcher.doc_freq(&Term::from_field_text(self.fields.body, &t))?;
                        let w = idf(df, n);
                        known.insert(t, w);
                        w
                    }
                };
                best = best.max(w);
            }
            out.push(best.sqrt());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The terms of `piece` where it first stands as a word of its own
    /// (or, for anything but a Latin word, first occurs) in `question`.
    fn terms_at(question: &str, piece: &str) -> PieceTerms {
        let alone = |s: usize| {
            let before = question[..s].chars().next_back();
            let after = question[s + piece.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        };
        let (start, _) = question
            .match_indices(piece)
            .find(|(s, _)| alone(*s) || !piece.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap();
        piece_terms(question, (start, start + piece.len()))
    }

    #[test]
    fn framing_words_and_punctuation_count_nothing() {
        let q = "How do I back up one database into a compressed file?";
        for piece in ["How", "do", "I", "into", "a", "?"] {
            assert_eq!(terms_at(q, piece), PieceTerms::Framing, "{piece}");
        }
        let q = "请问怎么备份数据库？";
        for piece in ["请问", "怎么", "怎", "？"] {
            assert_eq!(terms_at(q, piece), PieceTerms::Framing, "{piece}");
        }
    }

    #[test]
    fn a_piece_stands_for_the_word_it_lies_in() {
        let q = "How do I restore a pg_dump archive?";
        // A piece inside a longer word takes the whole word's terms.
        let dum = q.find("dum").unwrap();
        assert_eq!(
            piece_terms(q, (dum, dum + 3)),
            PieceTerms::Terms(analyze("pg_dump"))
        );
        assert_eq!(
            terms_at(q, "restore"),
            PieceTerms::Terms(vec!["restor".into()])
        );
        let q = "怎么备份数据库";
        assert_eq!(
            terms_at(q, "数据库"),
            PieceTerms::Terms(vec![bigram('数', '据'), bigram('据', '库')])
        );
        // One character: the bigrams it makes with its neighbours.
        assert_eq!(
            terms_at(q, "份"),
            PieceTerms::Terms(vec![bigram('备', '份'), bigram('份', '数')])
        );
        assert_eq!(
            terms_at("用 库 存", "库"),
            PieceTerms::Terms(vec!["库".into()])
        );
    }

    #[test]
    fn a_rare_word_weighs_more_than_a_common_one() {
        assert!(idf(1, 1000) > idf(500, 1000));
        assert!(idf(1000, 1000) > 0.0 && idf(1000, 1000) < 0.01);
        assert!(idf(5, 3).is_finite(), "a count above the total is clamped");
    }

    proptest! {
        /// Any span of any question (on character boundaries or not)
        /// stands for framing or for terms the analyzer could produce,
        /// and the weights without an index are 0 or 1, one per span.
        #[test]
        fn every_span_gets_a_weight(
            question in "[a-zA-Z 怎么请问备份数据库？?_]{0,24}",
            spans in proptest::collection::vec((0usize..80, 0usize..80), 0..8),
        ) {
            let weights = subject_weights(&question, &spans);
            prop_assert_eq!(weights.len(), spans.len());
            for (w, &(s, e)) in weights.iter().zip(&spans) {
                prop_assert!(*w == 0.0 || *w == 1.0);
                if question.get(s..e).is_none_or(|p| !p.chars().any(char::is_alphanumeric)) {
                    prop_assert_eq!(*w, 0.0);
                }
            }
        }

        /// IDF never rises with the number of documents holding a term.
        #[test]
        fn idf_falls_as_a_term_spreads(n in 1u64..100_000, a in 0u64..100_000, b in 0u64..100_000) {
            let (lo, hi) = (a.min(b).min(n), a.max(b).min(n));
            prop_assert!(idf(lo, n) >= idf(hi, n));
            prop_assert!(idf(hi, n) >= 0.0);
        }
    }
}
