//! The decoder: Qwen3 and Llama in one implementation.
//!
//! A forward pass takes a *packed* batch, as vLLM does: the new tokens of
//! every sequence are concatenated into one `[tokens, hidden]` matrix, so
//! the projections and the MLP (almost all the FLOPs) run as one matrix
//! product per weight whatever the mix of prefills and decodes, and only
//! attention is done per sequence, against that sequence's cache. Each
//! sequence carries its own start position, so sequences at unrelated
//! positions (a 40K-token prefill beside a 10-token decode) share a step.
//!
//! A `Model` may hold only part of the network ([`Placement`]): a range of
//! layers (a pipeline stage) and/or one tensor-parallel shard of every
//! layer (its share of the attention heads and of the MLP width). The
//! forward pass is split into [`Model::prepare`], [`Model::embed_tokens`],
//! [`Model::run_layers`] and [`Model::head`] so that
//! [`crate::parallel`] can run stages one after another and shards side by
//! side, summing the shards' partial outputs through a
//! [`crate::parallel::Collective`].

use crate::EngineError;
use crate::cache::KvCache;
use crate::config::{Architecture, ModelConfig, RopeStyle};
use crate::lora::{LoraAdapter, Proj};
use crate::rope::Rotary;
use crate::serving::paged::attend_batch;
use crate::weights::{Checkpoint, Embedding, Linear, Slot};
use candle_core::{DType, Device, Tensor};
use candle_nn::ops::rms_norm;
use std::ops::Range;

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
    /// The LoRA adapter this sequence runs with: an index returned by
    /// [`Model::add_adapter`]; `None` for the base model.
    pub adapter: Option<usize>,
}

/// Which part of the network a [`Model`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Decoder layers held (global indices): a pipeline stage.
    pub layers: Range<usize>,
    /// This part's tensor-parallel rank, `0..size`.
    pub rank: usize,
    /// Tensor-parallel world size (1: whole layers).
    pub size: usize,
}

impl Placement {
    /// The whole network.
    pub fn whole(config: &ModelConfig) -> Self {
        Self {
            layers: 0..config.num_layers,
            rank: 0,
            size: 1,
        }
    }
}

/// What [`Model::prepare`] derives from a batch once for every part of
/// the model: the packed ids, their positions, each sequence's rows.
pub struct Prepared {
    ids: Vec<u32>,
    positions: Vec<usize>,
    spans: Vec<(usize, usize)>,
    /// Each sequence's adapter.
    adapters: Vec<Option<usize>>,
}

/// A loaded model (or part of one, see [`Placement`]).
pub struct Model {
    config: ModelConfig,
    placement: Placement,
    /// Query and key/value heads of this shard.
    heads: usize,
    kv_heads: usize,
    /// Present on the first stage, and on the last when embeddings are tied.
    embed: Option<Embedding>,
    layers: Vec<Layer>,
    /// Present on the last stage.
    norm: Option<Tensor>,
    lm_head: Option<Linear>,
    rotary: Rotary,
    device: Device,
    dtype: DType,
    /// Elements of attention scores one block may hold (see
    /// [`crate::attention`]).
    pub attention_block_elements: usize,
    /// LoRA adapters, this part's share of each.
    adapters: Vec<LoraAdapter>,
}

impl Model {
    /// Builds the model from an opened checkpoint, checking every tensor's
    /// presence and shape first.
    ///
    /// # Errors
    /// [`EngineError::MissingTensor`] / [`EngineError::Shape`] naming the
    /// tensor.
    pub fn load(ckpt: &Checkpoint) -> Result<Self, EngineError> {
        Self::load_part(ckpt, Placement::whole(&ckpt.config))
    }

    /// Builds the part of the model `placement` names: its layers, and of
    /// each its tensor-parallel share (query heads `rank·heads/size ..`,
    /// the matching key/value heads, rows of q/k/v and gate/up, columns of
    /// o and down). GGUF blocks are dequantised when sharded; packed
    /// quantised weights split along whole groups and stay quantised.
    ///
    /// # Errors
    /// As [`Model::load`]; [`EngineError::Config`] naming the field that
    /// the world size does not divide, or an empty or out-of-range layer
    /// range.
    pub fn load_part(ckpt: &Checkpoint, placement: Placement) -> Result<Self, EngineError> {
        let c = ckpt.config.clone();
        let (h, d) = (c.hidden_size, c.head_dim);
        let size = placement.size.max(1);
        for (field, n) in [
            ("num_attention_heads", c.num_heads),
            ("num_key_value_heads", c.num_kv_heads),
            ("intermediate_size", c.intermediate_size),
        ] {
            if !n.is_multiple_of(size) {
                return Err(EngineError::Config {
                    field: field.into(),
                    message: format!("{n} is not divisible by the tensor-parallel size {size}"),
                });
            }
        }
        let range = placement.layers.clone();
        if range.is_empty() || range.end > c.num_layers || placement.rank >= size {
            return Err(EngineError::Config {
                field: "num_hidden_layers".into(),
                message: format!(
                    "layers {range:?}, rank {} of {size}, do not fit a model of {} layers",
                    placement.rank, c.num_layers
                ),
            });
        }
        let (heads, kv_heads, inter) = (
            c.num_heads / size,
            c.num_kv_heads / size,
            c.intermediate_size / size,
        );
        let r = placement.rank;
        // This shard's rows (dim 0) or columns (dim 1) of a projection.
        let part = |w: Linear, dim: usize, per: usize| -> Result<Linear, EngineError> {
            if size == 1 {
                return Ok(w);
            }
            // Dequantised GGUF blocks come out in f32: back to the compute
            // dtype (bf16 on GPUs).
            match w.narrow(dim, r * per, per)? {
                Linear::Dense(t) => Ok(Linear::Dense(t.to_dtype(ckpt.dtype())?)),
                other => Ok(other),
            }
        };
        // Norm scales are converted to the compute dtype once, here, not on
        // every forward step.
        let norm = |slot: Slot, len: usize| -> Result<Tensor, EngineError> {
            Ok(ckpt.vector(slot, len)?.to_dtype(ckpt.dtype())?)
        };
        let mut layers = Vec::with_capacity(range.len());
        for i in range.clone() {
            let qk_norm = c.architecture == Architecture::Qwen3;
            layers.push(Layer {
                attn_norm: norm(Slot::AttnNorm(i), h)?,
                q: part(ckpt.linear(Slot::Q(i), c.num_heads * d, h)?, 0, heads * d)?,
                k: part(
                    ckpt.linear(Slot::K(i), c.num_kv_heads * d, h)?,
                    0,
                    kv_heads * d,
                )?,
                v: part(
                    ckpt.linear(Slot::V(i), c.num_kv_heads * d, h)?,
                    0,
                    kv_heads * d,
                )?,
                o: part(ckpt.linear(Slot::O(i), h, c.num_heads * d)?, 1, heads * d)?,
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
                gate: part(
                    ckpt.linear(Slot::Gate(i), c.intermediate_size, h)?,
                    0,
                    inter,
                )?,
                up: part(ckpt.linear(Slot::Up(i), c.intermediate_size, h)?, 0, inter)?,
                down: part(
                    ckpt.linear(Slot::Down(i), h, c.intermediate_size)?,
                    1,
                    inter,
                )?,
            });
        }
        let first = range.start == 0;
        let last = range.end == c.num_layers;
        // Tied when the configuration says so, or when a GGUF file simply
        // has no output matrix (llama.cpp's convention).
        let untied = !c.tie_word_embeddings && ckpt.has(Slot::LmHead);
        let embed = if first || (last && !untied) {
            Some(ckpt.embedding(c.vocab_size, h)?)
        } else {
            None
        };
        let lm_head = match (&embed, last) {
            (_, false) => None,
            (_, true) if untied => Some(ckpt.linear(Slot::LmHead, c.vocab_size, h)?),
            (Some(e), true) if c.tie_word_embeddings || ckpt.gguf_metadata().is_some() => {
                Some(e.as_linear()?)
            }
            _ => return Err(EngineError::MissingTensor("lm_head.weight".into())),
        };
        let embed = if first { embed } else { None };
        Ok(Self {
            rotary: Rotary::new(&c),
            norm: if last {
                Some(norm(Slot::FinalNorm, h)?)
            } else {
                None
            },
            embed,
            layers,
            lm_head,
            heads,
            kv_heads,
            placement,
            device: ckpt.device().clone(),
            dtype: ckpt.dtype(),
            config: c,
            attention_block_elements: 32 << 20,
            adapters: Vec::new(),
        })
    }

    /// Adds a LoRA adapter (its share for this part of the model); returns
    /// the index sequences name it by in [`SeqInput::adapter`].
    ///
    /// Why the permutation: llama.cpp stores a Llama's query and key rows
    /// reordered for its rotary layout (each head's two halves
    /// interleaved), and PEFT adapters are trained on the transformers
    /// order; `B`'s rows of q and k are reordered the same way here.
    ///
    /// # Errors
    /// When the adapter does not cover this part's layers, or on a tensor
    /// failure.
    pub fn add_adapter(&mut self, adapter: &LoraAdapter) -> Result<usize, EngineError> {
        let fitted = self.fit_adapter(adapter)?;
        Ok(self.push_adapter(fitted))
    }

    /// The share of `adapter` this part runs (see [`Model::add_adapter`]),
    /// not yet added: parallel parts fit theirs first and add only when
    /// every part could, so their indices never diverge.
    ///
    /// # Errors
    /// As [`Model::add_adapter`].
    pub fn fit_adapter(&self, adapter: &LoraAdapter) -> Result<LoraAdapter, EngineError> {
        let adapter = if self.config.rope_style == RopeStyle::Interleaved {
            adapter.permute_qk_rows(&self.config)?
        } else {
            adapter.clone()
        };
        // Read onto the first part's device; each part runs its share on
        // its own.
        adapter
            .shard(&self.placement, &self.config)?
            .to_device(&self.device, self.dtype)
    }

    /// Adds an adapter fitted by [`Model::fit_adapter`]; returns its index.
    pub fn push_adapter(&mut self, fitted: LoraAdapter) -> usize {
        self.adapters.push(fitted);
        self.adapters.len() - 1
    }

    /// The adapters added, in index order.
    pub fn adapters(&self) -> &[LoraAdapter] {
        &self.adapters
    }

    /// `x Wᵀ`, plus each sequence's adapter product on its rows.
    fn project(
        &self,
        w: &Linear,
        x: &Tensor,
        layer: usize,
        proj: Proj,
        p: &Prepared,
    ) -> candle_core::Result<Tensor> {
        let y = w.forward(x)?;
        if p.adapters.iter().all(Option::is_none) {
            return Ok(y);
        }
        // Runs of neighbouring sequences with the same adapter share one
        // product.
        let mut pieces = Vec::new();
        let mut adapted = false;
        let mut i = 0;
        while i < p.spans.len() {
            let which = p.adapters[i];
            let start = p.spans[i].0;
            let mut rows = 0;
            while i < p.spans.len() && p.adapters[i] == which {
                rows += p.spans[i].1;
                i += 1;
            }
            match which.and_then(|a| self.adapters.get(a)?.pair(layer, proj)) {
                Some(pair) => {
                    pieces.push(
                        pair.forward(&x.narrow(0, start, rows)?)?
                            .to_dtype(y.dtype())?,
                    );
                    adapted = true;
                }
                None => pieces.push(Tensor::zeros((rows, y.dim(1)?), y.dtype(), y.device())?),
            }
        }
        if !adapted {
            return Ok(y);
        }
        y + Tensor::cat(&pieces, 0)?
    }

    /// The part of the network this model holds.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Key/value heads this part caches per layer.
    pub fn kv_heads(&self) -> usize {
        self.kv_heads
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
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
        layer_bytes + self.lm_head.as_ref().map_or(0, Linear::bytes)
    }

    /// Bytes of weights this part holds: [`Model::weight_bytes_per_token`]
    /// and the embedding when it is a matrix of its own (not the output
    /// layer's, tied).
    pub fn weight_bytes(&self) -> usize {
        let tied = self.config.tie_word_embeddings && self.lm_head.is_some();
        let embed = match &self.embed {
            Some(e) if !tied => e.bytes(),
            _ => 0,
        };
        self.weight_bytes_per_token() + embed
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
    /// empty `[0, vocab]` for [`Logits::None`]. The model must be whole
    /// ([`crate::parallel`] drives parts).
    ///
    /// # Errors
    /// On an empty sequence, a position beyond the model's context, or a
    /// kernel failure.
    pub fn forward(&self, batch: &mut [SeqInput<'_>]) -> Result<Vec<Tensor>, EngineError> {
        self.forward_reduced(batch, &|t| Ok(t))
    }

    /// [`Model::forward`] of a whole-layer part (one tensor-parallel
    /// shard): `reduce` sums each layer's partial attention and MLP
    /// outputs over the shards.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward_reduced(
        &self,
        batch: &mut [SeqInput<'_>],
        reduce: &dyn Fn(Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<Tensor>, EngineError> {
        let p = self.prepare(batch)?;
        let x = self.embed_tokens(&p)?;
        let x = self.run_layers(x, batch, &p, reduce)?;
        self.head(&x, batch, &p)
    }

    /// Checks the batch and packs its ids and positions (read from the
    /// caches before any layer appends).
    ///
    /// # Errors
    /// On an empty sequence or a position beyond the model's context.
    pub fn prepare(&self, batch: &[SeqInput<'_>]) -> Result<Prepared, EngineError> {
        let c = &self.config;
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut spans = Vec::with_capacity(batch.len());
        let mut adapters = Vec::with_capacity(batch.len());
        for s in batch {
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
            if let Some(a) = s.adapter
                && a >= self.adapters.len()
            {
                return Err(EngineError::Request(format!(
                    "no adapter {a}: the model holds {}",
                    self.adapters.len()
                )));
            }
            spans.push((ids.len(), s.tokens.len()));
            ids.extend_from_slice(s.tokens);
            positions.extend(pos);
            adapters.push(s.adapter);
        }
        Ok(Prepared {
            ids,
            positions,
            spans,
            adapters,
        })
    }

    /// The packed tokens' embeddings, `[tokens, hidden]` (first stage).
    ///
    /// # Errors
    /// When this part holds no embedding, or an id is out of range.
    pub fn embed_tokens(&self, p: &Prepared) -> Result<Tensor, EngineError> {
        let embed = self.embed.as_ref().ok_or_else(|| {
            EngineError::Request("this part of the model holds no embedding".into())
        })?;
        let ids = Tensor::from_vec(p.ids.clone(), p.ids.len(), &self.device)?;
        Ok(embed.forward(&ids, self.dtype)?)
    }

    /// Runs this part's layers over the hidden states `x` (moved to this
    /// part's device), appending to the caches.
    ///
    /// # Errors
    /// On a kernel failure.
    pub fn run_layers(
        &self,
        x: Tensor,
        batch: &mut [SeqInput<'_>],
        p: &Prepared,
        reduce: &dyn Fn(Tensor) -> candle_core::Result<Tensor>,
    ) -> Result<Tensor, EngineError> {
        let c = &self.config;
        let n = p.ids.len();
        let (cos, sin) = self.rotary.tables(&p.positions, &self.device)?;
        let (cos, sin) = (cos.to_dtype(self.dtype)?, sin.to_dtype(self.dtype)?);
        let eps = c.rms_norm_eps as f32;
        let (hd, nh, nkv) = (c.head_dim, self.heads, self.kv_heads);
        let scale = 1.0 / (hd as f64).sqrt();
        // A stage on another kind of device may compute in another dtype
        // (f32 on the CPU, bf16 on GPUs).
        let mut x = x.to_device(&self.device)?.to_dtype(self.dtype)?;
        for (li, layer) in self.placement.layers.clone().zip(&self.layers) {
            let h = rms_norm(&x, &layer.attn_norm, eps)?;
            let mut q = self
                .project(&layer.q, &h, li, Proj::Q, p)?
                .reshape((n, nh, hd))?;
            let mut k = self
                .project(&layer.k, &h, li, Proj::K, p)?
                .reshape((n, nkv, hd))?;
            let v = self
                .project(&layer.v, &h, li, Proj::V, p)?
                .reshape((n, nkv, hd))?;
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = rms_norm(&q.contiguous()?, qn, eps)?;
                k = rms_norm(&k.contiguous()?, kn, eps)?;
            }
            let q = self.rope(&q, &cos, &sin)?;
            let k = self.rope(&k, &cos, &sin)?;
            let views: Vec<_> = batch.iter().map(|s| s.cache.paged()).collect();
            let attn = match attend_batch(&views, li, &q, &k, &v, &p.spans, scale)? {
                Some(attn) => attn,
                None => {
                    drop(views);
                    let mut outs = Vec::with_capacity(batch.len());
                    for (s, &(off, len)) in batch.iter_mut().zip(&p.spans) {
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
                    Tensor::cat(&outs, 0)?
                }
            };
            x = (x + reduce(self.project(&layer.o, &attn, li, Proj::O, p)?)?)?;
            let h = rms_norm(&x, &layer.mlp_norm, eps)?;
            let gate = candle_nn::ops::silu(&self.project(&layer.gate, &h, li, Proj::Gate, p)?)?;
            let up = self.project(&layer.up, &h, li, Proj::Up, p)?;
            x = (x + reduce(self.project(&layer.down, &(gate * up)?, li, Proj::Down, p)?)?)?;
        }
        Ok(x)
    }

    /// The final norm and the output projection of the rows whose logits
    /// the batch wants (last stage).
    ///
    /// # Errors
    /// When this part is not the last stage, or on a kernel failure.
    pub fn head(
        &self,
        x: &Tensor,
        batch: &[SeqInput<'_>],
        p: &Prepared,
    ) -> Result<Vec<Tensor>, EngineError> {
        let (Some(norm), Some(lm_head)) = (&self.norm, &self.lm_head) else {
            return Err(EngineError::Request(
                "this part of the model holds no output layer".into(),
            ));
        };
        let c = &self.config;
        let x = x.to_device(&self.device)?.to_dtype(self.dtype)?;
        let x = rms_norm(&x, norm, c.rms_norm_eps as f32)?;
        // Only the rows whose logits are wanted go through the (large)
        // output projection.
        let mut rows = Vec::new();
        for (s, &(off, len)) in batch.iter().zip(&p.spans) {
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
            lm_head
                .forward(&x.index_select(&idx, 0)?)?
                .to_dtype(DType::F32)?
        };
        let mut out = Vec::with_capacity(batch.len());
        let mut at = 0;
        for (s, &(_, len)) in batch.iter().zip(&p.spans) {
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
