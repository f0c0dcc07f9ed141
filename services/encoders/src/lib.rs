//! Text encoders: embedding models and cross-encoder rerankers on candle.
//!
//! A model is a local folder in the Hugging Face layout (`config.json`,
//! `tokenizer.json`, `model.safetensors` or `pytorch_model.bin`, and for
//! sentence-transformers models `modules.json` and `1_Pooling/config.json`).
//! Two families are supported, each for both jobs:
//!
//! | family | embedders | rerankers |
//! |---|---|---|
//! | BERT | all-MiniLM, bge-small/base/large, e5 | ms-marco-MiniLM cross-encoders |
//! | XLM-RoBERTa | bge-m3, multilingual-e5 | bge-reranker-v2-m3 |
//!
//! [`Embedder`] pools as the model defines (mean or CLS) and L2-normalises;
//! [`Reranker`] scores (query, passage) pairs. Both run our own encoder
//! forward pass (`encoder.rs`) on candle's `gemm` kernels, over the tokens
//! of a batch packed end to end with no padding; on a GPU the same packed
//! pass from candle ops in bf16 (`device.rs`, `Embedder::load_on`). [`EncoderWorker`] is the
//! one place that runs a model, so ingestion and queries never
//! oversubscribe the cores.
#![warn(missing_docs)]

mod batch;
mod device;
mod embedder;
mod encoder;
mod error;
mod folder;
mod reranker;
mod scores;
mod tokens;
mod vmath;
mod worker;

pub use embedder::{Embedder, Output, Pooling, max_sim, row_maxima, weighted_max_sim};

/// The device called `name` (`cpu` or `cuda:N`, as `embedder.device` and
/// `reranker.device` name them).
///
/// # Errors
/// [`EncoderError::Device`] for another name, or a GPU the build or the
/// driver cannot open (a binary built without `--features cuda` says so).
pub fn device(name: &str) -> Result<candle_core::Device, EncoderError> {
    let err = |message: String| EncoderError::Device {
        device: name.to_owned(),
        message,
    };
    if name == "cpu" {
        return Ok(candle_core::Device::Cpu);
    }
    let ordinal = name
        .strip_prefix("cuda:")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| err("not a device: use \"cpu\" or \"cuda:N\"".into()))?;
    candle_core::Device::new_cuda(ordinal).map_err(|e| {
        err(format!(
            "cannot open GPU {ordinal} ({e}); a GPU needs a binary built with `--features cuda` and the NVIDIA driver"
        ))
    })
}
pub use error::EncoderError;
pub use folder::{Architecture, ModelFolder};
pub use reranker::Reranker;
pub use scores::LateScoreStore;
pub use tokens::{PackedTokens, TokenForm};
pub use worker::{
    BatchModel, Batched, Embedded, EncoderWorker, LateDetail, LatePiece, RerankWorker, TextKind,
    Worker, WorkerConfig, WorkerStats,
};
