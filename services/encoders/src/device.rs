//! The encoder forward pass from candle tensor ops, for GPUs
//! (`embedder.device = "cuda:N"`), over the same packed, unpadded batches
//! as the CPU kernel (`encoder.rs`).
//!
//! Why a second forward pass: the CPU kernel is written against host
//! memory (the `gemm` crate, in-place element-wise loops), which is what
//! makes it fast on a CPU and what a GPU cannot run. This one is built from
//! candle ops only, so it runs wherever candle does, in bf16 on GPUs: the
//! dense layers are one matrix product over all the batch's tokens, and
//! attention runs per sequence over its own tokens (no padding, no mask),
//! as on the CPU. The CPU tests run it in f32 against the CPU kernel.

use crate::EncoderError;
use crate::encoder::{Activation, Encoder, Hidden, Shape, spans};
use crate::folder::ModelFolder;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    fn load(vb: &VarBuilder, size: usize) -> candle_core::Result<Self> {
        // Old checkpoints call them gamma and beta.
        let (w, b) = if vb.contains_tensor("weight") {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(Self {
            weight: vb.get(size, w)?,
            bias: vb.get(size, b)?,
        })
    }

    fn apply(&self, x: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, eps)
    }
}

fn linear(vb: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
    Ok(Linear::new(
        vb.get((outputs, inputs), "weight")?,
        Some(vb.get(outputs, "bias")?),
    ))
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    up: Linear,
    down: Linear,
    output_norm: Norm,
}

/// A BERT-style encoder on any device.
pub(crate) struct DeviceEncoder {
    shape: Shape,
    device: Device,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

impl DeviceEncoder {
    /// The encoder of `folder`, its weights under `vb` (on the target
    /// device and dtype, at the backbone's prefix).
    ///
    /// # Errors
    /// A missing or misshapen tensor or configuration field, named.
    pub(crate) fn load(folder: &ModelFolder, vb: VarBuilder) -> Result<Self, EncoderError> {
        let shape = Shape::of(folder)?;
        let (h, i) = (shape.hidden, shape.intermediate);
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(shape.layers);
        for n in 0..shape.layers {
            let l = vb.pp(format!("encoder.layer.{n}"));
            let a = l.pp("attention");
            let s = a.pp("self");
            layers.push(Layer {
                query: linear(&s.pp("query"), h, h)?,
                key: linear(&s.pp("key"), h, h)?,
                value: linear(&s.pp("value"), h, h)?,
                attention_out: linear(&a.pp("output.dense"), h, h)?,
                attention_norm: Norm::load(&a.pp("output.LayerNorm"), h)?,
                up: linear(&l.pp("intermediate.dense"), h, i)?,
                down: linear(&l.pp("output.dense"), i, h)?,
                output_norm: Norm::load(&l.pp("output.LayerNorm"), h)?,
            });
        }
        Ok(Self {
            device: vb.device().clone(),
            word: e.get((shape.vocab, h), "word_embeddings.weight")?,
            position: e.get((shape.max_positions, h), "position_embeddings.weight")?,
            token_type: e.get((shape.type_vocab, h), "token_type_embeddings.weight")?,
            embedding_norm: Norm::load(&e.pp("LayerNorm"), h)?,
            layers,
            shape,
        })
    }

    fn activate(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self.shape.activation {
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
        }
    }

    /// The last hidden states of a batch (copied back to the host in f32).
    ///
    /// # Errors
    /// As the CPU kernel's forward pass; [`EncoderError::Model`] on a
    /// device failure.
    pub(crate) fn forward(&self, inputs: &[tokenizers::Encoding]) -> Result<Hidden, EncoderError> {
        let s = &self.shape;
        let spans = spans(inputs, s.position_offset, s.max_positions)?;
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        let mut types = Vec::new();
        for e in inputs {
            for (i, (&id, &ty)) in e.get_ids().iter().zip(e.get_type_ids()).enumerate() {
                if id as usize >= s.vocab {
                    return Err(EncoderError::Model(format!(
                        "token id {id} is outside the vocabulary of {}",
                        s.vocab
                    )));
                }
                ids.push(id);
                positions.push((i + s.position_offset) as u32);
                types.push(ty.min(s.type_vocab as u32 - 1));
            }
        }
        let data = self.run(&ids, &positions, &types, &spans).map_err(|e| {
            EncoderError::Model(format!(
                "the encoder failed on {:?}: {e}",
                self.device.location()
            ))
        })?;
        Ok(Hidden::new(data, spans, s.hidden))
    }

    fn run(
        &self,
        ids: &[u32],
        positions: &[u32],
        types: &[u32],
        spans: &[(usize, usize)],
    ) -> candle_core::Result<Vec<f32>> {
        let s = &self.shape;
        let rows = ids.len();
        if rows == 0 {
            return Ok(Vec::new());
        }
        let index = |v: &[u32]| Tensor::from_vec(v.to_vec(), rows, &self.device);
        let x = (self.word.index_select(&index(ids)?, 0)?
            + self.position.index_select(&index(positions)?, 0)?)?
        .add(&self.token_type.index_select(&index(types)?, 0)?)?;
        let mut x = self.embedding_norm.apply(&x, s.eps)?;
        let d = s.hidden / s.heads;
        let scale = 1.0 / (d as f64).sqrt();
        for layer in &self.layers {
            let (q, k, v) = (
                layer.query.forward(&x)?,
                layer.key.forward(&x)?,
                layer.value.forward(&x)?,
            );
            let mut context = Vec::with_capacity(spans.len());
            for &(start, len) in spans.iter().filter(|(_, len)| *len > 0) {
                // [len, hidden] → [heads, len, d]
                let heads = |t: &Tensor| {
                    t.narrow(0, start, len)?
                        .reshape((len, s.heads, d))?
                        .transpose(0, 1)?
                        .contiguous()
                };
                let (qh, kh, vh) = (heads(&q)?, heads(&k)?, heads(&v)?);
                let scores = (qh.matmul(&kh.t()?)? * scale)?;
                let p = candle_nn::ops::softmax_last_dim(&scores)?;
                context.push(p.matmul(&vh)?.transpose(0, 1)?.reshape((len, s.hidden))?);
            }
            let context = Tensor::cat(&context, 0)?;
            x = layer
                .attention_norm
                .apply(&(x + layer.attention_out.forward(&context)?)?, s.eps)?;
            let up = self.activate(&layer.up.forward(&x)?)?;
            x = layer
                .output_norm
                .apply(&(x + layer.down.forward(&up)?)?, s.eps)?;
        }
        x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
    }
}

/// The encoder a model runs: the CPU kernel, or candle ops on a device.
pub(crate) enum Backbone {
    /// Our CPU kernel (`encoder.rs`).
    Cpu(Encoder),
    /// Candle ops on any device (GPUs; the CPU for checking).
    Device(DeviceEncoder),
}

impl Backbone {
    /// The CPU kernel on the CPU; candle ops in bf16 on a GPU; candle ops
    /// in `f32` on the CPU when `ops` is set (the GPU path, for checking).
    ///
    /// # Errors
    /// A missing or misshapen tensor or configuration field, named.
    pub(crate) fn load(
        folder: &ModelFolder,
        device: &Device,
        ops: bool,
        prefix: impl Fn(VarBuilder<'static>) -> VarBuilder<'static>,
    ) -> Result<(Self, VarBuilder<'static>), EncoderError> {
        if device.is_cpu() && !ops {
            let vb = crate::embedder::var_builder(folder, device, DType::F32)?;
            let encoder = Encoder::load(folder, prefix(vb.clone()))?;
            return Ok((Self::Cpu(encoder), vb));
        }
        let dtype = if device.is_cpu() {
            DType::F32
        } else {
            DType::BF16
        };
        let vb = crate::embedder::var_builder(folder, device, dtype)?;
        let encoder = DeviceEncoder::load(folder, prefix(vb.clone()))?;
        Ok((Self::Device(encoder), vb))
    }

    /// The last hidden states of a batch.
    ///
    /// # Errors
    /// As the encoder's forward pass.
    pub(crate) fn forward(&self, inputs: &[tokenizers::Encoding]) -> Result<Hidden, EncoderError> {
        match self {
            Self::Cpu(e) => e.forward(inputs),
            Self::Device(e) => e.forward(inputs),
        }
    }

    /// Width of the hidden states.
    pub(crate) fn hidden_size(&self) -> usize {
        match self {
            Self::Cpu(e) => e.hidden_size(),
            Self::Device(e) => e.shape.hidden,
        }
    }
}
