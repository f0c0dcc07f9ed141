//! Generation with a real model (SmolLM2-135M-Instruct, Q4_1 GGUF, from the
//! offline assets), chat templates against transformers' renderings, and
//! the errors a broken checkpoint gets.

use candle_core::{DType, Device};
use std::path::{Path, PathBuf};
use zhishu_engine::{
    ChatMessage, ChatTemplate, Checkpoint, Engine, FinishReason, Model, SamplingParams,
};

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn renderings() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("chat_templates.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn conversations() -> Vec<(&'static str, Vec<ChatMessage>)> {
    vec![
        (
            "single",
            vec![ChatMessage::new("user", "What is the capital of France?")],
        ),
        (
            "system",
            vec![
                ChatMessage::new("system", "你是知枢，一个企业知识助手。"),
                ChatMessage::new("user", "报销 hotel 上限是多少？"),
            ],
        ),
        (
            "multi_turn_with_thinking",
            vec![
                ChatMessage::new("user", "Name a prime."),
                ChatMessage::new("assistant", "<think>\nTwo is the smallest.\n</think>\n\n2"),
                ChatMessage::new("user", "Another one?"),
            ],
        ),
    ]
}

fn smollm2() -> Engine {
    Engine::load(
        &assets().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        &Device::Cpu,
    )
    .expect("run scripts/fetch-assets.sh for SmolLM2")
}

#[test]
fn qwen3_template_renders_as_transformers_does() {
    let want = renderings();
    let template = ChatTemplate::from_folder(&assets().join("tokenizers/qwen3"))
        .unwrap()
        .expect("the Qwen3 tokenizer folder has a chat template");
    for (name, messages) in conversations() {
        for thinking in [true, false] {
            let key = format!("qwen3/{name}/thinking={thinking}");
            let got = template.render(&messages, true, thinking).unwrap();
            assert_eq!(got, want[&key].as_str().unwrap(), "{key}");
        }
    }
}

#[test]
fn smollm2_answers_from_a_passage_and_streams() {
    let engine = smollm2();
    let want = renderings();
    for (name, messages) in conversations() {
        let got = engine.chat_prompt(&messages, false).unwrap();
        assert_eq!(
            got,
            want[&format!("smollm2/{name}")].as_str().unwrap(),
            "{name}"
        );
    }

    let passage = "The Republic of Veltria is a small island nation. Its capital city is Marisport, \
                   a harbour town of forty thousand people. Veltria's main export is salt.";
    let messages = vec![ChatMessage::new(
        "user",
        format!(
            "Read this passage and answer the question.\n\nPassage: {passage}\n\nQuestion: What is the capital of Veltria?"
        ),
    )];
    let prompt = engine
        .encode(&engine.chat_prompt(&messages, false).unwrap())
        .unwrap();
    let mut streamed = String::new();
    let g = engine
        .generate(&prompt, &SamplingParams::greedy(40), |piece| {
            streamed.push_str(piece)
        })
        .unwrap();
    assert!(g.text.contains("Marisport"), "answer: {:?}", g.text);
    assert_eq!(streamed, g.text, "the stream adds up to the answer");
    assert!(g.prefill_tokens_per_second() > 0.0);

    // Greedy decoding is deterministic; a stop string cuts the answer
    // before it and is not returned.
    let again = engine
        .generate(&prompt, &SamplingParams::greedy(40), |_| {})
        .unwrap();
    assert_eq!(again.text, g.text);
    let stop = SamplingParams {
        stop: vec!["Marisport".into()],
        ..SamplingParams::greedy(40)
    };
    let mut streamed = String::new();
    let cut = engine
        .generate(&prompt, &stop, |p| streamed.push_str(p))
        .unwrap();
    assert_eq!(cut.finish_reason, FinishReason::Stop);
    assert!(!cut.text.contains("Marisport"), "{:?}", cut.text);
    assert!(g.text.starts_with(&cut.text));
    assert_eq!(streamed, cut.text);
    let short = engine
        .generate(&prompt, &SamplingParams::greedy(3), |_| {})
        .unwrap();
    assert_eq!(short.finish_reason, FinishReason::Length);
    assert_eq!(short.token_ids.len(), 3);
}

#[test]
fn seeded_sampling_reproduces_and_bad_parameters_are_refused() {
    let engine = smollm2();
    let prompt = engine
        .encode(
            &engine
                .chat_prompt(&[ChatMessage::new("user", "Write a word.")], false)
                .unwrap(),
        )
        .unwrap();
    let params = SamplingParams {
        temperature: 0.9,
        top_p: 0.95,
        top_k: 40,
        seed: Some(11),
        max_new_tokens: 12,
        ..SamplingParams::default()
    };
    let a = engine.generate(&prompt, &params, |_| {}).unwrap();
    let b = engine.generate(&prompt, &params, |_| {}).unwrap();
    assert_eq!(a.token_ids, b.token_ids);
    let bad = SamplingParams {
        top_p: 1.5,
        ..SamplingParams::default()
    };
    let e = engine
        .generate(&prompt, &bad, |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("top_p"), "{e}");
    let e = engine
        .generate(&[], &SamplingParams::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
}

/// Copies a fixture checkpoint into a temporary folder, editing its
/// config.json.
fn broken(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("tiny-llama");
    std::fs::copy(
        src.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    dir
}

fn load_error(dir: &Path) -> String {
    match Checkpoint::open(dir, &Device::Cpu, DType::F32).and_then(|c| Model::load(&c)) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_checkpoints_name_the_tensor_field_or_file() {
    let d = broken(|c| c["num_hidden_layers"] = 3.into());
    let e = load_error(d.path());
    assert!(
        e.contains("model.layers.2.") && e.contains("missing"),
        "{e}"
    );

    let d = broken(|c| c["intermediate_size"] = 256.into());
    let e = load_error(d.path());
    assert!(
        e.contains("mlp.gate_proj.weight") && e.contains("[128, 64]"),
        "{e}"
    );

    let d = broken(|c| c["architectures"] = serde_json::json!(["GPT2LMHeadModel"]));
    let e = load_error(d.path());
    assert!(e.contains("GPT2LMHeadModel"), "{e}");

    let d = broken(|c| {
        c.as_object_mut().unwrap().remove("hidden_size");
    });
    let e = load_error(d.path());
    assert!(e.contains("hidden_size"), "{e}");

    let d = broken(|_| {});
    std::fs::remove_file(d.path().join("model.safetensors")).unwrap();
    let e = load_error(d.path());
    assert!(e.contains("model.safetensors"), "{e}");

    let e = load_error(&fixtures().join("no-such-model"));
    assert!(e.contains("no such model"), "{e}");
}
