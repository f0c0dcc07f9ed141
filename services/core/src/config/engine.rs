//! The `[engine]` section: the model, its devices, and how the serving
//! engine spends memory and batches requests.
//!
//! Why these serving defaults: 1 GiB of KV cache holds ~23K tokens of the
//! demo SmolLM2-135M (and ~4K of a Qwen3-0.6B in f32), enough for several
//! concurrent 8K-context answers on a laptop; 512 tokens per step keeps a
//! step's latency, which every streaming answer waits for, near one prompt
//! chunk; 16-token blocks are vLLM's default trade between table size and
//! the memory a half-empty last block wastes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How several devices share the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Parallelism {
    /// One device (default).
    #[default]
    None,
    /// Layer ranges per device.
    Pipeline,
    /// Heads and MLP sharded across devices.
    Tensor,
}

/// How attention reads the paged KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttentionKind {
    /// The CPU's paged kernel on the CPU; on GPUs the reference path
    /// (candle tensor ops over the blocks). Default.
    #[default]
    Auto,
    /// The reference path on every device, the CPU included (for
    /// checking what GPUs run).
    Reference,
    /// Hand-written kernels: the CPU's paged kernel; on GPUs the CUDA
    /// paged-attention kernels (decode and tiled prefill), not yet checked
    /// on a GPU (scripts/gpu-check.sh does).
    Kernels,
}

/// The generation engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// A model folder (safetensors) or a `.gguf` file, relative to
    /// `models.dir` or absolute. Required.
    pub model: PathBuf,
    /// The name clients use for it in the OpenAI-compatible API. Default
    /// `zhishu`.
    #[serde(default = "default_served_name")]
    pub served_name: String,
    /// Devices: `cpu`, `cuda:0`, `cuda:1`, … Default `["cpu"]`.
    #[serde(default = "default_devices")]
    pub devices: Vec<String>,
    /// How several devices share the model. Default `none`.
    #[serde(default)]
    pub parallel: Parallelism,
    /// How attention reads the KV cache: `auto`, `reference` or
    /// `kernels`. Default `auto`.
    #[serde(default)]
    pub attention: AttentionKind,
    /// Largest context in tokens (prompt + answer). Default 8192; Qwen3 with
    /// YaRN allows up to 131072.
    #[serde(default = "default_max_context")]
    pub max_context_tokens: u32,
    /// Bytes of KV cache for the serving engine on each device (keys and
    /// values of the layers or heads it holds, shared by all running
    /// requests; devices of one host share it). Default 1 GiB.
    #[serde(default = "default_kv_cache_bytes")]
    pub kv_cache_bytes: u64,
    /// Instead of `kv_cache_bytes`: this share (0–1] of the memory each
    /// device has free once the weights are loaded (what the driver
    /// reports for a GPU, `MemAvailable` on the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_fraction: Option<f64>,
    /// Tokens per KV block. Default 16.
    #[serde(default = "default_block_size")]
    pub block_size: u32,
    /// Tokens one engine step computes over all requests (prompt chunks and
    /// one token per answering request). Default 512.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: u32,
    /// Requests generating at once; more wait (see `chat.queue`). Default 16.
    #[serde(default = "default_max_running")]
    pub max_running: u32,
    /// Requests share the KV blocks of a common prompt prefix (system
    /// prompt, same sources). Default true.
    #[serde(default = "default_true")]
    pub prefix_caching: bool,
    /// Quantised GGUF weights whose dense (f32 on the CPU) form fits this
    /// many bytes are dequantised at load: a dense matrix product reuses
    /// each weight for every request in a step, which candle's quantised
    /// CPU kernel does not, so batching pays; 0 keeps them quantised
    /// (least memory). Default 2 GiB.
    #[serde(default = "default_dense_weights_max_bytes")]
    pub dense_weights_max_bytes: u64,
    /// LoRA adapters served over the model, unmerged: the name clients
    /// pick in a request's `model` → a PEFT adapter folder
    /// (`adapter_config.json` + `adapter_model.safetensors`), relative to
    /// `models.dir` or absolute. Each is checked against the model at
    /// start. Default none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adapters: BTreeMap<String, PathBuf>,
}

impl EngineConfig {
    /// Checks the serving limits; the error names the key.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.kv_cache_bytes == 0 {
            return Err(("engine.kv_cache_bytes", "must be more than 0".into()));
        }
        if let Some(f) = self.kv_cache_fraction
            && !(f > 0.0 && f <= 1.0)
        {
            return Err((
                "engine.kv_cache_fraction",
                format!("{f} is not a share of memory: use a number in (0, 1]"),
            ));
        }
        if !(1..=1024).contains(&self.block_size) {
            return Err(("engine.block_size", "must be between 1 and 1024".into()));
        }
        if self.max_batch_tokens == 0 {
            return Err(("engine.max_batch_tokens", "must be at least 1".into()));
        }
        if self.max_running == 0 {
            return Err(("engine.max_running", "must be at least 1".into()));
        }
        for name in self.adapters.keys() {
            let ok = !name.is_empty()
                && name.len() <= 128
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_.:/".contains(c));
            if !ok {
                return Err((
                    "engine.adapters",
                    format!(
                        "`{name}` is not an adapter name: use 1-128 letters, digits and - _ . : /"
                    ),
                ));
            }
            if *name == self.served_name {
                return Err((
                    "engine.adapters",
                    format!(
                        "`{name}` is the model's own served_name; give the adapter another name"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn default_kv_cache_bytes() -> u64 {
    1 << 30
}

fn default_dense_weights_max_bytes() -> u64 {
    2 << 30
}

fn default_block_size() -> u32 {
    16
}

fn default_max_batch_tokens() -> u32 {
    512
}

fn default_max_running() -> u32 {
    16
}

fn default_true() -> bool {
    true
}

fn default_served_name() -> String {
    "zhishu".into()
}

fn default_devices() -> Vec<String> {
    vec!["cpu".into()]
}

fn default_max_context() -> u32 {
    8192
}
