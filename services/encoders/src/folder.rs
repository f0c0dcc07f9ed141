//! Reading a model folder: which architecture, which files, which pooling.

use crate::EncoderError;
use crate::embedder::Pooling;
use std::path::{Path, PathBuf};

/// The model families Zhishu runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// BERT (all-MiniLM, bge, e5, ms-marco cross-encoders).
    Bert,
    /// XLM-RoBERTa (bge-m3, multilingual-e5, bge-reranker-v2-m3).
    XlmRoberta,
}

/// A model folder, checked: every file it needs is there and its
/// architecture is supported.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The family.
    pub architecture: Architecture,
    /// Whether `config.json` declares a sequence-classification head.
    pub classifier: bool,
    /// `config.json`, parsed.
    pub config: serde_json::Value,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `model.safetensors` or `pytorch_model.bin`.
    pub weights: PathBuf,
    /// Pooling declared by sentence-transformers (`1_Pooling/config.json`),
    /// if any.
    pub pooling: Option<Pooling>,
    /// Longest input in tokens (sentence-transformers' `max_seq_length`, or
    /// what the position table allows).
    pub max_tokens: usize,
}

fn read_json(path: &Path) -> Result<serde_json::Value, EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EncoderError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => EncoderError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    serde_json::from_str(&text).map_err(|e| EncoderError::Invalid {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })
}

impl ModelFolder {
    /// Checks a folder.
    ///
    /// # Errors
    /// [`EncoderError::MissingFile`] naming the file,
    /// [`EncoderError::UnsupportedArchitecture`] naming the architecture.
    pub fn open(dir: &Path) -> Result<Self, EncoderError> {
        if !dir.is_dir() {
            return Err(EncoderError::MissingFile {
                path: dir.to_path_buf(),
            });
        }
        let config_path = dir.join("config.json");
        let config = read_json(&config_path)?;
        let declared = config["architectures"]
            .get(0)
            .and_then(|a| a.as_str())
            .map(str::to_string)
            .or_else(|| config["model_type"].as_str().map(str::to_string))
            .unwrap_or_else(|| "(none declared)".into());
        let model_type = config["model_type"].as_str().unwrap_or_default();
        let architecture = match (declared.as_str(), model_type) {
            (a, _) if a.starts_with("XLMRoberta") => Architecture::XlmRoberta,
            (_, "xlm-roberta") => Architecture::XlmRoberta,
            (a, _) if a.starts_with("Bert") => Architecture::Bert,
            (_, "bert") => Architecture::Bert,
            _ => {
                return Err(EncoderError::UnsupportedArchitecture {
                    path: config_path,
                    architecture: declared,
                });
            }
        };
        let classifier = declared.ends_with("ForSequenceClassification");
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(EncoderError::MissingFile { path: tokenizer });
        }
        let weights = ["model.safetensors", "pytorch_model.bin"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| EncoderError::MissingFile {
                path: dir.join("model.safetensors"),
            })?;
        let pooling_path = dir.join("1_Pooling/config.json");
        let pooling = if pooling_path.is_file() {
            let p = read_json(&pooling_path)?;
            if p["pooling_mode_cls_token"] == true {
                Some(Pooling::Cls)
            } else if p["pooling_mode_mean_tokens"] == true {
                Some(Pooling::Mean)
            } else {
                return Err(EncoderError::Invalid {
                    path: pooling_path,
                    message: "only CLS and mean pooling are supported".into(),
                });
            }
        } else {
            None
        };
        let positions = config["max_position_embeddings"].as_u64().unwrap_or(512) as usize;
        // XLM-R positions start after the padding index.
        let usable = match architecture {
            Architecture::Bert => positions,
            Architecture::XlmRoberta => positions.saturating_sub(2),
        };
        let st_path = dir.join("sentence_bert_config.json");
        let max_tokens = if st_path.is_file() {
            read_json(&st_path)?["max_seq_length"]
                .as_u64()
                .map_or(usable, |m| (m as usize).min(usable))
        } else {
            usable
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            architecture,
            classifier,
            config,
            tokenizer,
            weights,
            pooling,
            max_tokens,
        })
    }
}
