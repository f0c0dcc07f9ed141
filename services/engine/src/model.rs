//! The decoder: Qwen3 and Llama in one implementation.
//!
//! A forward pass takes a *packed* batch, as vLLM does: the new tokens of
//! every sequence are concatenated into one `[tokens, hidden]` matrix, so
//! the projections and the MLP (almost all the FLOPs) run as one matrix
//! product per weight whatever the mix of prefills and decodes, and only
//! attention is done per sequence, against that sequence's cache. Each
//! sequence carries its own start position, so sequences at unrelated
//! positions (a 40K-token prefill beside a 10-token decode) share a step.

use crate::EngineError;
use crate::cache::KvCache;
use crate::config::{Architecture, ModelConfig, RopeStyle};
use crate::rope::Rotary;
use crate::weights::{Checkpoint, Embedding, Linear, Slot};
use candle_core::{DType, Device, Tensor};
use candle_nn::ops::rms_norm;

struct Layer {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    mlp_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Which logits a sequence wants back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last new token's (generation).
    Last,
    /// Every new token's (scoring, parity tests).
    All,
    /// None: a prompt chunk that is not the prompt's last.
    None,
}

/// One sequence's part of a batch.
pub struct SeqInput<'a> {
    /// The new tokens.
    pub tokens: &'a [u32],
    /// Its key/value cache; the new tokens attend to everything in it.
    pub cache: &'a mut dyn KvCache,
    /// The new tokens' positions; `None` means `cache.len()..`, the usual
    /// case. Explicit positions let a caller place tokens anywhere in the
    /// model's context (as vLLM's model runner does), e.g. to check long
    /// positions without a long prefix.
    pub positions: Option<&'a [usize]>,
    /// Which logits to return.
    pub logits: Logits,
}

/// A loaded model.
pub struct Model {
    config: ModelConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: Tensor,
    lm_head: Linear,
    rotary: Rotary,
    device: Device,
    dtype: DType,
    /// Elements of attention scores one block may hold (see
    /// [`crate::attention`]).
    pub attention_block_elements: usize,
}

impl Model {
    /// Builds the model from an opened checkpoint, checking every tensor's
    /// presence and shape first.
    ///
    /// # Errors
    /// [`EngineError::MissingTensor`] / [`EngineError::Shape`] naming the
    /// tensor.
    pub fn load(ckpt: &Checkpoint) -> Result<Self, EngineError> {
        let c = ckpt.config.clone();
        let (h, d) = (c.hidden_size, c.head_dim);
        // Norm scales are converted to the compute dtype once, here, not on
        // every forward step.
        let norm = |slot: Slot, len: usize| -> Result<Tensor, EngineError> {
            Ok(ckpt.vector(slot, len)?.to_dtype(ckpt.dtype())?)
        };
        let mut layers = Vec::with_capacity(c.num_layers);
        for i in 0..c.num_layers {
            let qk_norm = c.architecture == Architecture::Qwen3;
            layers.push(Layer {
                attn_norm: norm(Slot::AttnNorm(i), h)?,
                q: ckpt.linear(Slot::Q(i), c.num_heads * d, h)?,
                k: ckpt.linear(Slot::K(i), c.num_kv_heads * d, h)?,
                v: ckpt.linear(Slot::V(i), c.num_kv_heads * d, h)?,
                o: ckpt.linear(Slot::O(i), h, c.num_heads * d)?,
                q_norm: if qk_norm {
                    Some(norm(Slot::QNorm(i), d)?)
                } else {
                    None
                },
                k_norm: if qk_norm {
                    Some(norm(Slot::KNorm(i), d)?)
                } else {
                    None
                },
                mlp_norm: norm(Slot::MlpNorm(i), h)?,
                gate: ckpt.linear(Slot::Gate(i), c.intermediate_size, h)?,
                up: ckpt.linear(Slot::Up(i), c.intermediate_size, h)?,
                down: ckpt.linear(Slot::Down(i), h, c.intermediate_size)?,
            });
        }
        let embed = ckpt.embedding(c.vocab_size, h)?;
        // Tied when the configuration says so, or when a GGUF file simply
        // has no output matrix (llama.cpp's convention).
        let lm_head = if !c.tie_word_embeddings && ckpt.has(Slot::LmHead) {
            ckpt.linear(Slot::LmHead, c.vocab_size, h)?
        } else if c.tie_word_embeddings || ckpt.gguf_metadata().is_some() {
            embed.as_linear()?
        } else {
            return Err(EngineError::MissingTensor("lm_head.weight".into()));
        };
        Ok(Self {
            rotary: Rotary::new(&c),
            norm: norm(Slot::FinalNorm, h)?,
            embed,
            layers,
            lm_head,
            device: ckpt.device().clone(),
            dtype: ckpt.dtype(),
            config: c,
            attention_block_elements: 32 << 20,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Bytes of weights read to produce one token (every projection plus
    /// one embedding row): the numerator of the decode bandwidth ceiling.
    pub fn weight_bytes_per_token(&self) -> usize {
        let layer_bytes: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                    .iter()
                    .map(|w| w.bytes())
                    .sum::<usize>()
            })
            .sum();
        layer_bytes + self.lm_head.bytes()
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        // x: [n, heads, head_dim]
        match self.config.rope_style {
            RopeStyle::Half => {
                candle_nn::rotary_emb::rope_thd(&x.unsqueeze(0)?.contiguous()?, cos, sin)?
                    .squeeze(0)
            }
            RopeStyle::Interleaved => {
                let t = x.transpose(0, 1)?.unsqueeze(0)?.contiguous()?;
                candle_nn::rotary_emb::rope_i(&t, cos, sin)?
                    .squeeze(0)?
                    .transpose(0, 1)
            }
        }
    }

    /// Runs the new tokens of every sequence through the model, appending
    /// to their caches, and returns each sequence's logits (f32): `[vocab]`
    /// for [`Logits::Last`], `[tokens, vocab]` for [`Logits::All`], an
    /// empty `[0, vocab]` for [`Logits::None`].
    ///
    /// # Errors
    /// On an empty sequence, a position beyond the model's context, or a
    /// kernel failure.
    pub fn forward(&self, batch: &mut [SeqInput<'_>]) -> Result<Vec<Tensor>, EngineError> {
        let c = &self.config;
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut spans = Vec::with_capacity(batch.len());
        for s in batch.iter() {
            if s.tokens.is_empty() {
                return Err(EngineError::Request("a sequence has no new tokens".into()));
            }
            let start = s.cache.len();
            let pos: Vec<usize> = match s.positions {
                Some(p) if p.len() == s.tokens.len() => p.to_vec(),
                Some(p) => {
                    return Err(EngineError::Request(format!(
                        "{} positions for {} tokens",
                        p.len(),
                        s.tokens.len()
                    )));
                }
                None => (start..start + s.tokens.len()).collect(),
            };
            let last = pos.iter().max().copied().unwrap_or(0);
            if last >= c.max_context() {
                return Err(EngineError::Request(format!(
                    "position {last} is beyond the model's context of {} tokens",
                    c.max_context()
                )));
            }
            spans.push((ids.len(), s.tokens.len()));
            ids.extend_from_slice(s.tokens);
            positions.extend(pos);
        }
        let n = ids.len();
        let ids = Tensor::from_vec(ids, n, &self.device)?;
        let (cos, sin) = self.rotary.tables(&positions, &self.device)?;
        let (cos, sin) = (cos.to_dtype(self.dtype)?, sin.to_dtype(self.dtype)?);
        let eps = c.rms_norm_eps as f32;
        let (hd, nh, nkv) = (c.head_dim, c.num_heads, c.num_kv_heads);
        let scale = 1.0 / (hd as f64).sqrt();

        let mut x = self.embed.forward(&ids, self.dtype)?;
        for (li, layer) in self.layers.iter().enumerate() {
            let h = rms_norm(&x, &layer.attn_norm, eps)?;
            let mut q = layer.q.forward(&h)?.reshape((n, nh, hd))?;
            let mut k = layer.k.forward(&h)?.reshape((n, nkv, hd))?;
            let v = layer.v.forward(&h)?.reshape((n, nkv, hd))?;
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = rms_norm(&q.contiguous()?, qn, eps)?;
                k = rms_norm(&k.contiguous()?, kn, eps)?;
            }
            let q = self.rope(&q, &cos, &sin)?;
            let k = self.rope(&k, &cos, &sin)?;
            let mut outs = Vec::with_capacity(batch.len());
            for (s, &(off, len)) in batch.iter_mut().zip(&spans) {
                let qs = q.narrow(0, off, len)?.transpose(0, 1)?.contiguous()?;
                let ks = k.narrow(0, off, len)?.transpose(0, 1)?.contiguous()?;
                let vs = v.narrow(0, off, len)?.transpose(0, 1)?.contiguous()?;
                outs.push(s.cache.attend(
                    li,
                    &qs,
                    &ks,
                    &vs,
                    scale,
                    self.attention_block_elements,
                )?);
            }
            let attn = Tensor::cat(&outs, 0)?;
            x = (x + layer.o.forward(&attn)?)?;
            let h = rms_norm(&x, &layer.mlp_norm, eps)?;
            let gate = candle_nn::ops::silu(&layer.gate.forward(&h)?)?;
            let up = layer.up.forward(&h)?;
            x = (x + layer.down.forward(&(gate * up)?)?)?;
        }
        let x = rms_norm(&x, &self.norm, eps)?;
        // Only the rows whose logits are wanted go through the (large)
        // output projection.
        let mut rows = Vec::new();
        for (s, &(off, len)) in batch.iter().zip(&spans) {
            match s.logits {
                Logits::Last => rows.push((off + len - 1) as u32),
                Logits::All => rows.extend((off..off + len).map(|r| r as u32)),
                Logits::None => {}
            }
        }
        let nrows = rows.len();
        let logits = if nrows == 0 {
            Tensor::zeros((0, c.vocab_size), DType::F32, &self.device)?
        } else {
            let idx = Tensor::from_vec(rows, nrows, &self.device)?;
            self.lm_head
                .forward(&x.index_select(&idx, 0)?)?
                .to_dtype(DType::F32)?
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut at = 0;
        for (s, &(_, len)) in batch.iter().zip(&spans) {
            match s.logits {
                Logits::Last => {
                    out.push(logits.get(at)?);
                    at += 1;
                }
                Logits::All => {
                    out.push(logits.narrow(0, at, len)?);
                    at += len;
                }
                Logits::None => out.push(logits.narrow(0, at, 0)?),
            }
        }
        Ok(out)
    }
}
