//! The OpenAI-compatible chat API, with Zhishu's grounding: `POST
//! /v1/chat/completions` (JSON or SSE), `GET /v1/models`, and each user's
//! conversations.
//!
//! The wire format is OpenAI's, so the official clients work unchanged;
//! Zhishu's additions ride in fields those clients ignore: a `zhishu`
//! object in the request (collection, filters, k, thinking, retrieval off,
//! conversation) and `citations` plus a `zhishu` object in the response
//! (and in the last stream chunk). Every exchange, answered, failed or
//! abandoned by its client, is written to the audit trail.

use crate::access::{Authenticated, Caller};
use crate::error::{bad, parse_json};
use crate::knowledge::{knowledge, scope_of};
use crate::{ApiError, AppState};
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use zhishu_audit::{ModelInfo, Outcome};
use zhishu_engine::{ChatMessage, FinishReason, SamplingParams};
use zhishu_query::{
    Answer, AnswerEvent, AnswerStream, Citation, Prepared, QueryError, Question, Rag, Retrieval,
};
use zhishu_retrieval::SearchFilter;
use zhishu_store::{NewMessage, Repository, StoreError};

/// Most messages one request may carry.
const MAX_MESSAGES: usize = 256;
/// Most passages one question may retrieve: enough candidates to fill a
/// 128K-token window with short chunks; packing keeps what fits.
const MAX_SOURCES: usize = 2_000;

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(chat_completions)
        .service(models)
        .service(list_conversations)
        .service(get_conversation);
}

/// A message's content: a string, or OpenAI's list of parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Zhishu's request options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZhishuOptions {
    collection: Option<String>,
    filters: Option<SearchFilter>,
    k: Option<usize>,
    enable_thinking: Option<bool>,
    retrieval: Option<bool>,
    conversation_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Vec<WireMessage>,
    #[serde(default)]
    stream: bool,
    temperature: Option<f32>,
    top_p: Option<f32>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    stop: Option<Stop>,
    seed: Option<u64>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    n: Option<u32>,
    user: Option<String>,
    #[serde(default)]
    zhishu: ZhishuOptions,
}

fn text_of(m: WireMessage) -> Result<ChatMessage, ApiError> {
    let content = match m.content {
        None => String::new(),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(bad(
                        "invalid_request",
                        format!("message part type `{}` is not supported: send text", p.kind),
                    ));
                }
                text.push_str(&p.text.unwrap_or_default());
            }
            text
        }
    };
    Ok(ChatMessage::new(&m.role, content))
}

/// The loaded model, or why it is not there.
fn rag(state: &AppState) -> Result<Arc<Rag>, ApiError> {
    match state.rag.get() {
        Some(Ok(r)) => Ok(r.clone()),
        Some(Err(e)) => Err(ApiError::Unavailable(format!(
            "the language model is not available: {e}"
        ))),
        None => Err(ApiError::Unavailable(
            "the language model is still loading; retry shortly".into(),
        )),
    }
}

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Invalid(m) => bad("invalid_request", m),
        e @ QueryError::TooLong { .. } => bad("context_length_exceeded", e.to_string()),
        e @ QueryError::Busy(_) => ApiError::Unavailable(e.to_string()),
        QueryError::Retrieval(m) => ApiError::Unavailable(format!("retrieval failed: {m}")),
        QueryError::Engine(zhishu_engine::EngineError::Request(m)) => bad("invalid_request", m),
        e => ApiError::Internal(e.to_string()),
    }
}

/// Records a failed exchange and returns the error to answer with (or
/// the audit failure, since an unrecorded exchange must not be answered).
async fn record_failure(
    state: &AppState,
    mut event: zhishu_audit::AuditEvent,
    error: QueryError,
) -> ApiError {
    let api = query_error(error);
    event.outcome = Outcome::Error;
    event.error = Some(api.to_string());
    match state.audit.record(event).await {
        Ok(_) => api,
        Err(e) => e.into(),
    }
}

fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Everything about one exchange the audit record and the conversation
/// need, gathered before generation starts.
struct Exchange {
    state: web::Data<AppState>,
    event: zhishu_audit::AuditEvent,
    owner: String,
    conversation_id: Option<String>,
    question: String,
    prepared: Prepared,
    started: Instant,
    id: String,
    model: String,
}

impl Exchange {
    /// The audit event of the finished (or abandoned) exchange.
    fn event(
        &self,
        answer: Option<&Answer>,
        partial: &str,
        outcome: Outcome,
    ) -> zhishu_audit::AuditEvent {
        let mut ev = self.event.clone();
        ev.outcome = outcome;
        match answer {
            Some(a) => zhishu_query::record::answered(&mut ev, a),
            None => ev.answer = Some(partial.to_owned()),
        }
        ev.latency_ms = Some(self.started.elapsed().as_millis() as u64);
        ev
    }

    /// Records the answer, then adds the exchange to the caller's
    /// conversation (creating it for a first question). Returns the audit
    /// event id and the conversation id.
    async fn commit(&self, answer: &Answer) -> Result<(String, String), ApiError> {
        let t = &self.prepared.timings;
        tracing::info!(
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
        let record = self
            .state
            .audit
            .record(self.event(Some(answer), "", Outcome::Ok))
            .await?;
        let repo: &dyn Repository = &self.state.store;
        let conversation = match &self.conversation_id {
            Some(id) => id.clone(),
            None => {
                let title: String = self.question.chars().take(80).collect();
                repo.create_conversation(&self.owner, title.trim())
                    .await?
                    .id
            }
        };
        let citations = serde_json::to_value(&answer.citations).unwrap_or(Value::Null);
        repo.append_messages(
            &self.owner,
            &conversation,
            &[
                NewMessage {
                    role: "user".into(),
                    content: self.question.clone(),
                    reasoning: None,
                    citations: json!([]),
                    audit_event_id: Some(record.id.clone()),
                },
                NewMessage {
                    role: "assistant".into(),
                    content: answer.content.clone(),
                    reasoning: answer.reasoning.clone(),
                    citations,
                    audit_event_id: Some(record.id.clone()),
                },
            ],
        )
        .await?;
        Ok((record.id, conversation))
    }

    /// The `zhishu` object of a response.
    fn extension(&self, audit_id: &str, conversation: &str) -> Value {
        json!({
            "conversation_id": conversation,
            "audit_event_id": audit_id,
            "search_query": self.prepared.search_query,
            "history_dropped": self.prepared.history_dropped,
            "sources": self.prepared.sources.iter().map(|s| json!({
                "n": s.n,
                "document_id": s.chunk.document_id,
                "title": s.chunk.title,
                "page": s.chunk.page,
                "section": s.chunk.section_path,
                "chunk_id": s.chunk.chunk_id,
                "score": s.score,
            })).collect::<Vec<_>>(),
        })
    }
}

fn citations_json(c: &[Citation]) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// Answers a conversation, grounded in the documents the caller may see
/// (OpenAI-compatible; `stream: true` for server-sent events).
#[utoipa::path(post, path = "/v1/chat/completions", tag = "models",
    request_body(content = Object, description = "OpenAI chat request; optional `zhishu` {collection, filters, k, enable_thinking, retrieval, conversation_id}"),
    responses((status = 200, description = "chat.completion, or text/event-stream of chat.completion.chunk ending with [DONE]", body = Object),
        (status = 400, description = "Invalid request or context exceeded", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown model or conversation", body = crate::error::ErrorBody),
        (status = 503, description = "Model loading or busy", body = crate::error::ErrorBody)))]
#[post("/v1/chat/completions")]
pub(crate) async fn chat_completions(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    raw: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let body: ChatRequest = parse_json(&raw)?;
    if body.messages.is_empty() {
        return Err(bad("invalid_request", "`messages` is empty"));
    }
    if body.messages.len() > MAX_MESSAGES {
        return Err(bad(
            "invalid_request",
            format!("`messages` holds more than {MAX_MESSAGES} messages"),
        ));
    }
    if body.n.is_some_and(|n| n != 1) {
        return Err(bad("invalid_request", "only `n: 1` is supported"));
    }
    let rag = rag(&state)?;
    if let Some(model) = &body.model
        && model != rag.served_name()
    {
        return Err(ApiError::NotFound(format!(
            "model `{model}` does not exist; this server serves `{}` (GET /v1/models)",
            rag.served_name()
        )));
    }
    let mut messages = body
        .messages
        .into_iter()
        .map(text_of)
        .collect::<Result<Vec<_>, _>>()?;
    let opts = body.zhishu;
    let thinking = opts.enable_thinking.unwrap_or(false);
    let mut params = if thinking {
        SamplingParams::qwen3_thinking()
    } else {
        SamplingParams::qwen3_non_thinking()
    };
    params.max_new_tokens = body
        .max_completion_tokens
        .or(body.max_tokens)
        .unwrap_or(rag.chat_config().answer_tokens);
    if let Some(t) = body.temperature.or(rag.chat_config().temperature) {
        params.temperature = t;
    }
    if let Some(p) = body.top_p {
        params.top_p = p;
    }
    if let Some(p) = body.presence_penalty {
        params.presence_penalty = p;
    }
    if let Some(p) = body.frequency_penalty {
        params.frequency_penalty = p;
    }
    params.seed = body.seed;
    params.stop = match body.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    if params.stop.len() > 4 || params.stop.iter().any(String::is_empty) {
        return Err(bad(
            "invalid_request",
            "`stop` takes up to 4 non-empty strings",
        ));
    }
    params
        .validate()
        .map_err(|e| bad("invalid_request", e.to_string()))?;

    let owner = caller.principal.username.clone();
    if let Some(id) = &opts.conversation_id {
        let repo: &dyn Repository = &state.store;
        let stored = match repo.messages(&owner, id).await {
            Ok(m) => m,
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::NotFound(format!(
                    "conversation {id} does not exist"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        // A client that sends only the new question continues the stored
        // conversation; one that sends the whole history is taken as sent.
        if messages.iter().filter(|m| m.role != "system").count() == 1 {
            let at = messages.len() - 1;
            let history = stored
                .into_iter()
                .map(|m| ChatMessage::new(&m.role, m.content));
            messages.splice(at..at, history);
        }
    }
    let retrieval_on = opts.retrieval.unwrap_or(true);
    let mut filter = opts.filters.unwrap_or_default();
    if let Some(c) = &opts.collection {
        filter.collections.push(c.clone());
    }
    filter
        .validate()
        .map_err(|e| bad("invalid_filter", e.to_string()))?;
    let k = opts.k.unwrap_or(rag.chat_config().sources);
    if k == 0 || k > MAX_SOURCES {
        return Err(bad(
            "invalid_k",
            format!("`zhishu.k` must be 1–{MAX_SOURCES}"),
        ));
    }
    let scope = scope_of(&caller);
    let question_text = messages
        .last()
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let mut event = caller.event("chat.completion", Outcome::Ok);
    event.question = Some(question_text.clone());
    event.input = Some(json!({
        "messages": messages.len(),
        "stream": body.stream,
        "retrieval": retrieval_on,
        "k": k,
        "filters": filter,
        "enable_thinking": thinking,
        "conversation_id": opts.conversation_id,
        "user": body.user,
    }));
    event.model = Some(ModelInfo {
        name: rag.served_name().to_owned(),
        parameters: serde_json::to_value(&params).unwrap_or(Value::Null),
    });

    let kn;
    let retrieval = if retrieval_on {
        kn = knowledge(&state)?;
        Some(Retrieval {
            searcher: &kn.searcher,
            scope: &scope,
            filter: &filter,
            k,
        })
    } else {
        None
    };
    let prepared = match rag
        .prepare(Question {
            messages: &messages,
            retrieval,
            enable_thinking: thinking,
            max_tokens: params.max_new_tokens,
        })
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(record_failure(&state, event, e).await),
    };
    if let Some(input) = event.input.as_mut() {
        input["search_query"] = json!(prepared.search_query);
        input["sources_in_prompt"] = json!(prepared.sources.len());
        input["history_dropped"] = json!(prepared.history_dropped);
    }
    zhishu_query::record::prepared(&mut event, &prepared, state.config.audit.store_prompts);
    let answer = match rag.generate(&prepared, params) {
        Ok(a) => a,
        Err(e) => return Err(record_failure(&state, event, e).await),
    };
    let exchange = Exchange {
        state: state.clone(),
        event,
        owner,
        conversation_id: opts.conversation_id,
        question: question_text,
        prepared,
        started,
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        model: rag.served_name().to_owned(),
    };
    if body.stream {
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(sse(exchange, answer)));
    }
    let answer = match answer.collect().await {
        Ok(a) => a,
        Err(e) => {
            return Err(record_failure(&state, exchange.event(None, "", Outcome::Error), e).await);
        }
    };
    let (audit_id, conversation) = exchange.commit(&answer).await?;
    let mut message = json!({"role": "assistant", "content": answer.content});
    if let Some(r) = &answer.reasoning {
        message["reasoning_content"] = json!(r);
    }
    Ok(HttpResponse::Ok().json(json!({
        "id": exchange.id,
        "object": "chat.completion",
        "created": now_secs(),
        "model": exchange.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(answer.finish_reason),
            "logprobs": null,
        }],
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        },
        "citations": citations_json(&answer.citations),
        "zhishu": exchange.extension(&audit_id, &conversation),
    })))
}

/// The state of one SSE response. If the client goes away before the end,
/// dropping it records the abandoned exchange (and dropping the answer
/// stream stops generation at the next token).
struct Sse {
    exchange: Exchange,
    answer: AnswerStream,
    partial: String,
    created: u64,
    started: bool,
    done: bool,
}

impl Drop for Sse {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut ev = self.exchange.event(None, &self.partial, Outcome::Cancelled);
        ev.error = Some("the client closed the connection before the answer ended".into());
        let state = self.exchange.state.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = state.audit.record(ev).await {
                tracing::error!(error = %e, "cannot record an abandoned chat in the audit trail");
            }
        });
    }
}

impl Sse {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.exchange.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.exchange.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    }

    /// The next SSE frames; `None` at the end.
    async fn next_frames(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(frame(
                &self.chunk(json!({"role": "assistant", "content": ""}), None),
            ));
        }
        match self.answer.next().await {
            Some(Ok(AnswerEvent::Delta(d))) => {
                let mut delta = json!({});
                if !d.content.is_empty() {
                    self.partial.push_str(&d.content);
                    delta["content"] = json!(d.content);
                }
                if !d.reasoning.is_empty() {
                    delta["reasoning_content"] = json!(d.reasoning);
                }
                Some(frame(&self.chunk(delta, None)))
            }
            Some(Ok(AnswerEvent::Done(answer))) => {
                self.done = true;
                match self.exchange.commit(&answer).await {
                    Ok((audit_id, conversation)) => {
                        let mut last =
                            self.chunk(json!({}), Some(finish_reason(answer.finish_reason)));
                        last["usage"] = json!({
                            "prompt_tokens": answer.prompt_tokens,
                            "completion_tokens": answer.completion_tokens,
                            "total_tokens": answer.prompt_tokens + answer.completion_tokens,
                        });
                        last["citations"] = citations_json(&answer.citations);
                        last["zhishu"] = self.exchange.extension(&audit_id, &conversation);
                        Some(frame(&last) + "data: [DONE]\n\n")
                    }
                    Err(e) => Some(error_frame(&e)),
                }
            }
            Some(Err(e)) => {
                self.done = true;
                let ev = self.exchange.event(None, &self.partial, Outcome::Error);
                Some(error_frame(
                    &record_failure(&self.exchange.state, ev, e).await,
                ))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

fn frame(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// An error inside a stream, as OpenAI sends it: a frame with an `error`
/// object (the clients raise it), then the end.
fn error_frame(e: &ApiError) -> String {
    let message = match e {
        ApiError::Internal(_) => "internal error; see the server log".to_owned(),
        other => other.to_string(),
    };
    frame(&json!({"error": {"code": e.code(), "message": message}})) + "data: [DONE]\n\n"
}

fn sse(
    exchange: Exchange,
    answer: AnswerStream,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let state = Sse {
        exchange,
        answer,
        partial: String::new(),
        created: now_secs(),
        started: false,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let frames = s.next_frames().await?;
        Some((Ok(web::Bytes::from(frames)), s))
    })
}

/// The model this server answers with (OpenAI-compatible).
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "A list with the served model", body = Object)))]
#[get("/v1/models")]
pub(crate) async fn models(
    state: web::Data<AppState>,
    _caller: Caller<Authenticated>,
) -> Result<web::Json<Value>, ApiError> {
    let rag = rag(&state)?;
    Ok(web::Json(json!({
        "object": "list",
        "data": [{
            "id": rag.served_name(),
            "object": "model",
            "created": state.started_at,
            "owned_by": "zhishu",
            "context_length": rag.context_tokens(),
        }],
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The caller's conversations, most recent first.
#[utoipa::path(get, path = "/v1/conversations", tag = "models",
    params(("limit" = Option<i64>, Query, description = "1–200, default 50"),
        ("offset" = Option<i64>, Query, description = "default 0")),
    responses((status = 200, description = "The caller's conversations", body = Object)))]
#[get("/v1/conversations")]
pub(crate) async fn list_conversations(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    page: web::Query<Page>,
) -> Result<web::Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad("invalid_limit", "`limit` must be 1–200"));
    }
    let offset = page.offset.unwrap_or(0).max(0);
    let repo: &dyn Repository = &state.store;
    let list = repo
        .list_conversations(&caller.principal.username, limit, offset)
        .await?;
    Ok(web::Json(json!({"data": list})))
}

/// One of the caller's conversations with its messages; another user's
/// conversation does not exist for the caller (404).
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "models",
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, description = "The conversation and its messages", body = Object),
        (status = 404, description = "No such conversation of the caller", body = crate::error::ErrorBody)))]
#[get("/v1/conversations/{id}")]
pub(crate) async fn get_conversation(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    id: web::Path<String>,
) -> Result<web::Json<Value>, ApiError> {
    let id = id.into_inner();
    let repo: &dyn Repository = &state.store;
    let owner = &caller.principal.username;
    let not_found = |e: StoreError| match e {
        StoreError::NotFound { .. } => {
            ApiError::NotFound(format!("conversation {id} does not exist"))
        }
        e => e.into(),
    };
    let conversation = repo.conversation(owner, &id).await.map_err(not_found)?;
    let messages = repo.messages(owner, &id).await.map_err(not_found)?;
    Ok(web::Json(
        json!({"conversation": conversation, "messages": messages}),
    ))
}
