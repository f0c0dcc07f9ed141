//! Prompt assembly at Qwen3's full 128K context: packing 2,000 retrieved
//! chunks into a 131,072-token window, rendering Qwen3's chat template and
//! tokenising the result, exactly as a chat request does after retrieval.
//!
//! Side by side in the same run, the way a tool without stored token counts
//! assembles the same prompt: it tokenises every candidate to learn its
//! length (LangChain's and LlamaIndex's token-limited retrievers), then
//! renders and tokenises the prompt.
//!
//! ```sh
//! cargo bench -p zhishu-query --bench assemble
//! ```
//!
//! Needs the Qwen3 tokenizer from the offline assets
//! (`scripts/fetch-assets.sh`; `ZHISHU_ASSETS_DIR` when they live elsewhere).
//! The model is a random-weight Qwen3 with that tokenizer and Qwen's chat
//! template: assembly never runs the model.

use std::path::PathBuf;
use std::time::Instant;
use zhishu_engine::Engine;
use zhishu_engine::testing::{TinyQwen3, write_tiny_qwen3};
use zhishu_query::assemble;
use zhishu_query::prompt::{Candidate, Limits, PackInput, SYSTEM_PROMPT};
use zhishu_retrieval::ChunkDoc;

const CANDIDATES: usize = 2_000;
const CONTEXT: usize = 131_072;
const ANSWER: usize = 1_024;
const RUNS: usize = 30;

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

/// A passage of `sentences` sentences, English and Chinese mixed, distinct
/// per chunk.
fn passage(i: usize, sentences: usize) -> String {
    let mut s = String::new();
    for j in 0..sentences {
        if (i + j) % 2 == 0 {
            s.push_str(&format!(
                "Clause {i}.{j}: travel claims above {} yuan need the approval of the cost-centre manager before payment. ",
                100 + (i * 13 + j * 7) % 900
            ));
        } else {
            s.push_str(&format!(
                "第{i}条第{j}款：差旅费用须在出差结束后{}个工作日内提交报销，逾期由财务部退回。",
                5 + (i + j) % 20
            ));
        }
    }
    s.trim_end().to_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("tiny-qwen3");
    write_tiny_qwen3(
        &model,
        &assets().join("tokenizers/qwen3"),
        &TinyQwen3::default(),
    )
    .expect("write the random Qwen3 (run scripts/fetch-assets.sh for the tokenizer)");
    let engine = Engine::load(&model, &candle_core::Device::Cpu).expect("load");

    // 2,000 candidates of 1–8 sentences (≈ 25–250 tokens), three per
    // document at most in the pack, scored best first. Their Qwen3 token
    // counts are what ingestion stored.
    let candidates: Vec<Candidate> = (0..CANDIDATES)
        .map(|i| {
            let text = passage(i, 1 + (i * 37) % 8);
            let qwen_tokens = engine.encode(&text).expect("encode").len() as i64;
            Candidate {
                chunk: ChunkDoc {
                    chunk_id: format!("c{i}"),
                    document_id: format!("doc{}", i / 2),
                    version: 1,
                    ordinal: (i % 2) as i64,
                    collection: "finance".into(),
                    path: format!("/policies/doc{}.pdf", i / 2),
                    title: format!("Travel policy {}", i / 2),
                    section_path: format!("Claims > Clause {i}"),
                    page: Some((i % 40) as i64 + 1),
                    access_groups: vec!["public".into()],
                    content_hash: String::new(),
                    modified_at: 0,
                    char_start: 0,
                    char_end: text.len() as i64,
                    qwen_tokens,
                    text,
                },
                score: 1.0 - i as f32 / CANDIDATES as f32,
            }
        })
        .collect();
    let total: i64 = candidates.iter().map(|c| c.chunk.qwen_tokens).sum();
    let input = PackInput {
        system: Some(SYSTEM_PROMPT.to_owned()),
        history: Vec::new(),
        question: "报销差旅费需要谁批准？ Who approves travel claims above 500 yuan?".into(),
        candidates,
        grounded: true,
        limits: Limits {
            context: CONTEXT,
            answer: ANSWER,
            per_document: 3,
            history_share: 0.25,
        },
    };

    let mut ours = Vec::with_capacity(RUNS);
    let mut naive = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let a = assemble(&engine, &input, false).expect("assemble");
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(a);

        // The same, learning each candidate's length by tokenising it.
        let t = Instant::now();
        let mut counted = input.clone();
        for c in &mut counted.candidates {
            c.chunk.qwen_tokens = engine.encode(&c.chunk.text).expect("encode").len() as i64;
        }
        let b = assemble(&engine, &counted, false).expect("assemble");
        naive.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(b);
    }
    ours.sort_by(f64::total_cmp);
    naive.sort_by(f64::total_cmp);
    let a = last.expect("ran");
    let (p50, p99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
    let (n50, n99) = (percentile(&naive, 0.5), percentile(&naive, 0.99));
    println!(
        "{}",
        serde_json::json!({
            "candidates": CANDIDATES,
            "candidate_tokens": total,
            "context": CONTEXT,
            "answer_reserved": ANSWER,
            "prompt_tokens": a.prompt_ids.len(),
            "budget": CONTEXT - ANSWER,
            "sources_packed": a.packed.sources.len(),
            "runs": RUNS,
            "zhishu_ms": {"p50": p50, "p99": p99},
            "retokenising_ms": {"p50": n50, "p99": n99},
            "speedup_p50": n50 / p50,
        })
    );
    assert!(a.prompt_ids.len() <= CONTEXT - ANSWER, "over budget");
}
