//! Errors and how they reach clients.
//!
//! Every error body has the shape `{"error": {"code", "message"}}`. Status
//! codes are decided here, once, by an exhaustive match. Server-side failures
//! never show their internal text to the client: it goes to the log, and the
//! client gets a fixed message plus the request id to quote.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use std::net::SocketAddr;
use utoipa::ToSchema;
use zhishu_core::ConfigError;
use zhishu_store::StoreError;

/// A 400 with a stable code.
pub(crate) fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code,
        message: message.into(),
    }
}

/// Parses a JSON request body. Handlers read the raw body and call this
/// after authentication, so an anonymous caller learns nothing from
/// validation errors.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(raw)
        .map_err(|e| bad("invalid_json", format!("Json deserialize error: {e}")))
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relational store is unusable (bad URL).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address cannot be bound.
    #[error(
        "cannot listen on {addr}: {source}; choose another address with server.listen or ZHISHU_SERVER__LISTEN"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The metrics registry could not be built.
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The guards cannot start (a lexicon that does not parse, a folder
    /// that cannot be read): no answer without its checks.
    #[error("guards: {0}; fix the file or guard.lexicons, then start again")]
    Guard(#[from] zhishu_guard::GuardError),
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(std::io::Error),
}

/// The JSON error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Machine-readable code and human-readable message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `not_found`, `invalid_json`, `unavailable`.
    pub code: String,
    /// What happened and, where possible, what to do.
    pub message: String,
    /// The request's id (also the `x-request-id` header), to quote when
    /// reporting a failure: the server log has the details under it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An error returned by a handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// 401: no or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but the role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// 429: too many requests; retry after this many seconds.
    #[error("too many requests: retry in {0} s")]
    TooManyRequests(u64),
    /// 404: no such route or record.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state (a file changed
    /// since it was indexed).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is too large.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 503: a dependency is down; retry later. A fixed sentence: what
    /// failed inside goes to the log, never to the client.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 500: a bug or an unexpected failure; details are in the log.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests(_) => "rate_limited",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ApiError {
    /// The message a client may read: fixed sentences for failures inside
    /// the server (their details are logged), the error's own text for
    /// what the client can act on.
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "internal error; quote the request id when reporting it".to_string()
            }
            ApiError::BadRequest { .. }
            | ApiError::Unauthorized(_)
            | ApiError::Forbidden(_)
            | ApiError::TooManyRequests(_)
            | ApiError::NotFound(_)
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::Unavailable(_) => self.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "the database is unavailable");
                ApiError::Unavailable("the database is unavailable; retry shortly")
            }
            StoreError::NotFound { what, id } => {
                ApiError::NotFound(format!("{what} `{id}` not found"))
            }
            StoreError::Conflict(m) => ApiError::BadRequest {
                code: "conflict",
                message: m,
            },
            StoreError::InvalidUrl(m)
            | StoreError::Migration(m)
            | StoreError::Corrupt(m)
            | StoreError::Database(m) => ApiError::Internal(m),
        }
    }
}

impl From<zhishu_retrieval::RetrievalError> for ApiError {
    fn from(e: zhishu_retrieval::RetrievalError) -> Self {
        use zhishu_retrieval::RetrievalError as R;
        match e {
            R::Unavailable(m) => {
                tracing::error!(error = %m, "the vector store is unavailable");
                ApiError::Unavailable("the vector store is unavailable; retry shortly")
            }
            R::InvalidFilter(m) => ApiError::BadRequest {
                code: "invalid_filter",
                message: format!("invalid filter: {m}"),
            },
            e @ (R::Vector(_)
            | R::Lexical(_)
            | R::Locked(_)
            | R::Dimensions { .. }
            | R::EmbedderChanged { .. }
            | R::Io { .. }) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<zhishu_encoders::EncoderError> for ApiError {
    fn from(e: zhishu_encoders::EncoderError) -> Self {
        use zhishu_encoders::EncoderError as E;
        match e {
            E::Closed => ApiError::Unavailable("the embedding worker has stopped; retry shortly"),
            E::TooLarge(m) => ApiError::BadRequest {
                code: "input_too_long",
                message: m,
            },
            e @ (E::MissingFile { .. }
            | E::UnsupportedArchitecture { .. }
            | E::Invalid { .. }
            | E::Device { .. }
            | E::Tokenizer(_)
            | E::Model(_)) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<zhishu_ingest::sync::SyncError> for ApiError {
    fn from(e: zhishu_ingest::sync::SyncError) -> Self {
        use zhishu_ingest::sync::SyncError as S;
        match e {
            S::Retrieval(e) => e.into(),
            S::Registry(e) => e.into(),
            S::Encoder(e) => e.into(),
            S::NotFound(path) => ApiError::NotFound(format!("{path}: no such file or folder")),
        }
    }
}

impl From<zhishu_audit::AuditError> for ApiError {
    fn from(e: zhishu_audit::AuditError) -> Self {
        tracing::error!(error = %e, "refusing the request: its audit event could not be written");
        ApiError::Unavailable(
            "the audit store is unavailable, so this request was refused and nothing was answered; retry later",
        )
    }
}

/// One mapping of every exchange error to a status, exhaustive: a new
/// variant must be decided here.
impl From<zhishu_query::ExchangeError> for ApiError {
    fn from(e: zhishu_query::ExchangeError) -> Self {
        use zhishu_engine::EngineError as G;
        use zhishu_query::ExchangeError as X;
        match e {
            X::Invalid { code, message } => ApiError::BadRequest { code, message },
            // OpenAI's code for a prompt its filters refused.
            X::Filtered { message, .. } => ApiError::BadRequest {
                code: "content_filter",
                message,
            },
            e @ (X::ConversationNotFound(_) | X::ModelNotFound { .. }) => {
                ApiError::NotFound(e.to_string())
            }
            X::NoModel => ApiError::Unavailable(
                "the language model is not available on this server (still loading, or failed to load: see /readyz)",
            ),
            X::StoresUnavailable => ApiError::Unavailable(
                "the document stores are not available on this server (still loading, or failed to open: see /readyz)",
            ),
            X::ContextTooLong(m) => ApiError::BadRequest {
                code: "context_length_exceeded",
                message: m,
            },
            X::Busy(_) => ApiError::Unavailable(
                "the model is busy: every slot and queue place is taken; retry in a few seconds",
            ),
            X::Stopped => ApiError::Unavailable("the generation engine has stopped; retry shortly"),
            X::GuardFailed(e) => {
                tracing::error!(error = %e, "refusing the question: the guards could not check it");
                ApiError::Unavailable(
                    "the guards could not check this question, so it was not answered; retry later",
                )
            }
            X::Retrieval(e) => e.into(),
            X::Engine(G::Request(m)) => ApiError::BadRequest {
                code: "invalid_request",
                message: m,
            },
            X::Engine(G::Busy(_)) => ApiError::Unavailable(
                "the model is busy: every slot and queue place is taken; retry in a few seconds",
            ),
            X::Engine(G::Stopped) => {
                ApiError::Unavailable("the generation engine has stopped; retry shortly")
            }
            X::Engine(
                e @ (G::Config { .. }
                | G::Architecture(_)
                | G::MissingTensor(_)
                | G::Shape { .. }
                | G::File { .. }
                | G::Device { .. }
                | G::Tokenizer(_)
                | G::Template(_)
                | G::Candle(_)),
            ) => ApiError::Internal(e.to_string()),
            X::Generation(m) => ApiError::Internal(format!("generation failed: {m}")),
            // Conversations and open exchanges: a conflict here is the
            // server's failure, never the client's, and its text is the
            // database's.
            X::Store(e @ (StoreError::Unavailable(_) | StoreError::NotFound { .. })) => e.into(),
            X::Store(
                e @ (StoreError::InvalidUrl(_)
                | StoreError::Migration(_)
                | StoreError::Conflict(_)
                | StoreError::Corrupt(_)
                | StoreError::Database(_)),
            ) => ApiError::Internal(e.to_string()),
            X::Audit(e) => e.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(detail = %detail, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unavailable(_) => {
                res.insert_header(("Retry-After", "5"));
            }
            ApiError::TooManyRequests(secs) => {
                res.insert_header(("Retry-After", secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header(("WWW-Authenticate", "Bearer"));
            }
            ApiError::BadRequest { .. }
            | ApiError::Forbidden(_)
            | ApiError::NotFound(_)
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge(_)
            | ApiError::Internal(_) => {}
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message: self.public_message(),
                request_id: crate::middleware::current_request_id(),
            },
        })
    }
}

/// The fallback for unknown routes: a JSON 404 instead of an empty body.
pub(crate) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// Malformed or oversized JSON bodies become JSON errors.
pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let api = match &err {
                actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
                | actix_web::error::JsonPayloadError::Overflow { .. } => {
                    ApiError::PayloadTooLarge(format!("{err}; the limit is server.max_json_bytes"))
                }
                actix_web::error::JsonPayloadError::ContentType => ApiError::BadRequest {
                    code: "unsupported_content_type",
                    message: "send the body as application/json".into(),
                },
                actix_web::error::JsonPayloadError::Deserialize(_)
                | actix_web::error::JsonPayloadError::Serialize(_)
                | actix_web::error::JsonPayloadError::Payload(_) => ApiError::BadRequest {
                    code: "invalid_json",
                    message: err.to_string(),
                },
                other => ApiError::BadRequest {
                    code: "invalid_json",
                    message: other.to_string(),
                },
            };
            api.into()
        })
}

/// Malformed query strings become JSON errors.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest {
            code: "invalid_query",
            message: err.to_string(),
        }
        .into()
    })
}

/// Malformed path parameters become JSON errors.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest {
            code: "invalid_path",
            message: err.to_string(),
        }
        .into()
    })
}
