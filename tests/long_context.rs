//! The 128K budget end to end over real HTTP: a long synthetic corpus, a
//! random-weight Qwen3 with Qwen3's own tokenizer and chat template,
//! configured for 131,072 positions with YaRN, and a question that asks for
//! 2,000 sources. The prompt fills the window, never exceeds it by a token,
//! and the engine prefills all of it.
//!
//! The corpus goes straight into the stores with synthetic vectors:
//! embedding 2,000 long passages with a debug build would take minutes, and
//! ingestion has its own end-to-end tests. The stored Qwen3 token ids and
//! counts are the ones ingestion would store (the same tokenizer), so the
//! server composes the prompt from them.

mod common;

use common::{Server, assets, bearer};
use serde_json::{Value, json};
use std::time::Duration;
use zhishu_engine::testing::{TinyQwen3, write_tiny_qwen3};
use zhishu_retrieval::synthetic::{chunk, passage, unit_vector};
use zhishu_retrieval::{ChunkDoc, LexicalIndex, tokenizer_fingerprint};

const CONTEXT: u64 = 131_072;
const CHUNKS: usize = 2_400;

fn populate(data: &std::path::Path, tokenizer: &tokenizers::Tokenizer) -> u64 {
    let fingerprint = tokenizer_fingerprint(tokenizer);
    let chunks: Vec<ChunkDoc> = (0..CHUNKS)
        .map(|i| {
            chunk(i, 4, "public", passage(i, 2 + i % 5), 0).with_prompt_ids(tokenizer, &fingerprint)
        })
        .collect();
    let total = chunks.iter().map(|c| c.qwen_tokens as u64).sum();
    let lexical = LexicalIndex::open(&data.join("tantivy")).expect("tantivy");
    lexical.upsert(&chunks).expect("lexical upsert");
    lexical.commit().expect("lexical commit");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let vectors = zhishu_retrieval::open_vectors_for_tests(&data.join("qdrant"), 384)
            .expect("vector store");
        let points = chunks
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| (c, unit_vector(i, 384)))
            .collect();
        vectors.upsert(points).await.expect("upsert");
        vectors.commit().await.expect("commit");
    });
    total
}

#[test]
fn a_128k_prompt_fills_the_window_and_never_exceeds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("tiny-qwen3-128k");
    let qwen3 = assets().join("tokenizers/qwen3");
    // One head of width 8: attention over 131,072 positions is the whole
    // cost of this test (a causal prefill is ~8.6 billion query–key pairs
    // per head), and what is checked here (the window filled to the
    // token, YaRN positions, every token prefilled) does not depend on
    // the number or width of heads.
    let shape = TinyQwen3 {
        heads: 1,
        kv_heads: 1,
        head_dim: 8,
        ..TinyQwen3::default()
    };
    write_tiny_qwen3(&model, &qwen3, &shape)
        .expect("a random Qwen3 (run scripts/fetch-assets.sh for the tokenizer)");
    let tokenizer =
        tokenizers::Tokenizer::from_file(qwen3.join("tokenizer.json")).expect("tokenizer");
    let corpus_tokens = populate(&dir.path().join("data"), &tokenizer);
    assert!(
        corpus_tokens > CONTEXT * 3 / 2,
        "the corpus must overflow the window: {corpus_tokens}"
    );

    let url = format!("sqlite://{}/data/zhishu.db", dir.path().display());
    let model_path = model.display().to_string();
    let server = Server::start_with(
        dir,
        &url,
        &[
            ("ZHISHU_ENGINE__MODEL", model_path.as_str()),
            ("ZHISHU_ENGINE__MAX_CONTEXT_TOKENS", "131072"),
        ],
    );
    server.wait_ready(200);
    let key = server.user_with_key("erin", &["employee"], &["public"]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(900)))
        .build()
        .into();
    let ask = |max_tokens: u64, k: u64| -> (u16, Value) {
        let mut res = agent
            .post(&server.url("/v1/chat/completions"))
            .header("authorization", &bearer(&key))
            .header("content-type", "application/json")
            .send(
                json!({
                    "messages": [{"role": "user", "content": "Who approves expense claims? 报销需要谁批准？"}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                    "zhishu": {"k": k},
                })
                .to_string(),
            )
            .expect("HTTP");
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    };

    // 2,000 candidates for a 131,072-token window: the prompt fills the
    // budget (context − max_tokens) to within one source and never passes it.
    let max_tokens = 4;
    let (status, a) = ask(max_tokens, 2000);
    assert_eq!(status, 200, "{a}");
    let prompt = a["usage"]["prompt_tokens"].as_u64().expect("usage");
    let budget = CONTEXT - max_tokens;
    let largest_source = 400; // a passage here is at most ~300 tokens plus its label
    assert!(
        prompt <= budget,
        "{prompt} tokens exceed the budget {budget}"
    );
    assert!(
        prompt > budget - largest_source,
        "{prompt} tokens leave room for another source (budget {budget})"
    );
    let sources = a["zhishu"]["sources"].as_array().expect("sources").len();
    // Composed from the ids the stores kept, every source's.
    let logs = server.logs();
    let answered = logs
        .iter()
        .find(|l| l.contains("chat answered"))
        .expect("the answer is logged");
    eprintln!("{answered}");
    assert!(answered.contains("composed=true"), "{answered}");
    assert!(
        answered.contains(&format!("stored_sources={sources}")),
        "{answered}"
    );
    assert!(sources > 300, "{sources} sources for a 128K window");
    assert!(
        a["usage"]["completion_tokens"].as_u64().unwrap() >= 1,
        "{a}"
    );

    // An answer reservation that leaves no room for the question is refused
    // with the numbers, not truncated.
    let (status, c) = ask(CONTEXT - 10, 10);
    assert_eq!(status, 400, "{c}");
    assert_eq!(c["error"]["code"], "context_length_exceeded", "{c}");
}
