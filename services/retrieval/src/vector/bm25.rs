//! BM25 inside the vector store (`lexical.backend = "qdrant"`): the
//! requests both Qdrant front ends answer, and the embedded store's half.
//!
//! Every chunk point carries a sparse vector [`BM25`] beside its dense
//! one, with Qdrant's IDF modifier (see [`crate::lexical::sparse`] for why
//! that is BM25). Pages, whole documents scored for page evidence (the
//! `pages` module of the lexical store), are points of a second store
//! beside the chunks' (the `pages/` folder here, the `<collection>_pages`
//! collection on a server) holding only a sparse vector: kept apart so
//! that counting, listing and dense search over chunks never meet them.

use crate::lexical::sparse::{Bm25Encoder, SparseVector};
use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter, ancestors};
use qdrant_edge::external::serde_json::{Value, json};
use qdrant_edge::{
    EdgeSparseVectorParams, JsonPath, Modifier, NamedQuery, PayloadSelector,
    PayloadSelectorInclude, QueryEnum, QueryRequest, ScoringQuery, VectorInternal,
    WithPayloadInterface, WithVector,
};

/// Name of the BM25 sparse vector in chunk and page points.
pub const BM25: &str = "bm25";
/// Suffix of the page store's name beside the chunks' (folder or
/// collection).
pub(crate) const PAGES: &str = "pages";

/// Which points a BM25 query searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bm25Target {
    /// Chunks.
    Chunks,
    /// Pages (one per document version).
    Pages,
}

/// One BM25 query.
#[derive(Debug, Clone)]
pub struct Bm25Query {
    /// Chunks or pages.
    pub target: Bm25Target,
    /// The question's sparse vector.
    pub vector: SparseVector,
    /// Most hits.
    pub limit: usize,
    /// The caller's scope and filter; `None` searches the whole store (for
    /// coverage, which is counted over the whole index as BM25's IDF is).
    pub within: Option<(Scope, SearchFilter)>,
    /// Only this document's points.
    pub document: Option<String>,
}

/// A BM25 hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Bm25Hit {
    /// The chunk's id (a page's id, for pages).
    pub id: String,
    /// Its BM25 score.
    pub score: f32,
    /// Its document.
    pub document_id: String,
}

/// The sparse vector's parameters: IDF counted by the store.
pub(crate) fn params() -> EdgeSparseVectorParams {
    EdgeSparseVectorParams::builder()
        .modifier(Modifier::Idf)
        .on_disk(false)
        .build()
}

/// The filter of a query in Qdrant's JSON format: its scope and filter,
/// its document; `None` when it has neither.
pub(crate) fn filter_of(q: &Bm25Query) -> Option<Value> {
    let mut must: Vec<Value> = match &q.within {
        Some((scope, filter)) => match super::qdrant_filter(scope, filter)["must"].take() {
            Value::Array(conditions) => conditions,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    if let Some(d) = &q.document {
        must.push(json!({"key": "document_id", "match": {"value": d}}));
    }
    (!must.is_empty()).then(|| json!({ "must": must }))
}

/// Whether a query can match nothing: an empty scope, no terms, no room.
pub(crate) fn is_void(q: &Bm25Query) -> bool {
    q.limit == 0 || q.vector.is_empty() || q.within.as_ref().is_some_and(|(s, _)| s.is_empty())
}

/// The page points of `chunks`: one per document version, with the
/// page's sparse vector and the payload fields searches filter on.
pub(crate) fn page_points<'a>(
    encoder: &Bm25Encoder,
    chunks: impl IntoIterator<Item = &'a ChunkDoc>,
) -> Vec<(String, SparseVector, Value)> {
    crate::lexical::pages_of(chunks)
        .into_iter()
        .map(|page| {
            let id = crate::chunk_id(&page.document_id, page.version, PAGE_ORDINAL);
            let payload = json!({
                "document_id": page.document_id,
                "version": page.version,
                "collection": page.collection,
                "dirs": ancestors(&page.path),
                "access_groups": page.access_groups,
                "modified_at": page.modified_at,
            });
            (id, encoder.page(&page), payload)
        })
        .collect()
}

/// The ordinal a page's point id is made with: no chunk has it.
const PAGE_ORDINAL: i64 = -1;

/// The embedded store's request for a query.
pub(super) fn edge_request(q: &Bm25Query) -> Result<QueryRequest, RetrievalError> {
    let filter = filter_of(q).map(super::parse_filter).transpose()?;
    let vector = qdrant_edge::SparseVector::new(q.vector.indices.clone(), q.vector.values.clone())
        .map_err(|e| RetrievalError::Vector(format!("a BM25 query vector: {e}")))?;
    let document_id: JsonPath = "document_id"
        .parse()
        .map_err(|_| RetrievalError::Vector("bad payload key document_id".into()))?;
    Ok(QueryRequest {
        prefetches: vec![],
        query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
            VectorInternal::Sparse(vector),
            BM25,
        )))),
        filter,
        score_threshold: None,
        limit: q.limit,
        offset: 0,
        params: None,
        with_vector: WithVector::Bool(false),
        with_payload: WithPayloadInterface::Selector(PayloadSelector::Include(
            PayloadSelectorInclude {
                include: vec![document_id],
            },
        )),
    })
}

/// A hit from the embedded store.
pub(super) fn edge_hit(p: qdrant_edge::ScoredPoint) -> Bm25Hit {
    let document_id = p
        .payload
        .as_ref()
        .and_then(|m| m.0.get("document_id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Bm25Hit {
        id: super::chunk_id_of(&p.id),
        score: p.score,
        document_id,
    }
}
