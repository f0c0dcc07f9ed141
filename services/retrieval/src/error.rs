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
    /// The vector store's vectors were made by another embedder (model,
    /// width or prefixes) than the one configured: they and the questions'
    /// would not be comparable.
    #[error(
        "the vector store {store} was built with the embedder {}, but the configuration names \
         {}; set embedder.model (and its prefixes) back, or rebuild the store with the new \
         model: set vectors.collection to a new name (a server) or move the vector store folder away \
         (embedded), and run `zhishu ingest` on your folders again",
        describe_stamp(.built),
        describe_stamp(.configured)
    )]
    EmbedderChanged {
        /// The store (its folder, or server and collection).
        store: String,
        /// What the store records.
        built: String,
        /// What the configuration names.
        configured: String,
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

/// An embedder stamp (JSON: embedder, dimensions, prefixes) as a person
/// reads it; the text as it is when it is not one.
fn describe_stamp(stamp: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stamp) else {
        return format!("recorded as {stamp:?}");
    };
    match (v["embedder"].as_str(), v["dimensions"].as_u64()) {
        (Some(model), Some(dims)) => format!(
            "{model} ({dims} dimensions, prefixes {:?}/{:?})",
            v["query_prefix"].as_str().unwrap_or_default(),
            v["passage_prefix"].as_str().unwrap_or_default()
        ),
        _ => format!("recorded as {stamp:?}"),
    }
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
