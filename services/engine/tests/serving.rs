//! The serving engine (paged KV cache, continuous batching, prefix cache,
//! preemption, cancellation) against the one-request-at-a-time path, with
//! SmolLM2-135M (real weights and tokenizer, from the offline assets). The
//! paged forward pass itself is checked against contiguous caches in
//! tests/parallel.rs.

use candle_core::Device;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use zhishu_engine::serving::reference::TensorKv;
use zhishu_engine::{
    ChatMessage, Engine, EngineError, Event, Generation, SamplingParams, Serving, ServingConfig,
};

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

/// SmolLM2 as `zhishu serve` loads it (small enough to be dequantised).
fn smollm2() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| load_smollm2(2 << 30)).clone()
}

/// SmolLM2 with its Q4_1 weights kept quantised (candle's quantised
/// kernels).
fn smollm2_quantised() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| load_smollm2(0)).clone()
}

fn load_smollm2(dense_bytes: u64) -> Arc<Engine> {
    Arc::new(
        Engine::load_with(
            &assets().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
            &Device::Cpu,
            dense_bytes,
        )
        .expect("run scripts/fetch-assets.sh for SmolLM2"),
    )
}

const PASSAGE: &str = "Zhishu's travel policy: employees book economy class for flights under six hours \
    and may book business class above that. Hotel costs are refunded up to 180 euros a night in \
    Paris and 120 euros elsewhere. Receipts must be filed within thirty days of the trip, in the \
    expense tool, with the project code. Taxis are refunded only after 22:00 or with luggage.";

fn prompt(engine: &Engine, question: &str) -> Vec<u32> {
    let messages = [
        ChatMessage::new(
            "system",
            format!("Answer from this policy only.\n\n{PASSAGE}"),
        ),
        ChatMessage::new("user", question),
    ];
    engine
        .encode(&engine.chat_prompt(&messages, false).unwrap())
        .unwrap()
}

fn questions() -> Vec<&'static str> {
    vec![
        "How much is refunded for a hotel night in Paris?",
        "When are taxis refunded?",
        "Which class for a four-hour flight?",
        "What is the deadline for receipts?",
        "What must an expense claim include?",
        "Summarise the policy in one sentence.",
    ]
}

/// Events of one request: the streamed text and tokens, and the end.
fn collect(mut rx: UnboundedReceiver<Event>) -> (String, Vec<u32>, Generation) {
    let (mut text, mut ids) = (String::new(), Vec::new());
    loop {
        match rx.blocking_recv().expect("the engine answers") {
            Event::Delta { text: t, token_ids } => {
                text.push_str(&t);
                ids.extend(token_ids);
            }
            Event::Done(g) => return (text, ids, g),
            Event::Failed(e) => panic!("generation failed: {e}"),
        }
    }
}

/// Each prompt generated alone: one request at a time through a serving
/// engine of its own, without prefix sharing.
///
/// Why not `Engine::generate`: it attends through contiguous caches by
/// matrix products, the serving engine through the paged kernel. Both are
/// exact to ~1e-6 (see `paged_forward_matches_the_contiguous_cache`), but
/// a quantised model re-quantises its activations at every layer, which
/// turns such differences into different roundings and, now and then, a
/// different greedy token. What batching must not change is the serving
/// engine's own answer to a request.
fn alone(engine: &Arc<Engine>, prompts: &[Vec<u32>], params: &SamplingParams) -> Vec<Generation> {
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            prefix_caching: false,
            ..ServingConfig::default()
        },
    )
    .unwrap();
    prompts
        .iter()
        .map(|p| collect(serving.submit(p.clone(), params.clone()).unwrap()).2)
        .collect()
}

/// Every prompt submitted at once; each one's events, in order.
fn together(
    serving: &Serving,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
) -> Vec<(String, Vec<u32>, Generation)> {
    let rxs: Vec<_> = prompts
        .iter()
        .map(|p| serving.submit(p.clone(), params.clone()).unwrap())
        .collect();
    rxs.into_iter().map(collect).collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn concurrent_greedy_requests_give_exactly_what_each_gives_alone() {
    concurrent_equals_alone(smollm2());
    concurrent_equals_alone(smollm2_quantised());
}

fn concurrent_equals_alone(engine: Arc<Engine>) {
    let prompts: Vec<Vec<u32>> = questions().iter().map(|q| prompt(&engine, q)).collect();
    let params = SamplingParams::greedy(24);
    let want = alone(&engine, &prompts, &params);

    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            prefix_caching: false,
            // Small steps, so prompts are chunked and mixed with decodes.
            max_batch_tokens: 64,
            ..ServingConfig::default()
        },
    )
    .unwrap();
    for ((streamed, streamed_ids, got), want) in
        together(&serving, &prompts, &params).into_iter().zip(&want)
    {
        assert_eq!(got.token_ids, want.token_ids, "tokens of {:?}", want.text);
        assert_eq!(got.text, want.text);
        assert_eq!(got.finish_reason, want.finish_reason);
        assert_eq!(streamed, got.text, "the stream adds up to the answer");
        assert_eq!(
            streamed_ids, got.token_ids,
            "the stream carries every token"
        );
        assert_eq!(got.prompt_tokens, want.prompt_tokens);
    }
    // They really ran together: steps held several sequences on average.
    let m = serving.metrics();
    let per_step = m.step_sequences.get_sample_sum() / m.step_sequences.get_sample_count() as f64;
    assert!(per_step > 3.0, "{per_step} sequences per step");
    wait_for("every block is released", || m.kv_blocks_used.get() == 0);
    let finished = |r: &str| m.requests.with_label_values(&[r]).get();
    assert_eq!(finished("length") + finished("stop"), 6);
}

#[test]
fn a_prefix_cache_hit_gives_the_same_output_as_a_miss() {
    let engine = smollm2();
    let prompts: Vec<Vec<u32>> = questions()[..3]
        .iter()
        .map(|q| prompt(&engine, q))
        .collect();
    let params = SamplingParams::greedy(16);
    let want = alone(&engine, &prompts, &params);
    let serving = Serving::start(engine.clone(), ServingConfig::default()).unwrap();
    let m = serving.metrics();
    // One after the other: the second and third find the shared system
    // prompt (the policy) cached by the first.
    for (p, want) in prompts.iter().zip(&want) {
        let (_, _, got) = collect(serving.submit(p.clone(), params.clone()).unwrap());
        assert_eq!(got.token_ids, want.token_ids, "{:?}", want.text);
    }
    let shared = prompts[0]
        .iter()
        .zip(&prompts[1])
        .take_while(|(a, b)| a == b)
        .count();
    assert!(shared > 64, "the prompts share {shared} tokens");
    let hit = m.prefix_hit_tokens.get() as usize;
    assert!(
        hit >= 2 * (shared / 16 * 16),
        "{hit} tokens served from the cache for two prompts sharing {shared}"
    );
    assert!(m.prefix_hit_rate.get() > 0.4, "{}", m.prefix_hit_rate.get());
    // The same prompt again is all a hit but its last token.
    let before = m.prefix_hit_tokens.get() as usize;
    let (_, _, again) = collect(serving.submit(prompts[0].clone(), params.clone()).unwrap());
    assert_eq!(again.token_ids, want[0].token_ids);
    assert_eq!(
        m.prefix_hit_tokens.get() as usize - before,
        (prompts[0].len() - 1) / 16 * 16
    );
}

#[test]
fn preemption_for_lack_of_blocks_does_not_change_outputs() {
    let engine = smollm2();
    // Short prompts and longer answers: admitted while small, they outgrow
    // the pool together.
    let prompts: Vec<Vec<u32>> = questions()[..4]
        .iter()
        .map(|q| {
            let m = [ChatMessage::new("user", *q)];
            engine
                .encode(&engine.chat_prompt(&m, false).unwrap())
                .unwrap()
        })
        .collect();
    let params = SamplingParams {
        min_new_tokens: 40,
        ..SamplingParams::greedy(40)
    };
    let want = alone(&engine, &prompts, &params);
    let c = engine.model().config();
    // f32 on the CPU.
    let block = TensorKv::block_bytes(
        c.num_layers,
        c.num_kv_heads,
        c.head_dim,
        16,
        candle_core::DType::F32,
    );
    // Room for one and a half requests: four at once must take turns.
    let longest = prompts.iter().map(Vec::len).max().unwrap() + 40;
    let blocks = longest.div_ceil(16) * 3 / 2;
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            kv_cache_bytes: blocks * block,
            prefix_caching: false,
            ..ServingConfig::default()
        },
    )
    .unwrap();
    for ((_, _, got), want) in together(&serving, &prompts, &params).into_iter().zip(&want) {
        assert_eq!(got.token_ids, want.token_ids, "{:?}", want.text);
    }
    let m = serving.metrics();
    wait_for("preemptions are counted", || m.preemptions.get() > 0);
    // A request that cannot fit the pool even alone is refused at once.
    let huge = SamplingParams::greedy(blocks * 16);
    let err = serving.submit(prompts[0].clone(), huge).unwrap_err();
    assert!(err.to_string().contains("kv_cache_bytes"), "{err}");
}

#[test]
fn a_client_that_goes_away_frees_its_blocks_and_a_full_queue_refuses_at_once() {
    let engine = smollm2();
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            max_running: 1,
            max_waiting: 1,
            ..ServingConfig::default()
        },
    )
    .unwrap();
    let p = prompt(&engine, "Tell me everything about the travel policy.");
    let mut long = SamplingParams::greedy(400);
    long.stop_token_ids = vec![];
    let mut first = serving.submit(p.clone(), long.clone()).unwrap();
    // The first runs once its first text arrives; the second waits.
    match first.blocking_recv().unwrap() {
        Event::Delta { .. } => {}
        e => panic!("unexpected {e:?}"),
    }
    let second = serving
        .submit(p.clone(), SamplingParams::greedy(4))
        .unwrap();
    let refused = serving
        .submit(p.clone(), SamplingParams::greedy(4))
        .unwrap_err();
    assert!(matches!(refused, EngineError::Busy(_)), "{refused}");
    assert!(refused.to_string().contains("busy"), "{refused}");
    // The first client leaves: its sequence is dropped and the second runs.
    drop(first);
    let (_, _, g) = collect(second);
    assert_eq!(g.token_ids.len(), 4);
    let m = serving.metrics();
    assert_eq!(m.requests.with_label_values(&["cancelled"]).get(), 1);
    wait_for("blocks are released", || m.kv_blocks_used.get() == 0);
    // Bad requests are refused with the reason, before queueing.
    let err = serving
        .submit(vec![], SamplingParams::greedy(4))
        .unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let bad = SamplingParams {
        temperature: -1.0,
        ..SamplingParams::greedy(4)
    };
    assert!(serving.submit(p, bad).is_err());
}

/// SmolLM2 (dequantised, as served) with two random LoRA adapters, `x`
/// (q, v, down; rank 4) and `y` (every projection; rank 8, rsLoRA), made
/// by `scripts/lora_fixtures.py` for its shape.
fn smollm2_with_adapters() -> Arc<Engine> {
    static ENGINE: OnceLock<(Arc<Engine>, tempfile::TempDir)> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lora_fixtures.py");
            let python = std::env::var("ZHISHU_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
            let status = std::process::Command::new(python)
                .arg(&script)
                .args([
                    "--shape",
                    "576,30,9,3,64,1536",
                    "HuggingFaceTB/SmolLM2-135M-Instruct",
                ])
                .arg(dir.path())
                .status()
                .expect("python3 runs");
            assert!(status.success(), "{} failed", script.display());
            let mut engine = Engine::load_with(
                &assets().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"),
                &Device::Cpu,
                2 << 30,
            )
            .expect("run scripts/fetch-assets.sh for SmolLM2");
            assert_eq!(engine.add_adapter("x", &dir.path().join("x")).unwrap(), 0);
            assert_eq!(engine.add_adapter("y", &dir.path().join("y")).unwrap(), 1);
            (Arc::new(engine), dir)
        })
        .0
        .clone()
}

#[test]
fn requests_with_different_adapters_share_steps_and_each_gets_its_own_answer() {
    let engine = smollm2_with_adapters();
    assert_eq!(engine.adapter_names(), ["x", "y"]);
    let q = questions();
    let asks: Vec<(Vec<u32>, Option<usize>)> = vec![
        (prompt(&engine, q[0]), Some(0)),
        (prompt(&engine, q[0]), None),
        (prompt(&engine, q[1]), Some(1)),
        (prompt(&engine, q[2]), Some(0)),
        (prompt(&engine, q[1]), None),
    ];
    let params = SamplingParams::greedy(12);
    // Each alone, in a serving engine of its own.
    let want: Vec<Generation> = asks
        .iter()
        .map(|(p, a)| {
            let serving = Serving::start(
                engine.clone(),
                ServingConfig {
                    prefix_caching: false,
                    ..ServingConfig::default()
                },
            )
            .unwrap();
            collect(serving.submit_with(p.clone(), params.clone(), *a).unwrap()).2
        })
        .collect();
    // The adapter changes the answer to the same prompt.
    assert_ne!(want[0].token_ids, want[1].token_ids);
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            prefix_caching: false,
            max_batch_tokens: 64,
            ..ServingConfig::default()
        },
    )
    .unwrap();
    let rxs: Vec<_> = asks
        .iter()
        .map(|(p, a)| serving.submit_with(p.clone(), params.clone(), *a).unwrap())
        .collect();
    for (rx, want) in rxs.into_iter().zip(&want) {
        let (_, _, got) = collect(rx);
        assert_eq!(got.token_ids, want.token_ids, "{:?}", want.text);
    }
    let m = serving.metrics();
    let per_step = m.step_sequences.get_sample_sum() / m.step_sequences.get_sample_count() as f64;
    assert!(per_step > 2.5, "{per_step} sequences per step");
    // An adapter the model does not hold is refused at submit.
    let err = serving
        .submit_with(asks[0].0.clone(), params, Some(2))
        .err()
        .unwrap();
    assert!(err.to_string().contains("no adapter 2"), "{err}");
}

#[test]
fn the_prefix_cache_never_shares_blocks_across_adapters() {
    let engine = smollm2_with_adapters();
    let p = prompt(&engine, questions()[0]);
    let params = SamplingParams::greedy(4);
    let serving = Serving::start(engine.clone(), ServingConfig::default()).unwrap();
    let m = serving.metrics();
    let run = |adapter: Option<usize>| {
        let before = m.prefix_hit_tokens.get() as usize;
        let (_, _, g) = collect(
            serving
                .submit_with(p.clone(), params.clone(), adapter)
                .unwrap(),
        );
        (m.prefix_hit_tokens.get() as usize - before, g.token_ids)
    };
    let full = (p.len() - 1) / 16 * 16;
    let (hit, x_first) = run(Some(0));
    assert_eq!(hit, 0, "nothing cached yet");
    // The same tokens under another adapter, or none, find nothing.
    assert_eq!(run(Some(1)).0, 0, "adapter y found x's blocks");
    assert_eq!(run(None).0, 0, "the base model found an adapter's blocks");
    // The same adapter again finds all of its own.
    let (hit, x_again) = run(Some(0));
    assert_eq!(hit, full);
    assert_eq!(x_again, x_first, "a hit gives the same answer as a miss");
    assert_eq!(run(None).0, full, "the base model finds its own blocks");
}
