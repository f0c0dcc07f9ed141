//! Our own transformer encoder forward pass (BERT and XLM-RoBERTa) over
//! *packed* tokens.
//!
//! Why not candle-transformers' models: they pad every batch to its
//! longest member, materialise `[batch, heads, T, T]` attention scores and
//! run each element-wise step (bias, residual, GELU, mask, softmax, layer
//! norm pieces) as its own pass over memory with a fresh allocation. On a
//! CPU, at the sizes embedders have (hidden 384–1024), those passes and the
//! padding, not the matrix products, take most of the time.
//!
//! Here the tokens of every sequence in a batch are laid end to end in one
//! `[tokens, hidden]` matrix, with no padding at all:
//! - every dense layer is one matrix product over all tokens (the `gemm`
//!   crate, the kernels candle itself uses), whose destination is
//!   pre-filled with the bias (and the residual), so bias and residual
//!   additions cost no extra pass;
//! - attention runs per (sequence, head) on that sequence's own tokens, so
//!   no score is computed for padding and no mask is needed; the scores of
//!   one head of one sequence (at most 512 × 512) are the only temporary,
//!   reused across heads, with the softmax done in place;
//! - GELU and layer norm run in place on the rows they follow.
//!
//! Buffers are allocated once per batch and reused by every layer.

use crate::EncoderError;
use crate::folder::{Architecture, ModelFolder};
use crate::vmath;
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// The activation of the feed-forward layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `gelu`: the exact, erf-based GELU.
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

/// A dense layer: `y = x Wᵀ + b`, with `W` as PyTorch stores it,
/// `[out, in]` row-major.
pub(crate) struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// Layer normalisation's scale and shift.
struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value projections in one `[3·hidden, hidden]` matrix.
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

/// The hidden states of a batch, packed: the rows of sequence `i` are
/// `spans[i].0 .. spans[i].0 + spans[i].1`.
pub(crate) struct Hidden {
    data: Vec<f32>,
    spans: Vec<(usize, usize)>,
    width: usize,
}

/// A BERT-style encoder.
pub(crate) struct Encoder {
    hidden: usize,
    heads: usize,
    intermediate: usize,
    eps: f32,
    activation: Activation,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    type_vocab: usize,
    max_positions: usize,
    /// XLM-RoBERTa numbers positions from `padding_idx + 1`; BERT from 0.
    position_offset: usize,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

fn tensor(vb: &VarBuilder, shape: &[usize], name: &str) -> Result<Vec<f32>, EncoderError> {
    Ok(vb
        .get(shape, name)?
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()?)
}

impl Dense {
    /// Loads `weight` `[outputs, inputs]` and `bias` `[outputs]` under `vb`.
    pub(crate) fn load(
        vb: &VarBuilder,
        inputs: usize,
        outputs: usize,
    ) -> Result<Self, EncoderError> {
        Ok(Self {
            weight: tensor(vb, &[outputs, inputs], "weight")?,
            bias: tensor(vb, &[outputs], "bias")?,
            inputs,
            outputs,
        })
    }

    fn concat(parts: [Dense; 3]) -> Self {
        let inputs = parts[0].inputs;
        let outputs = parts.iter().map(|p| p.outputs).sum();
        let mut weight = Vec::with_capacity(outputs * inputs);
        let mut bias = Vec::with_capacity(outputs);
        for p in parts {
            weight.extend(p.weight);
            bias.extend(p.bias);
        }
        Self {
            weight,
            bias,
            inputs,
            outputs,
        }
    }

    /// `dst[rows, outputs] += x[rows, inputs] Wᵀ`, after `dst`'s rows were
    /// set to `b` (plus, for residual layers, what they held).
    fn accumulate(&self, x: &[f32], rows: usize, dst: &mut [f32]) {
        debug_assert_eq!(x.len(), rows * self.inputs);
        debug_assert_eq!(dst.len(), rows * self.outputs);
        if rows == 0 {
            return;
        }
        // SAFETY: `x` is `[rows, inputs]` row-major, `weight` is
        // `[outputs, inputs]` row-major (read as its transpose through the
        // strides), `dst` is `[rows, outputs]` row-major; the lengths are
        // checked above and the three do not overlap (`dst` is `&mut`).
        unsafe {
            gemm::gemm(
                rows,
                self.outputs,
                self.inputs,
                dst.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                x.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                self.inputs as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism(rows * self.outputs * self.inputs),
            );
        }
    }

    /// `x Wᵀ + b` for `rows` rows of `x`.
    pub(crate) fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let mut out = vec![0.0; rows * self.outputs];
        self.fill_bias(&mut out);
        self.accumulate(x, rows, &mut out);
        out
    }

    /// Adds the bias to every row of `dst` in place.
    fn add_bias(&self, dst: &mut [f32]) {
        by_rows(dst, self.outputs, |rows| {
            for row in rows.chunks_exact_mut(self.outputs) {
                row.iter_mut().zip(&self.bias).for_each(|(d, b)| *d += b);
            }
        });
    }

    /// Sets every row of `dst` to the bias.
    fn fill_bias(&self, dst: &mut [f32]) {
        by_rows(dst, self.outputs, |rows| {
            for row in rows.chunks_exact_mut(self.outputs) {
                row.copy_from_slice(&self.bias);
            }
        });
    }

    /// Outputs per row.
    pub(crate) fn outputs(&self) -> usize {
        self.outputs
    }
}

/// Runs `f` over `x` (rows of `width`) in pieces of whole rows, on
/// rayon's threads when `x` is big enough to pay for them. The
/// element-wise steps between the matrix products (bias, GELU, layer
/// norm) would otherwise leave all but one core idle: on 500-token
/// chunks they are about a tenth of the work.
fn by_rows(x: &mut [f32], width: usize, f: impl Fn(&mut [f32]) + Sync) {
    const PIECE: usize = 1 << 14;
    if x.len() <= PIECE || width == 0 {
        f(x);
    } else {
        x.par_chunks_mut(PIECE.div_ceil(width) * width).for_each(&f);
    }
}

/// Multithreading for a product of `flops` multiply-adds: below a few
/// hundred thousand the threads cost more than they save.
fn parallelism(flops: usize) -> gemm::Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 && flops >= 1 << 18 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

impl Norm {
    fn load(vb: &VarBuilder, size: usize) -> Result<Self, EncoderError> {
        // Old checkpoints call them gamma and beta.
        let (w, b) = if vb.contains_tensor("weight") {
            ("weight", "bias")
        } else {
            ("gamma", "beta")
        };
        Ok(Self {
            weight: tensor(vb, &[size], w)?,
            bias: tensor(vb, &[size], b)?,
        })
    }

    /// Normalises each row of `x` in place.
    fn apply(&self, x: &mut [f32], eps: f32) {
        let n = self.weight.len();
        by_rows(x, n, |rows| {
            for row in rows.chunks_exact_mut(n) {
                vmath::layer_norm(row, &self.weight, &self.bias, eps);
            }
        });
    }
}

impl Activation {
    fn parse(name: &str) -> Result<Self, String> {
        match name {
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(format!("hidden_act {other:?} is not supported")),
        }
    }

    fn apply(self, x: &mut [f32]) {
        match self {
            Self::Gelu => by_rows(x, 1, vmath::gelu),
            Self::GeluTanh => by_rows(x, 1, |x| {
                x.iter_mut().for_each(|v| {
                    let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                    *v = 0.5 * *v * (1.0 + u.tanh());
                });
            }),
            Self::Relu => by_rows(x, 1, |x| x.iter_mut().for_each(|v| *v = v.max(0.0))),
        }
    }
}

/// A raw pointer that may cross threads: attention writes disjoint
/// column blocks of one output matrix from several threads.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: every user writes a region no other thread touches (see
// `Encoder::attention`).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer `offset` elements in (a method, so closures capture the
    /// whole `Send` wrapper rather than the raw pointer field).
    ///
    /// # Safety
    /// `offset` must stay inside the allocation.
    unsafe fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: as the caller guarantees.
        unsafe { self.0.add(offset) }
    }
}

fn usize_field(config: &serde_json::Value, key: &str) -> Result<usize, String> {
    config[key]
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| format!("config.json has no `{key}`"))
}

/// An encoder's dimensions and settings, from its `config.json`.
pub(crate) struct Shape {
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f32,
    pub activation: Activation,
    /// XLM-RoBERTa numbers positions from `padding_idx + 1`; BERT from 0.
    pub position_offset: usize,
}

impl Shape {
    /// Reads the shape of `folder`'s model.
    ///
    /// # Errors
    /// A missing or inconsistent field, named.
    pub(crate) fn of(folder: &ModelFolder) -> Result<Self, EncoderError> {
        let invalid = |message: String| EncoderError::Invalid {
            path: folder.dir.join("config.json"),
            message,
        };
        let c = &folder.config;
        let hidden = usize_field(c, "hidden_size").map_err(invalid)?;
        let heads = usize_field(c, "num_attention_heads").map_err(invalid)?;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(invalid(format!(
                "hidden_size {hidden} is not a multiple of num_attention_heads {heads}"
            )));
        }
        Ok(Self {
            hidden,
            heads,
            layers: usize_field(c, "num_hidden_layers").map_err(invalid)?,
            intermediate: usize_field(c, "intermediate_size").map_err(invalid)?,
            vocab: usize_field(c, "vocab_size").map_err(invalid)?,
            max_positions: c["max_position_embeddings"].as_u64().unwrap_or(512) as usize,
            type_vocab: c["type_vocab_size"].as_u64().unwrap_or(2) as usize,
            eps: c["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32,
            activation: Activation::parse(c["hidden_act"].as_str().unwrap_or("gelu"))
                .map_err(invalid)?,
            position_offset: match folder.architecture {
                Architecture::Bert => 0,
                Architecture::XlmRoberta => c["pad_token_id"].as_u64().unwrap_or(1) as usize + 1,
            },
        })
    }
}

/// Each input's (first row, rows) once packed end to end.
///
/// # Errors
/// [`EncoderError::Model`] for an input longer than the position table
/// (`max_positions` less the first position, `offset`).
pub(crate) fn spans(
    inputs: &[tokenizers::Encoding],
    offset: usize,
    max_positions: usize,
) -> Result<Vec<(usize, usize)>, EncoderError> {
    let mut spans = Vec::with_capacity(inputs.len());
    let mut rows = 0;
    for e in inputs {
        let len = e.get_ids().len();
        if len + offset > max_positions {
            return Err(EncoderError::Model(format!(
                "an input of {len} tokens is longer than the model's {} positions",
                max_positions - offset
            )));
        }
        spans.push((rows, len));
        rows += len;
    }
    Ok(spans)
}

impl Encoder {
    /// The encoder of a model folder, its weights under `vb` (already at
    /// the backbone's prefix, e.g. `bert.` or `roberta.` where the
    /// checkpoint has one).
    ///
    /// # Errors
    /// A missing or misshapen tensor or configuration field, named.
    pub(crate) fn load(folder: &ModelFolder, vb: VarBuilder) -> Result<Self, EncoderError> {
        let Shape {
            hidden,
            heads,
            layers,
            intermediate,
            vocab,
            max_positions,
            type_vocab,
            eps,
            activation,
            position_offset,
        } = Shape::of(folder)?;
        let e = vb.pp("embeddings");
        let mut loaded = Vec::with_capacity(layers);
        for i in 0..layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let s = a.pp("self");
            loaded.push(Layer {
                qkv: Dense::concat([
                    Dense::load(&s.pp("query"), hidden, hidden)?,
                    Dense::load(&s.pp("key"), hidden, hidden)?,
                    Dense::load(&s.pp("value"), hidden, hidden)?,
                ]),
                attention_out: Dense::load(&a.pp("output.dense"), hidden, hidden)?,
                attention_norm: Norm::load(&a.pp("output.LayerNorm"), hidden)?,
                up: Dense::load(&l.pp("intermediate.dense"), hidden, intermediate)?,
                down: Dense::load(&l.pp("output.dense"), intermediate, hidden)?,
                output_norm: Norm::load(&l.pp("output.LayerNorm"), hidden)?,
            });
        }
        Ok(Self {
            hidden,
            heads,
            intermediate,
            eps,
            activation,
            word: tensor(&e, &[vocab, hidden], "word_embeddings.weight")?,
            position: tensor(&e, &[max_positions, hidden], "position_embeddings.weight")?,
            token_type: tensor(&e, &[type_vocab, hidden], "token_type_embeddings.weight")?,
            type_vocab,
            max_positions,
            position_offset,
            embedding_norm: Norm::load(&e.pp("LayerNorm"), hidden)?,
            layers: loaded,
        })
    }

    /// Width of the hidden states.
    pub(crate) fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The last hidden states of a batch of tokenised inputs.
    ///
    /// # Errors
    /// [`EncoderError::Model`] for an input longer than the position table
    /// or a token id outside the vocabulary, naming it.
    pub(crate) fn forward(&self, inputs: &[tokenizers::Encoding]) -> Result<Hidden, EncoderError> {
        let h = self.hidden;
        let spans = spans(inputs, self.position_offset, self.max_positions)?;
        let rows = spans.last().map_or(0, |&(s, l)| s + l);
        let vocab = self.word.len() / h;
        let mut x = vec![0.0f32; rows * h];
        for (e, &(start, _)) in inputs.iter().zip(&spans) {
            for (i, (&id, &ty)) in e.get_ids().iter().zip(e.get_type_ids()).enumerate() {
                let (id, ty) = (id as usize, (ty as usize).min(self.type_vocab - 1));
                if id >= vocab {
                    return Err(EncoderError::Model(format!(
                        "token id {id} is outside the vocabulary of {vocab}"
                    )));
                }
                let p = i + self.position_offset;
                let row = &mut x[(start + i) * h..(start + i + 1) * h];
                let w = &self.word[id * h..(id + 1) * h];
                let pos = &self.position[p * h..(p + 1) * h];
                let t = &self.token_type[ty * h..(ty + 1) * h];
                for j in 0..h {
                    row[j] = w[j] + pos[j] + t[j];
                }
            }
        }
        self.embedding_norm.apply(&mut x, self.eps);

        let mut qkv = vec![0.0f32; rows * 3 * h];
        let mut context = vec![0.0f32; rows * h];
        let mut up = vec![0.0f32; rows * self.intermediate];
        for layer in &self.layers {
            layer.qkv.fill_bias(&mut qkv);
            layer.qkv.accumulate(&x, rows, &mut qkv);
            self.attention(&qkv, &spans, &mut context);
            // x ← norm(x + context Woᵀ + bo)
            layer.attention_out.add_bias(&mut x);
            layer.attention_out.accumulate(&context, rows, &mut x);
            layer.attention_norm.apply(&mut x, self.eps);
            // x ← norm(x + act(x W1ᵀ + b1) W2ᵀ + b2)
            layer.up.fill_bias(&mut up);
            layer.up.accumulate(&x, rows, &mut up);
            self.activation.apply(&mut up);
            layer.down.add_bias(&mut x);
            layer.down.accumulate(&up, rows, &mut x);
            layer.output_norm.apply(&mut x, self.eps);
        }
        Ok(Hidden {
            data: x,
            spans,
            width: h,
        })
    }

    /// Scaled dot-product attention of every head of every sequence, each
    /// over its own tokens only; writes `context` (`[tokens, hidden]`).
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], context: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * h;
        let out = SharedMut(context.as_mut_ptr());
        let work: Vec<(usize, usize, usize)> = spans
            .iter()
            .filter(|(_, len)| *len > 0)
            .flat_map(|&(start, len)| (0..self.heads).map(move |head| (start, len, head)))
            .collect();
        work.par_iter()
            .for_each_init(Vec::<f32>::new, |scores, &(start, len, head)| {
                scores.resize(len * len, 0.0);
                let q = qkv[start * stride + head * d..].as_ptr();
                let k = qkv[start * stride + h + head * d..].as_ptr();
                let v = qkv[start * stride + 2 * h + head * d..].as_ptr();
                // SAFETY: q, k and v point at `len` rows of `d` values with
                // row stride `3·hidden`, inside `qkv` (the spans lie within
                // the packed rows); `scores` is `len × len`; the context
                // block written (rows start..start+len, columns
                // head·d..head·d+d) belongs to this (sequence, head) alone,
                // so no two tasks write the same element.
                unsafe {
                    // scores = scale · Q Kᵀ
                    times_transposed(
                        (len, len, d),
                        scores.as_mut_ptr(),
                        (q, stride),
                        (k, stride),
                        scale,
                    );
                    for row in scores.chunks_exact_mut(len) {
                        vmath::softmax(row);
                    }
                    // context = softmax(scores) V
                    gemm::gemm(
                        len,
                        d,
                        len,
                        out.at(start * h + head * d),
                        1,
                        h as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        len as isize,
                        v,
                        1,
                        stride as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            });
    }
}

/// `out` = `scale` · A Bᵀ, row-major `[m, n]` (row stride `n`), where A is
/// `m` rows and B `n` rows of `k` values, each at its own row stride, on
/// the calling thread. Attention's Q Kᵀ and late interaction's cosines
/// ([`max_sim`](crate::max_sim)) both have this shape.
///
/// # Safety
/// `a` must point at `m` rows of `k` readable values `a_stride` apart, `b`
/// at `n` rows of `k` readable values `b_stride` apart, and `out` at
/// `m · n` writable values that nothing else reads or writes meanwhile.
pub(crate) unsafe fn times_transposed(
    (m, n, k): (usize, usize, usize),
    out: *mut f32,
    (a, a_stride): (*const f32, usize),
    (b, b_stride): (*const f32, usize),
    scale: f32,
) {
    // SAFETY: the caller's contract is gemm's for these strides: A read
    // as `m × k` (column stride 1), B read as the `k × n` matrix Bᵀ
    // (column stride `b_stride`, row stride 1), `out` written densely.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            n as isize,
            false,
            a,
            1,
            a_stride as isize,
            b,
            b_stride as isize,
            1,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl Hidden {
    /// Packed hidden states `data` (`[rows, width]`) of sequences at
    /// `spans`.
    pub(crate) fn new(data: Vec<f32>, spans: Vec<(usize, usize)>, width: usize) -> Self {
        Self { data, spans, width }
    }

    /// Mean of each sequence's hidden states.
    pub(crate) fn mean(&self) -> Vec<Vec<f32>> {
        self.spans
            .iter()
            .map(|&(start, len)| {
                let mut acc = vec![0.0f32; self.width];
                for row in self.data[start * self.width..(start + len) * self.width]
                    .chunks_exact(self.width)
                {
                    acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                }
                let n = len.max(1) as f32;
                acc.iter_mut().for_each(|a| *a /= n);
                acc
            })
            .collect()
    }

    /// Number of sequences.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Sequence `i`'s hidden states scaled to unit length, row-major
    /// (`[tokens, width]`): what late interaction compares.
    pub(crate) fn unit_rows(&self, i: usize) -> Vec<f32> {
        let width = self.width;
        let (start, len) = self.spans[i];
        let mut rows = self.data[start * width..(start + len) * width].to_vec();
        rows.chunks_exact_mut(width).for_each(normalize);
        rows
    }

    /// Each sequence's first hidden state (`[CLS]` / `<s>`), as one
    /// `[sequences, hidden]` row-major matrix.
    pub(crate) fn first(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.spans.len() * self.width);
        for &(start, len) in &self.spans {
            if len == 0 {
                out.extend(std::iter::repeat_n(0.0, self.width));
            } else {
                out.extend_from_slice(&self.data[start * self.width..(start + 1) * self.width]);
            }
        }
        out
    }
}

/// Scales a vector to unit length.
pub(crate) fn l2_normalize(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v);
    v
}

/// Scales a row to unit length in place.
fn normalize(row: &mut [f32]) {
    let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    row.iter_mut().for_each(|x| *x /= norm);
}

/// Where a checkpoint keeps the backbone: under `bert.` / `roberta.` (or
/// the `model_type`) when it has such a prefix, else at the root.
pub(crate) fn backbone_prefix<'a>(folder: &ModelFolder, vb: VarBuilder<'a>) -> VarBuilder<'a> {
    let model_type = folder.config["model_type"].as_str().unwrap_or_default();
    for prefix in ["bert", "roberta", model_type] {
        if !prefix.is_empty()
            && vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight"))
        {
            return vb.pp(prefix);
        }
    }
    vb
}
