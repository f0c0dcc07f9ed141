//! Sizing a Qdrant server (or cluster) for Zhishu's collections, with BM25
//! inside Qdrant (`lexical.backend = "qdrant"`): how much disk and server
//! memory each chunk takes, how fast chunks load, and what dense, BM25
//! and hybrid searches cost as the points per shard grow, for one or more
//! shard counts side by side. docs/operations.md turns these into shards
//! per 10M chunks.
//!
//! The corpus is the synthetic one of `search_latency`
//! (`zhishu_retrieval::synthetic::clustered`), written through Zhishu's own
//! store (`QdrantIndex`), so points carry the payload and BM25 vectors
//! production writes, and pages go to the page collection beside them.
//!
//! ```sh
//! QDRANT_URL=http://127.0.0.1:6334 QDRANT_STORAGE=/srv/q1/storage:/srv/q2/storage \
//! QDRANT_PIDS=1234,1235 SHARDS=1,3 \
//!   cargo bench -p zhishu-retrieval --bench cluster_sizing -- 20000 100000
//! ```
//!
//! `QDRANT_STORAGE` (the nodes' storage folders) and `QDRANT_PIDS` (their
//! processes) are optional: without them disk and memory are not reported.
//! Disk is the collections' own folders (segments, and the write-ahead
//! logs apart: a fixed preallocation per shard); memory is the servers'
//! resident growth while the collection loaded, which includes allocator
//! slack, so it is a rough figure.

mod common;

use common::{stats, walk};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use zhishu_core::config::{ClusterConfig, LexicalConfig, RetrievalConfig};
use zhishu_encoders::EncoderWorker;
use zhishu_retrieval::synthetic::clustered::{Rng, centres, corpus, query_near, vocabulary};
use zhishu_retrieval::{
    Bm25Encoder, ChunkDoc, HybridSearcher, Lexical, Mode, QdrantIndex, Scope, SearchFilter,
    SearchOptions, VectorIndex,
};

const DIMS: usize = 384;
const CENTRES: usize = 2000;
const QUERIES: usize = 300;
const BATCH: usize = 1000;

/// Bytes of the collection `name` (and its page collection) under every
/// `QDRANT_STORAGE` folder: its segments, and its write-ahead logs apart
/// (a fixed preallocation per shard, not a cost per chunk).
fn collection_bytes(name: &str) -> Option<(u64, u64)> {
    let dirs = std::env::var("QDRANT_STORAGE").ok()?;
    let (mut segments, mut wal) = (0, 0);
    for dir in dirs.split(':') {
        for c in [name.to_owned(), format!("{name}_pages")] {
            let root = PathBuf::from(dir).join("collections").join(&c);
            let Ok(shards) = std::fs::read_dir(&root) else {
                continue;
            };
            for shard in shards.flatten().filter(|e| e.path().is_dir()) {
                let all = walk(&shard.path());
                let w = walk(&shard.path().join("wal"));
                segments += all - w.min(all);
                wal += w;
            }
        }
    }
    Some((segments, wal))
}

/// Resident memory of every `QDRANT_PIDS` process, in bytes.
fn server_rss() -> Option<u64> {
    let pids = std::env::var("QDRANT_PIDS").ok()?;
    Some(
        pids.split(',')
            .filter_map(|pid| std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).ok())
            .filter_map(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .sum::<u64>()
            * 1024,
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn per_million(bytes: Option<(u64, u64)>, n: usize) -> String {
    bytes.map_or("–".into(), |(before, after)| {
        format!(
            "{:.0}",
            after.saturating_sub(before) as f64 / n as f64 * 1e6 / (1 << 20) as f64
        )
    })
}

async fn run(url: &str, n: usize, shards: u32, encoder: EncoderWorker) {
    let mut rng = Rng(42 + n as u64);
    let words = vocabulary(&mut rng);
    let centres = centres(&mut rng, CENTRES, DIMS);
    let collection = format!("sizing_{n}_{shards}_{}", std::process::id());
    let rss_before = server_rss();
    let bm25 = Bm25Encoder::new(None, LexicalConfig::default().average_terms);
    let store = QdrantIndex::connect(url, None, &collection, DIMS)
        .expect("QDRANT_URL")
        .with_bm25(Some(bm25))
        .with_cluster(ClusterConfig {
            shard_number: Some(shards),
            ..ClusterConfig::default()
        });
    let vectors: Arc<dyn VectorIndex> = Arc::new(store);

    let t = Instant::now();
    let mut queries = Vec::new();
    for start in (0..n).step_by(BATCH) {
        let c = corpus(start, BATCH.min(n - start), &mut rng, &words, &centres);
        for _ in 0..QUERIES.div_ceil(n.div_ceil(BATCH)) {
            let i = rng.below(c.chunks.len());
            queries.push(query_near(&c, i, &mut rng));
        }
        let points: Vec<(ChunkDoc, Vec<f32>)> = c.chunks.iter().cloned().zip(c.vectors).collect();
        vectors.upsert(points).await.expect("upsert");
    }
    vectors.commit().await.expect("commit");
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    vectors.optimize().await.expect("optimize");
    let index_s = t.elapsed().as_secs_f64();
    queries.truncate(QUERIES);
    let disk = collection_bytes(&collection);
    let rss = rss_before.zip(server_rss());

    let scope = Scope::of_groups(["public", "finance"]);
    let filter = SearchFilter::default();
    let searcher = HybridSearcher {
        vectors: vectors.clone(),
        lexical: Lexical::in_vectors(vectors.clone()).expect("BM25 in the store"),
        encoder,
        reranker: None,
        // The stores are measured, not the model: no late interaction.
        fusion: RetrievalConfig {
            late_weight: 0.0,
            ..RetrievalConfig::default()
        },
    };
    let k = 10;
    let search = |mode: Mode, text: &str, v: &[f32]| {
        let options = SearchOptions {
            mode,
            neighbours: 0,
            query_vector: Some(v.to_vec()),
        };
        let searcher = &searcher;
        let (text, scope, filter) = (text.to_owned(), &scope, &filter);
        async move {
            let t = Instant::now();
            searcher
                .search_with(&text, k, scope, filter, &options)
                .await
                .expect("search");
            t.elapsed().as_secs_f64() * 1e3
        }
    };
    for (text, v) in queries.iter().take(20) {
        search(Mode::Hybrid, text, v).await;
    }
    let (mut dense, mut bm25, mut hybrid) = (vec![], vec![], vec![]);
    for (text, v) in &queries {
        dense.push(search(Mode::Dense, text, v).await);
        bm25.push(search(Mode::Bm25, text, v).await);
        hybrid.push(search(Mode::Hybrid, text, v).await);
    }
    let (d50, d99) = stats(dense);
    let (b50, b99) = stats(bm25);
    let (h50, h99) = stats(hybrid);
    println!(
        "| {n} | {shards} | {:.0} | {d50:.2} / {d99:.2} | {b50:.2} / {b99:.2} | {h50:.2} / {h99:.2} | {} | {} | {} | {load_s:.0} + {index_s:.0} |",
        n as f64 / load_s,
        disk.map_or("–".into(), |(segments, _)| format!(
            "{:.0}",
            mib(segments) / n as f64 * 1e6
        )),
        disk.map_or("–".into(), |(_, wal)| format!("{:.0}", mib(wal))),
        per_million(rss, n),
    );
    let client = qdrant_client::Qdrant::from_url(url)
        .skip_compatibility_check()
        .build()
        .expect("client");
    for name in [collection.clone(), format!("{collection}_pages")] {
        let _ = client.delete_collection(name).await;
    }
}

fn main() {
    let Ok(url) = std::env::var("QDRANT_URL") else {
        eprintln!("cluster_sizing needs QDRANT_URL (a Qdrant server's gRPC address)");
        std::process::exit(2);
    };
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20_000]
    } else {
        sizes
    };
    let shard_counts: Vec<u32> = std::env::var("SHARDS")
        .unwrap_or_else(|_| "1".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let encoder = common::minilm(&rt);
    println!(
        "{QUERIES} queries per row, k = 10, scope = 2 of 4 groups, BM25 inside Qdrant, {} client cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| chunks | shards | load chunks/s | dense p50 / p99 ms | BM25 p50 / p99 ms | hybrid p50 / p99 ms | segments on disk, MiB per 1M chunks | WAL MiB (fixed) | server RSS MiB per 1M chunks | load + optimise s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        for &shards in &shard_counts {
            rt.block_on(run(&url, n, shards, encoder.clone()));
        }
    }
}
