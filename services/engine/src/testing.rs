//! Random-weight checkpoints for tests and benchmarks.
//!
//! Model hubs are out of reach on build machines, and a real Qwen3 is far too
//! large for a test, yet the prompt path must be exercised with Qwen3's own
//! tokenizer, chat template and 131,072-position YaRN context. A tiny
//! Qwen3 with random weights and the real tokenizer gives exactly that: the
//! same token ids, the same template, the same position limits, in a few MB.
//! Its answers are noise, which is all a test of budgets and plumbing needs.

use crate::EngineError;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// The shape of a random Qwen3.
#[derive(Debug, Clone)]
pub struct TinyQwen3 {
    /// Hidden size.
    pub hidden: usize,
    /// Decoder layers.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Per-head dimension.
    pub head_dim: usize,
    /// MLP width.
    pub intermediate: usize,
    /// `max_position_embeddings`; above 32,768 the checkpoint uses Qwen's
    /// YaRN scaling (factor = this ÷ 32,768, as Qwen3's model card says).
    pub max_positions: usize,
}

impl Default for TinyQwen3 {
    /// One layer, hidden 32: quick enough to prefill 128K tokens on a CPU.
    fn default() -> Self {
        Self {
            hidden: 32,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            head_dim: 16,
            intermediate: 64,
            max_positions: 131_072,
        }
    }
}

/// Qwen3's embedding rows (the tokenizer's ids fit below it).
const QWEN3_VOCAB: usize = 151_936;
/// Qwen3's native context, which YaRN stretches.
const ORIGINAL_POSITIONS: usize = 32_768;

/// Writes a random-weight Qwen3 folder at `dir` (config.json,
/// generation_config.json, model.safetensors) with the tokenizer files of
/// `tokenizer_dir` (tokenizer.json and tokenizer_config.json, which holds
/// the chat template).
///
/// # Errors
/// When a tokenizer file is missing or a file cannot be written.
pub fn write_tiny_qwen3(
    dir: &Path,
    tokenizer_dir: &Path,
    spec: &TinyQwen3,
) -> Result<(), EngineError> {
    let io = |what: &Path, e: std::io::Error| EngineError::File {
        path: what.display().to_string(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for file in ["tokenizer.json", "tokenizer_config.json"] {
        let from = tokenizer_dir.join(file);
        std::fs::copy(&from, dir.join(file)).map_err(|e| io(&from, e))?;
    }
    let mut config = serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "attention_bias": false,
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "max_position_embeddings": spec.max_positions,
        "num_attention_heads": spec.heads,
        "num_hidden_layers": spec.layers,
        "num_key_value_heads": spec.kv_heads,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1_000_000.0,
        "tie_word_embeddings": true,
        "torch_dtype": "float32",
        "vocab_size": QWEN3_VOCAB,
    });
    if spec.max_positions > ORIGINAL_POSITIONS {
        config["rope_scaling"] = serde_json::json!({
            "rope_type": "yarn",
            "factor": spec.max_positions as f64 / ORIGINAL_POSITIONS as f64,
            "original_max_position_embeddings": ORIGINAL_POSITIONS,
        });
    }
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))
    };
    write("config.json", config.to_string())?;
    write(
        "generation_config.json",
        serde_json::json!({"eos_token_id": [151645, 151643]}).to_string(),
    )?;

    let dev = Device::Cpu;
    let t = |shape: &[usize], std: f64| -> Result<Tensor, EngineError> {
        Ok(Tensor::randn(0f32, std as f32, shape, &dev)?.to_dtype(DType::F32)?)
    };
    let ones = |n: usize| -> Result<Tensor, EngineError> { Ok(Tensor::ones(n, DType::F32, &dev)?) };
    let (h, hd) = (spec.hidden, spec.head_dim);
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    tensors.insert(
        "model.embed_tokens.weight".into(),
        t(&[QWEN3_VOCAB, h], 0.02)?,
    );
    tensors.insert("model.norm.weight".into(), ones(h)?);
    for i in 0..spec.layers {
        let p = |rest: &str| format!("model.layers.{i}.{rest}.weight");
        tensors.insert(p("self_attn.q_proj"), t(&[spec.heads * hd, h], 0.02)?);
        tensors.insert(p("self_attn.k_proj"), t(&[spec.kv_heads * hd, h], 0.02)?);
        tensors.insert(p("self_attn.v_proj"), t(&[spec.kv_heads * hd, h], 0.02)?);
        tensors.insert(p("self_attn.o_proj"), t(&[h, spec.heads * hd], 0.02)?);
        tensors.insert(p("self_attn.q_norm"), ones(hd)?);
        tensors.insert(p("self_attn.k_norm"), ones(hd)?);
        tensors.insert(p("mlp.gate_proj"), t(&[spec.intermediate, h], 0.02)?);
        tensors.insert(p("mlp.up_proj"), t(&[spec.intermediate, h], 0.02)?);
        tensors.insert(p("mlp.down_proj"), t(&[h, spec.intermediate], 0.02)?);
        tensors.insert(p("input_layernorm"), ones(h)?);
        tensors.insert(p("post_attention_layernorm"), ones(h)?);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}
