//! Cross-encoders: (query, passage) → relevance score.

use crate::EncoderError;
use crate::batch::{cls_pool, load_tokenizer, pad};
use crate::embedder::{parse_config, var_builder};
use crate::folder::{Architecture, ModelFolder};
use candle_core::{Device, IndexOp, Module, Tensor};
use candle_nn::{Linear, linear};
use candle_transformers::models::{bert, xlm_roberta};
use std::path::Path;
use tokenizers::Tokenizer;

enum Head {
    /// BERT: pooler (dense + tanh over [CLS]) then a linear classifier.
    Bert {
        model: bert::BertModel,
        pooler: Linear,
        classifier: Linear,
    },
    XlmRoberta(xlm_roberta::XLMRobertaForSequenceClassification),
}

/// A cross-encoder, loaded.
pub struct Reranker {
    name: String,
    max_tokens: usize,
    tokenizer: Tokenizer,
    head: Head,
    pad_id: u32,
    device: Device,
}

impl Reranker {
    /// Loads a cross-encoder (`…ForSequenceClassification`) from a folder.
    ///
    /// # Errors
    /// [`EncoderError`] naming the missing file or unsupported architecture.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let folder = ModelFolder::open(dir)?;
        if !folder.classifier {
            return Err(EncoderError::UnsupportedArchitecture {
                path: dir.join("config.json"),
                architecture: format!(
                    "{:?} without a sequence-classification head (not a cross-encoder)",
                    folder.architecture
                ),
            });
        }
        let device = Device::Cpu;
        let vb = var_builder(&folder, &device)?;
        let labels = folder.config["id2label"]
            .as_object()
            .map_or(1, |m| m.len().max(1));
        let head = match folder.architecture {
            Architecture::Bert => {
                let cfg: bert::Config = parse_config(&folder)?;
                let hidden = cfg.hidden_size;
                Head::Bert {
                    model: bert::BertModel::load(vb.clone(), &cfg)?,
                    pooler: linear(hidden, hidden, vb.pp("bert.pooler.dense"))?,
                    classifier: linear(hidden, labels, vb.pp("classifier"))?,
                }
            }
            Architecture::XlmRoberta => {
                let cfg: xlm_roberta::Config = parse_config(&folder)?;
                Head::XlmRoberta(xlm_roberta::XLMRobertaForSequenceClassification::new(
                    labels, &cfg, vb,
                )?)
            }
        };
        let pad_id = folder.config["pad_token_id"].as_u64().unwrap_or(0) as u32;
        Ok(Self {
            name: dir
                .file_name()
                .map_or_else(|| "reranker".into(), |n| n.to_string_lossy().into_owned()),
            max_tokens: folder.max_tokens,
            tokenizer: load_tokenizer(&folder.tokenizer, folder.max_tokens)?,
            head,
            pad_id,
            device,
        })
    }

    /// The model's name (its folder name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Longest (query, passage) pair in tokens; longer pairs are truncated,
    /// the longer side first.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Scores each (query, passage) pair: the model's first logit, higher is
    /// more relevant.
    ///
    /// # Errors
    /// When tokenisation or the model fails.
    pub fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, EncoderError> {
        let encodings = self.encode(pairs)?;
        self.score_encodings(&encodings)
    }

    /// Tokenises (query, passage) pairs as the model reads them.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn encode(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<tokenizers::Encoding>, EncoderError> {
        let inputs: Vec<tokenizers::EncodeInput> =
            pairs.iter().map(|(q, p)| (*q, *p).into()).collect();
        self.tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    }

    /// Scores pairs tokenised by [`Reranker::encode`], padded to the longest.
    ///
    /// # Errors
    /// When the model fails.
    pub fn score_encodings(
        &self,
        encodings: &[tokenizers::Encoding],
    ) -> Result<Vec<f32>, EncoderError> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let batch = pad(encodings, self.pad_id, &self.device)?;
        let logits: Tensor = match &self.head {
            Head::Bert {
                model,
                pooler,
                classifier,
            } => {
                let hidden = model.forward(
                    &batch.input_ids,
                    &batch.token_type_ids,
                    Some(&batch.attention_mask),
                )?;
                let pooled = pooler.forward(&cls_pool(&hidden)?)?.tanh()?;
                classifier.forward(&pooled)?
            }
            Head::XlmRoberta(m) => m.forward(
                &batch.input_ids,
                &batch.attention_mask,
                &batch.token_type_ids,
            )?,
        };
        Ok(logits.i((.., 0))?.to_vec1::<f32>()?)
    }
}
