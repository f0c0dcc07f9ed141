//! Embedding models: text → unit vector.

use crate::EncoderError;
use crate::batch::{cls_pool, l2_normalize, load_tokenizer, mean_pool, pad};
use crate::folder::{Architecture, ModelFolder};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use std::path::Path;
use tokenizers::Tokenizer;

/// How token vectors become one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Average over the text's tokens (all-MiniLM, e5).
    Mean,
    /// The first token's vector (bge, bge-m3).
    Cls,
}

pub(crate) enum Backbone {
    Bert(bert::BertModel),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
}

impl Backbone {
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        types: &Tensor,
        mask: &Tensor,
    ) -> Result<Tensor, EncoderError> {
        Ok(match self {
            Backbone::Bert(m) => m.forward(ids, types, Some(mask))?,
            Backbone::XlmRoberta(m) => m.forward(ids, mask, types, None, None, None)?,
        })
    }
}

pub(crate) fn var_builder(
    folder: &ModelFolder,
    device: &Device,
) -> Result<VarBuilder<'static>, EncoderError> {
    let weights = &folder.weights;
    let invalid = |e: candle_core::Error| EncoderError::Invalid {
        path: weights.clone(),
        message: format!("cannot read the weights: {e}"),
    };
    if weights.extension().is_some_and(|e| e == "safetensors") {
        // SAFETY: the file is memory-mapped read-only; Zhishu never writes
        // model files while serving, and a model folder replaced underneath a
        // running process is an operator error documented as such.
        unsafe {
            VarBuilder::from_mmaped_safetensors(std::slice::from_ref(weights), DType::F32, device)
        }
        .map_err(invalid)
    } else {
        VarBuilder::from_pth(weights, DType::F32, device).map_err(invalid)
    }
}

/// Defaults of `transformers` that newer versions leave out of config.json.
const CONFIG_DEFAULTS: [(&str, &str); 9] = [
    ("position_embedding_type", "\"absolute\""),
    ("hidden_act", "\"gelu\""),
    ("hidden_dropout_prob", "0.1"),
    ("attention_probs_dropout_prob", "0.1"),
    ("layer_norm_eps", "1e-12"),
    ("type_vocab_size", "2"),
    ("initializer_range", "0.02"),
    ("pad_token_id", "0"),
    ("max_position_embeddings", "512"),
];

pub(crate) fn parse_config<T: serde::de::DeserializeOwned>(
    folder: &ModelFolder,
) -> Result<T, EncoderError> {
    let mut config = folder.config.clone();
    if let Some(map) = config.as_object_mut() {
        for (key, value) in CONFIG_DEFAULTS {
            if !map.contains_key(key) {
                map.insert(
                    key.to_string(),
                    serde_json::from_str(value).unwrap_or_default(),
                );
            }
        }
    }
    serde_json::from_value(config).map_err(|e| EncoderError::Invalid {
        path: folder.dir.join("config.json"),
        message: format!("unexpected configuration: {e}"),
    })
}

/// An embedding model, loaded.
pub struct Embedder {
    tokenizer: Tokenizer,
    backbone: Backbone,
    pooling: Pooling,
    pad_id: u32,
    max_tokens: usize,
    dimensions: usize,
    device: Device,
    name: String,
}

impl Embedder {
    /// Loads an embedder from a model folder on the CPU. Pooling is what the
    /// folder declares (sentence-transformers), else mean for BERT and CLS
    /// for XLM-RoBERTa (bge-m3's choice).
    ///
    /// # Errors
    /// [`EncoderError`] naming the missing file or unsupported architecture.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let folder = ModelFolder::open(dir)?;
        let device = Device::Cpu;
        let vb = var_builder(&folder, &device)?;
        let (backbone, default_pooling) = match folder.architecture {
            Architecture::Bert => {
                let cfg: bert::Config = parse_config(&folder)?;
                (
                    Backbone::Bert(bert::BertModel::load(vb, &cfg)?),
                    Pooling::Mean,
                )
            }
            Architecture::XlmRoberta => {
                let cfg: xlm_roberta::Config = parse_config(&folder)?;
                let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
                    vb.pp("roberta")
                } else {
                    vb
                };
                (
                    Backbone::XlmRoberta(xlm_roberta::XLMRobertaModel::new(&cfg, vb)?),
                    Pooling::Cls,
                )
            }
        };
        let pad_id = folder.config["pad_token_id"].as_u64().unwrap_or(0) as u32;
        Ok(Self {
            tokenizer: load_tokenizer(&folder.tokenizer, folder.max_tokens)?,
            backbone,
            pooling: folder.pooling.unwrap_or(default_pooling),
            pad_id,
            max_tokens: folder.max_tokens,
            // Both families pool one hidden state, so vectors are as wide
            // as the model.
            dimensions: folder.config["hidden_size"].as_u64().unwrap_or(0) as usize,
            device,
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// The model's name (its folder name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pooling in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Longest input in tokens; longer inputs are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Dimensions of the vectors.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Token counts of texts (before truncation), for batching and metrics.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_counts(&self, texts: &[&str]) -> Result<Vec<usize>, EncoderError> {
        texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(*t, true)
                    .map(|e| {
                        e.get_ids().len()
                            + e.get_overflowing()
                                .iter()
                                .map(|o| o.get_ids().len())
                                .sum::<usize>()
                    })
                    .map_err(|e| EncoderError::Tokenizer(e.to_string()))
            })
            .collect()
    }

    /// Token ids of a text as the model sees it (truncated, with special
    /// tokens).
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EncoderError> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    }

    /// Embeds a batch: one unit vector per text, in order.
    ///
    /// # Errors
    /// When tokenisation or the model fails.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EncoderError> {
        let encodings = self.encode(texts)?;
        self.embed_encodings(&encodings)
    }

    /// Tokenises texts (truncated to [`Embedder::max_tokens`]); an encoding
    /// with overflowing parts was truncated.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<tokenizers::Encoding>, EncoderError> {
        self.tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncoderError::Tokenizer(e.to_string()))
    }

    /// Embeds texts tokenised by [`Embedder::encode`], padded to the longest.
    ///
    /// # Errors
    /// When the model fails.
    pub fn embed_encodings(
        &self,
        encodings: &[tokenizers::Encoding],
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let batch = pad(encodings, self.pad_id, &self.device)?;
        let hidden = self.backbone.forward(
            &batch.input_ids,
            &batch.token_type_ids,
            &batch.attention_mask,
        )?;
        let pooled = match self.pooling {
            Pooling::Mean => mean_pool(&hidden, &batch.attention_mask)?,
            Pooling::Cls => cls_pool(&hidden)?,
        };
        Ok(l2_normalize(&pooled)?.to_vec2::<f32>()?)
    }
}
