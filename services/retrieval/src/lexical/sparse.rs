//! BM25 as sparse vectors, for a lexical index that lives inside Qdrant
//! (`lexical.backend = "qdrant"`).
//!
//! Why: a Tantivy folder belongs to one host, so query nodes that hold it
//! cannot be added freely. Qdrant scores a sparse query against sparse
//! points as `Σ query[i] · idf(i) · point[i]` when the vector has the IDF
//! modifier, with `idf = ln(1 + (N − n + ½) / (n + ½))`, Lucene's and
//! Tantivy's IDF, counted by the store over its points. What is left of
//! BM25, the saturated and length-normalised term frequency
//! `tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avg))`, depends on the
//! point alone, so Zhishu computes it at write time and sends it as the
//! point's value. The terms come from the very analyser Tantivy indexes
//! with (jieba and bigrams for Chinese, stemming and stop words for
//! English, the enterprise vocabulary), so both backends match the same
//! words.
//!
//! Fields: Tantivy scores title, section path and body separately, each
//! with its own IDF and length norm, and adds them with boosts
//! ([`super::BOOSTS`]). Here one sparse vector holds all three, each term
//! hashed together with its field, so a term in a title is another
//! dimension than the same term in a body: the store's IDF is then per
//! field, as Tantivy's is, and a query lists each of its terms once per
//! field with that field's boost as its weight. The sum Qdrant computes is
//! Tantivy's sum.
//!
//! What differs: Tantivy divides by each field's average length over the
//! index; a point's value cannot change when the average does, so the
//! averages are fixed in configuration (`lexical.average_terms`), set to
//! what the shipped corpora measure. One average does not fit both
//! languages: the analyser makes about three times as many terms of a
//! Chinese chunk as of an English one of the same token budget (jieba's
//! words, their parts and bigrams), so a field is normalised by a Chinese and an
//! English average weighted by its share of Chinese terms. With the
//! averages a corpus measures, nDCG@10 matches Tantivy's within 0.002 on
//! the shipped documentation sets; with the other language's, it fell by
//! 0.02–0.04. Tantivy also rounds lengths to one byte. `zhishu eval`
//! reports both backends on the same sets, and the averages it measured.
//!
//! Dimensions are the 32-bit FNV-1a hash of the field's tag and the term.
//! Two terms that collide share a dimension: with a vocabulary of a
//! million terms, a few hundred pairs do, each pair scoring as one rarer
//! term; BM25 implementations over hashed vocabularies (Qdrant's own
//! `bm25` inference among them) accept the same.

use super::vocabulary::{Expansion, VocabularyFile, Words};
use super::{BOOSTS, analyze_with};
use crate::ChunkDoc;
use std::collections::BTreeMap;
use std::sync::Arc;

/// BM25's term-frequency saturation (Tantivy's and Lucene's default).
const K1: f32 = 1.2;
/// BM25's length normalisation (Tantivy's and Lucene's default).
const B: f32 = 0.75;

/// A sparse vector: distinct dimensions in increasing order, one value
/// each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    /// Dimensions, increasing, distinct.
    pub indices: Vec<u32>,
    /// The value of each dimension.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Collects `(dimension, value)` pairs, adding the values of a
    /// dimension that occurs twice (two terms whose hashes collide).
    fn collect(pairs: impl IntoIterator<Item = (u32, f32)>) -> Self {
        let mut sum: BTreeMap<u32, f32> = BTreeMap::new();
        for (i, v) in pairs {
            *sum.entry(i).or_default() += v;
        }
        let (indices, values) = sum.into_iter().filter(|(_, v)| *v != 0.0).unzip();
        Self { indices, values }
    }

    /// Whether it has no dimension.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// The fields of a chunk a term can occur in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The document title.
    Title,
    /// The chunk's section path.
    Section,
    /// Title, section path and text together (Tantivy's body field); the
    /// whole document's, in a page.
    Body,
}

impl Field {
    const ALL: [Self; 3] = [Self::Title, Self::Section, Self::Body];

    fn tag(self) -> u8 {
        match self {
            Self::Title => b't',
            Self::Section => b's',
            Self::Body => b'b',
        }
    }

    fn boost(self) -> f32 {
        match self {
            Self::Title => BOOSTS[0],
            Self::Section => BOOSTS[1],
            Self::Body => BOOSTS[2],
        }
    }
}

/// The dimension of a term in a field: FNV-1a (32 bits) over the field's
/// tag and the term's UTF-8 bytes. Stable across versions and machines,
/// as it must be: points written by one node are searched by every other.
pub fn dimension(field: Field, term: &str) -> u32 {
    const OFFSET: u32 = 0x811C_9DC5;
    const PRIME: u32 = 0x0100_0193;
    std::iter::once(field.tag())
        .chain(term.bytes())
        .fold(OFFSET, |h, b| (h ^ u32::from(b)).wrapping_mul(PRIME))
}

pub use zhishu_core::config::{AverageTermsConfig as AverageTerms, FieldAverages};

/// Which average a field is normalised by.
#[derive(Debug, Clone, Copy)]
enum Norm {
    Title,
    Section,
    Body,
    Page,
}

impl Norm {
    fn of(self, f: &FieldAverages) -> f32 {
        match self {
            Self::Title => f.title,
            Self::Section => f.section,
            Self::Body => f.body,
            Self::Page => f.page,
        }
    }
}

/// Whether a term is Chinese (holds a Chinese character; bigram terms do).
fn is_chinese(term: &str) -> bool {
    term.chars().any(super::is_han)
}

/// The terms of each field of a chunk, split by language: what
/// `lexical.average_terms` averages (see [`Bm25Encoder::lengths`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FieldLengths {
    /// Chinese and other terms of the title.
    pub title: (usize, usize),
    /// Of the section path.
    pub section: (usize, usize),
    /// Of the body (title, section path and text).
    pub body: (usize, usize),
}

/// The BM25 weight of a term that occurs `tf` times in a field of `len`
/// terms whose average is `avg`.
pub fn saturated(tf: f32, len: f32, avg: f32) -> f32 {
    let norm = if avg > 0.0 { len / avg } else { 1.0 };
    tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * norm))
}

/// Turns chunks, pages and questions into BM25 sparse vectors with the
/// lexical analyser.
#[derive(Clone)]
pub struct Bm25Encoder {
    words: Option<Words>,
    average: AverageTerms,
}

impl Bm25Encoder {
    /// An encoder with the enterprise vocabulary's words, when there is
    /// one, and the configured average field lengths.
    pub fn new(vocabulary: Option<Arc<VocabularyFile>>, average: AverageTerms) -> Self {
        Self {
            words: vocabulary.map(Words::File),
            average,
        }
    }

    /// The average field lengths it normalises by.
    pub fn averages(&self) -> AverageTerms {
        self.average
    }

    /// The terms of some texts, as one field.
    fn analyse(&self, texts: &[&str]) -> Vec<String> {
        texts
            .iter()
            .flat_map(|t| analyze_with(t, self.words.clone()))
            .collect()
    }

    /// The `(dimension, weight)` pairs of one field's terms, normalised by
    /// the average of its languages (see the module documentation).
    fn field(&self, field: Field, terms: Vec<String>, norm: Norm) -> Vec<(u32, f32)> {
        let len = terms.len();
        let chinese = terms.iter().filter(|t| is_chinese(t)).count();
        let share = if len == 0 {
            0.0
        } else {
            chinese as f32 / len as f32
        };
        let avg =
            share * norm.of(&self.average.chinese) + (1.0 - share) * norm.of(&self.average.english);
        let mut tf: BTreeMap<String, f32> = BTreeMap::new();
        for term in terms {
            *tf.entry(term).or_default() += 1.0;
        }
        tf.into_iter()
            .map(|(term, n)| (dimension(field, &term), saturated(n, len as f32, avg)))
            .collect()
    }

    /// A chunk's vector: its title, section path and body (which holds
    /// title, section path and text, as Tantivy's body field does).
    pub fn chunk(&self, c: &ChunkDoc) -> SparseVector {
        let title = self.analyse(&[&c.title]);
        let section = self.analyse(&[&c.section_path]);
        let mut body = title.clone();
        body.extend(section.iter().cloned());
        body.extend(self.analyse(&[&c.text]));
        let mut pairs = self.field(Field::Title, title, Norm::Title);
        pairs.extend(self.field(Field::Section, section, Norm::Section));
        pairs.extend(self.field(Field::Body, body, Norm::Body));
        SparseVector::collect(pairs)
    }

    /// A page's vector ([`super::pages`]): its body only, scored as
    /// Tantivy scores pages.
    pub fn page(&self, page: &ChunkDoc) -> SparseVector {
        let terms = self.analyse(&[&page.title, &page.section_path, &page.text]);
        SparseVector::collect(self.field(Field::Body, terms, Norm::Page))
    }

    /// How many Chinese and other terms each field of a chunk holds: what
    /// `zhishu eval` averages to suggest `lexical.average_terms` for a
    /// corpus.
    pub fn lengths(&self, c: &ChunkDoc) -> FieldLengths {
        let split = |terms: Vec<String>| {
            let chinese = terms.iter().filter(|t| is_chinese(t)).count();
            (chinese, terms.len() - chinese)
        };
        let title = split(self.analyse(&[&c.title]));
        let section = split(self.analyse(&[&c.section_path]));
        let text = split(self.analyse(&[&c.text]));
        FieldLengths {
            title,
            section,
            body: (title.0 + section.0 + text.0, title.1 + section.1 + text.1),
        }
    }

    /// A question's distinct terms and what the vocabulary's synonyms add,
    /// from one version of the vocabulary.
    fn terms(&self, query: &str) -> (Vec<String>, Expansion) {
        super::terms_with(self.words.as_ref(), query)
    }

    /// The query vector for chunks: each distinct term (and synonym, at its
    /// weight) in every field at the field's boost. `None` when the
    /// question has no terms.
    pub fn chunk_query(&self, query: &str) -> Option<SparseVector> {
        self.query(query, &Field::ALL)
    }

    /// The query vector for pages: the body only, unboosted.
    pub fn page_query(&self, query: &str) -> Option<SparseVector> {
        self.query(query, &[Field::Body])
    }

    fn query(&self, query: &str, fields: &[Field]) -> Option<SparseVector> {
        let weighted = super::weighted_terms(self.words.as_ref(), query);
        if weighted.is_empty() {
            return None;
        }
        Some(SparseVector::collect(fields.iter().flat_map(|&field| {
            weighted
                .iter()
                .map(move |(t, w)| (dimension(field, t), field.boost() * w))
        })))
    }

    /// For coverage ([`crate::LexicalIndex::coverage`]): the body
    /// dimension of each distinct term of the question, and, for each
    /// synonym group the question matched, the body dimensions of its own
    /// member's terms and of the other member's.
    pub fn coverage_terms(&self, query: &str) -> CoverageTerms {
        let (terms, synonyms) = self.terms(query);
        let dims =
            |ts: &[String]| -> Vec<u32> { ts.iter().map(|t| dimension(Field::Body, t)).collect() };
        CoverageTerms {
            terms: dims(&terms),
            alternatives: synonyms
                .alternatives
                .iter()
                .map(|(own, other)| (dims(own), dims(other)))
                .collect(),
        }
    }
}

/// A question's terms as body dimensions, for coverage.
#[derive(Debug, Clone, Default)]
pub struct CoverageTerms {
    /// Each distinct term's dimension.
    pub terms: Vec<u32>,
    /// (the question's member's dimensions, another member's).
    pub alternatives: Vec<(Vec<u32>, Vec<u32>)>,
}

impl CoverageTerms {
    /// Every dimension whose presence coverage asks about, distinct.
    pub fn all(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self
            .terms
            .iter()
            .chain(self.alternatives.iter().flat_map(|(_, o)| o))
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// The share of the question's terms the store holds, given which
    /// dimensions it holds (`known`): the rule of
    /// [`crate::LexicalIndex::coverage`]. 1 for a question without terms.
    pub fn share(&self, known: impl Fn(u32) -> bool) -> f32 {
        if self.terms.is_empty() {
            return 1.0;
        }
        let mut stood_for: Vec<u32> = Vec::new();
        for (own, other) in &self.alternatives {
            if other.iter().all(|&d| known(d)) {
                stood_for.extend(own);
            }
        }
        let covered = self
            .terms
            .iter()
            .filter(|&&t| stood_for.contains(&t) || known(t))
            .count();
        covered as f32 / self.terms.len() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoder() -> Bm25Encoder {
        Bm25Encoder::new(None, AverageTerms::default())
    }

    fn chunk(title: &str, section: &str, text: &str) -> ChunkDoc {
        ChunkDoc {
            chunk_id: crate::chunk_id("d", 1, 0),
            document_id: "d".into(),
            version: 1,
            ordinal: 0,
            collection: "c".into(),
            path: "/d.txt".into(),
            title: title.into(),
            section_path: section.into(),
            page: None,
            access_groups: vec!["all".into()],
            content_hash: String::new(),
            modified_at: 0,
            char_start: 0,
            char_end: 0,
            qwen_tokens: 0,
            text: text.into(),
            prompt_ids: None,
            token_vectors: None,
        }
    }

    /// Σ query · point over shared dimensions (the IDF left out).
    fn dot(q: &SparseVector, p: &SparseVector) -> f32 {
        q.indices
            .iter()
            .zip(&q.values)
            .filter_map(|(i, w)| p.indices.binary_search(i).ok().map(|at| w * p.values[at]))
            .sum()
    }

    #[test]
    fn a_field_is_its_own_dimension() {
        assert_ne!(
            dimension(Field::Title, "报销"),
            dimension(Field::Body, "报销")
        );
        assert_eq!(
            dimension(Field::Body, "报销"),
            dimension(Field::Body, "报销")
        );
        // FNV-1a's published value for "b" (the body's tag and no term):
        // the hash is the standard one, not a look-alike.
        assert_eq!(dimension(Field::Body, ""), 0xE70C_2DE5);
    }

    #[test]
    fn chinese_and_english_questions_meet_their_chunk() {
        let e = encoder();
        let c = chunk(
            "差旅费用报销管理办法",
            "4 报销时限",
            "出差结束后三十日内提交报销单。",
        );
        let other = chunk("VPN guide", "Setup", "Install the client and sign in.");
        for q in ["报销时限是多久", "出差 报销"] {
            let q = e.chunk_query(q).expect("terms");
            assert!(dot(&q, &e.chunk(&c)) > dot(&q, &e.chunk(&other)));
        }
        let q = e
            .chunk_query("How do I install the VPN client?")
            .expect("terms");
        assert!(dot(&q, &e.chunk(&other)) > dot(&q, &e.chunk(&c)));
        // Stop words alone ask nothing.
        assert!(e.chunk_query("the of and").is_none());
    }

    #[test]
    fn a_title_word_counts_more_than_a_body_word() {
        let e = encoder();
        let q = e.chunk_query("hotel").expect("terms");
        let in_title = chunk("Hotel rules", "", "Rooms are booked by the travel desk.");
        let in_body = chunk(
            "Travel rules",
            "",
            "Rooms: the hotel is booked by the desk.",
        );
        assert!(dot(&q, &e.chunk(&in_title)) > dot(&q, &e.chunk(&in_body)));
    }

    #[test]
    fn coverage_counts_the_terms_the_store_holds() {
        let e = encoder();
        let c = e.coverage_terms("hotel limit 报销");
        // hotel, limit, 报销 and its bigram.
        assert_eq!(c.terms.len(), 4);
        let hotel = dimension(Field::Body, "hotel");
        assert!((c.share(|d| d == hotel) - 0.25).abs() < 1e-6);
        assert_eq!(e.coverage_terms("the").share(|_| false), 1.0);
    }

    proptest! {
        /// Dimensions are distinct and increasing, and no value is zero.
        #[test]
        fn vectors_are_well_formed(title in "\\PC{0,20}", text in "\\PC{0,200}") {
            let e = encoder();
            let v = e.chunk(&chunk(&title, "", &text));
            prop_assert_eq!(v.indices.len(), v.values.len());
            prop_assert!(v.indices.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(v.values.iter().all(|x| x.is_finite() && *x > 0.0));
            if let Some(q) = e.chunk_query(&text) {
                prop_assert!(q.indices.windows(2).all(|w| w[0] < w[1]));
            }
        }

        /// BM25's term weight grows with the term's count in a field of a
        /// given length, never past k1 + 1, and shrinks as the field grows.
        #[test]
        fn saturation_is_monotone(tf in 1.0f32..50.0, len in 1.0f32..5000.0, avg in 1.0f32..500.0) {
            let w = saturated(tf, len, avg);
            prop_assert!(w > 0.0 && w < K1 + 1.0);
            prop_assert!(saturated(tf + 1.0, len, avg) >= w - 1e-6);
            prop_assert!(saturated(tf, len * 2.0, avg) <= w + 1e-6);
        }

        /// A question always scores its own text above an empty chunk, and
        /// a chunk holding every term of the question at least as high as
        /// one holding a strict part of them, at equal length.
        #[test]
        fn more_of_the_question_never_scores_lower(words in prop::collection::vec("[a-z]{4,9}", 2..6)) {
            let e = encoder();
            let q = words.join(" ");
            let Some(qv) = e.chunk_query(&q) else { return Ok(()) };
            let all = e.chunk(&chunk("", "", &q));
            let mut part = words.clone();
            part[0] = "zzzzqqqq".into();
            let some = e.chunk(&chunk("", "", &part.join(" ")));
            prop_assert!(dot(&qv, &all) >= dot(&qv, &some) - 1e-5);
            prop_assert!(dot(&qv, &all) > 0.0);
        }
    }
}
