//! Hybrid search: BM25 and dense search run concurrently, fused by their
//! scores (or by reciprocal rank fusion), near-duplicates collapsed, then
//! (optionally) reranked by a cross-encoder.
//!
//! Why scaled scores and not raw ones: BM25 scores are unbounded and vary
//! per query while cosine similarities sit in a narrow band, so any fixed
//! weighting of raw scores is wrong for some queries. Why scaled scores and
//! not ranks alone: ranks forget how far a retriever's best stands above
//! the rest, which is what tells a paraphrase only the embedder reads from
//! a keyword query only BM25 reads (docs/retrieval.md has the
//! measurements). Each list is therefore scaled per query, best 1 and the
//! `candidates`-th 0, before the weighted sum ([`Fusion`]).

use crate::{
    ChunkDoc, Lexical, LexicalIds, LexicalIndex, RetrievalError, Scope, SearchFilter, VectorIndex,
    pool,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use zhishu_core::config::{Fusion, RetrievalConfig};
use zhishu_encoders::{EncoderWorker, RerankWorker, TextKind};

mod here;
mod late;

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
    /// BM25 score, when BM25 found it: with page evidence
    /// (`retrieval.page_weight` > 0) on its combined scale, `chunk / best
    /// chunk + page_weight · page / best page`, else Tantivy's own.
    pub bm25: Option<f32>,
    /// 1-based BM25 rank.
    pub bm25_rank: Option<usize>,
    /// Cosine similarity, when dense search found it.
    pub dense: Option<f32>,
    /// 1-based dense rank.
    pub dense_rank: Option<usize>,
    /// Fused score ([`Fusion`]): the weighted sum of the two retrievers'
    /// scaled scores (about 0–1), or the RRF score.
    pub fused: f32,
    /// Cross-encoder score, when reranked.
    pub rerank: Option<f32>,
    /// Late-interaction score (the embedder's MaxSim over the question's
    /// tokens), when the pass rescored this hit.
    pub late: Option<f32>,
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// The chunk, with its provenance.
    pub chunk: ChunkDoc,
    /// The final score (rerank when reranked, else fused blended with late
    /// interaction and put back on the fused scale when that pass ran,
    /// else fused, else the single retriever's).
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
    /// Late interaction.
    pub late_ms: f64,
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
    /// Lexical store: Tantivy, or BM25 inside the vector store.
    pub lexical: Lexical,
    /// Embeds queries.
    pub encoder: EncoderWorker,
    /// Rescores the fused top hits.
    pub reranker: Option<RerankWorker>,
    /// Fusion, candidate and neighbour settings (`[retrieval]`).
    pub fusion: RetrievalConfig,
}

/// A fused candidate before its chunk is loaded.
#[derive(Debug, Default)]
struct Candidate {
    scores: StageScores,
    score: f32,
    /// Its position among the BM25 hits, when BM25 found it.
    lexical: Option<usize>,
}

/// Candidates loaded beyond those needed, for duplicates to give way to.
const LOAD_SLACK: usize = 4;

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// The set of 5-character shingles of a text (whitespace ignored), as
/// sorted, distinct 64-bit hashes: comparing two chunks is then one merge
/// of two short sorted arrays, where hash sets cost a SipHash per shingle
/// to build and a hash lookup per shingle to intersect (most of a 10k-chunk
/// search's time after fusion went there).
///
/// Five code points of 21 bits each fit in one 128-bit word, shifted in as
/// the window slides: the window is the word, exactly, and one multiply-xor
/// mix of its two halves makes the hash (no per-character hashing, no copy
/// of the text). Sorting is most of what is left.
fn shingles(text: &str) -> Vec<u64> {
    const WINDOW: u128 = (1 << (5 * 21)) - 1;
    let mut window = 0_u128;
    let mut seen = 0_usize;
    let mut out: Vec<u64> = Vec::with_capacity(text.len());
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        window = ((window << 21) | u128::from(u32::from(c))) & WINDOW;
        seen += 1;
        if seen >= 5 {
            let (low, high) = (window as u64, (window >> 64) as u64);
            // A collision only ever makes two chunks look a little closer.
            let h = (low ^ high.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .wrapping_mul(0xBF58_476D_1CE4_E5B9);
            out.push(h ^ (h >> 31));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Shared elements of two sorted, distinct arrays. Branch-free steps: which
/// side advances is data, not a jump the CPU must guess (the guesses were
/// wrong about half the time on shingle hashes).
fn intersection(a: &[u64], b: &[u64]) -> usize {
    let (mut i, mut j, mut inter) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        inter += usize::from(x == y);
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    inter
}

/// Jaccard similarity of two shingle sets from [`shingles`].
fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = intersection(a, b) as f32;
    inter / ((a.len() + b.len()) as f32 - inter).max(1.0)
}

/// Whether two shingle sets are near-duplicates (Jaccard at least `t`),
/// deciding most pairs without a full merge.
///
/// Two filters from set-similarity joins, both exact: sizes first (a set
/// cannot share more than all of the smaller one), then prefixes. Jaccard
/// `t` needs at least `a = ⌈t·max(|A|, |B|)⌉` shared shingles; the smallest
/// shared one then has `a - 1` shared ones above it in each set, so it lies
/// in the first `|A| - a + 1` of `A` and the first `|B| - a + 1` of `B`.
/// Prefixes that share nothing rule the pair out after a merge of about a
/// tenth of each set (at `t = 0.9`).
fn near_duplicates(a: &[u64], b: &[u64], t: f32) -> bool {
    let (small, large) = (a.len().min(b.len()), a.len().max(b.len()));
    if (small as f32) < t * large as f32 {
        return false;
    }
    // Rounded down (and a hair lower against float error): a longer prefix
    // only costs a few more steps, a shorter one could miss a pair.
    let need = ((t * large as f32) - 1e-3).floor().max(0.0) as usize;
    if need > 0 {
        // `need` ≤ t·large ≤ small, so each prefix holds at least one.
        let prefix = |s: &'_ [u64]| -> usize { s.len() + 1 - need };
        if intersection(&a[..prefix(a)], &b[..prefix(b)]) == 0 {
            return false;
        }
    }
    jaccard(a, b) >= t
}

/// Loaded chunks by id, with their [`shingles`].
type Loaded = HashMap<String, (ChunkDoc, Vec<u64>)>;

/// What retrieval hands to loading: the fused ranking, and the first batch
/// of it already loaded when the engines met on a search thread.
struct Found {
    lexical: Arc<LexicalIds>,
    ranked: Vec<(String, Candidate)>,
    first: Option<Loaded>,
    bm25_ms: f64,
    dense_ms: f64,
    embed_ms: f64,
}

/// Both retrievers' candidates for one query, before fusion
/// ([`HybridSearcher::candidates`]).
#[derive(Debug, Clone, Serialize)]
pub struct Candidates {
    /// The share of the query's tokens the embedder does not know.
    pub unknown_share: f32,
    /// The share of the query's terms the BM25 index holds.
    pub coverage: f32,
    /// BM25's vote for this query ([`Votes::for_query`]).
    pub lexical_vote: f32,
    /// Dense search's vote for this query.
    pub dense_vote: f32,
    /// BM25's chunk ids and scores, best first.
    pub bm25: Vec<(String, f32)>,
    /// Dense search's chunk ids and cosine similarities, best first.
    pub dense: Vec<(String, f32)>,
}

/// How much each retriever's vote counts for one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Votes {
    /// BM25's weight.
    pub lexical: f32,
    /// Dense search's weight.
    pub dense: f32,
}

impl Votes {
    /// The configured weights, each scaled by evidence of how well its
    /// retriever covers this query:
    ///
    /// - dense search's by how much of the query its model can read,
    ///   `(1 - u)²` for an unknown-token share `u`. A model that maps a
    ///   question to `[UNK]`s returns neighbours of `[UNK]`, which must not
    ///   outvote BM25 (all-MiniLM on Chinese: dense fell to 0.32 where BM25
    ///   had 0.47, and fusion dragged hybrid down with it);
    /// - BM25's by its coverage `c`, the share of the query's terms the
    ///   index holds at all ([`crate::LexicalIndex::coverage`]): a Chinese
    ///   question over English pages matches a stray Latin word or two, and
    ///   that ranking should not outvote the embedder that reads both.
    ///
    /// A query both read in full keeps the configured votes. Chosen on the
    /// shipped sets against `c²`, no coverage and equal weights
    /// (docs/retrieval.md has the table).
    pub(crate) fn for_query(f: &RetrievalConfig, unknown_share: f32, coverage: f32) -> Self {
        let readable = (1.0 - unknown_share.clamp(0.0, 1.0)).powi(2);
        Self {
            lexical: f.lexical_weight() * coverage.clamp(0.0, 1.0),
            dense: f.dense_weight * readable,
        }
    }
}

/// Fuses the two rankings by chunk id ([`Fusion`]); best first, ties
/// broken by id so that a ranking is reproducible.
fn fuse(
    lexical: &LexicalIds,
    dense: &[(String, f32)],
    f: &RetrievalConfig,
    votes: Votes,
    mode: Mode,
) -> Vec<(String, Candidate)> {
    let mut fused: HashMap<&str, Candidate> = HashMap::new();
    for (rank, (id, score)) in lexical.hits().enumerate() {
        let e = fused.entry(id).or_default();
        e.scores.bm25 = Some(score);
        e.scores.bm25_rank = Some(rank + 1);
        e.lexical = Some(rank);
    }
    for (rank, (id, score)) in dense.iter().enumerate() {
        let e = fused.entry(id.as_str()).or_default();
        e.scores.dense = Some(*score);
        e.scores.dense_rank = Some(rank + 1);
    }
    match f.fusion {
        Fusion::Rrf => {
            let rrf = |weight: f32, rank: Option<usize>| {
                rank.map_or(0.0, |r| weight / (f.rrf_k + r as f32))
            };
            for c in fused.values_mut() {
                c.scores.fused =
                    rrf(votes.lexical, c.scores.bm25_rank) + rrf(votes.dense, c.scores.dense_rank);
            }
        }
        Fusion::Scores => {
            let bm25 = Scaling::of(lexical.hits().map(|(_, s)| s), f.candidates);
            let cosine = Scaling::of(dense.iter().map(|(_, s)| *s), f.candidates);
            let total = votes.lexical + votes.dense;
            // Both votes gone (nothing of the query is readable by either):
            // the two count alike rather than not at all.
            let a = if total > 0.0 {
                votes.lexical / total
            } else {
                0.5
            };
            for c in fused.values_mut() {
                c.scores.fused =
                    a * bm25.scale(c.scores.bm25) + (1.0 - a) * cosine.scale(c.scores.dense);
            }
        }
    }
    let mut ranked: Vec<(&str, Candidate)> = fused.into_iter().collect();
    for (_, c) in &mut ranked {
        c.score = match mode {
            Mode::Bm25 => c.scores.bm25.unwrap_or(0.0),
            Mode::Dense => c.scores.dense.unwrap_or(0.0),
            Mode::Hybrid | Mode::HybridRerank => c.scores.fused,
        };
    }
    ranked.sort_by(|(a_id, a), (b_id, b)| b.score.total_cmp(&a.score).then_with(|| a_id.cmp(b_id)));
    ranked
        .into_iter()
        .map(|(id, c)| (id.to_owned(), c))
        .collect()
}

/// One retriever's scores scaled for [`Fusion::Scores`]: its best
/// candidate is 1, its `candidates`-th (or last, when it returned fewer)
/// 0, linearly in between and below. A candidate it did not return counts
/// as its lowest returned one, never above: it fell below everything the
/// retriever did return. A list whose scores are all equal (one hit, or
/// ties) scales them all to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scaling {
    /// The score that scales to 0.
    low: f32,
    /// `1 / (best - low)`; 0 when every score is the same.
    inverse: f32,
    /// What an absent candidate counts.
    absent: f32,
}

impl Scaling {
    /// The scaling of a ranking's scores, best first.
    fn of(scores: impl Iterator<Item = f32>, candidates: usize) -> Self {
        // Best first: the first score is the best, the last the lowest.
        let (mut best, mut low, mut lowest, mut n) = (f32::NAN, f32::NAN, f32::NAN, 0usize);
        for s in scores.filter(|s| s.is_finite()) {
            if n == 0 {
                best = s;
            }
            n += 1;
            if n <= candidates.max(1) {
                low = s;
            }
            lowest = s;
        }
        if n == 0 {
            return Self {
                low: 0.0,
                inverse: 0.0,
                absent: 0.0,
            };
        }
        let spread = best - low;
        if spread <= f32::EPSILON * best.abs().max(1.0) {
            return Self {
                low,
                inverse: 0.0,
                absent: 0.0,
            };
        }
        let inverse = 1.0 / spread;
        Self {
            low,
            inverse,
            absent: ((lowest - low) * inverse).min(0.0),
        }
    }

    /// A candidate's scaled score: `None` when this retriever did not
    /// return it.
    fn scale(&self, score: Option<f32>) -> f32 {
        match score {
            Some(s) if s.is_finite() => {
                if self.inverse == 0.0 {
                    1.0
                } else {
                    (s - self.low) * self.inverse
                }
            }
            _ => self.absent,
        }
    }
}

/// A batch's BM25 hits (by position among them) and dense-only hits (by
/// id).
fn split(batch: &[(String, Candidate)]) -> (Vec<usize>, Vec<String>) {
    let positions = batch.iter().filter_map(|(_, c)| c.lexical).collect();
    let dense_only = batch
        .iter()
        .filter(|(_, c)| c.lexical.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    (positions, dense_only)
}

/// Loads chunks with their [`shingles`], all from the Tantivy snapshot the
/// BM25 hits came from: BM25 hits by address, dense-only hits by id (both
/// stores hold every chunk). One store call and one consistent view,
/// instead of a second round trip to the vector store for the dense-only
/// hits; the shingles are hashed here, on a search thread, not on the
/// async runtime. Kept token vectors come with the chunks when `vectors`
/// (the late pass will rescore them).
fn load_batch(
    index: &LexicalIndex,
    lexical: &LexicalIds,
    positions: &[usize],
    dense_only: &[String],
    scope: &Scope,
    vectors: bool,
) -> Result<Loaded, RetrievalError> {
    Ok(index
        .load_with(lexical, positions, dense_only, scope, vectors)?
        .into_iter()
        .map(|c| {
            let sh = shingles(&c.text);
            (c.chunk_id.clone(), (c, sh))
        })
        .collect())
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
        let f = &self.fusion;

        // Load the best candidates, a batch at a time, and collapse
        // near-duplicates into the best-ranked copy until as many distinct
        // hits as will be returned (or reranked) are kept. Duplicates are
        // rare, so one batch (what is needed, plus a little) almost always
        // does; most pairs are ruled out by size or prefix before a full
        // intersection ([`near_duplicates`]).
        let needed = if mode == Mode::HybridRerank && self.reranker.is_some() {
            f.rerank_top.max(k)
        } else if self.late_applies(mode) {
            f.late_top.max(k)
        } else {
            k
        };
        // Both engines meet on a search thread when both run in this
        // process (Tantivy, and a vector store that searches here).
        let here = matches!(self.lexical, Lexical::Tantivy(_)) && self.vectors.searches_here();
        let found = if here && mode != Mode::Bm25 && mode != Mode::Dense {
            here::retrieve(
                self,
                query,
                want,
                needed + LOAD_SLACK,
                scope,
                filter,
                options,
            )
            .await?
        } else {
            self.retrieve(query, want, scope, filter, options).await?
        };
        timings.bm25_ms = found.bm25_ms;
        timings.embed_ms = found.embed_ms;
        timings.dense_ms = found.dense_ms;
        let Found {
            lexical,
            ranked,
            first: mut preloaded,
            ..
        } = found;

        let mut kept: Vec<(Hit, Vec<u64>)> = Vec::new();
        let mut next = 0;
        while kept.len() < needed && next < ranked.len() {
            let end = (next + needed - kept.len() + LOAD_SLACK).min(ranked.len());
            let batch = &ranked[next..end];
            next = end;
            // The first batch may have been loaded where the engines met.
            let mut chunks = match preloaded.take() {
                Some(chunks) => chunks,
                None => {
                    self.load(&lexical, batch, scope, self.late_applies(mode))
                        .await?
                }
            };
            for (id, c) in batch {
                // Gone since the search (a job committed a new version).
                let Some((chunk, sh)) = chunks.remove(id) else {
                    continue;
                };
                if let Some((first, _)) = kept
                    .iter_mut()
                    .find(|(_, s)| near_duplicates(s, &sh, f.duplicate_jaccard))
                {
                    first.duplicates.push(chunk.path.clone());
                    continue;
                }
                if kept.len() == needed {
                    break;
                }
                let hit = Hit {
                    chunk,
                    score: c.score,
                    scores: c.scores.clone(),
                    duplicates: Vec::new(),
                    neighbours: Vec::new(),
                };
                kept.push((hit, sh));
            }
        }
        let mut hits: Vec<Hit> = kept.into_iter().map(|(h, _)| h).collect();

        if self.late_applies(mode) {
            let t = Instant::now();
            // The pass rescores `late_top` hits whatever k is: it was
            // chosen at that depth (a deeper pass is slower and no better),
            // and hits below keep their fused order and scores.
            let top = f.late_top.min(hits.len());
            self.late_interaction(query, &mut hits[..top]).await;
            timings.late_ms = ms(t);
        }
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
        // Kept token vectors are for the pass alone: ~150 KB a chunk that
        // nothing after it reads, neighbours' included.
        for h in &mut hits {
            h.chunk.token_vectors = None;
            for n in &mut h.neighbours {
                n.token_vectors = None;
            }
        }
        timings.total_ms = ms(start);
        Ok(SearchResults { hits, timings })
    }
}

impl HybridSearcher {
    /// Whether late interaction rescores a search in `mode`: fused
    /// searches on a searcher without a cross-encoder, when `late_weight`
    /// is above zero. With a cross-encoder configured the choice is the
    /// asker's (`rerank`), and the embedder (bge-m3 in production) is not
    /// made to reread passages besides.
    fn late_applies(&self, mode: Mode) -> bool {
        let fused = matches!(mode, Mode::Hybrid | Mode::HybridRerank);
        fused
            && self.reranker.is_none()
            && self.fusion.late_weight > 0.0
            && self.fusion.late_top > 1
    }

    /// Whether ingestion should keep each chunk's packed token vectors
    /// ([`ChunkDoc::token_vectors`](crate::ChunkDoc::token_vectors)) for
    /// this searcher: when `late_keep` is on, its late pass runs, reads
    /// whole passages, and
    /// loads hits from the Tantivy index, which keeps them (BM25 inside
    /// the vector store loads hits from its payload, which does not).
    pub fn wants_token_vectors(&self) -> bool {
        self.fusion.late_keep
            && self.late_applies(Mode::Hybrid)
            && self.fusion.late_tokens >= self.encoder.max_tokens()
            && matches!(self.lexical, Lexical::Tantivy(_))
    }

    /// Rescores `top` (the fused best, best first) by late interaction
    /// ([`late`]) and re-sorts it. A model failure only loses the pass,
    /// not the search: the fused order stands.
    async fn late_interaction(&self, query: &str, top: &mut [Hit]) {
        if top.len() < 2 {
            return;
        }
        let passages = top.iter().map(|h| h.chunk.embedding_text()).collect();
        let kept = top.iter().map(|h| h.chunk.token_vectors.clone()).collect();
        let weights = self.late_weights(query);
        let scores = match self
            .encoder
            .late_scores_weighted(query, weights, passages, kept, self.fusion.late_tokens)
            .await
        {
            Ok(scores) if scores.len() == top.len() => scores,
            Ok(scores) => {
                tracing::warn!(
                    scores = scores.len(),
                    hits = top.len(),
                    "late interaction scored another number of passages; keeping the fused order"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "late interaction failed; keeping the fused order");
                return;
            }
        };
        let weight = self.fusion.late_weight;
        let fused: Vec<f32> = top.iter().map(|h| h.scores.fused).collect();
        let (lo, hi) = fused
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &f| {
                (lo.min(f), hi.max(f))
            });
        let blended = late::blend(&fused, &scores, weight);
        for ((h, s), b) in top.iter_mut().zip(scores).zip(blended) {
            h.scores.late = Some(s);
            h.score = b;
        }
        // Stable: equal blends keep the fused order. Then each score goes
        // back on the fused scale, so the hits below stay below.
        top.sort_by(|a, b| b.score.total_cmp(&a.score));
        for h in top.iter_mut() {
            h.score = late::on_fused_scale(h.score, lo, hi, weight);
        }
    }

    /// How much each of the question's pieces counts in late interaction
    /// (the `lexical` module's `weights`: framing words nothing, rare
    /// words more than common ones), one per
    /// [`EncoderWorker::question_pieces`]. `None` (every piece alike) when
    /// the question cannot be tokenised or the index read: the pass
    /// still runs.
    pub fn late_weights(&self, query: &str) -> Option<Vec<f32>> {
        let pieces = self
            .encoder
            .question_pieces(query)
            .map_err(|e| tracing::warn!(error = %e, "late interaction: question pieces"))
            .ok()?;
        let spans: Vec<(usize, usize)> = pieces.iter().map(|p| (p.start, p.end)).collect();
        self.lexical
            .piece_weights(query, &spans)
            .map_err(|e| tracing::warn!(error = %e, "late interaction: question weights"))
            .ok()
    }

    /// The chunks of `batch` with their [`shingles`], loaded on the search
    /// pool ([`load_batch`]).
    /// BM25 hits from the vector store are loaded from it, with the dense
    /// ones, in one call.
    async fn load(
        &self,
        lexical: &Arc<LexicalIds>,
        batch: &[(String, Candidate)],
        scope: &Scope,
        vectors: bool,
    ) -> Result<Loaded, RetrievalError> {
        match &self.lexical {
            Lexical::Tantivy(index) if lexical.from_tantivy() => {
                let (positions, dense_only) = split(batch);
                let (index, ids, scope) = (index.clone(), lexical.clone(), scope.clone());
                pool::read(RetrievalError::Lexical, move || {
                    load_batch(&index, &ids, &positions, &dense_only, &scope, vectors)
                })
                .await
            }
            _ => {
                let ids: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
                let chunks = self.vectors.get(&ids, scope).await?;
                Ok(chunks
                    .into_iter()
                    .map(|c| {
                        let sh = shingles(&c.text);
                        (c.chunk_id.clone(), (c, sh))
                    })
                    .collect())
            }
        }
    }

    /// Both retrievers, awaited side by side, then fused: the path for a
    /// vector store behind the network, and for single-retriever modes.
    /// Both return ids and scores only: of the `want` candidates each
    /// brings, fusion keeps about k, and only those are loaded.
    async fn retrieve(
        &self,
        query: &str,
        want: usize,
        scope: &Scope,
        filter: &SearchFilter,
        options: &SearchOptions,
    ) -> Result<Found, RetrievalError> {
        let mode = options.mode;
        let lexical = async {
            let t = Instant::now();
            let limit = if mode == Mode::Dense { 0 } else { want };
            let hits = self
                .lexical
                .search_ids(query, limit, scope, filter, self.fusion.page_weight)
                .await?;
            Ok::<_, RetrievalError>((hits, ms(t)))
        };
        let dense = async {
            if mode == Mode::Bm25 {
                return Ok((Vec::new(), 0.0, 0.0));
            }
            let t = Instant::now();
            let v = self.query_vector(query, options).await?;
            let embed_ms = ms(t);
            let t = Instant::now();
            let hits = self.vectors.search_ids(v, want, scope, filter).await?;
            Ok::<_, RetrievalError>((hits, embed_ms, ms(t)))
        };
        let (lexical, dense, votes) = tokio::join!(lexical, dense, self.votes(query));
        let (lexical, bm25_ms) = lexical?;
        let (dense, embed_ms, dense_ms) = dense?;
        Ok(Found {
            ranked: fuse(&lexical, &dense, &self.fusion, votes, mode),
            lexical: Arc::new(lexical),
            first: None,
            bm25_ms,
            dense_ms,
            embed_ms,
        })
    }

    /// Both retrievers' candidates for `query`, unfused (up to `want`
    /// each, best first), with the evidence behind this query's votes:
    /// what `zhishu eval --candidates` writes, so that a fusion can be
    /// studied offline on exactly what this one sees.
    ///
    /// # Errors
    /// A store or the encoder failing.
    pub async fn candidates(
        &self,
        query: &str,
        want: usize,
        scope: &Scope,
        filter: &SearchFilter,
    ) -> Result<Candidates, RetrievalError> {
        let options = SearchOptions {
            mode: Mode::Hybrid,
            neighbours: 0,
            query_vector: None,
        };
        let lexical = self
            .lexical
            .search_ids(query, want, scope, filter, self.fusion.page_weight);
        let dense = async {
            let v = self.query_vector(query, &options).await?;
            self.vectors.search_ids(v, want, scope, filter).await
        };
        let (lexical, dense, (unknown_share, coverage)) =
            tokio::join!(lexical, dense, self.evidence(query));
        let votes = Votes::for_query(&self.fusion, unknown_share, coverage);
        Ok(Candidates {
            unknown_share,
            coverage,
            lexical_vote: votes.lexical,
            dense_vote: votes.dense,
            bm25: lexical?.hits().map(|(id, s)| (id.to_owned(), s)).collect(),
            dense: dense?,
        })
    }

    /// How much each retriever's vote counts for this query
    /// ([`Votes::for_query`]).
    pub(crate) async fn votes(&self, query: &str) -> Votes {
        let (unknown, coverage) = self.evidence(query).await;
        Votes::for_query(&self.fusion, unknown, coverage)
    }

    /// What the votes are set from: the embedder's unknown-token share
    /// and the BM25 index's coverage of the query.
    async fn evidence(&self, query: &str) -> (f32, f32) {
        // A tokenizer failure only loses the adjustment, not the search.
        let unknown = self.encoder.unknown_share(query).unwrap_or(0.0);
        let coverage = self.lexical.coverage(query).await.unwrap_or(1.0);
        (unknown, coverage)
    }

    /// The query's embedding: the caller's, or the encoder's.
    async fn query_vector(
        &self,
        query: &str,
        options: &SearchOptions,
    ) -> Result<Vec<f32>, RetrievalError> {
        if let Some(v) = &options.query_vector {
            return Ok(v.clone());
        }
        Ok(self
            .encoder
            .embed(vec![query.to_owned()], TextKind::Query)
            .await
            .map_err(|e| RetrievalError::Vector(format!("embedding the query: {e}")))?
            .vectors
            .pop()
            .unwrap_or_default())
    }

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
        let found = self.lexical.get(&ids, scope).await?;
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
    use std::collections::HashSet;

    proptest::proptest! {
        /// Dense search's vote never grows as less of the query is
        /// readable, stays within its configured weight, and BM25's never
        /// moves.
        #[test]
        fn votes_shrink_with_the_evidence_against_their_retriever(
            a in 0.0f32..=1.0, b in 0.0f32..=1.0, c in 0.0f32..=1.0,
        ) {
            let f = RetrievalConfig::default();
            let (lo, hi) = (a.min(b), a.max(b));
            // More unknown tokens: dense's vote never grows, BM25's stays.
            let (more, less) = (Votes::for_query(&f, lo, c), Votes::for_query(&f, hi, c));
            proptest::prop_assert!(less.dense <= more.dense);
            proptest::prop_assert!(more.dense <= f.dense_weight && less.dense >= 0.0);
            proptest::prop_assert_eq!(more.lexical, less.lexical);
            // Less coverage: BM25's vote never grows, dense's stays.
            let (wide, narrow) = (Votes::for_query(&f, c, hi), Votes::for_query(&f, c, lo));
            proptest::prop_assert!(narrow.lexical <= wide.lexical);
            proptest::prop_assert!(wide.lexical <= f.lexical_weight() && narrow.lexical >= 0.0);
            proptest::prop_assert_eq!(wide.dense, narrow.dense);
        }
    }

    /// Two rankings of ids `0..n` from generated scores (`None`: not
    /// returned), best first, as the retrievers hand them over.
    fn rankings(bm25: &[Option<f32>], dense: &[Option<f32>]) -> (LexicalIds, Vec<(String, f32)>) {
        let ranked = |scores: &[Option<f32>]| {
            let mut v: Vec<(String, f32)> = scores
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (format!("c{i:03}"), s)))
                .collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        (LexicalIds::from_store(ranked(bm25)), ranked(dense))
    }

    fn scores_strategy()
    -> impl proptest::strategy::Strategy<Value = Vec<(Option<f32>, Option<f32>)>> {
        proptest::collection::vec(
            (
                proptest::option::of(0.0f32..30.0),
                proptest::option::of(0.5f32..1.0),
            ),
            1..80,
        )
    }

    proptest::proptest! {
        /// A retriever's best candidate scales to 1 and its
        /// `candidates`-th to 0; scaling keeps its order; a candidate it
        /// did not return counts no more than any it did.
        #[test]
        fn scaling_keeps_order_and_puts_the_absent_last(
            mut scores in proptest::collection::vec(0.0f32..50.0, 1..120),
            candidates in 1usize..80,
        ) {
            scores.sort_by(|a, b| b.total_cmp(a));
            let s = Scaling::of(scores.iter().copied(), candidates);
            let scaled: Vec<f32> = scores.iter().map(|&x| s.scale(Some(x))).collect();
            proptest::prop_assert!((scaled[0] - 1.0).abs() < 1e-4);
            if scores[0] > scores[candidates.min(scores.len()) - 1] {
                proptest::prop_assert!(scaled[candidates.min(scores.len()) - 1].abs() < 1e-4);
            }
            for w in scaled.windows(2) {
                proptest::prop_assert!(w[0] >= w[1]);
            }
            let lowest = scaled.iter().copied().fold(f32::INFINITY, f32::min);
            proptest::prop_assert!(s.scale(None) <= lowest && s.scale(None) <= 0.0);
        }

        /// Whatever the fusion and the votes: a chunk at least as good as
        /// another in both retrievers (absent counting as worst) and
        /// better in one is fused above it; with one vote gone, fusion is
        /// the other retriever's ranking.
        #[test]
        fn fusion_respects_agreement_and_single_votes(
            pairs in scores_strategy(),
            lexical_vote in 0.0f32..2.0,
            dense_vote in 0.0f32..2.0,
            rrf in proptest::bool::ANY,
        ) {
            let (b, d): (Vec<_>, Vec<_>) = pairs.iter().copied().unzip();
            let (lexical, dense) = rankings(&b, &d);
            let f = RetrievalConfig {
                fusion: if rrf { Fusion::Rrf } else { Fusion::Scores },
                candidates: 20,
                ..RetrievalConfig::default()
            };
            let votes = Votes { lexical: lexical_vote, dense: dense_vote };
            let fused = fuse(&lexical, &dense, &f, votes, Mode::Hybrid);
            let position: HashMap<&str, usize> =
                fused.iter().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
            let rank_of = |list: Vec<&str>, id: &str| list.iter().position(|x| *x == id).unwrap_or(usize::MAX);
            let bm25_ids: Vec<&str> = lexical.hits().map(|(id, _)| id).collect();
            let dense_ids: Vec<&str> = dense.iter().map(|(id, _)| id.as_str()).collect();
            for (x, _) in &fused {
                for (y, _) in &fused {
                    let (bx, by) = (rank_of(bm25_ids.clone(), x), rank_of(bm25_ids.clone(), y));
                    let (dx, dy) = (rank_of(dense_ids.clone(), x), rank_of(dense_ids.clone(), y));
                    // Strictly better where it counts: a weight-0 side
                    // decides nothing.
                    let better_b = bx < by && lexical_vote > 0.0;
                    let better_d = dx < dy && dense_vote > 0.0;
                    if bx <= by && dx <= dy && (better_b || better_d) {
                        proptest::prop_assert!(position[x.as_str()] < position[y.as_str()] ||
                            // Equal scaled scores (ties in a retriever's
                            // scores) may fall back to the id order.
                            fused[position[x.as_str()]].1.score == fused[position[y.as_str()]].1.score,
                            "{x} (bm25 {bx}, dense {dx}) below {y} (bm25 {by}, dense {dy})");
                    }
                }
            }
            let order = |list: &[&str]| -> Vec<String> {
                fused.iter().filter(|(id, _)| list.contains(&id.as_str())).map(|(id, _)| id.clone()).collect()
            };
            if lexical_vote > 0.0 && dense_vote == 0.0 && !rrf {
                // Scaling is linear within the candidates, so BM25's order
                // among them stands (ties aside).
                let kept = order(&bm25_ids);
                for w in kept.windows(2) {
                    let s = |id: &str| lexical.hits().find(|(i, _)| *i == id).unwrap().1;
                    proptest::prop_assert!(s(&w[0]) >= s(&w[1]));
                }
            }
        }
    }

    #[test]
    fn a_dense_best_clear_of_the_field_beats_a_flat_bm25_list() {
        // A paraphrase over 50 candidates: BM25 matches common words
        // everywhere (scores falling evenly from 8 to 7), and ranks the page
        // (`c000`) 20th; dense search puts it first, well clear of the rest
        // (0.90 against 0.84 and below), and BM25's first (`c001`) 5th.
        // With ranks alone a chunk both rank near the top won; with scores
        // the page does.
        let n = 50;
        let mut bm25 = vec![None; n];
        let mut dense = vec![None; n];
        let mut bm25_order: Vec<usize> = (1..n).collect();
        bm25_order.insert(19, 0);
        for (rank, &i) in bm25_order.iter().enumerate() {
            bm25[i] = Some(8.0 - rank as f32 / (n - 1) as f32);
        }
        let mut dense_order: Vec<usize> = (2..n).collect();
        dense_order.insert(3, 1);
        dense_order.insert(0, 0);
        for (rank, &i) in dense_order.iter().enumerate() {
            dense[i] = Some(if rank == 0 {
                0.90
            } else {
                0.84 - 0.001 * rank as f32
            });
        }
        let (lexical, dense) = rankings(&bm25, &dense);
        assert_eq!(lexical.hits().next().unwrap().0, "c001");
        assert_eq!(dense[4].0, "c001");
        let scores = RetrievalConfig::default();
        assert_eq!(scores.fusion, Fusion::Scores);
        let votes = |f: &RetrievalConfig| Votes {
            lexical: f.lexical_weight(),
            dense: f.dense_weight,
        };
        let top = |f: &RetrievalConfig| {
            fuse(&lexical, &dense, f, votes(f), Mode::Hybrid)[0]
                .0
                .clone()
        };
        assert_eq!(top(&scores), "c000");
        let rrf = RetrievalConfig {
            fusion: Fusion::Rrf,
            ..scores
        };
        assert_ne!(top(&rrf), "c000");
    }

    #[test]
    fn each_fusion_has_its_own_default_bm25_weight() {
        let scores = RetrievalConfig::default();
        assert_eq!(scores.lexical_weight(), 1.25);
        let rrf = RetrievalConfig {
            fusion: Fusion::Rrf,
            ..scores
        };
        assert_eq!(rrf.lexical_weight(), 0.75);
        let set = RetrievalConfig {
            lexical_weight: Some(0.3),
            ..rrf
        };
        assert_eq!(set.lexical_weight(), 0.3);
    }

    #[test]
    fn a_query_both_read_in_full_keeps_the_configured_votes() {
        let f = RetrievalConfig::default();
        let v = Votes::for_query(&f, 0.0, 1.0);
        assert_eq!((v.lexical, v.dense), (f.lexical_weight(), f.dense_weight));
        assert_eq!(Votes::for_query(&f, 1.0, 1.0).dense, 0.0);
        assert_eq!(Votes::for_query(&f, 0.0, 0.0).lexical, 0.0);
    }

    #[test]
    fn jaccard_of_identical_and_disjoint_texts() {
        let a = shingles("Hotel stays are reimbursed up to 600 yuan per night.");
        let b = shingles("Hotel stays are reimbursed up to 600 yuan per night.");
        let c = shingles("完全不同的一段文字，没有任何重合的内容。");
        assert!((jaccard(&a, &b) - 1.0).abs() < 1e-6);
        assert!(jaccard(&a, &c) < 0.05);
    }

    #[test]
    fn the_prefix_filter_never_changes_the_verdict() {
        // Texts edited a little and a lot, in both scripts, at thresholds
        // from nothing to identity: the filtered test must agree with the
        // full Jaccard every time.
        let mut state = 7_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let words = [
            "hotel",
            "报销",
            "travel",
            "发票",
            "per",
            "night",
            "一线城市",
            "yuan",
        ];
        let base: Vec<&str> = (0..80)
            .map(|i| words[(i * 7 + i / 3) % words.len()])
            .collect();
        let mut texts = Vec::new();
        for edits in [0, 1, 2, 4, 8, 16, 40, 80] {
            let mut t = base.clone();
            for _ in 0..edits {
                let at = (next() % t.len() as u64) as usize;
                t[at] = words[(next() % words.len() as u64) as usize];
            }
            t.truncate(80 - (next() % 8) as usize);
            texts.push(shingles(&t.join(" ")));
        }
        let mut agreed = 0;
        for t in [0.0, 0.3, 0.5, 0.8, 0.9, 0.95, 1.0] {
            for a in &texts {
                for b in &texts {
                    assert_eq!(near_duplicates(a, b, t), jaccard(a, b) >= t, "t = {t}");
                    agreed += usize::from(near_duplicates(a, b, t));
                }
            }
        }
        assert!(
            agreed > texts.len() * 7,
            "some pairs beyond identity are duplicates"
        );
    }

    #[test]
    fn jaccard_equals_the_set_definition_on_mixed_texts() {
        let exact = |x: &str, y: &str| {
            let set = |t: &str| -> HashSet<String> {
                let cs: Vec<char> = t.chars().filter(|c| !c.is_whitespace()).collect();
                cs.windows(5).map(|w| w.iter().collect()).collect()
            };
            let (a, b) = (set(x), set(y));
            a.intersection(&b).count() as f32 / a.union(&b).count() as f32
        };
        let texts = [
            "差旅报销：一线城市酒店每晚不超过 600 元，须附发票。",
            "差旅报销：一线城市酒店每晚不超过 800 元，须附发票。",
            "Hotel stays in tier-one cities are reimbursed up to 600 yuan per night.",
            "Hotel stays in tier-one cities are reimbursed up to 800 yuan per night.",
            "Hotel stays in tier-one cities: see 差旅报销 rules, 600 yuan per night.",
        ];
        for x in texts {
            for y in texts {
                let got = jaccard(&shingles(x), &shingles(y));
                assert!((got - exact(x, y)).abs() < 1e-6, "{x} / {y}: {got}");
            }
        }
    }
}
