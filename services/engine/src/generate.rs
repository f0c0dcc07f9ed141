//! One model with its tokenizer and chat template, generating text for one
//! prompt at a time: the path `zhishu models run` and the tests use. (The
//! serving scheduler of issue #10 drives [`Model::forward`] with many
//! sequences at once; this loop is its single-sequence special case.)

use crate::cache::{ContiguousCache, KvCache};
use crate::chat::{ChatMessage, ChatTemplate};
use crate::model::{Logits, Model, SeqInput};
use crate::sampling::{Sampler, SamplingParams};
use crate::weights::Checkpoint;
use crate::{EngineError, tokenizer};
use candle_core::{DType, Device};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use tokenizers::Tokenizer;

/// Prompt tokens run through the model per prefill step: bounds activation
/// memory for long prompts without costing throughput.
const PREFILL_CHUNK: usize = 512;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-sequence token, a stop token or a stop string.
    Stop,
    /// `max_new_tokens` or the model's context was reached.
    Length,
    /// The caller stopped it (its client went away).
    Cancelled,
}

/// The result of one generation.
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// The generated text (without the stop string or token).
    pub text: String,
    /// Generated token ids (without the final stop token).
    pub token_ids: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Seconds spent on the prompt (time to first token).
    pub prefill_seconds: f64,
    /// Seconds spent generating after the first token.
    pub decode_seconds: f64,
}

impl Generation {
    /// Prompt tokens per second.
    pub fn prefill_tokens_per_second(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_seconds.max(1e-9)
    }

    /// Generated tokens per second after the first.
    pub fn decode_tokens_per_second(&self) -> f64 {
        self.token_ids.len().saturating_sub(1) as f64 / self.decode_seconds.max(1e-9)
    }
}

/// Turns a growing list of ids into text pieces without splitting a
/// multi-byte character across two pieces (byte-level BPE emits partial
/// UTF-8 sequences).
struct Detokenizer {
    prefix: usize,
    read: usize,
}

impl Detokenizer {
    fn next(&mut self, tok: &Tokenizer, ids: &[u32]) -> Result<Option<String>, EngineError> {
        let decode = |s: &[u32]| {
            tok.decode(s, true)
                .map_err(|e| EngineError::Tokenizer(e.to_string()))
        };
        let before = decode(&ids[self.prefix..self.read])?;
        let now = decode(&ids[self.prefix..])?;
        if now.len() > before.len()
            && !now.ends_with('\u{FFFD}')
            && now.is_char_boundary(before.len())
        {
            let piece = now[before.len()..].to_owned();
            self.prefix = self.read;
            self.read = ids.len();
            return Ok(Some(piece));
        }
        Ok(None)
    }
}

/// A model ready to generate.
pub struct Engine {
    model: Model,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    eos: Vec<u32>,
    name: String,
}

fn gguf_string(
    m: &std::collections::HashMap<String, candle_core::quantized::gguf_file::Value>,
    key: &str,
) -> Option<String> {
    m.get(key).and_then(|v| v.to_string().ok()).cloned()
}

impl Engine {
    /// Loads a safetensors model folder or a `.gguf` file onto `device`
    /// (f32 on the CPU, bf16 on GPUs), with its tokenizer and chat template.
    ///
    /// # Errors
    /// Naming the file, tensor or field that is missing or wrong.
    pub fn load(path: &Path, device: &Device) -> Result<Self, EngineError> {
        let dtype = if device.is_cpu() {
            DType::F32
        } else {
            DType::BF16
        };
        let ckpt = Checkpoint::open(path, device, dtype)?;
        let model = Model::load(&ckpt)?;
        let mut eos = model.config().eos_token_ids.clone();
        let (tokenizer, template) = match ckpt.gguf_metadata() {
            Some(m) => {
                let tok = tokenizer::from_gguf(m)?;
                let token_text = |key: &str| {
                    m.get(key)
                        .and_then(|v| v.to_u32().ok())
                        .and_then(|id| tok.id_to_token(id))
                        .unwrap_or_default()
                };
                let template = gguf_string(m, "tokenizer.chat_template")
                    .map(|src| {
                        ChatTemplate::new(
                            &src,
                            &token_text("tokenizer.ggml.bos_token_id"),
                            &token_text("tokenizer.ggml.eos_token_id"),
                        )
                    })
                    .transpose()?;
                (tok, template)
            }
            None => {
                let tok = tokenizer::from_folder(path)?;
                let template = ChatTemplate::from_folder(path)?;
                // generation_config.json often lists more stop ids
                // (Qwen3: <|im_end|> and <|endoftext|>).
                if let Ok(text) = std::fs::read_to_string(path.join("generation_config.json"))
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                {
                    match &v["eos_token_id"] {
                        serde_json::Value::Number(n) => eos.extend(n.as_u64().map(|n| n as u32)),
                        serde_json::Value::Array(a) => {
                            eos.extend(a.iter().filter_map(|x| x.as_u64().map(|n| n as u32)));
                        }
                        _ => {}
                    }
                }
                (tok, template)
            }
        };
        // Chat models end their turn with a special token that is not
        // always the configured EOS.
        for t in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>"] {
            if let Some(id) = tokenizer.token_to_id(t) {
                eos.push(id);
            }
        }
        eos.sort_unstable();
        eos.dedup();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            model,
            tokenizer,
            template,
            eos,
            name,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The file or folder name the model was loaded from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids that end generation.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos
    }

    /// Tokenises text as-is (special tokens written in the text, such as
    /// those a chat template produces, are recognised).
    ///
    /// # Errors
    /// [`EngineError::Tokenizer`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, EngineError> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| EngineError::Tokenizer(e.to_string()))?
            .get_ids()
            .to_vec())
    }

    /// Renders a conversation with the model's chat template, ready for
    /// the assistant's answer.
    ///
    /// # Errors
    /// When the model has no chat template, or it fails.
    pub fn chat_prompt(
        &self,
        messages: &[ChatMessage],
        enable_thinking: bool,
    ) -> Result<String, EngineError> {
        let template = self.template.as_ref().ok_or_else(|| {
            EngineError::Template(format!(
                "{} has no chat template (tokenizer_config.json or GGUF tokenizer.chat_template)",
                self.name
            ))
        })?;
        template.render(messages, true, enable_thinking)
    }

    /// Runs `tokens` after what `cache` holds; the last token's logits.
    fn step(&self, tokens: &[u32], cache: &mut ContiguousCache) -> Result<Vec<f32>, EngineError> {
        let out = self.model.forward(&mut [SeqInput {
            tokens,
            cache,
            positions: None,
            logits: Logits::Last,
        }])?;
        match out.into_iter().next() {
            Some(t) => Ok(t.to_vec1::<f32>()?),
            None => Err(EngineError::Request("the model returned no logits".into())),
        }
    }

    /// Generates from `prompt` ids, calling `on_text` with each new piece
    /// of text as soon as it is final (text that might begin a stop string
    /// is held back until it is clear).
    ///
    /// # Errors
    /// On invalid parameters, a prompt beyond the context, or a model
    /// failure.
    pub fn generate(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        mut on_text: impl FnMut(&str),
    ) -> Result<Generation, EngineError> {
        self.generate_until(prompt, params, |piece| {
            on_text(piece);
            true
        })
    }

    /// [`Engine::generate`] that stops as soon as `on_text` returns
    /// `false` (finish reason [`FinishReason::Cancelled`]): a server stops
    /// spending compute on a client that went away.
    ///
    /// # Errors
    /// As [`Engine::generate`].
    pub fn generate_until(
        &self,
        prompt: &[u32],
        params: &SamplingParams,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Generation, EngineError> {
        params.validate()?;
        if prompt.is_empty() {
            return Err(EngineError::Request("the prompt is empty".into()));
        }
        let context = self.model.config().max_context();
        if prompt.len() >= context {
            return Err(EngineError::Request(format!(
                "the prompt has {} tokens; the model's context is {context}",
                prompt.len()
            )));
        }
        let mut cache = ContiguousCache::new(self.model.config().num_layers);
        let mut sampler = Sampler::new(params.clone(), prompt);
        let started = Instant::now();
        let mut logits = Vec::new();
        for chunk in prompt.chunks(PREFILL_CHUNK) {
            logits = self.step(chunk, &mut cache)?;
        }
        let prefill_seconds = started.elapsed().as_secs_f64();
        let decode_started = Instant::now();

        let hold = params.stop.iter().map(String::len).max().unwrap_or(1) - 1;
        let mut ids: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut emitted = 0;
        let mut detok = Detokenizer { prefix: 0, read: 0 };
        let mut finish = FinishReason::Length;
        loop {
            let token = sampler.sample(&mut logits);
            if self.eos.contains(&token) || params.stop_token_ids.contains(&token) {
                finish = FinishReason::Stop;
                break;
            }
            ids.push(token);
            if let Some(piece) = detok.next(&self.tokenizer, &ids)? {
                text.push_str(&piece);
            }
            if let Some(cut) = params
                .stop
                .iter()
                // A stop string starting before `emitted` would have been whole
                // (and found) when that text was emitted.
                .filter_map(|s| text[emitted..].find(s.as_str()).map(|i| i + emitted))
                .min()
            {
                text.truncate(cut);
                finish = FinishReason::Stop;
                break;
            }
            // Emit what can no longer be the start of a stop string.
            let mut safe = text.len().saturating_sub(hold);
            while !text.is_char_boundary(safe) {
                safe -= 1;
            }
            if safe > emitted {
                let go_on = on_text(&text[emitted..safe]);
                emitted = safe;
                if !go_on {
                    finish = FinishReason::Cancelled;
                    break;
                }
            }
            if ids.len() >= params.max_new_tokens || cache.len() + 1 >= context {
                break;
            }
            logits = self.step(&[token], &mut cache)?;
        }
        if text.len() > emitted && finish != FinishReason::Cancelled {
            on_text(&text[emitted..]);
        }
        Ok(Generation {
            text,
            token_ids: ids,
            finish_reason: finish,
            prompt_tokens: prompt.len(),
            prefill_seconds,
            decode_seconds: decode_started.elapsed().as_secs_f64(),
        })
    }
}
