//! Ingest jobs run by the server: queued one at a time (the lexical index
//! has one writer), observable while they run, cancellable, and recorded
//! in the registry's `ingest_jobs` table.

use crate::sync::{Event, FileIssue, JobSpec, Pipeline, Progress, Summary};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use zhishu_store::{JobProgress, JobRecord, JobStatus, StoreError};

/// Per-file errors kept for a job's status.
const MAX_ERRORS: usize = 1000;
/// Events kept for late subscribers.
const MAX_HISTORY: usize = 10_000;

/// A job's state, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// queued, running, succeeded, failed or cancelled.
    pub status: JobStatus,
    /// What it ingests.
    pub paths: Vec<String>,
    /// Target collection.
    pub collection: String,
    /// Access groups of its documents.
    pub access_groups: Vec<String>,
    /// Who started it.
    pub created_by: String,
    /// Files found.
    pub files_total: u64,
    /// Files indexed.
    pub files_done: u64,
    /// Files left alone (unchanged, unsupported, too large).
    pub files_skipped: u64,
    /// Files failed.
    pub files_failed: u64,
    /// Documents removed.
    pub files_deleted: u64,
    /// Chunks written.
    pub chunks: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Pages recognised with OCR so far.
    pub ocr_pages: u64,
    /// Files handled per second so far.
    pub files_per_second: f64,
    /// Seconds to go at the current rate, when known.
    pub eta_seconds: Option<f64>,
    /// Per-file errors (first 1000).
    pub errors: Vec<FileIssue>,
    /// Job-level error.
    pub error: Option<String>,
    /// The summary, once finished.
    pub summary: Option<Summary>,
}

struct State {
    status: JobStatus,
    error: Option<String>,
    summary: Option<Summary>,
    errors: Vec<FileIssue>,
    history: Vec<Event>,
    started: Option<Instant>,
}

/// One job.
pub struct Job {
    /// Job id (the registry's).
    pub id: String,
    /// What it ingests.
    pub spec: JobSpec,
    /// Who started it.
    pub created_by: String,
    /// Live counters (and the cancel flag).
    pub progress: Arc<Progress>,
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

impl Job {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The job's state now.
    pub fn view(&self) -> JobView {
        let s = self.lock();
        let p = &self.progress;
        let total = p.files_total.load(Ordering::Relaxed);
        let handled = p.files_done.load(Ordering::Relaxed)
            + p.files_skipped.load(Ordering::Relaxed)
            + p.files_failed.load(Ordering::Relaxed);
        let secs = s.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let rate = if secs > 0.0 {
            handled as f64 / secs
        } else {
            0.0
        };
        let eta = (s.status == JobStatus::Running && rate > 0.0 && total >= handled)
            .then(|| (total - handled) as f64 / rate);
        JobView {
            id: self.id.clone(),
            status: s.status,
            paths: self
                .spec
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            collection: self.spec.collection.clone(),
            access_groups: self.spec.access_groups.clone(),
            created_by: self.created_by.clone(),
            files_total: total,
            files_done: p.files_done.load(Ordering::Relaxed),
            files_skipped: p.files_skipped.load(Ordering::Relaxed),
            files_failed: p.files_failed.load(Ordering::Relaxed),
            files_deleted: p.deleted.load(Ordering::Relaxed),
            chunks: p.chunks.load(Ordering::Relaxed),
            bytes: p.bytes.load(Ordering::Relaxed),
            ocr_pages: p.ocr_pages.load(Ordering::Relaxed),
            files_per_second: rate,
            eta_seconds: eta,
            errors: s.errors.clone(),
            error: s.error.clone(),
            summary: s.summary.clone(),
        }
    }

    /// The events so far and a receiver for the rest; `None` for the
    /// receiver when the job has already finished.
    pub fn subscribe(&self) -> (Vec<Event>, Option<broadcast::Receiver<Event>>) {
        let s = self.lock();
        let rx = (!s.status.is_terminal()).then(|| self.events.subscribe());
        (s.history.clone(), rx)
    }

    /// Asks the job to stop after the files in flight. Returns false when
    /// it had already finished.
    pub fn cancel(&self) -> bool {
        let mut s = self.lock();
        if s.status.is_terminal() {
            return false;
        }
        self.progress.cancel.store(true, Ordering::Relaxed);
        if s.status == JobStatus::Queued {
            s.status = JobStatus::Cancelled;
        }
        true
    }

    fn record(&self, event: Event) {
        let mut s = self.lock();
        if let Event::Failed { path, error } = &event
            && s.errors.len() < MAX_ERRORS
        {
            s.errors.push(FileIssue {
                path: path.clone(),
                reason: error.clone(),
            });
        }
        if s.history.len() < MAX_HISTORY {
            s.history.push(event.clone());
        }
        let _ = self.events.send(event);
    }

    fn set(&self, status: JobStatus, error: Option<String>, summary: Option<Summary>) {
        let mut s = self.lock();
        if status == JobStatus::Running {
            s.started = Some(Instant::now());
        }
        s.status = status;
        s.error = error;
        if summary.is_some() {
            s.summary = summary;
        }
    }

    fn status(&self) -> JobStatus {
        self.lock().status
    }
}

/// Runs jobs one after another on one pipeline.
pub struct JobManager {
    pipeline: Pipeline,
    runner: tokio::sync::Mutex<()>,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

impl JobManager {
    /// A manager for this pipeline.
    pub fn new(pipeline: Pipeline) -> Arc<Self> {
        Arc::new(Self {
            pipeline,
            runner: tokio::sync::Mutex::new(()),
            jobs: Mutex::new(HashMap::new()),
        })
    }

    /// The pipeline (and its stores).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// A job started by this process.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Deletes a document from every store, then from the registry.
    ///
    /// # Errors
    /// When a store or the registry fails.
    pub async fn delete_document(&self, id: &str) -> Result<(), crate::sync::SyncError> {
        let stores = &self.pipeline.stores;
        crate::sync::remove_from_stores(stores, &[id.to_owned()]).await?;
        stores.registry.delete_document(id).await?;
        Ok(())
    }

    /// A job's record in the registry (also for jobs of earlier processes).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn record(&self, id: &str) -> Result<JobRecord, StoreError> {
        self.pipeline.stores.registry.job(id).await
    }

    /// Queues a job; it starts when the jobs before it have finished.
    ///
    /// # Errors
    /// When the registry cannot record it.
    pub async fn submit(
        self: &Arc<Self>,
        spec: JobSpec,
        created_by: &str,
    ) -> Result<Arc<Job>, StoreError> {
        let roots: Vec<String> = spec.paths.iter().map(|p| p.display().to_string()).collect();
        let record = self
            .pipeline
            .stores
            .registry
            .create_job(
                &roots.join("\n"),
                &spec.collection,
                &spec.access_groups,
                created_by,
            )
            .await?;
        let (events, _) = broadcast::channel(1024);
        let job = Arc::new(Job {
            id: record.id.clone(),
            spec,
            created_by: created_by.to_owned(),
            progress: Arc::new(Progress::default()),
            state: Mutex::new(State {
                status: JobStatus::Queued,
                error: None,
                summary: None,
                errors: Vec::new(),
                history: Vec::new(),
                started: None,
            }),
            events,
        });
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job.id.clone(), job.clone());
        let me = self.clone();
        let j = job.clone();
        tokio::spawn(async move { me.execute(j).await });
        Ok(job)
    }

    async fn save(&self, job: &Job) {
        let v = job.view();
        let progress = JobProgress {
            files_total: v.files_total as i64,
            files_done: v.files_done as i64,
            files_failed: v.files_failed as i64,
            files_skipped: v.files_skipped as i64,
            chunks_written: v.chunks as i64,
        };
        if let Err(e) = self
            .pipeline
            .stores
            .registry
            .update_job(&job.id, v.status, &progress, v.error.as_deref())
            .await
        {
            tracing::warn!(job = %job.id, error = %e, "cannot record the job's progress");
        }
    }

    async fn execute(self: Arc<Self>, job: Arc<Job>) {
        let _turn = self.runner.lock().await;
        if job.status() == JobStatus::Cancelled {
            self.save(&job).await;
            return;
        }
        job.set(JobStatus::Running, None, None);
        self.save(&job).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let forward = {
            let job = job.clone();
            let me = self.clone();
            tokio::spawn(async move {
                let mut saved = Instant::now();
                while let Some(e) = rx.recv().await {
                    job.record(e);
                    if saved.elapsed() > Duration::from_secs(1) {
                        me.save(&job).await;
                        saved = Instant::now();
                    }
                }
            })
        };
        let result = self
            .pipeline
            .run(&job.spec, job.progress.clone(), Some(tx))
            .await;
        let _ = forward.await;
        let (status, error, summary) = match result {
            Ok(s) if s.cancelled => (JobStatus::Cancelled, None, Some(s)),
            Ok(s) => (JobStatus::Succeeded, None, Some(s)),
            Err(e) => (JobStatus::Failed, Some(e.to_string()), None),
        };
        job.set(status, error, summary.clone());
        job.record(Event::Finished { status, summary });
        self.save(&job).await;
    }
}
