//! The audit chain's rows. Append and read only: there is no update or
//! delete here, and the schema's triggers refuse them anyway.

use crate::{AuditRecord, SqlStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

macro_rules! columns {
    () => {
        "seq, id, occurred_at, actor, action, outcome, client_addr, payload, prev_hash, hash"
    };
}

fn audit(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let payload: String = row.try_get("payload")?;
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        client_addr: row.try_get("client_addr")?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("audit payload: {e}")))?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

impl SqlStore {
    pub(crate) async fn append_audit_impl(&self, r: &AuditRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(r.seq)
        .bind(&r.id)
        .bind(r.occurred_at)
        .bind(&r.actor)
        .bind(&r.action)
        .bind(&r.outcome)
        .bind(r.client_addr.as_deref())
        .bind(r.payload.to_string())
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn last_audit_impl(&self) -> Result<Option<AuditRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events ORDER BY seq DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audit).transpose()
    }

    pub(crate) async fn audit_after_impl(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit).collect()
    }
}
