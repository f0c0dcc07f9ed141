//! Embedding models: text → unit vector.

use crate::EncoderError;
use crate::batch::load_tokenizer;
use crate::device::Backbone;
use crate::encoder::{backbone_prefix, l2_normalize};
use crate::folder::{Architecture, ModelFolder};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
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

pub(crate) fn var_builder(
    folder: &ModelFolder,
    device: &Device,
    dtype: DType,
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
        unsafe { VarBuilder::from_mmaped_safetensors(std::slice::from_ref(weights), dtype, device) }
            .map_err(invalid)
    } else {
        VarBuilder::from_pth(weights, dtype, device).map_err(invalid)
    }
}

/// [`Embedder::unknown_share`] for any tokenizer: the unknown token is the
/// one the vocabulary names `[UNK]` (WordPiece) or `<unk>` (SentencePiece).
///
/// # Errors
/// When the tokenizer fails.
pub fn unknown_share(tokenizer: &Tokenizer, text: &str) -> Result<f32, EncoderError> {
    let Some(unk) = ["[UNK]", "<unk>"]
        .iter()
        .find_map(|t| tokenizer.token_to_id(t))
    else {
        return Ok(0.0);
    };
    let encoding = tokenizer
        .encode(text, false)
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    let ids = encoding.get_ids();
    if ids.is_empty() {
        return Ok(0.0);
    }
    let unknown = ids.iter().filter(|&&id| id == unk).count();
    Ok(unknown as f32 / ids.len() as f32)
}

/// An embedding model, loaded.
pub struct Embedder {
    tokenizer: Tokenizer,
    encoder: Backbone,
    pooling: Pooling,
    max_tokens: usize,
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
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`Embedder::load`] on `device`: the CPU kernel on the CPU, candle
    /// ops in bf16 on a GPU (the same packed batches).
    ///
    /// # Errors
    /// As [`Embedder::load`].
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self, EncoderError> {
        Self::load_inner(dir, device, false)
    }

    /// The GPU's forward pass (candle ops) run on the CPU in f32: what the
    /// tests compare with the CPU kernel.
    ///
    /// # Errors
    /// As [`Embedder::load`].
    pub fn load_tensor_ops(dir: &Path) -> Result<Self, EncoderError> {
        Self::load_inner(dir, &Device::Cpu, true)
    }

    fn load_inner(dir: &Path, device: &Device, ops: bool) -> Result<Self, EncoderError> {
        let folder = ModelFolder::open(dir)?;
        let (encoder, _) = Backbone::load(&folder, device, ops, |vb| backbone_prefix(&folder, vb))?;
        let default_pooling = match folder.architecture {
            Architecture::Bert => Pooling::Mean,
            Architecture::XlmRoberta => Pooling::Cls,
        };
        Ok(Self {
            tokenizer: load_tokenizer(&folder.tokenizer, folder.max_tokens)?,
            encoder,
            pooling: folder.pooling.unwrap_or(default_pooling),
            max_tokens: folder.max_tokens,
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
        // Both families pool one hidden state, so vectors are as wide as
        // the model.
        self.encoder.hidden_size()
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

    /// The share of a text's tokens (special tokens excluded) that the
    /// vocabulary does not know: 0 when it knows every piece, towards 1 for
    /// a text in a script it was not trained on (all-MiniLM on Chinese).
    /// Fusion trusts dense search less the higher it is.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn unknown_share(&self, text: &str) -> Result<f32, EncoderError> {
        unknown_share(&self.tokenizer, text)
    }

    /// The tokenizer, for callers that tokenise on their own thread.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
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

    /// Embeds texts tokenised by [`Embedder::encode`] (packed, no padding).
    ///
    /// # Errors
    /// When the model fails.
    pub fn embed_encodings(
        &self,
        encodings: &[tokenizers::Encoding],
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let wants = vec![Output::Pooled; encodings.len()];
        self.run(encodings, &wants)
    }

    /// Every token's last hidden state, scaled to unit length: one
    /// row-major `[tokens, dimensions]` matrix per text, special tokens
    /// included, in the encodings' order. What late interaction
    /// ([`max_sim`](crate::max_sim)) compares, token against token.
    ///
    /// # Errors
    /// When the model fails.
    pub fn token_vectors_encodings(
        &self,
        encodings: &[tokenizers::Encoding],
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let wants = vec![Output::Tokens; encodings.len()];
        self.run(encodings, &wants)
    }

    /// One forward pass over a batch, each text giving what it asks for:
    /// its pooled unit vector or its tokens' unit vectors.
    ///
    /// # Errors
    /// When the model fails.
    pub fn run(
        &self,
        encodings: &[tokenizers::Encoding],
        wants: &[Output],
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let hidden = self.encoder.forward(encodings)?;
        let width = self.dimensions();
        // Pooled vectors for every text, when any text wants one.
        let pooled: Vec<Vec<f32>> = if wants.iter().any(|w| *w != Output::Tokens) {
            match self.pooling {
                Pooling::Mean => hidden.mean(),
                Pooling::Cls => hidden
                    .first()
                    .chunks_exact(width)
                    .map(<[f32]>::to_vec)
                    .collect(),
            }
        } else {
            Vec::new()
        };
        let mut pooled = pooled.into_iter();
        Ok((0..hidden.len())
            .map(|i| {
                let vector = pooled.next();
                match wants.get(i).copied().unwrap_or(Output::Pooled) {
                    Output::Tokens => hidden.unit_rows(i),
                    Output::Pooled => l2_normalize(vector.unwrap_or_default()),
                    Output::Both => {
                        let mut both = l2_normalize(vector.unwrap_or_default());
                        both.extend(hidden.unit_rows(i));
                        both
                    }
                }
            })
            .collect())
    }
}

/// What a forward pass gives for one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The pooled unit vector (dense search).
    Pooled,
    /// Every token's unit vector, `[tokens, dimensions]` row-major (late
    /// interaction).
    Tokens,
    /// Both from the one pass: the pooled vector's `dimensions` values,
    /// then the tokens' rows (ingestion keeps a passage's token vectors
    /// for late interaction at no second pass).
    Both,
}

/// Late interaction (ColBERT's MaxSim): for each query token, its best
/// cosine against any passage token, averaged over the query tokens.
/// Both sides are row-major unit vectors of width `width`; an empty side
/// scores 0.
///
/// Why averaged and not summed: the score is compared across passages of
/// one query only, where the two order alike, and an average stays in
/// the cosine's range, which fusion scales anyway.
pub fn max_sim(query: &[f32], passage: &[f32], width: usize) -> f32 {
    let maxima = row_maxima(query, passage, width);
    if maxima.is_empty() {
        return 0.0;
    }
    maxima.iter().sum::<f32>() / maxima.len() as f32
}

/// [`max_sim`] with each query token's best cosine weighted: `Σ wᵢ·mᵢ /
/// Σ wᵢ` (late interaction counting a question's rare words more than its
/// common ones). Weights that do not fit (another count than the query's
/// rows, a negative or non-finite one, all zero) give [`max_sim`].
pub fn weighted_max_sim(query: &[f32], passage: &[f32], width: usize, weights: &[f32]) -> f32 {
    let maxima = row_maxima(query, passage, width);
    if maxima.is_empty() {
        return 0.0;
    }
    let total: f32 = weights.iter().sum();
    let fits = weights.len() == maxima.len()
        && weights.iter().all(|w| w.is_finite() && *w >= 0.0)
        && total > 0.0
        && total.is_finite();
    if !fits {
        return maxima.iter().sum::<f32>() / maxima.len() as f32;
    }
    maxima.iter().zip(weights).map(|(m, w)| m * w).sum::<f32>() / total
}

/// Each query token's best cosine against any passage token: the terms
/// [`max_sim`] averages, in the query's order (empty when either side is
/// empty). Apart from [`max_sim`], studies of how a question's words
/// should count read them (`zhishu eval --candidates`).
pub fn row_maxima(query: &[f32], passage: &[f32], width: usize) -> Vec<f32> {
    if width == 0 || query.len() < width || passage.len() < width {
        return Vec::new();
    }
    let (rows, cols) = (query.len() / width, passage.len() / width);
    // Every cosine at once, `[rows, cols]` = Q Pᵀ, by the same matrix
    // kernel as the model: a passage of 512 tokens against a 20-token
    // question is 4M products, milliseconds one pair at a time and
    // microseconds blocked, and a search scores 20 passages.
    let mut cosines = vec![0.0f32; rows * cols];
    // SAFETY: `cosines` is `rows × cols`; `query` holds `rows` rows of
    // `width` values and `passage` `cols` rows of `width` values, each
    // `width` apart (`rows · width ≤ query.len()`, `cols · width ≤
    // passage.len()`); `cosines` is this call's own.
    unsafe {
        crate::encoder::times_transposed(
            (rows, cols, width),
            cosines.as_mut_ptr(),
            (query.as_ptr(), width),
            (passage.as_ptr(), width),
            1.0,
        );
    }
    cosines
        .chunks_exact(cols)
        .map(|row| row.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect()
}
