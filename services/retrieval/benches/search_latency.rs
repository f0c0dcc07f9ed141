//! Search latency at scale: hybrid search against raw Qdrant Edge and raw
//! Tantivy in the same run, HNSW recall@10 against exact search, and memory
//! per chunk.
//!
//! The corpus is synthetic (as the issue allows for scale): chunks of
//! Zipf-distributed English and Chinese words, 384-d vectors drawn around
//! 2,000 cluster centres (uniform random vectors have no neighbourhood
//! structure, which makes any ANN index look worse than on real
//! embeddings). Every chunk carries one of four access groups and every
//! query runs with two of them, so the access filter is in every measured
//! search, as it is in production. Hybrid search gets the query vector
//! precomputed: query embedding time is a model cost, measured in the
//! encoder benchmark, not a store cost.
//!
//! ```sh
//! cargo bench -p zhishu-retrieval --bench search_latency -- 10000 100000 1000000
//! PAGE_WEIGHT=0 cargo bench -p zhishu-retrieval --bench search_latency -- 10000 100000
//! KEPT_TOKENS=365 cargo bench -p zhishu-retrieval --bench search_latency -- 10000
//! ```
//!
//! `KEPT_TOKENS=N` gives every chunk N kept token vectors (int8, 384
//! values: what ingestion keeps for late interaction, `retrieval.late_keep`),
//! so the table shows what carrying them in the lexical index costs searches
//! that never read them (late interaction itself is off here, see below).

mod common;

use common::{stats, walk};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{EncoderWorker, PackedTokens, TokenForm};
use zhishu_retrieval::synthetic::clustered::{Rng, centres, corpus, query_near, vocabulary};
use zhishu_retrieval::{
    ChunkDoc, EdgeIndex, HybridSearcher, LexicalIndex, Mode, Scope, SearchFilter, SearchOptions,
    VectorIndex,
};

const DIMS: usize = 384;
const CENTRES: usize = 2000;
const QUERIES: usize = 1000;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn dir_mib(p: &Path) -> f64 {
    walk(p) as f64 / (1 << 20) as f64
}

/// `KEPT_TOKENS` (0 when unset): token vectors kept per chunk.
fn kept_tokens() -> usize {
    std::env::var("KEPT_TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// 64 distinct passages' worth of int8 token vectors, `tokens` each, that
/// the chunks take in turn (their values do not matter to the stores: the
/// bytes do, and random bytes do not compress, like real int8 codes).
fn kept_vectors(rng: &mut Rng, tokens: usize) -> Vec<Arc<PackedTokens>> {
    if tokens == 0 {
        return Vec::new();
    }
    (0..64)
        .map(|_| {
            let rows: Vec<f32> = (0..tokens * DIMS).map(|_| rng.normal()).collect();
            Arc::new(PackedTokens::pack(TokenForm::Int8, &rows, DIMS))
        })
        .collect()
}

async fn run(n: usize, encoder: EncoderWorker) {
    let mut rng = Rng(42 + n as u64);
    let words = vocabulary(&mut rng);
    let centres = centres(&mut rng, CENTRES, DIMS);
    let kept = kept_vectors(&mut Rng(7), kept_tokens());
    let tmp = tempfile::tempdir().expect("temp dir");
    let rss_before = rss_mib();
    let vectors = Arc::new(EdgeIndex::open(&tmp.path().join("qdrant"), DIMS).expect("edge"));
    let lexical = Arc::new(LexicalIndex::open(&tmp.path().join("tantivy")).expect("tantivy"));

    let t = Instant::now();
    let mut queries = Vec::new();
    let batch = 10_000;
    for start in (0..n).step_by(batch) {
        let mut c = corpus(start, batch.min(n - start), &mut rng, &words, &centres);
        if !kept.is_empty() {
            for (i, chunk) in c.chunks.iter_mut().enumerate() {
                chunk.token_vectors = Some(kept[i % kept.len()].clone());
            }
        }
        // Queries: a few words of a random chunk and its vector, perturbed.
        for _ in 0..QUERIES.div_ceil(n.div_ceil(batch)) {
            let i = rng.below(c.chunks.len());
            queries.push(query_near(&c, i, &mut rng));
        }
        let points: Vec<(ChunkDoc, Vec<f32>)> = c.chunks.iter().cloned().zip(c.vectors).collect();
        vectors.upsert(points).await.expect("upsert");
        lexical.upsert(&c.chunks).expect("lexical upsert");
    }
    vectors.commit().await.expect("commit");
    lexical.commit().expect("lexical commit");
    assert_eq!(
        lexical.num_chunks() as usize,
        n,
        "every chunk is live in the index"
    );
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    vectors.optimize().await.expect("optimize");
    let index_s = t.elapsed().as_secs_f64();
    queries.truncate(QUERIES);
    let rss = rss_mib() - rss_before;

    let scope = Scope::of_groups(["public", "finance"]);
    let filter = SearchFilter::default();
    let searcher = HybridSearcher {
        vectors: vectors.clone(),
        lexical: lexical.clone().into(),
        encoder,
        reranker: None,
        // `PAGE_WEIGHT=0` measures BM25 without page evidence, side by side.
        // Late interaction is a model cost (a forward pass over the top
        // hits, docs/benchmarks.md "Retrieval quality"), like the query's
        // embedding, which is precomputed here: off, so the engines are
        // what is measured.
        fusion: zhishu_core::config::RetrievalConfig {
            late_weight: 0.0,
            page_weight: std::env::var("PAGE_WEIGHT")
                .ok()
                .and_then(|w| w.parse().ok())
                .unwrap_or(zhishu_core::config::RetrievalConfig::default().page_weight),
            ..zhishu_core::config::RetrievalConfig::default()
        },
    };
    let k = 10;
    // Warm-up: page in both indexes.
    for (text, v) in queries.iter().take(20) {
        let _ = vectors.search(v.clone(), k, &scope, &filter, false).await;
        let _ = lexical.search(text, k, &scope, &filter);
    }
    let (mut edge, mut tantivy, mut hybrid, mut recall) = (vec![], vec![], vec![], 0.0);
    // Each engine's own time inside hybrid search, where both run at once.
    // And what follows the slower of the two (fusion, loading the kept
    // chunks, collapsing near-duplicates, the hand-offs between threads).
    let mut inside: (Vec<f64>, Vec<f64>, Vec<f64>) = (vec![], vec![], vec![]);
    for (text, v) in &queries {
        let t = Instant::now();
        let approx = vectors
            .search(v.clone(), k, &scope, &filter, false)
            .await
            .expect("edge");
        edge.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let _ = lexical.search(text, k, &scope, &filter).expect("tantivy");
        tantivy.push(t.elapsed().as_secs_f64() * 1e3);
        let options = SearchOptions {
            mode: Mode::Hybrid,
            neighbours: 0,
            query_vector: Some(v.clone()),
        };
        let t = Instant::now();
        let found = searcher
            .search_with(text, k, &scope, &filter, &options)
            .await
            .expect("hybrid");
        hybrid.push(t.elapsed().as_secs_f64() * 1e3);
        inside.0.push(found.timings.dense_ms);
        inside.1.push(found.timings.bm25_ms);
        let t = &found.timings;
        inside.2.push(t.total_ms - t.dense_ms.max(t.bm25_ms));
        let exact = vectors
            .search(v.clone(), k, &scope, &filter, true)
            .await
            .expect("exact");
        let truth: std::collections::HashSet<&str> =
            exact.iter().map(|h| h.chunk.chunk_id.as_str()).collect();
        let found = approx
            .iter()
            .filter(|h| truth.contains(h.chunk.chunk_id.as_str()))
            .count();
        recall += found as f64 / truth.len().max(1) as f64;
    }
    let (e50, e99) = stats(edge);
    let (t50, t99) = stats(tantivy);
    let (h50, h99) = stats(hybrid);
    let (d50, d99) = stats(inside.0);
    let (b50, b99) = stats(inside.1);
    let (a50, a99) = stats(inside.2);
    eprintln!(
        "{n} chunks, inside hybrid: dense {d50:.2} / {d99:.2} ms, bm25 {b50:.2} / {b99:.2} ms, after both {a50:.2} / {a99:.2} ms (p50 / p99)"
    );
    let slower99 = e99.max(t99);
    let recall = recall / queries.len() as f64;
    let disk = dir_mib(tmp.path());
    println!(
        "| {n} | {e50:.2} / {e99:.2} | {t50:.2} / {t99:.2} | {h50:.2} / {h99:.2} | {:.2}× | {recall:.3} | {:.0} | {:.0} | {load_s:.0} + {index_s:.0} |",
        h99 / slower99,
        rss / n as f64 * 1e6,
        disk / n as f64 * 1e6,
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let encoder = common::minilm(&rt);
    println!(
        "{} queries per size, k = 10, scope = 2 of 4 groups, {} kept token vectors a chunk, {} cores",
        QUERIES,
        kept_tokens(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| chunks | Edge p50 / p99 ms | Tantivy p50 / p99 ms | hybrid p50 / p99 ms | hybrid p99 ÷ slower raw p99 | HNSW recall@10 | RSS MiB per 1M chunks | disk MiB per 1M chunks | load + HNSW s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        rt.block_on(run(n, encoder.clone()));
    }
}
