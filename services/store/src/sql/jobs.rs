//! Ingest jobs.

use super::{enum_col, enum_text, found, json_col, new_id, to_json};
use crate::{
    Backend, ClaimedJob, JobProgress, JobRecord, JobStatus, Lease, SqlStore, StoreError, now_ms,
};
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! columns {
    () => {
        "id, root_path, collection, access_groups, status, created_by, files_total, files_done, \
     files_failed, files_skipped, chunks_written, error, created_at, started_at, finished_at, \
     worker, lease_until, attempts, cancel_requested"
    };
}

fn job(row: &AnyRow) -> Result<JobRecord, StoreError> {
    Ok(JobRecord {
        id: row.try_get("id")?,
        root_path: row.try_get("root_path")?,
        collection: row.try_get("collection")?,
        access_groups: json_col(row, "access_groups")?,
        status: enum_col(row, "status")?,
        created_by: row.try_get("created_by")?,
        files_total: row.try_get("files_total")?,
        files_done: row.try_get("files_done")?,
        files_failed: row.try_get("files_failed")?,
        files_skipped: row.try_get("files_skipped")?,
        chunks_written: row.try_get("chunks_written")?,
        error: row.try_get("error")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        worker: row.try_get("worker")?,
        lease_until: row.try_get("lease_until")?,
        attempts: row.try_get("attempts")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
    })
}

/// Claims of one job before it is given up as failed.
const MAX_ATTEMPTS: i64 = 3;

impl SqlStore {
    pub(crate) async fn create_job_impl(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
    ) -> Result<JobRecord, StoreError> {
        self.insert_job(root_path, collection, access_groups, created_by, None)
            .await
    }

    pub(crate) async fn enqueue_job_impl(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
        spec: &str,
    ) -> Result<JobRecord, StoreError> {
        self.insert_job(root_path, collection, access_groups, created_by, Some(spec))
            .await
    }

    async fn insert_job(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
        spec: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO ingest_jobs (id, root_path, collection, access_groups, status, created_by, created_at, spec) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(root_path)
        .bind(collection)
        .bind(to_json(&access_groups)?)
        .bind(enum_text(&JobStatus::Queued)?)
        .bind(created_by)
        .bind(now_ms())
        .bind(spec)
        .execute(&self.pool)
        .await?;
        self.job_impl(&id).await
    }

    pub(crate) async fn claim_job_impl(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        // One clock for every node's leases: the database's.
        let now = self.clock_ms().await?;
        // PostgreSQL: the row lock of the inner SELECT is skipped by every
        // other node claiming at the same moment, so each takes a different
        // job without waiting. SQLite has one writer at a time: the UPDATE
        // is atomic as it is.
        // A job whose worker stopped after a user asked it to stop is
        // cancelled, not resumed; one whose workers stopped MAX_ATTEMPTS
        // times (a file that crashes the process, say) has failed, rather
        // than take every node down in turn and hold the queue up.
        sqlx::query(
            "UPDATE ingest_jobs SET status = $1, finished_at = $2 \
             WHERE status = $3 AND cancel_requested = 1 AND lease_until < $2",
        )
        .bind(enum_text(&JobStatus::Cancelled)?)
        .bind(now)
        .bind(enum_text(&JobStatus::Running)?)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE ingest_jobs SET status = $1, finished_at = $2, error = $3 \
             WHERE status = $4 AND lease_until < $2 AND attempts >= $5",
        )
        .bind(enum_text(&JobStatus::Failed)?)
        .bind(now)
        .bind(format!(
            "its workers stopped {MAX_ATTEMPTS} times before finishing it (see their logs); \
             run it again once the cause is fixed"
        ))
        .bind(enum_text(&JobStatus::Running)?)
        .bind(MAX_ATTEMPTS)
        .execute(&self.pool)
        .await?;
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE ingest_jobs SET status = $1, worker = $2, lease_until = $3, \
                     attempts = attempts + 1, started_at = COALESCE(started_at, $4) \
                     WHERE id = (SELECT id FROM ingest_jobs WHERE spec IS NOT NULL \
                     AND cancel_requested = 0 AND (status = $5 OR (status = $1 AND lease_until < $4)) \
                     ORDER BY created_at, id LIMIT 1",
                    $lock,
                    ") RETURNING id, spec"
                )
            };
        }
        let sql = match self.backend() {
            Backend::Postgres => claim!(" FOR UPDATE SKIP LOCKED"),
            Backend::Sqlite => claim!(""),
        };
        let row = sqlx::query(sql)
            .bind(enum_text(&JobStatus::Running)?)
            .bind(worker)
            .bind(now.saturating_add(lease_ms))
            .bind(now)
            .bind(enum_text(&JobStatus::Queued)?)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: String = row.try_get("id")?;
        let spec: String = row.try_get("spec")?;
        Ok(Some(ClaimedJob {
            record: self.job_impl(&id).await?,
            spec,
        }))
    }

    pub(crate) async fn renew_job_impl(
        &self,
        id: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Lease, StoreError> {
        let row = sqlx::query(
            "UPDATE ingest_jobs SET lease_until = $1 WHERE id = $2 AND worker = $3 AND status = $4 \
             RETURNING cancel_requested",
        )
        .bind(self.clock_ms().await?.saturating_add(lease_ms))
        .bind(id)
        .bind(worker)
        .bind(enum_text(&JobStatus::Running)?)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Lease::Held {
                cancel: r.try_get::<i64, _>("cancel_requested")? != 0,
            },
            None => Lease::Lost,
        })
    }

    pub(crate) async fn request_cancel_impl(&self, id: &str) -> Result<JobRecord, StoreError> {
        let now = now_ms();
        sqlx::query(
            "UPDATE ingest_jobs SET cancel_requested = 1, \
             status = CASE WHEN status = $1 THEN $2 ELSE status END, \
             finished_at = CASE WHEN status = $1 THEN $3 ELSE finished_at END \
             WHERE id = $4",
        )
        .bind(enum_text(&JobStatus::Queued)?)
        .bind(enum_text(&JobStatus::Cancelled)?)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.job_impl(id).await
    }

    pub(crate) async fn job_impl(&self, id: &str) -> Result<JobRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM ingest_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        job(&found(row, "ingest job", id)?)
    }

    pub(crate) async fn list_jobs_impl(&self, limit: i64) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM ingest_jobs ORDER BY created_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job).collect()
    }

    pub(crate) async fn update_job_impl(
        &self,
        id: &str,
        worker: Option<&str>,
        status: JobStatus,
        p: &JobProgress,
        error: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        // Display times only (nothing compares them across nodes), so the
        // node's clock: no round trip per progress update.
        let now = now_ms();
        let started = (status == JobStatus::Running).then_some(now);
        let finished = status.is_terminal().then_some(now);
        macro_rules! update {
            ($held:literal) => {
                concat!(
                    "UPDATE ingest_jobs SET status = $1, files_total = $2, files_done = $3, \
                     files_failed = $4, files_skipped = $5, chunks_written = $6, error = $7, \
                     started_at = COALESCE(started_at, $8), finished_at = COALESCE(finished_at, $9) \
                     WHERE id = $10",
                    $held
                )
            };
        }
        // A worker writes only while it holds the job: not after another
        // took it over, nor after it was ended for it (cancelled or given
        // up once its lease ran out).
        let sql = if worker.is_some() {
            update!(" AND worker = $11 AND status = $12")
        } else {
            update!("")
        };
        let mut query = sqlx::query(sql)
            .bind(enum_text(&status)?)
            .bind(p.files_total)
            .bind(p.files_done)
            .bind(p.files_failed)
            .bind(p.files_skipped)
            .bind(p.chunks_written)
            .bind(error)
            .bind(started)
            .bind(finished)
            .bind(id);
        if let Some(w) = worker {
            query = query.bind(w).bind(enum_text(&JobStatus::Running)?);
        }
        let done = query.execute(&self.pool).await?;
        found((done.rows_affected() > 0).then_some(()), "ingest job", id)?;
        self.job_impl(id).await
    }
}
