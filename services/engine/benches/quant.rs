//! Decode speed of 4-bit weights on the CPU, side by side with f32 and
//! GGUF Q8_0 in one run, on one random-weight Qwen3-0.6B-shaped model.
//!
//! ```sh
//! cargo bench -p zhishu-engine --bench quant -- [--dir DIR] \
//!     [--prompt-tokens 64] [--new-tokens 32] [--only int4|q8_0|f32]
//! ```
//!
//! The model is built once into `DIR` (default `~/.cache/zhishu/bench-quant`,
//! about 3.5 GB) from one deterministic random f32 model: `f32/` (safetensors,
//! tied embeddings), `q8_0.gguf` (every matrix Q8_0, as llama.cpp writes it)
//! and `int4/` (compressed-tensors `pack-quantized` W4A16, symmetric, groups
//! of 128, the output projection quantised too, as llm-compressor does when
//! `lm_head` is not ignored). Each is loaded in turn, prefilled with
//! `(i · 7919) mod vocab` and decoded greedily. Reported per model: decode
//! tokens/s, weight bytes read per token, the ceiling those bytes allow at
//! the measured copy bandwidth, and the share of it reached; then int4's
//! speed-up over f32 and over Q8_0.

use candle_core::quantized::gguf_file::Value;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
mod common;
use common::{arg, copy_bandwidth_gb_s};
use zhishu_engine::{Checkpoint, ContiguousCache, KvCache, Logits, Model, SeqInput};

const HIDDEN: usize = 1024;
const INTER: usize = 3072;
const LAYERS: usize = 28;
const HEADS: usize = 16;
const KV_HEADS: usize = 8;
const HEAD_DIM: usize = 128;
const VOCAB: usize = 151_936;
const GROUP: usize = 128;

/// The model's matrices: name (without `.weight`), rows, columns.
fn tensors() -> Vec<(String, usize, usize)> {
    let mut t = vec![("model.embed_tokens".to_owned(), VOCAB, HIDDEN)];
    for i in 0..LAYERS {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.push((p("self_attn.q_proj"), HEADS * HEAD_DIM, HIDDEN));
        t.push((p("self_attn.k_proj"), KV_HEADS * HEAD_DIM, HIDDEN));
        t.push((p("self_attn.v_proj"), KV_HEADS * HEAD_DIM, HIDDEN));
        t.push((p("self_attn.o_proj"), HIDDEN, HEADS * HEAD_DIM));
        t.push((p("mlp.gate_proj"), INTER, HIDDEN));
        t.push((p("mlp.up_proj"), INTER, HIDDEN));
        t.push((p("mlp.down_proj"), HIDDEN, INTER));
    }
    t
}

fn norms() -> Vec<(String, usize)> {
    let mut t = vec![("model.norm".to_owned(), HIDDEN)];
    for i in 0..LAYERS {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        t.push((p("input_layernorm"), HIDDEN));
        t.push((p("post_attention_layernorm"), HIDDEN));
        t.push((p("self_attn.q_norm"), HEAD_DIM));
        t.push((p("self_attn.k_norm"), HEAD_DIM));
    }
    t
}

/// A deterministic matrix for `name`: uniform in ±0.035 (std 0.02).
fn values(name: &str, len: usize) -> Vec<f32> {
    let mut s = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.07
        })
        .collect()
}

fn config(quantization: Option<serde_json::Value>, tied: bool) -> String {
    let mut c = serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
        "hidden_size": HIDDEN, "intermediate_size": INTER, "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
        "vocab_size": VOCAB, "max_position_embeddings": 40960, "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0, "tie_word_embeddings": tied, "eos_token_id": 151645,
    });
    if let Some(q) = quantization {
        c["quantization_config"] = q;
    }
    c.to_string()
}

/// Streams a safetensors file: the header from the shapes, then each
/// tensor's bytes as `bytes(i)` makes them (so no model is held whole).
fn write_safetensors(
    path: &Path,
    entries: &[(String, &str, Vec<usize>, usize)],
    mut bytes: impl FnMut(usize) -> Vec<u8>,
) -> std::io::Result<()> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, dtype, shape, len) in entries {
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len]}),
        );
        offset += len;
    }
    let mut text = serde_json::Value::Object(header).to_string().into_bytes();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&(text.len() as u64).to_le_bytes())?;
    f.write_all(&text)?;
    for (i, (name, _, _, len)) in entries.iter().enumerate() {
        let b = bytes(i);
        assert_eq!(b.len(), *len, "{name}");
        f.write_all(&b)?;
    }
    f.flush()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn build_f32(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), config(None, true))?;
    let mut entries = Vec::new();
    let mut make: Vec<Box<dyn Fn() -> Vec<u8>>> = Vec::new();
    for (name, rows, cols) in tensors() {
        entries.push((
            format!("{name}.weight"),
            "F32",
            vec![rows, cols],
            rows * cols * 4,
        ));
        make.push(Box::new(move || f32_bytes(&values(&name, rows * cols))));
    }
    for (name, len) in norms() {
        entries.push((format!("{name}.weight"), "F32", vec![len], len * 4));
        make.push(Box::new(move || f32_bytes(&vec![1.0; len])));
    }
    write_safetensors(&dir.join("model.safetensors"), &entries, |i| make[i]())
}

/// compressed-tensors `pack-quantized`, symmetric int4 in groups of 128:
/// `weight_packed` `[rows, cols/8]` int32 holding columns `8i + j` at bits
/// `4j` as `q + 8`, `weight_scale` `[rows, cols/128]` bf16.
fn pack_int4(w: &[f32], rows: usize, cols: usize) -> (Vec<u8>, Vec<u8>) {
    let mut words = Vec::with_capacity(rows * cols / 2);
    let mut scales = Vec::with_capacity(rows * cols / GROUP * 2);
    for row in w.chunks_exact(cols) {
        for group in row.chunks_exact(GROUP) {
            let amax = group.iter().fold(0f32, |a, v| a.max(v.abs()));
            let scale = bf16_round(amax / 7.5).max(1e-8);
            scales.extend_from_slice(&((scale.to_bits() >> 16) as u16).to_le_bytes());
            for eight in group.chunks_exact(8) {
                let mut word = 0u32;
                for (j, v) in eight.iter().enumerate() {
                    let q = (v / scale).round().clamp(-8.0, 7.0) as i32 + 8;
                    word |= (q as u32) << (4 * j);
                }
                words.extend_from_slice(&word.to_le_bytes());
            }
        }
    }
    (words, scales)
}

fn bf16_round(x: f32) -> f32 {
    let b = x.to_bits();
    f32::from_bits((b + 0x7fff + ((b >> 16) & 1)) & 0xffff_0000)
}

fn build_int4(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let q = serde_json::json!({
        "quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": [],
        "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
            "num_bits": 4, "type": "int", "symmetric": true, "strategy": "group",
            "group_size": GROUP}}}});
    std::fs::write(dir.join("config.json"), config(Some(q), false))?;
    let mut entries = Vec::new();
    let mut make: Vec<(String, usize, usize, bool)> = Vec::new();
    let mut matrices = tensors();
    // The untied output projection: the embedding's values, quantised.
    matrices.push(("lm_head".into(), VOCAB, HIDDEN));
    for (name, rows, cols) in matrices {
        if name == "model.embed_tokens" {
            entries.push((
                format!("{name}.weight"),
                "F32",
                vec![rows, cols],
                rows * cols * 4,
            ));
            make.push((name, rows, cols, false));
            continue;
        }
        entries.push((
            format!("{name}.weight_packed"),
            "I32",
            vec![rows, cols / 8],
            rows * cols / 2,
        ));
        entries.push((
            format!("{name}.weight_scale"),
            "BF16",
            vec![rows, cols / GROUP],
            rows * cols / GROUP * 2,
        ));
        make.push((name.clone(), rows, cols, true));
        make.push((name, rows, cols, true));
    }
    for (name, len) in norms() {
        entries.push((format!("{name}.weight"), "F32", vec![len], len * 4));
        make.push((name, len, 0, false));
    }
    let mut pending: Option<Vec<u8>> = None;
    write_safetensors(&dir.join("model.safetensors"), &entries, |i| {
        let (name, rows, cols, quantised) = &make[i];
        if *cols == 0 {
            return f32_bytes(&vec![1.0; *rows]);
        }
        let source = if name == "lm_head" {
            "model.embed_tokens"
        } else {
            name
        };
        if !quantised {
            return f32_bytes(&values(source, rows * cols));
        }
        // The packed words come first, then the scales of the same matrix.
        if let Some(scales) = pending.take() {
            return scales;
        }
        let (words, scales) = pack_int4(&values(source, rows * cols), *rows, *cols);
        pending = Some(scales);
        words
    })
}

fn build_q8_0(path: &Path) -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let gguf = |name: &str| -> String {
        let n = name
            .replace("model.embed_tokens", "token_embd")
            .replace("model.norm", "output_norm")
            .replace("model.layers.", "blk.")
            .replace("self_attn.q_proj", "attn_q")
            .replace("self_attn.k_proj", "attn_k")
            .replace("self_attn.v_proj", "attn_v")
            .replace("self_attn.o_proj", "attn_output")
            .replace("self_attn.q_norm", "attn_q_norm")
            .replace("self_attn.k_norm", "attn_k_norm")
            .replace("mlp.gate_proj", "ffn_gate")
            .replace("mlp.up_proj", "ffn_up")
            .replace("mlp.down_proj", "ffn_down")
            .replace("post_attention_layernorm", "ffn_norm")
            .replace("input_layernorm", "attn_norm");
        format!("{n}.weight")
    };
    let mut qs: Vec<(String, QTensor)> = Vec::new();
    for (name, rows, cols) in tensors() {
        let t = Tensor::from_vec(values(&name, rows * cols), (rows, cols), &dev)?;
        qs.push((gguf(&name), QTensor::quantize(&t, GgmlDType::Q8_0)?));
    }
    for (name, len) in norms() {
        let t = Tensor::ones(len, DType::F32, &dev)?;
        qs.push((gguf(&name), QTensor::quantize(&t, GgmlDType::F32)?));
    }
    let meta: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("qwen3".into())),
        ("qwen3.embedding_length", Value::U32(HIDDEN as u32)),
        ("qwen3.feed_forward_length", Value::U32(INTER as u32)),
        ("qwen3.block_count", Value::U32(LAYERS as u32)),
        ("qwen3.attention.head_count", Value::U32(HEADS as u32)),
        ("qwen3.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("qwen3.attention.key_length", Value::U32(HEAD_DIM as u32)),
        ("qwen3.vocab_size", Value::U32(VOCAB as u32)),
        ("qwen3.context_length", Value::U32(40960)),
        ("qwen3.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("qwen3.rope.freq_base", Value::F32(1_000_000.0)),
    ];
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = qs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path)?;
    candle_core::quantized::gguf_file::write(&mut f, &meta_refs, &tensor_refs)
}

struct Row {
    name: &'static str,
    prefill: f64,
    decode: f64,
    bytes: usize,
}

fn measure(name: &'static str, path: &Path, prompt: usize, new: usize) -> Row {
    let ckpt = Checkpoint::open(path, &Device::Cpu, DType::F32).expect("open");
    let model = Model::load(&ckpt).expect("load");
    drop(ckpt);
    let ids: Vec<u32> = (0..prompt).map(|i| ((i * 7919) % VOCAB) as u32).collect();
    let mut cache = ContiguousCache::new(LAYERS);
    let t = Instant::now();
    let out = model
        .forward(&mut [SeqInput {
            tokens: &ids,
            cache: &mut cache,
            positions: None,
            logits: Logits::Last,
            adapter: None,
        }])
        .expect("prefill");
    let prefill = prompt as f64 / t.elapsed().as_secs_f64();
    let mut logits = out[0].to_vec1::<f32>().expect("logits");
    let mut step = |logits: &[f32]| -> Vec<f32> {
        let next = zhishu_engine::sampling::argmax(logits);
        let out = model
            .forward(&mut [SeqInput {
                tokens: &[next],
                cache: &mut cache,
                positions: None,
                logits: Logits::Last,
                adapter: None,
            }])
            .expect("decode");
        out[0].to_vec1::<f32>().expect("logits")
    };
    // One warm-up step (first touches of the decode buffers), then timed.
    logits = step(&logits);
    let t = Instant::now();
    for _ in 0..new {
        logits = step(&logits);
    }
    let decode = new as f64 / t.elapsed().as_secs_f64();
    assert_eq!(cache.len(), prompt + new + 1);
    Row {
        name,
        prefill,
        decode,
        bytes: model.weight_bytes_per_token(),
    }
}

fn main() {
    // SAFETY: first thing in main, before any thread is started.
    unsafe { zhishu_engine::pin_cpu_threads() };
    let args: Vec<String> = std::env::args().collect();
    let dir = arg(&args, "--dir").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".into()))
                .join(".cache/zhishu/bench-quant")
        },
        PathBuf::from,
    );
    let prompt: usize = arg(&args, "--prompt-tokens").map_or(64, |s| s.parse().expect("a number"));
    let new: usize = arg(&args, "--new-tokens").map_or(32, |s| s.parse().expect("a number"));
    std::fs::create_dir_all(&dir).expect("bench folder");
    let (f32_dir, int4_dir, q8) = (dir.join("f32"), dir.join("int4"), dir.join("q8_0.gguf"));
    if !f32_dir.join("model.safetensors").is_file() {
        eprintln!("building {}", f32_dir.display());
        build_f32(&f32_dir).expect("write the f32 model");
    }
    if !int4_dir.join("model.safetensors").is_file() {
        eprintln!("building {}", int4_dir.display());
        build_int4(&int4_dir).expect("write the int4 model");
    }
    if !q8.is_file() {
        eprintln!("building {}", q8.display());
        build_q8_0(&q8).expect("write the Q8_0 model");
    }
    // `--only int4` (or f32, q8_0): one model, e.g. under a profiler.
    if let Some(only) = arg(&args, "--only") {
        let path = match only.as_str() {
            "f32" => f32_dir,
            "q8_0" => q8,
            _ => int4_dir,
        };
        let r = measure("only", &path, prompt, new);
        println!(
            "{only}: decode {:.2} tok/s, prefill {:.1} tok/s",
            r.decode, r.prefill
        );
        return;
    }
    let bandwidth = copy_bandwidth_gb_s();
    let rows = [
        measure("f32", &f32_dir, prompt, new),
        measure("Q8_0 (GGUF)", &q8, prompt, new),
        measure("int4 W4A16 g128", &int4_dir, prompt, new),
    ];
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_default();
    println!(
        "Qwen3-0.6B shape, {prompt}-token prompt, {new} greedy tokens, {threads} threads, copy bandwidth {bandwidth:.1} GB/s\n"
    );
    println!(
        "| weights | prefill tok/s | decode tok/s | MB read per token | ceiling tok/s | % of ceiling |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let ceiling = bandwidth * 1e9 / r.bytes as f64;
        println!(
            "| {} | {:.1} | {:.2} | {:.0} | {:.1} | {:.0}% |",
            r.name,
            r.prefill,
            r.decode,
            r.bytes as f64 / 1e6,
            ceiling,
            100.0 * r.decode / ceiling
        );
    }
    println!(
        "\nint4 decode: {:.2}× f32, {:.2}× Q8_0",
        rows[2].decode / rows[0].decode,
        rows[2].decode / rows[1].decode
    );
}
