//! One model with its tokenizer and chat template, generating text for one
//! prompt at a time: the path `zhishu models run` and the tests use. (The
//! serving scheduler of issue #10 drives [`Model::forward`] with many
//! sequences at once; this loop is its single-sequence special case.)

use crate::cache::{ContiguousCache, KvCache};
use crate::chat::{ChatMessage, ChatTemplate};
use crate::model::{Logits, Model, Placement, SeqInput};
use crate::parallel::{Parts, PipelineParallel, Split, TensorParallel, split_layers};
use crate::sampling::{Sampler, SamplingParams};
use crate::weights::Checkpoint;
use crate::{EngineError, devices, tokenizer};
use candle_core::Device;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use tokenizers::Tokenizer;

/// Prompt tokens run through the model per prefill step: bounds activation
/// memory for long prompts without costing throughput.
const PREFILL_CHUNK: usize = 512;

/// [`Engine::load`]'s budget for dequantised GGUF weights (the default of
/// `engine.dense_weights_max_bytes`).
pub const DENSE_WEIGHT_BYTES: u64 = 2 << 30;

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
    /// A guard stopped it: the answer broke a content rule. The engine
    /// never ends a generation this way itself; the query service does,
    /// and reports it as OpenAI does (`content_filter`).
    ContentFilter,
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
    /// Seconds waiting for the serving engine to admit it (0 when run
    /// directly).
    pub queued_seconds: f64,
    /// Seconds from admission to the first token (the prompt's prefill).
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

/// What [`TextStream::accept`] made of a token.
pub(crate) struct Accepted {
    /// Text that is now final (may be empty); when finished, everything
    /// not yet returned.
    pub text: String,
    /// Set when the token ended the output.
    pub finish: Option<FinishReason>,
}

/// One sequence's output as it grows: its ids, its text, the stop checks,
/// and which text is final. Text that could still be the beginning of a
/// stop string is held back until it is clear, so a stop string is never
/// streamed. Shared by [`Engine::generate`] and the serving engine, so
/// both stop in exactly the same place.
pub(crate) struct TextStream {
    stop: Vec<String>,
    stop_ids: Vec<u32>,
    min_new: usize,
    max_new: usize,
    hold: usize,
    ids: Vec<u32>,
    text: String,
    emitted: usize,
    detok: Detokenizer,
}

impl TextStream {
    /// An empty output under `params`' stop rules and length.
    pub(crate) fn new(params: &SamplingParams) -> Self {
        Self {
            stop: params.stop.clone(),
            stop_ids: params.stop_token_ids.clone(),
            min_new: params.min_new_tokens,
            max_new: params.max_new_tokens,
            hold: params.stop.iter().map(String::len).max().unwrap_or(1) - 1,
            ids: Vec::new(),
            text: String::new(),
            emitted: 0,
            detok: Detokenizer { prefix: 0, read: 0 },
        }
    }

    /// Before `min_new_tokens`, makes the end-of-sequence and stop tokens
    /// unsampleable.
    pub(crate) fn suppress_stops(&self, logits: &mut [f32], eos: &[u32]) {
        if self.ids.len() < self.min_new {
            for &t in eos.iter().chain(&self.stop_ids) {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }

    /// Takes the next sampled token.
    ///
    /// # Errors
    /// When the tokenizer cannot decode.
    pub(crate) fn accept(
        &mut self,
        token: u32,
        tok: &Tokenizer,
        eos: &[u32],
    ) -> Result<Accepted, EngineError> {
        let finished = |me: &mut Self, f| Accepted {
            text: me.rest(),
            finish: Some(f),
        };
        if eos.contains(&token) || self.stop_ids.contains(&token) {
            return Ok(finished(self, FinishReason::Stop));
        }
        self.ids.push(token);
        if let Some(piece) = self.detok.next(tok, &self.ids)? {
            self.text.push_str(&piece);
        }
        let emitted = self.emitted;
        if let Some(cut) = self
            .stop
            .iter()
            // A stop string starting before `emitted` would have been whole
            // (and found) when that text was emitted.
            .filter_map(|s| self.text[emitted..].find(s.as_str()).map(|i| i + emitted))
            .min()
        {
            self.text.truncate(cut);
            return Ok(finished(self, FinishReason::Stop));
        }
        if self.ids.len() >= self.max_new {
            return Ok(finished(self, FinishReason::Length));
        }
        // Emit what can no longer be the start of a stop string.
        let mut safe = self.text.len().saturating_sub(self.hold);
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        let mut text = String::new();
        if safe > self.emitted {
            text.push_str(&self.text[self.emitted..safe]);
            self.emitted = safe;
        }
        Ok(Accepted { text, finish: None })
    }

    /// Everything not yet returned (the held-back tail), now final.
    pub(crate) fn rest(&mut self) -> String {
        let r = self.text[self.emitted..].to_owned();
        self.emitted = self.text.len();
        r
    }

    /// Generated tokens so far.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// The text and ids.
    pub(crate) fn into_parts(self) -> (String, Vec<u32>) {
        (self.text, self.ids)
    }
}

/// A model ready to generate.
pub struct Engine {
    parts: Parts,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    eos: Vec<u32>,
    name: String,
    /// The model's LoRA adapters by index.
    adapter_names: Vec<String>,
    /// Their weights' SHA-256, by index.
    adapter_sha256: Vec<String>,
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
        Self::load_with(path, device, DENSE_WEIGHT_BYTES)
    }

    /// [`Engine::load`], dequantising GGUF weights at load when their
    /// dense form takes at most `dense_weight_bytes` (see
    /// [`Checkpoint::dequantize_within`]; 0 keeps them quantised).
    ///
    /// # Errors
    /// As [`Engine::load`].
    pub fn load_with(
        path: &Path,
        device: &Device,
        dense_weight_bytes: u64,
    ) -> Result<Self, EngineError> {
        Self::load_on(
            path,
            std::slice::from_ref(device),
            Split::None,
            dense_weight_bytes,
        )
    }

    /// [`Engine::load_with`] over several devices, laid out by `split`
    /// (each device computes in [`devices::compute_dtype`]). Pipeline
    /// stages take layers in proportion to the memory free on their
    /// devices. Before any weight is read, each device is checked to have
    /// room for its part.
    ///
    /// # Errors
    /// [`EngineError::Device`] when a part does not fit its device (naming
    /// the bytes needed and free), or a split that needs two devices is
    /// given one; otherwise as [`Engine::load`].
    pub fn load_on(
        path: &Path,
        devices: &[Device],
        split: Split,
        dense_weight_bytes: u64,
    ) -> Result<Self, EngineError> {
        if devices.is_empty() || (split != Split::None && devices.len() < 2) {
            return Err(EngineError::Request(format!(
                "{:?} parallelism over {} devices: pipeline and tensor parallelism need at least two",
                split,
                devices.len()
            )));
        }
        // One device unless split: the first.
        let used = if split == Split::None {
            &devices[..1]
        } else {
            devices
        };
        let mut ckpts = Vec::with_capacity(used.len());
        let mut dense = true;
        for device in used {
            let mut ckpt = Checkpoint::open(path, device, devices::compute_dtype(device))?;
            let dequantized = ckpt.dequantize_within(dense_weight_bytes);
            if dequantized && ckpts.is_empty() {
                tracing::info!(
                    model = %path.display(),
                    "quantised weights dequantised at load (they fit the dense-weight budget)"
                );
            }
            // Quantised weights take less than their dense estimate.
            if !dequantized && (ckpt.gguf_metadata().is_some() || ckpt.quantization().is_some()) {
                dense = false;
            }
            ckpts.push(ckpt);
        }
        let config = ckpts[0].config.clone();
        let placements: Vec<Placement> = match split {
            Split::None => vec![Placement::whole(&config)],
            Split::Pipeline => {
                // Devices of one host share its memory: split evenly.
                let memory: Vec<u64> = used
                    .iter()
                    .map(|d| {
                        if d.is_cpu() {
                            1
                        } else {
                            devices::free_memory(d).unwrap_or(1)
                        }
                    })
                    .collect();
                split_layers(config.num_layers, &memory)?
                    .into_iter()
                    .map(|layers| Placement {
                        layers,
                        rank: 0,
                        size: 1,
                    })
                    .collect()
            }
            Split::Tensor => (0..used.len())
                .map(|rank| Placement {
                    layers: 0..config.num_layers,
                    rank,
                    size: used.len(),
                })
                .collect(),
        };
        if dense {
            let parts: Vec<(Device, u64)> = used
                .iter()
                .zip(&placements)
                .map(|(d, p)| {
                    let bytes = devices::part_weight_bytes(&config, p, devices::compute_dtype(d));
                    (d.clone(), bytes)
                })
                .collect();
            devices::check_fit(&parts)?;
        }
        let parts = match split {
            Split::None => Parts::Whole(Box::new(Model::load(&ckpts[0])?)),
            Split::Pipeline => {
                let ranges: Vec<_> = placements.iter().map(|p| p.layers.clone()).collect();
                Parts::Pipeline(PipelineParallel::load(&ckpts, &ranges)?)
            }
            Split::Tensor => Parts::Tensor {
                shards: TensorParallel::load(&ckpts)?,
                collective: collective_for(used)?,
            },
        };
        let ckpt = &ckpts[0];
        let model = parts.first();
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
            parts,
            tokenizer,
            template,
            eos,
            name,
            adapter_names: Vec::new(),
            adapter_sha256: Vec::new(),
        })
    }

    /// An engine over parts already loaded (e.g. from
    /// [`Checkpoint::random`]) with `tokenizer`, no chat template and no
    /// stop token: generation runs to `max_new_tokens`, as a speed check
    /// wants.
    pub fn from_parts(parts: Parts, tokenizer: Tokenizer, name: &str) -> Self {
        Self {
            parts,
            tokenizer,
            template: None,
            eos: Vec::new(),
            name: name.to_owned(),
            adapter_names: Vec::new(),
            adapter_sha256: Vec::new(),
        }
    }

    /// Reads the PEFT LoRA adapter in `dir`, checks it against the model
    /// (target modules, shapes, layers, the base model's name) and serves
    /// it under `name`; returns its index for
    /// [`crate::Serving::submit_with`].
    ///
    /// # Errors
    /// [`EngineError::File`] naming the adapter's file and what does not
    /// match; [`EngineError::Request`] for a name already taken.
    pub fn add_adapter(&mut self, name: &str, dir: &Path) -> Result<usize, EngineError> {
        if self.adapter_names.iter().any(|n| n == name) {
            return Err(EngineError::Request(format!(
                "adapter `{name}` is configured twice"
            )));
        }
        let adapter = crate::lora::LoraAdapter::open(
            name,
            dir,
            self.model().config(),
            Some(&self.name),
            self.model().device(),
            self.model().dtype(),
        )?;
        let index = self.parts.add_adapter(&adapter)?;
        self.adapter_names.push(name.to_owned());
        self.adapter_sha256.push(adapter.sha256().to_owned());
        Ok(index)
    }

    /// The SHA-256 (hex) of adapter `index`'s weights file.
    pub fn adapter_sha256(&self, index: usize) -> Option<&str> {
        self.adapter_sha256.get(index).map(String::as_str)
    }

    /// The names of the LoRA adapters added, by index.
    pub fn adapter_names(&self) -> &[String] {
        &self.adapter_names
    }

    /// The model (its first part when it spans several devices; every
    /// part has the whole model's configuration).
    pub fn model(&self) -> &Model {
        self.parts.first()
    }

    /// The model's parts over its devices.
    pub fn parts(&self) -> &Parts {
        &self.parts
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

    /// Runs `tokens` after what `caches` hold (one per rank); the last
    /// token's logits.
    fn step(
        &self,
        tokens: &[u32],
        caches: &mut [ContiguousCache],
    ) -> Result<Vec<f32>, EngineError> {
        let mut inputs: Vec<[SeqInput<'_>; 1]> = caches
            .iter_mut()
            .map(|cache| {
                [SeqInput {
                    tokens,
                    cache,
                    positions: None,
                    logits: Logits::Last,
                    adapter: None,
                }]
            })
            .collect();
        let batches = inputs.iter_mut().map(|b| &mut b[..]).collect();
        let out = self.parts.forward(batches)?;
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
        let context = self.model().config().max_context();
        if prompt.len() >= context {
            return Err(EngineError::Request(format!(
                "the prompt has {} tokens; the model's context is {context}",
                prompt.len()
            )));
        }
        let layers = self.model().config().num_layers;
        let mut caches: Vec<ContiguousCache> = (0..self.parts.ranks())
            .map(|_| ContiguousCache::new(layers))
            .collect();
        let mut sampler = Sampler::new(params.clone(), prompt);
        let started = Instant::now();
        let mut logits = Vec::new();
        for chunk in prompt.chunks(PREFILL_CHUNK) {
            logits = self.step(chunk, &mut caches)?;
        }
        let prefill_seconds = started.elapsed().as_secs_f64();
        let decode_started = Instant::now();

        let mut stream = TextStream::new(params);
        let finish = loop {
            stream.suppress_stops(&mut logits, &self.eos);
            let token = sampler.sample(&mut logits);
            let Accepted { mut text, finish } = stream.accept(token, &self.tokenizer, &self.eos)?;
            let finish = match finish {
                None if caches[0].len() + 1 >= context => {
                    text.push_str(&stream.rest());
                    Some(FinishReason::Length)
                }
                f => f,
            };
            if !text.is_empty() && !on_text(&text) && finish.is_none() {
                break FinishReason::Cancelled;
            }
            if let Some(f) = finish {
                break f;
            }
            logits = self.step(&[token], &mut caches)?;
        };
        let (text, token_ids) = stream.into_parts();
        Ok(Generation {
            text,
            token_ids,
            finish_reason: finish,
            prompt_tokens: prompt.len(),
            queued_seconds: 0.0,
            prefill_seconds,
            decode_seconds: decode_started.elapsed().as_secs_f64(),
        })
    }
}

/// The all-reduce tensor-parallel shards on `devices` use: NCCL when they
/// are all GPUs (`cuda` builds), else in process (`None`).
#[allow(clippy::unnecessary_wraps)]
fn collective_for(
    devices: &[Device],
) -> Result<Option<Box<dyn crate::parallel::Collective>>, EngineError> {
    #[cfg(feature = "cuda")]
    if devices.iter().all(Device::is_cuda) {
        let nccl = crate::nccl::NcclCollective::new(devices)?;
        return Ok(Some(Box::new(nccl)));
    }
    let _ = devices;
    Ok(None)
}
