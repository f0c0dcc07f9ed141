//! Page evidence: BM25 over whole documents, combined with the chunk's own.
//!
//! Why: a chunk is scored only on its own words, so a question whose words
//! are spread over a page ("back up one database into a compressed file":
//! "back up" in the page's title, "compressed" three paragraphs down)
//! matches no single chunk well, while a page about something else that
//! happens to repeat two of its words in one paragraph wins. A plain BM25
//! over whole pages beat our chunk BM25 by 0.09 nDCG@10 on Chinese
//! documentation for exactly that reason. Search engines that index
//! passages (Vespa, Elasticsearch's parent–child) score a passage with its
//! document's evidence too; so does this module.
//!
//! How: beside the chunk index sits a second Tantivy index of the same
//! schema in its `pages/` folder, one entry per document version holding
//! the document's title and its chunks' texts in order, overlaps included
//! ([`pages_of`]), with the same
//! collection, folders and access groups, so a page is searched under the
//! same scope and filter, inside the store, as its chunks. A search runs
//! both; each chunk's score becomes `chunk / best chunk + w · page / best
//! page` ([`combine`]), and the best chunk of a page that ranks among the
//! pages but brought no chunk is scored and added, so that the page can
//! still be found. Until the page index is complete (see [`COMPLETE`]),
//! searches run on chunks alone. `w` is `retrieval.page_weight`, learned on the shipped sets
//! (docs/retrieval.md); 0 turns page evidence off.

use super::{LexicalIndex, Score};
use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocId, DocSet, TERMINATED, Term};

/// What the page index's commits record once it holds every document's
/// page: written by a completed rebuild and by every commit after it.
/// Until it is there (an index made before page entries, a rebuild cut
/// short), searches run without page evidence rather than favour the
/// documents written since.
const COMPLETE: &str = "pages complete (1)";

/// How often a node whose page index is not complete looks again (another
/// node may have completed it).
const RECHECK: Duration = Duration::from_secs(10);

/// Whether the page index is complete, re-read now and then while it is
/// not.
#[derive(Default)]
pub(super) struct Readiness {
    ready: AtomicBool,
    checked: Mutex<Option<Instant>>,
}

impl Readiness {
    /// Whether page evidence may be used; while not, the page index's
    /// metadata is read again at most every [`RECHECK`].
    fn get(&self, pages: &LexicalIndex) -> bool {
        if self.ready.load(Ordering::Relaxed) {
            return true;
        }
        let due = match self.checked.lock() {
            Ok(mut at) => {
                let due = at.is_none_or(|t| t.elapsed() >= RECHECK);
                if due {
                    *at = Some(Instant::now());
                }
                due
            }
            Err(_) => false,
        };
        if due {
            self.check_now(pages);
        }
        self.ready.load(Ordering::Relaxed)
    }

    /// Reads the page index's metadata now.
    pub(super) fn check_now(&self, pages: &LexicalIndex) {
        if let Ok(mut at) = self.checked.lock() {
            *at = Some(Instant::now());
        }
        if pages.stamp().ok().flatten().as_deref() == Some(COMPLETE) {
            pages.set_stamp(COMPLETE.into());
            self.ready.store(true, Ordering::Relaxed);
        }
    }

    fn set(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Whether page evidence may be used, as last read (no metadata read).
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// The page entry's id: its version and document id, which
/// [`document_of`] reads back.
pub(super) fn page_id(document_id: &str, version: i64) -> String {
    format!("{version}:{document_id}")
}

/// The document id inside a [`page_id`].
pub(super) fn document_of(page_id: &str) -> Option<&str> {
    page_id.split_once(':').map(|(_, d)| d)
}

/// One page entry per document version among `chunks`: the first chunk's
/// metadata with the document's chunks' texts in order (by ordinal) as its
/// text, no section, and the access groups every chunk has. A call is expected to hold every chunk of each
/// document version it names, as ingestion writes a document at once;
/// a later call for the same version replaces the page.
pub(crate) fn pages_of<'a>(chunks: impl IntoIterator<Item = &'a ChunkDoc>) -> Vec<ChunkDoc> {
    let mut groups: BTreeMap<(&str, i64), Vec<&ChunkDoc>> = BTreeMap::new();
    for c in chunks {
        groups
            .entry((c.document_id.as_str(), c.version))
            .or_default()
            .push(c);
    }
    groups
        .into_values()
        .filter_map(|mut parts| {
            parts.sort_by_key(|c| c.ordinal);
            let first = *parts.first()?;
            let mut text = String::with_capacity(parts.iter().map(|c| c.text.len() + 1).sum());
            for c in &parts {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&c.text);
            }
            // Chunks of one document share its groups; were they ever to
            // differ, the page is visible only where every chunk is, so its
            // score never carries words a reader may not see.
            let access_groups = first
                .access_groups
                .iter()
                .filter(|g| parts.iter().all(|c| c.access_groups.contains(g)))
                .cloned()
                .collect();
            Some(ChunkDoc {
                chunk_id: page_id(&first.document_id, first.version),
                access_groups,
                ordinal: 0,
                section_path: String::new(),
                page: None,
                char_start: 0,
                char_end: text.chars().count() as i64,
                qwen_tokens: 0,
                prompt_ids: None,
                token_vectors: None,
                text,
                ..first.clone()
            })
        })
        .collect()
}

impl LexicalIndex {
    /// Makes sure the page index is complete: marked so (its last commit
    /// says [`COMPLETE`]), new (no chunks yet: every page is written with
    /// its chunks from now on), or rebuilt now from the stored chunks. A
    /// rebuild that fails (another process holds the writer) leaves
    /// searches without page evidence; the next open tries again, and a
    /// node that did not rebuild looks for the mark now and then.
    pub(super) fn prepare_pages(&self) {
        let Some(pages) = self.pages.as_deref() else {
            return;
        };
        // One read of the page index's metadata at open.
        self.pages_ready.check_now(pages);
        if self.pages_ready.is_ready() {
            return;
        }
        if self.num_chunks() == 0 {
            pages.set_stamp(COMPLETE.into());
            self.pages_ready.set();
            return;
        }
        let started = Instant::now();
        match self.rebuild_pages(pages) {
            Ok(n) => {
                self.pages_ready.set();
                tracing::info!(
                    index = %self.path.display(),
                    pages = n,
                    seconds = started.elapsed().as_secs_f64(),
                    "wrote the page index from the stored chunks"
                );
            }
            Err(e) => tracing::warn!(
                index = %self.path.display(),
                error = %e,
                "could not write the page index; searches run without page evidence until it is"
            ),
        }
        pages.release();
    }

    /// Rewrites every page from the stored chunks, one document at a time
    /// (its chunks found through the document id's postings, in whichever
    /// segments they lie), and commits them with the [`COMPLETE`] mark.
    fn rebuild_pages(&self, pages: &LexicalIndex) -> Result<usize, RetrievalError> {
        pages.with_writer(|w, _| {
            w.delete_all_documents()?;
            Ok(())
        })?;
        let searcher = self.reader.searcher();
        let mut documents: BTreeMap<String, Vec<DocAddress>> = BTreeMap::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let alive = segment.alive_bitset();
            let inverted = segment.inverted_index(self.fields.document_id)?;
            let mut terms = inverted.terms().stream().map_err(io)?;
            while terms.advance() {
                let id = String::from_utf8_lossy(terms.key()).into_owned();
                let mut postings = inverted
                    .read_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)
                    .map_err(io)?;
                while postings.doc() != TERMINATED {
                    if alive.is_none_or(|a| a.is_alive(postings.doc())) {
                        documents
                            .entry(id.clone())
                            .or_default()
                            .push(DocAddress::new(ord as u32, postings.doc()));
                    }
                    postings.advance();
                }
            }
        }
        let mut written = 0;
        for addresses in documents.values() {
            let chunks = addresses
                .iter()
                .map(|a| self.decode(&searcher, *a, false))
                .collect::<Result<Vec<_>, _>>()?;
            let entries = pages_of(&chunks);
            written += entries.len();
            pages.upsert(&entries)?;
        }
        pages.set_stamp(COMPLETE.into());
        pages.commit()?;
        Ok(written)
    }

    /// The `k` best chunks with their pages' evidence: the chunks' own top
    /// k and the pages' top k (searched under the same scope and filter),
    /// each chunk rescored with its page ([`combine`]), plus, for a page
    /// that ranked but brought none of its chunks, its best chunk (scored
    /// directly: the text query's scorer is moved onto that document's
    /// chunks, within the scope), cut to `k`. Without page evidence (weight
    /// 0, no page index, one not yet complete), the chunks' own top k.
    pub(super) fn top_k_with_pages(
        &self,
        searcher: &tantivy::Searcher,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        weight: f32,
    ) -> Result<Vec<(Score, DocAddress)>, RetrievalError> {
        let chunks = self.top_k(searcher, query, k, scope, filter)?;
        let Some(pages) = self.pages.as_deref() else {
            return Ok(chunks);
        };
        if weight.is_nan() || weight <= 0.0 || chunks.is_empty() || !self.pages_ready.get(pages) {
            return Ok(chunks);
        }
        let ranked = pages.search_ids(query, k, scope, filter, 0.0)?;
        // One entry per document, its best page first (two versions of a
        // document may both still be there between a write and its commit).
        let mut seen_documents = HashSet::new();
        let documents: Vec<(String, f32)> = ranked
            .hits()
            .filter_map(|(id, score)| {
                let d = document_of(id).unwrap_or(id);
                seen_documents
                    .insert(d.to_owned())
                    .then(|| (d.to_owned(), score))
            })
            .collect();
        if documents.is_empty() {
            return Ok(chunks);
        }
        let page_of = self.pages_of_hits(searcher, &chunks, &documents)?;
        let mut lifted = vec![false; documents.len()];
        let mut hits: Vec<(f32, f32, DocAddress)> = chunks
            .iter()
            .zip(&page_of)
            .map(|(&(score, addr), page)| {
                let page = page.map_or(0.0, |i| {
                    lifted[i] = true;
                    documents[i].1
                });
                (score, page, addr)
            })
            .collect();
        let missing: Vec<usize> = (0..documents.len()).filter(|&i| !lifted[i]).collect();
        for (i, score, addr) in
            self.best_chunks(searcher, query, scope, filter, &documents, &missing)?
        {
            hits.push((score, documents[i].1, addr));
        }
        let mut top = combine(&hits, weight);
        top.truncate(k);
        Ok(top)
    }

    /// For each chunk hit, which ranked document (index into `documents`)
    /// it belongs to: each document's postings are walked forward to the
    /// hits of its segment (seeks, not whole posting lists).
    fn pages_of_hits(
        &self,
        searcher: &tantivy::Searcher,
        chunks: &[(Score, DocAddress)],
        documents: &[(String, f32)],
    ) -> Result<Vec<Option<usize>>, RetrievalError> {
        let mut page_of = vec![None; chunks.len()];
        let mut by_segment: BTreeMap<u32, Vec<(DocId, usize)>> = BTreeMap::new();
        for (h, (_, addr)) in chunks.iter().enumerate() {
            by_segment
                .entry(addr.segment_ord)
                .or_default()
                .push((addr.doc_id, h));
        }
        for (ord, hits) in &mut by_segment {
            hits.sort_unstable();
            let segment = searcher.segment_reader(*ord);
            let inverted = segment.inverted_index(self.fields.document_id)?;
            for (i, (document, _)) in documents.iter().enumerate() {
                let term = Term::from_field_text(self.fields.document_id, document);
                let Some(mut postings) = inverted
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(io)?
                else {
                    continue;
                };
                for &(doc, h) in hits.iter() {
                    if page_of[h].is_none() && seek(&mut postings, doc) {
                        page_of[h] = Some(i);
                    }
                }
            }
        }
        Ok(page_of)
    }

    /// The best chunk (score and address) of each document `which` names,
    /// among those the scope and filter admit: the text query's scorer and
    /// the restriction's are moved onto the document's chunks in turn.
    /// Documents with no such chunk are left out.
    fn best_chunks(
        &self,
        searcher: &tantivy::Searcher,
        query: &str,
        scope: &Scope,
        filter: &SearchFilter,
        documents: &[(String, f32)],
        which: &[usize],
    ) -> Result<Vec<(usize, Score, DocAddress)>, RetrievalError> {
        if which.is_empty() {
            return Ok(Vec::new());
        }
        let Some((text, allowed)) = self.weights(searcher, query, scope, filter)? else {
            return Ok(Vec::new());
        };
        let mut best: Vec<Option<(Score, DocAddress)>> = vec![None; documents.len()];
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(self.fields.document_id)?;
            let alive = segment.alive_bitset();
            let mut candidates: Vec<(DocId, usize)> = Vec::new();
            for &i in which {
                let term = Term::from_field_text(self.fields.document_id, &documents[i].0);
                if let Some(mut p) = inverted
                    .read_postings(&term, IndexRecordOption::Basic)
                    .map_err(io)?
                {
                    while p.doc() != TERMINATED {
                        if alive.is_none_or(|a| a.is_alive(p.doc())) {
                            candidates.push((p.doc(), i));
                        }
                        p.advance();
                    }
                }
            }
            if candidates.is_empty() {
                continue;
            }
            candidates.sort_unstable();
            let mut scorer = text.scorer(segment, 1.0)?;
            let mut admitted = allowed.scorer(segment, 1.0)?;
            for (doc, i) in candidates {
                if seek(scorer.as_mut(), doc) && seek(admitted.as_mut(), doc) {
                    let score = scorer.score();
                    let addr = DocAddress::new(ord as u32, doc);
                    if best[i].is_none_or(|(s, _)| score > s) {
                        best[i] = Some((score, addr));
                    }
                }
            }
        }
        Ok(best
            .into_iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|(score, addr)| (i, score, addr)))
            .collect())
    }
}

/// A postings read that failed.
fn io(e: std::io::Error) -> RetrievalError {
    RetrievalError::Lexical(format!("reading a document's postings: {e}"))
}

/// Moves a doc set forward to `doc` (never back) and says whether it is
/// there: callers visit documents in increasing order.
fn seek<D: DocSet + ?Sized>(set: &mut D, doc: DocId) -> bool {
    if set.doc() < doc {
        set.seek(doc);
    }
    set.doc() == doc
}

/// Chunk hits rescored with their page's evidence, best first, ties broken
/// by the caller's order (`key`).
///
/// Each hit is `(chunk score, page score, key)`, the page score being 0
/// for a chunk whose page did not rank. The combined score is
/// `chunk / best chunk + weight · page / best page`: both retrievers on one
/// scale, since raw BM25 scores of a short chunk and of a whole page are
/// not comparable. With weight 0, or no page evidence at all, the order is
/// the chunks' own.
pub(crate) fn combine<K: Ord + Copy>(hits: &[(f32, f32, K)], weight: f32) -> Vec<(f32, K)> {
    let top = |f: fn(&(f32, f32, K)) -> f32| {
        hits.iter()
            .map(f)
            .filter(|s| s.is_finite())
            .fold(0.0_f32, f32::max)
    };
    let (chunk_max, page_max) = (top(|h| h.0), top(|h| h.1));
    let scale = |s: f32, max: f32| {
        if max > 0.0 && s.is_finite() {
            (s / max).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let weight = if weight.is_finite() {
        weight.max(0.0)
    } else {
        0.0
    };
    let mut out: Vec<(f32, K)> = hits
        .iter()
        .map(|&(c, p, key)| (scale(c, chunk_max) + weight * scale(p, page_max), key))
        .collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk(doc: &str, version: i64, ordinal: i64, text: &str) -> ChunkDoc {
        ChunkDoc {
            chunk_id: crate::chunk_id(doc, version, ordinal),
            document_id: doc.into(),
            version,
            ordinal,
            collection: "c".into(),
            path: format!("/{doc}"),
            title: format!("title of {doc}"),
            section_path: "S".into(),
            page: Some(1),
            access_groups: vec!["g".into()],
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

    #[test]
    fn a_page_holds_its_chunks_in_order_under_the_documents_access() {
        let chunks = [
            chunk("b", 1, 0, "b0"),
            chunk("a", 2, 1, "second"),
            chunk("a", 2, 0, "first"),
        ];
        let pages = pages_of(&chunks);
        assert_eq!(pages.len(), 2);
        let a = &pages[0];
        assert_eq!(a.chunk_id, "2:a");
        assert_eq!(document_of(&a.chunk_id), Some("a"));
        assert_eq!(a.text, "first\nsecond");
        assert_eq!(a.title, "title of a");
        assert_eq!(a.access_groups, vec!["g".to_string()]);
        assert_eq!(a.section_path, "");
        assert_eq!(pages[1].text, "b0");
    }

    #[test]
    fn a_document_id_with_colons_survives_its_page_id() {
        assert_eq!(document_of(&page_id("x:y:z", 7)), Some("x:y:z"));
    }

    proptest! {
        /// Without page evidence the chunks keep their own order.
        #[test]
        fn weight_zero_keeps_the_chunk_order(scores in prop::collection::vec((0.0f32..50.0, 0.0f32..80.0), 0..40)) {
            let hits: Vec<(f32, f32, usize)> =
                scores.iter().enumerate().map(|(i, &(c, p))| (c, p, i)).collect();
            let combined: Vec<usize> = combine(&hits, 0.0).into_iter().map(|(_, k)| k).collect();
            let mut own: Vec<usize> = (0..hits.len()).collect();
            own.sort_by(|&a, &b| hits[b].0.total_cmp(&hits[a].0).then(a.cmp(&b)));
            prop_assert_eq!(combined, own);
        }

        /// A hit at least as good as another on both chunk and page
        /// evidence never scores below it, whatever the weight; hits come
        /// back best first, each exactly once.
        #[test]
        fn better_on_both_never_ranks_lower(
            scores in prop::collection::vec((0.0f32..50.0, 0.0f32..80.0), 1..40),
            weight in 0.0f32..4.0,
        ) {
            let hits: Vec<(f32, f32, usize)> =
                scores.iter().enumerate().map(|(i, &(c, p))| (c, p, i)).collect();
            let combined = combine(&hits, weight);
            prop_assert_eq!(combined.len(), hits.len());
            let mut score = vec![0.0f32; hits.len()];
            for (s, k) in &combined {
                score[*k] = *s;
            }
            prop_assert!(combined.windows(2).all(|w| w[0].0 >= w[1].0));
            for a in &hits {
                for b in &hits {
                    if a.0 >= b.0 && a.1 >= b.1 {
                        prop_assert!(score[a.2] >= score[b.2], "{:?} scored below {:?}", a, b);
                    }
                }
            }
        }
    }
}
