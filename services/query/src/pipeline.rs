//! From a conversation to a streamed, cited answer: rewrite the follow-up,
//! retrieve within the caller's scope, pack the prompt, generate, and
//! resolve the citations.
//!
//! Authentication, rate limits and the audit record are the caller's (the
//! HTTP layer and the CLI), which know who is asking; everything here runs
//! with the scope it is given and nothing wider.

use crate::QueryError;
use crate::attribution::{Origin, attribute};
use crate::citations::{Citation, CitationFilter, resolve};
use crate::compose::Assembler;
use crate::prompt::{Candidate, Limits, PackInput, SYSTEM_PROMPT, Source};
use crate::screen::{PassageScreen, Screened};
use crate::think::{Routed, ThinkSplitter};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;
use zhishu_core::Config;
use zhishu_core::config::{AttentionKind, ChatConfig, Parallelism};
use zhishu_engine::serving::AttentionPath;
use zhishu_engine::{
    ChatMessage, Engine, Event, FinishReason, SamplingParams, Serving, ServingConfig, Split,
};
use zhishu_retrieval::{HybridSearcher, Mode, Scope, SearchFilter, SearchOptions};

/// Retrieval for one question.
pub struct Retrieval<'a> {
    /// The searcher.
    pub searcher: &'a HybridSearcher,
    /// The caller's access groups.
    pub scope: &'a Scope,
    /// Metadata filters (collection, documents, path, time).
    pub filter: &'a SearchFilter,
    /// Passages to retrieve.
    pub k: usize,
    /// The question's embedding, when already computed (by the question
    /// guard): used when the search query is the question itself.
    pub question_vector: Option<Vec<f32>>,
}

/// One question in its conversation.
pub struct Question<'a> {
    /// The conversation, ending with the user's question. System messages
    /// are added to the built-in system prompt.
    pub messages: &'a [ChatMessage],
    /// Retrieval, or `None` for a plain chat without documents.
    pub retrieval: Option<Retrieval<'a>>,
    /// Let the model think before answering.
    pub enable_thinking: bool,
    /// Tokens reserved for the answer.
    pub max_tokens: usize,
    /// The passage guard: each retrieved passage is checked before it may
    /// enter the prompt (`None`: no guard, as in tests of packing).
    pub screen: Option<PassageScreen<'a>>,
}

/// A packed prompt, ready to generate from.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The rendered prompt.
    pub prompt: String,
    /// Its token ids.
    pub prompt_ids: Vec<u32>,
    /// The sources in the prompt, by label.
    pub sources: Vec<Source>,
    /// Everything retrieval returned (for the audit record), best first.
    pub retrieved: Vec<Candidate>,
    /// What the passage guard did, for each passage it found something in.
    pub screened: Vec<Screened>,
    /// The query retrieval ran (the rewritten follow-up, when rewritten).
    pub search_query: Option<String>,
    /// Earlier turns left out for lack of room.
    pub history_dropped: usize,
    /// Milliseconds spent rewriting the follow-up (a generation),
    /// retrieving, and packing, rendering and tokenising the prompt.
    pub timings: PrepareTimings,
    /// Whether the prompt already opened a `<think>` block.
    thinking_open: bool,
}

/// Where the time before generation went, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PrepareTimings {
    /// Rewriting a follow-up into a standalone question (0 when not).
    pub rewrite_ms: f64,
    /// Hybrid search (and reranking).
    pub retrieval_ms: f64,
    /// Packing, rendering and tokenising the prompt.
    pub assembly_ms: f64,
    /// Whether the prompt's ids were composed from stored ids (else the
    /// prompt was tokenised whole).
    pub composed: bool,
    /// Sources whose ids were stored at ingestion.
    pub stored_sources: usize,
}

/// The finished answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer text, citations normalised to `[n]`.
    pub content: String,
    /// The thinking, when the model thought.
    pub reasoning: Option<String>,
    /// The sources the answer cites, in order of first use.
    pub citations: Vec<Citation>,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Seconds to the first token (the prompt's prefill).
    pub prefill_seconds: f64,
    /// Seconds generating after the first token.
    pub decode_seconds: f64,
}

/// What an answer stream yields.
#[derive(Debug)]
pub enum AnswerEvent {
    /// New thinking and/or answer text.
    Delta(Routed),
    /// The end.
    Done(Answer),
}

/// The model, its engine thread, and the chat settings.
pub struct Rag {
    engine: Arc<Engine>,
    assembler: Arc<Assembler>,
    serving: Serving,
    chat: ChatConfig,
    context: usize,
    name: String,
}

impl Rag {
    /// Loads `engine.model` on `engine.devices` (laid out by
    /// `engine.parallel`) and starts its thread.
    ///
    /// # Errors
    /// When the model cannot be loaded (the error names the file), a
    /// device cannot be used (a GPU in a build without CUDA, a model that
    /// does not fit: the error names the device and the bytes), or the KV
    /// cache budget holds no block.
    pub fn load(config: &Config) -> Result<Self, QueryError> {
        let path = config.model_path(&config.engine.model);
        let e = &config.engine;
        let devices = e
            .devices
            .iter()
            .map(|d| zhishu_engine::devices::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        let split = match e.parallel {
            Parallelism::None => Split::None,
            Parallelism::Pipeline => Split::Pipeline,
            Parallelism::Tensor => Split::Tensor,
        };
        let mut engine = Engine::load_on(&path, &devices, split, e.dense_weights_max_bytes)?;
        for (name, dir) in &e.adapters {
            let dir = config.model_path(dir);
            engine.add_adapter(name, &dir)?;
            tracing::info!(adapter = %name, folder = %dir.display(), "LoRA adapter loaded");
        }
        let serving = ServingConfig {
            kv_cache_bytes: e.kv_cache_bytes as usize,
            kv_cache_fraction: e.kv_cache_fraction,
            attention: match e.attention {
                AttentionKind::Auto => AttentionPath::Auto,
                AttentionKind::Reference => AttentionPath::Reference,
                AttentionKind::Kernels => AttentionPath::Kernels,
            },
            block_size: e.block_size as usize,
            max_batch_tokens: e.max_batch_tokens as usize,
            max_running: e.max_running as usize,
            max_waiting: config.chat.queue,
            prefix_caching: e.prefix_caching,
            max_context: e.max_context_tokens as usize,
        };
        Self::new(
            Arc::new(engine),
            config.chat.clone(),
            serving,
            config.engine.served_name.clone(),
        )
    }

    /// Wraps a loaded engine and starts serving it.
    ///
    /// # Errors
    /// When the KV budget holds no block or the engine thread cannot
    /// start.
    pub fn new(
        engine: Arc<Engine>,
        chat: ChatConfig,
        serving: ServingConfig,
        name: String,
    ) -> Result<Self, QueryError> {
        let context = serving
            .max_context
            .min(engine.model().config().max_context());
        let serving = Serving::start(engine.clone(), serving)?;
        let assembler = Arc::new(Assembler::new(engine.clone()));
        Ok(Self {
            engine,
            assembler,
            serving,
            chat,
            context,
            name,
        })
    }

    /// The serving engine (its metrics, its capacity).
    pub fn serving(&self) -> &Serving {
        &self.serving
    }

    /// The name clients call the model by.
    pub fn served_name(&self) -> &str {
        &self.name
    }

    /// The LoRA adapters served over the model, by the names requests use
    /// (in the engine's index order).
    pub fn adapters(&self) -> &[String] {
        self.engine.adapter_names()
    }

    /// The SHA-256 (hex) of adapter `index`'s weights.
    pub fn adapter_sha256(&self, index: usize) -> Option<&str> {
        self.engine.adapter_sha256(index)
    }

    /// What a request's `model` picks: `Some(None)` for the model itself
    /// (no name, or its served name), `Some(Some(i))` for adapter `i`,
    /// `None` for a name that is neither.
    pub fn resolve(&self, model: Option<&str>) -> Option<Option<usize>> {
        match model {
            None => Some(None),
            Some(m) if m == self.name => Some(None),
            Some(m) => self.adapters().iter().position(|a| a == m).map(Some),
        }
    }

    /// The usable context in tokens.
    pub fn context_tokens(&self) -> usize {
        self.context
    }

    /// Prompt assembly for this model.
    pub fn assembler(&self) -> &Assembler {
        &self.assembler
    }

    /// The chat settings.
    pub fn chat_config(&self) -> &ChatConfig {
        &self.chat
    }

    /// Rewrites a follow-up question into one that stands alone, with the
    /// model (greedy, one line). Falls back to the question as asked when
    /// the model gives nothing usable.
    ///
    /// # Errors
    /// When the engine is busy or fails.
    pub async fn standalone_question(
        &self,
        history: &[ChatMessage],
        question: &str,
    ) -> Result<String, QueryError> {
        let mut transcript = String::new();
        for m in history.iter().rev().take(6).rev() {
            let who = if m.role == "user" {
                "User"
            } else {
                "Assistant"
            };
            let text: String = m.content.chars().take(600).collect();
            transcript.push_str(&format!("{who}: {text}\n"));
        }
        let messages = [
            ChatMessage::new(
                "system",
                "Rewrite the user's last question as one standalone question that can be understood without the conversation, in the language of the question. Reply with the question only.",
            ),
            ChatMessage::new(
                "user",
                format!("Conversation:\n{transcript}\nLast question: {question}"),
            ),
        ];
        let prompt = self.engine.chat_prompt(&messages, false)?;
        let ids = self.engine.encode(&prompt)?;
        if ids.len() + 64 >= self.context {
            return Ok(question.to_owned());
        }
        let mut params = SamplingParams::greedy(64);
        params.stop = vec!["\n".into()];
        let mut rx = self.serving.submit(ids, params)?;
        let mut text = String::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Delta { text: t, .. } => text.push_str(&t),
                Event::Done(_) => break,
                Event::Failed(e) => return Err(QueryError::Generation(e)),
            }
        }
        let text = zhishu_engine::split_thinking(&text)
            .answer
            .trim()
            .to_owned();
        let usable = !text.is_empty() && text.chars().count() <= 4 * question.chars().count() + 200;
        Ok(if usable { text } else { question.to_owned() })
    }

    /// Retrieves and packs the prompt for a question.
    ///
    /// # Errors
    /// [`QueryError::Invalid`] for a conversation that does not end with a
    /// user question; [`QueryError::TooLong`]; retrieval or engine
    /// failures.
    pub async fn prepare(&self, q: Question<'_>) -> Result<Prepared, QueryError> {
        let (question, earlier) = match q.messages.split_last() {
            Some((last, earlier)) if last.role == "user" => (last.content.clone(), earlier),
            _ => {
                return Err(QueryError::Invalid(
                    "the last message must be the user's question".into(),
                ));
            }
        };
        if question.trim().is_empty() {
            return Err(QueryError::Invalid("the question is empty".into()));
        }
        let mut system_extra = Vec::new();
        let mut history = Vec::new();
        for m in earlier {
            match m.role.as_str() {
                "system" | "developer" => system_extra.push(m.content.clone()),
                "user" | "assistant" => history.push(m.clone()),
                other => {
                    return Err(QueryError::Invalid(format!(
                        "message role `{other}` is not supported: use system, user or assistant"
                    )));
                }
            }
        }
        if q.max_tokens >= self.context {
            return Err(QueryError::Invalid(format!(
                "max_tokens {} must be smaller than the model's context ({} tokens)",
                q.max_tokens, self.context
            )));
        }
        let grounded = q.retrieval.is_some();
        let mut search_query = None;
        let mut candidates = Vec::new();
        let mut screen = q.screen;
        let mut screened = Vec::new();
        let mut timings = PrepareTimings::default();
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
        if let Some(r) = &q.retrieval {
            let t = Instant::now();
            let query = if self.chat.rewrite_followups && history.iter().any(|m| m.role == "user") {
                self.standalone_question(&history, &question).await?
            } else {
                question.clone()
            };
            timings.rewrite_ms = ms(t);
            let t = Instant::now();
            let mode = if r.searcher.reranker.is_some() {
                Mode::HybridRerank
            } else {
                Mode::Hybrid
            };
            let options = SearchOptions {
                mode,
                neighbours: r.searcher.fusion.neighbours,
                query_vector: r.question_vector.clone().filter(|_| query == question),
            };
            let results = r
                .searcher
                .search_with(&query, r.k, r.scope, r.filter, &options)
                .await
                .map_err(QueryError::Retrieval)?;
            candidates = results
                .hits
                .into_iter()
                .map(|h| Candidate {
                    chunk: h.chunk,
                    score: h.score,
                })
                .collect();
            if let Some(screen) = screen.as_mut() {
                candidates = std::mem::take(&mut candidates)
                    .into_iter()
                    .filter_map(|c| {
                        let (kept, s) = screen.screen(c.chunk);
                        screened.extend(s);
                        kept.map(|chunk| Candidate {
                            chunk,
                            score: c.score,
                        })
                    })
                    .collect();
            }
            search_query = Some(query);
            timings.retrieval_ms = ms(t);
        }
        let system = if grounded {
            let base = self.chat.system_prompt.as_deref().unwrap_or(SYSTEM_PROMPT);
            Some(
                std::iter::once(base.to_owned())
                    .chain(system_extra)
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            )
        } else if system_extra.is_empty() {
            None
        } else {
            Some(system_extra.join("\n\n"))
        };
        let input = PackInput {
            system,
            history,
            question,
            candidates,
            grounded,
            limits: Limits {
                context: self.context,
                answer: q.max_tokens,
                per_document: self.chat.max_chunks_per_document,
                history_share: self.chat.history_share,
            },
        };
        // Tokenising a long prompt is CPU work: off the async workers.
        let assembler = self.assembler.clone();
        let thinking = q.enable_thinking;
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let assembled = assembler.assemble(&input, thinking)?;
            timings.assembly_ms = ms(t);
            timings.composed = assembled.composed;
            timings.stored_sources = assembled.stored_sources;
            let thinking_open = assembled.prompt.trim_end().ends_with("<think>");
            Ok(Prepared {
                prompt: assembled.prompt,
                prompt_ids: assembled.prompt_ids,
                sources: assembled.packed.sources,
                retrieved: input.candidates,
                screened,
                timings,
                search_query,
                history_dropped: assembled.packed.history_dropped,
                thinking_open,
            })
        })
        .await
        .map_err(|e| QueryError::Generation(format!("prompt assembly failed: {e}")))?
    }

    /// Starts generating the answer to a prepared prompt, with the LoRA
    /// adapter `adapter` (see [`Rag::resolve`]) or the model itself.
    ///
    /// # Errors
    /// [`QueryError::Busy`] when the engine's queue is full; invalid
    /// sampling parameters.
    pub fn generate(
        &self,
        prepared: &Prepared,
        params: SamplingParams,
        adapter: Option<usize>,
    ) -> Result<AnswerStream, QueryError> {
        params.validate()?;
        let rx = self
            .serving
            .submit_with(prepared.prompt_ids.clone(), params, adapter)?;
        Ok(AnswerStream {
            rx,
            think: ThinkSplitter::new(prepared.thinking_open),
            cite: CitationFilter::new(prepared.sources.len()),
            sources: prepared.sources.clone(),
            content: String::new(),
            reasoning: String::new(),
            queued: VecDeque::new(),
            finished: false,
        })
    }
}

/// A streaming answer: thinking and answer text as they are generated,
/// then the [`Answer`] with its citations.
pub struct AnswerStream {
    rx: UnboundedReceiver<Event>,
    think: ThinkSplitter,
    cite: CitationFilter,
    sources: Vec<Source>,
    content: String,
    reasoning: String,
    queued: VecDeque<AnswerEvent>,
    finished: bool,
}

impl AnswerStream {
    fn route(&mut self, routed: Routed, end: bool) -> Option<AnswerEvent> {
        let mut content = self.cite.push(&routed.content);
        if end {
            content.push_str(&self.cite.finish());
        }
        self.content.push_str(&content);
        self.reasoning.push_str(&routed.reasoning);
        (!content.is_empty() || !routed.reasoning.is_empty()).then_some(AnswerEvent::Delta(
            Routed {
                reasoning: routed.reasoning,
                content,
            },
        ))
    }

    /// Stops generating: the engine sees the stream closed and frees the
    /// sequence's KV blocks. No event follows.
    pub fn stop(&mut self) {
        self.rx.close();
        self.finished = true;
        self.queued.clear();
    }

    /// The next event; `None` after [`AnswerEvent::Done`].
    ///
    /// # Errors
    /// When generation fails or the engine stops.
    pub async fn next(&mut self) -> Option<Result<AnswerEvent, QueryError>> {
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Some(Ok(ev));
            }
            if self.finished {
                return None;
            }
            match self.rx.recv().await {
                Some(Event::Delta { text: t, .. }) => {
                    let routed = self.think.push(&t);
                    if let Some(ev) = self.route(routed, false) {
                        return Some(Ok(ev));
                    }
                }
                Some(Event::Done(g)) => {
                    self.finished = true;
                    let rest = self.think.finish();
                    if let Some(ev) = self.route(rest, true) {
                        self.queued.push_back(ev);
                    }
                    let reasoning = self.reasoning.trim().to_owned();
                    let content = self.content.trim().to_owned();
                    let marked = self.cite.cited();
                    let matched = attribute(&content, &self.sources, marked);
                    let mut citations = resolve(marked, &self.sources, Origin::Marker);
                    citations.extend(resolve(&matched, &self.sources, Origin::Overlap));
                    self.queued.push_back(AnswerEvent::Done(Answer {
                        content,
                        reasoning: (!reasoning.is_empty()).then_some(reasoning),
                        citations,
                        finish_reason: g.finish_reason,
                        prompt_tokens: g.prompt_tokens,
                        completion_tokens: g.token_ids.len(),
                        prefill_seconds: g.prefill_seconds,
                        decode_seconds: g.decode_seconds,
                    }));
                }
                Some(Event::Failed(e)) => {
                    self.finished = true;
                    return Some(Err(QueryError::Generation(e)));
                }
                None => {
                    self.finished = true;
                    return Some(Err(QueryError::Stopped));
                }
            }
        }
    }

    /// Waits for the whole answer.
    ///
    /// # Errors
    /// As [`AnswerStream::next`].
    pub async fn collect(mut self) -> Result<Answer, QueryError> {
        while let Some(ev) = self.next().await {
            if let AnswerEvent::Done(a) = ev? {
                return Ok(a);
            }
        }
        Err(QueryError::Stopped)
    }
}
