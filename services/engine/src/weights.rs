//! Reading a checkpoint: a safetensors folder (one file or shards listed in
//! `model.safetensors.index.json`, memory-mapped; dense, or quantised as
//! AWQ, GPTQ, FP8 or compressed-tensors, see [`crate::quant`]) or a GGUF
//! file (quantised blocks kept quantised, multiplied by candle's quantised
//! kernels).
//!
//! The model asks for weights by role ([`Slot`]); this module maps a role to
//! the file's tensor name, checks the shape against the configuration and
//! returns a [`Linear`], a [`Embedding`] or a norm vector. A missing tensor
//! or a wrong shape is an error naming the tensor, before any compute.

use crate::EngineError;
use crate::config::{Architecture, ModelConfig, RopeScaling, RopeStyle};
use crate::quant::{QWeight, Quantization, Unpacked};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Module, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A weight's role in the model.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    /// Token embedding.
    Embed,
    /// Output projection (absent when tied).
    LmHead,
    /// Final RMSNorm.
    FinalNorm,
    /// Query projection of layer i.
    Q(usize),
    /// Key projection.
    K(usize),
    /// Value projection.
    V(usize),
    /// Attention output projection.
    O(usize),
    /// Per-head query RMSNorm (Qwen3).
    QNorm(usize),
    /// Per-head key RMSNorm (Qwen3).
    KNorm(usize),
    /// MLP gate projection.
    Gate(usize),
    /// MLP up projection.
    Up(usize),
    /// MLP down projection.
    Down(usize),
    /// RMSNorm before attention.
    AttnNorm(usize),
    /// RMSNorm before the MLP.
    MlpNorm(usize),
}

impl Slot {
    fn hf_name(self) -> String {
        format!("{}.weight", self.hf_module())
    }

    /// The module's name in a transformers checkpoint (its tensors are
    /// `<module>.weight`, or a quantised format's `<module>.qweight`, …).
    fn hf_module(self) -> String {
        let l = |i: usize, rest: &str| format!("model.layers.{i}.{rest}");
        match self {
            Self::Embed => "model.embed_tokens".into(),
            Self::LmHead => "lm_head".into(),
            Self::FinalNorm => "model.norm".into(),
            Self::Q(i) => l(i, "self_attn.q_proj"),
            Self::K(i) => l(i, "self_attn.k_proj"),
            Self::V(i) => l(i, "self_attn.v_proj"),
            Self::O(i) => l(i, "self_attn.o_proj"),
            Self::QNorm(i) => l(i, "self_attn.q_norm"),
            Self::KNorm(i) => l(i, "self_attn.k_norm"),
            Self::Gate(i) => l(i, "mlp.gate_proj"),
            Self::Up(i) => l(i, "mlp.up_proj"),
            Self::Down(i) => l(i, "mlp.down_proj"),
            Self::AttnNorm(i) => l(i, "input_layernorm"),
            Self::MlpNorm(i) => l(i, "post_attention_layernorm"),
        }
    }

    fn gguf_name(self) -> String {
        let l = |i: usize, rest: &str| format!("blk.{i}.{rest}.weight");
        match self {
            Self::Embed => "token_embd.weight".into(),
            Self::LmHead => "output.weight".into(),
            Self::FinalNorm => "output_norm.weight".into(),
            Self::Q(i) => l(i, "attn_q"),
            Self::K(i) => l(i, "attn_k"),
            Self::V(i) => l(i, "attn_v"),
            Self::O(i) => l(i, "attn_output"),
            Self::QNorm(i) => l(i, "attn_q_norm"),
            Self::KNorm(i) => l(i, "attn_k_norm"),
            Self::Gate(i) => l(i, "ffn_gate"),
            Self::Up(i) => l(i, "ffn_up"),
            Self::Down(i) => l(i, "ffn_down"),
            Self::AttnNorm(i) => l(i, "attn_norm"),
            Self::MlpNorm(i) => l(i, "ffn_norm"),
        }
    }
}

/// `x Wᵀ` through [`crate::matvec`] when it applies: `f32` on the CPU,
/// `x` `[m, in]` with at most [`crate::matvec::max_rows`] rows (decode
/// steps), `w` laid out whole. `None` otherwise: the caller uses GEMM.
fn decode_product(x: &Tensor, w: &Tensor) -> candle_core::Result<Option<Tensor>> {
    use candle_core::{CpuStorage, Storage};
    let (&[m, k], &[n, wk]) = (x.dims(), w.dims()) else {
        return Ok(None);
    };
    if !x.device().is_cpu()
        || x.dtype() != DType::F32
        || w.dtype() != DType::F32
        || k != wk
        || !(1..=crate::matvec::max_rows()).contains(&m)
    {
        return Ok(None);
    }
    let (storage, layout) = w.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(all)), Some((start, end))) =
        (&*storage, layout.contiguous_offsets())
    else {
        return Ok(None);
    };
    let xs = x.flatten_all()?.to_vec1::<f32>()?;
    let y = crate::matvec::matvec_f32(&xs, m, &all[start..end], n, k);
    Ok(Some(Tensor::from_vec(y, (m, n), x.device())?))
}

/// A projection `y = x Wᵀ`, dense or quantised.
#[derive(Debug, Clone)]
pub enum Linear {
    /// `[out, in]` in the compute dtype.
    Dense(Tensor),
    /// GGUF blocks.
    Quant(QMatMul),
    /// AWQ, GPTQ, FP8 or compressed-tensors weights in the engine's layout
    /// (CPU).
    Packed(Arc<QWeight>),
}

impl Linear {
    /// `x` is `[n, in]`; returns `[n, out]`.
    ///
    /// # Errors
    /// On a shape mismatch or a kernel failure.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(w) => match decode_product(x, w)? {
                Some(y) => Ok(y),
                None => x.matmul(&w.t()?),
            },
            Self::Quant(q) => q.forward(x),
            Self::Packed(q) => crate::quant::forward(q, x),
        }
    }

    /// Rows (`dim` 0, output features) or columns (`dim` 1, input
    /// features) `start..start + len`: one tensor-parallel shard. GGUF
    /// blocks are dequantised first (blocks run along rows, so a column
    /// share is not a whole number of blocks in general); packed weights
    /// split along whole groups and stay quantised.
    ///
    /// # Errors
    /// On a range outside the matrix, or one that cuts a quantisation
    /// group.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self, EngineError> {
        let w = match self {
            Self::Packed(q) => return Ok(Self::Packed(Arc::new(q.narrow(dim, start, len)?))),
            Self::Dense(w) => w.clone(),
            Self::Quant(QMatMul::QTensor(q)) => q.dequantize(&q.device())?,
            Self::Quant(QMatMul::Tensor(w) | QMatMul::TensorF16(w)) => w.clone(),
        };
        Ok(Self::Dense(w.narrow(dim, start, len)?.contiguous()?))
    }

    /// Bytes of weights read per token (for bandwidth ceilings).
    pub fn bytes(&self) -> usize {
        match self {
            Self::Dense(w) => w.elem_count() * w.dtype().size_in_bytes(),
            Self::Quant(QMatMul::QTensor(q)) => q.storage_size_in_bytes(),
            Self::Quant(QMatMul::Tensor(w) | QMatMul::TensorF16(w)) => {
                w.elem_count() * w.dtype().size_in_bytes()
            }
            Self::Packed(q) => q.bytes(),
        }
    }
}

/// The token embedding, dense or quantised.
#[derive(Debug, Clone)]
pub enum Embedding {
    /// `[vocab, hidden]`.
    Dense(Tensor),
    /// GGUF blocks, looked up row by row.
    Quant(Arc<QTensor>),
}

impl Embedding {
    /// Rows for `ids` (`[n]` u32) as `[n, hidden]` in `dtype`.
    ///
    /// # Errors
    /// On an id out of range or a kernel failure.
    pub fn forward(&self, ids: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
        match self {
            Self::Dense(w) => w.index_select(ids, 0),
            Self::Quant(q) => q.embedding(ids)?.to_dtype(dtype),
        }
    }

    /// Bytes the matrix takes in memory.
    pub fn bytes(&self) -> usize {
        match self {
            Self::Dense(w) => w.elem_count() * w.dtype().size_in_bytes(),
            Self::Quant(q) => q.storage_size_in_bytes(),
        }
    }

    /// The same matrix as an output projection (tied embeddings).
    ///
    /// # Errors
    /// When the quantised matrix cannot be wrapped.
    pub fn as_linear(&self) -> candle_core::Result<Linear> {
        Ok(match self {
            Self::Dense(w) => Linear::Dense(w.clone()),
            Self::Quant(q) => Linear::Quant(QMatMul::from_arc(q.clone())?),
        })
    }
}

enum Source {
    /// Random weights made on the device (benchmarks of large shapes);
    /// with `int4`, the projections are random ggml `Q4_1` blocks, the form
    /// 4-bit checkpoints (AWQ, GPTQ) take on GPUs.
    Random {
        int4: bool,
    },
    Safetensors(MmapedSafetensors),
    Gguf {
        content: Content,
        path: PathBuf,
        file: std::sync::Mutex<std::fs::File>,
    },
}

/// An opened checkpoint.
pub struct Checkpoint {
    source: Source,
    /// The model's shape.
    pub config: ModelConfig,
    /// Where the checkpoint lives (folder or `.gguf` file).
    pub path: PathBuf,
    device: Device,
    dtype: DType,
    /// Quantised GGUF matrices are dequantised to `dtype` at load.
    dequantize: bool,
    /// `quantization_config` of a quantised safetensors checkpoint.
    quantization: Option<Quantization>,
    /// 4-bit packed weights are held as ggml `Q4_1` blocks (always on
    /// GPUs; on the CPU when asked, for tests).
    ggml_blocks: bool,
}

fn file_err(path: &Path, message: impl std::fmt::Display) -> EngineError {
    EngineError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

impl Checkpoint {
    /// Opens a safetensors folder (config.json + model.safetensors or the
    /// shards of model.safetensors.index.json) or a `.gguf` file. Weights
    /// are computed in `dtype` (f32 on CPU; bf16/f16 on GPUs); quantised
    /// GGUF blocks stay quantised.
    ///
    /// # Errors
    /// Naming the missing file, the unsupported architecture or the
    /// configuration field.
    pub fn open(path: &Path, device: &Device, dtype: DType) -> Result<Self, EngineError> {
        if path.is_file() && path.extension().is_some_and(|e| e == "gguf") {
            return Self::open_gguf(path, device, dtype);
        }
        if !path.is_dir() {
            return Err(file_err(
                path,
                "no such model: expected a folder with config.json and safetensors, or a .gguf file",
            ));
        }
        let config_path = path.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| file_err(&config_path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| EngineError::Config {
                field: "config.json".into(),
                message: e.to_string(),
            })?;
        let config = ModelConfig::from_hf_value(&json)?;
        let quantization = Quantization::from_folder(path, &json)?;
        let index = path.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index.is_file() {
            let text = std::fs::read_to_string(&index).map_err(|e| file_err(&index, e))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| file_err(&index, e))?;
            let map = v["weight_map"]
                .as_object()
                .ok_or_else(|| file_err(&index, "has no `weight_map` object"))?;
            let mut names: Vec<&str> = map.values().filter_map(|f| f.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.into_iter().map(|n| path.join(n)).collect()
        } else {
            vec![path.join("model.safetensors")]
        };
        for f in &files {
            if !f.is_file() {
                return Err(file_err(f, "missing (the checkpoint is incomplete)"));
            }
        }
        // SAFETY: the files are mapped read-only; like every mmap-based
        // loader we rely on them not being truncated while in use.
        let st = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| file_err(path, e))?;
        Ok(Self {
            source: Source::Safetensors(st),
            config,
            path: path.to_path_buf(),
            device: device.clone(),
            dtype,
            dequantize: false,
            quantization,
            ggml_blocks: false,
        })
    }

    /// A checkpoint of `config`'s shape whose weights are random, made on
    /// `device` in `dtype` as the model asks for them (normal with σ 0.02;
    /// norms are ones): a Qwen3-32B-shaped model for a speed check without
    /// 65 GB of files. `seed` seeds the device's generator (GPUs).
    ///
    /// # Errors
    /// When the device cannot be seeded.
    pub fn random(
        config: ModelConfig,
        device: &Device,
        dtype: DType,
        seed: u64,
    ) -> Result<Self, EngineError> {
        Self::random_with(config, device, dtype, seed, false)
    }

    /// [`Checkpoint::random`] with the decoder layers' projections held as
    /// random 4-bit ggml `Q4_1` blocks (as an AWQ or GPTQ int4 checkpoint
    /// is on a GPU, see [`QWeight::to_q4_1_bytes`]); the embedding and the
    /// output layer stay dense, as those releases keep them.
    ///
    /// # Errors
    /// As [`Checkpoint::random`].
    pub fn random_int4(
        config: ModelConfig,
        device: &Device,
        dtype: DType,
        seed: u64,
    ) -> Result<Self, EngineError> {
        Self::random_with(config, device, dtype, seed, true)
    }

    fn random_with(
        config: ModelConfig,
        device: &Device,
        dtype: DType,
        seed: u64,
        int4: bool,
    ) -> Result<Self, EngineError> {
        if !device.is_cpu() {
            device.set_seed(seed)?;
        }
        Ok(Self {
            source: Source::Random { int4 },
            config,
            path: PathBuf::from("random"),
            device: device.clone(),
            dtype,
            dequantize: false,
            quantization: None,
            ggml_blocks: false,
        })
    }

    fn open_gguf(path: &Path, device: &Device, dtype: DType) -> Result<Self, EngineError> {
        let mut file = std::fs::File::open(path).map_err(|e| file_err(path, e))?;
        let content = Content::read(&mut file).map_err(|e| file_err(path, e))?;
        let config = config_from_gguf(&content.metadata)?;
        Ok(Self {
            source: Source::Gguf {
                content,
                path: path.to_path_buf(),
                file: std::sync::Mutex::new(file),
            },
            config,
            path: path.to_path_buf(),
            device: device.clone(),
            dtype,
            dequantize: false,
            quantization: None,
            ggml_blocks: false,
        })
    }

    /// The quantisation of a quantised safetensors checkpoint.
    pub fn quantization(&self) -> Option<&Quantization> {
        self.quantization.as_ref()
    }

    /// Holds 4-bit quantised weights (AWQ, GPTQ without act order,
    /// compressed-tensors int4) as ggml `Q4_1` blocks multiplied by
    /// candle's quantised kernels, as they are held on GPUs, also on the
    /// CPU (where the engine's own kernel is otherwise faster and exact):
    /// for tests of the GPU's form.
    pub fn hold_4bit_as_ggml_blocks(&mut self) {
        self.ggml_blocks = true;
    }

    /// Makes quantised GGUF weights load dequantised (in the compute dtype)
    /// when all of them together then take at most `max_bytes`; returns
    /// whether they will. Why: a dense matrix product reads each weight
    /// once for every row of a batch, where candle's quantised CPU kernel
    /// re-reads it per row, so with many sequences per step (continuous
    /// batching, prefill) dense weights are several times faster; the
    /// price is memory. Safetensors checkpoints are dense already.
    pub fn dequantize_within(&mut self, max_bytes: u64) -> bool {
        let Source::Gguf { content, .. } = &self.source else {
            return false;
        };
        let bytes: u64 = content
            .tensor_infos
            .values()
            .map(|t| (t.shape.elem_count() * self.dtype.size_in_bytes()) as u64)
            .sum();
        self.dequantize = bytes <= max_bytes;
        self.dequantize
    }

    /// The GGUF metadata, when the checkpoint is a GGUF file.
    pub fn gguf_metadata(&self) -> Option<&HashMap<String, Value>> {
        match &self.source {
            Source::Gguf { content, .. } => Some(&content.metadata),
            Source::Safetensors(_) | Source::Random { .. } => None,
        }
    }

    /// The device weights are placed on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Whether the checkpoint holds this weight.
    pub fn has(&self, slot: Slot) -> bool {
        match &self.source {
            Source::Safetensors(st) => ["weight", "qweight", "weight_packed"]
                .iter()
                .any(|t| st.get(&format!("{}.{t}", slot.hf_module())).is_ok()),
            Source::Gguf { content, .. } => content.tensor_infos.contains_key(&slot.gguf_name()),
            Source::Random { .. } => {
                !matches!(slot, Slot::LmHead) || !self.config.tie_word_embeddings
            }
        }
    }

    fn check_shape(name: &str, got: &[usize], want: &[usize]) -> Result<(), EngineError> {
        if got != want {
            return Err(EngineError::Shape {
                name: name.into(),
                got: got.to_vec(),
                want: want.to_vec(),
            });
        }
        Ok(())
    }

    fn dense(&self, slot: Slot, shape: &[usize]) -> Result<Tensor, EngineError> {
        match &self.source {
            Source::Safetensors(st) => {
                let name = slot.hf_name();
                let view = st
                    .get(&name)
                    .map_err(|_| EngineError::MissingTensor(name.clone()))?;
                Self::check_shape(&name, view.shape(), shape)?;
                if view.dtype() == safetensors::Dtype::F8_E4M3 {
                    return Err(EngineError::Config {
                        field: name,
                        message: "float8 weights without their scales: the checkpoint's quantization_config does not describe them".into(),
                    });
                }
                Ok(st.load(&name, &self.device)?.to_dtype(self.dtype)?)
            }
            Source::Gguf { .. } => Ok(self
                .quant(slot, shape)?
                .dequantize(&self.device)?
                .to_dtype(self.dtype)?),
            Source::Random { .. } => {
                let norm = matches!(
                    slot,
                    Slot::FinalNorm
                        | Slot::QNorm(_)
                        | Slot::KNorm(_)
                        | Slot::AttnNorm(_)
                        | Slot::MlpNorm(_)
                );
                let t = if norm {
                    Tensor::ones(shape, self.dtype, &self.device)?
                } else {
                    Tensor::randn(0f32, 0.02, shape, &self.device)?.to_dtype(self.dtype)?
                };
                Ok(t)
            }
        }
    }

    fn quant(&self, slot: Slot, shape: &[usize]) -> Result<QTensor, EngineError> {
        let Source::Gguf {
            content,
            path,
            file,
        } = &self.source
        else {
            return Err(EngineError::MissingTensor(slot.hf_name()));
        };
        let name = slot.gguf_name();
        let info = content
            .tensor_infos
            .get(&name)
            .ok_or_else(|| EngineError::MissingTensor(name.clone()))?;
        Self::check_shape(&name, info.shape.dims(), shape)?;
        let mut file = file
            .lock()
            .map_err(|_| file_err(path, "a reader panicked"))?;
        Ok(content.tensor(&mut *file, &name, &self.device)?)
    }

    /// A projection of shape `[out, inp]`.
    ///
    /// # Errors
    /// When the tensor is missing or misshapen.
    pub fn linear(&self, slot: Slot, out: usize, inp: usize) -> Result<Linear, EngineError> {
        match &self.source {
            Source::Safetensors(st) => {
                if let Some(q) = &self.quantization {
                    let module = slot.hf_module();
                    if let Some(u) = crate::quant::formats::read(st, &module, &q.scheme, out, inp)?
                    {
                        return self.packed(&u);
                    }
                    // Neither quantised nor dense: name what was expected.
                    if st.get(&slot.hf_name()).is_err() {
                        let quantised = crate::quant::formats::first_tensor(&q.scheme);
                        return Err(EngineError::MissingTensor(format!(
                            "{module}.{quantised}` (the {} weights) or `{module}.weight",
                            q.scheme.method()
                        )));
                    }
                }
                Ok(Linear::Dense(self.dense(slot, &[out, inp])?))
            }
            Source::Gguf { .. } => {
                let q = self.quant(slot, &[out, inp])?;
                if self.dequantize {
                    return Ok(Linear::Dense(
                        q.dequantize(&self.device)?.to_dtype(self.dtype)?,
                    ));
                }
                Ok(Linear::Quant(QMatMul::from_qtensor(q)?))
            }
            Source::Random { int4 } => {
                let projection = !matches!(slot, Slot::Embed | Slot::LmHead);
                if *int4 && projection && inp.is_multiple_of(32) {
                    return Ok(Linear::Quant(QMatMul::from_qtensor(random_q4_1(
                        out,
                        inp,
                        &self.device,
                    )?)?));
                }
                Ok(Linear::Dense(self.dense(slot, &[out, inp])?))
            }
        }
    }

    /// A quantised matrix: in the engine's layout on the CPU; as ggml
    /// `Q4_1` blocks on GPUs when it is 4-bit (see
    /// [`QWeight::to_q4_1_bytes`]); dense in the compute dtype otherwise
    /// (8-bit and e4m3 weights on GPUs, act order on GPUs, shapes the
    /// layout does not take).
    fn packed(&self, u: &Unpacked) -> Result<Linear, EngineError> {
        if let Some(q) = QWeight::pack(u) {
            if self.device.is_cpu() && !self.ggml_blocks {
                return Ok(Linear::Packed(Arc::new(q)));
            }
            if let Some(bytes) = q.to_q4_1_bytes() {
                let t = candle_core::quantized::ggml_file::qtensor_from_ggml(
                    GgmlDType::Q4_1,
                    &bytes,
                    vec![u.rows, u.cols],
                    &self.device,
                )?;
                return Ok(Linear::Quant(QMatMul::from_qtensor(t)?));
            }
        }
        let w = Tensor::from_vec(u.dequantize(), (u.rows, u.cols), &Device::Cpu)?;
        Ok(Linear::Dense(
            w.to_dtype(self.dtype)?.to_device(&self.device)?,
        ))
    }

    /// A norm's scale vector of length `len`, in f32 (norms are computed in
    /// f32 whatever the weights' dtype, as transformers does).
    ///
    /// # Errors
    /// When the tensor is missing or misshapen.
    pub fn vector(&self, slot: Slot, len: usize) -> Result<Tensor, EngineError> {
        Ok(self.dense(slot, &[len])?.to_dtype(DType::F32)?)
    }

    /// The token embedding `[vocab, hidden]`.
    ///
    /// # Errors
    /// When the tensor is missing or misshapen.
    pub fn embedding(&self, vocab: usize, hidden: usize) -> Result<Embedding, EngineError> {
        match &self.source {
            Source::Safetensors(_) | Source::Random { .. } => {
                Ok(Embedding::Dense(self.dense(Slot::Embed, &[vocab, hidden])?))
            }
            Source::Gguf { .. } => {
                let q = self.quant(Slot::Embed, &[vocab, hidden])?;
                if self.dequantize
                    || matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
                {
                    return Ok(Embedding::Dense(
                        q.dequantize(&self.device)?.to_dtype(self.dtype)?,
                    ));
                }
                Ok(Embedding::Quant(Arc::new(q)))
            }
        }
    }
}

/// A `[rows, cols]` matrix of random ggml `Q4_1` blocks (per 32 weights:
/// an f16 scale, an f16 minimum, 16 bytes of nibbles), weights spread like
/// a trained layer's (about ±0.015).
fn random_q4_1(rows: usize, cols: usize, device: &Device) -> Result<QTensor, EngineError> {
    let blocks = rows * cols / 32;
    let (d, m) = (half::f16::from_f32(0.002), half::f16::from_f32(-0.015));
    let mut bytes = Vec::with_capacity(blocks * 20);
    // A cheap deterministic generator: the bytes only need to vary.
    let mut x: u32 = 0x9E37_79B9;
    for _ in 0..blocks {
        bytes.extend_from_slice(&d.to_le_bytes());
        bytes.extend_from_slice(&m.to_le_bytes());
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    Ok(candle_core::quantized::ggml_file::qtensor_from_ggml(
        GgmlDType::Q4_1,
        &bytes,
        vec![rows, cols],
        device,
    )?)
}

fn meta<'a>(m: &'a HashMap<String, Value>, key: &str) -> Result<&'a Value, EngineError> {
    m.get(key).ok_or_else(|| EngineError::Config {
        field: key.into(),
        message: "missing from the GGUF metadata".into(),
    })
}

fn meta_usize(m: &HashMap<String, Value>, key: &str) -> Result<usize, EngineError> {
    meta(m, key)?
        .to_u64()
        .map(|n| n as usize)
        .map_err(|e| EngineError::Config {
            field: key.into(),
            message: e.to_string(),
        })
}

/// A number of any width (llama.cpp writes most floats as f32).
fn meta_f64(m: &HashMap<String, Value>, key: &str) -> Option<f64> {
    let v = m.get(key)?;
    v.to_f64()
        .ok()
        .or_else(|| v.to_f32().ok().map(f64::from))
        .or_else(|| v.to_u64().ok().map(|n| n as f64))
        .or_else(|| v.to_i64().ok().map(|n| n as f64))
}

/// The model shape from GGUF metadata (`general.architecture` and the
/// `<arch>.*` keys llama.cpp writes).
fn config_from_gguf(m: &HashMap<String, Value>) -> Result<ModelConfig, EngineError> {
    let arch = meta(m, "general.architecture")?
        .to_string()
        .map_err(|e| EngineError::Config {
            field: "general.architecture".into(),
            message: e.to_string(),
        })?
        .clone();
    let (architecture, rope_style) = match arch.as_str() {
        // llama.cpp's converter permutes Llama's q/k rows for adjacent-pair
        // rotation; Qwen3 files keep the rotate-half layout.
        "llama" => (Architecture::Llama, RopeStyle::Interleaved),
        "qwen3" => (Architecture::Qwen3, RopeStyle::Half),
        other => return Err(EngineError::Architecture(other.into())),
    };
    let k = |s: &str| format!("{arch}.{s}");
    let hidden_size = meta_usize(m, &k("embedding_length"))?;
    let num_heads = meta_usize(m, &k("attention.head_count"))?;
    let num_kv_heads = meta_usize(m, &k("attention.head_count_kv")).unwrap_or(num_heads);
    let head_dim =
        meta_usize(m, &k("attention.key_length")).unwrap_or(hidden_size / num_heads.max(1));
    let vocab_size = match meta_usize(m, &k("vocab_size")) {
        Ok(n) => n,
        Err(_) => meta(m, "tokenizer.ggml.tokens")?
            .to_vec()
            .map(Vec::len)
            .map_err(|e| EngineError::Config {
                field: "tokenizer.ggml.tokens".into(),
                message: e.to_string(),
            })?,
    };
    let context = meta_usize(m, &k("context_length")).unwrap_or(4096);
    let rope_scaling = match m
        .get(&k("rope.scaling.type"))
        .and_then(|v| v.to_string().ok())
    {
        Some(t) if t == "yarn" => RopeScaling::Yarn {
            factor: meta_f64(m, &k("rope.scaling.factor")).unwrap_or(1.0),
            original_max_position_embeddings: meta_usize(
                m,
                &k("rope.scaling.original_context_length"),
            )
            .unwrap_or(context),
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: None,
            truncate: true,
        },
        _ => RopeScaling::None,
    };
    let eos = m
        .get("tokenizer.ggml.eos_token_id")
        .and_then(|v| v.to_u32().ok())
        .into_iter()
        .collect();
    let config = ModelConfig {
        architecture,
        vocab_size,
        hidden_size,
        intermediate_size: meta_usize(m, &k("feed_forward_length"))?,
        num_layers: meta_usize(m, &k("block_count"))?,
        num_heads,
        num_kv_heads,
        head_dim,
        rms_norm_eps: meta_f64(m, &k("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
        rope_theta: meta_f64(m, &k("rope.freq_base")).unwrap_or(10_000.0),
        rope_scaling,
        rope_style,
        max_position_embeddings: context,
        tie_word_embeddings: false,
        eos_token_ids: eos,
    };
    config.check()?;
    Ok(config)
}
