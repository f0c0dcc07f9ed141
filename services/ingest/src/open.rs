//! Building a [`Pipeline`] from the configuration: one place for the CLI
//! and the server.

use crate::chunk::{ChunkConfig, TokenCounter};
use crate::eval::EvalSetup;
use crate::sync::{Pipeline, Stores};
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_encoders::EncoderWorker;
use zhishu_retrieval::{HybridSearcher, open_reranker};
use zhishu_store::IngestStore;

/// Why an ingestion pipeline or evaluation setup could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The searcher's stores or reranker.
    #[error(transparent)]
    Searcher(#[from] zhishu_retrieval::OpenError),
    /// A tokenizer the chunker counts with.
    #[error("{0}")]
    Tokenizer(String),
}

/// The ingestion pipeline over the stores of an open `searcher` (the same
/// handles: an embedded store is opened once per process), with the
/// configured chunking tokenizers.
///
/// `guard` checks documents at ingestion.
///
/// # Errors
/// [`OpenError::Tokenizer`] naming the tokenizer and how to fetch it.
pub fn open_pipeline(
    config: &Config,
    registry: Arc<dyn IngestStore>,
    searcher: &HybridSearcher,
    guard: Option<Arc<zhishu_guard::Guard>>,
) -> Result<Pipeline, OpenError> {
    let encoder = searcher.encoder.clone();
    let text = TextSetup::load(config, &encoder)?;
    Ok(Pipeline {
        stores: Stores {
            vectors: searcher.vectors.clone(),
            lexical: searcher.lexical.clone(),
            registry,
        },
        chunking: text.chunking,
        encoder,
        embed_tokens: text.embed_tokens,
        qwen_tokens: text.qwen_tokens,
        max_file_bytes: config.ingest.max_file_bytes,
        reader: Arc::new(crate::parse::Reader::from_config(config)),
        checkpoint_points: crate::sync::DEFAULT_CHECKPOINT_POINTS,
        guard,
        keep_token_vectors: searcher.wants_token_vectors(),
    })
}

/// The tokenizers and chunk budget, shared by ingestion and evaluation so
/// both cut text the same way.
struct TextSetup {
    embed_tokens: Arc<TokenCounter>,
    qwen_tokens: Arc<TokenCounter>,
    chunking: ChunkConfig,
}

impl TextSetup {
    fn load(config: &Config, encoder: &EncoderWorker) -> Result<Self, OpenError> {
        let model = config.model_path(&config.embedder.model);
        let embed_tokens = TokenCounter::load(&model).map_err(OpenError::Tokenizer)?;
        let qwen_path = config.model_path(&config.ingest.prompt_tokenizer);
        let qwen_tokens = TokenCounter::load(&qwen_path).map_err(|e| {
            OpenError::Tokenizer(format!(
                "{e} (ingest.prompt_tokenizer; run scripts/fetch-assets.sh for the Qwen3 tokenizer)"
            ))
        })?;
        Ok(Self {
            embed_tokens: Arc::new(embed_tokens),
            qwen_tokens: Arc::new(qwen_tokens),
            // Two tokens of every input are the model's [CLS] and [SEP].
            chunking: ChunkConfig {
                max_tokens: config
                    .ingest
                    .chunk_tokens
                    .min(encoder.max_tokens().saturating_sub(2)),
                overlap_tokens: config.ingest.chunk_overlap_tokens,
            },
        })
    }
}

/// The models and settings `zhishu eval` runs with: the configured
/// chunking, fusion and reranker around a running embedding worker.
///
/// # Errors
/// [`OpenError`] naming the tokenizer or reranker that could not be loaded.
pub fn open_eval_setup(config: &Config, encoder: EncoderWorker) -> Result<EvalSetup, OpenError> {
    let text = TextSetup::load(config, &encoder)?;
    let vocabulary = zhishu_retrieval::open_vocabulary(config)?;
    Ok(EvalSetup {
        bm25: zhishu_retrieval::bm25_encoder(config, vocabulary.clone()),
        reranker: open_reranker(config)?,
        encoder,
        embed_tokens: text.embed_tokens,
        qwen_tokens: text.qwen_tokens,
        chunking: text.chunking,
        fusion: config.retrieval,
        vocabulary,
        hits: crate::eval::DEPTH,
    })
}
