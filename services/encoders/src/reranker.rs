//! Cross-encoders: (query, passage) → relevance score.

use crate::EncoderError;
use crate::batch::load_tokenizer;
use crate::device::Backbone;
use crate::encoder::{Dense, backbone_prefix};
use crate::folder::{Architecture, ModelFolder};
use candle_core::Device;
use std::path::Path;
use tokenizers::Tokenizer;

/// The classification head over the first token's hidden state: BERT's
/// pooler (dense + tanh) then its classifier; XLM-RoBERTa's dense + tanh
/// then its output projection. The same two steps under other names.
struct Head {
    dense: Dense,
    out: Dense,
}

/// A cross-encoder, loaded.
pub struct Reranker {
    name: String,
    max_tokens: usize,
    tokenizer: Tokenizer,
    encoder: Backbone,
    head: Head,
}

impl Reranker {
    /// Loads a cross-encoder (`…ForSequenceClassification`) from a folder,
    /// on the CPU.
    ///
    /// # Errors
    /// [`EncoderError`] naming the missing file or unsupported architecture.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`Reranker::load`] on `device`: the CPU kernel on the CPU, candle
    /// ops in bf16 on a GPU (the classification head runs on the host).
    ///
    /// # Errors
    /// As [`Reranker::load`].
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        Self::load_inner(dir, device, false)
    }

    /// The GPU's forward pass (candle ops) run on the CPU in f32, for
    /// checking against the CPU kernel.
    ///
    /// # Errors
    /// As [`Reranker::load`].
    pub fn load_tensor_ops(dir: &Path) -> Result<Self, EncoderError> {
        Self::load_inner(dir, &Device::Cpu, true)
    }

    fn load_inner(dir: &Path, device: &Device, ops: bool) -> Result<Self, EncoderError> {
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
        let (encoder, vb) =
            Backbone::load(&folder, device, ops, |vb| backbone_prefix(&folder, vb))?;
        let labels = folder.config["id2label"]
            .as_object()
            .map_or(1, |m| m.len().max(1));
        let hidden = encoder.hidden_size();
        let head = match folder.architecture {
            Architecture::Bert => {
                let pooler = if vb.contains_tensor("bert.pooler.dense.weight") {
                    vb.pp("bert.pooler.dense")
                } else {
                    vb.pp("pooler.dense")
                };
                Head {
                    dense: Dense::load(&pooler, hidden, hidden)?,
                    out: Dense::load(&vb.pp("classifier"), hidden, labels)?,
                }
            }
            Architecture::XlmRoberta => Head {
                dense: Dense::load(&vb.pp("classifier.dense"), hidden, hidden)?,
                out: Dense::load(&vb.pp("classifier.out_proj"), hidden, labels)?,
            },
        };
        Ok(Self {
            name: dir
                .file_name()
                .map_or_else(|| "reranker".into(), |n| n.to_string_lossy().into_owned()),
            max_tokens: folder.max_tokens,
            tokenizer: load_tokenizer(&folder.tokenizer, folder.max_tokens)?,
            encoder,
            head,
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
        let rows = encodings.len();
        let first = self.encoder.forward(encodings)?.first();
        let mut pooled = self.head.dense.forward(&first, rows);
        pooled.iter_mut().for_each(|v| *v = v.tanh());
        let logits = self.head.out.forward(&pooled, rows);
        // The first label's logit is the relevance score.
        Ok(logits
            .chunks_exact(self.head.out.outputs())
            .map(|row| row[0])
            .collect())
    }
}
