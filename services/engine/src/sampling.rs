//! Choosing the next token from the logits.
//!
//! The order follows vLLM (the behaviour users of OpenAI-compatible servers
//! expect): penalties on the raw logits, then temperature, then the top-k,
//! top-p and min-p filters, then a draw from the renormalised distribution.
//! Temperature 0 is greedy: the penalised argmax, no randomness.

use crate::EngineError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Sampling and stopping settings of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SamplingParams {
    /// Softmax temperature; 0 = greedy.
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probability sums to this; 1 = off.
    pub top_p: f32,
    /// Keep this many most likely tokens; 0 = off.
    pub top_k: usize,
    /// Drop tokens less likely than this fraction of the most likely one;
    /// 0 = off.
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of tokens seen in the
    /// prompt or the answer; 1 = off.
    pub repetition_penalty: f32,
    /// Subtracted once from the logit of every token already generated.
    pub presence_penalty: f32,
    /// Subtracted per occurrence from the logit of generated tokens.
    pub frequency_penalty: f32,
    /// Seed for reproducible sampling; random when absent.
    pub seed: Option<u64>,
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// Generation stops before any of these strings; they are not returned.
    pub stop: Vec<String>,
    /// Generation stops at any of these tokens (besides the model's
    /// end-of-sequence tokens).
    pub stop_token_ids: Vec<u32>,
    /// End-of-sequence and stop tokens are not sampled before this many
    /// tokens (vLLM's `min_tokens`; benchmarks use it for exact lengths).
    pub min_new_tokens: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
            max_new_tokens: 256,
            stop: Vec::new(),
            stop_token_ids: Vec::new(),
            min_new_tokens: 0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            ..Self::default()
        }
    }

    /// Qwen3's recommendation for thinking mode: temperature 0.6, top-p
    /// 0.95, top-k 20, min-p 0 (greedy decoding makes thinking loop).
    pub fn qwen3_thinking() -> Self {
        Self {
            temperature: 0.6,
            top_p: 0.95,
            top_k: 20,
            min_p: 0.0,
            max_new_tokens: 32_768,
            ..Self::default()
        }
    }

    /// Qwen3's recommendation for non-thinking mode: temperature 0.7,
    /// top-p 0.8, top-k 20, min-p 0.
    pub fn qwen3_non_thinking() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.8,
            top_k: 20,
            min_p: 0.0,
            max_new_tokens: 8192,
            ..Self::default()
        }
    }

    /// Checks every value is in range.
    ///
    /// # Errors
    /// [`EngineError::Request`] naming the parameter.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: &str| Err(EngineError::Request(m.into()));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad("temperature must be 0 or more");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1]");
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return bad("repetition_penalty must be positive");
        }
        if !(-2.0..=2.0).contains(&self.presence_penalty)
            || !(-2.0..=2.0).contains(&self.frequency_penalty)
        {
            return bad("presence_penalty and frequency_penalty must be in [-2, 2]");
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens must be at least 1");
        }
        if self.min_new_tokens > self.max_new_tokens {
            return bad("min_new_tokens must not exceed max_new_tokens");
        }
        if self.stop.iter().any(String::is_empty) {
            return bad("stop strings must not be empty");
        }
        Ok(())
    }
}

/// xoshiro256**: a small, fast, seedable generator (sampling needs
/// reproducibility, not cryptographic strength).
#[derive(Debug, Clone)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut s = seed;
        let mut next = || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks tokens for one sequence, remembering what it generated (for the
/// penalties).
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: Rng,
    /// Tokens of the prompt (repetition penalty).
    prompt: std::collections::HashSet<u32>,
    /// Generated tokens and their counts.
    generated: HashMap<u32, u32>,
}

impl Sampler {
    /// A sampler for a sequence whose prompt is `prompt`.
    pub fn new(params: SamplingParams, prompt: &[u32]) -> Self {
        let seed = params.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Self {
            rng: Rng::new(seed),
            prompt: prompt.iter().copied().collect(),
            generated: HashMap::new(),
            params,
        }
    }

    /// The settings.
    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    fn penalise(&self, logits: &mut [f32]) {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let seen = self.prompt.iter().chain(self.generated.keys());
            for &t in seen {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = if *l > 0.0 {
                        *l / p.repetition_penalty
                    } else {
                        *l * p.repetition_penalty
                    };
                }
            }
        }
        if p.presence_penalty != 0.0 || p.frequency_penalty != 0.0 {
            for (&t, &n) in &self.generated {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= p.frequency_penalty * n as f32 + p.presence_penalty;
                }
            }
        }
    }

    /// Chooses the next token from `logits` (one row, f32) and records it.
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.penalise(logits);
        let token = if self.params.temperature == 0.0 {
            argmax(logits)
        } else {
            self.draw(logits)
        };
        *self.generated.entry(token).or_insert(0) += 1;
        token
    }

    fn draw(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        let inv_t = 1.0 / p.temperature;
        let mut cand: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_finite())
            .map(|(i, &l)| (i as u32, l * inv_t))
            .collect();
        if cand.is_empty() {
            return argmax(logits);
        }
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.top_k > 0 && p.top_k < cand.len() {
            cand.select_nth_unstable_by(p.top_k - 1, by_logit);
            cand.truncate(p.top_k);
        }
        cand.sort_unstable_by(by_logit);
        let max = cand[0].1;
        let mut probs: Vec<f64> = cand.iter().map(|c| f64::from(c.1 - max).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= total);
        // top-p: the smallest prefix reaching top_p (at least one token).
        let mut keep = probs.len();
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            for (i, &q) in probs.iter().enumerate() {
                acc += q;
                if acc >= f64::from(p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
        }
        // min-p: relative to the most likely token.
        if p.min_p > 0.0 {
            let floor = probs[0] * f64::from(p.min_p);
            keep = keep.min(probs.iter().take_while(|&&q| q >= floor).count().max(1));
        }
        let total: f64 = probs[..keep].iter().sum();
        let mut r = self.rng.uniform() * total;
        for (i, &q) in probs[..keep].iter().enumerate() {
            if r < q {
                return cand[i].0;
            }
            r -= q;
        }
        cand[keep - 1].0
    }
}

/// Index of the largest finite logit (the lowest index on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] || logits[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(params: SamplingParams, logits: &[f32], n: usize) -> Vec<usize> {
        let mut s = Sampler::new(params, &[]);
        let mut c = vec![0; logits.len()];
        for _ in 0..n {
            // A fresh history each draw: only the filters matter here.
            s.generated.clear();
            c[s.sample(&mut logits.to_vec()) as usize] += 1;
        }
        c
    }

    #[test]
    fn greedy_is_argmax_and_seeds_reproduce() {
        let logits = [0.1, 2.0, 1.9, -1.0];
        assert_eq!(
            Sampler::new(SamplingParams::greedy(5), &[]).sample(&mut logits.to_vec()),
            1
        );
        let p = SamplingParams {
            temperature: 1.0,
            seed: Some(7),
            ..SamplingParams::default()
        };
        let a: Vec<u32> = {
            let mut s = Sampler::new(p.clone(), &[]);
            (0..50).map(|_| s.sample(&mut logits.to_vec())).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(p, &[]);
            (0..50).map(|_| s.sample(&mut logits.to_vec())).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|&t| t != 1), "temperature 1 explores");
    }

    #[test]
    fn filters_remove_the_tail() {
        let logits = [3.0, 2.9, 0.0, -5.0];
        let base = SamplingParams {
            temperature: 1.0,
            seed: Some(1),
            ..SamplingParams::default()
        };
        let c = counts(
            SamplingParams {
                top_k: 2,
                ..base.clone()
            },
            &logits,
            2000,
        );
        assert_eq!(c[2] + c[3], 0, "{c:?}");
        assert!(c[0] > 0 && c[1] > 0);
        let c = counts(
            SamplingParams {
                top_p: 0.5,
                ..base.clone()
            },
            &logits,
            500,
        );
        assert_eq!(c[0], 500, "top-p 0.5 keeps only the top token: {c:?}");
        let c = counts(
            SamplingParams {
                min_p: 0.5,
                ..base.clone()
            },
            &logits,
            2000,
        );
        assert_eq!(c[2] + c[3], 0, "{c:?}");
        // Roughly e^3 : e^2.9 : 1 : e^-5 without filters.
        let c = counts(base, &logits, 4000);
        assert!(c[2] > 20 && c[2] < 200, "{c:?}");
    }

    #[test]
    fn penalties_change_the_greedy_choice() {
        // Token 0 was in the prompt: a repetition penalty of 2 halves its
        // logit and token 1 wins.
        let mut s = Sampler::new(
            SamplingParams {
                repetition_penalty: 2.0,
                ..SamplingParams::greedy(4)
            },
            &[0],
        );
        assert_eq!(s.sample(&mut [2.0, 1.5, 0.0]), 1);
        // Presence: once token 1 is generated it loses 1.0.
        let mut s = Sampler::new(
            SamplingParams {
                presence_penalty: 1.0,
                ..SamplingParams::greedy(4)
            },
            &[],
        );
        assert_eq!(s.sample(&mut [0.0, 1.5, 1.0]), 1);
        assert_eq!(s.sample(&mut [0.0, 1.5, 1.0]), 2);
        // Frequency: each occurrence costs 0.3.
        let mut s = Sampler::new(
            SamplingParams {
                frequency_penalty: 0.3,
                ..SamplingParams::greedy(4)
            },
            &[],
        );
        let picks: Vec<u32> = (0..4).map(|_| s.sample(&mut [1.0, 0.5])).collect();
        assert_eq!(picks, vec![0, 0, 1, 0]);
    }

    #[test]
    fn invalid_parameters_are_named() {
        let e = SamplingParams {
            top_p: 0.0,
            ..SamplingParams::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("top_p"), "{e}");
        assert!(
            SamplingParams {
                stop: vec![String::new()],
                ..SamplingParams::default()
            }
            .validate()
            .is_err()
        );
    }
}
