//! The vector store: one trait, with Qdrant Edge (the Qdrant engine in
//! process) behind it.
//!
//! The scope and filter are turned into a Qdrant filter and passed *into*
//! the query, so HNSW search walks only points the caller may see (Qdrant's
//! filterable HNSW), rather than fetching the top k and dropping some: a
//! post-filter would leak through counts and return fewer than k hits.

use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter, ancestors};
use async_trait::async_trait;
use qdrant_edge::external::serde_json::{self as qjson, Value, json};
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfig, EdgeOptimizersConfig, EdgeShard,
    EdgeVectorParams, FieldIndexOperations, Filter, HnswIndexConfig, JsonPath, NamedQuery,
    PayloadFieldSchema, PointId, PointInsertOperations, PointOperations, PointStruct, QueryEnum,
    QueryRequest, ScoringQuery, SearchParams, UpdateOperation, Vector, VectorInternal, Vectors,
    WithPayloadInterface, WithVector,
};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub mod bm25;

use crate::lexical::sparse::Bm25Encoder;
use bm25::{BM25, Bm25Hit, Bm25Query, Bm25Target};

/// Name of the dense vector in every point.
pub(crate) const VECTOR: &str = "dense";
/// Our own record of the store's shape, beside Qdrant's files.
const META: &str = "zhishu-vectors.json";
/// Qdrant's indexing threshold (KB of vectors) above which a segment gets
/// an HNSW graph; below it, searches scan the segment.
const QDRANT_INDEXING_THRESHOLD_KB: usize = 10_000;
/// Most points the growing (appendable) segment keeps before the optimiser
/// indexes it. Qdrant's threshold counts vector bytes, but a point's cost
/// in that segment is mostly per point: its payload indexes hold owned
/// strings on the heap (~1 KB a point), and a filtered scan pays per point.
/// With small vectors the byte threshold alone lets the segment reach
/// ~80,000 points at 32 dimensions; this caps it whatever the size.
const GROWING_SEGMENT_POINTS: usize = 20_000;

/// The optimiser settings for `dimensions`-dimensional vectors: Qdrant's
/// defaults, with the indexing threshold lowered to
/// [`GROWING_SEGMENT_POINTS`] points where that is fewer bytes.
fn optimizers_for(dimensions: usize) -> EdgeOptimizersConfig {
    let points_kb = (GROWING_SEGMENT_POINTS * dimensions * 4).div_ceil(1024);
    EdgeOptimizersConfig {
        indexing_threshold: Some(points_kb.clamp(1, QDRANT_INDEXING_THRESHOLD_KB)),
        ..EdgeOptimizersConfig::default()
    }
}

/// A vector hit.
#[derive(Debug, Clone)]
pub struct VectorHit {
    /// Cosine similarity.
    pub score: f32,
    /// The chunk.
    pub chunk: ChunkDoc,
}

/// A store of chunk vectors with their payloads.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Dimensions of the stored vectors.
    fn dimensions(&self) -> usize;

    /// Adds chunks with their vectors, replacing points with the same id.
    async fn upsert(&self, points: Vec<(ChunkDoc, Vec<f32>)>) -> Result<(), RetrievalError>;

    /// Deletes a document's chunks: all of them, or all but those of
    /// `keep_version`.
    async fn delete_document(
        &self,
        document_id: &str,
        keep_version: Option<i64>,
    ) -> Result<(), RetrievalError>;

    /// Makes every change so far durable.
    async fn commit(&self) -> Result<(), RetrievalError>;

    /// The `k` nearest chunks the scope may see, narrowed by the filter;
    /// `exact` skips the HNSW index (ground truth for recall).
    async fn search(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
    ) -> Result<Vec<VectorHit>, RetrievalError>;

    /// The `k` nearest chunk ids with their similarity, without payloads:
    /// what fusion needs, since only the few hits that are kept need their
    /// text ([`VectorIndex::get`]).
    async fn search_ids(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Vec<(String, f32)>, RetrievalError>;

    /// [`VectorIndex::search_ids`] on the calling thread, for a store that
    /// runs inside this process (`None` for one behind a network call,
    /// which must be awaited). The caller is a search thread, never the
    /// async runtime: hybrid search uses it to fuse on the thread where
    /// the slower engine finished, instead of handing back and forth.
    fn search_ids_here(
        &self,
        _vector: Vec<f32>,
        _k: usize,
        _scope: &Scope,
        _filter: &SearchFilter,
    ) -> Option<Result<Vec<(String, f32)>, RetrievalError>> {
        None
    }

    /// Whether [`VectorIndex::search_ids_here`] is available.
    fn searches_here(&self) -> bool {
        false
    }

    /// The chunks with these ids, in the order asked, leaving out ids that
    /// do not exist and chunks the scope may not see.
    async fn get(&self, ids: &[String], scope: &Scope) -> Result<Vec<ChunkDoc>, RetrievalError>;

    /// Chunks the scope may see, narrowed by the filter.
    async fn count(&self, scope: &Scope, filter: &SearchFilter) -> Result<usize, RetrievalError>;

    /// The version of every stored chunk of a document (consistency checks).
    async fn document_versions(&self, document_id: &str) -> Result<Vec<i64>, RetrievalError>;

    /// Builds or refreshes the search index (HNSW) over what was written.
    async fn optimize(&self) -> Result<(), RetrievalError>;

    /// Called by long writers every so many points, so that what the store
    /// holds in memory for recent writes stays bounded however large the
    /// job. The embedded store keeps new points in one growing appendable
    /// segment whose payload indexes live on the heap (an owned string per
    /// point and field); a checkpoint turns it into an indexed,
    /// memory-mapped segment and starts a fresh one. A server manages its
    /// own segments, so by default this does nothing.
    async fn checkpoint(&self) -> Result<(), RetrievalError> {
        Ok(())
    }

    /// What the store is, for readiness checks; an error when it cannot
    /// serve now (a server that does not answer).
    async fn status(&self) -> Result<String, RetrievalError>;

    /// Makes sure the store can be used now: on a server, that the
    /// collection exists with the right shape and records the expected
    /// embedder ([`VectorIndex::expect_embedder`]), which otherwise happens
    /// at the first read or write. An ingestion whose files are all
    /// unchanged reads and writes nothing, and must still be refused with
    /// another embedder. The embedded store checked everything at open.
    ///
    /// # Errors
    /// [`RetrievalError::EmbedderChanged`], [`RetrievalError::Dimensions`],
    /// a server that does not answer.
    async fn prepare(&self) -> Result<(), RetrievalError> {
        Ok(())
    }

    /// Has the store hold only vectors of the embedder `stamp` describes
    /// (model, width, prefixes): one that records another is refused, one
    /// that records none records this one. Switching between two models of
    /// one width would otherwise compare two unrelated spaces without a
    /// word. The embedded store checks now; a server, at its first call.
    ///
    /// # Errors
    /// [`RetrievalError::EmbedderChanged`]; the store's own errors.
    fn expect_embedder(&self, stamp: &str) -> Result<(), RetrievalError>;

    /// The encoder of the BM25 vectors its points carry, when it was
    /// opened with them (`lexical.backend = "qdrant"`): chunks written
    /// then get a BM25 vector and their documents a page.
    fn bm25_encoder(&self) -> Option<&Bm25Encoder> {
        None
    }

    /// Runs BM25 queries ([`bm25`]), each answered in order, best first.
    ///
    /// # Errors
    /// When the store holds no BM25 vectors, or fails.
    async fn bm25(&self, queries: Vec<Bm25Query>) -> Result<Vec<Vec<Bm25Hit>>, RetrievalError> {
        let _ = queries;
        Err(RetrievalError::Vector(
            "this vector store was opened without BM25 vectors (lexical.backend = \"tantivy\")"
                .into(),
        ))
    }
}

/// One condition of a store query, in terms both Qdrant front ends (the
/// embedded engine's JSON filters and the server's gRPC filters) express,
/// so the scope is written once.
pub(crate) enum Condition {
    /// The keyword field holds one of these values.
    AnyOf(&'static str, Vec<String>),
    /// The keyword field holds this value.
    Is(&'static str, String),
    /// The integer field is greater than this.
    After(&'static str, i64),
}

/// The conditions of `scope AND filter`: the access groups always come
/// first, and every filter field only adds conditions, so a filter can
/// narrow the scope but never widen it.
pub(crate) fn conditions(scope: &Scope, filter: &SearchFilter) -> Vec<Condition> {
    let mut must = vec![Condition::AnyOf("access_groups", scope.groups().to_vec())];
    if !filter.collections.is_empty() {
        must.push(Condition::AnyOf("collection", filter.collections.clone()));
    }
    if !filter.document_ids.is_empty() {
        must.push(Condition::AnyOf("document_id", filter.document_ids.clone()));
    }
    if let Some(prefix) = filter.normalised_prefix() {
        must.push(Condition::Is("dirs", prefix));
    }
    if let Some(after) = filter.modified_after {
        must.push(Condition::After("modified_at", after));
    }
    must
}

/// The Qdrant filter for `scope AND filter` (Qdrant's JSON filter format).
pub(crate) fn qdrant_filter(scope: &Scope, filter: &SearchFilter) -> Value {
    let must: Vec<Value> = conditions(scope, filter)
        .into_iter()
        .map(|c| match c {
            Condition::AnyOf(key, values) => json!({"key": key, "match": {"any": values}}),
            Condition::Is(key, value) => json!({"key": key, "match": {"value": value}}),
            Condition::After(key, t) => json!({"key": key, "range": {"gt": t}}),
        })
        .collect();
    json!({ "must": must })
}

pub(crate) fn parse_filter(v: Value) -> Result<Filter, RetrievalError> {
    qjson::from_value(v).map_err(|e| RetrievalError::Vector(format!("filter: {e}")))
}

fn point_id(chunk_id: &str) -> Result<PointId, RetrievalError> {
    qdrant_edge::external::uuid::Uuid::parse_str(chunk_id)
        .map(PointId::Uuid)
        .map_err(|e| RetrievalError::Vector(format!("chunk id {chunk_id:?} is not a UUID: {e}")))
}

/// Hands memory freed by an optimisation back to the operating system.
/// Qdrant's optimiser builds segments on its own worker threads and frees
/// hundreds of megabytes when done; glibc keeps freed memory in per-thread
/// arenas, so without this the process's resident size ratchets up with
/// every checkpoint of a long job although its live heap stays flat.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own
    // arenas to the kernel; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Qdrant Edge: the Qdrant engine in this process, on a local folder.
pub struct EdgeIndex {
    shard: Arc<EdgeShard>,
    dimensions: usize,
    /// Serialises writes, flushes and optimisation: Edge's `flush` must not
    /// run beside an update.
    write: Arc<Mutex<()>>,
    /// Held while open: one process per store folder.
    _lock: File,
    path: PathBuf,
    /// BM25 inside the store, when opened with it.
    bm25: Option<EdgeBm25>,
}

/// The embedded store's BM25: the encoder, and the page store in the
/// `pages/` folder.
struct EdgeBm25 {
    encoder: Bm25Encoder,
    pages: Arc<EdgeShard>,
}

impl EdgeIndex {
    /// Opens the store in `dir`, creating it for `dimensions`-dimensional
    /// cosine vectors when absent.
    ///
    /// # Errors
    /// [`RetrievalError::Locked`] when another process has it open,
    /// [`RetrievalError::Dimensions`] when it holds vectors of another size.
    pub fn open(dir: &Path, dimensions: usize) -> Result<Self, RetrievalError> {
        Self::open_with(dir, dimensions, None)
    }

    /// [`EdgeIndex::open`] with BM25 vectors in its points, made by
    /// `encoder`, and its page store in `dir/pages` (see [`bm25`]).
    ///
    /// # Errors
    /// As [`EdgeIndex::open`]; [`RetrievalError::Vector`] when the store
    /// was made without BM25 vectors (its chunks would have none: it must
    /// be made again).
    pub fn open_with(
        dir: &Path,
        dimensions: usize,
        encoder: Option<Bm25Encoder>,
    ) -> Result<Self, RetrievalError> {
        let io = |source| RetrievalError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(io)?;
        if lock.try_lock().is_err() {
            return Err(RetrievalError::Locked(dir.display().to_string()));
        }
        let meta = dir.join(META);
        let shard = if dir.join("edge_config.json").is_file() {
            if let Ok(text) = std::fs::read_to_string(&meta)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(d) = v["dimensions"].as_u64()
                && d as usize != dimensions
            {
                return Err(RetrievalError::Dimensions {
                    want: d as usize,
                    got: dimensions,
                });
            }
            let shard = EdgeShard::load(dir, None)?;
            if encoder.is_some() && !shard.config().sparse_vectors.contains_key(BM25) {
                return Err(RetrievalError::Vector(format!(
                    "the vector store at {} was made without BM25 vectors (lexical.backend = \
                     \"tantivy\"): set lexical.backend = \"tantivy\" again, or move the folder \
                     away and run `zhishu ingest` again to make it with them",
                    dir.display()
                )));
            }
            // Stores created before the threshold was set get it now.
            let optimizers = optimizers_for(dimensions);
            if shard.config().optimizers != optimizers {
                shard.set_optimizers_config(optimizers)?;
            }
            shard
        } else {
            let mut config = EdgeConfig::builder().vector(
                VECTOR,
                EdgeVectorParams::builder(dimensions, Distance::Cosine)
                    .on_disk(false)
                    .build(),
            );
            if encoder.is_some() {
                config = config.sparse_vector(BM25, bm25::params());
            }
            let config = config
                .hnsw_config(HnswIndexConfig {
                    m: 16,
                    ef_construct: 128,
                    ..Default::default()
                })
                .on_disk_payload(true)
                .optimizers(optimizers_for(dimensions))
                .build();
            let shard = EdgeShard::new(dir, config)?;
            std::fs::write(&meta, json!({ "dimensions": dimensions }).to_string()).map_err(io)?;
            shard
        };
        let bm25 = match encoder {
            Some(encoder) => Some(EdgeBm25 {
                encoder,
                pages: Arc::new(open_pages(&dir.join(bm25::PAGES))?),
            }),
            None => None,
        };
        let index = Self {
            shard: Arc::new(shard),
            dimensions,
            write: Arc::new(Mutex::new(())),
            _lock: lock,
            path: dir.to_path_buf(),
            bm25,
        };
        index.ensure_payload_indexes()?;
        Ok(index)
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Points and how many of them sit in indexed segments (HNSW graph,
    /// memory-mapped payload indexes) rather than the growing appendable
    /// one: what [`VectorIndex::checkpoint`] moves, for tests and
    /// diagnostics.
    pub fn indexed_points(&self) -> (usize, usize) {
        let info = self.shard.info();
        (info.points_count, info.indexed_vectors_count)
    }

    /// Keyword and integer indexes on the fields filters use. Idempotent;
    /// re-run after optimisation, which starts a new appendable segment.
    ///
    /// Fields with a value per document or folder (document id, version,
    /// ancestor folders) keep their indexes on disk in indexed segments and
    /// get no extra HNSW links: they narrow deletes and rare filters, and
    /// in memory they would cost the heap an owned string per point and
    /// value, growing with the corpus. The scope's fields (access groups,
    /// collection) and the date stay in memory with filter-aware HNSW
    /// links, since every search filters on them.
    fn ensure_payload_indexes(&self) -> Result<(), RetrievalError> {
        payload_indexes(&self.shard)?;
        match &self.bm25 {
            Some(b) => payload_indexes(&b.pages),
            None => Ok(()),
        }
    }

    /// Runs a blocking store call off the async runtime: reads on the
    /// search pool ([`crate::pool`]), writes (which can run for seconds)
    /// on tokio's blocking pool under the write lock.
    async fn blocking<T: Send + 'static>(
        &self,
        write: bool,
        f: impl FnOnce(&EdgeShard) -> Result<T, RetrievalError> + Send + 'static,
    ) -> Result<T, RetrievalError> {
        let shard = self.shard.clone();
        if !write {
            return crate::pool::read(RetrievalError::Vector, move || f(&shard)).await;
        }
        let lock = self.write.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = lock
                .lock()
                .map_err(|_| RetrievalError::Vector("write lock poisoned".into()))?;
            f(&shard)
        })
        .await
        .map_err(|e| RetrievalError::Vector(format!("store task failed: {e}")))?
    }
}

impl EdgeIndex {
    /// The `k` nearest points the scope may see, with or without payloads.
    async fn nearest(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
        with_payload: bool,
    ) -> Result<Vec<qdrant_edge::ScoredPoint>, RetrievalError> {
        match self.nearest_request(vector, k, scope, filter, exact, with_payload)? {
            Some(request) => self.blocking(false, move |s| Ok(s.query(request)?)).await,
            None => Ok(Vec::new()),
        }
    }

    /// The query for [`EdgeIndex::nearest`]; `None` when nothing can match.
    fn nearest_request(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
        with_payload: bool,
    ) -> Result<Option<QueryRequest>, RetrievalError> {
        if scope.is_empty() || k == 0 {
            return Ok(None);
        }
        if vector.len() != self.dimensions {
            return Err(RetrievalError::Dimensions {
                want: self.dimensions,
                got: vector.len(),
            });
        }
        let filter = parse_filter(qdrant_filter(scope, filter))?;
        let request = QueryRequest {
            prefetches: vec![],
            query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(
                VectorInternal::Dense(vector),
                VECTOR,
            )))),
            filter: Some(filter),
            score_threshold: None,
            limit: k,
            offset: 0,
            params: Some(SearchParams {
                hnsw_ef: Some((k * 2).max(128)),
                exact,
                ..Default::default()
            }),
            with_vector: WithVector::Bool(false),
            with_payload: WithPayloadInterface::Bool(with_payload),
        };
        Ok(Some(request))
    }
}

/// The payload indexes of [`EdgeIndex::ensure_payload_indexes`] on one
/// shard (chunks, or pages).
fn payload_indexes(shard: &EdgeShard) -> Result<(), RetrievalError> {
    let per_document = |kind: &str| json!({"type": kind, "on_disk": true, "enable_hnsw": false});
    let fields = [
        ("access_groups", json!("keyword")),
        ("collection", json!("keyword")),
        ("document_id", per_document("keyword")),
        ("dirs", per_document("keyword")),
        ("version", per_document("integer")),
        ("modified_at", json!("integer")),
    ];
    for (name, schema) in fields {
        let field_name: JsonPath = name
            .parse()
            .map_err(|_| RetrievalError::Vector(format!("bad payload key {name}")))?;
        let field_schema: PayloadFieldSchema = qjson::from_value(schema)
            .map_err(|e| RetrievalError::Vector(format!("payload index for {name}: {e}")))?;
        shard.update(UpdateOperation::FieldIndexOperation(
            FieldIndexOperations::CreateIndex(CreateIndex {
                field_name,
                field_schema: Some(field_schema),
            }),
        ))?;
    }
    Ok(())
}

/// A BM25 vector as the embedded store takes it.
fn sparse(v: crate::lexical::sparse::SparseVector) -> Result<Vector, RetrievalError> {
    Vector::new_sparse(v.indices, v.values)
        .map_err(|e| RetrievalError::Vector(format!("a BM25 vector: {e}")))
}

/// Opens (or creates) the page store of BM25 inside the store: a sparse
/// vector only, no dense one.
fn open_pages(dir: &Path) -> Result<EdgeShard, RetrievalError> {
    if dir.join("edge_config.json").is_file() {
        return Ok(EdgeShard::load(dir, None)?);
    }
    std::fs::create_dir_all(dir).map_err(|source| RetrievalError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let config = EdgeConfig::builder()
        .sparse_vector(BM25, bm25::params())
        .on_disk_payload(true)
        .build();
    Ok(EdgeShard::new(dir, config)?)
}

/// The chunk id behind a point id (the point id is the chunk id's UUID).
pub(crate) fn chunk_id_of(id: &PointId) -> String {
    match id {
        PointId::Uuid(u) => u.to_string(),
        PointId::NumId(n) => n.to_string(),
    }
}

fn chunk_of(payload: Option<qdrant_edge::Payload>) -> Result<ChunkDoc, RetrievalError> {
    let map = payload.ok_or_else(|| RetrievalError::Vector("a point has no payload".into()))?;
    qjson::from_value(Value::Object(map.0.into_iter().collect()))
        .map_err(|e| RetrievalError::Vector(format!("a point's payload: {e}")))
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn upsert(&self, points: Vec<(ChunkDoc, Vec<f32>)>) -> Result<(), RetrievalError> {
        let mut list = Vec::with_capacity(points.len());
        let mut pages = Vec::new();
        if let Some(b) = &self.bm25 {
            // The pages from the chunks as they are: no copy of their texts.
            for (id, vector, payload) in
                bm25::page_points(&b.encoder, points.iter().map(|(c, _)| c))
            {
                let vectors = Vectors::new_named([(BM25, sparse(vector)?)]);
                pages.push(PointStruct::new(point_id(&id)?, vectors, payload).0);
            }
        }
        for (chunk, vector) in points {
            if vector.len() != self.dimensions {
                return Err(RetrievalError::Dimensions {
                    want: self.dimensions,
                    got: vector.len(),
                });
            }
            let mut payload = chunk
                .stored_json()
                .map_err(|e| RetrievalError::Vector(format!("payload: {e}")))?;
            payload["dirs"] = json!(ancestors(&chunk.path));
            let id = point_id(&chunk.chunk_id)?;
            let mut named = vec![(VECTOR, Vector::new_dense(vector))];
            if let Some(b) = &self.bm25 {
                named.push((BM25, sparse(b.encoder.chunk(&chunk))?));
            }
            list.push(PointStruct::new(id, Vectors::new_named(named), payload).0);
        }
        if list.is_empty() {
            return Ok(());
        }
        let page_store = self.bm25.as_ref().map(|b| b.pages.clone());
        self.blocking(true, move |s| {
            s.update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(list)),
            ))?;
            if let Some(p) = page_store
                && !pages.is_empty()
            {
                p.update(UpdateOperation::PointOperation(
                    PointOperations::UpsertPoints(PointInsertOperations::PointsList(pages)),
                ))?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_document(
        &self,
        document_id: &str,
        keep_version: Option<i64>,
    ) -> Result<(), RetrievalError> {
        let mut f = json!({"must": [{"key": "document_id", "match": {"value": document_id}}]});
        if let Some(v) = keep_version {
            f["must_not"] = json!([{"key": "version", "match": {"value": v}}]);
        }
        let filter = parse_filter(f)?;
        let page_store = self.bm25.as_ref().map(|b| b.pages.clone());
        self.blocking(true, move |s| {
            s.update(UpdateOperation::PointOperation(
                PointOperations::DeletePointsByFilter(filter.clone()),
            ))?;
            if let Some(p) = page_store {
                p.update(UpdateOperation::PointOperation(
                    PointOperations::DeletePointsByFilter(filter),
                ))?;
            }
            Ok(())
        })
        .await
    }

    async fn commit(&self) -> Result<(), RetrievalError> {
        let page_store = self.bm25.as_ref().map(|b| b.pages.clone());
        self.blocking(true, |s| {
            // Edge reports flush failures by panicking; turn that into an
            // error the job can report.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                s.flush();
                if let Some(p) = page_store {
                    p.flush();
                }
            }))
            .map_err(|_| RetrievalError::Vector("flushing the vector store failed".into()))
        })
        .await
    }

    async fn search(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
    ) -> Result<Vec<VectorHit>, RetrievalError> {
        self.nearest(vector, k, scope, filter, exact, true)
            .await?
            .into_iter()
            .map(|p| {
                Ok(VectorHit {
                    score: p.score,
                    chunk: chunk_of(p.payload)?,
                })
            })
            .collect()
    }

    async fn search_ids(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Vec<(String, f32)>, RetrievalError> {
        Ok(self
            .nearest(vector, k, scope, filter, false, false)
            .await?
            .into_iter()
            .map(|p| (chunk_id_of(&p.id), p.score))
            .collect())
    }

    fn search_ids_here(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Option<Result<Vec<(String, f32)>, RetrievalError>> {
        let found = match self.nearest_request(vector, k, scope, filter, false, false) {
            Ok(Some(request)) => self.shard.query(request).map_err(RetrievalError::from),
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        Some(found.map(|points| {
            points
                .into_iter()
                .map(|p| (chunk_id_of(&p.id), p.score))
                .collect()
        }))
    }

    fn searches_here(&self) -> bool {
        true
    }

    async fn get(&self, ids: &[String], scope: &Scope) -> Result<Vec<ChunkDoc>, RetrievalError> {
        if scope.is_empty() || ids.is_empty() {
            return Ok(Vec::new());
        }
        let points = ids
            .iter()
            .map(|id| point_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let records = self
            .blocking(false, move |s| {
                Ok(s.retrieve(&points, Some(WithPayloadInterface::Bool(true)), None)?)
            })
            .await?;
        let mut chunks = Vec::with_capacity(records.len());
        for r in records {
            let c = chunk_of(r.payload)?;
            // The ids came from a search inside the scope; checked again
            // here so that `get` alone can never widen it.
            if c.access_groups.iter().any(|g| scope.groups().contains(g)) {
                chunks.push(c);
            }
        }
        Ok(chunks)
    }

    async fn count(&self, scope: &Scope, filter: &SearchFilter) -> Result<usize, RetrievalError> {
        if scope.is_empty() {
            return Ok(0);
        }
        let filter = parse_filter(qdrant_filter(scope, filter))?;
        self.blocking(false, move |s| {
            Ok(s.count(CountRequest {
                filter: Some(filter),
                exact: true,
            })?)
        })
        .await
    }

    async fn document_versions(&self, document_id: &str) -> Result<Vec<i64>, RetrievalError> {
        let filter = parse_filter(
            json!({"must": [{"key": "document_id", "match": {"value": document_id}}]}),
        )?;
        self.blocking(false, move |s| {
            let mut versions = Vec::new();
            let mut offset = None;
            loop {
                let (records, next) = s.scroll(qdrant_edge::ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: Some(filter.clone()),
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })?;
                for r in records {
                    versions.push(chunk_of(r.payload)?.version);
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => break,
                }
            }
            Ok(versions)
        })
        .await
    }

    fn expect_embedder(&self, stamp: &str) -> Result<(), RetrievalError> {
        let meta = self.path.join(META);
        let io = |source| RetrievalError::Io {
            path: meta.display().to_string(),
            source,
        };
        let mut v: Value = match std::fs::read_to_string(&meta) {
            Ok(text) => qjson::from_str(&text).unwrap_or_else(|_| json!({})),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
            Err(e) => return Err(io(e)),
        };
        match v.get("embedder").and_then(Value::as_str) {
            Some(built) if built == stamp => Ok(()),
            Some(built) => Err(RetrievalError::EmbedderChanged {
                store: self.path.display().to_string(),
                built: built.to_owned(),
                configured: stamp.to_owned(),
            }),
            None => {
                if self.shard.info().points_count > 0 {
                    tracing::warn!(
                        store = %self.path.display(), embedder = %stamp,
                        "the vector store predates embedder stamps: if it was built with another \
                         embedding model, rebuild it (see docs/retrieval.md)"
                    );
                }
                v["embedder"] = Value::String(stamp.to_owned());
                v["dimensions"] = json!(self.dimensions);
                // Written whole, then renamed: a crash leaves the old file.
                let tmp = self.path.join(format!("{META}.tmp"));
                std::fs::write(&tmp, v.to_string()).map_err(io)?;
                std::fs::rename(&tmp, &meta).map_err(io)
            }
        }
    }

    async fn status(&self) -> Result<String, RetrievalError> {
        Ok(format!(
            "qdrant edge store open at {} ({} dimensions)",
            self.path.display(),
            self.dimensions
        ))
    }

    async fn checkpoint(&self) -> Result<(), RetrievalError> {
        self.optimize().await
    }

    fn bm25_encoder(&self) -> Option<&Bm25Encoder> {
        self.bm25.as_ref().map(|b| &b.encoder)
    }

    async fn bm25(&self, queries: Vec<Bm25Query>) -> Result<Vec<Vec<Bm25Hit>>, RetrievalError> {
        let Some(b) = &self.bm25 else {
            return Err(RetrievalError::Vector(
                "this vector store was opened without BM25 vectors".into(),
            ));
        };
        let pages = b.pages.clone();
        self.blocking(false, move |chunks| {
            queries
                .iter()
                .map(|q| {
                    if bm25::is_void(q) {
                        return Ok(Vec::new());
                    }
                    let store = match q.target {
                        Bm25Target::Chunks => chunks,
                        Bm25Target::Pages => &pages,
                    };
                    let found = store.query(bm25::edge_request(q)?)?;
                    Ok(found.into_iter().map(bm25::edge_hit).collect())
                })
                .collect()
        })
        .await
    }

    async fn optimize(&self) -> Result<(), RetrievalError> {
        let shard = self.shard.clone();
        let pages = self.bm25.as_ref().map(|b| b.pages.clone());
        let lock = self.write.clone();
        let rebuilt = tokio::task::spawn_blocking(move || {
            let _guard = lock
                .lock()
                .map_err(|_| RetrievalError::Vector("write lock poisoned".into()))?;
            let mut rebuilt = shard.optimize()?;
            if let Some(p) = pages {
                rebuilt |= p.optimize()?;
            }
            Ok::<_, RetrievalError>(rebuilt)
        })
        .await
        .map_err(|e| RetrievalError::Vector(format!("store task failed: {e}")))??;
        if rebuilt {
            self.ensure_payload_indexes()?;
            release_freed_memory();
        }
        Ok(())
    }
}
