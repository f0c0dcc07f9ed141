//! The same logits however the work is laid out: through the serving
//! engine's paged KV pool (one batch-wide attention call per layer), over
//! several devices on the CPU with tensor parallelism (heads and MLP
//! sharded, partial sums all-reduced) and pipeline parallelism (layer
//! ranges), as with contiguous caches on one device, for chunked prompts
//! of different lengths in one packed batch and then batched decoding.

mod common;
use candle_core::{DType, Device, Tensor};
use common::relative;
use std::path::PathBuf;
use zhishu_engine::parallel::split_layers;
use zhishu_engine::serving::blocks::BlockId;
use zhishu_engine::serving::paged::{KvPools, KvStore, PagedKv, PagedSeq};
use zhishu_engine::serving::reference::TensorKv;
use zhishu_engine::{
    Checkpoint, ContiguousCache, EngineError, Logits, Model, PipelineParallel, Placement, SeqInput,
    TensorParallel,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn open(name: &str) -> Checkpoint {
    Checkpoint::open(&fixture(name), &Device::Cpu, DType::F32).unwrap()
}

/// Chunks of three prompts (13, 5 and 22 tokens, 12 at a time), then three
/// batched decode steps.
fn steps() -> Vec<Vec<Vec<u32>>> {
    let prompts: Vec<Vec<u32>> = [13u32, 5, 22]
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|t| (t * 7 + i as u32 * 31) % 500 + 3).collect())
        .collect();
    let mut steps = Vec::new();
    // 12 rows: more than one of the paged kernel's 8-row tiles.
    for k in 0..2 {
        steps.push(
            prompts
                .iter()
                .map(|p| p.iter().skip(k * 12).take(12).copied().collect())
                .collect(),
        );
    }
    for d in 0..3u32 {
        steps.push((0..3u32).map(|i| vec![100 + d * 3 + i]).collect());
    }
    steps
}

fn batch<'a>(step: &'a [Vec<u32>], caches: &'a mut [ContiguousCache]) -> Vec<SeqInput<'a>> {
    caches
        .iter_mut()
        .zip(step)
        .filter(|(_, t)| !t.is_empty())
        .map(|(cache, tokens)| SeqInput {
            tokens,
            cache,
            positions: None,
            logits: Logits::All,
            adapter: None,
        })
        .collect()
}

/// Runs every step through `single` and through `parallel` (given its own
/// caches per shard) and compares the logits within `tolerance`.
fn same_logits(
    single: &Model,
    shards: usize,
    tolerance: f32,
    mut parallel: impl FnMut(&[Vec<u32>], &mut [Vec<ContiguousCache>]) -> Vec<Tensor>,
) {
    let layers = single.config().num_layers;
    let mut one: Vec<ContiguousCache> = (0..3).map(|_| ContiguousCache::new(layers)).collect();
    let mut many: Vec<Vec<ContiguousCache>> = (0..shards)
        .map(|_| (0..3).map(|_| ContiguousCache::new(layers)).collect())
        .collect();
    for (n, step) in steps().iter().enumerate() {
        let want = single.forward(&mut batch(step, &mut one)).unwrap();
        let got = parallel(step, &mut many);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            let e = relative(g, w);
            assert!(e < tolerance, "step {n}: relative error {e}");
        }
    }
}

/// The paged pool, its blocks handed out interleaved as a busy pool would:
/// the CPU kernel's store and the reference path's (candle ops, what GPUs
/// run), both on the CPU.
fn paged_equals_contiguous(model: &Model, tolerance: f32) {
    let c = model.config();
    let (layers, kv, d) = (c.num_layers, c.num_kv_heads, c.head_dim);
    let host = KvPools::one(KvStore::Host(PagedKv::new(layers, kv, d, 4, 64)));
    let reference = KvPools::one(KvStore::Tensors(
        TensorKv::new(layers, kv, d, 4, 64, &Device::Cpu, DType::F32, 1 << 14).unwrap(),
    ));
    for pool in [host, reference] {
        paged_pool_equals_contiguous(model, &pool, tolerance);
    }
}

fn paged_pool_equals_contiguous(model: &Model, pool: &KvPools, tolerance: f32) {
    let tables: Vec<Vec<BlockId>> = (0..3)
        .map(|i| (0..10).map(|b| (b * 3 + i) as BlockId).collect())
        .collect();
    let mut held = [0usize; 3];
    same_logits(model, 1, tolerance, |step, _| {
        let live: Vec<usize> = (0..3).filter(|&i| !step[i].is_empty()).collect();
        let mut views: Vec<PagedSeq<'_>> = live
            .iter()
            .map(|&i| PagedSeq::new(pool, &tables[i], held[i]))
            .collect();
        let mut inputs: Vec<SeqInput<'_>> = live
            .iter()
            .zip(views.iter_mut())
            .map(|(&i, cache)| SeqInput {
                tokens: &step[i],
                cache,
                positions: None,
                logits: Logits::All,
                adapter: None,
            })
            .collect();
        let out = model.forward(&mut inputs).unwrap();
        for &i in &live {
            held[i] += step[i].len();
        }
        out
    });
}

#[test]
fn the_paged_pool_gives_the_logits_of_contiguous_caches() {
    // Qwen3: GQA, q/k norms, half-split rotary.
    paged_equals_contiguous(&Model::load(&open("tiny-qwen3")).unwrap(), 1e-5);
    // Llama: no q/k norms.
    paged_equals_contiguous(&Model::load(&open("tiny-llama")).unwrap(), 1e-5);
    // Llama from GGUF: interleaved rotary, Q8_0 weights (activations are
    // re-quantised per layer, so float-level differences grow a little).
    let ckpt =
        Checkpoint::open(&fixture("tiny-llama-q8_0.gguf"), &Device::Cpu, DType::F32).unwrap();
    paged_equals_contiguous(&Model::load(&ckpt).unwrap(), 1e-3);
}

#[test]
fn tensor_parallel_two_gives_the_logits_of_one_device() {
    for name in ["tiny-qwen3", "tiny-llama"] {
        let single = Model::load(&open(name)).unwrap();
        let tp = TensorParallel::load(&[open(name), open(name)]).unwrap();
        // Each shard holds half the heads and half the MLP.
        let c = single.config();
        assert_eq!(tp.shards()[1].kv_heads(), c.num_kv_heads / 2);
        same_logits(&single, 2, 1e-5, |step, caches| {
            let mut batches: Vec<Vec<SeqInput<'_>>> =
                caches.iter_mut().map(|c| batch(step, c)).collect();
            tp.forward(batches.iter_mut().map(|b| b.as_mut_slice()).collect())
                .unwrap()
        });
    }
}

#[test]
fn pipeline_parallel_two_gives_the_logits_of_one_device() {
    for name in ["tiny-qwen3", "tiny-llama"] {
        let single = Model::load(&open(name)).unwrap();
        let layers = single.config().num_layers;
        let ranges = split_layers(layers, &[1, 1]).unwrap();
        let pp = PipelineParallel::load(&[open(name), open(name)], &ranges).unwrap();
        assert_eq!(pp.stages()[1].placement().layers, ranges[1]);
        same_logits(&single, 1, 1e-5, |step, caches| {
            pp.forward(&mut batch(step, &mut caches[0])).unwrap()
        });
    }
}

#[test]
fn a_split_the_model_cannot_take_is_refused_by_name() {
    // Four query heads, two key/value heads: three shards cannot split them.
    let err = TensorParallel::load(&[open("tiny-qwen3"), open("tiny-qwen3"), open("tiny-qwen3")])
        .err()
        .unwrap();
    assert!(
        matches!(&err, EngineError::Config { field, .. } if field == "num_attention_heads"),
        "{err}"
    );
    let ckpt = open("tiny-qwen3");
    let layers = ckpt.config.num_layers;
    let err = Model::load_part(
        &ckpt,
        Placement {
            layers: 0..layers + 1,
            rank: 0,
            size: 1,
        },
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("num_hidden_layers"), "{err}");
    // A part without the output layer says so instead of guessing.
    let first = Model::load_part(
        &ckpt,
        Placement {
            layers: 0..1,
            rank: 0,
            size: 1,
        },
    )
    .unwrap();
    let mut cache = ContiguousCache::new(layers);
    let err = first
        .forward(&mut [SeqInput {
            tokens: &[5, 6],
            cache: &mut cache,
            positions: None,
            logits: Logits::Last,
            adapter: None,
        }])
        .err()
        .unwrap();
    assert!(err.to_string().contains("no output layer"), "{err}");
}
