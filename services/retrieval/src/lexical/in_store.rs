//! The lexical retriever as a choice of backend: Tantivy on local disk, or
//! BM25 inside the vector store (`lexical.backend = "qdrant"`).
//!
//! Why both: Tantivy is the fastest BM25 on one box and holds page
//! evidence and coverage in one snapshot, but its folder belongs to one
//! host. Inside Qdrant, BM25 lives with the dense vectors in a store every
//! node shares (a cluster, sharded and replicated), so a query node holds
//! no index and any number can run. The search is the same in both: the
//! chunks' BM25, each chunk's page evidence ([`super::pages`]) and the
//! question's coverage, from the same analyser; only the store differs.

use super::pages::{combine, document_of};
use super::{LexicalIds, LexicalIndex};
use crate::vector::bm25::{Bm25Hit, Bm25Query, Bm25Target};
use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter, VectorIndex, pool};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Where BM25 runs.
#[derive(Clone)]
pub enum Lexical {
    /// A Tantivy index on local disk, with its page index.
    Tantivy(Arc<LexicalIndex>),
    /// Sparse vectors in the vector store's points, and its page store.
    InVectors(Arc<dyn VectorIndex>),
}

impl From<Arc<LexicalIndex>> for Lexical {
    fn from(index: Arc<LexicalIndex>) -> Self {
        Self::Tantivy(index)
    }
}

impl Lexical {
    /// BM25 in `vectors`, which must have been opened with BM25 vectors.
    ///
    /// # Errors
    /// When it was not.
    pub fn in_vectors(vectors: Arc<dyn VectorIndex>) -> Result<Self, RetrievalError> {
        if vectors.bm25_encoder().is_none() {
            return Err(RetrievalError::Vector(
                "lexical.backend = \"qdrant\" needs a vector store opened with BM25 vectors".into(),
            ));
        }
        Ok(Self::InVectors(vectors))
    }

    /// The Tantivy index, when BM25 runs there.
    pub fn tantivy(&self) -> Option<&Arc<LexicalIndex>> {
        match self {
            Self::Tantivy(index) => Some(index),
            Self::InVectors(_) => None,
        }
    }

    /// Adds chunks (with their documents' pages). Inside the vector store
    /// this is the vector store's own upsert, so nothing is left to do.
    ///
    /// # Errors
    /// When the Tantivy writer fails.
    pub fn upsert(&self, chunks: &[ChunkDoc]) -> Result<(), RetrievalError> {
        match self {
            Self::Tantivy(index) => index.upsert(chunks),
            Self::InVectors(_) => Ok(()),
        }
    }

    /// Deletes a document's chunks (all, or all but `keep_version`'s); the
    /// vector store's own delete, inside it.
    ///
    /// # Errors
    /// When the Tantivy writer fails.
    pub fn delete_document(
        &self,
        document_id: &str,
        keep_version: Option<i64>,
    ) -> Result<(), RetrievalError> {
        match self {
            Self::Tantivy(index) => index.delete_document(document_id, keep_version),
            Self::InVectors(_) => Ok(()),
        }
    }

    /// Makes the writes durable; the vector store's own commit, inside it.
    ///
    /// # Errors
    /// When the Tantivy commit fails.
    pub fn commit(&self) -> Result<(), RetrievalError> {
        match self {
            Self::Tantivy(index) => index.commit(),
            Self::InVectors(_) => Ok(()),
        }
    }

    /// What it is, for readiness checks.
    pub fn describe(&self) -> String {
        match self {
            Self::Tantivy(index) => format!(
                "tantivy index open at {}; {} chunks",
                index.path().display(),
                index.num_chunks()
            ),
            Self::InVectors(_) => "BM25 as sparse vectors inside the vector store".into(),
        }
    }

    /// The `k` best chunk ids for a question with their BM25 scores (page
    /// evidence counted at `page_weight`, see
    /// [`LexicalIndex::search_ids`]).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn search_ids(
        &self,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        page_weight: f32,
    ) -> Result<LexicalIds, RetrievalError> {
        match self {
            Self::Tantivy(index) => {
                let (index, q, s, f) = (
                    index.clone(),
                    query.to_owned(),
                    scope.clone(),
                    filter.clone(),
                );
                pool::read(RetrievalError::Lexical, move || {
                    index.search_ids(&q, k, &s, &f, page_weight)
                })
                .await
            }
            Self::InVectors(vectors) => {
                let hits =
                    search_in_vectors(vectors.as_ref(), query, k, scope, filter, page_weight)
                        .await?;
                Ok(LexicalIds::from_store(hits))
            }
        }
    }

    /// Late interaction's weight of each question piece, at the byte
    /// spans `spans` of `question`: by the Tantivy index's document
    /// frequencies ([`LexicalIndex::piece_weights`]), or, with BM25 inside
    /// the vector store, 0 for framing words and punctuation and 1 for the
    /// rest.
    ///
    /// # Errors
    /// When the index cannot be read.
    pub fn piece_weights(
        &self,
        question: &str,
        spans: &[(usize, usize)],
    ) -> Result<Vec<f32>, RetrievalError> {
        match self {
            Self::Tantivy(index) => index.piece_weights(question, spans),
            Self::InVectors(_) => Ok(super::weights::subject_weights(question, spans)),
        }
    }

    /// The share of the question's terms the index holds at all
    /// ([`LexicalIndex::coverage`]).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn coverage(&self, query: &str) -> Result<f32, RetrievalError> {
        match self {
            Self::Tantivy(index) => index.coverage(query),
            Self::InVectors(vectors) => {
                let Some(encoder) = vectors.bm25_encoder() else {
                    return Ok(1.0);
                };
                let terms = encoder.coverage_terms(query);
                let dims = terms.all();
                let queries = dims
                    .iter()
                    .map(|&d| Bm25Query {
                        target: Bm25Target::Chunks,
                        vector: super::sparse::SparseVector {
                            indices: vec![d],
                            values: vec![1.0],
                        },
                        limit: 1,
                        within: None,
                        document: None,
                    })
                    .collect();
                let found = vectors.bm25(queries).await?;
                let known: HashSet<u32> = dims
                    .iter()
                    .zip(found)
                    .filter(|(_, hits)| !hits.is_empty())
                    .map(|(d, _)| *d)
                    .collect();
                Ok(terms.share(|d| known.contains(&d)))
            }
        }
    }

    /// The chunks with these ids that the scope may see.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get(
        &self,
        ids: &[String],
        scope: &Scope,
    ) -> Result<Vec<ChunkDoc>, RetrievalError> {
        match self {
            Self::Tantivy(index) => {
                let (index, ids, scope) = (index.clone(), ids.to_vec(), scope.clone());
                pool::read(RetrievalError::Lexical, move || index.get(&ids, &scope)).await
            }
            Self::InVectors(vectors) => vectors.get(ids, scope).await,
        }
    }
}

/// [`LexicalIndex::search_ids`] over the vector store's BM25: the chunks'
/// top k and the pages' in one round trip, then the best chunk of each
/// ranked page that brought none (one more), combined as
/// [`combine`] does for Tantivy.
async fn search_in_vectors(
    vectors: &dyn VectorIndex,
    query: &str,
    k: usize,
    scope: &Scope,
    filter: &SearchFilter,
    page_weight: f32,
) -> Result<Vec<(String, f32)>, RetrievalError> {
    let Some(encoder) = vectors.bm25_encoder() else {
        return Ok(Vec::new());
    };
    let Some(chunk_query) = encoder.chunk_query(query) else {
        return Ok(Vec::new());
    };
    if k == 0 || scope.is_empty() {
        return Ok(Vec::new());
    }
    let within = Some((scope.clone(), filter.clone()));
    let on_chunks = |document: Option<String>, limit: usize| Bm25Query {
        target: Bm25Target::Chunks,
        vector: chunk_query.clone(),
        limit,
        within: within.clone(),
        document,
    };
    let pages_too = page_weight.is_finite() && page_weight > 0.0;
    let mut queries = vec![on_chunks(None, k)];
    if pages_too && let Some(page_query) = encoder.page_query(query) {
        queries.push(Bm25Query {
            target: Bm25Target::Pages,
            vector: page_query,
            limit: k,
            within: within.clone(),
            document: None,
        });
    }
    let mut found = vectors.bm25(queries).await?.into_iter();
    let chunks: Vec<Bm25Hit> = found.next().unwrap_or_default();
    let pages: Vec<Bm25Hit> = found.next().unwrap_or_default();
    if chunks.is_empty() || pages.is_empty() {
        return Ok(chunks.into_iter().map(|h| (h.id, h.score)).collect());
    }
    // One entry per document, its best page first.
    let mut documents: Vec<(String, f32)> = Vec::new();
    for p in &pages {
        let d = if p.document_id.is_empty() {
            document_of(&p.id).unwrap_or(&p.id).to_owned()
        } else {
            p.document_id.clone()
        };
        if !documents.iter().any(|(e, _)| *e == d) {
            documents.push((d, p.score));
        }
    }
    let rank: HashMap<&str, usize> = documents
        .iter()
        .enumerate()
        .map(|(i, (d, _))| (d.as_str(), i))
        .collect();
    let mut lifted = vec![false; documents.len()];
    let mut hits: Vec<(f32, f32, usize)> = Vec::with_capacity(chunks.len() + documents.len());
    let mut ids: Vec<String> = Vec::with_capacity(chunks.len() + documents.len());
    for c in chunks {
        let page = rank.get(c.document_id.as_str()).map_or(0.0, |&i| {
            lifted[i] = true;
            documents[i].1
        });
        hits.push((c.score, page, ids.len()));
        ids.push(c.id);
    }
    let missing: Vec<usize> = (0..documents.len()).filter(|&i| !lifted[i]).collect();
    if !missing.is_empty() {
        let best = missing
            .iter()
            .map(|&i| on_chunks(Some(documents[i].0.clone()), 1))
            .collect();
        for (&i, found) in missing.iter().zip(vectors.bm25(best).await?) {
            if let Some(c) = found.into_iter().next() {
                hits.push((c.score, documents[i].1, ids.len()));
                ids.push(c.id);
            }
        }
    }
    let mut top = combine(&hits, page_weight);
    top.truncate(k);
    Ok(top
        .into_iter()
        .map(|(score, i)| (std::mem::take(&mut ids[i]), score))
        .collect())
}
