//! The repository contract the services program against: one trait per
//! concern, so that each crate takes only what it uses (the audit writer
//! cannot touch documents, the exchange service cannot touch users), and
//! [`Repository`] for code that wires them together.

use crate::StoreError;
use crate::records::*;
use async_trait::async_trait;

/// The document registry: documents, their versions and chunks (ingestion
/// writes it; search and the library read it).
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait DocumentRegistry: Send + Sync {
    /// Registers a document or records a new version of it.
    ///
    /// A changed `content_hash` raises the version and resets the status to
    /// `pending`; the same hash leaves the version alone.
    async fn upsert_document(
        &self,
        doc: &NewDocument,
    ) -> Result<(DocumentRecord, Upsert), StoreError>;

    /// One document by id.
    async fn document(&self, id: &str) -> Result<DocumentRecord, StoreError>;

    /// Documents of a collection (all collections when `None`), by path.
    async fn list_documents(
        &self,
        collection: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DocumentRecord>, StoreError>;

    /// Sets a document's status and error.
    async fn set_document_status(
        &self,
        id: &str,
        status: DocumentStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Sets what the document guard found in a document.
    async fn set_document_guard(&self, id: &str, notes: &[GuardNote]) -> Result<(), StoreError>;

    /// Deletes a document and its chunks.
    async fn delete_document(&self, id: &str) -> Result<(), StoreError>;

    /// Replaces every chunk of a document with those of `version`.
    async fn replace_chunks(
        &self,
        document_id: &str,
        version: i64,
        chunks: &[ChunkRecord],
    ) -> Result<(), StoreError>;

    /// The chunks of a document, by ordinal.
    async fn chunks(&self, document_id: &str) -> Result<Vec<ChunkRecord>, StoreError>;

    /// A collection's settings; the defaults (downloads allowed) when none
    /// were ever set.
    async fn collection_settings(&self, collection: &str)
    -> Result<CollectionSettings, StoreError>;

    /// Allows or forbids downloading a collection's original files.
    async fn set_collection_downloads(
        &self,
        collection: &str,
        downloads: bool,
        by: &str,
    ) -> Result<CollectionSettings, StoreError>;
}

/// Ingestion jobs and their progress.
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates a queued ingest job.
    async fn create_job(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
    ) -> Result<JobRecord, StoreError>;

    /// One job by id.
    async fn job(&self, id: &str) -> Result<JobRecord, StoreError>;

    /// Recent jobs, newest first.
    async fn list_jobs(&self, limit: i64) -> Result<Vec<JobRecord>, StoreError>;

    /// Records progress and state. Entering `running` sets `started_at`;
    /// entering a terminal state sets `finished_at`. With `worker`, only
    /// while that worker holds the job: a worker whose lease another took
    /// over gets [`StoreError::NotFound`] and changes nothing.
    async fn update_job(
        &self,
        id: &str,
        worker: Option<&str>,
        status: JobStatus,
        progress: &JobProgress,
        error: Option<&str>,
    ) -> Result<JobRecord, StoreError>;

    /// Creates a queued job with the spec a worker runs (JSON), for any
    /// ingest node to claim ([`JobStore::claim_job`]).
    async fn enqueue_job(
        &self,
        root_path: &str,
        collection: &str,
        access_groups: &[String],
        created_by: &str,
        spec: &str,
    ) -> Result<JobRecord, StoreError>;

    /// Claims the oldest job that is queued, or running under a lease that
    /// ran out (its worker stopped), for `worker` until `lease_ms` from now.
    /// Each job has one claimant however many nodes ask at once (on
    /// PostgreSQL, `FOR UPDATE SKIP LOCKED`: nodes never wait on each
    /// other's claims). `None` when there is nothing to do.
    async fn claim_job(
        &self,
        worker: &str,
        lease_ms: i64,
    ) -> Result<Option<ClaimedJob>, StoreError>;

    /// Extends `worker`'s lease on a running job to `lease_ms` from now.
    async fn renew_job(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Lease, StoreError>;

    /// Asks a job to stop: a queued one is cancelled now, a running one by
    /// its worker at its next renewal. A finished job is left as it is.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown id.
    async fn request_cancel(&self, id: &str) -> Result<JobRecord, StoreError>;
}

/// Token buckets of the rate limits, shared by every node.
#[async_trait]
pub trait RateStore: Send + Sync {
    /// Takes one token from `key`'s bucket (`burst` at once, refilled at
    /// `per_minute`): `None` when granted, else how long until a token is
    /// there. A `per_minute` of 0 grants everything.
    async fn take_token(
        &self,
        key: &str,
        per_minute: u32,
        burst: u32,
    ) -> Result<Option<std::time::Duration>, StoreError>;
}

/// Users, API keys and web sessions (authentication, `zhishu users` and
/// `zhishu keys`).
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Creates a user; a taken username is a [`StoreError::Conflict`].
    async fn create_user(&self, user: &NewUser) -> Result<UserRecord, StoreError>;

    /// One user by login name.
    async fn user_by_name(&self, username: &str) -> Result<UserRecord, StoreError>;

    /// Every user, by login name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Disables a user (idempotent).
    async fn disable_user(&self, username: &str) -> Result<UserRecord, StoreError>;

    /// Replaces a user's roles and access groups (single sign-on keeps
    /// them in step with the identity provider at every sign-in).
    async fn set_user_access(
        &self,
        username: &str,
        roles: &[zhishu_core::Role],
        groups: &[String],
    ) -> Result<UserRecord, StoreError>;

    /// Stores an API key; a taken prefix is a [`StoreError::Conflict`].
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord, StoreError>;

    /// The key with this public prefix.
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<ApiKeyRecord, StoreError>;

    /// Revokes a key (idempotent).
    async fn revoke_api_key(&self, id: &str) -> Result<(), StoreError>;

    /// One user by id.
    async fn user_by_id(&self, id: &str) -> Result<UserRecord, StoreError>;

    /// Every API key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Records a successful use of a key.
    async fn touch_api_key(&self, id: &str) -> Result<(), StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session with this token hash.
    async fn session(&self, token_hash: &str) -> Result<SessionRecord, StoreError>;

    /// Ends a session (idempotent).
    async fn revoke_session(&self, token_hash: &str) -> Result<(), StoreError>;
}

/// The audit chain's rows: append and read only (building and verifying the
/// chain is the audit crate's work).
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends links to the audit chain in one transaction: all or none.
    /// A taken `seq` is a [`StoreError::Conflict`]: another writer got there
    /// first, and nothing was written.
    async fn append_audit_batch(&self, records: &[AuditRecord]) -> Result<(), StoreError>;

    /// Appends links after the current tail, in one transaction that holds
    /// the chain's lock (a PostgreSQL advisory lock; SQLite's write lock), so
    /// writers in several processes extend one chain without forking it.
    /// `genesis` is the `prev_hash` of the first link; `hash` computes a
    /// link's hash once `seq` and `prev_hash` are set.
    async fn append_audit_chained(
        &self,
        links: Vec<NewAuditLink>,
        genesis: &str,
        hash: for<'r> fn(&'r AuditRecord) -> String,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// One link by event id.
    async fn audit_event(&self, id: &str) -> Result<AuditRecord, StoreError>;

    /// Links matching the filter, newest first.
    async fn search_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// The most recent retention anchor, if any purge ran.
    async fn latest_audit_anchor(&self) -> Result<Option<AuditAnchor>, StoreError>;

    /// Records the anchor and deletes every event at or below it, in one
    /// transaction. Returns how many events were removed.
    async fn purge_audit(&self, anchor: &AuditAnchor) -> Result<u64, StoreError>;

    /// The last event that happened before `before_ms`.
    async fn last_audit_before(&self, before_ms: i64) -> Result<Option<AuditRecord>, StoreError>;

    /// Appends one link to the audit chain. A taken `seq` is a
    /// [`StoreError::Conflict`]: another writer got there first.
    async fn append_audit(&self, record: &AuditRecord) -> Result<(), StoreError>;

    /// The last link of the chain, if any.
    async fn last_audit(&self) -> Result<Option<AuditRecord>, StoreError>;

    /// Links with `seq > after`, in order, at most `limit`.
    async fn audit_after(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Exchanges that have started and not yet closed (see
/// `zhishu_query::exchange`).
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait ExchangeRegistry: Send + Sync {
    /// Notes an exchange as started (before its `exchange.started` audit
    /// event is written).
    async fn open_exchange(&self, exchange: &OpenExchange) -> Result<(), StoreError>;

    /// Notes an exchange as closed (after its closing audit event); `true`
    /// when this call removed it (so among several closers exactly one
    /// wins).
    async fn close_exchange(&self, exchange_id: &str) -> Result<bool, StoreError>;

    /// Exchanges started and not closed, oldest first.
    async fn open_exchanges(&self) -> Result<Vec<OpenExchange>, StoreError>;
}

/// Each user's conversations.
///
/// # Cancel safety
/// Methods that write more than one row run in a transaction: dropping the
/// future rolls it back, never leaving half a write.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// Starts a conversation owned by `owner`.
    async fn create_conversation(
        &self,
        owner: &str,
        title: &str,
    ) -> Result<ConversationRecord, StoreError>;

    /// One of `owner`'s conversations; `NotFound` for anyone else's.
    async fn conversation(&self, owner: &str, id: &str) -> Result<ConversationRecord, StoreError>;

    /// `owner`'s conversations, most recently active first.
    async fn list_conversations(
        &self,
        owner: &str,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<ConversationRecord>, StoreError>;

    /// The messages of one of `owner`'s conversations, in order.
    async fn messages(&self, owner: &str, id: &str) -> Result<Vec<MessageRecord>, StoreError>;

    /// Appends messages to one of `owner`'s conversations, atomically.
    async fn append_messages(
        &self,
        owner: &str,
        id: &str,
        messages: &[NewMessage],
    ) -> Result<(), StoreError>;
}

/// What ingestion reads and writes: the document registry and its jobs.
pub trait IngestStore: DocumentRegistry + JobStore {}

impl<T: DocumentRegistry + JobStore + ?Sized> IngestStore for T {}

/// What the exchange service writes: conversations, and which exchanges
/// are open.
pub trait ExchangeStore: ConversationStore + ExchangeRegistry {}

impl<T: ConversationStore + ExchangeRegistry + ?Sized> ExchangeStore for T {}

/// Everything the relational store does, one trait per concern above.
/// Implemented by [`crate::SqlStore`] on both SQLite and PostgreSQL (and by
/// anything that implements every part). Crates take the narrowest part
/// they use: the audit writer an [`AuditStore`], authentication an
/// [`IdentityStore`], ingestion an [`IngestStore`], the exchange service an
/// [`ExchangeStore`]; a
/// `dyn Repository` coerces to any of them.
pub trait Repository: IngestStore + IdentityStore + AuditStore + ExchangeStore {}

impl<T: IngestStore + IdentityStore + AuditStore + ExchangeStore + ?Sized> Repository for T {}
