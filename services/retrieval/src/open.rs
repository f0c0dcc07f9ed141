//! Opening the configured vector store: one place for the CLI, the server,
//! the tests and the benches, so that all of them can run against either
//! backend.

use crate::{EdgeIndex, QdrantIndex, RetrievalError, VectorIndex};
use std::path::Path;
use std::sync::Arc;
use zhishu_core::config::{VectorBackend, VectorsConfig};

/// The vector store `config` names: Qdrant Edge in `edge_path`, or a
/// collection on a Qdrant server, for `dimensions`-dimensional vectors.
///
/// # Errors
/// The embedded store's open errors ([`RetrievalError::Locked`],
/// [`RetrievalError::Dimensions`], …); for a server, an invalid URL. A
/// server that is down is reported by the first call, not here.
pub fn open_vectors(
    config: &VectorsConfig,
    edge_path: &Path,
    dimensions: usize,
) -> Result<Arc<dyn VectorIndex>, RetrievalError> {
    Ok(match config.backend {
        VectorBackend::Edge => Arc::new(EdgeIndex::open(edge_path, dimensions)?),
        VectorBackend::Qdrant => {
            let url = config.url.as_deref().ok_or_else(|| {
                RetrievalError::Vector(
                    "vectors.backend = \"qdrant\" needs vectors.url (the server's gRPC address)"
                        .into(),
                )
            })?;
            Arc::new(QdrantIndex::connect(
                url,
                config.api_key.as_deref(),
                &config.collection,
                dimensions,
            )?)
        }
    })
}

/// For tests and benches: a collection on the Qdrant server at
/// `QDRANT_URL` when that is set (so the same test runs against a server),
/// Qdrant Edge in `dir` otherwise.
///
/// # Errors
/// As [`open_vectors`].
pub fn open_vectors_for_tests(
    dir: &Path,
    dimensions: usize,
) -> Result<Arc<dyn VectorIndex>, RetrievalError> {
    open_vectors(&vectors_config_for_tests(dir), dir, dimensions)
}

/// The [`VectorsConfig`] tests use for a store in `dir`: with `QDRANT_URL`
/// (and `QDRANT_API_KEY`) set, a server collection named after `dir`, so
/// that every test has its own and a test can reopen the store a process
/// it started wrote; Qdrant Edge in `dir` otherwise.
pub fn vectors_config_for_tests(dir: &Path) -> VectorsConfig {
    use sha2::Digest;
    match std::env::var("QDRANT_URL") {
        Ok(url) if !url.is_empty() => {
            let digest = sha2::Sha256::digest(dir.to_string_lossy().as_bytes());
            let tag: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            VectorsConfig {
                backend: VectorBackend::Qdrant,
                path: None,
                url: Some(url),
                api_key: std::env::var("QDRANT_API_KEY").ok(),
                collection: format!("zhishu_test_{tag}"),
            }
        }
        _ => VectorsConfig {
            backend: VectorBackend::Edge,
            path: None,
            url: None,
            api_key: None,
            collection: "zhishu_chunks".into(),
        },
    }
}
