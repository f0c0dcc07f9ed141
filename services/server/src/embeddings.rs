//! `POST /v1/embeddings`, OpenAI-compatible.

use crate::access::{Authenticated, Caller};
use crate::error::{bad, parse_json};
use crate::{ApiError, AppState};
use actix_web::{post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhishu_encoders::TextKind;

/// Most inputs in one request (OpenAI's limit).
const MAX_INPUTS: usize = 2048;
/// Longest input in characters; the model reads far fewer tokens anyway.
const MAX_INPUT_CHARS: usize = 100_000;

/// Registers the route.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(embeddings);
}

/// Largest request body: 2048 inputs of a few KiB each.
pub(crate) const MAX_BODY_BYTES: usize = 16 << 20;

/// One text or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Input {
    /// One text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

/// The request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbeddingRequest {
    /// Text or texts to embed.
    pub input: Input,
    /// The model; the configured embedder's name, or omitted.
    pub model: Option<String>,
    /// `float` (default) or `base64` (little-endian f32).
    pub encoding_format: Option<String>,
    /// `query` to embed as search queries (with the model's query prefix);
    /// default `passage`. A Zhishu extension.
    pub input_type: Option<String>,
    /// Caller's end-user id (accepted for compatibility; the authenticated
    /// principal is what counts).
    #[serde(rename = "user")]
    pub _user: Option<String>,
}

/// One vector.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingData {
    /// Always `embedding`.
    pub object: &'static str,
    /// Position in the input.
    pub index: usize,
    /// Floats, or base64 of little-endian f32.
    #[schema(value_type = Object)]
    pub embedding: serde_json::Value,
}

/// Token counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingUsage {
    /// Tokens read.
    pub prompt_tokens: usize,
    /// Same as `prompt_tokens`.
    pub total_tokens: usize,
}

/// The response.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingResponse {
    /// Always `list`.
    pub object: &'static str,
    /// One entry per input.
    pub data: Vec<EmbeddingData>,
    /// The model.
    pub model: String,
    /// Token counts.
    pub usage: EmbeddingUsage,
}

fn base64_f32(v: &[f32]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Embeds text with the configured embedding model (L2-normalised vectors).
#[utoipa::path(post, path = "/v1/embeddings", tag = "models", request_body = EmbeddingRequest,
    responses((status = 200, description = "The vectors", body = EmbeddingResponse),
        (status = 400, description = "Invalid input", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown model", body = crate::error::ErrorBody),
        (status = 503, description = "The model is still loading or failed to load", body = crate::error::ErrorBody)))]
#[post("/v1/embeddings")]
pub(crate) async fn embeddings(
    state: web::Data<AppState>,
    _caller: Caller<Authenticated>,
    raw: web::Bytes,
) -> Result<web::Json<EmbeddingResponse>, ApiError> {
    // Parsed here, after authentication, so that an anonymous caller learns
    // nothing from validation errors.
    let body: EmbeddingRequest = parse_json(&raw)?;
    let worker = match state.embedder.get() {
        Some(Ok(w)) => w.clone(),
        Some(Err(e)) => {
            tracing::error!(error = %e, "the embedding model is not available");
            return Err(ApiError::Unavailable(
                "the embedding model is not available on this server; see the server log",
            ));
        }
        None => {
            return Err(ApiError::Unavailable(
                "the embedding model is still loading; retry shortly",
            ));
        }
    };
    if let Some(m) = &body.model
        && m != worker.name()
    {
        return Err(ApiError::NotFound(format!(
            "model `{m}` is not served here; this server embeds with `{}`",
            worker.name()
        )));
    }
    let base64 = match body.encoding_format.as_deref().unwrap_or("float") {
        "float" => false,
        "base64" => true,
        other => {
            return Err(bad(
                "invalid_encoding_format",
                format!("`{other}`: use float or base64"),
            ));
        }
    };
    let kind = match body.input_type.as_deref().unwrap_or("passage") {
        "passage" | "document" => TextKind::Passage,
        "query" => TextKind::Query,
        other => {
            return Err(bad(
                "invalid_input_type",
                format!("`{other}`: use query or passage"),
            ));
        }
    };
    let texts = match body.input {
        Input::One(t) => vec![t],
        Input::Many(v) => v,
    };
    if texts.is_empty() {
        return Err(bad("invalid_input", "`input` is empty"));
    }
    if texts.len() > MAX_INPUTS {
        return Err(bad(
            "too_many_inputs",
            format!("{} inputs; at most {MAX_INPUTS} per request", texts.len()),
        ));
    }
    if let Some(i) = texts
        .iter()
        .position(|t| t.chars().count() > MAX_INPUT_CHARS)
    {
        return Err(bad(
            "input_too_long",
            format!("input {i} is longer than {MAX_INPUT_CHARS} characters"),
        ));
    }
    let embedded = worker.embed(texts, kind).await?;
    let data = embedded
        .vectors
        .iter()
        .enumerate()
        .map(|(index, v)| EmbeddingData {
            object: "embedding",
            index,
            embedding: if base64 {
                base64_f32(v).into()
            } else {
                serde_json::json!(v)
            },
        })
        .collect();
    Ok(web::Json(EmbeddingResponse {
        object: "list",
        data,
        model: worker.name().to_string(),
        usage: EmbeddingUsage {
            prompt_tokens: embedded.tokens,
            total_tokens: embedded.tokens,
        },
    }))
}
