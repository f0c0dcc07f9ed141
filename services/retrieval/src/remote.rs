//! A Qdrant server (or cluster) behind the same [`VectorIndex`] trait as
//! the embedded store, through the official gRPC client.
//!
//! Why a second implementation rather than a thin wrapper: the server owns
//! durability and index building, so `commit` and `optimize` mean different
//! things here. Writes are sent with `wait = true` (acknowledged once they
//! are in the server's write-ahead log and visible to searches), so a job
//! that reaches its commit point has nothing left in flight; `optimize`
//! waits until the server reports the collection green (its background
//! optimisers have built the HNSW index).
//!
//! The collection is created on first use, not at construction, so that
//! Zhishu starts while the server is still coming up or briefly down: every
//! call then fails with [`RetrievalError::Unavailable`], which names the
//! server and says what to check, and the next call tries again.
//!
//! The access scope is sent *inside* every query as a Qdrant filter, the
//! same conditions as the embedded store builds (see
//! [`crate::vector::conditions`]).

use crate::lexical::sparse::Bm25Encoder;
use crate::vector::bm25::{self, BM25, Bm25Hit, Bm25Query, Bm25Target};
use crate::vector::{Condition as Cond, VECTOR, VectorHit, VectorIndex, conditions};
use crate::{ChunkDoc, RetrievalError, Scope, SearchFilter, ancestors};
use async_trait::async_trait;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Filter, GetPointsBuilder, HnswConfigDiffBuilder,
    Modifier, NamedVectors, PayloadIncludeSelector, PointId, PointStruct, Query,
    QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder, Range, ReplicaState, RetrievedPoint,
    ScrollPointsBuilder, SearchParamsBuilder, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
    VectorsConfigBuilder, WriteOrdering, WriteOrderingType, point_id::PointIdOptions,
    vectors_config,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::OnceCell;
use zhishu_core::config::{ClusterConfig, WriteOrdering as Ordering};

/// How long one call may take before it counts as a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take: a server that is down should be reported
/// quickly, not after the call timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait in [`VectorIndex::optimize`] for the server's optimisers.
const OPTIMIZE_WAIT: Duration = Duration::from_secs(600);

/// Chunk vectors in a collection of a Qdrant server.
pub struct QdrantIndex {
    client: Qdrant,
    url: String,
    collection: String,
    dimensions: usize,
    /// Set once the collection exists with the right shape and indexes.
    ready: OnceCell<()>,
    /// BM25 inside the store (`lexical.backend = "qdrant"`): the encoder;
    /// pages live in the collection named [`QdrantIndex::pages`].
    bm25: Option<Bm25Encoder>,
    /// Sharding and replication of collections it creates, and the write
    /// ordering.
    cluster: ClusterConfig,
    /// The embedder its vectors must come from
    /// ([`VectorIndex::expect_embedder`]), checked against the collection's
    /// metadata when [`QdrantIndex::ensure`] runs.
    embedder: std::sync::OnceLock<String>,
}

/// The collection metadata key of the embedder stamp.
const EMBEDDER_KEY: &str = "zhishu_embedder";

impl QdrantIndex {
    /// A store in `collection` on the server at `url` (its gRPC port, e.g.
    /// `http://qdrant:6334`) for `dimensions`-dimensional cosine vectors.
    /// Nothing is sent until the first call.
    ///
    /// # Errors
    /// [`RetrievalError::Vector`] when the URL is not valid.
    pub fn connect(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        dimensions: usize,
    ) -> Result<Self, RetrievalError> {
        let mut builder = Qdrant::from_url(url)
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .skip_compatibility_check();
        if let Some(key) = api_key {
            builder = builder.api_key(key.to_string());
        }
        let client = builder
            .build()
            .map_err(|e| RetrievalError::Vector(format!("vectors.url {url:?}: {e}")))?;
        Ok(Self {
            client,
            url: url.to_string(),
            collection: collection.to_string(),
            dimensions,
            ready: OnceCell::new(),
            bm25: None,
            cluster: ClusterConfig::default(),
            embedder: std::sync::OnceLock::new(),
        })
    }

    /// The same store creating collections with this sharding and
    /// replication, and ordering writes so.
    #[must_use]
    pub fn with_cluster(mut self, cluster: ClusterConfig) -> Self {
        self.cluster = cluster;
        self
    }

    /// A new collection's builder with the configured layout.
    fn create(&self, name: &str) -> CreateCollectionBuilder {
        let c = &self.cluster;
        let mut b = CreateCollectionBuilder::new(name)
            .replication_factor(c.replication_factor)
            .write_consistency_factor(c.write_consistency_factor)
            .on_disk_payload(true);
        if let Some(n) = c.shard_number {
            b = b.shard_number(n);
        }
        b
    }

    /// The configured write ordering.
    fn ordering(&self) -> WriteOrdering {
        let t = match self.cluster.write_ordering {
            Ordering::Weak => WriteOrderingType::Weak,
            Ordering::Medium => WriteOrderingType::Medium,
            Ordering::Strong => WriteOrderingType::Strong,
        };
        WriteOrdering { r#type: t as i32 }
    }

    /// Each replica of the collection that is not active, as the server
    /// this store talks to sees them (`shard 2 on peer 5: dead`).
    async fn unhealthy_replicas(&self, name: &str) -> Result<Vec<String>, RetrievalError> {
        let info = self
            .client
            .collection_cluster_info(name)
            .await
            .map_err(|e| self.error("reading the collection's cluster state", e))?;
        let state = |s: i32| {
            ReplicaState::try_from(s)
                .map(|s| s.as_str_name().to_lowercase())
                .unwrap_or_else(|_| format!("state {s}"))
        };
        let active = ReplicaState::Active as i32;
        let mut out: Vec<String> = info
            .local_shards
            .iter()
            .filter(|s| s.state != active)
            .map(|s| {
                format!(
                    "shard {} on peer {} (this one): {}",
                    s.shard_id,
                    info.peer_id,
                    state(s.state)
                )
            })
            .collect();
        out.extend(
            info.remote_shards
                .iter()
                .filter(|s| s.state != active)
                .map(|s| {
                    format!(
                        "shard {} on peer {}: {}",
                        s.shard_id,
                        s.peer_id,
                        state(s.state)
                    )
                }),
        );
        Ok(out)
    }

    /// The same store with BM25 vectors in its points and a page
    /// collection beside it (see [`crate::vector::bm25`]), when `bm25` is
    /// given.
    #[must_use]
    pub fn with_bm25(mut self, bm25: Option<Bm25Encoder>) -> Self {
        self.bm25 = bm25;
        self
    }

    /// The page collection's name: the chunks' with `_pages`.
    fn pages(&self) -> String {
        format!("{}_{}", self.collection, bm25::PAGES)
    }

    /// The collection this store writes to.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Turns a client error into ours: a server that cannot be reached is
    /// [`RetrievalError::Unavailable`] (retry later), anything else is a
    /// store failure.
    fn error(&self, what: &str, e: QdrantError) -> RetrievalError {
        // The client reports a refused or failed connection as an internal
        // error whose message says so; timeouts and an unavailable server
        // have their own codes.
        let (unreachable, detail) = match &e {
            QdrantError::ResponseError { status } => (
                matches!(
                    status.code(),
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                ) || status.message().starts_with("Failed to connect"),
                status.message().to_string(),
            ),
            QdrantError::Io(io) => (true, io.to_string()),
            other => (false, other.to_string()),
        };
        if unreachable {
            RetrievalError::Unavailable(format!(
                "the Qdrant server at {} did not answer ({what}): {detail}; check that it runs and that vectors.url names its gRPC port (6334)",
                self.url
            ))
        } else {
            RetrievalError::Vector(format!(
                "Qdrant server at {}, collection {:?}, {what}: {detail}",
                self.url, self.collection
            ))
        }
    }

    /// Creates the collection and its payload indexes when absent, and
    /// checks an existing one holds vectors of our size. Runs once.
    async fn ensure(&self) -> Result<(), RetrievalError> {
        self.ready
            .get_or_try_init(|| async {
                let name = &self.collection;
                let exists = self
                    .client
                    .collection_exists(name)
                    .await
                    .map_err(|e| self.error("checking the collection", e))?;
                if exists {
                    self.check_dimensions().await?;
                } else {
                    let mut vectors = VectorsConfigBuilder::default();
                    vectors.add_named_vector_params(
                        VECTOR,
                        VectorParamsBuilder::new(self.dimensions as u64, Distance::Cosine),
                    );
                    let mut create = self
                        .create(name)
                        .vectors_config(vectors)
                        .hnsw_config(HnswConfigDiffBuilder::default().m(16).ef_construct(128));
                    if self.bm25.is_some() {
                        create = create.sparse_vectors_config(bm25_config());
                    }
                    if let Some(stamp) = self.embedder.get() {
                        create = create.metadata(HashMap::from([(
                            EMBEDDER_KEY.to_string(),
                            serde_json::Value::String(stamp.clone()),
                        )]));
                    }
                    let created = self.client.create_collection(create).await;
                    // Another Zhishu process may have created it meanwhile.
                    if let Err(e) = created {
                        if !self.client.collection_exists(name).await.unwrap_or(false) {
                            return Err(self.error("creating the collection", e));
                        }
                        self.check_dimensions().await?;
                    }
                }
                self.payload_indexes(name).await?;
                if self.bm25.is_some() {
                    self.ensure_pages().await?;
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// The payload indexes every search and delete filters on.
    async fn payload_indexes(&self, name: &str) -> Result<(), RetrievalError> {
        for (field, kind) in [
            ("access_groups", FieldType::Keyword),
            ("collection", FieldType::Keyword),
            ("document_id", FieldType::Keyword),
            ("dirs", FieldType::Keyword),
            ("version", FieldType::Integer),
            ("modified_at", FieldType::Integer),
        ] {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true),
                )
                .await
                .map_err(|e| self.error(&format!("indexing payload field {field}"), e))?;
        }
        Ok(())
    }

    /// Creates the page collection (a BM25 vector only) when absent.
    async fn ensure_pages(&self) -> Result<(), RetrievalError> {
        let pages = self.pages();
        let exists = |e| self.error("checking the page collection", e);
        if !self
            .client
            .collection_exists(&pages)
            .await
            .map_err(exists)?
        {
            let created = self
                .client
                .create_collection(self.create(&pages).sparse_vectors_config(bm25_config()))
                .await;
            if let Err(e) = created
                && !self.client.collection_exists(&pages).await.unwrap_or(false)
            {
                return Err(self.error("creating the page collection", e));
            }
        }
        self.payload_indexes(&pages).await
    }

    async fn check_dimensions(&self) -> Result<(), RetrievalError> {
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(|e| self.error("reading the collection", e))?;
        let config = info.result.and_then(|i| i.config);
        self.check_embedder(config.as_ref().map(|c| &c.metadata))
            .await?;
        let params = config.and_then(|c| c.params);
        let has_bm25 = params
            .as_ref()
            .and_then(|p| p.sparse_vectors_config.as_ref())
            .is_some_and(|s| s.map.contains_key(BM25));
        if self.bm25.is_some() && !has_bm25 {
            return Err(RetrievalError::Vector(format!(
                "collection {:?} on {} was made without BM25 vectors (lexical.backend = \
                 \"tantivy\"): set lexical.backend = \"tantivy\" again, or set \
                 vectors.collection to a new name and run `zhishu ingest` again",
                self.collection, self.url
            )));
        }
        let size = params
            .and_then(|p| p.vectors_config)
            .and_then(|v| v.config)
            .and_then(|c| match c {
                vectors_config::Config::ParamsMap(m) => m.map.get(VECTOR).map(|p| p.size),
                vectors_config::Config::Params(_) => None,
            });
        match size {
            Some(s) if s as usize == self.dimensions => Ok(()),
            Some(s) => Err(RetrievalError::Dimensions {
                want: s as usize,
                got: self.dimensions,
            }),
            None => Err(RetrievalError::Vector(format!(
                "collection {:?} on {} has no vector named {VECTOR:?}: it was not made by Zhishu; set vectors.collection to another name",
                self.collection, self.url
            ))),
        }
    }

    /// Compares the collection's embedder stamp with the configured one,
    /// and records the configured one in a collection that has none.
    async fn check_embedder(
        &self,
        metadata: Option<&HashMap<String, qdrant_client::qdrant::Value>>,
    ) -> Result<(), RetrievalError> {
        use qdrant_client::qdrant::value::Kind;
        let Some(stamp) = self.embedder.get() else {
            return Ok(());
        };
        let built = metadata
            .and_then(|m| m.get(EMBEDDER_KEY))
            .and_then(|v| match &v.kind {
                Some(Kind::StringValue(s)) => Some(s.as_str()),
                _ => None,
            });
        match built {
            Some(built) if built == stamp => Ok(()),
            Some(built) => Err(RetrievalError::EmbedderChanged {
                store: format!("collection {:?} on {}", self.collection, self.url),
                built: built.to_owned(),
                configured: stamp.clone(),
            }),
            None => {
                let update = qdrant_client::qdrant::UpdateCollection {
                    collection_name: self.collection.clone(),
                    metadata: HashMap::from([(
                        EMBEDDER_KEY.to_string(),
                        qdrant_client::qdrant::Value::from(stamp.clone()),
                    )]),
                    ..Default::default()
                };
                // A node with a read-only key cannot record it: the next
                // node that may write will, and nothing is refused for it.
                if let Err(e) = self.client.update_collection(update).await {
                    tracing::warn!(
                        collection = %self.collection, error = %e,
                        "could not record the embedder in the collection's metadata"
                    );
                }
                Ok(())
            }
        }
    }

    fn check_vector(&self, v: &[f32]) -> Result<(), RetrievalError> {
        if v.len() == self.dimensions {
            Ok(())
        } else {
            Err(RetrievalError::Dimensions {
                want: self.dimensions,
                got: v.len(),
            })
        }
    }

    async fn nearest(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
        with_payload: bool,
    ) -> Result<Vec<qdrant_client::qdrant::ScoredPoint>, RetrievalError> {
        if scope.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        self.check_vector(&vector)?;
        self.ensure().await?;
        let request = QueryPointsBuilder::new(&self.collection)
            .query(vector)
            .using(VECTOR)
            .filter(scoped(scope, filter))
            .limit(k as u64)
            .params(
                SearchParamsBuilder::default()
                    .hnsw_ef((k * 2).max(128) as u64)
                    .exact(exact),
            )
            .with_payload(with_payload);
        Ok(self
            .client
            .query(request)
            .await
            .map_err(|e| self.error("searching", e))?
            .result)
    }
}

/// The gRPC filter for `scope AND filter`.
fn scoped(scope: &Scope, filter: &SearchFilter) -> Filter {
    Filter::must(conditions(scope, filter).into_iter().map(grpc))
}

fn grpc(c: Cond) -> Condition {
    match c {
        Cond::AnyOf(key, values) => Condition::matches(key, values),
        Cond::Is(key, value) => Condition::matches(key, value),
        Cond::After(key, t) => Condition::range(
            key,
            Range {
                gt: Some(t as f64),
                ..Default::default()
            },
        ),
    }
}

fn point_id(chunk_id: &str) -> Result<PointId, RetrievalError> {
    uuid::Uuid::parse_str(chunk_id)
        .map(|u| PointId::from(u.to_string()))
        .map_err(|e| RetrievalError::Vector(format!("chunk id {chunk_id:?} is not a UUID: {e}")))
}

fn chunk_id_of(id: Option<PointId>) -> String {
    match id.and_then(|p| p.point_id_options) {
        Some(PointIdOptions::Uuid(u)) => u,
        Some(PointIdOptions::Num(n)) => n.to_string(),
        None => String::new(),
    }
}

fn chunk_of(
    payload: HashMap<String, qdrant_client::qdrant::Value>,
) -> Result<ChunkDoc, RetrievalError> {
    serde_json::from_value(serde_json::Value::from(Payload::from(payload)))
        .map_err(|e| RetrievalError::Vector(format!("a point's payload: {e}")))
}

/// The sparse vector configuration of BM25: Qdrant counts the IDF.
fn bm25_config() -> SparseVectorsConfigBuilder {
    let mut config = SparseVectorsConfigBuilder::default();
    config.add_named_vector_params(
        BM25,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf as i32),
    );
    config
}

/// The server's query for one BM25 query.
fn bm25_request(collection: &str, q: &Bm25Query) -> QueryPoints {
    let mut filter = match &q.within {
        Some((scope, f)) => scoped(scope, f),
        None => Filter::default(),
    };
    if let Some(d) = &q.document {
        filter
            .must
            .push(Condition::matches("document_id", d.clone()));
    }
    QueryPointsBuilder::new(collection)
        .query(Query::new_nearest(VectorInput::new_sparse(
            q.vector.indices.clone(),
            q.vector.values.clone(),
        )))
        .using(BM25)
        .filter(filter)
        .limit(q.limit as u64)
        .with_payload(PayloadIncludeSelector {
            fields: vec!["document_id".into()],
        })
        .build()
}

fn document_filter(document_id: &str) -> Filter {
    Filter::must([Condition::matches("document_id", document_id.to_string())])
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn upsert(&self, points: Vec<(ChunkDoc, Vec<f32>)>) -> Result<(), RetrievalError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut list = Vec::with_capacity(points.len());
        let mut pages = Vec::new();
        if let Some(encoder) = &self.bm25 {
            for (id, v, payload) in bm25::page_points(encoder, points.iter().map(|(c, _)| c)) {
                let payload = Payload::try_from(payload)
                    .map_err(|e| RetrievalError::Vector(format!("payload: {e}")))?;
                let vectors = NamedVectors::default()
                    .add_vector(BM25, Vector::new_sparse(v.indices, v.values));
                pages.push(PointStruct::new(point_id(&id)?, vectors, payload));
            }
        }
        for (chunk, vector) in points {
            self.check_vector(&vector)?;
            let mut payload = chunk
                .stored_json()
                .map_err(|e| RetrievalError::Vector(format!("payload: {e}")))?;
            payload["dirs"] = json!(ancestors(&chunk.path));
            let payload = Payload::try_from(payload)
                .map_err(|e| RetrievalError::Vector(format!("payload: {e}")))?;
            let mut vectors = NamedVectors::default().add_vector(VECTOR, Vector::new_dense(vector));
            if let Some(encoder) = &self.bm25 {
                let v = encoder.chunk(&chunk);
                vectors = vectors.add_vector(BM25, Vector::new_sparse(v.indices, v.values));
            }
            list.push(PointStruct::new(
                point_id(&chunk.chunk_id)?,
                vectors,
                payload,
            ));
        }
        self.ensure().await?;
        self.client
            .upsert_points(
                UpsertPointsBuilder::new(&self.collection, list)
                    .wait(true)
                    .ordering(self.ordering()),
            )
            .await
            .map_err(|e| self.error("writing points", e))?;
        if !pages.is_empty() {
            self.client
                .upsert_points(
                    UpsertPointsBuilder::new(self.pages(), pages)
                        .wait(true)
                        .ordering(self.ordering()),
                )
                .await
                .map_err(|e| self.error("writing pages", e))?;
        }
        Ok(())
    }

    async fn delete_document(
        &self,
        document_id: &str,
        keep_version: Option<i64>,
    ) -> Result<(), RetrievalError> {
        self.ensure().await?;
        let mut filter = document_filter(document_id);
        if let Some(v) = keep_version {
            filter.must_not = vec![Condition::matches("version", v)];
        }
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(filter.clone())
                    .wait(true)
                    .ordering(self.ordering()),
            )
            .await
            .map_err(|e| self.error("deleting a document's points", e))?;
        if self.bm25.is_some() {
            self.client
                .delete_points(
                    DeletePointsBuilder::new(self.pages())
                        .points(filter)
                        .wait(true)
                        .ordering(self.ordering()),
                )
                .await
                .map_err(|e| self.error("deleting a document's page", e))?;
        }
        Ok(())
    }

    async fn commit(&self) -> Result<(), RetrievalError> {
        // Every write above waited for the server's acknowledgement (it is
        // in the write-ahead log and visible), so nothing is in flight.
        Ok(())
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
            .map(|p| (chunk_id_of(p.id), p.score))
            .collect())
    }

    async fn get(&self, ids: &[String], scope: &Scope) -> Result<Vec<ChunkDoc>, RetrievalError> {
        if scope.is_empty() || ids.is_empty() {
            return Ok(Vec::new());
        }
        let points = ids
            .iter()
            .map(|id| point_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        self.ensure().await?;
        let found: Vec<RetrievedPoint> = self
            .client
            .get_points(GetPointsBuilder::new(&self.collection, points).with_payload(true))
            .await
            .map_err(|e| self.error("reading points", e))?
            .result;
        let mut by_id: HashMap<String, ChunkDoc> = HashMap::with_capacity(found.len());
        for p in found {
            let c = chunk_of(p.payload)?;
            // The ids came from a search inside the scope; checked again
            // here so that `get` alone can never widen it.
            if c.access_groups.iter().any(|g| scope.groups().contains(g)) {
                by_id.insert(c.chunk_id.clone(), c);
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    async fn count(&self, scope: &Scope, filter: &SearchFilter) -> Result<usize, RetrievalError> {
        if scope.is_empty() {
            return Ok(0);
        }
        self.ensure().await?;
        let n = self
            .client
            .count(
                CountPointsBuilder::new(&self.collection)
                    .filter(scoped(scope, filter))
                    .exact(true),
            )
            .await
            .map_err(|e| self.error("counting points", e))?
            .result
            .map_or(0, |r| r.count);
        Ok(n as usize)
    }

    async fn document_versions(&self, document_id: &str) -> Result<Vec<i64>, RetrievalError> {
        self.ensure().await?;
        let mut versions = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(&self.collection)
                .filter(document_filter(document_id))
                .limit(1000)
                .with_payload(true)
                .with_vectors(false);
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let page = self
                .client
                .scroll(request)
                .await
                .map_err(|e| self.error("listing a document's points", e))?;
            for p in page.result {
                versions.push(chunk_of(p.payload)?.version);
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(versions)
    }

    fn bm25_encoder(&self) -> Option<&Bm25Encoder> {
        self.bm25.as_ref()
    }

    async fn bm25(&self, queries: Vec<Bm25Query>) -> Result<Vec<Vec<Bm25Hit>>, RetrievalError> {
        if self.bm25.is_none() {
            return Err(RetrievalError::Vector(
                "this vector store was opened without BM25 vectors".into(),
            ));
        }
        self.ensure().await?;
        let mut out: Vec<Vec<Bm25Hit>> = vec![Vec::new(); queries.len()];
        // One batch per collection; answers come back in the order asked.
        for (target, collection) in [
            (Bm25Target::Chunks, self.collection.clone()),
            (Bm25Target::Pages, self.pages()),
        ] {
            let asked: Vec<usize> = (0..queries.len())
                .filter(|&i| queries[i].target == target && !bm25::is_void(&queries[i]))
                .collect();
            if asked.is_empty() {
                continue;
            }
            let batch: Vec<QueryPoints> = asked
                .iter()
                .map(|&i| bm25_request(&collection, &queries[i]))
                .collect();
            let answers = self
                .client
                .query_batch(QueryBatchPointsBuilder::new(&collection, batch))
                .await
                .map_err(|e| self.error("searching BM25", e))?
                .result;
            for (&i, answer) in asked.iter().zip(answers) {
                out[i] = answer
                    .result
                    .into_iter()
                    .map(|p| Bm25Hit {
                        id: chunk_id_of(p.id),
                        score: p.score,
                        document_id: p
                            .payload
                            .get("document_id")
                            .and_then(|v| v.as_str())
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                    })
                    .collect();
            }
        }
        Ok(out)
    }

    async fn status(&self) -> Result<String, RetrievalError> {
        let reply = self
            .client
            .health_check()
            .await
            .map_err(|e| self.error("health check", e))?;
        let mut status = format!(
            "qdrant server {} at {}, collection {:?} ({} dimensions)",
            reply.version, self.url, self.collection, self.dimensions
        );
        // A replica that is down: searches go on while every shard has an
        // active one, so this is said, not failed.
        if self
            .client
            .collection_exists(&self.collection)
            .await
            .unwrap_or(false)
        {
            let mut down = self.unhealthy_replicas(&self.collection).await?;
            if self.bm25.is_some()
                && self
                    .client
                    .collection_exists(self.pages())
                    .await
                    .unwrap_or(false)
            {
                down.extend(
                    self.unhealthy_replicas(&self.pages())
                        .await?
                        .into_iter()
                        .map(|r| format!("pages {r}")),
                );
            }
            if !down.is_empty() {
                status.push_str(&format!("; replicas not active: {}", down.join(", ")));
            }
        }
        Ok(status)
    }

    async fn prepare(&self) -> Result<(), RetrievalError> {
        self.ensure().await
    }

    fn expect_embedder(&self, stamp: &str) -> Result<(), RetrievalError> {
        // Checked by `ensure`, before the first call reads or writes.
        if self.embedder.set(stamp.to_owned()).is_err()
            && self.embedder.get().map(String::as_str) != Some(stamp)
        {
            return Err(RetrievalError::Vector(
                "one store was asked for two embedders".into(),
            ));
        }
        Ok(())
    }

    async fn optimize(&self) -> Result<(), RetrievalError> {
        use qdrant_client::qdrant::CollectionStatus;
        self.ensure().await?;
        let started = std::time::Instant::now();
        loop {
            let status = self
                .client
                .collection_info(&self.collection)
                .await
                .map_err(|e| self.error("reading the collection", e))?
                .result
                .map(|i| i.status);
            if status == Some(CollectionStatus::Green as i32) {
                return Ok(());
            }
            if started.elapsed() > OPTIMIZE_WAIT {
                return Err(RetrievalError::Vector(format!(
                    "collection {:?} on {} is still being optimised after {} s",
                    self.collection,
                    self.url,
                    OPTIMIZE_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
