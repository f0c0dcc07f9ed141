//! End-to-end ingestion throughput on a generated corpus of mixed office
//! documents (Markdown, HTML, text; Chinese and English; 2–30 KB) plus the
//! real PDFs from the offline assets: files/s, chunks/s, the share of busy
//! time per stage, and peak memory (sampled while it runs, to show that it
//! does not grow with the corpus).
//!
//! ```sh
//! cargo bench -p zhishu-ingest --bench ingest_throughput -- 10000
//! # every stage but embedding at scale: a tiny random-weight embedder
//! ZHISHU_BENCH_EMBEDDER=services/encoders/tests/fixtures/tiny-xlmr-embedder \
//!     cargo bench -p zhishu-ingest --bench ingest_throughput -- 10000
//! # ZHISHU_BENCH_CHECKPOINT=N: checkpoint the vector store every N points
//! # (0: only at the end)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_ingest::chunk::{ChunkConfig, TokenCounter};
use zhishu_ingest::sync::{DEFAULT_CHECKPOINT_POINTS, JobSpec, Pipeline, Progress, Stores};
use zhishu_retrieval::synthetic::unit_vector;
use zhishu_retrieval::{LexicalIndex, Scope, SearchFilter, open_vectors_for_tests};

const EN: &[&str] = &[
    "the",
    "policy",
    "employees",
    "travel",
    "expense",
    "approval",
    "manager",
    "report",
    "quarterly",
    "revenue",
    "customer",
    "contract",
    "security",
    "laptop",
    "training",
    "compliance",
    "budget",
    "project",
    "deadline",
    "review",
    "hotel",
    "receipt",
    "reimbursement",
    "department",
    "process",
    "system",
    "access",
    "request",
    "within",
    "days",
    "must",
    "should",
    "are",
    "is",
    "for",
    "and",
];
const ZH: &[&str] = &[
    "员工", "差旅", "报销", "审批", "经理", "报告", "季度", "收入", "客户", "合同", "安全", "培训",
    "合规", "预算", "项目", "截止", "审核", "酒店", "发票", "部门", "流程", "系统", "权限", "申请",
    "需要", "应当", "在", "天内", "提交", "根据", "规定",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[(self.next() % words.len() as u64) as usize]
    }
}

fn sentence(rng: &mut Rng, chinese: bool) -> String {
    let n = 8 + rng.next() % 14;
    if chinese {
        let mut s: String = (0..n).map(|_| rng.pick(ZH)).collect();
        s.push('。');
        s
    } else {
        let mut s = (0..n).map(|_| rng.pick(EN)).collect::<Vec<_>>().join(" ");
        s.push('.');
        s
    }
}

fn document(rng: &mut Rng, i: usize) -> (String, String) {
    let chinese = i.is_multiple_of(3);
    let target = 2_000 + (rng.next() % 28_000) as usize;
    let mut sections = Vec::new();
    let mut size = 0;
    while size < target {
        let title = sentence(rng, chinese);
        let paras: Vec<String> = (0..2 + rng.next() % 4)
            .map(|_| {
                (0..3 + rng.next() % 5)
                    .map(|_| sentence(rng, chinese))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        size += title.len() + paras.iter().map(String::len).sum::<usize>();
        sections.push((title, paras));
    }
    match i % 3 {
        0 => {
            let mut md = format!("# Document {i}\n\n");
            for (t, ps) in &sections {
                md.push_str(&format!("## {t}\n\n"));
                for p in ps {
                    md.push_str(p);
                    md.push_str("\n\n");
                }
            }
            (format!("doc-{i:05}.md"), md)
        }
        1 => {
            let mut html = format!(
                "<html><head><title>Document {i}</title></head><body><nav>Home</nav><main><h1>Document {i}</h1>"
            );
            for (t, ps) in &sections {
                html.push_str(&format!("<h2>{t}</h2>"));
                for p in ps {
                    html.push_str(&format!("<p>{p}</p>"));
                }
            }
            html.push_str("</main></body></html>");
            (format!("doc-{i:05}.html"), html)
        }
        _ => {
            let mut txt = String::new();
            for (t, ps) in &sections {
                txt.push_str(t);
                txt.push_str("\n\n");
                for p in ps {
                    txt.push_str(p);
                    txt.push_str("\n\n");
                }
            }
            (format!("doc-{i:05}.txt"), txt)
        }
    }
}

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Bytes the allocator has handed out and not had back (glibc's
/// `mallinfo2`): the live heap, where anonymous RSS also counts memory
/// freed but kept by the allocator's arenas.
fn live_heap_mib() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    ((info.uordblks + info.hblkhd) / (1 << 20)) as u64
}

fn generate(root: &Path, n: usize) -> u64 {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut bytes = 0;
    for i in 0..n {
        let (name, text) = document(&mut rng, i);
        let dir = root.join(format!("{:03}", i / 500));
        std::fs::create_dir_all(&dir).unwrap();
        bytes += text.len() as u64;
        std::fs::write(dir.join(name), text).unwrap();
    }
    for pdf in [
        "01-valid.pdf",
        "02-valid.pdf",
        "04-valid.pdf",
        "05-versions-space.pdf",
    ] {
        let from = assets().join("pdfs").join(pdf);
        bytes += std::fs::metadata(&from).map_or(0, |m| m.len());
        std::fs::copy(from, root.join(pdf)).unwrap();
    }
    bytes
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("corpus");
        let bytes = generate(&corpus, n);
        let model = assets().join("models/all-MiniLM-L6-v2");
        // ZHISHU_BENCH_EMBEDDER swaps the embedding model only (chunking
        // still counts all-MiniLM's tokens, so the chunks are the same):
        // with a tiny model the run measures every other stage at a scale
        // the real model cannot reach on a small machine.
        let embedder = match std::env::var_os("ZHISHU_BENCH_EMBEDDER") {
            Some(dir) => Embedder::load(Path::new(&dir)).unwrap(),
            None => Embedder::load(&model).unwrap(),
        };
        let (embedder_name, dims) = (embedder.name().to_owned(), embedder.dimensions());
        let encoder = EncoderWorker::start(embedder, WorkerConfig::default()).unwrap();
        let url = format!("sqlite://{}/zhishu.db", dir.path().display());
        let store = zhishu_store::SqlStore::connect(&zhishu_store::testing::config(&url)).await.unwrap();
        let pipeline = Pipeline {
            stores: Stores {
                // Qdrant Edge, or the Qdrant server at QDRANT_URL when set.
                vectors: open_vectors_for_tests(&dir.path().join("qdrant"), dims).unwrap(),
                lexical: Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).unwrap()).into(),
                registry: Arc::new(store),
            },
            encoder,
            embed_tokens: Arc::new(TokenCounter::load(&model).unwrap()),
            qwen_tokens: Arc::new(TokenCounter::load(&assets().join("tokenizers/qwen3")).unwrap()),
            chunking: ChunkConfig { max_tokens: 254, overlap_tokens: 32 },
            max_file_bytes: 100 << 20,
            reader: std::sync::Arc::new(zhishu_ingest::parse::Reader::plain()),
            // ZHISHU_BENCH_CHECKPOINT=0 writes the whole job into one
            // growing segment (the behaviour before checkpoints).
            checkpoint_points: std::env::var("ZHISHU_BENCH_CHECKPOINT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_CHECKPOINT_POINTS),
            guard: None,
        };
        let spec = JobSpec {
            paths: vec![corpus],
            collection: "bench".into(),
            access_groups: vec!["public".into()],
            recursive: true,
            sync_deletes: false,
        };
        let progress = Arc::new(Progress::default());
        // Sampled every 100 ms until the job (and its final optimisation)
        // ends: the quartile readings show growth, the peaks show spikes.
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let progress = progress.clone();
            let finished = finished.clone();
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let (mut peak_anon, mut peak_file, mut peak_live) = (0, 0, 0);
                let mut next = 0.25;
                while !finished.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let (anon, file) = (rss_kib("RssAnon:") / 1024, rss_kib("RssFile:") / 1024);
                    peak_anon = peak_anon.max(anon);
                    peak_file = peak_file.max(file);
                    let live = live_heap_mib();
                    peak_live = peak_live.max(live);
                    let total = progress.files_total.load(Ordering::Relaxed).max(1) as f64;
                    let done = (progress.files_done.load(Ordering::Relaxed)
                        + progress.files_failed.load(Ordering::Relaxed)
                        + progress.files_skipped.load(Ordering::Relaxed)) as f64;
                    if next <= 1.0 && done / total >= next {
                        // Anonymous memory is the process's own heap; the
                        // file-backed part is the stores' memory-mapped
                        // files, page cache the kernel can drop.
                        samples.push((next, rss_kib("VmRSS:") / 1024, anon, file, live));
                        next += 0.25;
                    }
                }
                (samples, peak_anon, peak_file, peak_live)
            })
        };
        let s = pipeline.run(&spec, progress, None).await.unwrap();
        finished.store(true, Ordering::Relaxed);
        let (samples, peak_anon, peak_file, peak_live) = sampler.await.unwrap_or_default();
        // Dense search over the finished store (what the checkpoints'
        // segments cost a reader): 300 random unit queries.
        let scope = Scope::of_groups(["public"]);
        let mut latencies = Vec::new();
        for i in 0..300 {
            let query = unit_vector(i, dims);
            let t = Instant::now();
            let hits = pipeline
                .stores
                .vectors
                .search_ids(query, 10, &scope, &SearchFilter::default())
                .await
                .unwrap();
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(hits.len(), 10);
        }
        latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        let busy: f64 = s.stage_seconds.iter().sum();
        let share = |i: usize| 100.0 * s.stage_seconds[i] / busy.max(1e-9);
        println!(
            "{}",
            serde_json::json!({
                "embedder": embedder_name, "documents": n, "files": s.files_total, "indexed": s.indexed, "failed": s.failed.len(),
                "chunks": s.chunks, "mb": bytes as f64 / 1e6, "seconds": s.seconds,
                "files_per_second": s.files_total as f64 / s.seconds,
                "chunks_per_second": s.chunks as f64 / s.seconds,
                "stage_seconds": {"scan": s.stage_seconds[0], "parse_chunk": s.stage_seconds[1],
                    "embed": s.stage_seconds[2], "write": s.stage_seconds[3]},
                "stage_share_percent": {"scan": share(0), "parse_chunk": share(1), "embed": share(2), "write": share(3)},
                "non_embedding_percent": 100.0 - share(2),
                "index_seconds": s.index_seconds,
                "dense_search_ms_p50_p99": [pct(0.5), pct(0.99)],
                "rss_mib_at_25_50_75_100_percent": samples.iter().map(|s| s.1).collect::<Vec<_>>(),
                "anon_mib_at_25_50_75_100_percent": samples.iter().map(|s| s.2).collect::<Vec<_>>(),
                "file_mib_at_25_50_75_100_percent": samples.iter().map(|s| s.3).collect::<Vec<_>>(),
                "live_heap_mib_at_25_50_75_100_percent": samples.iter().map(|s| s.4).collect::<Vec<_>>(),
                "peak_live_heap_mib": peak_live, "live_heap_mib_at_end": live_heap_mib(),
                "rss_mib_at_end": {"total": rss_kib("VmRSS:") / 1024, "anon": rss_kib("RssAnon:") / 1024, "file": rss_kib("RssFile:") / 1024},
                "peak_rss_mib": rss_kib("VmHWM:") / 1024,
                "peak_anon_mib": peak_anon, "peak_file_mib": peak_file,
            })
        );
    });
}
