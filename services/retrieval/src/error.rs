//! Errors of the retrieval stores.

use thiserror::Error;

/// What went wrong in a store.
#[derive(Debug, Error)]
pub enum RetrievalError {
    /// The vector store failed.
    #[error("vector store: {0}")]
    Vector(String),
    /// The vector store cannot be reached (a Qdrant server that is down or
    /// unreachable); the request may be retried later.
    #[error("vector store unavailable: {0}")]
    Unavailable(String),
    /// The lexical index failed.
    #[error("lexical index: {0}")]
    Lexical(String),
    /// Another process holds the store's write lock.
    #[error(
        "{0} is in use by another Zhishu process (a running `zhishu serve`?); stop it, or ingest through its REST API (POST /v1/ingest/jobs)"
    )]
    Locked(String),
    /// A filter the caller sent is not valid.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// A vector has the wrong number of dimensions.
    #[error(
        "vector has {got} dimensions; the store holds {want}-dimensional vectors (was the embedding model changed? re-create the store)"
    )]
    Dimensions {
        /// The store's dimensions.
        want: usize,
        /// The vector's.
        got: usize,
    },
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<tantivy::TantivyError> for RetrievalError {
    fn from(e: tantivy::TantivyError) -> Self {
        match e {
            tantivy::TantivyError::LockFailure(_, _) => Self::Locked("the lexical index".into()),
            other => Self::Lexical(other.to_string()),
        }
    }
}

impl From<qdrant_edge::OperationError> for RetrievalError {
    fn from(e: qdrant_edge::OperationError) -> Self {
        Self::Vector(e.to_string())
    }
}
