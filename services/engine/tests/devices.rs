//! The serving engine over several devices and over the reference
//! attention path, on the CPU: what a GPU box runs, checked here.
//!
//! - `engine.parallel = "tensor"` over three CPU "devices" (SmolLM2's 9
//!   heads and 3 key/value heads split three ways) and `"pipeline"` over
//!   two give the greedy tokens of one device, through `Serving` (paged
//!   pools per rank / per stage, continuous batching) and through
//!   `Engine::generate`.
//! - `AttentionPath::Reference` (candle ops over a gathered copy of the
//!   blocks: the GPU path) gives the tokens of the CPU's paged kernel.
//! - The devices report what they hold.

use candle_core::Device;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;
use zhishu_engine::serving::AttentionPath;
use zhishu_engine::{
    ChatMessage, Engine, Event, Generation, SamplingParams, Serving, ServingConfig, Split,
};

fn model() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR")
        .map_or_else(
            |_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/zhishu/assets")
            },
            PathBuf::from,
        )
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// SmolLM2 over `devices` CPU devices, dense (as `zhishu serve` loads it).
fn load(devices: usize, split: Split) -> Arc<Engine> {
    let on = vec![Device::Cpu; devices];
    Arc::new(
        Engine::load_on(&model(), &on, split, 2 << 30)
            .expect("run scripts/fetch-assets.sh for SmolLM2"),
    )
}

fn prompts(engine: &Engine) -> Vec<Vec<u32>> {
    [
        "How much is refunded for a hotel night in Paris?",
        "公司的差旅报销规定是什么？",
        "Name three colours.",
    ]
    .iter()
    .map(|q| {
        let m = [ChatMessage::new("user", *q)];
        engine
            .encode(&engine.chat_prompt(&m, false).unwrap())
            .unwrap()
    })
    .collect()
}

fn done(mut rx: UnboundedReceiver<Event>) -> Generation {
    loop {
        match rx.blocking_recv().expect("the engine answers") {
            Event::Delta { .. } => {}
            Event::Done(g) => return g,
            Event::Failed(e) => panic!("generation failed: {e}"),
        }
    }
}

/// Every prompt at once through a serving engine of `engine`.
fn served(engine: &Arc<Engine>, config: ServingConfig) -> (Serving, Vec<Vec<u32>>) {
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            // Small steps: prompts are chunked and mixed with decodes.
            max_batch_tokens: 32,
            ..config
        },
    )
    .unwrap();
    let params = SamplingParams::greedy(16);
    let rxs: Vec<_> = prompts(engine)
        .into_iter()
        .map(|p| serving.submit(p, params.clone()).unwrap())
        .collect();
    let tokens = rxs.into_iter().map(|rx| done(rx).token_ids).collect();
    (serving, tokens)
}

#[test]
fn tensor_and_pipeline_parallel_serve_the_tokens_of_one_device() {
    let one = load(1, Split::None);
    let (_, want) = served(&one, ServingConfig::default());
    assert!(want.iter().all(|t| t.len() == 16), "{want:?}");

    let (single, _) = served(&one, ServingConfig::default());
    let tp = load(3, Split::Tensor);
    assert_eq!(tp.parts().ranks(), 3);
    assert_eq!(tp.parts().all()[2].kv_heads(), 1);
    let (serving, got) = served(&tp, ServingConfig::default());
    assert_eq!(got, want, "tensor parallel over 3 devices");
    // Three shards on one host share its KV budget: each holds a third of
    // the heads, so together they hold as many tokens as one device.
    assert_eq!(serving.capacity_tokens(), single.capacity_tokens());
    // The three shards share the host's memory: one device, their weights
    // and KV cache added up; the weights are the model's (plus the
    // embedding each shard keeps whole).
    let devices = serving.devices();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device, "cpu");
    let whole = one.model().weight_bytes() as u64;
    assert!(
        devices[0].weight_bytes > whole && devices[0].weight_bytes < 3 * whole,
        "{} vs {whole}",
        devices[0].weight_bytes
    );
    let m = serving.metrics();
    assert_eq!(
        m.kv_capacity_tokens.get() as usize,
        serving.capacity_tokens()
    );
    assert_eq!(
        m.device_weight_bytes.with_label_values(&["cpu"]).get() as u64,
        devices[0].weight_bytes
    );

    let pp = load(2, Split::Pipeline);
    assert_eq!(pp.parts().all()[1].placement().layers, 15..30);
    let (_, got) = served(&pp, ServingConfig::default());
    assert_eq!(got, want, "pipeline over 2 devices");

    // One request at a time without the serving engine: contiguous caches,
    // one set per rank.
    let p = &prompts(&one)[0];
    let params = SamplingParams::greedy(16);
    let alone = one.generate(p, &params, |_| {}).unwrap().token_ids;
    let sharded = tp.generate(p, &params, |_| {}).unwrap().token_ids;
    assert_eq!(sharded, alone);
}

#[test]
fn the_reference_attention_path_serves_the_tokens_of_the_cpu_kernel() {
    let one = load(1, Split::None);
    let (kernel, want) = served(&one, ServingConfig::default());
    let (reference, got) = served(
        &one,
        ServingConfig {
            attention: AttentionPath::Reference,
            ..ServingConfig::default()
        },
    );
    assert_eq!(got, want);
    // Same budget, same blocks: the reference store is f32 on the CPU too.
    assert_eq!(reference.capacity_tokens(), kernel.capacity_tokens());
}

#[test]
fn a_kv_budget_that_holds_no_block_names_the_device_and_the_setting() {
    let one = load(1, Split::None);
    let err = Serving::start(
        one,
        ServingConfig {
            kv_cache_bytes: 1000,
            ..ServingConfig::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.starts_with("device `cpu`"), "{err}");
    assert!(err.contains("engine.kv_cache_bytes"), "{err}");
}

#[test]
fn a_split_over_one_device_is_refused() {
    let err = Engine::load_on(&model(), &[Device::Cpu], Split::Tensor, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("at least two"), "{err}");
}
