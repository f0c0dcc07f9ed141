//! Hybrid search: BM25 and dense search run concurrently, fused with
//! reciprocal rank fusion, near-duplicates collapsed, then (optionally)
//! reranked by a cross-encoder.
//!
//! Why RRF and not score blending: BM25 scores are unbounded and vary per
//! query while cosine similarities sit in a narrow band, so any fixed
//! weighting of raw scores is wrong for some queries. Ranks are comparable;
//! `1 / (k + rank)` rewards agreement between the two without calibration.

use crate::{ChunkDoc, LexicalIndex, RetrievalError, Scope, SearchFilter, VectorIndex};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use zhishu_core::config::RetrievalConfig;
use zhishu_encoders::{EncoderWorker, RerankWorker, TextKind};

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// BM25 only.
    Bm25,
    /// Dense vectors only.
    Dense,
    /// Both, fused.
    Hybrid,
    /// Both, fused, then reranked by the cross-encoder.
    HybridRerank,
}

/// The score of every stage a hit went through.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageScores {
    /// BM25 score, when BM25 found it.
    pub bm25: Option<f32>,
    /// 1-based BM25 rank.
    pub bm25_rank: Option<usize>,
    /// Cosine similarity, when dense search found it.
    pub dense: Option<f32>,
    /// 1-based dense rank.
    pub dense_rank: Option<usize>,
    /// Fused RRF score.
    pub fused: f32,
    /// Cross-encoder score, when reranked.
    pub rerank: Option<f32>,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The chunk, with its provenance.
    pub chunk: ChunkDoc,
    /// The final score (rerank when reranked, else fused, else the single
    /// retriever's).
    pub score: f32,
    /// Every stage's score.
    pub scores: StageScores,
    /// Paths of near-duplicate chunks collapsed into this one.
    pub duplicates: Vec<String>,
    /// Neighbouring chunks of the same document version (by ordinal),
    /// attached for context when asked for; the hit itself is not among
    /// them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<ChunkDoc>,
}

/// How one search runs.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Which retrievers.
    pub mode: Mode,
    /// Chunks before and after each hit to attach.
    pub neighbours: usize,
    /// The query's embedding, when the caller already has it (benchmarks,
    /// evaluation); otherwise the searcher embeds the query.
    pub query_vector: Option<Vec<f32>>,
}

/// Time spent per stage, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Embedding the query.
    pub embed_ms: f64,
    /// BM25.
    pub bm25_ms: f64,
    /// Dense search.
    pub dense_ms: f64,
    /// Reranking.
    pub rerank_ms: f64,
    /// Everything.
    pub total_ms: f64,
}

/// Hits and timings.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Best first.
    pub hits: Vec<Hit>,
    /// Per-stage time.
    pub timings: Timings,
}

/// Both stores, the query encoder and the optional reranker.
#[derive(Clone)]
pub struct HybridSearcher {
    /// Vector store.
    pub vectors: Arc<dyn VectorIndex>,
    /// Lexical store.
    pub lexical: Arc<LexicalIndex>,
    /// Embeds queries.
    pub encoder: EncoderWorker,
    /// Rescores the fused top hits.
    pub reranker: Option<RerankWorker>,
    /// Fusion, candidate and neighbour settings (`[retrieval]`).
    pub fusion: RetrievalConfig,
}

/// Adds one retriever's vote for a chunk (`weight / (k + rank)`) and
/// returns its entry.
fn fuse(
    fused: &mut HashMap<String, Hit>,
    chunk: ChunkDoc,
    rank: usize,
    weight: f32,
    rrf_k: f32,
) -> &mut Hit {
    let e = fused.entry(chunk.chunk_id.clone()).or_insert_with(|| Hit {
        chunk,
        score: 0.0,
        scores: StageScores::default(),
        duplicates: Vec::new(),
        neighbours: Vec::new(),
    });
    e.scores.fused += weight / (rrf_k + (rank + 1) as f32);
    e
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn shingles(text: &str) -> HashSet<u64> {
    use std::hash::{Hash, Hasher};
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .windows(5)
        .map(|w| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            w.hash(&mut h);
            h.finish()
        })
        .collect()
}

fn jaccard(a: &HashSet<u64>, b: &HashSet<u64>) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.intersection(b).count() as f32;
    inter / ((a.len() + b.len()) as f32 - inter).max(1.0)
}

impl HybridSearcher {
    /// Searches with the given mode, attaching the configured number of
    /// neighbours.
    ///
    /// # Errors
    /// When a store or a model fails, or the filter is invalid.
    pub async fn search(
        &self,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        mode: Mode,
    ) -> Result<SearchResults, RetrievalError> {
        let options = SearchOptions {
            mode,
            neighbours: self.fusion.neighbours,
            query_vector: None,
        };
        self.search_with(query, k, scope, filter, &options).await
    }

    /// Searches with explicit options.
    ///
    /// # Errors
    /// When a store or a model fails, or the filter is invalid.
    pub async fn search_with(
        &self,
        query: &str,
        k: usize,
        scope: &Scope,
        filter: &SearchFilter,
        options: &SearchOptions,
    ) -> Result<SearchResults, RetrievalError> {
        let mode = options.mode;
        filter.validate()?;
        let start = Instant::now();
        let mut timings = Timings::default();
        let want = self.fusion.candidates.max(k);
        let use_lexical = mode != Mode::Dense;
        let use_dense = mode != Mode::Bm25;

        let lexical = async {
            if !use_lexical {
                return Ok((Vec::new(), 0.0));
            }
            let t = Instant::now();
            let index = self.lexical.clone();
            let (q, s, f) = (query.to_owned(), scope.clone(), filter.clone());
            let hits = tokio::task::spawn_blocking(move || index.search(&q, want, &s, &f))
                .await
                .map_err(|e| RetrievalError::Lexical(e.to_string()))??;
            Ok::<_, RetrievalError>((hits, ms(t)))
        };
        let dense = async {
            if !use_dense {
                return Ok((Vec::new(), 0.0, 0.0));
            }
            let t = Instant::now();
            let v = match &options.query_vector {
                Some(v) => v.clone(),
                None => self
                    .encoder
                    .embed(vec![query.to_owned()], TextKind::Query)
                    .await
                    .map_err(|e| RetrievalError::Vector(format!("embedding the query: {e}")))?
                    .vectors
                    .pop()
                    .unwrap_or_default(),
            };
            let embed_ms = ms(t);
            let t = Instant::now();
            let hits = self.vectors.search(v, want, scope, filter, false).await?;
            Ok::<_, RetrievalError>((hits, embed_ms, ms(t)))
        };
        let (lexical, dense) = tokio::join!(lexical, dense);
        let (lexical, bm25_ms) = lexical?;
        let (dense, embed_ms, dense_ms) = dense?;
        timings.bm25_ms = bm25_ms;
        timings.embed_ms = embed_ms;
        timings.dense_ms = dense_ms;

        // Fuse by chunk id: each retriever adds weight / (k + rank).
        let f = &self.fusion;
        let mut fused: HashMap<String, Hit> = HashMap::new();
        for (rank, h) in lexical.into_iter().enumerate() {
            let e = fuse(&mut fused, h.chunk, rank, f.lexical_weight, f.rrf_k);
            e.scores.bm25 = Some(h.score);
            e.scores.bm25_rank = Some(rank + 1);
        }
        for (rank, h) in dense.into_iter().enumerate() {
            let e = fuse(&mut fused, h.chunk, rank, f.dense_weight, f.rrf_k);
            e.scores.dense = Some(h.score);
            e.scores.dense_rank = Some(rank + 1);
        }
        let mut hits: Vec<Hit> = fused.into_values().collect();
        for h in &mut hits {
            h.score = match mode {
                Mode::Bm25 => h.scores.bm25.unwrap_or(0.0),
                Mode::Dense => h.scores.dense.unwrap_or(0.0),
                Mode::Hybrid | Mode::HybridRerank => h.scores.fused,
            };
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.chunk.chunk_id.cmp(&b.chunk.chunk_id))
        });

        // Collapse near-duplicates into the best-ranked copy. Only as many
        // distinct hits as will be returned (or reranked) are needed, so
        // the pairwise comparison stops there instead of running over every
        // candidate; and sets whose sizes differ by more than the
        // threshold allows cannot be that similar, so they skip the
        // intersection.
        let needed = if mode == Mode::HybridRerank && self.reranker.is_some() {
            f.rerank_top.max(k)
        } else {
            k
        };
        let mut kept: Vec<(Hit, HashSet<u64>)> = Vec::new();
        for h in hits {
            let sh = shingles(&h.chunk.text);
            if let Some((first, _)) = kept.iter_mut().find(|(_, s)| {
                let (small, large) = (s.len().min(sh.len()), s.len().max(sh.len()));
                small as f32 >= f.duplicate_jaccard * large as f32
                    && jaccard(s, &sh) >= f.duplicate_jaccard
            }) {
                first.duplicates.push(h.chunk.path.clone());
                continue;
            }
            if kept.len() == needed {
                break;
            }
            kept.push((h, sh));
        }
        let mut hits: Vec<Hit> = kept.into_iter().map(|(h, _)| h).collect();

        if mode == Mode::HybridRerank
            && let Some(reranker) = &self.reranker
        {
            let t = Instant::now();
            let top = f.rerank_top.max(k).min(hits.len());
            let passages: Vec<String> = hits[..top].iter().map(|h| h.chunk.text.clone()).collect();
            let scores = reranker
                .score(query, passages)
                .await
                .map_err(|e| RetrievalError::Vector(format!("reranking: {e}")))?;
            for (h, s) in hits[..top].iter_mut().zip(scores) {
                h.scores.rerank = Some(s);
                h.score = s;
            }
            hits[..top].sort_by(|a, b| b.score.total_cmp(&a.score));
            timings.rerank_ms = ms(t);
        }
        hits.truncate(k);
        if options.neighbours > 0 {
            self.attach_neighbours(&mut hits, options.neighbours, scope)
                .await?;
        }
        timings.total_ms = ms(start);
        Ok(SearchResults { hits, timings })
    }
}

impl HybridSearcher {
    /// Attaches up to `n` chunks before and after each hit. Their ids follow
    /// from the hit's document, version and ordinal ([`crate::chunk_id`]),
    /// so this is one id lookup, still restricted to the caller's scope.
    async fn attach_neighbours(
        &self,
        hits: &mut [Hit],
        n: usize,
        scope: &Scope,
    ) -> Result<(), RetrievalError> {
        let n = n as i64;
        let mut ids = Vec::new();
        for h in hits.iter() {
            let c = &h.chunk;
            for ord in (c.ordinal - n).max(0)..=c.ordinal + n {
                if ord != c.ordinal {
                    ids.push(crate::chunk_id(&c.document_id, c.version, ord));
                }
            }
        }
        let index = self.lexical.clone();
        let scope = scope.clone();
        let found = tokio::task::spawn_blocking(move || index.get(&ids, &scope))
            .await
            .map_err(|e| RetrievalError::Lexical(e.to_string()))??;
        let by_id: HashMap<String, ChunkDoc> =
            found.into_iter().map(|c| (c.chunk_id.clone(), c)).collect();
        for h in hits.iter_mut() {
            let c = &h.chunk;
            h.neighbours = ((c.ordinal - n).max(0)..=c.ordinal + n)
                .filter(|&ord| ord != c.ordinal)
                .filter_map(|ord| by_id.get(&crate::chunk_id(&c.document_id, c.version, ord)))
                .cloned()
                .collect();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_of_identical_and_disjoint_texts() {
        let a = shingles("Hotel stays are reimbursed up to 600 yuan per night.");
        let b = shingles("Hotel stays are reimbursed up to 600 yuan per night.");
        let c = shingles("完全不同的一段文字，没有任何重合的内容。");
        assert!((jaccard(&a, &b) - 1.0).abs() < 1e-6);
        assert!(jaccard(&a, &c) < 0.05);
    }
}
