//! What can go wrong loading or running a model.

use thiserror::Error;

/// Engine errors. Each names the file, tensor or field concerned and, where
/// there is one, what to do about it.
#[derive(Debug, Error)]
pub enum EngineError {
    /// A configuration field is missing or has a value the engine cannot run.
    #[error("model configuration: `{field}`: {message}")]
    Config {
        /// The field (as written in config.json or GGUF metadata).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The checkpoint is of a family this engine does not implement.
    #[error("unsupported architecture `{0}`: this engine runs Qwen3 and Llama-architecture models")]
    Architecture(String),
    /// A weight the model needs is not in the checkpoint.
    #[error("tensor `{0}` is missing from the checkpoint")]
    MissingTensor(String),
    /// A weight has the wrong shape.
    #[error("tensor `{name}` has shape {got:?}, expected {want:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// Its shape in the file.
        got: Vec<usize>,
        /// The shape the configuration implies.
        want: Vec<usize>,
    },
    /// A file is missing or unreadable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The tokenizer or chat template cannot be used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// A device cannot be used, or the model does not fit it.
    #[error("device `{device}`: {message}")]
    Device {
        /// The device as configured (`cpu`, `cuda:N`).
        device: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A request the engine cannot serve (too long, bad parameters).
    #[error("{0}")]
    Request(String),
    /// The serving engine's queue is full: retry shortly.
    #[error("the model is busy: {0} requests are already waiting; retry in a few seconds")]
    Busy(usize),
    /// The serving engine's thread has stopped.
    #[error("the generation engine has stopped")]
    Stopped,
    /// A tensor operation failed.
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
}
