//! Sentences per second of the candle embedder at batch sizes 1, 32 and 256,
//! with peak memory; `scripts/bench_encoders.sh` runs it beside
//! sentence-transformers on PyTorch with the same model and sentences.
//!
//!     cargo bench -p zhishu-encoders --bench embed_throughput -- MODEL_DIR SENTENCES_JSON
//!
//! Prints one JSON line per batch size.

use std::time::Instant;
use zhishu_encoders::Embedder;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // As `zhishu` does at start (zhishu_engine::pin_cpu_threads), so the
    // encoder's rayon pool (attention, gemm) has the size it has there.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        // SAFETY: first thing in main, before any thread is started.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(model), Some(sentences)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: embed_throughput MODEL_DIR SENTENCES_JSON [TEXTS]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(sentences).expect("sentences file");
    let list: Vec<String> =
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON")["sentences"]
            .as_array()
            .expect("sentences array")
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
    // TEXTS (default 512) sentences, as sentence-transformers would order
    // them: by length.
    let total: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(512);
    let mut corpus: Vec<String> = list.iter().cycle().take(total).cloned().collect();
    corpus.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let model = Embedder::load(std::path::Path::new(model)).expect("model");
    let refs: Vec<&str> = corpus.iter().map(String::as_str).collect();
    model.embed(&refs[..32]).expect("warm-up");
    for batch in [1usize, 32, 256] {
        let n = if batch == 1 {
            128.min(refs.len())
        } else {
            refs.len()
        };
        let started = Instant::now();
        for chunk in refs[..n].chunks(batch) {
            model.embed(chunk).expect("embed");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"impl": "zhishu-candle", "batch": batch, "sentences": n,
                "per_second": n as f64 / secs, "peak_rss_mib": peak_rss_mib()})
        );
    }
}
