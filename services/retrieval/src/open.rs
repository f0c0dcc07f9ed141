//! Opening the configured stores and the searcher over them: one place for
//! the CLI, the server, the tests and the benches, so that all of them can
//! run against either backend. A query node opens only this (no ingestion
//! pipeline, no chunking tokenizers).

use crate::{
    Bm25Encoder, EdgeIndex, HybridSearcher, Lexical, LexicalIndex, QdrantIndex, RetrievalError,
    VectorIndex,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_core::config::LateVectors;
use zhishu_core::config::{ClusterConfig, LexicalBackend, VectorBackend, VectorsConfig};
use zhishu_encoders::{EncoderError, EncoderWorker, RerankWorker, Reranker, TextKind, TokenForm};

/// How the embedder's worker packs passages' token vectors, as
/// `retrieval.late_vectors` configures: one mapping for the server and the
/// CLI, so what ingestion keeps is what searches read.
pub fn token_form(config: &Config) -> TokenForm {
    match config.retrieval.late_vectors {
        LateVectors::F16 => TokenForm::F16,
        LateVectors::Int8 => TokenForm::Int8,
        LateVectors::Sign => TokenForm::Sign,
        LateVectors::Int4 => TokenForm::Int4,
    }
}

/// Why the configured searcher could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A store could not be opened.
    #[error(transparent)]
    Store(#[from] RetrievalError),
    /// The index was built with another embedding model (or prefixes) than
    /// the one configured: its vectors and the queries' would not be
    /// comparable.
    #[error(
        "the index was built with the embedder {built}, but the configuration names {configured}; \
         set embedder.model (and its prefixes) back, or rebuild the index with the new model: \
         stop Zhishu, move the vector store and the Tantivy folder ({lexical}) away, and run \
         `zhishu ingest` on your folders again"
    )]
    EmbedderChanged {
        /// What the index records.
        built: String,
        /// What the configuration names.
        configured: String,
        /// The Tantivy folder.
        lexical: String,
    },
    /// The enterprise vocabulary (`lexical.vocabulary`) cannot be read or
    /// has a wrong line (named).
    #[error("lexical.vocabulary: {0}")]
    Vocabulary(#[from] crate::VocabularyError),
    /// The configured cross-encoder could not be loaded or started.
    #[error("reranker.model {path}: {source}")]
    Reranker {
        /// Its folder.
        path: PathBuf,
        /// Why.
        source: EncoderError,
    },
}

/// Loads the configured cross-encoder (`[reranker]`) and starts its
/// worker; `None` when no reranker is configured.
///
/// # Errors
/// [`OpenError::Reranker`] naming the model folder.
pub fn open_reranker(config: &Config) -> Result<Option<RerankWorker>, OpenError> {
    let Some(r) = &config.reranker else {
        return Ok(None);
    };
    let path = config.model_path(&r.model);
    zhishu_encoders::device(&r.device)
        .and_then(|device| Reranker::load_on(&path, &device))
        .and_then(|model| RerankWorker::start(model, r.max_batch_tokens, 256))
        .map(Some)
        .map_err(|source| OpenError::Reranker { path, source })
}

/// The hybrid searcher over the configured stores, with the configured
/// fusion settings and reranker, around a running embedding worker.
///
/// # Errors
/// [`OpenError`]: a store that cannot be opened (locked, wrong dimensions,
/// a bad server URL), or the reranker.
pub fn open_searcher(config: &Config, encoder: EncoderWorker) -> Result<HybridSearcher, OpenError> {
    let vocabulary = open_vocabulary(config)?;
    let vectors = open_vectors_with(
        &config.vectors,
        &config.vectors_path(),
        encoder.dimensions(),
        (config.lexical.backend == LexicalBackend::Qdrant)
            .then(|| bm25_encoder(config, vocabulary.clone())),
    )?;
    let lexical = match config.lexical.backend {
        LexicalBackend::Tantivy => {
            let lexical = LexicalIndex::open_with(&config.lexical_path(), vocabulary)?;
            check_embedder(&lexical, &encoder)?;
            Lexical::Tantivy(Arc::new(lexical))
        }
        LexicalBackend::Qdrant => Lexical::in_vectors(vectors.clone())?,
    };
    // The vector store records the embedder too: with BM25 inside Qdrant
    // there is no Tantivy index to hold the stamp, and either way the
    // vectors are what another model would make incomparable.
    vectors.expect_embedder(&stamp_text(&embedder_stamp(&encoder))?)?;
    Ok(HybridSearcher {
        vectors,
        lexical,
        encoder,
        reranker: open_reranker(config)?,
        fusion: config.retrieval,
    })
}

/// The configured enterprise vocabulary (`lexical.vocabulary`), read now;
/// `None` without one.
///
/// # Errors
/// [`OpenError::Vocabulary`] naming the file and the wrong line.
pub fn open_vocabulary(config: &Config) -> Result<Option<Arc<crate::VocabularyFile>>, OpenError> {
    Ok(match &config.lexical.vocabulary {
        Some(path) => Some(crate::VocabularyFile::open(path)?),
        None => None,
    })
}

/// Which embedder (model, width and prefixes) a set of vectors was made
/// with, as recorded in the lexical index's commit metadata (both stores are
/// written by the same jobs) and in the vector store itself (its metadata
/// file, or the collection's metadata on a server).
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct EmbedderStamp {
    embedder: String,
    dimensions: usize,
    query_prefix: String,
    passage_prefix: String,
}

impl std::fmt::Display for EmbedderStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} dimensions, prefixes {:?}/{:?})",
            self.embedder, self.dimensions, self.query_prefix, self.passage_prefix
        )
    }
}

/// Refuses an index whose vectors another embedder made (switching models,
/// say from all-MiniLM-L6-v2 to multilingual-e5-small, both 384-wide, would
/// otherwise compare vectors of two unrelated spaces without a word), and
/// has every later commit record the configured one. An index from before
/// stamps existed is accepted with a warning.
fn check_embedder(lexical: &LexicalIndex, encoder: &EncoderWorker) -> Result<(), OpenError> {
    let configured = embedder_stamp(encoder);
    match lexical.stamp()? {
        Some(text) => {
            let built = serde_json::from_str::<EmbedderStamp>(&text).ok();
            if built.as_ref() != Some(&configured) {
                return Err(OpenError::EmbedderChanged {
                    built: built.map_or_else(|| format!("recorded as {text:?}"), |b| b.to_string()),
                    configured: configured.to_string(),
                    lexical: lexical.path().display().to_string(),
                });
            }
        }
        None if lexical.num_chunks() > 0 => tracing::warn!(
            embedder = %configured,
            "the index predates embedder stamps: if it was built with another embedding model, \
             rebuild it (see docs/retrieval.md); the next ingestion records this one"
        ),
        None => {}
    }
    lexical.set_stamp(stamp_text(&configured)?);
    Ok(())
}

/// The configured embedder's stamp.
fn embedder_stamp(encoder: &EncoderWorker) -> EmbedderStamp {
    EmbedderStamp {
        embedder: encoder.name().to_owned(),
        dimensions: encoder.dimensions(),
        query_prefix: encoder.prefix(TextKind::Query).to_owned(),
        passage_prefix: encoder.prefix(TextKind::Passage).to_owned(),
    }
}

/// A stamp as the stores record it (JSON).
fn stamp_text(stamp: &EmbedderStamp) -> Result<String, RetrievalError> {
    serde_json::to_string(stamp)
        .map_err(|e| RetrievalError::Vector(format!("the embedder stamp: {e}")))
}

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
    open_vectors_with(config, edge_path, dimensions, None)
}

/// The BM25 encoder of `lexical.backend = "qdrant"`: the lexical analyser
/// with the vocabulary, and the configured average field lengths.
pub fn bm25_encoder(
    config: &Config,
    vocabulary: Option<Arc<crate::VocabularyFile>>,
) -> Bm25Encoder {
    Bm25Encoder::new(vocabulary, config.lexical.average_terms)
}

/// [`open_vectors`], with BM25 vectors in every point when `bm25` is given
/// (`lexical.backend = "qdrant"`).
///
/// # Errors
/// As [`open_vectors`]; an existing store made without BM25 vectors.
pub fn open_vectors_with(
    config: &VectorsConfig,
    edge_path: &Path,
    dimensions: usize,
    bm25: Option<Bm25Encoder>,
) -> Result<Arc<dyn VectorIndex>, RetrievalError> {
    Ok(match config.backend {
        VectorBackend::Edge => Arc::new(EdgeIndex::open_with(edge_path, dimensions, bm25)?),
        VectorBackend::Qdrant => {
            let url = config.url.as_deref().ok_or_else(|| {
                RetrievalError::Vector(
                    "vectors.backend = \"qdrant\" needs vectors.url (the server's gRPC address)"
                        .into(),
                )
            })?;
            Arc::new(
                QdrantIndex::connect(
                    url,
                    config.api_key.as_deref(),
                    &config.collection,
                    dimensions,
                )?
                .with_bm25(bm25)
                .with_cluster(config.cluster),
            )
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
                cluster: ClusterConfig::default(),
            }
        }
        _ => VectorsConfig {
            backend: VectorBackend::Edge,
            path: None,
            url: None,
            api_key: None,
            collection: "zhishu_chunks".into(),
            cluster: ClusterConfig::default(),
        },
    }
}
