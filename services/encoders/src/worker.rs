//! The encoder workers: one thread per model, dynamic batching by length.
//!
//! Every request (ingestion's passages, a query, a rerank) goes through one
//! bounded queue to one thread that owns the model, so encoders never
//! oversubscribe the cores however many callers there are. The thread takes
//! everything queued, drops requests whose caller has gone, sorts the inputs
//! by token length and cuts them into batches whose *padded* size (inputs ×
//! longest) stays under a token budget, so one huge batch cannot exhaust
//! memory. The models themselves run a batch packed, without padding
//! (`encoder.rs`), so the padded size is an upper bound on the work and on
//! the attention scratch, not what is computed; sorting by length keeps
//! that bound tight.
//!
//! The batching is the same for both kinds of model, so it lives once, in
//! [`Worker`], generic over [`BatchModel`]; [`EncoderWorker`] and
//! [`RerankWorker`] are the typed front doors.

use crate::{Embedder, EncoderError, LateScoreStore, Output, PackedTokens, Reranker, TokenForm};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokenizers::Encoding;
use tokio::sync::{mpsc, oneshot};

mod late;

pub use late::{LateDetail, LatePiece};

/// A model the worker can batch: inputs are tokenised first, then run in
/// padded batches of encodings, one output per input.
pub trait BatchModel: Send + 'static {
    /// One input (a text, a (query, passage) pair).
    type Input: Send + 'static;
    /// One output (a vector, a score).
    type Output: Send + 'static;
    /// The model's name.
    fn name(&self) -> &str;
    /// Longest input in tokens; longer inputs are truncated.
    fn max_tokens(&self) -> usize;
    /// Tokenises inputs (truncated to the model's limit).
    ///
    /// # Errors
    /// When the tokenizer fails.
    fn encode(&self, inputs: &[Self::Input]) -> Result<Vec<Encoding>, EncoderError>;
    /// Runs one padded batch: `batch[i]` is the encoding of `inputs[i]`.
    ///
    /// # Errors
    /// When the model fails.
    fn forward(
        &self,
        batch: &[Encoding],
        inputs: &[&Self::Input],
    ) -> Result<Vec<Self::Output>, EncoderError>;
}

/// An embedder's input: a text and what it asks for (its pooled vector,
/// or its tokens' vectors for late interaction), so that both run in the
/// same batches on the one thread that owns the model.
impl BatchModel for Embedder {
    type Input = (String, Output);
    type Output = Vec<f32>;
    fn name(&self) -> &str {
        Embedder::name(self)
    }
    fn max_tokens(&self) -> usize {
        Embedder::max_tokens(self)
    }
    fn encode(&self, inputs: &[(String, Output)]) -> Result<Vec<Encoding>, EncoderError> {
        let refs: Vec<&str> = inputs.iter().map(|(t, _)| t.as_str()).collect();
        Embedder::encode(self, &refs)
    }
    fn forward(
        &self,
        batch: &[Encoding],
        inputs: &[&(String, Output)],
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let wants: Vec<Output> = inputs.iter().map(|(_, w)| *w).collect();
        self.run(batch, &wants)
    }
}

impl BatchModel for Reranker {
    type Input = (String, String);
    type Output = f32;
    fn name(&self) -> &str {
        Reranker::name(self)
    }
    fn max_tokens(&self) -> usize {
        Reranker::max_tokens(self)
    }
    fn encode(&self, inputs: &[(String, String)]) -> Result<Vec<Encoding>, EncoderError> {
        let refs: Vec<(&str, &str)> = inputs
            .iter()
            .map(|(q, p)| (q.as_str(), p.as_str()))
            .collect();
        Reranker::encode(self, &refs)
    }
    fn forward(
        &self,
        batch: &[Encoding],
        _inputs: &[&(String, String)],
    ) -> Result<Vec<f32>, EncoderError> {
        self.score_encodings(batch)
    }
}

/// Whether a text is a query or a passage: models such as e5 and bge want
/// different prefixes for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A search query.
    Query,
    /// A document passage.
    Passage,
}

/// Settings of a worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Largest padded batch, in tokens (inputs × longest input). Default 16384.
    pub max_batch_tokens: usize,
    /// Requests that may wait; beyond, callers wait. Default 1024.
    pub queue: usize,
    /// Prepended to queries (e.g. `query: ` for e5). Default empty.
    pub query_prefix: String,
    /// Prepended to passages (e.g. `passage: ` for e5). Default empty.
    pub passage_prefix: String,
    /// Passages' token vectors kept for late interaction between
    /// searches, in bytes (packed in `token_form`). Default 256 MiB; 0
    /// keeps none.
    pub token_cache_bytes: u64,
    /// How passages' token vectors are packed, for the cache and for
    /// ingestion to keep ([`TokenForm`]). Default [`TokenForm::Int8`].
    pub token_form: TokenForm,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_batch_tokens: 16_384,
            queue: 1024,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            token_cache_bytes: 256 << 20,
            token_form: TokenForm::default(),
        }
    }
}

/// Counters, for metrics.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Inputs run.
    pub texts: AtomicU64,
    /// Inputs cut at the model's limit.
    pub truncated: AtomicU64,
    /// Batches run.
    pub batches: AtomicU64,
    /// Inputs × longest input, summed over batches: what a padded run
    /// would have computed (the budget's measure; the models run packed).
    pub padded_tokens: AtomicU64,
    /// Tokens run, padding excluded.
    pub real_tokens: AtomicU64,
}

/// Outputs for one request.
#[derive(Debug, Clone)]
pub struct Batched<T> {
    /// One output per input, in order.
    pub outputs: Vec<T>,
    /// Tokens the model read (after truncation).
    pub tokens: usize,
}

struct Job<M: BatchModel> {
    inputs: Vec<M::Input>,
    reply: oneshot::Sender<Result<Batched<M::Output>, EncoderError>>,
}

/// Handle to a running worker that owns one model. Cheap to clone.
pub struct Worker<M: BatchModel> {
    tx: mpsc::Sender<Job<M>>,
    stats: Arc<WorkerStats>,
    name: Arc<str>,
    max_tokens: usize,
}

impl<M: BatchModel> Clone for Worker<M> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
            name: self.name.clone(),
            max_tokens: self.max_tokens,
        }
    }
}

impl<M: BatchModel> Worker<M> {
    /// Starts the worker thread, which owns the model until every handle is
    /// dropped.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(model: M, max_batch_tokens: usize, queue: usize) -> Result<Self, EncoderError> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let stats = Arc::new(WorkerStats::default());
        let name: Arc<str> = model.name().into();
        let max_tokens = model.max_tokens();
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name(format!("encoder-{name}"))
            .spawn(move || run(&model, max_batch_tokens, rx, &thread_stats))
            .map_err(|e| EncoderError::Model(format!("cannot start the encoder thread: {e}")))?;
        Ok(Self {
            tx,
            stats,
            name,
            max_tokens,
        })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Longest input in tokens; longer inputs are truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The counters.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Runs inputs through the model, batched with everyone else's.
    ///
    /// # Errors
    /// [`EncoderError`] from the model, or [`EncoderError::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request: the worker skips inputs
    /// whose caller has gone.
    pub async fn submit(&self, inputs: Vec<M::Input>) -> Result<Batched<M::Output>, EncoderError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { inputs, reply })
            .await
            .map_err(|_| EncoderError::Closed)?;
        answer.await.map_err(|_| EncoderError::Closed)?
    }
}

/// Vectors for one request.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// One unit vector per input text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model read (after truncation).
    pub tokens: usize,
}

/// The embedding model's worker, applying the query and passage prefixes.
#[derive(Clone)]
pub struct EncoderWorker {
    inner: Worker<Embedder>,
    /// A copy of the model's tokenizer, for questions about a text that
    /// need no model run ([`EncoderWorker::unknown_share`]).
    tokenizer: Arc<tokenizers::Tokenizer>,
    dimensions: usize,
    query_prefix: Arc<str>,
    passage_prefix: Arc<str>,
    /// Pieces of the query prefix, before a query's own words
    /// ([`EncoderWorker::late_scores`]).
    prefix_pieces: usize,
    /// Passages' token vectors by prefixed text, for late interaction.
    tokens: Option<Arc<TokenCache>>,
    /// How passages' token vectors are packed.
    form: TokenForm,
    /// Late-interaction scores kept outside, when given
    /// ([`EncoderWorker::with_late_scores`]).
    scores: Option<Arc<dyn LateScoreStore>>,
}

/// Passages' packed token vectors by prefixed text, bounded in bytes.
/// Searches keep meeting the same popular passages, and an evaluation
/// runs every query twice (two lexical stores); recomputing a passage
/// costs a forward pass over up to 512 tokens.
type TokenCache = quick_cache::sync::Cache<String, Arc<PackedTokens>, Bytes>;

/// A cache entry's weight: its key and vectors, in bytes.
#[derive(Clone)]
struct Bytes;

impl quick_cache::Weighter<String, Arc<PackedTokens>> for Bytes {
    fn weight(&self, key: &String, value: &Arc<PackedTokens>) -> u64 {
        (key.len() + value.bytes().len()) as u64
    }
}

impl EncoderWorker {
    /// Starts the worker thread for an embedder.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(embedder: Embedder, config: WorkerConfig) -> Result<Self, EncoderError> {
        let prefix_pieces = late::prefix_pieces(&embedder, &config.query_prefix)?;
        // What a 512-token passage takes in the configured form.
        let per_passage = 512 * config.token_form.row_bytes(embedder.dimensions()) as u64;
        let tokens = (config.token_cache_bytes > 0).then(|| {
            let items = (config.token_cache_bytes / per_passage.max(1)).clamp(16, 1 << 20) as usize;
            Arc::new(TokenCache::with_weighter(
                items,
                config.token_cache_bytes,
                Bytes,
            ))
        });
        Ok(Self {
            prefix_pieces,
            tokens,
            form: config.token_form,
            dimensions: embedder.dimensions(),
            tokenizer: Arc::new(embedder.tokenizer().clone()),
            inner: Worker::start(embedder, config.max_batch_tokens, config.queue)?,
            query_prefix: config.query_prefix.into(),
            passage_prefix: config.passage_prefix.into(),
            scores: None,
        })
    }

    /// This worker, looking late-interaction scores up in `store` before
    /// computing them and recording there those it computes
    /// ([`LateScoreStore`]).
    #[must_use]
    pub fn with_late_scores(mut self, store: Arc<dyn LateScoreStore>) -> Self {
        self.scores = Some(store);
        self
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Longest input in tokens; longer inputs are truncated.
    pub fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }

    /// Dimensions of the vectors.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// [`Embedder::unknown_share`] of a query (with its prefix), on the
    /// caller's thread: tokenising a question takes microseconds.
    ///
    /// # Errors
    /// When the tokenizer fails.
    pub fn unknown_share(&self, query: &str) -> Result<f32, EncoderError> {
        crate::embedder::unknown_share(&self.tokenizer, query)
    }

    /// The prefix put before texts of a kind.
    pub fn prefix(&self, kind: TextKind) -> &str {
        match kind {
            TextKind::Query => &self.query_prefix,
            TextKind::Passage => &self.passage_prefix,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &WorkerStats {
        self.inner.stats()
    }

    /// Embeds texts, with the prefix for their kind.
    ///
    /// # Errors
    /// [`EncoderError`] from the model, or [`EncoderError::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request.
    pub async fn embed(
        &self,
        texts: Vec<String>,
        kind: TextKind,
    ) -> Result<Embedded, EncoderError> {
        let prefix = self.prefix(kind);
        let texts = texts
            .into_iter()
            .map(|t| (format!("{prefix}{t}"), Output::Pooled))
            .collect();
        let out = self.inner.submit(texts).await?;
        Ok(Embedded {
            vectors: out.outputs,
            tokens: out.tokens,
        })
    }

    /// Embeds passages (with the passage prefix) and packs each one's
    /// token vectors in the worker's [`TokenForm`], from the one forward
    /// pass: what late interaction would compute for the whole passage
    /// ([`EncoderWorker::late_scores_kept`]), kept by ingestion so a
    /// search need not run it again.
    ///
    /// # Errors
    /// [`EncoderError`] from the model, or [`EncoderError::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request.
    pub async fn embed_passages_with_tokens(
        &self,
        texts: Vec<String>,
    ) -> Result<(Embedded, Vec<PackedTokens>), EncoderError> {
        // Each passage as the pass reads a whole one, so what is kept is
        // what the pass would compute.
        let whole = self.max_tokens();
        let texts = texts
            .iter()
            .map(|t| Ok((self.late_text(t, whole)?, Output::Both)))
            .collect::<Result<_, EncoderError>>()?;
        let out = self.inner.submit(texts).await?;
        let width = self.dimensions;
        let (form, tokens) = (self.form, out.tokens);
        let (vectors, packed) = tokio::task::spawn_blocking(move || {
            out.outputs
                .into_iter()
                .map(|mut both| {
                    let rows = both.split_off(width.min(both.len()));
                    (both, PackedTokens::pack(form, &rows, width))
                })
                .unzip()
        })
        .await
        .map_err(|e| EncoderError::Model(format!("packing token vectors: {e}")))?;
        Ok((Embedded { vectors, tokens }, packed))
    }

    /// How this worker packs passages' token vectors.
    pub fn token_form(&self) -> TokenForm {
        self.form
    }
}

/// The cross-encoder's worker.
#[derive(Clone)]
pub struct RerankWorker {
    inner: Worker<Reranker>,
}

impl RerankWorker {
    /// Starts the worker thread for a reranker.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(
        reranker: Reranker,
        max_batch_tokens: usize,
        queue: usize,
    ) -> Result<Self, EncoderError> {
        Ok(Self {
            inner: Worker::start(reranker, max_batch_tokens, queue)?,
        })
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The counters.
    pub fn stats(&self) -> &WorkerStats {
        self.inner.stats()
    }

    /// Scores each passage against the query (higher is more relevant), in
    /// the passages' order.
    ///
    /// # Errors
    /// [`EncoderError`] from the model, or [`EncoderError::Closed`].
    pub async fn score(
        &self,
        query: &str,
        passages: Vec<String>,
    ) -> Result<Vec<f32>, EncoderError> {
        let pairs = passages
            .into_iter()
            .map(|p| (query.to_owned(), p))
            .collect();
        Ok(self.inner.submit(pairs).await?.outputs)
    }
}

fn run<M: BatchModel>(
    model: &M,
    max_batch_tokens: usize,
    mut rx: mpsc::Receiver<Job<M>>,
    stats: &WorkerStats,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
        }
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let inputs: Vec<Vec<M::Input>> = jobs
            .iter_mut()
            .map(|j| std::mem::take(&mut j.inputs))
            .collect();
        let results = serve(model, max_batch_tokens, inputs, stats);
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Runs every job's inputs in length-sorted, budgeted batches.
fn serve<M: BatchModel>(
    model: &M,
    max_batch_tokens: usize,
    jobs: Vec<Vec<M::Input>>,
    stats: &WorkerStats,
) -> Vec<Result<Batched<M::Output>, EncoderError>> {
    // Tokenise each job; a job whose inputs fail to tokenise fails alone.
    let encoded: Vec<Result<Vec<Encoding>, EncoderError>> =
        jobs.iter().map(|inputs| model.encode(inputs)).collect();
    // (job, position, length) of every input, shortest first.
    let mut order: Vec<(usize, usize, usize)> = Vec::new();
    for (j, e) in encoded.iter().enumerate() {
        if let Ok(encs) = e {
            for (i, enc) in encs.iter().enumerate() {
                order.push((j, i, enc.get_ids().len()));
                if !enc.get_overflowing().is_empty() {
                    stats.truncated.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    order.sort_by_key(|&(_, _, len)| len);
    let mut outputs: Vec<Vec<Option<M::Output>>> = encoded
        .iter()
        .map(|e| {
            e.as_ref()
                .map_or(Vec::new(), |encs| encs.iter().map(|_| None).collect())
        })
        .collect();
    let mut failed: Vec<Option<EncoderError>> = vec![None; jobs.len()];
    let mut start = 0;
    while start < order.len() {
        // Grow the batch while its padded size fits the budget (always at
        // least one input, however long).
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * order[end].2 <= max_batch_tokens {
            end += 1;
        }
        let slice = &order[start..end];
        let batch: Vec<Encoding> = slice
            .iter()
            .filter_map(|&(j, i, _)| encoded[j].as_ref().ok().map(|e| e[i].clone()))
            .collect();
        let longest = slice.last().map_or(0, |s| s.2);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .padded_tokens
            .fetch_add((slice.len() * longest) as u64, Ordering::Relaxed);
        stats
            .real_tokens
            .fetch_add(slice.iter().map(|s| s.2 as u64).sum(), Ordering::Relaxed);
        let inputs: Vec<&M::Input> = slice.iter().map(|&(j, i, _)| &jobs[j][i]).collect();
        match model.forward(&batch, &inputs) {
            Ok(out) => {
                for (&(j, i, _), v) in slice.iter().zip(out) {
                    outputs[j][i] = Some(v);
                }
            }
            Err(e) => {
                for &(j, _, _) in slice {
                    failed[j] = Some(e.clone());
                }
            }
        }
        start = end;
    }
    encoded
        .into_iter()
        .enumerate()
        .map(|(j, encs)| {
            let encs = encs?;
            if let Some(e) = failed[j].take() {
                return Err(e);
            }
            let tokens = encs.iter().map(|e| e.get_ids().len()).sum();
            stats.texts.fetch_add(encs.len() as u64, Ordering::Relaxed);
            let outputs = std::mem::take(&mut outputs[j])
                .into_iter()
                .map(|v| {
                    v.ok_or_else(|| {
                        EncoderError::Model("an input was not run (this is a bug)".into())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Batched { outputs, tokens })
        })
        .collect()
}
