//! The evaluation run behind `zhishu eval`: index a BEIR corpus into
//! scratch stores with the same chunker, encoder and analyzers as real
//! ingestion, then score every retrieval mode on the judged queries.
//!
//! Why scratch stores and not the live ones: an evaluation must not leak
//! its corpus into employees' search results, nor be skewed by their
//! documents; a folder of its own (deleted afterwards by the caller) gives
//! both, and the numbers describe exactly the code path users hit.

use crate::chunk::{ChunkConfig, TokenCounter, chunk};
use crate::parse::{Format, parse};
use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{EncoderWorker, RerankWorker, TextKind};
use zhishu_retrieval::eval::{Dataset, EvalReport, ModeScorer, rank_documents};
use zhishu_retrieval::{
    ChunkDoc, EdgeIndex, HybridSearcher, LexicalIndex, Mode, Scope, SearchFilter, SearchOptions,
    VectorIndex, chunk_id,
};

/// The access group scratch chunks carry; searches run in it alone.
const EVAL_GROUP: &str = "eval";
/// Documents embedded per batch while indexing.
const INDEX_BATCH: usize = 64;
/// Hits fetched per query: enough for Recall@100.
const DEPTH: usize = 100;

/// The models and settings an evaluation runs with.
pub struct EvalSetup {
    /// The embedding worker.
    pub encoder: EncoderWorker,
    /// The cross-encoder, when configured; without it hybrid+rerank is
    /// reported as skipped.
    pub reranker: Option<RerankWorker>,
    /// The embedding model's tokenizer (chunk budget).
    pub embed_tokens: Arc<TokenCounter>,
    /// Qwen3's tokenizer (prompt token counts).
    pub qwen_tokens: Arc<TokenCounter>,
    /// Chunk budget.
    pub chunking: ChunkConfig,
    /// Fusion settings (`[retrieval]`).
    pub fusion: zhishu_core::config::RetrievalConfig,
}

/// The name a mode has in reports.
pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Bm25 => "bm25",
        Mode::Dense => "dense",
        Mode::Hybrid => "hybrid",
        Mode::HybridRerank => "hybrid+rerank",
    }
}

/// Indexes the dataset's corpus under `scratch` and scores bm25, dense,
/// hybrid and (with a reranker) hybrid+rerank. `progress` is told
/// `(stage, done, total)` as it goes.
///
/// # Errors
/// A message naming the store or model that failed.
pub async fn evaluate(
    setup: &EvalSetup,
    dataset: &Dataset,
    scratch: &std::path::Path,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<EvalReport, String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let vectors: Arc<dyn VectorIndex> = Arc::new(
        EdgeIndex::open(&scratch.join("qdrant"), setup.encoder.dimensions())
            .map_err(|e| err("opening the scratch vector store", &e))?,
    );
    let lexical = Arc::new(
        LexicalIndex::open(&scratch.join("tantivy"))
            .map_err(|e| err("opening the scratch lexical index", &e))?,
    );

    let started = Instant::now();
    let mut chunks_indexed = 0;
    let total = dataset.corpus.len();
    for (b, batch) in dataset.corpus.chunks(INDEX_BATCH).enumerate() {
        let mut docs: Vec<ChunkDoc> = Vec::new();
        for d in batch {
            let mut parsed = parse(Format::Text, d.text.as_bytes())
                .map_err(|e| err(&format!("corpus document {}", d.id), &e))?;
            if !d.title.is_empty() {
                parsed.title = Some(d.title.clone());
            }
            let (_, pieces) = chunk(
                &parsed,
                setup.chunking,
                &setup.embed_tokens,
                &setup.qwen_tokens,
            );
            for p in pieces {
                docs.push(ChunkDoc {
                    chunk_id: chunk_id(&d.id, 1, p.ordinal as i64),
                    document_id: d.id.clone(),
                    version: 1,
                    ordinal: p.ordinal as i64,
                    collection: EVAL_GROUP.into(),
                    path: format!("beir:{}", d.id),
                    title: d.title.clone(),
                    section_path: p.section_path,
                    page: None,
                    access_groups: vec![EVAL_GROUP.into()],
                    content_hash: String::new(),
                    modified_at: 0,
                    char_start: p.char_start as i64,
                    char_end: p.char_end as i64,
                    qwen_tokens: p.qwen_tokens as i64,
                    text: p.text,
                    prompt_ids: None,
                });
            }
        }
        let texts: Vec<String> = docs.iter().map(|c| c.text.clone()).collect();
        let embedded = setup
            .encoder
            .embed(texts, TextKind::Passage)
            .await
            .map_err(|e| err("embedding the corpus", &e))?;
        chunks_indexed += docs.len();
        let points = docs.iter().cloned().zip(embedded.vectors).collect();
        vectors
            .upsert(points)
            .await
            .map_err(|e| err("writing vectors", &e))?;
        let index = lexical.clone();
        tokio::task::spawn_blocking(move || index.upsert(&docs))
            .await
            .map_err(|e| err("lexical task", &e))?
            .map_err(|e| err("writing the lexical index", &e))?;
        progress("index", ((b + 1) * INDEX_BATCH).min(total), total);
    }
    vectors
        .commit()
        .await
        .map_err(|e| err("committing vectors", &e))?;
    let index = lexical.clone();
    tokio::task::spawn_blocking(move || index.commit())
        .await
        .map_err(|e| err("lexical task", &e))?
        .map_err(|e| err("committing the lexical index", &e))?;
    let index_seconds = started.elapsed().as_secs_f64();

    let searcher = HybridSearcher {
        vectors,
        lexical,
        encoder: setup.encoder.clone(),
        reranker: setup.reranker.clone(),
        fusion: setup.fusion,
    };
    let scope = Scope::of_groups([EVAL_GROUP.to_owned()]);
    let filter = SearchFilter::default();
    let mut report = EvalReport {
        documents: dataset.corpus.len(),
        chunks: chunks_indexed,
        queries: dataset.queries.len(),
        index_seconds,
        ..Default::default()
    };
    for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid, Mode::HybridRerank] {
        if mode == Mode::HybridRerank && searcher.reranker.is_none() {
            report.skipped.insert(
                mode_name(mode).into(),
                "no cross-encoder configured ([reranker] model)".into(),
            );
            continue;
        }
        let options = SearchOptions {
            mode,
            neighbours: 0,
            query_vector: None,
        };
        let mut scorer = ModeScorer::default();
        for (i, q) in dataset.queries.iter().enumerate() {
            let t = Instant::now();
            let results = searcher
                .search_with(&q.text, DEPTH, &scope, &filter, &options)
                .await
                .map_err(|e| err(&format!("query {}", q.id), &e))?;
            let latency = t.elapsed().as_secs_f64() * 1000.0;
            let ranked = rank_documents(results.hits.iter().map(|h| h.chunk.document_id.as_str()));
            if let Some(judged) = dataset.qrels.get(&q.id) {
                scorer.add(&ranked, judged, latency);
            }
            progress(mode_name(mode), i + 1, dataset.queries.len());
        }
        report.modes.insert(mode_name(mode).into(), scorer.report());
    }
    Ok(report)
}
