//! Logits parity with Hugging Face transformers (the reference users
//! trust), on tiny random-weight Qwen3 and Llama checkpoints built and
//! recorded by `scripts/engine_fixtures.py`: a full prompt, incremental
//! decoding through the KV cache, a batch of prompts of different lengths,
//! positions beyond 32K with and without YaRN, sharded safetensors, and
//! GGUF Q8_0 against f32.

use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};
use zhishu_engine::{Checkpoint, ContiguousCache, Logits, Model, SeqInput};

/// "Within 1e-4 relative error": the largest absolute difference over the
/// largest reference magnitude.
const REL_TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(path: &str) -> Model {
    let ckpt = Checkpoint::open(&fixtures().join(path), &Device::Cpu, DType::F32).unwrap();
    Model::load(&ckpt).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

/// Relative error of `got` against `want`, over the columns `want` has.
fn rel_err(got: &[Vec<f32>], want: &[Vec<f32>]) -> f32 {
    assert_eq!(got.len(), want.len(), "row count");
    let mut diff = 0f32;
    let mut scale = 0f32;
    for (g, w) in got.iter().zip(want) {
        for (a, b) in g.iter().zip(w) {
            diff = diff.max((a - b).abs());
            scale = scale.max(b.abs());
        }
    }
    diff / scale.max(1e-12)
}

/// Checks one recorded result block (`logits_head`, `argmax`,
/// `last_logits`) against our `[t, vocab]` logits.
fn check_block(what: &str, got: &[Vec<f32>], block: &Value, tol: f32) {
    let head = matrix(&block["logits_head"]);
    let err = rel_err(got, &head);
    assert!(err < tol, "{what}: logits_head relative error {err}");
    let last = vec![matrix(&Value::Array(vec![block["last_logits"].clone()])).remove(0)];
    let err = rel_err(&got[got.len() - 1..], &last);
    assert!(err < tol, "{what}: last_logits relative error {err}");
    let argmax: Vec<u32> = got
        .iter()
        .map(|r| zhishu_engine::sampling::argmax(r))
        .collect();
    if tol <= REL_TOL {
        assert_eq!(argmax, ids(&block["argmax"]), "{what}: argmax");
    }
}

fn run_all(model: &Model, tokens: &[u32], positions: Option<&[usize]>) -> Vec<Vec<f32>> {
    let mut cache = ContiguousCache::new(model.config().num_layers);
    let out = model
        .forward(&mut [SeqInput {
            tokens,
            cache: &mut cache,
            positions,
            logits: Logits::All,
            adapter: None,
        }])
        .unwrap();
    rows(&out[0])
}

fn full_prompt(model: &Model, r: &Value) {
    let full = &r["full"];
    let got = run_all(model, &ids(&full["ids"]), None);
    let err = rel_err(&got, &matrix(&full["logits"]));
    assert!(err < REL_TOL, "full prompt: relative error {err}");
    check_block("full", &got, full, REL_TOL);
}

fn incremental(model: &Model, r: &Value) {
    let inc = &r["incremental"];
    let tokens = ids(&inc["ids"]);
    let mut cache = ContiguousCache::new(model.config().num_layers);
    let mut got = Vec::new();
    let mut at = 0;
    for n in ids(&inc["chunks"]) {
        let chunk = &tokens[at..at + n as usize];
        at += n as usize;
        let out = model
            .forward(&mut [SeqInput {
                tokens: chunk,
                cache: &mut cache,
                positions: None,
                logits: Logits::All,
                adapter: None,
            }])
            .unwrap();
        got.extend(rows(&out[0]));
    }
    check_block("incremental", &got, inc, REL_TOL);
    // And against our own full recomputation.
    let full = run_all(model, &tokens, None);
    let err = rel_err(&got, &full);
    assert!(err < REL_TOL, "incremental vs full: {err}");
}

fn batch(model: &Model, r: &Value) {
    let prompts: Vec<&Value> = r["batch"]["prompts"].as_array().unwrap().iter().collect();
    let tokens: Vec<Vec<u32>> = prompts.iter().map(|p| ids(&p["ids"])).collect();
    let mut caches: Vec<ContiguousCache> = tokens
        .iter()
        .map(|_| ContiguousCache::new(model.config().num_layers))
        .collect();
    let mut inputs: Vec<SeqInput<'_>> = tokens
        .iter()
        .zip(caches.iter_mut())
        .map(|(t, c)| SeqInput {
            tokens: t,
            cache: c,
            positions: None,
            logits: Logits::All,
            adapter: None,
        })
        .collect();
    let out = model.forward(&mut inputs).unwrap();
    for (i, (o, p)) in out.iter().zip(&prompts).enumerate() {
        check_block(&format!("batch prompt {i}"), &rows(o), p, REL_TOL);
    }
    // A decode step for all three at their own positions, batched, equals
    // each alone.
    let next: Vec<u32> = vec![7, 8, 9];
    let mut inputs: Vec<SeqInput<'_>> = next
        .iter()
        .zip(caches.iter_mut())
        .map(|(t, c)| SeqInput {
            tokens: std::slice::from_ref(t),
            cache: c,
            positions: None,
            logits: Logits::Last,
            adapter: None,
        })
        .collect();
    let batched = model.forward(&mut inputs).unwrap();
    for (i, t) in tokens.iter().enumerate() {
        let mut seq = t.clone();
        seq.push(next[i]);
        let alone = run_all(model, &seq, None);
        let got = vec![batched[i].to_vec1::<f32>().unwrap()];
        let err = rel_err(&got, &alone[alone.len() - 1..]);
        assert!(err < REL_TOL, "batched decode {i}: {err}");
    }
}

fn positions(model: &Model, block: &Value, what: &str) {
    let tokens = ids(&block["ids"]);
    for part in ["near", "far", "spread"] {
        let b = &block[part];
        let pos: Vec<usize> = ids(&b["position_ids"])
            .iter()
            .map(|&p| p as usize)
            .collect();
        let got = run_all(model, &tokens, Some(&pos));
        check_block(
            &format!("{what} {part} (positions {}..)", pos[0]),
            &got,
            b,
            REL_TOL,
        );
    }
}

#[test]
fn qwen3_matches_transformers() {
    let model = load("tiny-qwen3");
    let r = reference("tiny_qwen3_logits.json");
    full_prompt(&model, &r);
    incremental(&model, &r);
    batch(&model, &r);
    positions(&model, &r["far_positions"], "qwen3");
}

#[test]
fn qwen3_with_yarn_matches_transformers_beyond_32k() {
    let model = load("tiny-qwen3-yarn");
    assert_eq!(model.config().max_context(), 131_072);
    let r = reference("tiny_qwen3_yarn_logits.json");
    full_prompt(&model, &r);
    incremental(&model, &r);
    positions(&model, &r["yarn"], "yarn");
}

#[test]
fn llama_matches_transformers_and_shards_load_the_same() {
    let r = reference("tiny_llama_logits.json");
    let model = load("tiny-llama");
    full_prompt(&model, &r);
    incremental(&model, &r);
    batch(&model, &r);
    let sharded = load("tiny-llama-sharded");
    full_prompt(&sharded, &r);
}

/// Q8_0 quantises weights (and, in candle's kernels, activations) to 8
/// bits in blocks of 32: the stated tolerance is 5% of the largest logit,
/// with the same greedy choice at almost every position.
const Q8_TOL: f32 = 0.05;

fn gguf(file: &str, reference_file: &str) {
    let r = reference(reference_file);
    let model = load(file);
    let block = &r["gguf_q8_0"];
    let tokens = ids(&block["ids"]);
    let got = run_all(&model, &tokens, None);
    check_block(
        "gguf q8_0 vs transformers on its dequantised weights",
        &got,
        block,
        Q8_TOL,
    );
    let f32_logits = matrix(&r["full"]["logits"]);
    assert_eq!(ids(&r["full"]["ids"]), tokens);
    let err = rel_err(&got, &f32_logits);
    assert!(err < Q8_TOL, "gguf q8_0 vs f32: relative error {err}");
    let agree = got
        .iter()
        .zip(&f32_logits)
        .filter(|(a, b)| zhishu_engine::sampling::argmax(a) == zhishu_engine::sampling::argmax(b))
        .count();
    assert!(
        agree * 10 >= got.len() * 9,
        "argmax agrees at {agree}/{}",
        got.len()
    );
}

#[test]
fn gguf_q8_0_qwen3_stays_within_tolerance_of_f32() {
    gguf("tiny-qwen3-q8_0.gguf", "tiny_qwen3_logits.json");
}

#[test]
fn gguf_q8_0_llama_with_permuted_rows_stays_within_tolerance_of_f32() {
    gguf("tiny-llama-q8_0.gguf", "tiny_llama_logits.json");
}
