//! What can go wrong in an exchange, typed to the end: the HTTP layer maps
//! each variant to a status once (server/src/error.rs), exhaustively.

use crate::QueryError;
use crate::screen::GuardFailure;
use zhishu_audit::AuditError;
use zhishu_engine::EngineError;
use zhishu_retrieval::RetrievalError;
use zhishu_store::StoreError;

/// Why an exchange (chat or search) was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The request cannot be served as asked; `code` is stable
    /// (`invalid_request`, `invalid_k`, `invalid_filter`, …).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The conversation does not exist, or is someone else's.
    #[error("conversation {0} does not exist")]
    ConversationNotFound(String),
    /// The request names a model this server does not serve.
    #[error("model `{asked}` does not exist; this server serves `{served}` (GET /v1/models)")]
    ModelNotFound {
        /// The model asked for.
        asked: String,
        /// The names served: the model's, then its adapters'.
        served: String,
    },
    /// This process serves no language model (it is still loading, failed
    /// to load, or is an ingestion node).
    #[error("the language model is not available on this server; retry shortly")]
    NoModel,
    /// The search stores are not open (still loading, or failed to open).
    #[error("the document stores are not available; retry shortly")]
    StoresUnavailable,
    /// The question alone does not fit the model's context.
    #[error("{0}")]
    ContextTooLong(String),
    /// Every engine slot and queue place is taken.
    #[error("the model is busy: {0} requests are already waiting; retry in a few seconds")]
    Busy(usize),
    /// Retrieval failed.
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(EngineError),
    /// Generation failed half-way.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The engine's worker has stopped.
    #[error("the generation engine has stopped")]
    Stopped,
    /// The relational store failed (conversations, open exchanges).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The audit event could not be written: nothing may be answered.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A guard refused the question (`rule`); `message` says why in the
    /// asker's language, naming the rule, never what matched.
    #[error("{message}")]
    Filtered {
        /// The rule that blocked.
        rule: String,
        /// The explanation for the asker.
        message: String,
    },
    /// The guards could not check the question (the injection model does
    /// not fit this node's embedder, or embedding the question failed):
    /// nothing is answered without its checks.
    #[error("the guards could not check the question: {0}")]
    GuardFailed(#[source] GuardFailure),
}

impl ExchangeError {
    /// A 400-class error with a stable code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
        }
    }

    /// The text a client may see: the message of errors the client can act
    /// on, a fixed sentence for failures inside the server (their details
    /// go to the log and the audit event, never to the client).
    pub fn public_message(&self) -> String {
        match self {
            Self::Invalid { .. }
            | Self::ConversationNotFound(_)
            | Self::ModelNotFound { .. }
            | Self::NoModel
            | Self::StoresUnavailable
            | Self::ContextTooLong(_)
            | Self::Busy(_)
            | Self::Filtered { .. }
            | Self::Stopped => self.to_string(),
            Self::Retrieval(RetrievalError::InvalidFilter(m)) => format!("invalid filter: {m}"),
            Self::Engine(EngineError::Request(m)) => m.clone(),
            Self::Retrieval(_) | Self::Engine(_) | Self::Generation(_) | Self::Store(_) => {
                "the answer failed inside the server; quote the x-request-id response header when reporting it".into()
            }
            Self::GuardFailed(_) => "the guards could not check this question, so it was not answered; retry later".into(),
            Self::Audit(_) => "the audit store is unavailable, so this request was refused and nothing was answered; retry later".into(),
        }
    }
}

impl From<QueryError> for ExchangeError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid(m) => Self::invalid("invalid_request", m),
            e @ QueryError::TooLong { .. } => Self::ContextTooLong(e.to_string()),
            QueryError::Busy(n) => Self::Busy(n),
            QueryError::Retrieval(e) => Self::Retrieval(e),
            QueryError::Engine(e) => Self::Engine(e),
            QueryError::Generation(m) => Self::Generation(m),
            QueryError::Stopped => Self::Stopped,
        }
    }
}
