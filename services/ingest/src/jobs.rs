//! Ingest jobs run by the server: queued in the registry's `ingest_jobs`
//! table, claimed by any ingest node under a lease it renews while it
//! works, observable while they run, cancellable from any node.
//!
//! Why a lease: a node that dies mid-job (a crash, `kill -9`, a lost host)
//! cannot say so. Its job stays `running` with a lease that is no longer
//! renewed; once that runs out, the next node looking for work claims it
//! and runs it again. The pipeline makes that safe: files whose documents
//! were committed are unchanged and skipped, a file written but not
//! committed is cleared and written again (never indexed twice), and the
//! old worker, should it come back, finds its lease taken and stops
//! without writing its state over the new worker's. Each node runs one job
//! at a time.

use crate::sync::{Event, FileIssue, JobSpec, Pipeline, Progress, Summary};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use zhishu_store::{ClaimedJob, JobProgress, JobRecord, JobStatus, Lease, StoreError};

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
    /// Seconds spent on OCR so far, summed over the parsing workers: with
    /// `ocr_pages`, what scans cost this job.
    pub ocr_seconds: f64,
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
    /// Set when another node took the job over (this node's lease ran
    /// out): the job stops and records nothing more.
    lost: std::sync::atomic::AtomicBool,
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
            ocr_seconds: p.ocr_micros.load(Ordering::Relaxed) as f64 / 1e6,
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

/// How a node takes jobs from the shared queue.
#[derive(Debug, Clone)]
pub struct Worker {
    /// This process's name in the queue: unique among the nodes running
    /// at once (host, listen address and process id).
    pub name: String,
    /// How long a claim holds without renewal: a dead node's job is
    /// resumed elsewhere this long after its last renewal
    /// (`ingest.job_lease_secs`). Renewed every third of it.
    pub lease: Duration,
    /// How often an idle node looks for work (a submission on this node
    /// wakes it at once).
    pub poll: Duration,
}

impl Worker {
    /// A worker named `node` (with this process's id) holding claims for
    /// `lease`.
    pub fn new(node: &str, lease: Duration) -> Self {
        Self {
            name: format!("{node}#{}", std::process::id()),
            lease,
            poll: Duration::from_secs(2).min(lease / 2),
        }
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Takes jobs from the registry's queue and runs them, one at a time, on
/// one pipeline.
pub struct JobManager {
    pipeline: Pipeline,
    runner: tokio::sync::Mutex<()>,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    worker: Worker,
    wake: tokio::sync::Notify,
    /// Set by [`JobManager::stop`]: no more claims.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl JobManager {
    /// A manager for this pipeline, taking jobs as `worker`. Nothing runs
    /// until [`JobManager::start`].
    pub fn new(pipeline: Pipeline, worker: Worker) -> Arc<Self> {
        Arc::new(Self {
            pipeline,
            runner: tokio::sync::Mutex::new(()),
            jobs: Mutex::new(HashMap::new()),
            worker,
            wake: tokio::sync::Notify::new(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Stops taking jobs (the server is shutting down): a claim in flight
    /// is abandoned, so a database that does not answer cannot hold the
    /// shutdown up. A job running here is left to its lease: another node
    /// resumes it.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Starts looking for jobs on `runtime`: claims one when there is one
    /// (queued, or left by a node whose lease ran out), runs it, looks
    /// again.
    pub fn start(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        let me = self.clone();
        runtime.spawn(async move { me.work().await });
    }

    /// This node's name in the queue.
    pub fn worker(&self) -> &str {
        &self.worker.name
    }

    async fn work(self: Arc<Self>) {
        let registry = self.pipeline.stores.registry.clone();
        let mut stopping = self.stopping.subscribe();
        loop {
            if *stopping.borrow_and_update() {
                return;
            }
            let claim = registry.claim_job(&self.worker.name, self.worker.lease_ms());
            let claimed = tokio::select! {
                c = claim => c,
                _ = stopping.changed() => return,
            };
            match claimed {
                Ok(Some(claimed)) => {
                    self.run_claimed(claimed).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot look for ingest jobs"),
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.worker.poll) => {}
                _ = stopping.changed() => return,
            }
        }
    }

    /// Runs a job this node claimed.
    async fn run_claimed(self: &Arc<Self>, claimed: ClaimedJob) {
        let ClaimedJob { record, spec } = claimed;
        let spec: JobSpec = match serde_json::from_str(&spec) {
            Ok(spec) => spec,
            Err(e) => {
                let error = format!("the job's recorded spec cannot be read: {e}");
                let p = JobProgress::default();
                let registry = &self.pipeline.stores.registry;
                let saved = registry
                    .update_job(
                        &record.id,
                        Some(&self.worker.name),
                        JobStatus::Failed,
                        &p,
                        Some(&error),
                    )
                    .await;
                if let Err(e) = saved {
                    tracing::warn!(job = %record.id, error = %e, "cannot record the job's failure");
                }
                return;
            }
        };
        if record.attempts > 1 {
            tracing::info!(job = %record.id, attempt = record.attempts, "resuming an ingest job another node left");
        }
        let (events, _) = broadcast::channel(1024);
        let job = Arc::new(Job {
            id: record.id.clone(),
            spec,
            created_by: record.created_by.clone(),
            progress: Arc::new(Progress::default()),
            lost: std::sync::atomic::AtomicBool::new(false),
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
        self.clone().execute(job).await;
    }

    /// The pipeline (and its stores).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// A job this process runs or ran (not one it lost to another node:
    /// that node's record is the job's state).
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .filter(|j| !j.lost.load(Ordering::Relaxed))
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

    /// Queues a job for any ingest node (this one is woken at once); it
    /// starts when a node is free.
    ///
    /// # Errors
    /// When the registry cannot record it.
    pub async fn submit(&self, spec: JobSpec, created_by: &str) -> Result<JobRecord, StoreError> {
        let roots: Vec<String> = spec.paths.iter().map(|p| p.display().to_string()).collect();
        let json = serde_json::to_string(&spec)
            .map_err(|e| StoreError::Corrupt(format!("an ingest job's spec: {e}")))?;
        let record = self
            .pipeline
            .stores
            .registry
            .enqueue_job(
                &roots.join("\n"),
                &spec.collection,
                &spec.access_groups,
                created_by,
                &json,
            )
            .await?;
        self.wake.notify_one();
        Ok(record)
    }

    /// Asks a job to stop: at once when it runs here, otherwise through the
    /// registry (a queued job never starts; a running one stops at its
    /// worker's next renewal). Returns the job's record and whether it was
    /// still going.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    pub async fn cancel(&self, id: &str) -> Result<(JobRecord, bool), StoreError> {
        let before = self.record(id).await?;
        // Recorded first, so that the request survives this node: should
        // it die before the job stops, the next node does not resume it.
        let after = self.pipeline.stores.registry.request_cancel(id).await?;
        if let Some(job) = self.get(id) {
            job.cancel();
        }
        Ok((after, !before.status.is_terminal()))
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
            .update_job(
                &job.id,
                Some(&self.worker.name),
                v.status,
                &progress,
                v.error.as_deref(),
            )
            .await
        {
            tracing::warn!(job = %job.id, error = %e, "cannot record the job's progress");
        }
    }

    /// Renews the job's lease every third of it while it runs; stops the
    /// job when a user asked it to stop, or when the lease was lost
    /// (another node took the job over: this one must stop writing).
    fn heartbeat(self: &Arc<Self>, job: &Arc<Job>) -> tokio::task::JoinHandle<()> {
        let (me, job) = (self.clone(), job.clone());
        tokio::spawn(async move {
            let every = me.worker.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let renewed = me
                    .pipeline
                    .stores
                    .registry
                    .renew_job(&job.id, &me.worker.name, me.worker.lease_ms())
                    .await;
                match renewed {
                    Ok(Lease::Held { cancel: false }) => {}
                    Ok(Lease::Held { cancel: true }) => {
                        job.cancel();
                    }
                    Ok(Lease::Lost) => {
                        tracing::warn!(job = %job.id, "lost the job's lease to another node; stopping");
                        job.lost.store(true, Ordering::Relaxed);
                        job.cancel();
                        return;
                    }
                    // The database is away: keep working; the lease runs
                    // out if it stays away, and the next renewal says so.
                    Err(e) => {
                        tracing::warn!(job = %job.id, error = %e, "cannot renew the job's lease")
                    }
                }
            }
        })
    }

    async fn execute(self: Arc<Self>, job: Arc<Job>) {
        let _turn = self.runner.lock().await;
        if job.status() == JobStatus::Cancelled {
            self.save(&job).await;
            return;
        }
        job.set(JobStatus::Running, None, None);
        self.save(&job).await;
        let heartbeat = self.heartbeat(&job);
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
        heartbeat.abort();
        if job.lost.load(Ordering::Relaxed) {
            // Another node runs it now; its record is that node's to keep.
            job.set(
                JobStatus::Cancelled,
                Some("taken over by another ingest node".into()),
                None,
            );
            job.record(Event::Finished {
                status: JobStatus::Cancelled,
                summary: None,
            });
            return;
        }
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
