//! LoRA adapters served unmerged: a sequence with adapter X gets the
//! logits of the base model with X merged (W + B·A·α/r, computed by
//! `scripts/lora_fixtures.py`, not by the engine); one batch mixing two
//! adapters and the base gives each sequence its own logits; tensor- and
//! pipeline-parallel parts carry their share; a GGUF Llama (q/k rows
//! permuted by llama.cpp) takes a transformers-trained adapter; adapters
//! that do not fit the model are refused with the reason.

mod common;
use candle_core::{DType, Device, Tensor};
use common::relative;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use zhishu_engine::lora::LoraAdapter;
use zhishu_engine::parallel::split_layers;
use zhishu_engine::{
    Checkpoint, ContiguousCache, Logits, Model, PipelineParallel, SeqInput, TensorParallel,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn python() -> String {
    std::env::var("ZHISHU_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn script(args: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lora_fixtures.py");
    let status = Command::new(python())
        .arg(&script)
        .args(args)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "{} failed", script.display());
}

/// Adapters x and y for `base` (a fixture folder), with the merged twins.
fn adapters_for(base: &'static str) -> &'static Path {
    static QWEN: OnceLock<tempfile::TempDir> = OnceLock::new();
    static LLAMA: OnceLock<tempfile::TempDir> = OnceLock::new();
    let cell = if base == "tiny-qwen3" { &QWEN } else { &LLAMA };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        script(&[&fixture(base), dir.path()]);
        dir
    })
    .path()
}

fn open(path: &Path) -> Checkpoint {
    Checkpoint::open(path, &Device::Cpu, DType::F32).unwrap()
}

fn adapter(base: &'static str, name: &str, config: &zhishu_engine::ModelConfig) -> LoraAdapter {
    LoraAdapter::open(
        name,
        &adapters_for(base).join(name),
        config,
        Some(base),
        &Device::Cpu,
        DType::F32,
    )
    .unwrap()
}

/// A 20-token prompt, then three decode steps.
fn steps(seed: u32) -> Vec<Vec<u32>> {
    let mut s = vec![(0..20u32).map(|t| (t * 31 + seed * 7) % 500 + 3).collect()];
    s.extend((0..3u32).map(|d| vec![50 + d + seed]));
    s
}

/// Every step's logits of one sequence run alone.
fn alone(model: &Model, adapter: Option<usize>, seed: u32) -> Vec<Tensor> {
    let mut cache = ContiguousCache::new(model.config().num_layers);
    steps(seed)
        .iter()
        .map(|tokens| {
            model
                .forward(&mut [SeqInput {
                    tokens,
                    cache: &mut cache,
                    positions: None,
                    logits: Logits::All,
                    adapter,
                }])
                .unwrap()
                .remove(0)
        })
        .collect()
}

#[test]
fn an_adapter_gives_the_logits_of_the_base_with_it_merged() {
    let ckpt = open(&fixture("tiny-qwen3"));
    let mut model = Model::load(&ckpt).unwrap();
    let x = model
        .add_adapter(&adapter("tiny-qwen3", "x", &ckpt.config))
        .unwrap();
    let y = model
        .add_adapter(&adapter("tiny-qwen3", "y", &ckpt.config))
        .unwrap();
    for (name, index) in [("x", x), ("y", y)] {
        let merged = Model::load(&open(
            &adapters_for("tiny-qwen3").join(format!("{name}-merged")),
        ))
        .unwrap();
        let base = alone(&model, None, 1);
        for (step, ((got, want), plain)) in alone(&model, Some(index), 1)
            .iter()
            .zip(alone(&merged, None, 1))
            .zip(&base)
            .enumerate()
        {
            let e = relative(got, &want);
            assert!(e <= 1e-4, "adapter {name}, step {step}: relative error {e}");
            // The adapter changes the answer: the test would notice one
            // that is ignored.
            assert!(
                relative(plain, &want) > 1e-2,
                "adapter {name} changed nothing"
            );
        }
    }
}

#[test]
fn a_batch_mixing_two_adapters_and_the_base_gives_each_its_own_logits() {
    let ckpt = open(&fixture("tiny-qwen3"));
    let mut model = Model::load(&ckpt).unwrap();
    let x = model
        .add_adapter(&adapter("tiny-qwen3", "x", &ckpt.config))
        .unwrap();
    let y = model
        .add_adapter(&adapter("tiny-qwen3", "y", &ckpt.config))
        .unwrap();
    // x, base, y, x again (two runs of the same adapter, not neighbours).
    let plan = [(Some(x), 1), (None, 2), (Some(y), 3), (Some(x), 4)];
    let want: Vec<Vec<Tensor>> = plan.iter().map(|&(a, s)| alone(&model, a, s)).collect();
    let layers = model.config().num_layers;
    let mut caches: Vec<ContiguousCache> =
        plan.iter().map(|_| ContiguousCache::new(layers)).collect();
    let all: Vec<Vec<Vec<u32>>> = plan.iter().map(|&(_, s)| steps(s)).collect();
    for step in 0..all[0].len() {
        let mut batch: Vec<SeqInput<'_>> = caches
            .iter_mut()
            .zip(&plan)
            .zip(&all)
            .map(|((cache, &(adapter, _)), s)| SeqInput {
                tokens: &s[step],
                cache,
                positions: None,
                logits: Logits::All,
                adapter,
            })
            .collect();
        let got = model.forward(&mut batch).unwrap();
        for (i, g) in got.iter().enumerate() {
            let e = relative(g, &want[i][step]);
            assert!(e <= 1e-5, "sequence {i}, step {step}: relative error {e}");
        }
    }
}

#[test]
fn parallel_parts_carry_their_share_of_the_adapter() {
    let path = fixture("tiny-qwen3");
    let ckpt = open(&path);
    let mut single = Model::load(&ckpt).unwrap();
    let y = adapter("tiny-qwen3", "y", &ckpt.config);
    let index = single.add_adapter(&y).unwrap();
    let want = alone(&single, Some(index), 5);

    let mut tp = TensorParallel::load(&[open(&path), open(&path)]).unwrap();
    assert_eq!(tp.add_adapter(&y).unwrap(), index);
    let layers = ckpt.config.num_layers;
    let mut caches: Vec<ContiguousCache> = (0..2).map(|_| ContiguousCache::new(layers)).collect();
    for (step, tokens) in steps(5).iter().enumerate() {
        let mut batches: Vec<Vec<SeqInput<'_>>> = caches
            .iter_mut()
            .map(|cache| {
                vec![SeqInput {
                    tokens,
                    cache,
                    positions: None,
                    logits: Logits::All,
                    adapter: Some(index),
                }]
            })
            .collect();
        let got = tp
            .forward(batches.iter_mut().map(|b| b.as_mut_slice()).collect())
            .unwrap();
        let e = relative(&got[0], &want[step]);
        assert!(
            e <= 1e-5,
            "tensor parallel, step {step}: relative error {e}"
        );
    }

    let ranges = split_layers(layers, &[1, 1]).unwrap();
    let mut pp = PipelineParallel::load(&[open(&path), open(&path)], &ranges).unwrap();
    pp.add_adapter(&y).unwrap();
    let mut cache = ContiguousCache::new(layers);
    for (step, tokens) in steps(5).iter().enumerate() {
        let got = pp
            .forward(&mut [SeqInput {
                tokens,
                cache: &mut cache,
                positions: None,
                logits: Logits::All,
                adapter: Some(index),
            }])
            .unwrap();
        let e = relative(&got[0], &want[step]);
        assert!(
            e <= 1e-5,
            "pipeline parallel, step {step}: relative error {e}"
        );
    }
}

#[test]
fn a_gguf_llama_takes_an_adapter_trained_on_transformers_rows() {
    // llama.cpp permutes a Llama's q/k rows; y adapts q and k, so B's rows
    // must be permuted the same way. The GGUF's Q8_0 weights (and its
    // re-quantised activations, here larger under a strong adapter) put it
    // 0.08 from the f32 merge; with B unpermuted it is 1.2 away.
    let gguf = open(&fixture("tiny-llama-q8_0.gguf"));
    let mut model = Model::load(&gguf).unwrap();
    let y = adapter("tiny-llama", "y", &gguf.config);
    let index = model.add_adapter(&y).unwrap();
    let merged = Model::load(&open(&adapters_for("tiny-llama").join("y-merged"))).unwrap();
    for (step, (got, want)) in alone(&model, Some(index), 2)
        .iter()
        .zip(alone(&merged, None, 2))
        .enumerate()
    {
        let e = relative(got, &want);
        assert!(e <= 0.2, "step {step}: relative error {e}");
    }
}

fn write_adapter(dir: &Path, config: serde_json::Value, tensors: &[(&str, Vec<usize>)]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
    let map: std::collections::HashMap<String, Tensor> = tensors
        .iter()
        .map(|(n, shape)| {
            (
                (*n).to_owned(),
                Tensor::zeros(shape.as_slice(), DType::F32, &Device::Cpu).unwrap(),
            )
        })
        .collect();
    candle_core::safetensors::save(&map, dir.join("adapter_model.safetensors")).unwrap();
}

#[test]
fn adapters_that_do_not_fit_the_model_are_refused_with_the_reason() {
    let ckpt = open(&fixture("tiny-qwen3"));
    let c = &ckpt.config;
    let tmp = tempfile::tempdir().unwrap();
    let q = "base_model.model.model.layers.0.self_attn.q_proj";
    let good = serde_json::json!({"peft_type": "LORA", "r": 4, "lora_alpha": 8,
        "target_modules": ["q_proj"], "base_model_name_or_path": "org/tiny-qwen3"});
    let fit = vec![
        (format!("{q}.lora_A.weight"), vec![4, 64]),
        (format!("{q}.lora_B.weight"), vec![64, 4]),
    ];
    let refused = |name: &str, config: serde_json::Value, tensors: Vec<(String, Vec<usize>)>| {
        let dir = tmp.path().join(name);
        let t: Vec<(&str, Vec<usize>)> = tensors
            .iter()
            .map(|(n, s)| (n.as_str(), s.clone()))
            .collect();
        write_adapter(&dir, config, &t);
        LoraAdapter::open(name, &dir, c, Some("tiny-qwen3"), &Device::Cpu, DType::F32)
            .err()
            .map(|e| e.to_string())
    };
    // A fitting adapter loads (the cases below differ in one thing).
    assert_eq!(refused("fits", good.clone(), fit.clone()), None);
    let mut cfg = good.clone();
    cfg["base_model_name_or_path"] = "Qwen/Qwen3-8B".into();
    let e = refused("other-base", cfg, fit.clone()).unwrap();
    assert!(
        e.contains("Qwen/Qwen3-8B") && e.contains("tiny-qwen3"),
        "{e}"
    );
    let wrong = vec![
        (format!("{q}.lora_A.weight"), vec![4, 96]),
        (format!("{q}.lora_B.weight"), vec![64, 4]),
    ];
    let e = refused("shape", good.clone(), wrong).unwrap();
    assert!(e.contains("q_proj") && e.contains("[4, 96]"), "{e}");
    let mut cfg = good.clone();
    cfg["target_modules"] = serde_json::json!(["q_proj", "embed_tokens"]);
    let e = refused("target", cfg, fit.clone()).unwrap();
    assert!(e.contains("embed_tokens"), "{e}");
    let mut cfg = good.clone();
    cfg["use_dora"] = true.into();
    assert!(refused("dora", cfg, fit.clone()).unwrap().contains("DoRA"));
    let deep = vec![
        (
            "base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight".to_owned(),
            vec![4, 64],
        ),
        (
            "base_model.model.model.layers.7.self_attn.q_proj.lora_B.weight".to_owned(),
            vec![64, 4],
        ),
    ];
    let e = refused("layers", good.clone(), deep).unwrap();
    assert!(e.contains("layer 7"), "{e}");
    let lonely = vec![(format!("{q}.lora_A.weight"), vec![4, 64])];
    assert!(
        refused("lonely", good.clone(), lonely)
            .unwrap()
            .contains("partner")
    );
    let missing = tmp.path().join("no-such-adapter");
    let e = LoraAdapter::open("none", &missing, c, None, &Device::Cpu, DType::F32)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("adapter_config.json"), "{e}");
}
