//! Errors of the encoders.

use std::path::PathBuf;

/// Why a model could not be loaded or run. `Clone`, so one failed batch can
/// answer every request in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EncoderError {
    /// A file the model needs is not in its folder.
    #[error(
        "{path}: missing; a model folder needs config.json, tokenizer.json and model.safetensors (or pytorch_model.bin)"
    )]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// The folder holds a model of an architecture Zhishu cannot run.
    #[error(
        "{path}: unsupported architecture `{architecture}`; supported: BERT (BertModel, BertForSequenceClassification) and XLM-RoBERTa (XLMRobertaModel, XLMRobertaForSequenceClassification)"
    )]
    UnsupportedArchitecture {
        /// The config file.
        path: PathBuf,
        /// What it declares.
        architecture: String,
    },
    /// A file is present but unreadable or malformed.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Tokenisation failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model failed while running.
    #[error("model: {0}")]
    Model(String),
    /// The encoder worker has stopped.
    #[error("the encoder worker has stopped")]
    Closed,
    /// The configured device cannot be used.
    #[error("device `{device}`: {message}")]
    Device {
        /// The device as configured.
        device: String,
        /// Why, and what to do.
        message: String,
    },
    /// The request is too large.
    #[error("{0}")]
    TooLarge(String),
}

impl From<candle_core::Error> for EncoderError {
    fn from(e: candle_core::Error) -> Self {
        EncoderError::Model(e.to_string())
    }
}
