//! What late interaction costs a search, side by side in one run: the
//! pass as it ran before token vectors were kept (a forward pass of the
//! embedder over each of the 20 passages it rescores) against the pass
//! over vectors kept at ingestion, in every packed form, with the bytes
//! each form keeps per token and per passage, and what keeping them adds
//! to ingestion's embedding pass.
//!
//! Passages are real documentation pages of a BEIR set (title, then text,
//! read up to the model's 512 tokens as a chunk of that size would be);
//! questions are the set's own.
//!
//!     cargo bench -p zhishu-encoders --bench late_pass -- MODEL_DIR DATASET_DIR [SEARCHES]
//!
//! Prints one JSON line per form.

use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{Embedder, EncoderWorker, PackedTokens, TextKind, TokenForm, WorkerConfig};

const TOP: usize = 20;

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field(v: &serde_json::Value, name: &str) -> String {
    v[name].as_str().unwrap_or_default().to_owned()
}

fn percentile(ms: &mut [f64], p: f64) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[((ms.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // As `zhishu` does at start, so the encoder's rayon pool has the size
    // it has there.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        // SAFETY: first thing in main, before any thread is started.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(model), Some(dataset)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: late_pass MODEL_DIR DATASET_DIR [SEARCHES]");
        std::process::exit(2);
    };
    let searches: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(8);
    let dataset = std::path::Path::new(dataset);
    let pages: Vec<String> = lines(&dataset.join("corpus.jsonl"))
        .iter()
        .map(|d| format!("{}\n{}", field(d, "title"), field(d, "text")))
        .collect();
    let questions: Vec<String> = lines(&dataset.join("queries.jsonl"))
        .iter()
        .map(|q| field(q, "text"))
        .collect();
    assert!(
        pages.len() >= TOP * searches && questions.len() >= searches,
        "the set is too small for {searches} searches"
    );
    // Every 7th page, so each search meets pages from all over the set.
    let picked: Vec<String> = (0..TOP * searches)
        .map(|i| pages[(i * 7) % pages.len()].clone())
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for form in [
        TokenForm::F16,
        TokenForm::Int8,
        TokenForm::Int4,
        TokenForm::Sign,
    ] {
        let embedder = Embedder::load(std::path::Path::new(model)).expect("model");
        let worker = EncoderWorker::start(
            embedder,
            WorkerConfig {
                query_prefix: "query: ".into(),
                passage_prefix: "passage: ".into(),
                // Nothing cached: the "before" column reads every passage.
                token_cache_bytes: 0,
                token_form: form,
                ..Default::default()
            },
        )
        .expect("worker");
        runtime.block_on(async {
            // What ingestion keeps, from the embedding pass it runs
            // anyway; timed against that pass alone.
            let t = Instant::now();
            worker
                .embed(picked.clone(), TextKind::Passage)
                .await
                .expect("embedding");
            let embed_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let (_, packed) = worker
                .embed_passages_with_tokens(picked.clone())
                .await
                .expect("embedding");
            let keep_ms = t.elapsed().as_secs_f64() * 1e3;
            let kept: Vec<Arc<PackedTokens>> = packed.into_iter().map(Arc::new).collect();
            let tokens: usize = kept.iter().map(|k| k.rows()).sum();
            let bytes: usize = kept.iter().map(|k| k.bytes().len()).sum();
            let (mut before, mut after) = (Vec::new(), Vec::new());
            let mut largest = 0.0f32;
            for s in 0..searches {
                let passages = picked[s * TOP..(s + 1) * TOP].to_vec();
                let held = kept[s * TOP..(s + 1) * TOP]
                    .iter()
                    .cloned()
                    .map(Some)
                    .collect();
                let q = &questions[s];
                let t = Instant::now();
                let computed = worker
                    .late_scores(q, passages.clone(), 512)
                    .await
                    .expect("pass");
                before.push(t.elapsed().as_secs_f64() * 1e3);
                let t = Instant::now();
                let read = worker
                    .late_scores_kept(q, passages, held, 512)
                    .await
                    .expect("pass");
                after.push(t.elapsed().as_secs_f64() * 1e3);
                for (a, b) in computed.iter().zip(&read) {
                    largest = largest.max((a - b).abs());
                }
            }
            let (b50, k50) = (percentile(&mut before, 0.5), percentile(&mut after, 0.5));
            println!(
                "{}",
                serde_json::json!({
                    "form": form.as_str(),
                    "searches": searches,
                    "passages_per_search": TOP,
                    "computed_p50_ms": b50,
                    "computed_p95_ms": percentile(&mut before, 0.95),
                    "kept_p50_ms": k50,
                    "kept_p95_ms": percentile(&mut after, 0.95),
                    "speedup_p50": b50 / k50,
                    "bytes_per_token": bytes as f64 / tokens.max(1) as f64,
                    "bytes_per_passage": bytes as f64 / kept.len() as f64,
                    "tokens_per_passage": tokens as f64 / kept.len() as f64,
                    "largest_score_difference": largest,
                    "ingestion_embed_ms_per_passage": embed_ms / picked.len() as f64,
                    "ingestion_embed_and_keep_ms_per_passage": keep_ms / picked.len() as f64,
                })
            );
        });
    }
}
