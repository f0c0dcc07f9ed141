//! Building a [`Pipeline`] from the configuration: one place for the CLI
//! and the server.

use crate::chunk::{ChunkConfig, TokenCounter};
use crate::eval::EvalSetup;
use crate::sync::{Pipeline, Stores};
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_encoders::{EncoderWorker, RerankWorker, Reranker};
use zhishu_retrieval::{HybridSearcher, LexicalIndex, open_vectors};
use zhishu_store::Repository;

/// Opens the configured stores and tokenizers around a running embedding
/// worker.
///
/// # Errors
/// A message naming what could not be opened and how to fix it.
pub fn open_pipeline(
    config: &Config,
    registry: Arc<dyn Repository>,
    encoder: EncoderWorker,
) -> Result<Pipeline, String> {
    let text = TextSetup::load(config, &encoder)?;
    let dims = encoder.dimensions();
    let vectors =
        open_vectors(&config.vectors, &config.vectors_path(), dims).map_err(|e| e.to_string())?;
    let lexical = LexicalIndex::open(&config.lexical_path()).map_err(|e| e.to_string())?;
    Ok(Pipeline {
        stores: Stores {
            vectors,
            lexical: Arc::new(lexical),
            registry,
        },
        chunking: text.chunking,
        encoder,
        embed_tokens: text.embed_tokens,
        qwen_tokens: text.qwen_tokens,
        max_file_bytes: config.ingest.max_file_bytes,
        checkpoint_points: crate::sync::DEFAULT_CHECKPOINT_POINTS,
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
    fn load(config: &Config, encoder: &EncoderWorker) -> Result<Self, String> {
        let model = config.model_path(&config.embedder.model);
        let embed_tokens = TokenCounter::load(&model)?;
        let qwen_path = config.model_path(&config.ingest.prompt_tokenizer);
        let qwen_tokens = TokenCounter::load(&qwen_path).map_err(|e| {
            format!(
                "{e} (ingest.prompt_tokenizer; run scripts/fetch-assets.sh for the Qwen3 tokenizer)"
            )
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
/// A message naming the tokenizer or reranker that could not be loaded.
pub fn open_eval_setup(config: &Config, encoder: EncoderWorker) -> Result<EvalSetup, String> {
    let text = TextSetup::load(config, &encoder)?;
    Ok(EvalSetup {
        reranker: open_reranker(config)?,
        encoder,
        embed_tokens: text.embed_tokens,
        qwen_tokens: text.qwen_tokens,
        chunking: text.chunking,
        fusion: config.retrieval,
    })
}

/// Loads the configured cross-encoder (`[reranker]`) and starts its
/// worker; `None` when no reranker is configured.
///
/// # Errors
/// A message naming the model folder when it cannot be loaded.
pub fn open_reranker(config: &Config) -> Result<Option<RerankWorker>, String> {
    let Some(r) = &config.reranker else {
        return Ok(None);
    };
    let path = config.model_path(&r.model);
    let model =
        Reranker::load(&path).map_err(|e| format!("reranker.model {}: {e}", path.display()))?;
    RerankWorker::start(model, r.max_batch_tokens, 256)
        .map(Some)
        .map_err(|e| format!("starting the reranker: {e}"))
}

/// The hybrid searcher over a pipeline's stores, with the configured
/// fusion settings and reranker.
///
/// # Errors
/// When the configured reranker cannot be loaded.
pub fn open_searcher(config: &Config, pipeline: &Pipeline) -> Result<HybridSearcher, String> {
    Ok(HybridSearcher {
        vectors: pipeline.stores.vectors.clone(),
        lexical: pipeline.stores.lexical.clone(),
        encoder: pipeline.encoder.clone(),
        reranker: open_reranker(config)?,
        fusion: config.retrieval,
    })
}
