//! The correctness half of the device script (`scripts/gpu-check.sh`): a
//! checkpoint on `--device` against the same checkpoint on the CPU, through
//! the paths `zhishu serve` uses. Prints one JSON object.
//!
//! ```sh
//! cargo bench -p zhishu-engine --bench gpu_check -- \
//!     --model services/engine/tests/fixtures/tiny-qwen3 --device cuda:0
//! ```
//!
//! - **f32 parity**: the prompt's logits on the device (contiguous caches,
//!   then the paged reference pool on the device) against the CPU's, as
//!   the largest relative error, and 16 greedy tokens compared.
//! - **bf16**: 16 greedy tokens on the device in bf16 against the CPU's
//!   f32, counted only while the CPU's top-2 margin is at least 0.1 (a
//!   smaller margin may flip under bf16 rounding and is not a bug).
//! - **kernels** (`cuda` builds): the CUDA attention kernels against the
//!   reference path on the same pool contents, in f32 and bf16, over
//!   scattered block tables with holes, a prefix shared by two sequences,
//!   and prompt and decode rows of lengths that are not a multiple of the
//!   block size in one batch.
//!
//! With `--device cpu` it checks the CPU against itself through the same
//! code (a smoke test of the program, run on the build machine).
//!
//! `--speed` measures instead, on a model of `--config`'s shape (default
//! Qwen3-32B's) with random weights made on the device (`--int4`: the
//! projections as 4-bit blocks, the form AWQ and GPTQ take), through
//! `Serving` (the paged pool, continuous batching) as `zhishu serve` runs:
//! prefill tokens/s of one prompt of each `--prefill` length, decode
//! tokens/s at each `--batches` size (128-token prompts, 64 new tokens),
//! the KV capacity, and `--serving C:P:S:N`: C concurrent requests of P
//! prompt tokens sharing an S-token prefix, N new tokens each: output
//! tokens/s and time to first token p50/p99.
//!
//! ```sh
//! gpu_check --speed --device cuda:0 --prefill 8192,32768 \
//!     --batches 1,16,64 --serving 64:2000:1000:128
//! ```

use candle_core::{DType, Device};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
mod common;
use common::arg;
use tokio::sync::mpsc::UnboundedReceiver;
use zhishu_engine::serving::blocks::BlockId;
#[cfg(feature = "cuda")]
use zhishu_engine::serving::paged::attend_batch;
use zhishu_engine::serving::paged::{KvPools, KvStore, PagedSeq};
use zhishu_engine::serving::reference::TensorKv;
use zhishu_engine::{
    Checkpoint, ContiguousCache, Engine, Event, Generation, KvCache, Logits, Model, ModelConfig,
    Parts, SamplingParams, SeqInput, Serving, ServingConfig, devices,
};

const STEPS: usize = 16;

/// Where a run keeps its keys and values.
enum Cache<'a> {
    /// One growing buffer per layer.
    Contiguous(ContiguousCache),
    /// The paged pool: a view per step over `table`'s blocks, as the
    /// serving engine makes one, holding `held` tokens.
    Paged {
        pools: &'a KvPools,
        table: &'a [BlockId],
        held: usize,
    },
}

/// What a run gives: the prompt's logits as f32 rows, the greedy tokens,
/// and the top-2 margin of each greedy step.
type Run = (Vec<Vec<f32>>, Vec<u32>, Vec<f32>);

/// Logits of every prompt token, then of `STEPS` greedy tokens, through
/// `cache`.
fn run(model: &Model, prompt: &[u32], mut cache: Cache<'_>) -> candle_core::Result<Run> {
    let mut forward = |tokens: &[u32], logits| {
        let mut view;
        let cache: &mut dyn KvCache = match &mut cache {
            Cache::Contiguous(c) => c,
            Cache::Paged { pools, table, held } => {
                view = PagedSeq::new(pools, table, *held);
                *held += tokens.len();
                &mut view
            }
        };
        model
            .forward(&mut [SeqInput {
                tokens,
                cache,
                positions: None,
                logits,
                adapter: None,
            }])
            .map_err(|e| candle_core::Error::Msg(e.to_string()))
    };
    let all = forward(prompt, Logits::All)?.remove(0);
    let rows: Vec<Vec<f32>> = all.to_dtype(DType::F32)?.to_vec2()?;
    let mut last = rows.last().cloned().unwrap_or_default();
    let (mut tokens, mut margins) = (Vec::new(), Vec::new());
    for _ in 0..STEPS {
        let mut order: Vec<usize> = (0..last.len()).collect();
        order.sort_by(|&a, &b| last[b].total_cmp(&last[a]));
        let token = order[0] as u32;
        margins.push(last[order[0]] - last[order[1]]);
        tokens.push(token);
        let out = forward(&[token], Logits::Last)?.remove(0);
        last = out.to_dtype(DType::F32)?.to_vec1()?;
    }
    Ok((rows, tokens, margins))
}

fn relative(got: &[Vec<f32>], want: &[Vec<f32>]) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        num = num.max(f64::from((g - w).abs()));
        den = den.max(f64::from(w.abs()));
    }
    num / den.max(1e-12)
}

fn paged_pool(model: &Model, blocks: usize) -> candle_core::Result<KvPools> {
    let c = model.config();
    Ok(KvPools::one(KvStore::Tensors(TensorKv::new(
        c.num_layers,
        c.num_kv_heads,
        c.head_dim,
        4,
        blocks,
        model.device(),
        model.dtype(),
        1 << 20,
    )?)))
}

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--speed") {
        return speed(&args);
    }
    if let Some(dir) = arg(&args, "--encoder") {
        return encoder(&args, &PathBuf::from(dir));
    }
    if let Some(dir) = arg(&args, "--load") {
        return load(&args, &PathBuf::from(dir));
    }
    let model_dir = arg(&args, "--model").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qwen3"),
        PathBuf::from,
    );
    let name = arg(&args, "--device").unwrap_or_else(|| "cuda:0".into());
    let device = devices::parse(&name)?;
    let prompt: Vec<u32> = (0..37u32).map(|i| (i * 7919) % 500 + 3).collect();

    let cpu = Model::load(&Checkpoint::open(&model_dir, &Device::Cpu, DType::F32)?)?;
    let layers = cpu.config().num_layers;
    let fresh = || Cache::Contiguous(ContiguousCache::new(layers));
    let (want, want_tokens, margins) = run(&cpu, &prompt, fresh())?;

    let f32_model = Model::load(&Checkpoint::open(&model_dir, &device, DType::F32)?)?;
    let (got, got_tokens, _) = run(&f32_model, &prompt, fresh())?;
    // The paged reference pool on the device, blocks handed out backwards.
    let blocks = (prompt.len() + STEPS).div_ceil(4) + 1;
    let pools = paged_pool(&f32_model, blocks)?;
    let table: Vec<BlockId> = (0..blocks as BlockId).rev().collect();
    let paged = Cache::Paged {
        pools: &pools,
        table: &table,
        held: 0,
    };
    let (paged_rows, paged_tokens, _) = run(&f32_model, &prompt, paged)?;

    let bf16 = Model::load(&Checkpoint::open(&model_dir, &device, DType::BF16)?)?;
    let (_, bf16_tokens, _) = run(&bf16, &prompt, fresh())?;
    // Compared while the CPU's margin is clear (and the sequences agree).
    let clear = margins.iter().take_while(|&&m| m >= 0.1).count();
    let bf16_same = bf16_tokens[..clear] == want_tokens[..clear];

    #[cfg(feature = "cuda")]
    let kernels = kernels_vs_reference(&device)?;
    #[cfg(not(feature = "cuda"))]
    let kernels = serde_json::json!({"skipped": "a build without the cuda feature"});
    let kernels_pass = kernels["pass"].as_bool().unwrap_or(true);

    let f32_rel = relative(&got, &want);
    let paged_rel = relative(&paged_rows, &want);
    let report = serde_json::json!({
        "device": name,
        "model": model_dir.display().to_string(),
        "f32_logits_max_relative_error": f32_rel,
        "f32_paged_reference_max_relative_error": paged_rel,
        "f32_greedy_tokens_equal": got_tokens == want_tokens,
        "f32_paged_greedy_tokens_equal": paged_tokens == want_tokens,
        "bf16_greedy_steps_with_clear_margin": clear,
        "bf16_greedy_tokens_equal_where_clear": bf16_same,
        "kernels": kernels,
        "pass": f32_rel < 1e-4 && paged_rel < 1e-4 && got_tokens == want_tokens
            && paged_tokens == want_tokens && bf16_same && kernels_pass,
    });
    println!("{report}");
    Ok(())
}

/// Qwen3-32B's shape (config.json of the release).
const QWEN3_32B: &str = r#"{
    "architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936,
    "hidden_size": 5120, "intermediate_size": 25600, "num_hidden_layers": 64,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "max_position_embeddings": 40960, "tie_word_embeddings": false
}"#;

fn list(args: &[String], name: &str, default: &str) -> Vec<usize> {
    arg(args, name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// A word-level tokenizer of `vocab` tokens `t0`, `t1`, …: the serving
/// engine streams text, and a random model has no tokenizer of its own.
fn tokenizer(vocab: usize) -> Result<tokenizers::Tokenizer, Error> {
    let words: HashMap<String, u32> = (0..vocab as u32).map(|i| (format!("t{i}"), i)).collect();
    let model = tokenizers::models::wordlevel::WordLevel::builder()
        .vocab(words.into_iter().collect())
        .unk_token("t0".into())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(tokenizers::Tokenizer::new(model))
}

fn done(mut rx: UnboundedReceiver<Event>) -> Result<Generation, Error> {
    loop {
        match rx.blocking_recv() {
            Some(Event::Done(g)) => return Ok(g),
            Some(Event::Failed(e)) => return Err(e.into()),
            Some(Event::Delta { .. }) => {}
            None => return Err("the engine stopped".into()),
        }
    }
}

/// Prompt ids `(i × 7919 + salt) mod vocab`, as the transformers baseline
/// uses (salt 0).
fn ids(n: usize, salt: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + salt) % vocab) as u32).collect()
}

/// Submits every prompt at once; returns the wall seconds until the last
/// finished and each request's generation.
fn together(
    serving: &Serving,
    prompts: Vec<Vec<u32>>,
    new_tokens: usize,
) -> Result<(f64, Vec<Generation>), Error> {
    let params = SamplingParams {
        min_new_tokens: new_tokens,
        ..SamplingParams::greedy(new_tokens)
    };
    let started = Instant::now();
    let rxs = prompts
        .into_iter()
        .map(|p| serving.submit(p, params.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let gens = rxs.into_iter().map(done).collect::<Result<Vec<_>, _>>()?;
    Ok((started.elapsed().as_secs_f64(), gens))
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

fn speed(args: &[String]) -> Result<(), Error> {
    let name = arg(args, "--device").unwrap_or_else(|| "cuda:0".into());
    let device = devices::parse(&name)?;
    let json: serde_json::Value = match arg(args, "--config") {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => serde_json::from_str(QWEN3_32B)?,
    };
    let config = ModelConfig::from_hf_value(&json)?;
    let vocab = config.vocab_size;
    let dtype = devices::compute_dtype(&device);
    let started = Instant::now();
    let int4 = args.iter().any(|a| a == "--int4");
    let ckpt = if int4 {
        Checkpoint::random_int4(config, &device, dtype, 0)?
    } else {
        Checkpoint::random(config, &device, dtype, 0)?
    };
    let model = Model::load(&ckpt)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let weight_bytes = model.weight_bytes();
    let per_token = model.weight_bytes_per_token();
    let engine = Arc::new(Engine::from_parts(
        Parts::Whole(Box::new(model)),
        tokenizer(vocab)?,
        "random",
    ));
    let fraction = arg(args, "--kv-fraction").and_then(|f| f.parse().ok());
    let serving = Serving::start(
        engine.clone(),
        ServingConfig {
            kv_cache_fraction: fraction.or(Some(0.9)),
            max_batch_tokens: arg(args, "--max-batch-tokens")
                .and_then(|n| n.parse().ok())
                .unwrap_or(8192),
            max_running: 64,
            max_waiting: 256,
            ..ServingConfig::default()
        },
    )?;
    let mut report = serde_json::json!({
        "device": name,
        "dtype": format!("{dtype:?}"),
        "weights": if int4 { "int4 (ggml Q4_1 blocks, as AWQ/GPTQ load on GPUs)" } else { "dense" },
        "layers": engine.model().config().num_layers,
        "weight_bytes": weight_bytes,
        "weight_bytes_read_per_token": per_token,
        "load_seconds": load_seconds,
        "kv_capacity_tokens": serving.capacity_tokens(),
    });
    let mut prefill = Vec::new();
    for n in list(args, "--prefill", "8192,32768") {
        let (_, g) = together(&serving, vec![ids(n, 0, vocab)], 1)?;
        prefill.push(serde_json::json!({
            "prompt_tokens": n,
            "tokens_s": n as f64 / g[0].prefill_seconds,
        }));
        eprintln!("prefill {n}: {:.1} s", g[0].prefill_seconds);
    }
    report["prefill"] = prefill.into();
    let mut decode = Vec::new();
    for b in list(args, "--batches", "1,16,64") {
        let new = 64;
        let prompts = (0..b).map(|i| ids(128, i * 31 + 1, vocab)).collect();
        let (wall, g) = together(&serving, prompts, new)?;
        // Decode time: the wall time after the last first token.
        let last_first = g
            .iter()
            .map(|g| g.queued_seconds + g.prefill_seconds)
            .fold(0.0, f64::max);
        let tokens = (b * (new - 1)) as f64;
        decode.push(serde_json::json!({
            "batch": b,
            "tokens_s": tokens / (wall - last_first).max(1e-9),
        }));
        eprintln!("decode batch {b}: {wall:.1} s");
    }
    report["decode"] = decode.into();
    if let Some(spec) = arg(args, "--serving") {
        let v: Vec<usize> = spec.split(':').filter_map(|n| n.parse().ok()).collect();
        let [c, p, shared, new] = v[..] else {
            return Err("--serving wants C:P:S:N".into());
        };
        let prefix = ids(shared, 7, vocab);
        let prompts = (0..c)
            .map(|i| {
                let mut t = prefix.clone();
                t.extend(ids(p - shared, 1000 + i * 13, vocab));
                t
            })
            .collect();
        let (wall, g) = together(&serving, prompts, new)?;
        let ttft: Vec<f64> = g
            .iter()
            .map(|g| g.queued_seconds + g.prefill_seconds)
            .collect();
        report["serving"] = serde_json::json!({
            "concurrency": c,
            "prompt_tokens": p,
            "shared_prefix_tokens": shared,
            "new_tokens": new,
            "output_tokens_s": g.iter().map(|g| g.token_ids.len()).sum::<usize>() as f64 / wall,
            "ttft_p50_s": percentile(ttft.clone(), 0.5),
            "ttft_p99_s": percentile(ttft, 0.99),
            "prefix_hit_rate": serving.metrics().prefix_hit_rate.get(),
        });
    }
    println!("{report}");
    Ok(())
}

fn encoder(args: &[String], dir: &std::path::Path) -> Result<(), Error> {
    let name = arg(args, "--device").unwrap_or_else(|| "cuda:0".into());
    let device = zhishu_encoders::device(&name)?;
    let texts = std::fs::read_to_string(arg(args, "--texts").ok_or("--texts FILE")?)?;
    let texts: Vec<&str> = texts.lines().filter(|l| !l.is_empty()).collect();
    let embedder = zhishu_encoders::Embedder::load_on(dir, &device)?;
    let counts = embedder.token_counts(&texts)?;
    // Batches of at most 16,384 tokens, in order.
    let mut batches: Vec<Vec<&str>> = vec![Vec::new()];
    let mut tokens = 0;
    for (t, &n) in texts.iter().zip(&counts) {
        let n = n.min(embedder.max_tokens());
        if tokens + n > 16_384 && !batches[batches.len() - 1].is_empty() {
            batches.push(Vec::new());
            tokens = 0;
        }
        tokens += n;
        if let Some(last) = batches.last_mut() {
            last.push(t);
        }
    }
    embedder.embed(&batches[0])?;
    let started = Instant::now();
    for b in &batches {
        embedder.embed(b)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "device": name,
        "model": dir.display().to_string(),
        "chunks": texts.len(),
        "mean_tokens": counts.iter().sum::<usize>() as f64 / texts.len().max(1) as f64,
        "chunks_s": texts.len() as f64 / seconds,
    });
    println!("{report}");
    Ok(())
}

/// One packed step through `pools`: every (start, new rows) sequence with
/// its table, queries and keys/values taken from the shared random data.
#[cfg(feature = "cuda")]
fn step(
    pools: &KvPools,
    seqs: &[(usize, usize)],
    tables: &[Vec<BlockId>],
    q: &candle_core::Tensor,
    k: &candle_core::Tensor,
    v: &candle_core::Tensor,
) -> candle_core::Result<candle_core::Tensor> {
    let views: Vec<PagedSeq<'_>> = seqs
        .iter()
        .zip(tables)
        .map(|(&(start, _), t)| PagedSeq::new(pools, t, start))
        .collect();
    let refs: Vec<_> = views.iter().map(|v| v.paged()).collect();
    let mut spans = Vec::new();
    let mut off = 0;
    for &(_, n) in seqs {
        spans.push((off, n));
        off += n;
    }
    let rows = |x: &candle_core::Tensor| x.narrow(0, 0, off);
    attend_batch(&refs, 0, &rows(q)?, &rows(k)?, &rows(v)?, &spans, 0.088)?
        .ok_or_else(|| candle_core::Error::Msg("not one pool".into()))
}

#[cfg(feature = "cuda")]
fn kernels_vs_reference(device: &Device) -> Result<serde_json::Value, Error> {
    use candle_core::Tensor;
    let (heads, kv, d, bs, blocks) = (8, 2, 128, 16, 256);
    // Sequence 0 caches 37 tokens; then one batch: 0 decodes, 1 shares 0's
    // first two blocks (32 cached tokens) and adds 20, 2 decodes its first
    // token, 3 is a 50-token prompt, 4 decodes after 300.
    let first = [(0usize, 37usize)];
    let batch: [(usize, usize); 5] = [(37, 1), (32, 20), (0, 1), (0, 50), (300, 1)];
    let mut next = 3u32;
    let mut fresh = || {
        next += 2; // every other block left as a hole
        next % blocks as u32
    };
    let mut tables: Vec<Vec<BlockId>> = batch
        .iter()
        .map(|&(s, n)| (0..(s + n).div_ceil(bs)).map(|_| fresh()).collect())
        .collect();
    tables[1][0] = tables[0][0];
    tables[1][1] = tables[0][1];
    let mut report = serde_json::Map::new();
    let mut pass = true;
    for (dtype, tolerance) in [(DType::F32, 1e-4f32), (DType::BF16, 2e-2)] {
        let rows = 400;
        let rand = |n| Tensor::randn(0f32, 1.0, (rows, n, d), device)?.to_dtype(dtype);
        let (q, k, v) = (rand(heads)?, rand(kv)?, rand(kv)?);
        let pool = |kernels: bool| -> candle_core::Result<KvPools> {
            let t = TensorKv::new(1, kv, d, bs, blocks, device, dtype, 1 << 22)?;
            Ok(KvPools::one(KvStore::Tensors(if kernels {
                t.with_kernels()
            } else {
                t
            })))
        };
        let mut diffs = Vec::new();
        for kernels in [false, true] {
            let pools = pool(kernels)?;
            let a = step(&pools, &first, &tables[..1], &q, &k, &v)?;
            // The batch reads rows after the first step's 37.
            let shift = |x: &Tensor| x.narrow(0, 37, rows - 37);
            let b = step(
                &pools,
                &batch,
                &tables,
                &shift(&q)?,
                &shift(&k)?,
                &shift(&v)?,
            )?;
            diffs.push((a.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?));
        }
        let rel = |x: &Tensor, y: &Tensor| -> candle_core::Result<f32> {
            let num = (x - y)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let den = y.abs()?.max_all()?.to_scalar::<f32>()?;
            Ok(num / den.max(1e-12))
        };
        let e1 = rel(&diffs[1].0, &diffs[0].0)?;
        let e2 = rel(&diffs[1].1, &diffs[0].1)?;
        pass &= e1 <= tolerance && e2 <= tolerance;
        report.insert(
            format!("{dtype:?}"),
            serde_json::json!({"prefill_rel_error": e1, "batch_rel_error": e2, "tolerance": tolerance}),
        );
    }
    report.insert("pass".into(), pass.into());
    Ok(report.into())
}

/// `RssAnon` of this process, in bytes.
fn anon_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn load(args: &[String], dir: &std::path::Path) -> Result<(), Error> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let name = arg(args, "--device").unwrap_or_else(|| "cuda:0".into());
    let device = devices::parse(&name)?;
    let largest_shard = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .max()
        .unwrap_or(0);
    let before = anon_rss();
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(anon_rss(), Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let started = Instant::now();
    let model = Model::load(&Checkpoint::open(
        dir,
        &device,
        devices::compute_dtype(&device),
    )?)?;
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().map_err(|_| "the memory sampler panicked")?;
    let report = serde_json::json!({
        "device": name,
        "model": dir.display().to_string(),
        "load_seconds": seconds,
        "weight_bytes": model.weight_bytes(),
        "largest_shard_bytes": largest_shard,
        "peak_host_anon_bytes_during_load": peak.load(Ordering::Relaxed).saturating_sub(before),
    });
    println!("{report}");
    Ok(())
}
