//! Rotary position embeddings, plain and YaRN, computed the way transformers
//! computes them, operation by operation in f32.
//!
//! Why mirror f32 rounding instead of computing in f64: at position 40,000
//! an angle is `position × inv_freq` ≈ 4·10⁴ radians, so one ulp of
//! difference in `inv_freq` moves the angle by ~10⁻³ radians. Matching the
//! reference's logits at long positions means matching its arithmetic, not
//! being more precise than it.
//!
//! Tables are built per call for the positions in the batch (a few
//! thousand `cos`/`sin` at most per step), so any position up to the YaRN
//! limit costs nothing until it is used and sequences in one batch can sit
//! at unrelated positions.

use crate::config::{ModelConfig, RopeScaling};
use candle_core::{Device, Tensor};

/// The per-dimension frequencies and the attention scale of a model.
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
    /// Multiplies cos and sin (YaRN's attention temperature; 1 otherwise).
    scale: f32,
}

fn get_mscale(scale: f64) -> f64 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * scale.ln() + 1.0
    }
}

/// `base ** (arange(0, dim, 2) / dim)` in f32, as torch computes it.
fn pos_freqs(base: f64, dim: usize) -> Vec<f32> {
    (0..dim)
        .step_by(2)
        .map(|i| (base as f32).powf(i as f32 / dim as f32))
        .collect()
}

impl Rotary {
    /// The frequencies for a model configuration.
    pub fn new(config: &ModelConfig) -> Self {
        let dim = config.head_dim;
        let base = config.rope_theta;
        let freqs = pos_freqs(base, dim);
        match &config.rope_scaling {
            RopeScaling::None => Self {
                inv_freq: freqs.iter().map(|f| 1.0 / f).collect(),
                scale: 1.0,
            },
            RopeScaling::Yarn {
                factor,
                original_max_position_embeddings,
                beta_fast,
                beta_slow,
                attention_factor,
                truncate,
            } => {
                let original = *original_max_position_embeddings as f64;
                let factor = *factor;
                let scale = attention_factor.unwrap_or_else(|| get_mscale(factor)) as f32;
                // The dimensions whose wavelength fits `beta_fast` times in
                // the original context keep their frequency
                // (extrapolation); those under `beta_slow` rotations are
                // interpolated by `factor`; a linear ramp blends between.
                let correction_dim = |rotations: f64| {
                    (dim as f64 * (original / (rotations * 2.0 * std::f64::consts::PI)).ln())
                        / (2.0 * base.ln())
                };
                let (mut low, mut high) = (correction_dim(*beta_fast), correction_dim(*beta_slow));
                if *truncate {
                    low = low.floor();
                    high = high.ceil();
                }
                let low = low.max(0.0) as f32;
                let mut high = high.min(dim as f64 - 1.0) as f32;
                if low == high {
                    high += 0.001;
                }
                let inv_freq = freqs
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| {
                        let ramp = ((i as f32 - low) / (high - low)).clamp(0.0, 1.0);
                        let extrapolation_factor = 1.0 - ramp;
                        let extrapolation = 1.0 / p;
                        let interpolation = 1.0 / (factor as f32 * p);
                        interpolation * (1.0 - extrapolation_factor)
                            + extrapolation * extrapolation_factor
                    })
                    .collect();
                Self { inv_freq, scale }
            }
        }
    }

    /// Half the head width: the number of rotated pairs.
    pub fn pairs(&self) -> usize {
        self.inv_freq.len()
    }

    /// `(cos, sin)`, each `[positions.len(), head_dim / 2]` f32, already
    /// multiplied by the attention scale.
    ///
    /// # Errors
    /// When the tensors cannot be created on the device.
    pub fn tables(
        &self,
        positions: &[usize],
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let n = self.inv_freq.len();
        let mut cos = Vec::with_capacity(positions.len() * n);
        let mut sin = Vec::with_capacity(positions.len() * n);
        for &p in positions {
            let p = p as f32;
            for &f in &self.inv_freq {
                let angle = f * p;
                cos.push(angle.cos() * self.scale);
                sin.push(angle.sin() * self.scale);
            }
        }
        Ok((
            Tensor::from_vec(cos, (positions.len(), n), device)?,
            Tensor::from_vec(sin, (positions.len(), n), device)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Architecture, RopeStyle};

    fn config(scaling: RopeScaling) -> ModelConfig {
        ModelConfig {
            architecture: Architecture::Qwen3,
            vocab_size: 8,
            hidden_size: 128,
            intermediate_size: 8,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            head_dim: 128,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            rope_scaling: scaling,
            rope_style: RopeStyle::Half,
            max_position_embeddings: 131_072,
            tie_word_embeddings: true,
            eos_token_ids: vec![],
        }
    }

    #[test]
    fn yarn_keeps_high_frequencies_and_divides_low_ones_by_the_factor() {
        let plain = Rotary::new(&config(RopeScaling::None));
        let yarn = Rotary::new(&config(RopeScaling::Yarn {
            factor: 4.0,
            original_max_position_embeddings: 32_768,
            beta_fast: 32.0,
            beta_slow: 1.0,
            attention_factor: None,
            truncate: true,
        }));
        assert_eq!(plain.inv_freq[0], yarn.inv_freq[0]);
        let last = plain.pairs() - 1;
        assert!((yarn.inv_freq[last] * 4.0 - plain.inv_freq[last]).abs() < 1e-12);
        assert!((yarn.scale - (0.1 * 4f32.ln() + 1.0)).abs() < 1e-6);
        let (cos, _) = yarn.tables(&[0], &Device::Cpu).unwrap();
        let c: Vec<f32> = cos.flatten_all().unwrap().to_vec1().unwrap();
        assert!(c.iter().all(|&x| (x - yarn.scale).abs() < 1e-6));
    }
}
