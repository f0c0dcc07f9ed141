//! [`Repository`](crate::Repository) for [`SqlStore`](crate::SqlStore).
//!
//! One implementation for both backends: every statement uses `$N`
//! placeholders and types both SQLite and PostgreSQL accept.

mod audit;
mod conversations;
mod documents;
mod exchanges;
mod identity;
mod jobs;
mod rates;

use crate::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

/// Encodes a list as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Decodes a JSON text column.
pub(crate) fn json_col<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

/// Decodes a snake_case enum stored as text.
pub(crate) fn enum_col<T: DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let text: String = row.try_get(col)?;
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| StoreError::Corrupt(format!("column {col}: unknown value `{text}`")))
}

/// Encodes a snake_case enum as text.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> Result<String, StoreError> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(StoreError::Corrupt(format!("not a unit enum: {other}"))),
    }
}

/// Maps "no row" to a typed not-found error.
pub(crate) fn found<T>(row: Option<T>, what: &'static str, id: &str) -> Result<T, StoreError> {
    row.ok_or_else(|| StoreError::NotFound {
        what,
        id: id.to_string(),
    })
}

/// The database's clock in milliseconds since the Unix epoch, as an SQL
/// expression (a literal, for `concat!`): `now_sql!(Postgres)`,
/// `now_sql!(Sqlite)`.
///
/// Leases and rate buckets are compared across nodes, so they are read and
/// written on one clock, the database's: a node whose clock ran ahead would
/// otherwise take over a job whose lease is still live, or refill a bucket
/// early. PostgreSQL's `statement_timestamp()` is one instant for the whole
/// statement; SQLite has one machine, and its `'now'` is stable within a
/// statement too.
macro_rules! now_sql {
    (Postgres) => {
        "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)"
    };
    (Sqlite) => {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    };
}
pub(crate) use now_sql;

impl crate::SqlStore {
    /// The database's clock ([`now_sql`]), read once.
    pub(crate) async fn clock_ms(&self) -> Result<i64, StoreError> {
        let sql = match self.backend() {
            crate::Backend::Postgres => concat!("SELECT ", now_sql!(Postgres), " AS now"),
            crate::Backend::Sqlite => concat!("SELECT ", now_sql!(Sqlite), " AS now"),
        };
        Ok(sqlx::query(sql)
            .fetch_one(&self.pool)
            .await?
            .try_get("now")?)
    }
}

/// A new random id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Forwards each trait to the inherent methods of each module.
#[async_trait::async_trait]
impl crate::DocumentRegistry for crate::SqlStore {
    async fn upsert_document(
        &self,
        d: &crate::NewDocument,
    ) -> Result<(crate::DocumentRecord, crate::Upsert), StoreError> {
        self.upsert_document_impl(d).await
    }
    async fn document(&self, id: &str) -> Result<crate::DocumentRecord, StoreError> {
        self.document_impl(id).await
    }
    async fn list_documents(
        &self,
        c: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<crate::DocumentRecord>, StoreError> {
        self.list_documents_impl(c, limit, offset).await
    }
    async fn set_document_status(
        &self,
        id: &str,
        s: crate::DocumentStatus,
        e: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_document_status_impl(id, s, e).await
    }
    async fn set_document_guard(
        &self,
        id: &str,
        notes: &[crate::GuardNote],
    ) -> Result<(), StoreError> {
        self.set_document_guard_impl(id, notes).await
    }
    async fn delete_document(&self, id: &str) -> Result<(), StoreError> {
        self.delete_document_impl(id).await
    }
    async fn replace_chunks(
        &self,
        id: &str,
        v: i64,
        c: &[crate::ChunkRecord],
    ) -> Result<(), StoreError> {
        self.replace_chunks_impl(id, v, c).await
    }
    async fn chunks(&self, id: &str) -> Result<Vec<crate::ChunkRecord>, StoreError> {
        self.chunks_impl(id).await
    }
    async fn collection_settings(&self, c: &str) -> Result<crate::CollectionSettings, StoreError> {
        self.collection_settings_impl(c).await
    }
    async fn set_collection_downloads(
        &self,
        c: &str,
        downloads: bool,
        by: &str,
    ) -> Result<crate::CollectionSettings, StoreError> {
        self.set_collection_downloads_impl(c, downloads, by).await
    }
}

#[async_trait::async_trait]
impl crate::JobStore for crate::SqlStore {
    async fn create_job(
        &self,
        root: &str,
        c: &str,
        g: &[String],
        by: &str,
    ) -> Result<crate::JobRecord, StoreError> {
        self.create_job_impl(root, c, g, by).await
    }
    async fn job(&self, id: &str) -> Result<crate::JobRecord, StoreError> {
        self.job_impl(id).await
    }
    async fn list_jobs(&self, limit: i64) -> Result<Vec<crate::JobRecord>, StoreError> {
        self.list_jobs_impl(limit).await
    }
    async fn update_job(
        &self,
        id: &str,
        worker: Option<&str>,
        s: crate::JobStatus,
        p: &crate::JobProgress,
        e: Option<&str>,
    ) -> Result<crate::JobRecord, StoreError> {
        self.update_job_impl(id, worker, s, p, e).await
    }
    async fn enqueue_job(
        &self,
        root: &str,
        c: &str,
        g: &[String],
        by: &str,
        spec: &str,
    ) -> Result<crate::JobRecord, StoreError> {
        self.enqueue_job_impl(root, c, g, by, spec).await
    }
    async fn claim_job(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<crate::ClaimedJob>, StoreError> {
        self.claim_job_impl(worker, lease_ms).await
    }
    async fn renew_job(
        &self,
        id: &str,
        worker: &str,
        lease_ms: i64,
    ) -> Result<crate::Lease, StoreError> {
        self.renew_job_impl(id, worker, lease_ms).await
    }
    async fn request_cancel(&self, id: &str) -> Result<crate::JobRecord, StoreError> {
        self.request_cancel_impl(id).await
    }
}

#[async_trait::async_trait]
impl crate::IdentityStore for crate::SqlStore {
    async fn create_user(&self, u: &crate::NewUser) -> Result<crate::UserRecord, StoreError> {
        self.create_user_impl(u).await
    }
    async fn user_by_name(&self, n: &str) -> Result<crate::UserRecord, StoreError> {
        self.user_by_name_impl(n).await
    }
    async fn list_users(&self) -> Result<Vec<crate::UserRecord>, StoreError> {
        self.list_users_impl().await
    }
    async fn disable_user(&self, n: &str) -> Result<crate::UserRecord, StoreError> {
        self.disable_user_impl(n).await
    }
    async fn set_user_access(
        &self,
        n: &str,
        roles: &[zhishu_core::Role],
        groups: &[String],
    ) -> Result<crate::UserRecord, StoreError> {
        self.set_user_access_impl(n, roles, groups).await
    }
    async fn create_api_key(
        &self,
        k: &crate::NewApiKey,
    ) -> Result<crate::ApiKeyRecord, StoreError> {
        self.create_api_key_impl(k).await
    }
    async fn api_key_by_prefix(&self, p: &str) -> Result<crate::ApiKeyRecord, StoreError> {
        self.api_key_by_prefix_impl(p).await
    }
    async fn revoke_api_key(&self, id: &str) -> Result<(), StoreError> {
        self.revoke_api_key_impl(id).await
    }
    async fn user_by_id(&self, id: &str) -> Result<crate::UserRecord, StoreError> {
        self.user_by_id_impl(id).await
    }
    async fn list_api_keys(&self) -> Result<Vec<crate::ApiKeyRecord>, StoreError> {
        self.list_api_keys_impl().await
    }
    async fn touch_api_key(&self, id: &str) -> Result<(), StoreError> {
        self.touch_api_key_impl(id).await
    }
    async fn create_session(&self, s: &crate::SessionRecord) -> Result<(), StoreError> {
        self.create_session_impl(s).await
    }
    async fn session(&self, h: &str) -> Result<crate::SessionRecord, StoreError> {
        self.session_impl(h).await
    }
    async fn revoke_session(&self, h: &str) -> Result<(), StoreError> {
        self.revoke_session_impl(h).await
    }
}

#[async_trait::async_trait]
impl crate::AuditStore for crate::SqlStore {
    async fn append_audit_batch(&self, r: &[crate::AuditRecord]) -> Result<(), StoreError> {
        self.append_audit_batch_impl(r).await
    }
    async fn append_audit_chained(
        &self,
        links: Vec<crate::NewAuditLink>,
        genesis: &str,
        hash: for<'r> fn(&'r crate::AuditRecord) -> String,
    ) -> Result<Vec<crate::AuditRecord>, StoreError> {
        self.append_audit_chained_impl(links, genesis, hash).await
    }
    async fn audit_event(&self, id: &str) -> Result<crate::AuditRecord, StoreError> {
        self.audit_event_impl(id).await
    }
    async fn search_audit(
        &self,
        f: &crate::AuditFilter,
    ) -> Result<Vec<crate::AuditRecord>, StoreError> {
        self.search_audit_impl(f).await
    }
    async fn latest_audit_anchor(&self) -> Result<Option<crate::AuditAnchor>, StoreError> {
        self.latest_audit_anchor_impl().await
    }
    async fn purge_audit(&self, a: &crate::AuditAnchor) -> Result<u64, StoreError> {
        self.purge_audit_impl(a).await
    }
    async fn last_audit_before(
        &self,
        before_ms: i64,
    ) -> Result<Option<crate::AuditRecord>, StoreError> {
        self.last_audit_before_impl(before_ms).await
    }
    async fn append_audit(&self, r: &crate::AuditRecord) -> Result<(), StoreError> {
        self.append_audit_batch_impl(std::slice::from_ref(r)).await
    }
    async fn last_audit(&self) -> Result<Option<crate::AuditRecord>, StoreError> {
        self.last_audit_impl().await
    }
    async fn audit_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<crate::AuditRecord>, StoreError> {
        self.audit_after_impl(after, limit).await
    }
}

#[async_trait::async_trait]
impl crate::ExchangeRegistry for crate::SqlStore {
    async fn open_exchange(&self, e: &crate::OpenExchange) -> Result<(), StoreError> {
        self.open_exchange_impl(e).await
    }
    async fn close_exchange(&self, exchange_id: &str) -> Result<bool, StoreError> {
        self.close_exchange_impl(exchange_id).await
    }
    async fn open_exchanges(&self) -> Result<Vec<crate::OpenExchange>, StoreError> {
        self.open_exchanges_impl().await
    }
}

#[async_trait::async_trait]
impl crate::ConversationStore for crate::SqlStore {
    async fn create_conversation(
        &self,
        owner: &str,
        title: &str,
    ) -> Result<crate::ConversationRecord, StoreError> {
        self.create_conversation_impl(owner, title).await
    }
    async fn conversation(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<crate::ConversationRecord, StoreError> {
        self.conversation_impl(owner, id).await
    }
    async fn list_conversations(
        &self,
        owner: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<crate::ConversationRecord>, StoreError> {
        self.list_conversations_impl(owner, limit, offset).await
    }
    async fn messages(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<Vec<crate::MessageRecord>, StoreError> {
        self.messages_impl(owner, id).await
    }
    async fn append_messages(
        &self,
        owner: &str,
        id: &str,
        messages: &[crate::NewMessage],
    ) -> Result<(), StoreError> {
        self.append_messages_impl(owner, id, messages).await
    }
}

#[async_trait::async_trait]
impl crate::RateStore for crate::SqlStore {
    async fn take_token(
        &self,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        self.take_token_impl(key, per_minute, burst).await
    }
}
