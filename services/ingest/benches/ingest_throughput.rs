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
//! # the single-box default embedding of configs/zhishu.toml instead of
//! # all-MiniLM: multilingual-e5-small with its `passage: ` prefix, chunks of
//! # up to 510 of its tokens with 64 of overlap
//! ZHISHU_BENCH_SINGLE_BOX=1 cargo bench -p zhishu-ingest --bench ingest_throughput -- 200
//! # ZHISHU_BENCH_CHECKPOINT=N: checkpoint the vector store every N points
//! # (0: only at the end)
//! # a mixed archive: K copies of the OCR set's scans (16 PNG pages and a
//! # PDF with one scanned page) among the documents, read with PDFium and
//! # Tesseract: the share of ingestion time OCR takes
//! ZHISHU_BENCH_SCANS=K cargo bench -p zhishu-ingest --bench ingest_throughput -- 2000
//! # one scanned PDF of N pages (the same scan on each): memory stays flat
//! # however long the scan (pages are rendered and recognised one at a time)
//! ZHISHU_BENCH_SCAN_PAGES=N cargo bench -p zhishu-ingest --bench ingest_throughput -- 100
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
        let mut bytes = generate(&corpus, n);
        let env_count = |key: &str| -> usize {
            std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        let (scans, scan_pages) = (env_count("ZHISHU_BENCH_SCANS"), env_count("ZHISHU_BENCH_SCAN_PAGES"));
        bytes += add_scans(&corpus.join("scans"), scans, scan_pages);
        // With scans, the reader of a real deployment: PDFium and Tesseract.
        let reader = if scans + scan_pages > 0 {
            let r = zhishu_ingest::parse::Reader::new(
                &zhishu_core::config::IngestConfig::default(),
                &assets().join("pdfium/libpdfium.so"),
            );
            assert!(r.status().ocr.is_some(), "Tesseract is needed: {:?}", r.status());
            r
        } else {
            zhishu_ingest::parse::Reader::plain()
        };
        let single_box = std::env::var_os("ZHISHU_BENCH_SINGLE_BOX").is_some();
        let model = assets().join(if single_box {
            "models/multilingual-e5-small"
        } else {
            "models/all-MiniLM-L6-v2"
        });
        // ZHISHU_BENCH_EMBEDDER swaps the embedding model only (chunking
        // still counts `model`'s tokens, so the chunks are the same):
        // with a tiny model the run measures every other stage at a scale
        // the real model cannot reach on a small machine.
        let embedder = match std::env::var_os("ZHISHU_BENCH_EMBEDDER") {
            Some(dir) => Embedder::load(Path::new(&dir)).unwrap(),
            None => Embedder::load(&model).unwrap(),
        };
        let (embedder_name, dims) = (embedder.name().to_owned(), embedder.dimensions());
        let worker = if single_box {
            WorkerConfig {
                query_prefix: "query: ".into(),
                passage_prefix: "passage: ".into(),
                ..WorkerConfig::default()
            }
        } else {
            WorkerConfig::default()
        };
        // As the server caps `ingest.chunk_tokens` (512): the model's limit
        // less its two special tokens.
        let chunking = if single_box {
            ChunkConfig { max_tokens: 510, overlap_tokens: 64 }
        } else {
            ChunkConfig { max_tokens: 254, overlap_tokens: 32 }
        };
        let encoder = EncoderWorker::start(embedder, worker).unwrap();
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
            chunking,
            max_file_bytes: 100 << 20,
            reader: std::sync::Arc::new(reader),
            // ZHISHU_BENCH_CHECKPOINT=0 writes the whole job into one
            // growing segment (the behaviour before checkpoints).
            checkpoint_points: std::env::var("ZHISHU_BENCH_CHECKPOINT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_CHECKPOINT_POINTS),
            guard: None,
            // As served: the single box's late pass reads them.
            keep_token_vectors: single_box,
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
        let s = pipeline.run(&spec, progress.clone(), None).await.unwrap();
        let ocr_seconds = progress.ocr_micros.load(Ordering::Relaxed) as f64 / 1e6;
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
                "ocr_pages": progress.ocr_pages.load(Ordering::Relaxed), "ocr_seconds": ocr_seconds,
                "ocr_share_of_busy_percent": 100.0 * ocr_seconds / busy.max(1e-9),
                "ocr_share_of_parse_percent": 100.0 * ocr_seconds / s.stage_seconds[1].max(1e-9),
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

/// Copies the OCR set's scans `copies` times into `dir` (16 PNG pages and a
/// PDF whose first page is a scan), and writes a scanned PDF of
/// `long_pages` pages when asked; returns the bytes written.
fn add_scans(dir: &Path, copies: usize, long_pages: usize) -> u64 {
    if copies + long_pages == 0 {
        return 0;
    }
    std::fs::create_dir_all(dir).unwrap();
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let mut scans: Vec<PathBuf> = std::fs::read_dir(data.join("ocr"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png") && !p.ends_with("scan-zh.png"))
        .collect();
    scans.sort();
    scans.push(data.join("pdf/mixed-scan.pdf"));
    let mut bytes = 0;
    for copy in 0..copies {
        for from in &scans {
            let name = format!("{copy:03}-{}", from.file_name().unwrap().to_string_lossy());
            bytes += std::fs::copy(from, dir.join(name)).unwrap();
        }
    }
    if long_pages > 0 {
        let png = std::fs::read(data.join("ocr/scan-zh.png")).unwrap();
        let pdf = scanned_pdf(&png, 300, long_pages);
        bytes += pdf.len() as u64;
        std::fs::write(dir.join("long-scan.pdf"), pdf).unwrap();
    }
    bytes
}

/// A PDF of `pages` pages, each drawing one 8-bit grey PNG (non-interlaced)
/// at `dpi`, the image stored once: its compressed rows go into the PDF as
/// they are (Flate with the PNG predictors, which PDF shares with PNG).
fn scanned_pdf(png: &[u8], dpi: u32, pages: usize) -> Vec<u8> {
    let be32 = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let (w, h) = (be32(16), be32(20));
    assert_eq!(
        (png[24], png[25], png[28]),
        (8, 0, 0),
        "8-bit grey, not interlaced"
    );
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = be32(at) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            idat.extend_from_slice(&png[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    let (pw, ph) = (w as f32 * 72.0 / dpi as f32, h as f32 * 72.0 / dpi as f32);
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    let mut object = |out: &mut Vec<u8>, body: &[u8]| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", offsets.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 5 + i)).collect();
    object(&mut out, b"<< /Type /Catalog /Pages 2 0 R >>");
    object(
        &mut out,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        )
        .as_bytes(),
    );
    let mut image = format!(
        "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 \
         /Filter /FlateDecode /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent 8 /Columns {w} >> /Length {} >>\nstream\n",
        idat.len()
    )
    .into_bytes();
    image.extend_from_slice(&idat);
    image.extend_from_slice(b"\nendstream");
    object(&mut out, &image);
    let draw = format!("q {pw:.2} 0 0 {ph:.2} 0 0 cm /Im0 Do Q");
    object(
        &mut out,
        format!("<< /Length {} >>\nstream\n{draw}\nendstream", draw.len()).as_bytes(),
    );
    for _ in 0..pages {
        object(
            &mut out,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw:.2} {ph:.2}] /Resources << /XObject << /Im0 3 0 R >> >> /Contents 4 0 R >>"
            )
            .as_bytes(),
        );
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes(),
    );
    for o in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            offsets.len() + 1
        )
        .as_bytes(),
    );
    out
}
