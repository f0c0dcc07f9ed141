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
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_retrieval::eval::percentile;
use zhishu_retrieval::{
    ChunkDoc, EdgeIndex, HybridSearcher, LexicalIndex, Mode, Scope, SearchFilter, SearchOptions,
    VectorIndex, chunk_id,
};

const DIMS: usize = 384;
const CENTRES: usize = 2000;
const QUERIES: usize = 1000;
const GROUPS: [&str; 4] = ["public", "finance", "hr", "engineering"];

/// splitmix64: small, seedable, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-7), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A Zipf-ish index in 0..n (rank ∝ 1/u²), as word frequencies are.
    fn zipf(&mut self, n: usize) -> usize {
        let u = self.unit().max(1e-4);
        ((1.0 / u).powf(1.2) as usize).min(n) - 1
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
}

/// 6,000 pseudo-words: English-like syllable strings and two-character
/// Chinese words from the common CJK block.
fn vocabulary(rng: &mut Rng) -> Vec<String> {
    const SYL: [&str; 20] = [
        "ra", "po", "li", "cy", "ex", "pen", "se", "tra", "vel", "ho", "tel", "con", "tract", "au",
        "dit", "ser", "ver", "net", "work", "plan",
    ];
    let mut words = Vec::new();
    for _ in 0..4000 {
        let n = 2 + rng.below(3);
        words.push((0..n).map(|_| SYL[rng.below(SYL.len())]).collect());
    }
    for _ in 0..2000 {
        let a = char::from_u32(0x4E00 + rng.below(0x1000) as u32).unwrap_or('中');
        let b = char::from_u32(0x4E00 + rng.below(0x1000) as u32).unwrap_or('文');
        words.push(format!("{a}{b}"));
    }
    words
}

struct Corpus {
    chunks: Vec<ChunkDoc>,
    vectors: Vec<Vec<f32>>,
}

/// Chunks `first..first + n` of the corpus: ids are unique across
/// batches (a batch that restarted at 0 replaced the previous batch's
/// chunks, so an index "of 100,000 chunks" held 10,000 live ones).
fn corpus(first: usize, n: usize, rng: &mut Rng, words: &[String], centres: &[Vec<f32>]) -> Corpus {
    let mut chunks = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n);
    for i in first..first + n {
        let len = 40 + rng.below(40);
        let text: Vec<&str> = (0..len)
            .map(|_| words[rng.zipf(words.len())].as_str())
            .collect();
        let doc = format!("doc-{}", i / 4);
        chunks.push(ChunkDoc {
            chunk_id: chunk_id(&doc, 1, (i % 4) as i64),
            document_id: doc,
            version: 1,
            ordinal: (i % 4) as i64,
            collection: "bench".into(),
            path: format!("/bench/{}.md", i / 4),
            title: text[..4].join(" "),
            section_path: String::new(),
            page: None,
            access_groups: vec![GROUPS[i % GROUPS.len()].into()],
            content_hash: String::new(),
            modified_at: 0,
            char_start: 0,
            char_end: 0,
            qwen_tokens: len as i64,
            text: text.join(" "),
            prompt_ids: None,
        });
        let c = &centres[rng.below(centres.len())];
        let mut v: Vec<f32> = c
            .iter()
            .map(|x| x + 0.35 * rng.normal() / (DIMS as f32).sqrt())
            .collect();
        normalise(&mut v);
        vectors.push(v);
    }
    Corpus { chunks, vectors }
}

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

fn walk(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.flatten()
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => walk(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets")
        })
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

async fn run(n: usize, encoder: EncoderWorker) {
    let mut rng = Rng(42 + n as u64);
    let words = vocabulary(&mut rng);
    let centres: Vec<Vec<f32>> = (0..CENTRES)
        .map(|_| {
            let mut c: Vec<f32> = (0..DIMS).map(|_| rng.normal()).collect();
            normalise(&mut c);
            c
        })
        .collect();
    let tmp = tempfile::tempdir().expect("temp dir");
    let rss_before = rss_mib();
    let vectors = Arc::new(EdgeIndex::open(&tmp.path().join("qdrant"), DIMS).expect("edge"));
    let lexical = Arc::new(LexicalIndex::open(&tmp.path().join("tantivy")).expect("tantivy"));

    let t = Instant::now();
    let mut queries = Vec::new();
    let batch = 10_000;
    for start in (0..n).step_by(batch) {
        let c = corpus(start, batch.min(n - start), &mut rng, &words, &centres);
        // Queries: a few words of a random chunk and its vector, perturbed.
        for _ in 0..QUERIES.div_ceil(n.div_ceil(batch)) {
            let i = rng.below(c.chunks.len());
            let ws: Vec<&str> = c.chunks[i].text.split(' ').collect();
            let from = rng.below(ws.len().saturating_sub(4).max(1));
            let text = ws[from..(from + 4).min(ws.len())].join(" ");
            let mut v: Vec<f32> = c.vectors[i]
                .iter()
                .map(|x| x + 0.2 * rng.normal() / (DIMS as f32).sqrt())
                .collect();
            normalise(&mut v);
            queries.push((text, v));
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
        fusion: zhishu_core::config::RetrievalConfig {
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
    let model = assets().join("models/all-MiniLM-L6-v2");
    let embedder = Embedder::load(&model).expect("run scripts/fetch-assets.sh first");
    let encoder = rt.block_on(async {
        EncoderWorker::start(
            embedder,
            WorkerConfig {
                max_batch_tokens: 16_384,
                queue: 16,
                query_prefix: String::new(),
                passage_prefix: String::new(),
            },
        )
        .expect("encoder")
    });
    println!(
        "{} queries per size, k = 10, scope = 2 of 4 groups, {} cores",
        QUERIES,
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
