//! The encoder worker: one thread per model, dynamic batching by length.
//!
//! Every request (ingestion's passages, a query) goes through one bounded
//! queue to one thread that owns the model, so encoders never oversubscribe
//! the cores however many callers there are. The thread takes everything
//! queued, drops requests whose caller has gone, sorts the texts by token
//! length and cuts them into batches whose *padded* size (texts × longest)
//! stays under a token budget: short queries are not padded to the length of
//! a long passage, and one huge batch cannot exhaust memory.

use crate::{Embedder, EncoderError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

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
    /// Largest padded batch, in tokens (texts × longest text). Default 16384.
    pub max_batch_tokens: usize,
    /// Requests that may wait; beyond, callers wait. Default 1024.
    pub queue: usize,
    /// Prepended to queries (e.g. `query: ` for e5). Default empty.
    pub query_prefix: String,
    /// Prepended to passages (e.g. `passage: ` for e5). Default empty.
    pub passage_prefix: String,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_batch_tokens: 16_384,
            queue: 1024,
            query_prefix: String::new(),
            passage_prefix: String::new(),
        }
    }
}

/// Counters, for metrics.
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Texts embedded.
    pub texts: AtomicU64,
    /// Texts cut at the model's limit.
    pub truncated: AtomicU64,
    /// Batches run.
    pub batches: AtomicU64,
    /// Tokens run, padding included.
    pub padded_tokens: AtomicU64,
    /// Tokens run, padding excluded.
    pub real_tokens: AtomicU64,
}

/// Vectors for one request.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// One unit vector per input text, in order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens the model read (after truncation).
    pub tokens: usize,
}

struct Job {
    texts: Vec<String>,
    kind: TextKind,
    reply: oneshot::Sender<Result<Embedded, EncoderError>>,
}

/// Handle to a running worker. Cheap to clone.
#[derive(Clone)]
pub struct EncoderWorker {
    tx: mpsc::Sender<Job>,
    stats: Arc<WorkerStats>,
    name: Arc<str>,
    max_tokens: usize,
}

impl EncoderWorker {
    /// Starts the worker thread, which owns the model until every handle is
    /// dropped.
    ///
    /// # Errors
    /// When the thread cannot be spawned.
    pub fn start(embedder: Embedder, config: WorkerConfig) -> Result<Self, EncoderError> {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let stats = Arc::new(WorkerStats::default());
        let name: Arc<str> = embedder.name().into();
        let max_tokens = embedder.max_tokens();
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name(format!("encoder-{name}"))
            .spawn(move || run(embedder, config, rx, &thread_stats))
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

    /// Embeds texts.
    ///
    /// # Errors
    /// [`EncoderError`] from the model, or [`EncoderError::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future withdraws the request: the worker skips texts
    /// whose caller has gone.
    pub async fn embed(
        &self,
        texts: Vec<String>,
        kind: TextKind,
    ) -> Result<Embedded, EncoderError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { texts, kind, reply })
            .await
            .map_err(|_| EncoderError::Closed)?;
        answer.await.map_err(|_| EncoderError::Closed)?
    }
}

fn run(embedder: Embedder, config: WorkerConfig, mut rx: mpsc::Receiver<Job>, stats: &WorkerStats) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while let Ok(job) = rx.try_recv() {
            jobs.push(job);
        }
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let results = serve(&embedder, &config, &jobs, stats);
        for (job, result) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// Embeds every job's texts in length-sorted, budgeted batches.
fn serve(
    embedder: &Embedder,
    config: &WorkerConfig,
    jobs: &[Job],
    stats: &WorkerStats,
) -> Vec<Result<Embedded, EncoderError>> {
    // Tokenise each job; a job whose texts fail to tokenise fails alone.
    let mut encoded: Vec<Result<Vec<tokenizers::Encoding>, EncoderError>> =
        Vec::with_capacity(jobs.len());
    for job in jobs {
        let prefix = match job.kind {
            TextKind::Query => &config.query_prefix,
            TextKind::Passage => &config.passage_prefix,
        };
        let texts: Vec<String> = job.texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        encoded.push(embedder.encode(&refs));
    }
    // (job, position, length) of every text, shortest first.
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
    let mut vectors: Vec<Vec<Option<Vec<f32>>>> = encoded
        .iter()
        .map(|e| e.as_ref().map_or(Vec::new(), |encs| vec![None; encs.len()]))
        .collect();
    let mut failed: Vec<Option<EncoderError>> = vec![None; jobs.len()];
    let mut start = 0;
    while start < order.len() {
        // Grow the batch while its padded size fits the budget (always at
        // least one text, however long).
        let mut end = start + 1;
        while end < order.len() && (end + 1 - start) * order[end].2 <= config.max_batch_tokens {
            end += 1;
        }
        let slice = &order[start..end];
        let batch: Vec<tokenizers::Encoding> = slice
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
        match embedder.embed_encodings(&batch) {
            Ok(out) => {
                for (&(j, i, _), v) in slice.iter().zip(out) {
                    vectors[j][i] = Some(v);
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
    jobs.iter()
        .enumerate()
        .map(|(j, _)| {
            let encs = match &encoded[j] {
                Ok(e) => e,
                Err(e) => return Err(e.clone()),
            };
            if let Some(e) = failed[j].take() {
                return Err(e);
            }
            let tokens = encs.iter().map(|e| e.get_ids().len()).sum();
            stats.texts.fetch_add(encs.len() as u64, Ordering::Relaxed);
            let vectors = std::mem::take(&mut vectors[j])
                .into_iter()
                .map(|v| {
                    v.ok_or_else(|| {
                        EncoderError::Model("a text was not embedded (this is a bug)".into())
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Embedded { vectors, tokens })
        })
        .collect()
}
