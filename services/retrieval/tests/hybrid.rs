//! Hybrid search fuses on ids and loads only the hits it keeps: BM25 hits
//! from Tantivy, dense-only hits from Qdrant (Edge, or the server at
//! `QDRANT_URL` when that is set), each whole; a copy of a
//! passage under another path is collapsed into the first, with its path
//! noted; and nothing outside the caller's groups comes back, whichever
//! store found it.

use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_retrieval::synthetic::{chunk, passage, unit_vector};
use zhishu_retrieval::{
    ChunkDoc, HybridSearcher, LexicalIndex, Mode, RetrievalError, Scope, SearchFilter,
    SearchOptions, VectorHit, VectorIndex, open_vectors_for_tests,
};

const DIMS: usize = 384;

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIMS];
    v[i] = 1.0;
    v
}

fn doc(i: usize, group: &str, path: &str, text: &str) -> ChunkDoc {
    let mut c = chunk(i, 1, group, text.to_owned(), 0);
    c.path = path.to_owned();
    c
}

/// Writes the points to both stores and searches them with the real query
/// encoder and the default fusion settings, late interaction off.
async fn searcher_over(
    vectors: Arc<dyn VectorIndex>,
    lexical: Arc<LexicalIndex>,
    points: Vec<(ChunkDoc, Vec<f32>)>,
) -> HybridSearcher {
    let chunks: Vec<ChunkDoc> = points.iter().map(|(c, _)| c.clone()).collect();
    lexical.upsert(&chunks).unwrap();
    lexical.commit().unwrap();
    vectors.upsert(points).await.unwrap();
    vectors.commit().await.unwrap();
    let embedder = Embedder::load(&assets().join("models/all-MiniLM-L6-v2"))
        .expect("all-MiniLM-L6-v2 (scripts/fetch-assets.sh)");
    HybridSearcher {
        vectors,
        lexical: lexical.into(),
        encoder: EncoderWorker::start(embedder, WorkerConfig::default()).unwrap(),
        reranker: None,
        // Fusion and loading are what these tests check; late interaction
        // (a model pass over the top hits) has its own tests (late.rs).
        fusion: zhishu_core::config::RetrievalConfig {
            late_weight: 0.0,
            ..zhishu_core::config::RetrievalConfig::default()
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_loads_what_it_keeps_collapses_copies_and_stays_in_scope() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = open_vectors_for_tests(&dir.path().join("qdrant"), DIMS).unwrap();
    let lexical = Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap());
    let hotel = "Hotel stays in tier-one cities are reimbursed up to 600 yuan per night.";
    let points = vec![
        (doc(0, "public", "/policies/travel.md", hotel), axis(1)),
        (doc(1, "public", "/archive/travel-copy.md", hotel), axis(1)),
        (
            doc(
                2,
                "public",
                "/policies/rail.md",
                "高铁二等座可以报销，hotel 除外。",
            ),
            axis(2),
        ),
        // Found by its vector alone: no query word in it.
        (
            doc(
                3,
                "public",
                "/policies/parking.md",
                "Parking at the office is free for visitors.",
            ),
            axis(0),
        ),
        // The best match of both retrievers, in a group the caller lacks.
        (
            doc(
                4,
                "hr",
                "/hr/hotel.md",
                "Hotel per night for HR offsites: 900 yuan.",
            ),
            axis(0),
        ),
    ];
    let searcher = searcher_over(vectors, lexical, points).await;
    let scope = Scope::of_groups(["public"]);
    let search = |mode| {
        let options = SearchOptions {
            mode,
            neighbours: 0,
            query_vector: Some(axis(0)),
        };
        let searcher = searcher.clone();
        let scope = scope.clone();
        async move {
            searcher
                .search_with(
                    "hotel per night",
                    10,
                    &scope,
                    &SearchFilter::default(),
                    &options,
                )
                .await
                .unwrap()
                .hits
        }
    };

    let hits = search(Mode::Hybrid).await;
    let paths: Vec<&str> = hits.iter().map(|h| h.chunk.path.as_str()).collect();
    assert!(!paths.contains(&"/hr/hotel.md"), "{paths:?}");
    assert_eq!(hits.len(), 3, "the copy is collapsed: {paths:?}");
    let travel = hits
        .iter()
        .find(|h| h.chunk.text == hotel)
        .expect("the hotel passage");
    assert_eq!(travel.duplicates.len(), 1, "{:?}", travel.duplicates);
    assert_ne!(travel.duplicates[0], travel.chunk.path);
    assert!(travel.scores.bm25.is_some() && travel.scores.dense.is_some());
    let parking = hits
        .iter()
        .find(|h| h.chunk.path == "/policies/parking.md")
        .expect("the dense-only hit is loaded from the vector store");
    assert_eq!(
        parking.chunk.text,
        "Parking at the office is free for visitors."
    );
    assert!(parking.scores.bm25.is_none() && parking.scores.dense.is_some());
    assert!(hits.iter().all(|h| h.chunk.access_groups == ["public"]));

    let bm25 = search(Mode::Bm25).await;
    assert!(bm25.iter().all(|h| h.scores.bm25.is_some()));
    assert!(!bm25.iter().any(|h| h.chunk.path == "/policies/parking.md"));
    let dense = search(Mode::Dense).await;
    assert_eq!(dense[0].chunk.path, "/policies/parking.md");
    assert!(!dense.iter().any(|h| h.chunk.path.starts_with("/hr/")));
}

/// The same store, seen as one behind the network: hybrid search then
/// awaits both engines in the caller instead of letting them meet on a
/// search thread.
struct Awaited(Arc<dyn VectorIndex>);

#[async_trait]
impl VectorIndex for Awaited {
    fn dimensions(&self) -> usize {
        self.0.dimensions()
    }
    async fn upsert(&self, points: Vec<(ChunkDoc, Vec<f32>)>) -> Result<(), RetrievalError> {
        self.0.upsert(points).await
    }
    async fn delete_document(&self, id: &str, keep: Option<i64>) -> Result<(), RetrievalError> {
        self.0.delete_document(id, keep).await
    }
    async fn commit(&self) -> Result<(), RetrievalError> {
        self.0.commit().await
    }
    async fn search(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        exact: bool,
    ) -> Result<Vec<VectorHit>, RetrievalError> {
        self.0.search(vector, k, scope, filter, exact).await
    }
    async fn search_ids(
        &self,
        vector: Vec<f32>,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Vec<(String, f32)>, RetrievalError> {
        self.0.search_ids(vector, k, scope, filter).await
    }
    async fn get(&self, ids: &[String], scope: &Scope) -> Result<Vec<ChunkDoc>, RetrievalError> {
        self.0.get(ids, scope).await
    }
    async fn count(&self, scope: &Scope, filter: &SearchFilter) -> Result<usize, RetrievalError> {
        self.0.count(scope, filter).await
    }
    async fn document_versions(&self, id: &str) -> Result<Vec<i64>, RetrievalError> {
        self.0.document_versions(id).await
    }
    async fn optimize(&self) -> Result<(), RetrievalError> {
        self.0.optimize().await
    }
    async fn status(&self) -> Result<String, RetrievalError> {
        self.0.status().await
    }
    fn expect_embedder(&self, stamp: &str) -> Result<(), RetrievalError> {
        self.0.expect_embedder(stamp)
    }
    async fn prepare(&self) -> Result<(), RetrievalError> {
        self.0.prepare().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_results_do_not_depend_on_where_the_engines_meet() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = open_vectors_for_tests(&dir.path().join("qdrant"), DIMS).unwrap();
    let lexical = Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap());
    // 400 bilingual passages in three groups, with some exact copies under
    // other paths so that collapsing is exercised too.
    let groups = ["public", "finance", "hr"];
    let mut points = Vec::new();
    for i in 0..400 {
        let mut c = chunk(i, 4, groups[i % 3], passage(i % 370, 2 + i % 3), 0);
        if i >= 370 {
            c.path = format!("/archive/copy-{i}.pdf");
        }
        points.push((c, unit_vector(i % 370, DIMS)));
    }
    let meeting = searcher_over(vectors.clone(), lexical, points).await;
    let awaiting = HybridSearcher {
        vectors: Arc::new(Awaited(vectors)),
        ..meeting.clone()
    };
    let mut compared = 0;
    for (q, query) in [
        "travel claims approval manager",
        "差旅费用 报销 财务部",
        "cost-centre 逾期 yuan",
    ]
    .into_iter()
    .enumerate()
    {
        for scope in [
            Scope::of_groups(["public"]),
            Scope::of_groups(["finance", "hr"]),
        ] {
            for k in [1, 5, 20] {
                let options = SearchOptions {
                    mode: Mode::Hybrid,
                    neighbours: 0,
                    query_vector: Some(unit_vector(q * 41, DIMS)),
                };
                let filter = SearchFilter::default();
                let a = meeting.search_with(query, k, &scope, &filter, &options);
                let b = awaiting.search_with(query, k, &scope, &filter, &options);
                let (a, b) = (a.await.unwrap().hits, b.await.unwrap().hits);
                let view = |hits: &[zhishu_retrieval::Hit]| -> Vec<(String, f32, Vec<String>)> {
                    hits.iter()
                        .map(|h| (h.chunk.chunk_id.clone(), h.score, h.duplicates.clone()))
                        .collect()
                };
                assert_eq!(view(&a), view(&b), "{query} k={k}");
                assert_eq!(a.len(), k, "{query} k={k}");
                assert!(a.iter().all(|h| {
                    h.chunk
                        .access_groups
                        .iter()
                        .any(|g| scope.groups().contains(g))
                }));
                compared += a.len();
            }
        }
    }
    assert_eq!(compared, 3 * 2 * 26);
}
