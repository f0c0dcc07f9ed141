//! The encoders against reference outputs of sentence-transformers and
//! transformers (PyTorch), produced by `scripts/encoder_fixtures.py` and
//! committed under `tests/fixtures/`.

mod common;

use common::minilm;
use serde_json::Value;
use std::path::{Path, PathBuf};
use zhishu_encoders::{Embedder, EncoderError, Pooling, Reranker};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn check_embedder(model: &Embedder, fx: &Value, min_cosine: f64) {
    let sentences = strings(&fx["sentences"]);
    for (s, ids) in sentences.iter().zip(fx["input_ids"].as_array().unwrap()) {
        let want: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(model.token_ids(s).unwrap(), want, "token ids of {s:?}");
    }
    // One padded batch of everything: padding must not leak into the result.
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let got = model.embed(&refs).unwrap();
    for ((s, g), want) in sentences
        .iter()
        .zip(&got)
        .zip(fx["embeddings"].as_array().unwrap())
    {
        let c = cosine(g, &floats(want));
        assert!(c >= min_cosine, "cosine {c} for {s:?}");
        let norm: f32 = g.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
    }
    // Alone, the same vector as in the batch.
    let alone = model.embed(&refs[..1]).unwrap();
    assert!(
        cosine(
            &alone[0],
            &got[0].iter().map(|x| f64::from(*x)).collect::<Vec<_>>()
        ) > 0.99999
    );
}

/// Both forward passes: the CPU kernel, and the candle-ops one GPUs run
/// (here on the CPU in f32).
fn both_embedders(dir: &std::path::Path) -> [Embedder; 2] {
    [
        Embedder::load(dir).unwrap(),
        Embedder::load_tensor_ops(dir).unwrap(),
    ]
}

#[test]
fn minilm_matches_sentence_transformers() {
    let fx = fixture("minilm_embeddings.json");
    for model in both_embedders(&minilm()) {
        assert_eq!(
            (model.pooling(), model.max_tokens(), model.dimensions()),
            (Pooling::Mean, 256, 384)
        );
        check_embedder(&model, &fx, 0.9999);
    }
    let lengths = floats(&fx["untruncated_lengths"]);
    assert!(
        lengths.iter().any(|l| *l > 256.0),
        "the fixture exercises truncation"
    );
}

#[test]
fn xlm_roberta_embedder_matches_transformers() {
    for model in both_embedders(&fixtures().join("tiny-xlmr-embedder")) {
        assert_eq!(model.pooling(), Pooling::Cls);
        check_embedder(&model, &fixture("tiny_xlmr_embeddings.json"), 0.9999);
    }
}

fn check_reranker(dir: &str, file: &str) {
    let dir = fixtures().join(dir);
    // The CPU kernel, and the candle-ops pass GPUs run.
    for model in [
        Reranker::load(&dir).unwrap(),
        Reranker::load_tensor_ops(&dir).unwrap(),
    ] {
        check_scores(&model, file);
    }
}

fn check_scores(model: &Reranker, file: &str) {
    let fx = fixture(file);
    let pairs: Vec<(String, String)> = fx["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(q, p)| (q.as_str(), p.as_str()))
        .collect();
    let got = model.score(&refs).unwrap();
    for ((pair, g), want) in refs.iter().zip(&got).zip(floats(&fx["scores"])) {
        assert!(
            (f64::from(*g) - want).abs() < 1e-4,
            "{pair:?}: {g} vs {want}"
        );
    }
}

#[test]
fn bert_cross_encoder_matches_transformers() {
    check_reranker("tiny-cross-encoder", "tiny_cross_encoder_scores.json");
}

#[test]
fn xlm_roberta_cross_encoder_matches_transformers() {
    check_reranker(
        "tiny-xlmr-cross-encoder",
        "tiny_xlmr_cross_encoder_scores.json",
    );
}

#[test]
fn broken_folders_name_the_file_or_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let err = Embedder::load(dir.path()).err().unwrap();
    assert!(
        matches!(&err, EncoderError::MissingFile { path } if path.ends_with("config.json")),
        "{err}"
    );

    std::fs::write(
        dir.path().join("config.json"),
        r#"{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}"#,
    )
    .unwrap();
    let err = Embedder::load(dir.path()).err().unwrap();
    assert!(
        err.to_string()
            .contains("unsupported architecture `GPT2LMHeadModel`"),
        "{err}"
    );

    let src = fixtures().join("tiny-cross-encoder");
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let err = Reranker::load(dir.path()).err().unwrap();
    assert!(
        err.to_string().contains("model.safetensors: missing"),
        "{err}"
    );
    std::fs::write(dir.path().join("model.safetensors"), b"not safetensors").unwrap();
    let err = Reranker::load(dir.path()).err().unwrap();
    assert!(err.to_string().contains("cannot read the weights"), "{err}");

    let err = Reranker::load(&minilm()).err().unwrap();
    assert!(err.to_string().contains("not a cross-encoder"), "{err}");
}
