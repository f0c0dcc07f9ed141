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
//! the document's title and all its text ([`pages_of`]), with the same
//! collection, folders and access groups, so a page is searched under the
//! same scope and filter, inside the store, as its chunks. A search runs
//! both; each chunk's score becomes `chunk / best chunk + w · page / best
//! page` ([`combine`]), and the best chunk of a page that ranks among the
//! pages but brought no chunk is fetched so that the page can still be
//! found. `w` is `retrieval.page_weight`, learned on the shipped sets
//! (docs/retrieval.md); 0 turns page evidence off.

use crate::ChunkDoc;
use std::collections::BTreeMap;

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
pub(super) fn pages_of(chunks: &[ChunkDoc]) -> Vec<ChunkDoc> {
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
                text,
                ..first.clone()
            })
        })
        .collect()
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
