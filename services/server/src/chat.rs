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
use crate::departure;
use crate::error::{bad, parse_json};
use crate::knowledge::knowledge;
use crate::{ApiError, AppState};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;
use zhishu_engine::{ChatMessage, FinishReason};
use zhishu_query::{
    Answer, ChatAsk, Citation, Exchange, ExchangeError, Finished, Rag, Sampling, Step,
};
use zhishu_retrieval::SearchFilter;
use zhishu_store::{Repository, StoreError};

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

fn text_of(m: WireMessage) -> Result<ChatMessage, ExchangeError> {
    let content = match m.content {
        None => String::new(),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => {
            let mut text = String::new();
            for p in parts {
                if p.kind != "text" {
                    return Err(ExchangeError::invalid(
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
        Some(Err(e)) => {
            tracing::error!(error = %e, "the language model is not available");
            Err(ApiError::Unavailable(
                "the language model is not available on this server; see the server log",
            ))
        }
        None => Err(ApiError::Unavailable(
            "the language model is still loading; retry shortly",
        )),
    }
}

fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
        FinishReason::ContentFilter => "content_filter",
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The request as the exchange service takes it.
fn ask_of(body: ChatRequest) -> Result<ChatAsk, ExchangeError> {
    if body.n.is_some_and(|n| n != 1) {
        return Err(ExchangeError::invalid(
            "invalid_request",
            "only `n: 1` is supported",
        ));
    }
    let messages = body
        .messages
        .into_iter()
        .map(text_of)
        .collect::<Result<Vec<_>, _>>()?;
    let opts = body.zhishu;
    let mut filter = opts.filters.unwrap_or_default();
    if let Some(c) = opts.collection {
        filter.collections.push(c);
    }
    Ok(ChatAsk {
        model: body.model,
        messages,
        conversation_id: opts.conversation_id,
        retrieval: opts.retrieval.unwrap_or(true),
        filter,
        k: opts.k,
        thinking: opts.enable_thinking.unwrap_or(false),
        sampling: Sampling {
            max_tokens: body.max_completion_tokens.or(body.max_tokens),
            temperature: body.temperature,
            top_p: body.top_p,
            presence_penalty: body.presence_penalty,
            frequency_penalty: body.frequency_penalty,
            seed: body.seed,
            stop: match body.stop {
                None => Vec::new(),
                Some(Stop::One(s)) => vec![s],
                Some(Stop::Many(v)) => v,
            },
        },
        stream: body.stream,
        client_tag: body.user,
    })
}

/// What the response says about the exchange besides the answer, taken
/// from the exchange before it runs.
struct Meta {
    id: String,
    model: String,
    created: u64,
    search_query: Option<String>,
    history_dropped: usize,
    sources: Vec<Value>,
}

impl Meta {
    fn of(exchange: &Exchange) -> Self {
        let p = exchange.prepared();
        Self {
            id: format!("chatcmpl-{}", exchange.id().replace('-', "")),
            model: exchange.model().to_owned(),
            created: now_secs(),
            search_query: p.search_query.clone(),
            history_dropped: p.history_dropped,
            sources: p
                .sources
                .iter()
                .map(|s| {
                    json!({
                        "n": s.n,
                        "document_id": s.chunk.document_id,
                        "title": s.chunk.title,
                        "page": s.chunk.page,
                        "section": s.chunk.section_path,
                        "chunk_id": s.chunk.chunk_id,
                        "score": s.score,
                    })
                })
                .collect(),
        }
    }

    /// The `zhishu` object of a response.
    fn extension(&self, f: &Finished) -> Value {
        json!({
            "conversation_id": f.conversation_id,
            "audit_event_id": f.audit_event_id,
            "search_query": self.search_query,
            "history_dropped": self.history_dropped,
            "sources": self.sources,
        })
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}],
        })
    }
}

fn usage(a: &Answer) -> Value {
    json!({
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": a.prompt_tokens + a.completion_tokens,
    })
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
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    raw: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let asker = caller.asker();
    let exchanges = state.exchanges();
    let ask = match parse_json::<ChatRequest>(&raw)
        .map_err(|e| ExchangeError::invalid("invalid_json", e.to_string()))
        .and_then(ask_of)
    {
        Ok(ask) => ask,
        Err(e) => return Err(exchanges.refuse(&asker, "chat.completion", e).await.into()),
    };
    let stream = ask.stream;
    // Without retrieval the stores still lend the question guard their
    // embedder (for the injection model).
    let kn = if ask.retrieval {
        knowledge(&state).ok()
    } else {
        crate::knowledge::loaded(&state)
    };
    let exchange = exchanges
        .chat(&asker, ask, kn.as_ref().map(|k| &k.searcher))
        .await?;
    // The `exchange.started` event is committed: the answer may flow.
    let meta = Meta::of(&exchange);
    let (steps, _closing) = exchange.run();
    if stream {
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .insert_header(("x-accel-buffering", "no"))
            .streaming(sse(meta, steps)));
    }
    // A client that leaves while waiting: dropping `steps` cancels the
    // exchange, and its task records it (actix itself would not notice
    // before writing the response).
    let finished = tokio::select! {
        finished = collect(steps) => finished?,
        () = departure::departed(&req) => {
            return Err(ApiError::Unavailable("the client closed the connection"));
        }
    };
    let answer = &finished.answer;
    let mut message = json!({"role": "assistant", "content": answer.content});
    if let Some(r) = &answer.reasoning {
        message["reasoning_content"] = json!(r);
    }
    Ok(HttpResponse::Ok().json(json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason(answer.finish_reason),
            "logprobs": null,
        }],
        "usage": usage(answer),
        "citations": citations_json(&answer.citations),
        "zhishu": meta.extension(&finished),
    })))
}

/// Waits for the recorded end of an exchange.
async fn collect(mut steps: mpsc::Receiver<Step>) -> Result<Box<Finished>, ApiError> {
    while let Some(step) = steps.recv().await {
        match step {
            Step::Delta(_) => {}
            Step::Done(f) => return Ok(f),
            Step::Failed(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Internal(
        "the exchange task ended without a result".into(),
    ))
}

/// The state of one SSE response. Dropping it (the client left) drops the
/// receiver, and the exchange's task stops generation and records the
/// partial answer.
struct Sse {
    meta: Meta,
    steps: mpsc::Receiver<Step>,
    started: bool,
    done: bool,
}

impl Sse {
    /// The next SSE frames; `None` at the end.
    async fn next_frames(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(frame(
                &self
                    .meta
                    .chunk(json!({"role": "assistant", "content": ""}), None),
            ));
        }
        match self.steps.recv().await {
            Some(Step::Delta(d)) => {
                let mut delta = json!({});
                if !d.content.is_empty() {
                    delta["content"] = json!(d.content);
                }
                if !d.reasoning.is_empty() {
                    delta["reasoning_content"] = json!(d.reasoning);
                }
                Some(frame(&self.meta.chunk(delta, None)))
            }
            Some(Step::Done(f)) => {
                self.done = true;
                let answer = &f.answer;
                let mut last = self
                    .meta
                    .chunk(json!({}), Some(finish_reason(answer.finish_reason)));
                last["usage"] = usage(answer);
                last["citations"] = citations_json(&answer.citations);
                last["zhishu"] = self.meta.extension(&f);
                Some(frame(&last) + "data: [DONE]\n\n")
            }
            Some(Step::Failed(e)) => {
                self.done = true;
                Some(error_frame(&e.into()))
            }
            None => {
                self.done = true;
                Some(error_frame(&ApiError::Internal(
                    "the exchange task ended without a result".into(),
                )))
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
    if let ApiError::Internal(detail) = e {
        tracing::error!(detail = %detail, "an answer failed while streaming");
    }
    frame(&json!({"error": {"code": e.code(), "message": e.public_message()}})) + "data: [DONE]\n\n"
}

fn sse(
    meta: Meta,
    steps: mpsc::Receiver<Step>,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::convert::Infallible>> {
    let state = Sse {
        meta,
        steps,
        started: false,
        done: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        let frames = s.next_frames().await?;
        Some((Ok(web::Bytes::from(frames)), s))
    })
}

/// The models this server answers with (OpenAI-compatible): the model,
/// then each LoRA adapter served over it (with `parent`, as vLLM lists
/// them); a chat request's `model` picks one.
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "The served model and its adapters", body = Object)))]
#[get("/v1/models")]
pub(crate) async fn models(
    state: web::Data<AppState>,
    _caller: Caller<Authenticated>,
) -> Result<web::Json<Value>, ApiError> {
    let rag = rag(&state)?;
    let mut data = vec![json!({
        "id": rag.served_name(),
        "object": "model",
        "created": state.started_at,
        "owned_by": "zhishu",
        "context_length": rag.context_tokens(),
    })];
    data.extend(rag.adapters().iter().map(|name| {
        json!({
            "id": name,
            "object": "model",
            "created": state.started_at,
            "owned_by": "zhishu",
            "parent": rag.served_name(),
            "context_length": rag.context_tokens(),
        })
    }));
    Ok(web::Json(json!({ "object": "list", "data": data })))
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
