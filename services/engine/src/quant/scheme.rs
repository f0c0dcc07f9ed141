//! Which quantisation a checkpoint uses: `quantization_config` in
//! config.json, as AutoAWQ, AutoGPTQ/GPTQModel, Qwen's FP8 releases and
//! llm-compressor write it.
//!
//! Only what changes how the tensors are read is kept; anything the engine
//! cannot read exactly (another method, AWQ's GEMV packing, 3-bit GPTQ,
//! asymmetric compressed-tensors integers) is refused here, at load,
//! naming the field and the value, rather than producing wrong numbers.

use crate::EngineError;
use serde_json::Value;
use std::path::Path;

/// How the weights of a quantised checkpoint are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// AutoAWQ, GEMM packing: `qweight` `[in, out/8]` int32 with the
    /// nibbles in AWQ's order, `qzeros` `[in/group, out/8]`, `scales`
    /// `[in/group, out]`.
    Awq {
        /// Input features sharing one scale and zero point.
        group: usize,
    },
    /// GPTQ: `qweight` `[in/(32/bits), out]` int32 packed along the input,
    /// `qzeros` `[groups, out/(32/bits)]`, `scales` `[groups, out]`,
    /// `g_idx` `[in]` (the group of each input feature; out of order with
    /// `desc_act`).
    Gptq {
        /// 4 or 8.
        bits: u32,
        /// Input features per group; `None` (`group_size: -1`): one group
        /// per output row.
        group: Option<usize>,
        /// Zero points are stored minus one (`checkpoint_format: "gptq"`,
        /// AutoGPTQ's layout) rather than as they are (`"gptq_v2"`).
        zeros_minus_one: bool,
    },
    /// Qwen's and DeepSeek's FP8: `weight` in float8 e4m3 with
    /// `weight_scale_inv` per block of `[rows, cols]` (128 × 128).
    Fp8Block {
        /// Rows and columns per scale.
        block: [usize; 2],
    },
    /// compressed-tensors `pack-quantized`: `weight_packed` `[out,
    /// in/(32/bits)]` int32, symmetric values offset by `2^(bits-1)`,
    /// `weight_scale` `[out, in/group]`.
    PackedInt {
        /// 4 or 8.
        bits: u32,
        /// Input features per scale; `None`: one scale per output row.
        group: Option<usize>,
    },
    /// compressed-tensors `float-quantized`: `weight` in float8 e4m3 with
    /// `weight_scale` per tensor, per output row, or per block.
    Fp8Scaled {
        /// The block shape, when the strategy is `block`.
        block: Option<[usize; 2]>,
    },
}

impl Scheme {
    /// The method's name, as `quant_method` spells it.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Awq { .. } => "awq",
            Self::Gptq { .. } => "gptq",
            Self::Fp8Block { .. } => "fp8",
            Self::PackedInt { .. } | Self::Fp8Scaled { .. } => "compressed-tensors",
        }
    }

    /// Bits per weight value.
    pub fn bits(&self) -> u32 {
        match self {
            Self::Awq { .. } => 4,
            Self::Gptq { bits, .. } | Self::PackedInt { bits, .. } => *bits,
            Self::Fp8Block { .. } | Self::Fp8Scaled { .. } => 8,
        }
    }
}

/// A checkpoint's quantisation: the scheme, and the modules it leaves in
/// floating point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantization {
    /// How quantised weights are stored.
    pub scheme: Scheme,
    /// Module names (or suffixes such as `lm_head`) the checkpoint says it
    /// keeps in floating point (`modules_to_not_convert`, `ignore`). A
    /// module is read quantised when its quantised tensors are there and
    /// as floating point otherwise; when neither is there the error names
    /// both.
    pub unquantized: Vec<String>,
}

fn bad(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::Config {
        field: format!("quantization_config.{field}"),
        message: message.into(),
    }
}

fn group_field(v: &Value, field: &str) -> Result<Option<usize>, EngineError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(g) => match g.as_i64() {
            Some(-1) => Ok(None),
            Some(n) if n > 0 => Ok(Some(n as usize)),
            _ => Err(bad(
                field,
                format!("{g} is not a group size (a positive number or -1)"),
            )),
        },
    }
}

fn bits_field(v: &Value, field: &str, allowed: &[u32]) -> Result<u32, EngineError> {
    let bits = v.get(field).and_then(Value::as_u64).unwrap_or(4) as u32;
    if allowed.contains(&bits) {
        Ok(bits)
    } else {
        Err(bad(
            field,
            format!("{bits}-bit weights are not supported; the engine reads {allowed:?} bits"),
        ))
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Quantization {
    /// Reads `quantization_config` from a config.json document; `None`
    /// when the checkpoint is not quantised.
    ///
    /// # Errors
    /// [`EngineError::Config`] naming the field when the method or layout
    /// is one the engine does not read.
    pub fn from_hf_config(config: &Value) -> Result<Option<Self>, EngineError> {
        let Some(q) = config.get("quantization_config").filter(|q| !q.is_null()) else {
            return Ok(None);
        };
        let method = q
            .get("quant_method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("quant_method", "missing"))?
            .to_ascii_lowercase();
        let (scheme, unquantized) = match method.as_str() {
            "awq" => {
                let version = q
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or("gemm")
                    .to_ascii_lowercase();
                if version != "gemm" {
                    return Err(bad(
                        "version",
                        format!(
                            "AWQ `{version}` packing is not supported; the engine reads AWQ's GEMM packing (the one Qwen publishes)"
                        ),
                    ));
                }
                bits_field(
                    q,
                    if q.get("bits").is_some() {
                        "bits"
                    } else {
                        "w_bit"
                    },
                    &[4],
                )?;
                let group = group_field(q, "group_size")?
                    .or(group_field(q, "q_group_size")?)
                    .ok_or_else(|| bad("group_size", "AWQ needs a group size"))?;
                if q.get("zero_point").and_then(Value::as_bool) == Some(false) {
                    return Err(bad(
                        "zero_point",
                        "AWQ without zero points is not supported; the engine reads AWQ's GEMM layout with zero points",
                    ));
                }
                (
                    Scheme::Awq { group },
                    strings(q.get("modules_to_not_convert")),
                )
            }
            "gptq" => {
                let bits = bits_field(q, "bits", &[4, 8])?;
                let format = q
                    .get("checkpoint_format")
                    .and_then(Value::as_str)
                    .unwrap_or("gptq");
                let zeros_minus_one = match format {
                    "gptq" => true,
                    "gptq_v2" => false,
                    other => {
                        return Err(bad(
                            "checkpoint_format",
                            format!(
                                "`{other}` is not supported; the engine reads `gptq` and `gptq_v2`"
                            ),
                        ));
                    }
                };
                (
                    Scheme::Gptq {
                        bits,
                        group: group_field(q, "group_size")?,
                        zeros_minus_one,
                    },
                    strings(q.get("modules_to_not_convert")),
                )
            }
            "fp8" => {
                let fmt = q.get("fmt").and_then(Value::as_str).unwrap_or("e4m3");
                if fmt != "e4m3" {
                    return Err(bad(
                        "fmt",
                        format!("`{fmt}` is not supported; the engine reads e4m3"),
                    ));
                }
                let block = match q.get("weight_block_size") {
                    Some(Value::Array(b)) if b.len() == 2 => {
                        let dim = |i: usize| {
                            b[i].as_u64()
                                .filter(|&n| n > 0)
                                .map(|n| n as usize)
                                .ok_or_else(|| {
                                    bad("weight_block_size", "is not two positive sizes")
                                })
                        };
                        [dim(0)?, dim(1)?]
                    }
                    _ => {
                        return Err(bad(
                            "weight_block_size",
                            "missing: the engine reads FP8 checkpoints with block scales (`weight_scale_inv`)",
                        ));
                    }
                };
                (
                    Scheme::Fp8Block { block },
                    strings(q.get("modules_to_not_convert")),
                )
            }
            "compressed-tensors" => Self::compressed_tensors(q)?,
            other => {
                return Err(bad(
                    "quant_method",
                    format!(
                        "`{other}` is not supported; the engine reads awq, gptq, fp8 and compressed-tensors"
                    ),
                ));
            }
        };
        Ok(Some(Self {
            scheme,
            unquantized,
        }))
    }

    /// The quantisation of a checkpoint folder: `quantization_config` in
    /// its config.json, else the quantiser's own file, as older releases
    /// ship it (AutoGPTQ's `quantize_config.json`, AutoAWQ's
    /// `quant_config.json`).
    ///
    /// # Errors
    /// As [`Quantization::from_hf_config`]; a quantiser file that is not
    /// JSON.
    pub fn from_folder(dir: &Path, config: &Value) -> Result<Option<Self>, EngineError> {
        if let Some(q) = Self::from_hf_config(config)? {
            return Ok(Some(q));
        }
        for (file, method) in [
            ("quantize_config.json", "gptq"),
            ("quant_config.json", "awq"),
        ] {
            let path = dir.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let mut q: Value = serde_json::from_str(&text).map_err(|e| EngineError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            if let Some(o) = q.as_object_mut() {
                o.entry("quant_method").or_insert_with(|| method.into());
            }
            return Self::from_hf_config(&serde_json::json!({ "quantization_config": q }));
        }
        Ok(None)
    }

    fn compressed_tensors(q: &Value) -> Result<(Scheme, Vec<String>), EngineError> {
        let format = q.get("format").and_then(Value::as_str).unwrap_or("");
        let groups = q
            .get("config_groups")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("config_groups", "missing"))?;
        if groups.len() != 1 {
            return Err(bad(
                "config_groups",
                format!(
                    "{} groups: the engine reads checkpoints with one quantisation scheme for every layer",
                    groups.len()
                ),
            ));
        }
        let Some((name, group)) = groups.iter().next() else {
            return Err(bad("config_groups", "empty"));
        };
        let field = |f: &str| format!("config_groups.{name}.weights.{f}");
        let w = group
            .get("weights")
            .ok_or_else(|| bad(&format!("config_groups.{name}.weights"), "missing"))?;
        let kind = w.get("type").and_then(Value::as_str).unwrap_or("int");
        let strategy = w
            .get("strategy")
            .and_then(Value::as_str)
            .unwrap_or("tensor");
        let symmetric = w.get("symmetric").and_then(Value::as_bool).unwrap_or(true);
        let scheme = match (format, kind) {
            ("pack-quantized", "int") => {
                if !symmetric {
                    return Err(bad(
                        &field("symmetric"),
                        "asymmetric integer weights are not supported; the engine reads symmetric ones",
                    ));
                }
                let bits = bits_field(w, "num_bits", &[4, 8]).map_err(|_| {
                    bad(
                        &field("num_bits"),
                        format!(
                            "{} bits: the engine reads 4- and 8-bit packed weights",
                            w.get("num_bits").unwrap_or(&Value::Null)
                        ),
                    )
                })?;
                let group = match strategy {
                    "group" => Some(group_field(w, "group_size")?.ok_or_else(|| {
                        bad(
                            &field("group_size"),
                            "the `group` strategy needs a group size",
                        )
                    })?),
                    "channel" => None,
                    other => {
                        return Err(bad(
                            &field("strategy"),
                            format!(
                                "`{other}` is not supported for integer weights; the engine reads `group` and `channel`"
                            ),
                        ));
                    }
                };
                Scheme::PackedInt { bits, group }
            }
            ("float-quantized" | "naive-quantized", "float") => {
                if w.get("num_bits").and_then(Value::as_u64).unwrap_or(8) != 8 {
                    return Err(bad(
                        &field("num_bits"),
                        "the engine reads 8-bit floats (e4m3)",
                    ));
                }
                let block = match strategy {
                    "tensor" | "channel" => None,
                    "block" => {
                        let b = strings_to_sizes(w.get("block_structure"))
                            .ok_or_else(|| bad(&field("block_structure"), "is not two sizes"))?;
                        Some(b)
                    }
                    other => {
                        return Err(bad(
                            &field("strategy"),
                            format!(
                                "`{other}` is not supported for float weights; the engine reads `tensor`, `channel` and `block`"
                            ),
                        ));
                    }
                };
                Scheme::Fp8Scaled { block }
            }
            (format, kind) => {
                return Err(bad(
                    "format",
                    format!(
                        "`{format}` with `{kind}` weights is not supported; the engine reads `pack-quantized` int and `float-quantized` float"
                    ),
                ));
            }
        };
        Ok((scheme, strings(q.get("ignore"))))
    }

    /// Whether a module (its name without `.weight`) is listed as kept in
    /// floating point.
    pub fn keeps_float(&self, module: &str) -> bool {
        self.unquantized.iter().any(|m| {
            let m = m.strip_prefix("re:").unwrap_or(m);
            module == m || module.ends_with(&format!(".{m}"))
        })
    }
}

fn strings_to_sizes(v: Option<&Value>) -> Option<[usize; 2]> {
    let a = v?.as_array()?;
    match a.as_slice() {
        [r, c] => {
            Some([r.as_u64()? as usize, c.as_u64()? as usize]).filter(|b| b[0] > 0 && b[1] > 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        /// Any GPTQ configuration with 4 or 8 bits and a positive group
        /// (or -1) reads back as written; any other bit width is refused
        /// naming `bits`.
        #[test]
        fn gptq_configs_read_back_or_are_refused_by_field(
            bits in 1u64..17, group in prop_oneof![Just(-1i64), 1i64..4096], v2: bool,
        ) {
            let format = if v2 { "gptq_v2" } else { "gptq" };
            let got = read(json!({"quant_method": "gptq", "bits": bits, "group_size": group,
                "checkpoint_format": format}));
            if bits == 4 || bits == 8 {
                let want = Scheme::Gptq {
                    bits: bits as u32,
                    group: (group > 0).then_some(group as usize),
                    zeros_minus_one: !v2,
                };
                prop_assert_eq!(got.unwrap().unwrap().scheme, want);
            } else {
                prop_assert!(got.unwrap_err().to_string().contains("bits"));
            }
        }
    }

    fn read(q: Value) -> Result<Option<Quantization>, EngineError> {
        Quantization::from_hf_config(&json!({ "quantization_config": q }))
    }

    #[test]
    fn reads_the_configs_the_publishers_write() {
        // Qwen/Qwen3-32B-AWQ.
        let awq = read(
            json!({"bits": 4, "group_size": 128, "modules_to_not_convert": null,
            "quant_method": "awq", "version": "gemm", "zero_point": true}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(awq.scheme, Scheme::Awq { group: 128 });
        // Qwen/Qwen3-32B-FP8.
        let fp8 = read(json!({"activation_scheme": "dynamic", "fmt": "e4m3",
            "quant_method": "fp8", "weight_block_size": [128, 128]}))
        .unwrap()
        .unwrap();
        assert_eq!(fp8.scheme, Scheme::Fp8Block { block: [128, 128] });
        let gptq = read(json!({"bits": 8, "group_size": -1, "desc_act": true,
            "sym": false, "quant_method": "gptq", "checkpoint_format": "gptq_v2"}))
        .unwrap()
        .unwrap();
        assert_eq!(
            gptq.scheme,
            Scheme::Gptq {
                bits: 8,
                group: None,
                zeros_minus_one: false
            }
        );
        let ct = read(
            json!({"quant_method": "compressed-tensors", "format": "pack-quantized",
            "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"num_bits": 4,
            "type": "int", "symmetric": true, "strategy": "group", "group_size": 128}}},
            "ignore": ["lm_head"]}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            ct.scheme,
            Scheme::PackedInt {
                bits: 4,
                group: Some(128)
            }
        );
        assert!(ct.keeps_float("lm_head"));
        assert!(!ct.keeps_float("model.layers.0.mlp.down_proj"));
        assert!(read(Value::Null).unwrap().is_none());
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_the_field() {
        for (q, field) in [
            (json!({"quant_method": "bitsandbytes"}), "quant_method"),
            (
                json!({"quant_method": "awq", "version": "gemv", "group_size": 128}),
                "version",
            ),
            (
                json!({"quant_method": "gptq", "bits": 3, "group_size": 128}),
                "bits",
            ),
            (
                json!({"quant_method": "fp8", "fmt": "e5m2", "weight_block_size": [128, 128]}),
                "fmt",
            ),
            (json!({"quant_method": "fp8"}), "weight_block_size"),
            (
                json!({"quant_method": "compressed-tensors", "format": "pack-quantized",
                "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int",
                "symmetric": false, "strategy": "group", "group_size": 128}}}}),
                "symmetric",
            ),
            (
                json!({"quant_method": "compressed-tensors", "format": "marlin-24",
                "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int"}}}}),
                "format",
            ),
        ] {
            let e = read(q.clone()).unwrap_err().to_string();
            assert!(e.contains(field), "{q}: {e}");
        }
    }
}
