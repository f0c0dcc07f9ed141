//! LoRA adapters served unmerged over one base model, as vLLM and S-LoRA
//! serve them.
//!
//! An adapter adds `(x Aᵀ) Bᵀ · s` to a projection's output, with `A`
//! `[r, in]`, `B` `[out, r]` and `s = α/r` (rsLoRA: `α/√r`). Merging it
//! into the weights would need a copy of the model per adapter, and one
//! batch could serve only one of them; kept apart, the base weights are
//! shared and every sequence of a batch picks its own adapter (or none):
//! [`crate::Model`] runs the base projection over the whole packed batch,
//! then adds each adapter's low-rank product to the rows of the sequences
//! that use it. The product costs `r·(in + out)` per row, a few percent of
//! the base projection at the ranks people train.
//!
//! Adapters are read from PEFT's folders (`adapter_config.json` and
//! `adapter_model.safetensors`) and checked against the base model before
//! anything is served: target modules, every tensor's shape, the layer
//! indices, and the base model's name. Anything PEFT can express that this
//! does not compute (DoRA, biases, extra trained modules such as the
//! embeddings, per-module rank or alpha patterns) is refused by name.

use crate::EngineError;
use crate::config::ModelConfig;
use crate::model::Placement;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;
use std::path::Path;

/// The projections an adapter may target, in the order [`LoraAdapter`]
/// stores them.
pub const TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// One projection of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proj {
    /// Query.
    Q = 0,
    /// Key.
    K = 1,
    /// Value.
    V = 2,
    /// Attention output.
    O = 3,
    /// MLP gate.
    Gate = 4,
    /// MLP up.
    Up = 5,
    /// MLP down.
    Down = 6,
}

/// `A` and `B` of one projection, `B` already multiplied by the scale.
#[derive(Debug, Clone)]
pub struct LoraPair {
    /// `[r, in]`.
    pub a: Tensor,
    /// `[out, r]`, times `s`.
    pub b: Tensor,
}

impl LoraPair {
    /// `(x Aᵀ) Bᵀ` for `x` `[n, in]`: `[n, out]`.
    ///
    /// # Errors
    /// On a shape mismatch.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.a.t()?)?.matmul(&self.b.t()?)
    }
}

/// A loaded adapter (or the part of one a [`Placement`] holds).
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    name: String,
    /// SHA-256 of `adapter_model.safetensors`, hex: which weights answered.
    sha256: String,
    rank: usize,
    /// Per layer of the placement, per [`Proj`].
    layers: Vec<[Option<LoraPair>; 7]>,
    /// The first layer's global index.
    first_layer: usize,
}

fn bad(path: &Path, message: impl Into<String>) -> EngineError {
    EngineError::File {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// The output and input features of a projection of `c`.
fn shape_of(c: &ModelConfig, p: Proj) -> (usize, usize) {
    let (h, q, kv, i) = (
        c.hidden_size,
        c.num_heads * c.head_dim,
        c.num_kv_heads * c.head_dim,
        c.intermediate_size,
    );
    match p {
        Proj::Q => (q, h),
        Proj::K | Proj::V => (kv, h),
        Proj::O => (h, q),
        Proj::Gate | Proj::Up => (i, h),
        Proj::Down => (h, i),
    }
}

const PROJS: [Proj; 7] = [
    Proj::Q,
    Proj::K,
    Proj::V,
    Proj::O,
    Proj::Gate,
    Proj::Up,
    Proj::Down,
];

/// The layer, projection and matrix (`true` for `A`) a PEFT tensor name
/// names: `base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_{A|B}[.default].weight`.
fn parse_name(name: &str) -> Option<(usize, Proj, bool)> {
    let rest = name.split("layers.").nth(1)?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let mut parts = rest.split('.');
    let block = parts.next()?;
    let proj = parts.next()?;
    let which = parts.next()?;
    let p = PROJS[TARGETS.iter().position(|t| *t == proj)?];
    let in_block = match p {
        Proj::Q | Proj::K | Proj::V | Proj::O => block == "self_attn",
        _ => block == "mlp",
    };
    let tail: Vec<&str> = parts.collect();
    let tail_ok = tail == ["weight"] || tail.len() == 2 && tail[1] == "weight";
    if !in_block || !tail_ok {
        return None;
    }
    match which {
        "lora_A" => Some((layer, p, true)),
        "lora_B" => Some((layer, p, false)),
        _ => None,
    }
}

/// The words that name a model, from a hub id, folder or file name: the
/// last path part, lower case, split at `-`, `_` and `.`, without the
/// words of quantised releases and formats (`awq`, `gptq`, `fp8`, `int4`,
/// `bnb`, `4bit`, `gguf`, `q8_0`, …) and of packagers (`unsloth`). So an
/// adapter for `Qwen/Qwen3-32B` fits `Qwen3-32B-AWQ`,
/// `unsloth/qwen3-32b-unsloth-bnb-4bit` and `qwen3-32b.q8_0.gguf`, not
/// `Qwen3-8B`. `None` when the name says nothing checkable: a local
/// training path (`/…`, `./…`) or a hub snapshot folder (a hash).
fn model_words(name: &str) -> Option<Vec<String>> {
    if name.starts_with('/') || name.starts_with('.') || name.is_empty() {
        return None;
    }
    let last = name.trim_end_matches('/').rsplit('/').next()?;
    if last.len() >= 32 && last.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let skip = |w: &str| {
        matches!(
            w,
            "awq"
                | "gptq"
                | "fp8"
                | "int4"
                | "int8"
                | "w4a16"
                | "w8a16"
                | "w8a8"
                | "bnb"
                | "4bit"
                | "8bit"
                | "gguf"
                | "unsloth"
                | "dynamic"
                | "quantized"
                | "safetensors"
                | "f16"
                | "bf16"
                | "f32"
        )
    };
    // llama.cpp's quantisation types, whole (`q4_1`, `q4_k_m`, `iq4_xs`).
    let quant_type = |w: &str| {
        let rest = w.strip_prefix("iq").or_else(|| w.strip_prefix('q'));
        rest.is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    };
    let lower = last.to_ascii_lowercase();
    let words: Vec<String> = lower
        .split(['-', '.'])
        .filter(|w| !quant_type(w))
        .flat_map(|w| w.split('_'))
        .filter(|w| !w.is_empty() && !skip(w))
        .map(str::to_owned)
        .collect();
    (!words.is_empty()).then_some(words)
}

impl LoraAdapter {
    /// Reads the PEFT adapter in `dir` for the base model `config`, named
    /// `name` (the name requests use). `base_name`, when given, is the
    /// served model's name or folder: an adapter whose
    /// `base_model_name_or_path` ends in a different name is refused.
    ///
    /// # Errors
    /// [`EngineError::File`] naming the file and what does not match.
    pub fn open(
        name: &str,
        dir: &Path,
        config: &ModelConfig,
        base_name: Option<&str>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, EngineError> {
        let cfg_path = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| bad(&cfg_path, format!("{e} (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)")))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| bad(&cfg_path, e.to_string()))?;
        let scale = Self::check_config(&cfg_path, &v, base_name)?;
        let weights = dir.join("adapter_model.safetensors");
        if !weights.is_file() {
            let hint = if dir.join("adapter_model.bin").is_file() {
                "; adapter_model.bin (pickle) is not read: save the adapter with safe_serialization=True"
            } else {
                ""
            };
            return Err(bad(&weights, format!("missing{hint}")));
        }
        let bytes = std::fs::read(&weights).map_err(|e| bad(&weights, e.to_string()))?;
        let sha256 = {
            use sha2::Digest;
            let d = sha2::Sha256::digest(&bytes);
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(&weights, e.to_string()))?;
        drop(bytes);
        let mut a_of = vec![[const { None }; 7]; config.num_layers];
        let mut b_of = vec![[const { None }; 7]; config.num_layers];
        for (tname, t) in tensors {
            let Some((layer, p, is_a)) = parse_name(&tname) else {
                return Err(bad(
                    &weights,
                    format!(
                        "tensor `{tname}` is not a LoRA matrix of {}: the engine applies adapters to q/k/v/o/gate/up/down projections only",
                        TARGETS.join("/")
                    ),
                ));
            };
            if layer >= config.num_layers {
                return Err(bad(
                    &weights,
                    format!(
                        "`{tname}` is for layer {layer}; the base model has {} layers",
                        config.num_layers
                    ),
                ));
            }
            let slot = if is_a { &mut a_of } else { &mut b_of };
            slot[layer][p as usize] = Some((tname, t));
        }
        let mut rank = 0;
        let mut layers = Vec::with_capacity(config.num_layers);
        let mut any = false;
        for (l, (a_row, b_row)) in a_of.into_iter().zip(b_of).enumerate() {
            let mut row: [Option<LoraPair>; 7] = [const { None }; 7];
            for (p, (a, b)) in PROJS.iter().zip(a_row.into_iter().zip(b_row)) {
                let (a, b) = match (a, b) {
                    (None, None) => continue,
                    (Some((n, _)), None) | (None, Some((n, _))) => {
                        return Err(bad(
                            &weights,
                            format!("`{n}` has no matching lora_A/lora_B partner"),
                        ));
                    }
                    (Some(a), Some(b)) => (a, b),
                };
                let (out, inp) = shape_of(config, *p);
                let r = a.1.dims().first().copied().unwrap_or(0);
                if a.1.dims() != [r, inp] || b.1.dims() != [out, r] || r == 0 {
                    return Err(bad(
                        &weights,
                        format!(
                            "layer {l} {}: lora_A {:?} and lora_B {:?} do not fit the base model's [{out}, {inp}] projection (expected [r, {inp}] and [{out}, r])",
                            TARGETS[*p as usize],
                            a.1.dims(),
                            b.1.dims()
                        ),
                    ));
                }
                rank = rank.max(r);
                let s = scale(r);
                row[*p as usize] = Some(LoraPair {
                    a: a.1.to_dtype(dtype)?.to_device(device)?,
                    b: (b.1.to_dtype(DType::F32)? * s)?
                        .to_dtype(dtype)?
                        .to_device(device)?,
                });
                any = true;
            }
            layers.push(row);
        }
        if !any {
            return Err(bad(&weights, "holds no LoRA matrices"));
        }
        Ok(Self {
            name: name.to_owned(),
            sha256,
            rank,
            layers,
            first_layer: 0,
        })
    }

    /// Checks adapter_config.json; returns the scale as a function of the
    /// rank (`α/r`, or `α/√r` with rsLoRA).
    fn check_config(
        path: &Path,
        v: &Value,
        base_name: Option<&str>,
    ) -> Result<impl Fn(usize) -> f64 + use<>, EngineError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let peft = s("peft_type").unwrap_or("LORA");
        if !peft.eq_ignore_ascii_case("lora") {
            return Err(bad(
                path,
                format!("`peft_type` is `{peft}`; the engine serves LoRA adapters"),
            ));
        }
        let truthy = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        if truthy("use_dora") {
            return Err(bad(
                path,
                "`use_dora` is true: DoRA adapters are not supported; train a plain LoRA",
            ));
        }
        if truthy("fan_in_fan_out") {
            return Err(bad(
                path,
                "`fan_in_fan_out` is true: that layout is for GPT-2's Conv1D, not this model",
            ));
        }
        if truthy("lora_bias") {
            return Err(bad(
                path,
                "`lora_bias` is true: adapters with trained biases are not supported",
            ));
        }
        if let Some(b) = s("bias").filter(|b| *b != "none") {
            return Err(bad(
                path,
                format!("`bias` is `{b}`: adapters with trained biases are not supported"),
            ));
        }
        if let Some(m) = v
            .get("modules_to_save")
            .filter(|m| !m.is_null() && m.as_array().is_none_or(|a| !a.is_empty()))
        {
            return Err(bad(
                path,
                format!(
                    "`modules_to_save` is {m}: adapters that replace whole modules (embeddings, lm_head) are not supported"
                ),
            ));
        }
        for k in ["rank_pattern", "alpha_pattern"] {
            if v.get(k)
                .and_then(Value::as_object)
                .is_some_and(|o| !o.is_empty())
            {
                return Err(bad(
                    path,
                    format!("`{k}` is set: per-module ranks or alphas are not supported"),
                ));
            }
        }
        match v.get("target_modules") {
            Some(Value::Array(a)) => {
                for t in a {
                    let t = t.as_str().unwrap_or_default();
                    let short = t.rsplit('.').next().unwrap_or(t);
                    if !TARGETS.contains(&short) {
                        return Err(bad(
                            path,
                            format!("target module `{t}` is not one of {}", TARGETS.join(", ")),
                        ));
                    }
                }
            }
            // "all-linear" or a pattern: the tensors say which modules.
            Some(Value::String(_)) | None | Some(Value::Null) => {}
            Some(other) => {
                return Err(bad(
                    path,
                    format!("`target_modules` {other} is not a list of names"),
                ));
            }
        }
        if let (Some(base), Some(want)) = (s("base_model_name_or_path"), base_name)
            && let (Some(b), Some(w)) = (model_words(base), model_words(want))
            && b != w
        {
            return Err(bad(
                path,
                format!("the adapter was trained on `{base}`, not on the served model `{want}`"),
            ));
        }
        // PEFT's default alpha is 8.
        let alpha = v.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0);
        let rs = truthy("use_rslora");
        Ok(move |r: usize| {
            let r = r as f64;
            if rs { alpha / r.sqrt() } else { alpha / r }
        })
    }

    /// The name requests use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 (hex) of its `adapter_model.safetensors`: recorded with
    /// every answer, so a trail shows which adapter weights answered even
    /// after the folder behind a name changes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The largest rank among its matrices.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The pair of projection `p` of (global) layer `layer`, if adapted.
    pub fn pair(&self, layer: usize, p: Proj) -> Option<&LoraPair> {
        self.layers
            .get(layer.checked_sub(self.first_layer)?)?
            .get(p as usize)?
            .as_ref()
    }

    /// The same adapter with `B`'s query and key rows in llama.cpp's
    /// order for a GGUF Llama (each head's rotary halves interleaved:
    /// row `h·d + 2i + j` takes row `h·d + j·d/2 + i`).
    ///
    /// # Errors
    /// On a tensor failure.
    pub fn permute_qk_rows(&self, config: &ModelConfig) -> Result<Self, EngineError> {
        let hd = config.head_dim;
        let order = |heads: usize, device: &Device| -> candle_core::Result<Tensor> {
            let mut idx = Vec::with_capacity(heads * hd);
            for h in 0..heads {
                for i in 0..hd / 2 {
                    for j in 0..2 {
                        idx.push((h * hd + j * hd / 2 + i) as u32);
                    }
                }
            }
            Tensor::from_vec(idx, heads * hd, device)
        };
        let mut out = self.clone();
        for row in &mut out.layers {
            for (p, heads) in [(Proj::Q, config.num_heads), (Proj::K, config.num_kv_heads)] {
                if let Some(pair) = &mut row[p as usize] {
                    pair.b = pair.b.index_select(&order(heads, pair.b.device())?, 0)?;
                }
            }
        }
        Ok(out)
    }

    /// The part of the adapter a [`Placement`] runs: its layers, and of
    /// each its tensor-parallel share: `B`'s rows of the projections split
    /// by output (q, k, v, gate, up), `A`'s columns of those split by input
    /// (o, down), so each shard's partial product sums to the whole like
    /// the base weights' do.
    ///
    /// # Errors
    /// When the placement's layers are outside the adapter's.
    pub fn shard(&self, placement: &Placement, config: &ModelConfig) -> Result<Self, EngineError> {
        let size = placement.size.max(1);
        let r = placement.rank;
        let mut layers = Vec::with_capacity(placement.layers.len());
        for l in placement.layers.clone() {
            let row = l
                .checked_sub(self.first_layer)
                .and_then(|i| self.layers.get(i))
                .ok_or_else(|| EngineError::Config {
                    field: "layers".into(),
                    message: format!("adapter `{}` holds no layer {l}", self.name),
                })?;
            let mut out: [Option<LoraPair>; 7] = [const { None }; 7];
            for (p, pair) in PROJS.iter().zip(row) {
                let Some(pair) = pair else { continue };
                let (rows, cols) = shape_of(config, *p);
                out[*p as usize] = Some(match p {
                    _ if size == 1 => pair.clone(),
                    Proj::O | Proj::Down => LoraPair {
                        a: pair
                            .a
                            .narrow(1, r * cols / size, cols / size)?
                            .contiguous()?,
                        b: pair.b.clone(),
                    },
                    _ => LoraPair {
                        a: pair.a.clone(),
                        b: pair
                            .b
                            .narrow(0, r * rows / size, rows / size)?
                            .contiguous()?,
                    },
                });
            }
            layers.push(out);
        }
        Ok(Self {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            rank: self.rank,
            layers,
            first_layer: placement.layers.start,
        })
    }

    /// The same adapter with every matrix on `device` in `dtype` (a part of
    /// a model on another device than the one it was read onto).
    ///
    /// # Errors
    /// When the device cannot take the matrices.
    pub fn to_device(mut self, device: &Device, dtype: DType) -> Result<Self, EngineError> {
        for row in &mut self.layers {
            for pair in row.iter_mut().flatten() {
                pair.a = pair.a.to_device(device)?.to_dtype(dtype)?;
                pair.b = pair.b.to_device(device)?.to_dtype(dtype)?;
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every name PEFT writes for a LoRA matrix (with or without the
        /// adapter's name before `.weight`) reads back as its layer,
        /// projection and matrix; a name for another module never does.
        #[test]
        fn peft_names_read_back(layer in 0usize..200, p in 0usize..7, a: bool, named: bool) {
            let proj = TARGETS[p];
            let block = if p < 4 { "self_attn" } else { "mlp" };
            let which = if a { "lora_A" } else { "lora_B" };
            let tail = if named { ".default.weight" } else { ".weight" };
            let name = format!("base_model.model.model.layers.{layer}.{block}.{proj}.{which}{tail}");
            prop_assert_eq!(parse_name(&name), Some((layer, PROJS[p], a)));
            let other = if p < 4 { "mlp" } else { "self_attn" };
            let wrong = format!("base_model.model.model.layers.{layer}.{other}.{proj}.{which}{tail}");
            prop_assert_eq!(parse_name(&wrong), None);
        }

        /// A quantised release's or file's suffixes never change which
        /// model a name names; a different size always does.
        #[test]
        fn release_suffixes_do_not_change_the_model_named(
            size in 1u32..200, suffix in prop::sample::select(vec![
                "", "-AWQ", "-GPTQ-Int4", "-FP8", "-bnb-4bit", ".Q4_K_M.gguf", "-q8_0.gguf", "-unsloth-bnb-4bit",
            ]),
        ) {
            let base = format!("Qwen/Qwen3-{size}B");
            let served = format!("Qwen3-{size}B{suffix}");
            prop_assert_eq!(model_words(&base), model_words(&served));
            prop_assert_ne!(model_words(&format!("Qwen3-{}B", size + 1)), model_words(&served));
        }
    }

    #[test]
    fn base_names_match_across_quantised_releases_not_sizes() {
        let w = |s: &str| model_words(s);
        assert_eq!(w("Qwen/Qwen3-32B"), w("Qwen3-32B-AWQ"));
        assert_eq!(w("unsloth/qwen3-32b-unsloth-bnb-4bit"), w("Qwen3-32B"));
        assert_eq!(
            w("HuggingFaceTB/SmolLM2-135M-Instruct"),
            w("SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        assert_eq!(w("qwen3-32b-q4_k_m.gguf"), w("Qwen/Qwen3-32B-FP8"));
        assert_ne!(w("Qwen/Qwen3-8B"), w("Qwen3-32B"));
        assert_eq!(w("/home/me/runs/base"), None);
        assert_eq!(w("./base"), None);
        assert_eq!(w("0123456789abcdef0123456789abcdef01234567"), None);
    }

    #[test]
    fn reads_peft_tensor_names() {
        assert_eq!(
            parse_name("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"),
            Some((3, Proj::Q, true))
        );
        assert_eq!(
            parse_name("base_model.model.model.layers.0.mlp.down_proj.lora_B.default.weight"),
            Some((0, Proj::Down, false))
        );
        assert_eq!(
            parse_name("base_model.model.model.embed_tokens.lora_embedding_A"),
            None
        );
        assert_eq!(
            parse_name("base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"),
            None
        );
        assert_eq!(parse_name("base_model.model.lm_head.lora_A.weight"), None);
    }
}
