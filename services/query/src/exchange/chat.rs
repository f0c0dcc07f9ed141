//! A chat exchange: from the ask to the closing audit event.

use super::{Asker, ExchangeError, Exchanges, MAX_MESSAGES, MAX_SOURCES, MAX_STOPS};
use crate::screen::{self, PassageScreen};
use crate::{Answer, AnswerEvent, AnswerStream, Prepared, Question, Retrieval, Routed};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::Instant;
use tokio::sync::mpsc;
use zhishu_audit::{AuditEvent, ModelInfo, Outcome};
use zhishu_engine::{ChatMessage, FinishReason, SamplingParams};
use zhishu_guard::{Context, Finding, GuardPoint, StreamGuard, Verdict};
use zhishu_retrieval::{HybridSearcher, SearchFilter};
use zhishu_store::{NewMessage, OpenExchange, StoreError, now_ms};

/// The action of a chat exchange's closing event.
const CHAT: &str = "chat.completion";
/// Steps an answer may run ahead of a slow client.
const STEPS_AHEAD: usize = 32;

/// Sampling as the client asked; what is not set takes the configured or
/// the model's recommended default (Qwen3's, thinking or not).
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    /// Tokens the answer may take. Default `chat.answer_tokens`.
    pub max_tokens: Option<usize>,
    /// Temperature. Default `chat.temperature`, else Qwen's.
    pub temperature: Option<f32>,
    /// Nucleus sampling. Default Qwen's.
    pub top_p: Option<f32>,
    /// Presence penalty. Default Qwen's.
    pub presence_penalty: Option<f32>,
    /// Frequency penalty. Default Qwen's.
    pub frequency_penalty: Option<f32>,
    /// Seed, for repeatable answers.
    pub seed: Option<u64>,
    /// Up to [`MAX_STOPS`] strings that end the answer.
    pub stop: Vec<String>,
}

/// A question in its conversation, as a front end received it.
#[derive(Debug, Clone, Default)]
pub struct ChatAsk {
    /// The model asked for; `None` for the served one.
    pub model: Option<String>,
    /// The messages, ending with the user's question.
    pub messages: Vec<ChatMessage>,
    /// Continue this stored conversation of the asker's.
    pub conversation_id: Option<String>,
    /// Ground the answer in documents (default on for every front end).
    pub retrieval: bool,
    /// Narrowing filters (they cannot widen the scope).
    pub filter: SearchFilter,
    /// Passages to retrieve. Default `chat.sources`.
    pub k: Option<usize>,
    /// Let the model think first.
    pub thinking: bool,
    /// Sampling.
    pub sampling: Sampling,
    /// Whether the front end streams the answer (recorded only).
    pub stream: bool,
    /// The client's own tag for its end user (OpenAI's `user`; the OS user
    /// for the CLI), recorded only.
    pub client_tag: Option<String>,
}

/// What a running exchange yields.
#[derive(Debug)]
pub enum Step {
    /// New thinking and/or answer text.
    Delta(Routed),
    /// The end: the answer, recorded.
    Done(Box<Finished>),
    /// The end: a failure, recorded (or the audit failure itself).
    Failed(ExchangeError),
}

/// A finished, recorded answer.
#[derive(Debug)]
pub struct Finished {
    /// The answer.
    pub answer: Answer,
    /// The closing audit event.
    pub audit_event_id: String,
    /// The conversation it was added to (`None` for the CLI).
    pub conversation_id: Option<String>,
}

/// A started exchange: its `exchange.started` event is committed and the
/// engine is generating. [`Exchange::run`] takes it to its closing event.
pub struct Exchange {
    service: Exchanges,
    id: String,
    event: AuditEvent,
    owner: Option<String>,
    conversation_id: Option<String>,
    question: String,
    prepared: Prepared,
    answer: AnswerStream,
    started: Instant,
    model: String,
    /// The answer guard.
    stream: StreamGuard,
    /// The answer guard over the thinking (shown to the user too).
    think: StreamGuard,
}

impl Exchanges {
    /// Starts a chat exchange: validates the ask, splices the stored
    /// conversation, retrieves within the asker's scope with `searcher`
    /// (`None` when the stores are not open), packs the prompt, starts
    /// generation and commits the `exchange.started` audit event.
    ///
    /// # Errors
    /// [`ExchangeError`]; every one is recorded in the audit trail first
    /// (or is the audit failure itself).
    ///
    /// # Cancel safety
    /// Dropping the future before it returns leaves at most an
    /// `exchange.started` event without its closing event; the next
    /// start-up closes it as interrupted.
    #[tracing::instrument(skip_all, fields(via = asker.via.as_str()))]
    pub async fn chat(
        &self,
        asker: &Asker,
        ask: ChatAsk,
        searcher: Option<&HybridSearcher>,
    ) -> Result<Exchange, ExchangeError> {
        let started = Instant::now();
        let mut event = asker.event(CHAT, Outcome::Ok);
        self.set_question(&mut event, ask.messages.last().map(|m| m.content.as_str()));
        match self.start(asker, ask, searcher, &mut event, started).await {
            Ok(exchange) => Ok(exchange),
            Err(e) => Err(self.record_failure(event, e, Some(started)).await),
        }
    }

    async fn start(
        &self,
        asker: &Asker,
        ask: ChatAsk,
        searcher: Option<&HybridSearcher>,
        event: &mut AuditEvent,
        started: Instant,
    ) -> Result<Exchange, ExchangeError> {
        let rag = self.rag.clone().ok_or(ExchangeError::NoModel)?;
        let Some(adapter) = rag.resolve(ask.model.as_deref()) else {
            let mut served = vec![rag.served_name().to_owned()];
            served.extend(rag.adapters().iter().cloned());
            return Err(ExchangeError::ModelNotFound {
                asked: ask.model.clone().unwrap_or_default(),
                served: served.join("`, `"),
            });
        };
        let adapter_name = adapter.and_then(|a| rag.adapters().get(a).cloned());
        let mut messages = ask.messages;
        if messages.is_empty() {
            return Err(ExchangeError::invalid(
                "invalid_request",
                "`messages` is empty",
            ));
        }
        if messages.len() > MAX_MESSAGES {
            return Err(ExchangeError::invalid(
                "invalid_request",
                format!("`messages` holds more than {MAX_MESSAGES} messages"),
            ));
        }
        let params = sampling_params(&ask.sampling, ask.thinking, rag.chat_config())?;
        if let Some(id) = &ask.conversation_id {
            let Some(owner) = &asker.owner else {
                return Err(ExchangeError::invalid(
                    "invalid_request",
                    "conversations are kept for signed-in users only",
                ));
            };
            let stored = match self.repo.messages(owner, id).await {
                Ok(m) => m,
                Err(StoreError::NotFound { .. }) => {
                    return Err(ExchangeError::ConversationNotFound(id.clone()));
                }
                Err(e) => return Err(e.into()),
            };
            // A client that sends only the new question continues the
            // stored conversation; one that sends the whole history is
            // taken as sent.
            if messages.iter().filter(|m| m.role != "system").count() == 1 {
                let at = messages.len() - 1;
                let history = stored
                    .into_iter()
                    .map(|m| ChatMessage::new(&m.role, m.content));
                messages.splice(at..at, history);
            }
        }
        ask.filter
            .validate()
            .map_err(|e| ExchangeError::invalid("invalid_filter", e.to_string()))?;
        let k = ask.k.unwrap_or(rag.chat_config().sources);
        if k == 0 || k > MAX_SOURCES {
            return Err(ExchangeError::invalid(
                "invalid_k",
                format!("`k` must be 1–{MAX_SOURCES}"),
            ));
        }
        let scope = asker.scope();
        // The question guard embeds with the stores' embedder even when
        // retrieval is off.
        let encoder = searcher.map(|s| &s.encoder);
        let searcher = match (ask.retrieval, searcher) {
            (true, None) => return Err(ExchangeError::StoresUnavailable),
            (true, Some(s)) => Some(s),
            (false, _) => None,
        };
        event.input = Some(json!({
            "via": asker.via.as_str(),
            "messages": messages.len(),
            "stream": ask.stream,
            "retrieval": ask.retrieval,
            "k": k,
            "filters": ask.filter,
            "scope": scope.groups(),
            "enable_thinking": ask.thinking,
            "conversation_id": ask.conversation_id,
            "user": ask.client_tag,
        }));
        event.model = Some(ModelInfo {
            name: rag.served_name().to_owned(),
            adapter: adapter_name.clone(),
            adapter_sha256: adapter.and_then(|a| rag.adapter_sha256(a).map(str::to_owned)),
            parameters: serde_json::to_value(&params).unwrap_or_default(),
        });
        // The question guard: the question and the history, before
        // retrieval. A block refuses the exchange; a redaction changes
        // what retrieval and the model see.
        let gctx = Context {
            roles: asker.actor.roles.clone(),
            groups: asker.actor.groups.clone(),
            collections: ask.filter.collections.clone(),
        };
        let asked = messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let mut redactor = self.guard.redactor();
        // The question's embedding, when the injection model read it: what
        // retrieval would compute for the same text.
        let mut question_vector = None;
        let last = messages.len() - 1;
        for (i, m) in messages.iter_mut().enumerate() {
            let mut v = self.guard.check(&m.content, GuardPoint::Question, &gctx);
            if i == last && m.role == "user" {
                let weighed = screen::weigh_question(
                    &self.guard,
                    encoder,
                    &m.content,
                    &mut v,
                    &gctx,
                    &redactor,
                )
                .await;
                question_vector = match weighed {
                    Ok(q) => q,
                    Err(e) => {
                        // Refused unchecked: what the rules found is kept.
                        event.policy.extend(screen::decisions(
                            GuardPoint::Question,
                            &format!("messages[{i}]"),
                            &v,
                        ));
                        return Err(ExchangeError::GuardFailed(e));
                    }
                };
            }
            if v.is_empty() {
                continue;
            }
            self.guard.record(GuardPoint::Question, &v.findings);
            event.policy.extend(screen::decisions(
                GuardPoint::Question,
                &format!("messages[{i}]"),
                &v,
            ));
            if let Some(b) = v.blocked() {
                return Err(ExchangeError::Filtered {
                    rule: b.rule.clone(),
                    message: screen::refusal(&asked, b),
                });
            }
            m.content = v.for_model(&m.content, &mut redactor);
        }
        let guarded = self.guard.enabled();
        let prepared = rag
            .prepare(Question {
                messages: &messages,
                retrieval: searcher.map(|searcher| Retrieval {
                    searcher,
                    scope: &scope,
                    filter: &ask.filter,
                    k,
                    question_vector: question_vector
                        .filter(|(seen, _)| messages.last().is_some_and(|m| &m.content == seen))
                        .map(|(_, v)| v),
                }),
                enable_thinking: ask.thinking,
                max_tokens: params.max_new_tokens,
                screen: guarded.then_some(PassageScreen {
                    guard: &self.guard,
                    ctx: &gctx,
                    redactor: &mut redactor,
                }),
            })
            .await?;
        for s in &prepared.screened {
            event.policy.extend(s.decisions.iter().cloned());
        }
        if let Some(input) = event.input.as_mut() {
            // The search query is the question, or a rewrite of it: kept
            // like the question.
            match (&prepared.search_query, self.store_questions) {
                (Some(q), false) => {
                    input["search_query_sha256"] = json!(hex::encode(Sha256::digest(q.as_bytes())));
                }
                (q, _) => input["search_query"] = json!(q.as_deref().map(|q| self.audit_text(q))),
            }
            input["sources_in_prompt"] = json!(prepared.sources.len());
            input["history_dropped"] = json!(prepared.history_dropped);
        }
        crate::record::prepared(event, &prepared, self.store_prompts);
        if let Some(text) = event.prompt.as_mut().and_then(|p| p.text.as_mut()) {
            *text = self.audit_text(text);
        }
        // Generation starts now, overlapping the audit write below; no
        // token can reach anyone before this function returns.
        let answer = rag.generate(&prepared, params, adapter)?;

        let id = uuid::Uuid::new_v4().to_string();
        self.repo
            .open_exchange(&OpenExchange {
                exchange_id: id.clone(),
                node: self.node.clone(),
                action: CHAT.into(),
                actor: asker.actor.user.replace('\0', "\u{fffd}"),
                started_at: now_ms(),
            })
            .await?;
        let mut opening = event.clone();
        opening.exchange_id = Some(id.clone());
        opening.action = "exchange.started".into();
        opening.prompt = opening.prompt.map(|mut p| {
            p.text = None;
            p
        });
        if let Err(e) = self.audit.record(opening).await {
            // Not started after all: nothing for a later start-up to close.
            self.forget(&id).await;
            return Err(e.into());
        }
        event.exchange_id = Some(id.clone());
        tracing::info!(exchange = %id, "exchange started");
        Ok(Exchange {
            service: self.clone(),
            id,
            event: event.clone(),
            owner: asker.owner.clone(),
            conversation_id: ask.conversation_id,
            question: asked,
            prepared,
            answer,
            started,
            model: adapter_name.unwrap_or_else(|| rag.served_name().to_owned()),
            think: self
                .guard
                .stream(gctx.clone())
                .with_redactor(redactor.clone()),
            stream: self.guard.stream(gctx).with_redactor(redactor),
        })
    }
}

/// The sampling parameters of an ask: the model's recommended preset,
/// then the configured defaults, then what the client set.
fn sampling_params(
    s: &Sampling,
    thinking: bool,
    chat: &zhishu_core::config::ChatConfig,
) -> Result<SamplingParams, ExchangeError> {
    let mut params = if thinking {
        SamplingParams::qwen3_thinking()
    } else {
        SamplingParams::qwen3_non_thinking()
    };
    params.max_new_tokens = s.max_tokens.unwrap_or(chat.answer_tokens);
    if let Some(t) = s.temperature.or(chat.temperature) {
        params.temperature = t;
    }
    if let Some(p) = s.top_p {
        params.top_p = p;
    }
    if let Some(p) = s.presence_penalty {
        params.presence_penalty = p;
    }
    if let Some(p) = s.frequency_penalty {
        params.frequency_penalty = p;
    }
    params.seed = s.seed;
    if s.stop.len() > MAX_STOPS || s.stop.iter().any(String::is_empty) {
        return Err(ExchangeError::invalid(
            "invalid_request",
            format!("`stop` takes up to {MAX_STOPS} non-empty strings"),
        ));
    }
    params.stop = s.stop.clone();
    params
        .validate()
        .map_err(|e| ExchangeError::invalid("invalid_request", e.to_string()))?;
    Ok(params)
}

impl Exchange {
    /// The exchange id its audit events carry.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The packed prompt: sources by label, the search query, history
    /// left out.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// The served model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Runs the exchange to its end on a task of its own and returns its
    /// steps. The task writes the closing audit event whatever happens: if
    /// the receiver is dropped (the client left, streaming or not), it
    /// stops generation and records the partial answer as `cancelled`.
    ///
    /// A process that exits while the exchange runs (the CLI) drops the
    /// receiver and then awaits the returned handle, so the closing event
    /// is written before the runtime stops.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn run(self) -> (mpsc::Receiver<Step>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(STEPS_AHEAD);
        let task = tokio::spawn(self.drive(tx));
        (rx, task)
    }

    async fn drive(mut self, tx: mpsc::Sender<Step>) {
        let mut partial = String::new();
        let mut thought = String::new();
        loop {
            let next = tokio::select! {
                biased;
                () = tx.closed() => return self.cancelled(partial).await,
                next = self.answer.next() => next,
            };
            let step = match next {
                Some(Ok(AnswerEvent::Delta(mut d))) => {
                    // The answer guard releases what is safe to show.
                    let r = self.stream.push(&d.content);
                    if let Some(b) = r.blocked {
                        return self.filtered(tx, partial, b).await;
                    }
                    d.content = r.text;
                    if !d.reasoning.is_empty() {
                        let t = self.think.push(&d.reasoning);
                        if let Some(b) = t.blocked {
                            return self.filtered(tx, partial, b).await;
                        }
                        d.reasoning = t.text;
                    }
                    if d.content.is_empty() && d.reasoning.is_empty() {
                        continue;
                    }
                    partial.push_str(&d.content);
                    thought.push_str(&d.reasoning);
                    if tx.send(Step::Delta(d)).await.is_err() {
                        return self.cancelled(partial).await;
                    }
                    continue;
                }
                Some(Ok(AnswerEvent::Done(mut answer))) => {
                    let t = self.think.finish();
                    let r = self.stream.finish();
                    if let Some(b) = t.blocked.or(r.blocked) {
                        return self.filtered(tx, partial, b).await;
                    }
                    if !r.text.is_empty() || !t.text.is_empty() {
                        partial.push_str(&r.text);
                        thought.push_str(&t.text);
                        let rest = Routed {
                            reasoning: t.text,
                            content: r.text,
                        };
                        if tx.send(Step::Delta(rest)).await.is_err() {
                            return self.cancelled(partial).await;
                        }
                    }
                    // What the user was shown is the answer.
                    answer.content = partial.trim().to_owned();
                    let thought = thought.trim();
                    answer.reasoning = (!thought.is_empty()).then(|| thought.to_owned());
                    match self.answered(answer, Outcome::Ok).await {
                        Ok(f) => Step::Done(Box::new(f)),
                        Err(e) => Step::Failed(e),
                    }
                }
                Some(Err(e)) => Step::Failed(self.failed(e.into(), partial).await),
                None => Step::Failed(self.failed(ExchangeError::Stopped, partial).await),
            };
            let _ = tx.send(step).await;
            return;
        }
    }

    /// The closing event, from the opening one, with the answer guard's
    /// decisions.
    fn closing(&self, outcome: Outcome) -> AuditEvent {
        let mut ev = self.event.clone();
        ev.outcome = outcome;
        ev.latency_ms = Some(self.started.elapsed().as_millis() as u64);
        for (guard, target) in [(&self.stream, "answer"), (&self.think, "reasoning")] {
            self.service
                .guard
                .record(GuardPoint::Answer, guard.findings());
            let found = Verdict {
                findings: guard.findings().to_vec(),
                ..Verdict::default()
            };
            ev.policy
                .extend(screen::decisions(GuardPoint::Answer, target, &found));
        }
        ev
    }

    /// A guard blocked the answer: stop generating (the engine frees the
    /// KV blocks), end the answer with a note in the asker's language and
    /// `content_filter`, and record it as refused.
    async fn filtered(mut self, tx: mpsc::Sender<Step>, partial: String, by: Finding) {
        self.answer.stop();
        tracing::info!(exchange = %self.id, rule = %by.rule, "answer stopped by a guard");
        let note = screen::stopped_note(&self.question);
        let content = format!("{}{note}", partial.trim_end());
        let _ = tx
            .send(Step::Delta(Routed {
                reasoning: String::new(),
                content: note,
            }))
            .await;
        let answer = Answer {
            content,
            reasoning: None,
            citations: Vec::new(),
            finish_reason: FinishReason::ContentFilter,
            prompt_tokens: self.prepared.prompt_ids.len(),
            completion_tokens: 0,
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
        };
        let step = match self.answered(answer, Outcome::Refused).await {
            Ok(f) => Step::Done(Box::new(f)),
            Err(e) => Step::Failed(e),
        };
        let _ = tx.send(step).await;
    }

    async fn cancelled(self, partial: String) {
        let mut ev = self.closing(Outcome::Cancelled);
        ev.answer = Some(self.service.audit_text(&partial));
        ev.error = Some("the client closed the connection before the answer ended".into());
        let Self {
            service,
            id,
            answer,
            ..
        } = self;
        // Stop generating before writing: the engine frees the blocks.
        drop(answer);
        match service.audit.record(ev).await {
            Ok(_) => service.forget(&id).await,
            Err(e) => tracing::error!(error = %e, exchange = %id,
                "cannot record an abandoned exchange; the next start-up records it as interrupted"),
        }
    }

    async fn failed(&self, error: ExchangeError, partial: String) -> ExchangeError {
        let mut ev = self.closing(Outcome::Error);
        ev.answer = Some(self.service.audit_text(&partial));
        self.service.record_failure(ev, error, None).await
    }

    /// Records the answer, then adds the exchange to the asker's
    /// conversation (creating it for a first question).
    async fn answered(&self, answer: Answer, outcome: Outcome) -> Result<Finished, ExchangeError> {
        let t = &self.prepared.timings;
        tracing::info!(
            exchange = %self.id,
            rewrite_ms = t.rewrite_ms,
            retrieval_ms = t.retrieval_ms,
            assembly_ms = t.assembly_ms,
            composed = t.composed,
            stored_sources = t.stored_sources,
            prompt_tokens = answer.prompt_tokens,
            sources = self.prepared.sources.len(),
            prefill_s = answer.prefill_seconds,
            decode_s = answer.decode_seconds,
            completion_tokens = answer.completion_tokens,
            "chat answered"
        );
        let mut ev = self.closing(outcome);
        crate::record::answered(&mut ev, &answer);
        ev.answer = ev.answer.map(|a| self.service.audit_text(&a));
        let record = self.service.audit.record(ev).await?;
        self.service.forget(&self.id).await;
        let conversation_id = match &self.owner {
            Some(owner) => Some(self.converse(owner, &answer, &record.id).await?),
            None => None,
        };
        Ok(Finished {
            answer,
            audit_event_id: record.id,
            conversation_id,
        })
    }

    async fn converse(
        &self,
        owner: &str,
        answer: &Answer,
        audit_id: &str,
    ) -> Result<String, ExchangeError> {
        let repo = &self.service.repo;
        // PostgreSQL's text columns cannot hold NUL; the audit event keeps
        // the exact text.
        let clean = |s: &str| s.replace('\0', "\u{fffd}");
        let conversation = match &self.conversation_id {
            Some(id) => id.clone(),
            None => {
                let title: String = clean(&self.question).chars().take(80).collect();
                repo.create_conversation(owner, title.trim()).await?.id
            }
        };
        repo.append_messages(
            owner,
            &conversation,
            &[
                NewMessage {
                    role: "user".into(),
                    content: clean(&self.question),
                    reasoning: None,
                    citations: json!([]),
                    audit_event_id: Some(audit_id.to_owned()),
                },
                NewMessage {
                    role: "assistant".into(),
                    content: clean(&answer.content),
                    reasoning: answer.reasoning.as_deref().map(clean),
                    citations: serde_json::to_value(&answer.citations).unwrap_or_default(),
                    audit_event_id: Some(audit_id.to_owned()),
                },
            ],
        )
        .await?;
        Ok(conversation)
    }
}
