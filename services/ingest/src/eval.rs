//! The evaluation run behind `zhishu eval`: index a BEIR corpus into
//! scratch stores with the same chunker, encoder and analyzers as real
//! ingestion, then score every retrieval mode on the judged queries.
//!
//! Why scratch stores and not the live ones: an evaluation must not leak
//! its corpus into employees' search results, nor be skewed by their
//! documents; a folder of its own (deleted afterwards by the caller) gives
//! both, and the numbers describe exactly the code path users hit.

use crate::chunk::{ChunkConfig, TokenCounter, chunk};
use crate::eval_cache::{LateScores, VectorCache};
use crate::parse::{Format, parse};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use zhishu_encoders::{EncoderWorker, RerankWorker};
use zhishu_retrieval::eval::{Dataset, EvalReport, ModeScorer, query_language, rank_documents};
use zhishu_retrieval::{
    Bm25Encoder, ChunkDoc, EdgeIndex, HybridSearcher, Lexical, LexicalIndex, Mode, Scope,
    SearchFilter, SearchOptions, VectorIndex, chunk_id,
};

/// The access group scratch chunks carry; searches run in it alone.
const EVAL_GROUP: &str = "eval";
/// Documents embedded per batch while indexing.
const INDEX_BATCH: usize = 64;
/// Hits fetched per query: enough for Recall@100.
pub const DEPTH: usize = 100;

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
    /// The enterprise vocabulary (`lexical.vocabulary`), when configured.
    pub vocabulary: Option<Arc<zhishu_retrieval::VocabularyFile>>,
    /// BM25 inside the vector store (`lexical.backend = "qdrant"`), with
    /// the configured average field lengths: scored beside Tantivy's.
    pub bm25: Bm25Encoder,
    /// Hits each query asks for, as a `/v1/search` client's `k` (its
    /// documents are then ranked by their best chunk). Default [`DEPTH`]
    /// (100), enough for Recall@100; 10 scores what a client asking for
    /// ten hits sees.
    pub hits: usize,
}

/// Sums of field lengths in terms, per language (a chunk counts under the
/// language most of its terms are in), for the averages BM25 inside
/// Qdrant normalises by.
#[derive(Default)]
struct Lengths {
    /// `[chinese, english]` × (title, section, body, page) sums, and the
    /// chunks and pages counted.
    sums: [[f64; 4]; 2],
    chunks: [f64; 2],
    pages: [f64; 2],
}

impl Lengths {
    /// Adds a batch's chunks (each document's chunks are in one batch).
    fn add(&mut self, encoder: &Bm25Encoder, chunks: &[ChunkDoc]) {
        let mut pages: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for c in chunks {
            let l = encoder.lengths(c);
            let all = |(zh, other): (usize, usize)| (zh + other) as f64;
            let lang = usize::from(l.body.0 * 2 < l.body.0 + l.body.1);
            self.sums[lang][0] += all(l.title);
            self.sums[lang][1] += all(l.section);
            self.sums[lang][2] += all(l.body);
            self.chunks[lang] += 1.0;
            let page = pages.entry(&c.document_id).or_default();
            // A page holds the title once and every chunk's text, with no
            // section path.
            let first = page.0 + page.1 == 0;
            let (title_zh, title_other) = if first { (0, 0) } else { l.title };
            page.0 += l.body.0 - title_zh - l.section.0;
            page.1 += l.body.1 - title_other - l.section.1;
        }
        for (zh, other) in pages.into_values() {
            let lang = usize::from(zh * 2 < zh + other);
            self.sums[lang][3] += (zh + other) as f64;
            self.pages[lang] += 1.0;
        }
    }

    /// The averages measured, falling back on `configured` where a
    /// language had no chunk.
    fn averages(
        &self,
        configured: zhishu_core::config::AverageTermsConfig,
    ) -> zhishu_core::config::AverageTermsConfig {
        let of = |lang: usize, f: zhishu_core::config::FieldAverages| {
            if self.chunks[lang] == 0.0 {
                return f;
            }
            // At least one term: a field that is always empty (no titles)
            // gets an average the configuration accepts.
            let avg = |i: usize, n: f64| ((self.sums[lang][i] / n.max(1.0)) as f32).max(1.0);
            zhishu_core::config::FieldAverages {
                title: avg(0, self.chunks[lang]),
                section: avg(1, self.chunks[lang]),
                body: avg(2, self.chunks[lang]),
                page: avg(3, self.pages[lang]),
            }
        };
        zhishu_core::config::AverageTermsConfig {
            chinese: of(0, configured.chinese),
            english: of(1, configured.english),
        }
    }
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
/// hybrid and (with a reranker) hybrid+rerank, with BM25 on Tantivy; then
/// bm25 and hybrid with BM25 inside the vector store (`lexical.backend =
/// "qdrant"`), reported as `bm25 (qdrant)` and `hybrid (qdrant)`, from the
/// same chunks and vectors. `progress` is told
/// `(stage, done, total)` as it goes.
///
/// # Errors
/// A message naming the store or model that failed.
pub async fn evaluate(
    setup: &EvalSetup,
    dataset: &Dataset,
    scratch: &std::path::Path,
    candidates: Option<&std::path::Path>,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<EvalReport, String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let vectors: Arc<dyn VectorIndex> = Arc::new(
        EdgeIndex::open_with(
            &scratch.join("qdrant"),
            setup.encoder.dimensions(),
            Some(setup.bm25.clone()),
        )
        .map_err(|e| err("opening the scratch vector store", &e))?,
    );
    let lexical = Arc::new(
        LexicalIndex::open_with(&scratch.join("tantivy"), setup.vocabulary.clone())
            .map_err(|e| err("opening the scratch lexical index", &e))?,
    );

    let mut cache = VectorCache::open(&setup.encoder);
    let late = LateScores::open(&setup.encoder).map(Arc::new);
    let encoder = match &late {
        Some(store) => setup.encoder.clone().with_late_scores(store.clone()),
        None => setup.encoder.clone(),
    };
    let mut lengths = Lengths::default();
    let started = Instant::now();
    let mut chunks_indexed = 0;
    let total = dataset.corpus.len();
    // With `candidates`: every chunk, for the file's chunk lines.
    let mut chunks: Vec<ChunkDoc> = Vec::new();
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
                    token_vectors: None,
                });
            }
        }
        lengths.add(&setup.bm25, &docs);
        if candidates.is_some() {
            chunks.extend(docs.iter().cloned());
        }
        let texts: Vec<String> = docs.iter().map(ChunkDoc::embedding_text).collect();
        let vectors_of = cache
            .embed(&setup.encoder, texts)
            .await
            .map_err(|e| err("embedding the corpus", &e))?;
        chunks_indexed += docs.len();
        let points = docs.iter().cloned().zip(vectors_of).collect();
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
    cache.save();

    let in_vectors = Lexical::in_vectors(vectors.clone()).map_err(|e| err("BM25 in Qdrant", &e))?;
    let searcher = HybridSearcher {
        vectors,
        lexical: Lexical::Tantivy(lexical),
        encoder,
        reranker: setup.reranker.clone(),
        fusion: setup.fusion,
    };
    let in_qdrant = HybridSearcher {
        lexical: in_vectors,
        ..searcher.clone()
    };
    let scope = Scope::of_groups([EVAL_GROUP.to_owned()]);
    let filter = SearchFilter::default();
    let mut report = EvalReport {
        documents: dataset.corpus.len(),
        chunks: chunks_indexed,
        queries: dataset.queries.len(),
        index_seconds,
        average_terms: Some(lengths.averages(setup.bm25.averages())),
        ..Default::default()
    };
    if let Some(path) = candidates {
        write_candidates(
            path,
            &searcher,
            dataset,
            &chunks,
            (&scope, &filter),
            setup.hits,
        )
        .await
        .map_err(|e| err(&format!("writing {}", path.display()), &e))?;
    }
    let runs = [
        (Mode::Bm25, &searcher, mode_name(Mode::Bm25)),
        (Mode::Dense, &searcher, mode_name(Mode::Dense)),
        (Mode::Hybrid, &searcher, mode_name(Mode::Hybrid)),
        (Mode::HybridRerank, &searcher, mode_name(Mode::HybridRerank)),
        (Mode::Bm25, &in_qdrant, "bm25 (qdrant)"),
        (Mode::Hybrid, &in_qdrant, "hybrid (qdrant)"),
    ];
    for (mode, searcher, name) in runs {
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
        let mut languages: BTreeMap<&str, ModeScorer> = BTreeMap::new();
        let mut kinds: BTreeMap<&str, ModeScorer> = BTreeMap::new();
        for (i, q) in dataset.queries.iter().enumerate() {
            let t = Instant::now();
            let results = searcher
                .search_with(&q.text, setup.hits, &scope, &filter, &options)
                .await
                .map_err(|e| err(&format!("query {}", q.id), &e))?;
            let latency = t.elapsed().as_secs_f64() * 1000.0;
            let ranked = rank_documents(results.hits.iter().map(|h| h.chunk.document_id.as_str()));
            if let Some(judged) = dataset.qrels.get(&q.id) {
                scorer.add(&ranked, judged, latency);
                let language = query_language(&q.text);
                languages
                    .entry(language)
                    .or_default()
                    .add(&ranked, judged, latency);
                if let Some(kind) = &q.kind {
                    kinds.entry(kind).or_default().add(&ranked, judged, latency);
                }
            }
            progress(name, i + 1, dataset.queries.len());
        }
        report.modes.insert(name.into(), scorer.report());
        for (breakdown, scorers) in [
            (&mut report.languages, languages),
            (&mut report.kinds, kinds),
        ] {
            for (key, s) in scorers {
                breakdown
                    .entry(key.to_owned())
                    .or_default()
                    .insert(name.into(), s.report());
            }
        }
    }
    if let Some(late) = late {
        late.save();
        report.late_cache = Some(late.summary());
        late.verdict()?;
    }
    Ok(report)
}

/// Writes `zhishu eval --candidates`: one JSON line per chunk (`"type":
/// "chunk"`: document, ordinal, title, section, text), then one per query
/// (`"type": "query"`: its text, language, kind, judged documents, the
/// evidence behind its votes, and both retrievers' top [`DEPTH`] as
/// `[document, ordinal, score]`; and the fused top `late_top` of a search
/// for `hits` (as the run's queries ask) before late
/// interaction, with each hit's MaxSim, as `late`: `[document, ordinal,
/// fused, MaxSim, maxima]`, `maxima` being each question piece's best
/// cosine against the hit, the pieces listed as `late_pieces`: `[piece,
/// start, end]`, byte spans in the question, and their weights in the
/// pass as `late_weights`), so that fusions and rerankers can be
/// studied offline on exactly what the searcher saw
/// (`scripts/fusion_study.py`).
async fn write_candidates(
    path: &std::path::Path,
    searcher: &HybridSearcher,
    dataset: &Dataset,
    chunks: &[ChunkDoc],
    (scope, filter): (&Scope, &SearchFilter),
    hits: usize,
) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(file);
    let mut line = |value: serde_json::Value| -> Result<(), String> {
        writeln!(out, "{value}").map_err(|e| e.to_string())
    };
    let mut by_id = std::collections::HashMap::new();
    for c in chunks {
        by_id.insert(c.chunk_id.as_str(), (c.document_id.as_str(), c.ordinal));
        line(serde_json::json!({
            "type": "chunk",
            "document": c.document_id,
            "ordinal": c.ordinal,
            "title": c.title,
            "section": c.section_path,
            "text": c.text,
        }))?;
    }
    let located = |hits: &[(String, f32)]| -> Vec<serde_json::Value> {
        hits.iter()
            .filter_map(|(id, score)| {
                by_id
                    .get(id.as_str())
                    .map(|(doc, ord)| serde_json::json!([doc, ord, score]))
            })
            .collect()
    };
    // The fused order before any late interaction, to the depth the pass
    // rescores.
    let late_top = searcher.fusion.late_top.max(1);
    let fused_only = HybridSearcher {
        fusion: zhishu_core::config::RetrievalConfig {
            late_weight: 0.0,
            ..searcher.fusion
        },
        ..searcher.clone()
    };
    for q in &dataset.queries {
        let c = searcher
            .candidates(&q.text, DEPTH, scope, filter)
            .await
            .map_err(|e| format!("query {}: {e}", q.id))?;
        // The fused top hits with their late-interaction scores, for
        // studying how the pass enters the ranking
        // (`scripts/late_blend_study.py`).
        let options = SearchOptions {
            mode: Mode::Hybrid,
            neighbours: 0,
            query_vector: None,
        };
        // Asked for as many hits as the run's queries (`--hits`): how
        // many each retriever brings to fusion depends on it, so the
        // fused order is the one the run then scores.
        let mut fused = fused_only
            .search_with(&q.text, hits, scope, filter, &options)
            .await
            .map_err(|e| format!("query {}: {e}", q.id))?;
        fused.hits.truncate(late_top);
        let texts: Vec<String> = fused
            .hits
            .iter()
            .map(|h| h.chunk.embedding_text())
            .collect();
        let weights = searcher.late_weights(&q.text);
        let late = searcher
            .encoder
            .late_scores_weighted(
                &q.text,
                weights.clone(),
                texts.clone(),
                vec![None; texts.len()],
                searcher.fusion.late_tokens,
            )
            .await
            .map_err(|e| format!("query {}: late interaction: {e}", q.id))?;
        // What each MaxSim averages: every question piece's best cosine
        // against the passage, for weighing the question's words offline.
        let detail = searcher
            .encoder
            .late_detail(&q.text, texts, searcher.fusion.late_tokens)
            .await
            .map_err(|e| format!("query {}: late interaction: {e}", q.id))?;
        let late: Vec<serde_json::Value> = fused
            .hits
            .iter()
            .zip(late)
            .zip(&detail.maxima)
            .map(|((h, l), m)| {
                serde_json::json!([h.chunk.document_id, h.chunk.ordinal, h.score, l, m])
            })
            .collect();
        let pieces: Vec<serde_json::Value> = detail
            .pieces
            .iter()
            .map(|p| serde_json::json!([p.piece, p.start, p.end]))
            .collect();
        line(serde_json::json!({
            "type": "query",
            "id": q.id,
            "text": q.text,
            "language": query_language(&q.text),
            "kind": q.kind,
            "judged": dataset.qrels.get(&q.id),
            "unknown_share": c.unknown_share,
            "coverage": c.coverage,
            "lexical_vote": c.lexical_vote,
            "dense_vote": c.dense_vote,
            "bm25": located(&c.bm25),
            "dense": located(&c.dense),
            "late": late,
            "late_pieces": pieces,
            "late_weights": weights,
        }))?;
    }
    out.flush().map_err(|e| e.to_string())
}
