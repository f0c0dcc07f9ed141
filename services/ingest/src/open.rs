//! Building a [`Pipeline`] from the configuration: one place for the CLI
//! and the server.

use crate::chunk::{ChunkConfig, TokenCounter};
use crate::sync::{Pipeline, Stores};
use std::sync::Arc;
use zhishu_core::Config;
use zhishu_encoders::EncoderWorker;
use zhishu_retrieval::{EdgeIndex, LexicalIndex};
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
    if config.vectors.backend != zhishu_core::config::VectorBackend::Edge {
        return Err(
            "vectors.backend = \"qdrant\" (a Qdrant server) is not supported by this build yet; use backend = \"edge\"".into(),
        );
    }
    let model = config.model_path(&config.embedder.model);
    let dims = encoder.dimensions();
    let embed_tokens = TokenCounter::load(&model)?;
    let qwen_path = config.model_path(&config.ingest.prompt_tokenizer);
    let qwen_tokens = TokenCounter::load(&qwen_path).map_err(|e| {
        format!(
            "{e} (ingest.prompt_tokenizer; run scripts/fetch-assets.sh for the Qwen3 tokenizer)"
        )
    })?;
    let vectors = EdgeIndex::open(&config.vectors_path(), dims).map_err(|e| e.to_string())?;
    let lexical = LexicalIndex::open(&config.lexical_path()).map_err(|e| e.to_string())?;
    Ok(Pipeline {
        stores: Stores {
            vectors: Arc::new(vectors),
            lexical: Arc::new(lexical),
            registry,
        },
        // Two tokens of every input are the model's [CLS] and [SEP].
        chunking: ChunkConfig {
            max_tokens: config
                .ingest
                .chunk_tokens
                .min(encoder.max_tokens().saturating_sub(2)),
            overlap_tokens: config.ingest.chunk_overlap_tokens,
        },
        encoder,
        embed_tokens: Arc::new(embed_tokens),
        qwen_tokens: Arc::new(qwen_tokens),
        max_file_bytes: config.ingest.max_file_bytes,
    })
}
