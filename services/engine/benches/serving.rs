//! Serving throughput: total output tokens/s when `concurrency` clients
//! each send requests back to back (requests arrive independently, not as
//! one batch), through the continuous-batching engine, beside the same
//! engine generating one request at a time. Prints one JSON object per
//! line; `scripts/bench_serving.sh` puts transformers' `generate` (one at
//! a time and statically batched) beside it on the same model and prompts.
//!
//! ```sh
//! cargo bench -p zhishu-engine --bench serving -- --model DIR_OR_GGUF \
//!     [--requests 32] [--new-tokens 64] [--concurrency 1,4,16] \
//!     [--dense-bytes N]
//! ```
//!
//! `--dense-bytes` is `engine.dense_weights_max_bytes` (default 2 GiB:
//! SmolLM2's GGUF weights are dequantised at load; 0 keeps them quantised).
//!
//! Prompts are the chat-templated questions of `QUESTIONS`, cycled; each
//! request generates exactly `--new-tokens` tokens (`min_new_tokens`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
mod common;
use common::arg;
use zhishu_engine::{ChatMessage, Engine, Event, SamplingParams, Serving, ServingConfig};

const QUESTIONS: [&str; 8] = [
    "Explain how a hash map handles collisions.",
    "Write a short poem about the sea at night.",
    "What are three benefits of regular exercise?",
    "Describe the water cycle for a ten-year-old.",
    "How do I politely decline a meeting invitation?",
    "Summarise the plot of Romeo and Juliet.",
    "Give me a recipe idea that uses lentils and spinach.",
    "Why is the sky blue?",
];

fn main() {
    // SAFETY: first thing in main, before any thread is started.
    unsafe { zhishu_engine::pin_cpu_threads() };
    let args: Vec<String> = std::env::args().collect();
    let Some(model) = arg(&args, "--model") else {
        eprintln!(
            "usage: serving --model DIR_OR_GGUF [--requests N] [--new-tokens N] [--concurrency 1,4,16]"
        );
        std::process::exit(2);
    };
    let requests: usize = arg(&args, "--requests").map_or(32, |v| v.parse().expect("--requests"));
    let new_tokens: usize =
        arg(&args, "--new-tokens").map_or(64, |v| v.parse().expect("--new-tokens"));
    let levels: Vec<usize> = arg(&args, "--concurrency")
        .unwrap_or_else(|| "1,4,16".into())
        .split(',')
        .map(|v| v.trim().parse().expect("--concurrency"))
        .collect();
    let dense: u64 = arg(&args, "--dense-bytes")
        .map_or(zhishu_engine::generate::DENSE_WEIGHT_BYTES, |v| {
            v.parse().expect("--dense-bytes")
        });
    let engine = Arc::new(
        Engine::load_with(&PathBuf::from(&model), &candle_core::Device::Cpu, dense)
            .expect("model loads"),
    );
    let prompts: Vec<Vec<u32>> = (0..requests)
        .map(|i| {
            let m = [ChatMessage::new("user", QUESTIONS[i % QUESTIONS.len()])];
            let text = engine
                .chat_prompt(&m, false)
                .unwrap_or_else(|_| QUESTIONS[i % 8].into());
            engine.encode(&text).expect("encode")
        })
        .collect();
    // Every request generates exactly `new_tokens`.
    let params = SamplingParams {
        min_new_tokens: new_tokens,
        ..SamplingParams::greedy(new_tokens)
    };

    // One request at a time through `Engine::generate`.
    let n = requests.min(8);
    let t = Instant::now();
    let mut tokens = 0;
    for p in &prompts[..n] {
        tokens += engine
            .generate(p, &params, |_| {})
            .expect("generate")
            .token_ids
            .len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{{\"engine\":\"zhishu\",\"dense_bytes\":{dense},\"mode\":\"one_at_a_time\",\"requests\":{n},\"tokens\":{tokens},\"seconds\":{secs:.3},\"tokens_per_second\":{:.2}}}",
        tokens as f64 / secs
    );

    for &c in &levels {
        let serving = Serving::start(
            engine.clone(),
            ServingConfig {
                max_running: c.max(1),
                max_waiting: requests,
                ..ServingConfig::default()
            },
        )
        .expect("serving starts");
        let t = Instant::now();
        let per_client: Vec<Vec<Vec<u32>>> = (0..c)
            .map(|k| prompts.iter().skip(k).step_by(c).cloned().collect())
            .collect();
        let handles: Vec<_> = per_client
            .into_iter()
            .map(|mine| {
                let serving = serving.clone();
                let params = params.clone();
                std::thread::spawn(move || {
                    let mut tokens = 0;
                    let mut ttft = Vec::new();
                    for p in mine {
                        let sent = Instant::now();
                        let mut rx = serving.submit(p, params.clone()).expect("submit");
                        let mut first = None;
                        while let Some(ev) = rx.blocking_recv() {
                            match ev {
                                Event::Delta { .. } => {
                                    first.get_or_insert_with(|| sent.elapsed().as_secs_f64());
                                }
                                Event::Done(g) => {
                                    tokens += g.token_ids.len();
                                    break;
                                }
                                Event::Failed(e) => panic!("{e}"),
                            }
                        }
                        ttft.extend(first);
                    }
                    (tokens, ttft)
                })
            })
            .collect();
        let mut tokens = 0;
        let mut ttft = Vec::new();
        for h in handles {
            let (t, f) = h.join().expect("client");
            tokens += t;
            ttft.extend(f);
        }
        let secs = t.elapsed().as_secs_f64();
        ttft.sort_by(f64::total_cmp);
        let p50 = ttft.get(ttft.len() / 2).copied().unwrap_or(0.0);
        println!(
            "{{\"engine\":\"zhishu\",\"dense_bytes\":{dense},\"mode\":\"serving\",\"concurrency\":{c},\"requests\":{requests},\"tokens\":{tokens},\"seconds\":{secs:.3},\"tokens_per_second\":{:.2},\"ttft_p50_seconds\":{p50:.3}}}",
            tokens as f64 / secs
        );
    }
}
