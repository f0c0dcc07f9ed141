//! Prompt assembly at Qwen3's full 128K context: packing 2,000 retrieved
//! chunks into a 131,072-token window, rendering Qwen3's chat template and
//! tokenising the result, exactly as a chat request does after retrieval.
//!
//! Zhishu composes the prompt's ids from the ids stored with each chunk at
//! ingestion (`zhishu_query::compose`). Side by side in the same run, the
//! way a tool without stored token ids assembles the same prompt: it
//! tokenises every candidate to learn its length (LangChain's and
//! LlamaIndex's token-limited retrievers), then renders and tokenises the
//! prompt.
//!
//! Then the whole pipeline before generation, at the default chat settings
//! (8 sources): hybrid retrieval over 10,000 chunks with the real
//! all-MiniLM-L6-v2 query encoder, packing, rendering and tokenising
//! (`Rag::prepare`), p50 and p99 over 200 questions.
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
use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_engine::testing::{TinyQwen3, write_tiny_qwen3};
use zhishu_engine::{ChatMessage, Engine};
use zhishu_query::Assembler;
use zhishu_query::prompt::{Candidate, Limits, PackInput, SYSTEM_PROMPT};
use zhishu_query::{Question, Rag, Retrieval};
use zhishu_retrieval::ChunkDoc;
use zhishu_retrieval::synthetic::{chunk, passage, unit_vector};
use zhishu_retrieval::{EdgeIndex, HybridSearcher, LexicalIndex, Scope, SearchFilter, VectorIndex};

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
    let engine = Arc::new(Engine::load(&model, &candle_core::Device::Cpu).expect("load"));
    let assembler = Assembler::new(engine.clone());
    let fingerprint = assembler
        .fingerprint()
        .expect("Qwen3's tokenizer composes prompts")
        .to_owned();
    let whole = Assembler::tokenising_whole(engine.clone());

    // 2,000 candidates of 1–8 sentences (≈ 25–250 tokens), three per
    // document at most in the pack, scored best first, with the token ids
    // ingestion stores.
    let candidates: Vec<Candidate> = (0..CANDIDATES)
        .map(|i| {
            let text = passage(i, 1 + (i * 37) % 8);
            Candidate {
                chunk: chunk(i, 2, "public", text, 0)
                    .with_prompt_ids(engine.tokenizer(), &fingerprint),
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
    let mut naive_tokens = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let a = assembler.assemble(&input, false).expect("assemble");
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(a);

        // The same, learning each candidate's length by tokenising it and
        // tokenising the prompt whole.
        let t = Instant::now();
        let mut counted = input.clone();
        for c in &mut counted.candidates {
            c.chunk.prompt_ids = None;
            c.chunk.qwen_tokens = engine.encode(&c.chunk.text).expect("encode").len() as i64;
        }
        let b = whole.assemble(&counted, false).expect("assemble");
        naive_tokens = b.prompt_ids.len();
        naive.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(b);
    }
    ours.sort_by(f64::total_cmp);
    naive.sort_by(f64::total_cmp);
    let a = last.expect("ran");
    let (p50, p99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
    let (n50, n99) = (percentile(&naive, 0.5), percentile(&naive, 0.99));
    // What composing saves: rendering the template and tokenising the
    // final prompt whole.
    let mut render = Vec::new();
    let mut tokenise = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let text = engine
            .chat_prompt(&a.packed.messages, false)
            .expect("render");
        render.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(engine.encode(&text).expect("encode"));
        tokenise.push(t.elapsed().as_secs_f64() * 1e3);
    }
    render.sort_by(f64::total_cmp);
    tokenise.sort_by(f64::total_cmp);
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
            "render_whole_prompt_ms_p50": percentile(&render, 0.5),
            "tokenise_whole_prompt_ms_p50": percentile(&tokenise, 0.5),
            "retokenising_ms": {"p50": n50, "p99": n99},
            "retokenising_prompt_tokens": naive_tokens,
            "speedup_p50": n50 / p50,
        })
    );
    assert!(a.prompt_ids.len() <= CONTEXT - ANSWER, "over budget");
    assert_eq!(
        a.prompt_ids,
        engine.encode(&a.prompt).expect("encode"),
        "composed ids are the prompt's tokenisation"
    );
    pipeline(engine, &fingerprint);
}

const PIPELINE_CHUNKS: usize = 10_000;
const QUESTIONS: usize = 200;

fn pipeline(engine: Arc<Engine>, fingerprint: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let embedder = Embedder::load(&assets().join("models/all-MiniLM-L6-v2"))
        .expect("all-MiniLM-L6-v2 (run scripts/fetch-assets.sh)");
    let dims = embedder.dimensions();
    rt.block_on(async {
        let encoder = EncoderWorker::start(
            embedder,
            WorkerConfig {
                max_batch_tokens: 16_384,
                queue: 16,
                query_prefix: String::new(),
                passage_prefix: String::new(),
                ..Default::default()
            },
        )
        .expect("encoder");
        let vectors = Arc::new(EdgeIndex::open(&dir.path().join("qdrant"), dims).expect("edge"));
        let lexical = Arc::new(LexicalIndex::open(&dir.path().join("tantivy")).expect("tantivy"));
        let chunks: Vec<ChunkDoc> = (0..PIPELINE_CHUNKS)
            .map(|i| {
                let text = passage(i, 1 + (i * 37) % 8);
                let group = if i % 2 == 0 { "public" } else { "finance" };
                chunk(i, 4, group, text, 0).with_prompt_ids(engine.tokenizer(), fingerprint)
            })
            .collect();
        lexical.upsert(&chunks).expect("lexical upsert");
        lexical.commit().expect("lexical commit");
        let points = chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| (c, unit_vector(i, dims)))
            .collect();
        vectors.upsert(points).await.expect("upsert");
        vectors.commit().await.expect("commit");
        vectors.optimize().await.expect("optimize");
        let searcher = HybridSearcher {
            vectors,
            lexical: lexical.into(),
            encoder,
            reranker: None,
            // Synthetic vectors and text: late interaction (a model
            // cost, measured with the eval) would read noise; off.
            fusion: zhishu_core::config::RetrievalConfig {
                late_weight: 0.0,
                ..zhishu_core::config::RetrievalConfig::default()
            },
        };
        let chat = zhishu_core::config::ChatConfig::default();
        let k = chat.sources;
        let rag = Rag::new(
            engine,
            chat,
            zhishu_engine::ServingConfig {
                max_context: 32_768,
                ..Default::default()
            },
            "bench".into(),
        )
        .expect("rag");
        let scope = Scope::of_groups(["public"]);
        let filter = SearchFilter::default();
        let mut total = Vec::new();
        let (mut retrieval, mut assembly) = (Vec::new(), Vec::new());
        for i in 0..QUESTIONS {
            let question = if i % 2 == 0 {
                format!("Who approves travel claims above {} yuan?", 100 + i * 3)
            } else {
                format!("第{i}条规定差旅报销要在几个工作日内提交？")
            };
            let messages = [ChatMessage::new("user", question)];
            let t = Instant::now();
            let prepared = rag
                .prepare(Question {
                    messages: &messages,
                    retrieval: Some(Retrieval {
                        searcher: &searcher,
                        scope: &scope,
                        filter: &filter,
                        k,
                        question_vector: None,
                    }),
                    enable_thinking: false,
                    max_tokens: 1024,
                    screen: None,
                })
                .await
                .expect("prepare");
            total.push(t.elapsed().as_secs_f64() * 1e3);
            retrieval.push(prepared.timings.retrieval_ms);
            assembly.push(prepared.timings.assembly_ms);
            assert!(!prepared.sources.is_empty());
        }
        for v in [&mut total, &mut retrieval, &mut assembly] {
            v.sort_by(f64::total_cmp);
        }
        let pq =
            |v: &[f64]| serde_json::json!({"p50": percentile(v, 0.5), "p99": percentile(v, 0.99)});
        println!(
            "{}",
            serde_json::json!({
                "pipeline_before_generation": {
                    "chunks": PIPELINE_CHUNKS,
                    "sources": k,
                    "questions": QUESTIONS,
                    "total_ms": pq(&total),
                    "retrieval_ms": pq(&retrieval),
                    "assembly_ms": pq(&assembly),
                }
            })
        );
    });
}
