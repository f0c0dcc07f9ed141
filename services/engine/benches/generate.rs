//! CPU generation speed: prefill and decode tokens/s of a checkpoint (a
//! safetensors folder in f32, or a GGUF file), the weight bytes one decode
//! step reads, the machine's copy bandwidth, and the decode ceiling those
//! two imply. Prints one JSON object; `scripts/bench_engine.sh` runs it
//! beside transformers on the same weights and prompt.
//!
//! ```sh
//! cargo bench -p zhishu-engine --bench generate -- --model DIR_OR_GGUF \
//!     --prompt-tokens 512 --new-tokens 32
//! ```
//!
//! Prompt ids are `(i * 7919) % vocab` for `i` in `0..prompt_tokens`, the
//! same as `scripts/engine_bench_torch.py` uses; decoding is greedy.

use candle_core::{DType, Device};
use std::path::PathBuf;
use std::time::Instant;
mod common;
use common::{arg, copy_bandwidth_gb_s};
use zhishu_engine::{Checkpoint, ContiguousCache, KvCache, Logits, Model, SeqInput};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

fn prefill(model: &Model, prompt: &[u32]) -> (ContiguousCache, Vec<f32>) {
    let mut cache = ContiguousCache::new(model.config().num_layers);
    let mut logits = Vec::new();
    for chunk in prompt.chunks(512) {
        let out = model
            .forward(&mut [SeqInput {
                tokens: chunk,
                cache: &mut cache,
                positions: None,
                logits: Logits::Last,
                adapter: None,
            }])
            .expect("prefill");
        logits = out[0].to_vec1::<f32>().expect("logits");
    }
    (cache, logits)
}

fn main() {
    // SAFETY: first thing in main, before any thread is started.
    unsafe { zhishu_engine::pin_cpu_threads() };
    let args: Vec<String> = std::env::args().collect();
    let model_path = PathBuf::from(arg(&args, "--model").expect("--model DIR_OR_GGUF"));
    let prompt_tokens: usize =
        arg(&args, "--prompt-tokens").map_or(512, |s| s.parse().expect("a number"));
    let new_tokens: usize = arg(&args, "--new-tokens").map_or(32, |s| s.parse().expect("a number"));

    let ckpt =
        Checkpoint::open(&model_path, &Device::Cpu, DType::F32).expect("open the checkpoint");
    let weights = if ckpt.gguf_metadata().is_some() {
        "q8_0"
    } else {
        "f32"
    };
    let model = Model::load(&ckpt).expect("load the model");
    drop(ckpt);
    let vocab = model.config().vocab_size;
    let prompt: Vec<u32> = (0..prompt_tokens)
        .map(|i| ((i * 7919) % vocab) as u32)
        .collect();

    // Prefill: median of three.
    let mut times = Vec::new();
    let mut state = None;
    for _ in 0..3 {
        let t = Instant::now();
        let s = prefill(&model, &prompt);
        times.push(t.elapsed().as_secs_f64());
        state = Some(s);
    }
    times.sort_by(f64::total_cmp);
    let prefill_tps = prompt_tokens as f64 / times[1];

    // Decode: greedy, one token per step.
    let (mut cache, mut logits) = state.expect("prefilled");
    let t = Instant::now();
    for _ in 0..new_tokens {
        let next = zhishu_engine::sampling::argmax(&logits);
        let out = model
            .forward(&mut [SeqInput {
                tokens: &[next],
                cache: &mut cache,
                positions: None,
                logits: Logits::Last,
                adapter: None,
            }])
            .expect("decode");
        logits = out[0].to_vec1::<f32>().expect("logits");
    }
    let decode_tps = new_tokens as f64 / t.elapsed().as_secs_f64();
    assert_eq!(cache.len(), prompt_tokens + new_tokens);

    let bytes = model.weight_bytes_per_token();
    let bandwidth = copy_bandwidth_gb_s();
    println!(
        "{}",
        serde_json::json!({
            "engine": "zhishu",
            "weights": weights,
            "threads": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "prefill_tokens_per_s": prefill_tps,
            "decode_tokens_per_s": decode_tps,
            "weight_bytes_per_token": bytes,
            "copy_bandwidth_gb_s": bandwidth,
            "decode_ceiling_tokens_per_s": bandwidth * 1e9 / bytes as f64,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
}
