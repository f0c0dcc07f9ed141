//! What the retrieval benchmarks share: folder sizes, percentiles, the
//! offline assets and the small English embedder that embeds their
//! questions.

use std::path::{Path, PathBuf};
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_retrieval::eval::percentile;

/// Bytes of every file under `p`.
pub fn walk(p: &Path) -> u64 {
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

/// p50 and p99 of `v`.
pub fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets")
        })
}

/// all-MiniLM-L6-v2 from the offline assets, running on `rt`.
pub fn minilm(rt: &tokio::runtime::Runtime) -> EncoderWorker {
    let model = assets().join("models/all-MiniLM-L6-v2");
    let embedder = Embedder::load(&model).expect("run scripts/fetch-assets.sh first");
    rt.block_on(async {
        EncoderWorker::start(
            embedder,
            WorkerConfig {
                max_batch_tokens: 16_384,
                queue: 16,
                query_prefix: String::new(),
                passage_prefix: String::new(),
                ..Default::default()
            },
        )
        .expect("encoder")
    })
}
