//! Keeping the stores in step with folders: the ingestion pipeline.
//!
//! Four stages joined by bounded channels, so memory stays flat whatever
//! the size of the folder:
//!
//! 1. **scan** (async): walks the paths, refuses oversize and unsupported
//!    files, hashes each file and asks the registry whether it changed;
//! 2. **parse** (one blocking thread): parses and chunks;
//! 3. **embed**: sends the passages to the shared encoder worker;
//! 4. **write**: upserts into the vector and lexical stores, drops the
//!    document's other versions, and commits in batches; only after a
//!    commit are the documents marked `indexed` in the registry.
//!
//! Why this order makes a killed job safe to re-run: the registry records a
//! new version (status `pending`) *before* any store is touched, and says
//! `indexed` only *after* both stores committed. A re-run therefore finds
//! every half-written document still `pending` and rewrites it: chunk ids
//! are deterministic, so the rewrite overwrites rather than duplicates, and
//! deleting "every version but the current one" removes what an earlier
//! version left. Deletions go stores first, registry last, for the same
//! reason.

use crate::chunk::{ChunkConfig, TokenCounter};
use crate::stages::{
    Candidate, Chunked, Embedded, Outcome, embed_stage, parse_stage, scan, write_stage,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;
use zhishu_encoders::EncoderWorker;
use zhishu_retrieval::{Lexical, RetrievalError, VectorIndex};
use zhishu_store::{IngestStore, StoreError};

/// Errors that stop a whole job (per-file problems are reported, not
/// raised).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A store failed.
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    /// The registry failed.
    #[error("document registry: {0}")]
    Registry(#[from] StoreError),
    /// The encoder failed.
    #[error("embedding: {0}")]
    Encoder(#[from] zhishu_encoders::EncoderError),
    /// A path given to the job does not exist.
    #[error("{0}: no such file or folder")]
    NotFound(String),
}

/// Everything a job writes to.
#[derive(Clone)]
pub struct Stores {
    /// The vector store.
    pub vectors: Arc<dyn VectorIndex>,
    /// The lexical index (nothing to write when BM25 lives in the vector
    /// store: its upserts carry the BM25 vectors).
    pub lexical: Lexical,
    /// The document registry.
    pub registry: Arc<dyn IngestStore>,
}

/// How files become chunks.
#[derive(Clone)]
pub struct Pipeline {
    /// Where chunks go.
    pub stores: Stores,
    /// The embedding model's worker.
    pub encoder: EncoderWorker,
    /// The embedding model's tokenizer, for the chunk budget.
    pub embed_tokens: Arc<TokenCounter>,
    /// Qwen3's tokenizer, for the counts prompt assembly uses.
    pub qwen_tokens: Arc<TokenCounter>,
    /// Chunk budget.
    pub chunking: ChunkConfig,
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Reads files: the PDF and OCR engines and the per-file limits.
    pub reader: Arc<crate::parse::Reader>,
    /// Points written between two checkpoints of the vector store
    /// ([`VectorIndex::checkpoint`]); 0 leaves it to the end of the job.
    /// Usually [`DEFAULT_CHECKPOINT_POINTS`].
    pub checkpoint_points: usize,
    /// The document guard: each chunk is checked at ingestion (a `block`
    /// refuses the document, a `redact` masks before indexing, a `flag` is
    /// noted on the document). `None`: nothing is checked.
    pub guard: Option<Arc<zhishu_guard::Guard>>,
    /// Whether each chunk's token vectors are packed and kept in the
    /// lexical index from the embedding pass
    /// ([`zhishu_retrieval::HybridSearcher::wants_token_vectors`]), so late interaction
    /// scores it without a forward pass.
    pub keep_token_vectors: bool,
}

/// Points between checkpoints: bounds what the embedded vector store holds
/// on the heap for a job's recent writes (about 0.8 KB a point in its
/// appendable segment, so about 40 MB) while the HNSW builds and merges
/// the checkpoints cause stay a small share of the job (measured in
/// docs/benchmarks.md: every 25,000 points cost 2.5× the index time of
/// one build at the end, every 50,000 1.6×).
pub const DEFAULT_CHECKPOINT_POINTS: usize = 50_000;

/// What to ingest.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct JobSpec {
    /// Files and folders.
    pub paths: Vec<PathBuf>,
    /// Collection the documents join.
    pub collection: String,
    /// Groups allowed to read them.
    pub access_groups: Vec<String>,
    /// Descend into sub-folders.
    pub recursive: bool,
    /// Remove documents of this collection under the given folders whose
    /// files are gone.
    pub sync_deletes: bool,
}

/// A progress event.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The scan found this many candidate files.
    Scanned {
        /// Files found.
        files: u64,
    },
    /// A file was indexed.
    Indexed {
        /// Its path.
        path: String,
        /// Chunks written.
        chunks: u64,
    },
    /// A file was left alone.
    Skipped {
        /// Its path.
        path: String,
        /// Why (unchanged, unsupported type, too large).
        reason: String,
    },
    /// A file failed.
    Failed {
        /// Its path.
        path: String,
        /// Why.
        error: String,
    },
    /// A document whose file is gone was removed.
    Deleted {
        /// Its path.
        path: String,
    },
    /// The job ended (sent by [`crate::jobs`], last).
    Finished {
        /// How it ended.
        status: zhishu_store::JobStatus,
        /// What it did, unless it failed.
        summary: Option<Summary>,
    },
}

/// Live counters of a job.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files found.
    pub files_total: AtomicU64,
    /// Files indexed.
    pub files_done: AtomicU64,
    /// Files left alone.
    pub files_skipped: AtomicU64,
    /// Files failed.
    pub files_failed: AtomicU64,
    /// Documents removed.
    pub deleted: AtomicU64,
    /// Chunks written.
    pub chunks: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Pages recognised with OCR (scanned PDF pages, image pages).
    pub ocr_pages: AtomicU64,
    /// Microseconds spent on OCR, summed over the parsing workers.
    pub ocr_micros: AtomicU64,
    /// Set to stop the job after the current files; what is written stays
    /// consistent.
    pub cancel: AtomicBool,
    /// Busy time of each stage, in nanoseconds.
    pub stage_ns: StageTimes,
}

/// Busy time per pipeline stage (time spent working, not waiting on a
/// channel), in nanoseconds.
#[derive(Debug, Default)]
pub struct StageTimes {
    /// Listing, reading, hashing, registry checks.
    pub scan: AtomicU64,
    /// Parsing and chunking.
    pub parse: AtomicU64,
    /// Embedding.
    pub embed: AtomicU64,
    /// Writing and committing the stores and the registry.
    pub write: AtomicU64,
    /// Building the vector index: the checkpoints that keep the store's
    /// growing segment small during the job, and the optimisation at its
    /// end.
    pub index: AtomicU64,
}

pub(crate) fn add_time(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

/// A per-file problem.
#[derive(Debug, Clone, Serialize)]
pub struct FileIssue {
    /// The file.
    pub path: String,
    /// What happened.
    pub reason: String,
}

/// The outcome of a job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Files found.
    pub files_total: u64,
    /// Files indexed.
    pub indexed: u64,
    /// Files left unchanged.
    pub unchanged: u64,
    /// Files skipped, with reasons.
    pub skipped: Vec<FileIssue>,
    /// Files failed, with reasons.
    pub failed: Vec<FileIssue>,
    /// Documents removed because their files are gone.
    pub deleted: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// True when the job was cancelled.
    pub cancelled: bool,
    /// Busy seconds per stage: scan, parse, embed, write.
    pub stage_seconds: [f64; 4],
    /// Seconds spent building the vector index (checkpoints during the
    /// job and the optimisation at its end), part of the wall time.
    pub index_seconds: f64,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Pipeline {
    /// Runs a job to the end (or until cancelled), sending events as it
    /// goes. Per-file problems are in the summary; an `Err` means a store
    /// failed and the job stopped (what was committed stays consistent).
    ///
    /// # Errors
    /// [`SyncError`] when a store, the registry or the encoder fails.
    pub async fn run(
        &self,
        spec: &JobSpec,
        progress: Arc<Progress>,
        events: Option<mpsc::UnboundedSender<Event>>,
    ) -> Result<Summary, SyncError> {
        let started = Instant::now();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Outcome>();
        let (cand_tx, cand_rx) = mpsc::channel::<Candidate>(4);
        let (chunk_tx, chunk_rx) = mpsc::channel::<Chunked>(4);
        let (emb_tx, emb_rx) = mpsc::channel::<Embedded>(4);

        for p in &spec.paths {
            if !p.exists() {
                return Err(SyncError::NotFound(p.display().to_string()));
            }
        }
        // A store that would refuse the first write (another embedder, a
        // server that does not answer) refuses the job now, even when no
        // file changed.
        self.stores.vectors.prepare().await?;
        let scan = tokio::spawn(scan(
            self.clone(),
            spec.clone(),
            progress.clone(),
            cand_tx,
            out_tx.clone(),
        ));
        let parse = {
            let me = self.clone();
            let spec = spec.clone();
            let out = out_tx.clone();
            let progress = progress.clone();
            tokio::task::spawn_blocking(move || {
                parse_stage(&me, &spec, cand_rx, chunk_tx, &out, &progress)
            })
        };
        let embed = tokio::spawn(embed_stage(
            self.encoder.clone(),
            self.keep_token_vectors,
            chunk_rx,
            emb_tx,
            progress.clone(),
        ));
        let write = tokio::spawn(write_stage(
            self.stores.clone(),
            emb_rx,
            out_tx.clone(),
            progress.clone(),
            self.checkpoint_points,
        ));
        drop(out_tx);

        let mut summary = Summary::default();
        let forward = async {
            while let Some(o) = out_rx.recv().await {
                match o {
                    Outcome::Unchanged => summary.unchanged += 1,
                    Outcome::Event(e) => {
                        match &e {
                            Event::Indexed { .. } => summary.indexed += 1,
                            Event::Skipped { path, reason } => summary.skipped.push(FileIssue {
                                path: path.clone(),
                                reason: reason.clone(),
                            }),
                            Event::Failed { path, error } => summary.failed.push(FileIssue {
                                path: path.clone(),
                                reason: error.clone(),
                            }),
                            Event::Deleted { .. }
                            | Event::Scanned { .. }
                            | Event::Finished { .. } => {}
                        }
                        if let Some(tx) = &events {
                            let _ = tx.send(e);
                        }
                    }
                }
            }
        };
        forward.await;
        let join = |r: Result<Result<(), SyncError>, tokio::task::JoinError>| {
            r.map_err(|e| {
                SyncError::Retrieval(RetrievalError::Vector(format!(
                    "a pipeline stage failed: {e}"
                )))
            })?
        };
        join(scan.await)?;
        join(parse.await)?;
        join(embed.await)?;
        join(write.await)?;

        if progress.chunks.load(Ordering::Relaxed) > 0 {
            // Build the HNSW graph over what was added (Edge has no
            // background optimiser; small collections stay exact).
            let busy = Instant::now();
            self.stores.vectors.optimize().await?;
            add_time(&progress.stage_ns.index, busy);
        }
        if spec.sync_deletes && !progress.cancel.load(Ordering::Relaxed) {
            self.delete_missing(spec, &progress, events.as_ref())
                .await?;
        }
        summary.files_total = progress.files_total.load(Ordering::Relaxed);
        summary.deleted = progress.deleted.load(Ordering::Relaxed);
        summary.chunks = progress.chunks.load(Ordering::Relaxed);
        summary.bytes = progress.bytes.load(Ordering::Relaxed);
        summary.cancelled = progress.cancel.load(Ordering::Relaxed);
        summary.seconds = started.elapsed().as_secs_f64();
        let t = &progress.stage_ns;
        summary.stage_seconds =
            [&t.scan, &t.parse, &t.embed, &t.write].map(|c| c.load(Ordering::Relaxed) as f64 / 1e9);
        summary.index_seconds = t.index.load(Ordering::Relaxed) as f64 / 1e9;
        Ok(summary)
    }

    /// Removes documents of the collection under the job's folders whose
    /// files no longer exist: stores first, then the registry.
    async fn delete_missing(
        &self,
        spec: &JobSpec,
        progress: &Progress,
        events: Option<&mpsc::UnboundedSender<Event>>,
    ) -> Result<(), SyncError> {
        let roots: Vec<String> = spec
            .paths
            .iter()
            .map(|p| absolute(p).display().to_string())
            .collect();
        let mut gone = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .stores
                .registry
                .list_documents(Some(&spec.collection), 500, offset)
                .await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            for d in page {
                let under = roots.iter().any(|r| {
                    d.source_path == *r
                        || d.source_path
                            .starts_with(&format!("{}/", r.trim_end_matches('/')))
                });
                if under && !Path::new(&d.source_path).exists() {
                    gone.push(d);
                }
            }
        }
        if gone.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = gone.iter().map(|d| d.id.clone()).collect();
        remove_from_stores(&self.stores, &ids).await?;
        for d in gone {
            self.stores.registry.delete_document(&d.id).await?;
            progress.deleted.fetch_add(1, Ordering::Relaxed);
            if let Some(tx) = events {
                let _ = tx.send(Event::Deleted {
                    path: d.source_path,
                });
            }
        }
        Ok(())
    }
}

/// Removes documents from both stores and commits them; the registry
/// rows are the caller's to delete afterwards (stores first, so a crash in
/// between leaves a registry row that the next run removes again, never an
/// orphan chunk).
///
/// # Errors
/// When a store fails.
pub async fn remove_from_stores(stores: &Stores, ids: &[String]) -> Result<(), SyncError> {
    for id in ids {
        stores.vectors.delete_document(id, None).await?;
        let lexical = stores.lexical.clone();
        let id = id.clone();
        blocking(move || lexical.delete_document(&id, None)).await?;
    }
    commit(stores).await
}

/// An absolute path without `.`/`..` (and with symlinks resolved when it
/// exists), so the same file always has the same document id.
pub fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RetrievalError> + Send + 'static,
) -> Result<T, RetrievalError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RetrievalError::Lexical(format!("index task failed: {e}")))?
}

pub(crate) async fn commit(stores: &Stores) -> Result<(), SyncError> {
    stores.vectors.commit().await?;
    let lexical = stores.lexical.clone();
    blocking(move || lexical.commit()).await?;
    Ok(())
}
