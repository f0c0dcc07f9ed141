//! The model's shape, read from a Hugging Face `config.json` or from GGUF
//! metadata, so that one forward pass serves Qwen3 and Llama checkpoints.
//!
//! Why one struct for both architectures: Qwen3 is Llama plus a per-head
//! RMSNorm on queries and keys (and a larger rope base); everything else
//! (GQA, SwiGLU, RMSNorm, tied or untied embeddings) is shared, so the
//! differences are flags, not a second model.

use crate::EngineError;
use serde_json::Value;

/// Which family a checkpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Qwen3 (`Qwen3ForCausalLM`, GGUF `qwen3`): q/k RMSNorm per head.
    Qwen3,
    /// Llama and its look-alikes (`LlamaForCausalLM`, `MistralForCausalLM`,
    /// GGUF `llama`): no q/k norm.
    Llama,
}

/// How positions are turned into rotations.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// YaRN (Peng et al. 2023) as transformers implements it.
    Yarn {
        /// Context extension factor (Qwen3: 4.0).
        factor: f64,
        /// The context the model was trained on (Qwen3: 32768).
        original_max_position_embeddings: usize,
        /// High-frequency boundary, in rotations over the original
        /// context. Default 32.
        beta_fast: f64,
        /// Low-frequency boundary. Default 1.
        beta_slow: f64,
        /// Attention temperature override; default `0.1 ln(factor) + 1`.
        attention_factor: Option<f64>,
        /// Round the correction range to whole dimensions (transformers'
        /// default: true).
        truncate: bool,
    },
}

/// Which pairs of a head's dimensions RoPE rotates together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Dimension i with i + d/2 (transformers' `rotate_half`; GGUF "neox").
    Half,
    /// Dimension 2i with 2i + 1 (llama.cpp's layout for Llama GGUF files,
    /// whose q/k rows the converter permuted accordingly).
    Interleaved,
}

/// Everything the forward pass needs to know about the model's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Family.
    pub architecture: Architecture,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (GQA when fewer than query heads).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE scaling.
    pub rope_scaling: RopeScaling,
    /// Pair layout of RoPE.
    pub rope_style: RopeStyle,
    /// Longest sequence the configuration allows.
    pub max_position_embeddings: usize,
    /// The output projection is the embedding matrix.
    pub tie_word_embeddings: bool,
    /// End-of-sequence token ids from the configuration.
    pub eos_token_ids: Vec<u32>,
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, EngineError> {
    v.get(key).ok_or_else(|| EngineError::Config {
        field: key.into(),
        message: "missing".into(),
    })
}

fn usize_field(v: &Value, key: &str) -> Result<usize, EngineError> {
    field(v, key)?
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| EngineError::Config {
            field: key.into(),
            message: "must be a positive integer".into(),
        })
}

fn ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_u64().map(|n| n as u32))
            .collect(),
        _ => Vec::new(),
    }
}

impl ModelConfig {
    /// Reads a Hugging Face `config.json`.
    ///
    /// # Errors
    /// [`EngineError::Config`] naming the field that is missing or wrong,
    /// [`EngineError::Architecture`] for a family this engine does not run.
    pub fn from_hf_json(text: &str) -> Result<Self, EngineError> {
        let v: Value = serde_json::from_str(text).map_err(|e| EngineError::Config {
            field: "config.json".into(),
            message: e.to_string(),
        })?;
        Self::from_hf_value(&v)
    }

    /// [`ModelConfig::from_hf_json`] of a parsed document.
    ///
    /// # Errors
    /// As [`ModelConfig::from_hf_json`].
    pub fn from_hf_value(v: &Value) -> Result<Self, EngineError> {
        let arch_name = v
            .get("architectures")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str)
            .or_else(|| v.get("model_type").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned();
        let architecture = match arch_name.as_str() {
            "Qwen3ForCausalLM" | "qwen3" => Architecture::Qwen3,
            "LlamaForCausalLM" | "MistralForCausalLM" | "llama" | "mistral" => Architecture::Llama,
            other => {
                return Err(EngineError::Architecture(if other.is_empty() {
                    "config.json names no architecture".into()
                } else {
                    other.into()
                }));
            }
        };
        let hidden_size = usize_field(v, "hidden_size")?;
        let num_heads = usize_field(v, "num_attention_heads")?;
        let num_kv_heads = v
            .get("num_key_value_heads")
            .and_then(Value::as_u64)
            .map_or(num_heads, |n| n as usize);
        let head_dim = v
            .get("head_dim")
            .and_then(Value::as_u64)
            .map_or(hidden_size / num_heads.max(1), |n| n as usize);
        for (flag, name) in [
            ("attention_bias", "attention_bias"),
            ("mlp_bias", "mlp_bias"),
        ] {
            if v.get(flag).and_then(Value::as_bool) == Some(true) {
                return Err(EngineError::Config {
                    field: name.into(),
                    message: "biases in attention or MLP projections are not supported".into(),
                });
            }
        }
        if v.get("use_sliding_window").and_then(Value::as_bool) == Some(true) {
            return Err(EngineError::Config {
                field: "use_sliding_window".into(),
                message: "sliding-window attention is not supported".into(),
            });
        }
        // transformers 5 moved rope_theta and rope_scaling into
        // `rope_parameters`; older files keep them at the top level.
        let params = v.get("rope_parameters");
        let rope_theta = v
            .get("rope_theta")
            .or_else(|| params.and_then(|p| p.get("rope_theta")))
            .and_then(Value::as_f64)
            .unwrap_or(10_000.0);
        let scaling = v.get("rope_scaling").filter(|s| !s.is_null()).or(params);
        let rope_scaling = parse_scaling(scaling)?;
        let max_position_embeddings = v
            .get("max_position_embeddings")
            .and_then(Value::as_u64)
            .map_or(4096, |n| n as usize);
        let config = Self {
            architecture,
            vocab_size: usize_field(v, "vocab_size")?,
            hidden_size,
            intermediate_size: usize_field(v, "intermediate_size")?,
            num_layers: usize_field(v, "num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: v
                .get("rms_norm_eps")
                .and_then(Value::as_f64)
                .unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            rope_style: RopeStyle::Half,
            max_position_embeddings,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            eos_token_ids: ids(v.get("eos_token_id")),
        };
        config.check()?;
        Ok(config)
    }

    /// Checks the shape is one the forward pass can run.
    ///
    /// # Errors
    /// [`EngineError::Config`] naming the field.
    pub fn check(&self) -> Result<(), EngineError> {
        let bad = |field: &str, message: String| {
            Err(EngineError::Config {
                field: field.into(),
                message,
            })
        };
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.num_heads.is_multiple_of(self.num_kv_heads)
        {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} query heads cannot be grouped over {} key/value heads",
                    self.num_heads, self.num_kv_heads
                ),
            );
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("{} is not a positive even number", self.head_dim),
            );
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.num_layers == 0 {
            return bad(
                "hidden_size",
                "vocab_size, hidden_size and num_hidden_layers must be positive".into(),
            );
        }
        Ok(())
    }

    /// Query heads per key/value head.
    pub fn group_size(&self) -> usize {
        self.num_heads / self.num_kv_heads
    }

    /// The longest context the positions support: the configured maximum,
    /// or with YaRN, the original context times the factor.
    pub fn max_context(&self) -> usize {
        match &self.rope_scaling {
            RopeScaling::None => self.max_position_embeddings,
            RopeScaling::Yarn {
                factor,
                original_max_position_embeddings,
                ..
            } => self
                .max_position_embeddings
                .max((*original_max_position_embeddings as f64 * factor) as usize),
        }
    }
}

/// Reads `rope_scaling` (or transformers 5's `rope_parameters`).
fn parse_scaling(v: Option<&Value>) -> Result<RopeScaling, EngineError> {
    let Some(s) = v else {
        return Ok(RopeScaling::None);
    };
    let kind = s
        .get("rope_type")
        .or_else(|| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    match kind {
        "default" => Ok(RopeScaling::None),
        "yarn" => {
            let f = |k: &str| s.get(k).and_then(Value::as_f64);
            let factor = f("factor").ok_or_else(|| EngineError::Config {
                field: "rope_scaling.factor".into(),
                message: "YaRN needs a factor".into(),
            })?;
            let original = s
                .get("original_max_position_embeddings")
                .and_then(Value::as_u64)
                .ok_or_else(|| EngineError::Config {
                    field: "rope_scaling.original_max_position_embeddings".into(),
                    message: "YaRN needs the original context length".into(),
                })?;
            Ok(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings: original as usize,
                beta_fast: f("beta_fast").unwrap_or(32.0),
                beta_slow: f("beta_slow").unwrap_or(1.0),
                attention_factor: f("attention_factor"),
                truncate: s.get("truncate").and_then(Value::as_bool).unwrap_or(true),
            })
        }
        other => Err(EngineError::Config {
            field: "rope_scaling.rope_type".into(),
            message: format!("`{other}` is not supported (default and yarn are)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN3: &str = r#"{"architectures":["Qwen3ForCausalLM"],"vocab_size":151936,
        "hidden_size":5120,"intermediate_size":25600,"num_hidden_layers":64,
        "num_attention_heads":64,"num_key_value_heads":8,"head_dim":128,
        "rms_norm_eps":1e-6,"rope_theta":1000000,"max_position_embeddings":40960,
        "tie_word_embeddings":false,"eos_token_id":151645,
        "rope_scaling":{"rope_type":"yarn","factor":4.0,"original_max_position_embeddings":32768}}"#;

    #[test]
    fn qwen3_32b_with_yarn() {
        let c = ModelConfig::from_hf_json(QWEN3).unwrap();
        assert_eq!(c.architecture, Architecture::Qwen3);
        assert_eq!(c.group_size(), 8);
        assert_eq!(c.max_context(), 131_072);
        assert!(matches!(c.rope_scaling, RopeScaling::Yarn { factor, .. } if factor == 4.0));
        assert_eq!(c.eos_token_ids, vec![151_645]);
    }

    #[test]
    fn errors_name_the_field_or_architecture() {
        let e = ModelConfig::from_hf_json(&QWEN3.replace("\"num_hidden_layers\":64,", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_hidden_layers"), "{e}");
        let e = ModelConfig::from_hf_json(&QWEN3.replace("Qwen3ForCausalLM", "GPT2LMHeadModel"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("GPT2LMHeadModel"), "{e}");
        let e = ModelConfig::from_hf_json(
            &QWEN3.replace("\"num_key_value_heads\":8", "\"num_key_value_heads\":7"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
        let e = ModelConfig::from_hf_json(&QWEN3.replace("\"yarn\"", "\"longrope\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longrope"), "{e}");
    }
}
