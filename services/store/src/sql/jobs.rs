//! Ingest jobs.

use super::{enum_col, enum_text, found, json_col, new_id, to_json};
use crate::{JobProgress, JobRecord, JobStatus, SqlStore, StoreError, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! columns {
    () => {
        "id, root_path, collection, access_groups, status, created_by, files_total, files_done, \
     files_failed, files_skipped, chunks_written, error, created_at, started_at, finished_at"
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
    })
}

impl SqlStore {
    pub(crate) async fn create_job_impl(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
    ) -> Result<JobRecord, StoreError> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO ingest_jobs (id, root_path, collection, access_groups, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(root_path)
        .bind(collection)
        .bind(to_json(&access_groups)?)
        .bind(enum_text(&JobStatus::Queued)?)
        .bind(created_by)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.job_impl(&id).await
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
        status: JobStatus,
        p: &JobProgress,
        error: Option<&str>,
    ) -> Result<JobRecord, StoreError> {
        let now = now_ms();
        let started = (status == JobStatus::Running).then_some(now);
        let finished = status.is_terminal().then_some(now);
        let done = sqlx::query(
            "UPDATE ingest_jobs SET status = $1, files_total = $2, files_done = $3, files_failed = $4, \
             files_skipped = $5, chunks_written = $6, error = $7, \
             started_at = COALESCE(started_at, $8), finished_at = COALESCE(finished_at, $9) WHERE id = $10",
        )
        .bind(enum_text(&status)?)
        .bind(p.files_total)
        .bind(p.files_done)
        .bind(p.files_failed)
        .bind(p.files_skipped)
        .bind(p.chunks_written)
        .bind(error)
        .bind(started)
        .bind(finished)
        .bind(id)
        .execute(&self.pool)
        .await?;
        found((done.rows_affected() > 0).then_some(()), "ingest job", id)?;
        self.job_impl(id).await
    }
}
