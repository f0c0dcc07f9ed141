//! The Qwen3 inference engine: model, weights, YaRN, KV cache, sampler,
//! chat template.
//!
//! The layering follows mistral.rs and vLLM: [`weights`] reads checkpoints,
//! [`model`] is the math (a packed batch of sequences in, logits out, keys
//! and values through the [`cache::KvCache`] trait), [`sampling`] picks
//! tokens, [`chat`] renders prompts, and [`generate`] drives one sequence.
//! The serving layer ([`serving`]: paged KV cache, prefix sharing,
//! continuous batching with chunked prefill) drives `Model::forward` with
//! many sequences per step through the same `KvCache` seam, without
//! touching the math. GPUs sit behind the `cuda` feature ([`devices`] names
//! them); without it everything runs on the CPU.
#![warn(missing_docs)]

pub mod attention;
pub mod cache;
pub mod chat;
pub mod config;
pub mod devices;
mod error;
pub mod generate;
pub mod lora;
pub mod matvec;
pub mod model;
#[cfg(feature = "cuda")]
pub mod nccl;
pub mod parallel;
pub mod quant;
pub mod rope;
pub mod sampling;
pub mod serving;
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use cache::{ContiguousCache, KvCache};
pub use chat::{ChatMessage, ChatTemplate, SplitAnswer, split_thinking};
pub use config::{Architecture, ModelConfig};
pub use error::EngineError;
pub use generate::{Engine, FinishReason, Generation};
pub use model::{Logits, Model, Placement, SeqInput};
pub use parallel::{Collective, LocalCollective, Parts, PipelineParallel, Split, TensorParallel};
pub use sampling::{Sampler, SamplingParams};
pub use serving::{Event, Serving, ServingConfig};
pub use weights::Checkpoint;

/// Fixes the CPU thread count for the process, to the value candle would
/// pick (physical cores, or `RAYON_NUM_THREADS` when set).
///
/// Why: unless `RAYON_NUM_THREADS` is set, candle works the core count out
/// again, by reading `/proc/cpuinfo`, on every CPU matrix product — about
/// 14% of a step of 16 batched decodes in a profile of the serving
/// benchmark. Setting the variable once makes that a lookup.
///
/// # Safety
/// Sets an environment variable: call it first thing in `main`, before any
/// other thread exists.
pub unsafe fn pin_cpu_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        // SAFETY: the caller guarantees no other thread runs yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
    }
}
