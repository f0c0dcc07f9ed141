//! The audit chain's rows. Append and read only: there is no update or
//! delete here, and the schema's triggers refuse them anyway.

use super::found;
use crate::{AuditAnchor, AuditFilter, AuditRecord, Backend, NewAuditLink, SqlStore, StoreError};
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Arguments};

macro_rules! columns {
    () => {
        "seq, id, occurred_at, actor, action, outcome, client_addr, payload, prev_hash, hash, search_text, document_ids, encoding"
    };
}

fn audit(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    let payload_json: String = row.try_get("payload")?;
    let seq: i64 = row.try_get("seq")?;
    // A payload that no longer parses is tampering for verification to
    // report, not a read error that would stop it.
    let payload = serde_json::from_str(&payload_json).unwrap_or_else(|e| {
        tracing::warn!(seq, error = %e, "an audit event's stored payload is not valid JSON");
        serde_json::Value::Null
    });
    Ok(AuditRecord {
        seq,
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        client_addr: row.try_get("client_addr")?,
        payload,
        payload_json,
        encoding: row.try_get("encoding")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
        search_text: row.try_get("search_text")?,
        document_ids: row.try_get("document_ids")?,
    })
}

/// Columns of one row.
const COLUMNS: usize = 13;

/// Rows per INSERT statement: 13 parameters each stays far below both
/// backends' parameter limits.
const MAX_ROWS_PER_INSERT: usize = 256;

fn bind_record(args: &mut AnyArguments, r: &AuditRecord) -> Result<(), StoreError> {
    let err = |e: sqlx::error::BoxDynError| StoreError::Database(e.to_string());
    args.add(r.seq).map_err(err)?;
    args.add(r.id.clone()).map_err(err)?;
    args.add(r.occurred_at).map_err(err)?;
    args.add(r.actor.clone()).map_err(err)?;
    args.add(r.action.clone()).map_err(err)?;
    args.add(r.outcome.clone()).map_err(err)?;
    args.add(r.client_addr.clone()).map_err(err)?;
    args.add(r.payload_json.clone()).map_err(err)?;
    args.add(r.prev_hash.clone()).map_err(err)?;
    args.add(r.hash.clone()).map_err(err)?;
    args.add(r.search_text.clone()).map_err(err)?;
    args.add(r.document_ids.clone()).map_err(err)?;
    args.add(r.encoding).map_err(err)?;
    Ok(())
}

/// Key of the PostgreSQL advisory lock that serialises chain appends
/// ("zhishu" in ASCII).
const AUDIT_CHAIN_LOCK: i64 = 0x7a68_6973_6875;

async fn insert(tx: &mut sqlx::Transaction<'_, Any>, r: &AuditRecord) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO audit_events (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(r.seq)
    .bind(&r.id)
    .bind(r.occurred_at)
    .bind(&r.actor)
    .bind(&r.action)
    .bind(&r.outcome)
    .bind(r.client_addr.as_deref())
    .bind(&r.payload_json)
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .bind(&r.search_text)
    .bind(&r.document_ids)
    .bind(r.encoding)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Escapes `%`, `_` and `\` so user text matches literally in LIKE.
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A LIKE pattern matching `text` anywhere.
fn like_literal(text: &str) -> String {
    format!("%{}%", like_escape(text))
}

impl SqlStore {
    pub(crate) async fn append_audit_batch_impl(
        &self,
        records: &[AuditRecord],
    ) -> Result<(), StoreError> {
        // One multi-row INSERT: atomic without an explicit transaction, and a
        // single round trip. On PostgreSQL the statement also takes the
        // chain's advisory lock, in a materialised CTE joined to every row, so
        // it is held before the first row is written (an `EXISTS` would not
        // do: PostgreSQL drops the target list of an EXISTS subquery). It then
        // waits for a writer on the locked path instead of racing it.
        // SQLite serialises every write statement by itself.
        let pg = self.backend() == Backend::Postgres;
        let mut statements = Vec::new();
        for group in records.chunks(MAX_ROWS_PER_INSERT) {
            let mut sql = String::new();
            if pg {
                sql.push_str(&format!(
                    "WITH chain_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${}) AS locked) ",
                    group.len() * COLUMNS + 1
                ));
            }
            sql.push_str(concat!("INSERT INTO audit_events (", columns!(), ") "));
            sql.push_str(if pg {
                "SELECT v.* FROM (VALUES "
            } else {
                "VALUES "
            });
            let mut args = AnyArguments::default();
            for (i, r) in group.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let base = i * COLUMNS;
                sql.push('(');
                for k in 1..=COLUMNS {
                    if k > 1 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("${}", base + k));
                }
                sql.push(')');
                bind_record(&mut args, r)?;
            }
            if pg {
                sql.push_str(") AS v CROSS JOIN chain_lock");
                args.add(AUDIT_CHAIN_LOCK)
                    .map_err(|e| StoreError::Database(e.to_string()))?;
            }
            statements.push((sql, args));
        }
        if statements.len() == 1 {
            if let Some((sql, args)) = statements.pop() {
                sqlx::query_with::<Any, _>(sqlx::AssertSqlSafe(sql), args)
                    .execute(&self.pool)
                    .await?;
            }
        } else {
            let mut tx = self.begin_write().await?;
            for (sql, args) in statements {
                sqlx::query_with::<Any, _>(sqlx::AssertSqlSafe(sql), args)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub(crate) async fn append_audit_chained_impl(
        &self,
        links: Vec<NewAuditLink>,
        genesis: &str,
        hash: for<'r> fn(&'r AuditRecord) -> String,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut tx = match self.backend() {
            // Take the write lock up front, so reading the tail and appending
            // are one atomic step.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.begin_write().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(AUDIT_CHAIN_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let tail: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let (mut seq, mut prev) = tail.unwrap_or((0, genesis.to_string()));
        let mut records = Vec::with_capacity(links.len());
        for l in links {
            seq += 1;
            let mut r = l.into_record(seq, prev);
            r.hash = hash(&r);
            prev = r.hash.clone();
            insert(&mut tx, &r).await?;
            records.push(r);
        }
        tx.commit().await?;
        Ok(records)
    }

    pub(crate) async fn latest_audit_anchor_impl(&self) -> Result<Option<AuditAnchor>, StoreError> {
        let row = sqlx::query(
            "SELECT anchor_seq, anchor_hash, purge_event_id, created_at FROM audit_anchors ORDER BY anchor_seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AuditAnchor {
                anchor_seq: r.try_get("anchor_seq")?,
                anchor_hash: r.try_get("anchor_hash")?,
                purge_event_id: r.try_get("purge_event_id")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn purge_audit_impl(&self, a: &AuditAnchor) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO audit_anchors (anchor_seq, anchor_hash, purge_event_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(a.anchor_seq)
            .bind(&a.anchor_hash)
            .bind(&a.purge_event_id)
            .bind(a.created_at)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
            .bind(a.anchor_seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn last_audit_before_impl(
        &self,
        before_ms: i64,
    ) -> Result<Option<AuditRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE occurred_at < $1 ORDER BY seq DESC LIMIT 1"
        ))
        .bind(before_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(audit).transpose()
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

    pub(crate) async fn audit_event_impl(&self, id: &str) -> Result<AuditRecord, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        audit(&found(row, "audit event", id)?)
    }

    pub(crate) async fn search_audit_impl(
        &self,
        f: &AuditFilter,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        // The SQL is assembled from fixed fragments only; every user value
        // is a bound argument.
        let mut sql = String::from(concat!(
            "SELECT ",
            columns!(),
            " FROM audit_events WHERE 1 = 1"
        ));
        let mut args = AnyArguments::default();
        let mut n = 0;
        let mut bind = |sql: &mut String,
                        fragment: &str,
                        value: Option<String>,
                        int: Option<i64>|
         -> Result<(), StoreError> {
            n += 1;
            sql.push_str(&fragment.replace("$?", &format!("${n}")));
            let added = match (value, int) {
                (Some(v), _) => args.add(v),
                (None, Some(i)) => args.add(i),
                (None, None) => Ok(()),
            };
            added.map_err(|e| StoreError::Database(e.to_string()))
        };
        if let Some(a) = &f.actor {
            bind(&mut sql, " AND actor = $?", Some(a.clone()), None)?;
        }
        if let Some(a) = &f.action {
            if a.ends_with('.') {
                bind(
                    &mut sql,
                    " AND action LIKE $? ESCAPE '\\'",
                    Some(format!("{}%", like_escape(a))),
                    None,
                )?;
            } else {
                bind(&mut sql, " AND action = $?", Some(a.clone()), None)?;
            }
        }
        if let Some(o) = &f.outcome {
            bind(&mut sql, " AND outcome = $?", Some(o.clone()), None)?;
        }
        if let Some(t) = f.from_ms {
            bind(&mut sql, " AND occurred_at >= $?", None, Some(t))?;
        }
        if let Some(t) = f.to_ms {
            bind(&mut sql, " AND occurred_at < $?", None, Some(t))?;
        }
        if let Some(t) = &f.text {
            bind(
                &mut sql,
                " AND search_text LIKE $? ESCAPE '\\'",
                Some(like_literal(&t.to_lowercase())),
                None,
            )?;
        }
        if let Some(d) = &f.document_id {
            bind(
                &mut sql,
                " AND document_ids LIKE $? ESCAPE '\\'",
                Some(like_literal(&format!(" {d} "))),
                None,
            )?;
        }
        if let Some(g) = &f.guard {
            // The stored payload is serde_json's compact text, where a
            // guard decision reads `"policy":"guard","verdict":…,"rule":"…"`.
            let needle = match g.as_str() {
                "*" => "%\"policy\":\"guard\"%".to_owned(),
                family if family.ends_with('.') => {
                    format!("%\"rule\":\"{}%", like_escape(family))
                }
                rule => format!("%\"rule\":\"{}\"%", like_escape(rule)),
            };
            bind(
                &mut sql,
                " AND payload LIKE $? ESCAPE '\\'",
                Some(needle),
                None,
            )?;
        }
        if let Some(s) = f.before_seq {
            bind(&mut sql, " AND seq < $?", None, Some(s))?;
        }
        bind(
            &mut sql,
            " ORDER BY seq DESC LIMIT $?",
            None,
            Some(f.limit.clamp(1, 1000)),
        )?;
        let rows = sqlx::query_with::<Any, _>(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit).collect()
    }
}
