//! The records the relational store keeps.
//!
//! These are storage shapes, not API shapes: the services turn them into
//! what their callers see. Times are Unix milliseconds.

use serde::{Deserialize, Serialize};
use zhishu_core::Role;

/// A document known to the registry: one file of a collection, at its
/// current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// Stable id, kept across versions.
    pub id: String,
    /// Collection the document belongs to.
    pub collection: String,
    /// Path of the source file (unique within a collection).
    pub source_path: String,
    /// Title (from metadata or the first heading; else the file name).
    pub title: String,
    /// Detected MIME type.
    pub mime_type: String,
    /// sha256 of the file's bytes: what decides whether it changed.
    pub content_hash: String,
    /// Version, starting at 1 and increased on every content change.
    pub version: i64,
    /// Size of the file in bytes.
    pub size_bytes: i64,
    /// Modification time of the file.
    pub modified_at: i64,
    /// Access groups allowed to read it.
    pub access_groups: Vec<String>,
    /// Indexing state.
    pub status: DocumentStatus,
    /// Why indexing failed, when it did.
    pub error: Option<String>,
    /// What the document guard found at the last indexing (empty when
    /// nothing).
    #[serde(default)]
    pub guard: Vec<GuardNote>,
    /// When the registry first saw it.
    pub created_at: i64,
    /// When the record last changed.
    pub updated_at: i64,
}

/// One rule the document guard applied to a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardNote {
    /// The rule (`injection.indirect`, `pii.cn_id`, `lexicon.sensitive`).
    pub rule: String,
    /// What it did (`flag`, `redact`, `block`).
    pub action: String,
    /// How many times it fired in the document.
    pub count: u32,
}

/// Indexing state of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocumentStatus {
    /// Registered; chunks not yet written.
    Pending,
    /// Chunks written to every store.
    Indexed,
    /// Parsing or indexing failed; see `error`.
    Failed,
}

/// A document to register or update.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    /// Collection.
    pub collection: String,
    /// Source path, unique within the collection.
    pub source_path: String,
    /// Title.
    pub title: String,
    /// MIME type.
    pub mime_type: String,
    /// sha256 of the content.
    pub content_hash: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Modification time.
    pub modified_at: i64,
    /// Access groups.
    pub access_groups: Vec<String>,
}

/// What [`crate::Repository::upsert_document`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new document at version 1.
    Created,
    /// The content or the access groups changed: the version went up and
    /// status is `pending`, so the document is indexed again and its chunks
    /// carry the new groups in both search stores.
    Updated,
    /// Same content hash and the same access groups: nothing to re-index
    /// (the title may still have been refreshed).
    Unchanged,
}

/// One chunk of a document version, as registered (text lives in the
/// search stores).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// Deterministic id from document id, version and position.
    pub id: String,
    /// Owning document.
    pub document_id: String,
    /// Document version the chunk belongs to.
    pub document_version: i64,
    /// Position within the document, from 0.
    pub ordinal: i64,
    /// 1-based page, for paged formats.
    pub page: Option<i64>,
    /// Heading path, e.g. `Policies > Travel > Hotels`.
    pub section_path: String,
    /// Start offset in the normalised text, in characters.
    pub char_start: i64,
    /// End offset (exclusive), in characters.
    pub char_end: i64,
    /// Length in tokens of the embedding model.
    pub embed_tokens: i64,
    /// Length in Qwen3 tokens, so prompt assembly never re-tokenises.
    pub qwen_tokens: i64,
    /// sha256 of the chunk text.
    pub content_hash: String,
    /// The boxes of the chunk's lines on its page, `[x0, y0, x1, y1]` as
    /// fractions of the page from its top-left corner (PDFs and scans).
    #[serde(default)]
    pub boxes: Vec<[f32; 4]>,
}

/// Settings of one collection an administrator changes at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionSettings {
    /// The collection.
    pub collection: String,
    /// Whether readers may download its original files (page views and
    /// passages stay available either way).
    pub downloads: bool,
    /// Who changed them last (empty for the defaults).
    pub updated_by: String,
    /// When, in ms since the epoch (0 for the defaults).
    pub updated_at: i64,
}

/// State of an ingest job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobStatus {
    /// Waiting to start.
    Queued,
    /// Working.
    Running,
    /// Finished (per-file errors may still have been counted).
    Succeeded,
    /// Stopped by an error that affects the whole job.
    Failed,
    /// Stopped by a user.
    Cancelled,
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// An ingest job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Job id.
    pub id: String,
    /// Folder being ingested.
    pub root_path: String,
    /// Target collection.
    pub collection: String,
    /// Access groups given to its documents.
    pub access_groups: Vec<String>,
    /// State.
    pub status: JobStatus,
    /// User who started it.
    pub created_by: String,
    /// Files found.
    pub files_total: i64,
    /// Files indexed (or unchanged).
    pub files_done: i64,
    /// Files that failed.
    pub files_failed: i64,
    /// Files skipped (unsupported, too large).
    pub files_skipped: i64,
    /// Chunks written.
    pub chunks_written: i64,
    /// Job-level error.
    pub error: Option<String>,
    /// Creation time.
    pub created_at: i64,
    /// Start time.
    pub started_at: Option<i64>,
    /// End time.
    pub finished_at: Option<i64>,
    /// The ingest node holding it while it runs (`None` for a job made
    /// before leases, or never claimed).
    #[serde(default)]
    pub worker: Option<String>,
    /// Until when its worker holds it: past that, another node takes it
    /// over.
    #[serde(default)]
    pub lease_until: Option<i64>,
    /// How many times a worker claimed it (more than once: resumed after a
    /// worker stopped).
    #[serde(default)]
    pub attempts: i64,
    /// Whether a user asked it to stop.
    #[serde(default)]
    pub cancel_requested: bool,
}

/// A job a worker claimed: its record and the spec to run (JSON, as given
/// to [`crate::JobStore::enqueue_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    /// The job, now running under the claimant's lease.
    pub record: JobRecord,
    /// What to run.
    pub spec: String,
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still this worker's, until the new time; `cancel` when a user asked
    /// the job to stop.
    Held {
        /// A user asked the job to stop.
        cancel: bool,
    },
    /// No longer this worker's: another took it over after the lease ran
    /// out, or it ended. The worker must stop writing.
    Lost,
}

/// Progress to record on a job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobProgress {
    /// Files found.
    pub files_total: i64,
    /// Files done.
    pub files_done: i64,
    /// Files failed.
    pub files_failed: i64,
    /// Files skipped.
    pub files_skipped: i64,
    /// Chunks written.
    pub chunks_written: i64,
}

/// A local or SSO user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// User id.
    pub id: String,
    /// Login name, unique.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// argon2id PHC string; `None` for users who sign in through SSO only.
    #[serde(skip_serializing)]
    pub password_hash: Option<String>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Access groups.
    pub access_groups: Vec<String>,
    /// Creation time.
    pub created_at: i64,
    /// When the user was disabled; disabled users cannot sign in.
    pub disabled_at: Option<i64>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// argon2id PHC string, if the user has a password.
    pub password_hash: Option<String>,
    /// Roles.
    pub roles: Vec<Role>,
    /// Access groups.
    pub access_groups: Vec<String>,
}

/// An API key (its secret is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Key id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Label.
    pub name: String,
    /// Public prefix used to find the key (e.g. `zk_ab12cd34`).
    pub prefix: String,
    /// Hash of the whole key.
    #[serde(skip_serializing)]
    pub key_hash: String,
    /// Roles the key grants (a subset of the owner's).
    pub roles: Vec<Role>,
    /// Creation time.
    pub created_at: i64,
    /// Last successful use.
    pub last_used_at: Option<i64>,
    /// Revocation time; revoked keys never authenticate.
    pub revoked_at: Option<i64>,
}

/// An API key to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    /// Owner.
    pub user_id: String,
    /// Label.
    pub name: String,
    /// Public prefix.
    pub prefix: String,
    /// Hash of the whole key.
    pub key_hash: String,
    /// Roles.
    pub roles: Vec<Role>,
}

/// One link of the audit chain, as stored. Building and verifying the chain
/// is the audit crate's work; the store only appends and reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// Event id.
    pub id: String,
    /// Time of the event.
    pub occurred_at: i64,
    /// Who acted (user name, key prefix, or `anonymous`).
    pub actor: String,
    /// What was done, e.g. `chat.completion`.
    pub action: String,
    /// `ok`, `error` or `refused`.
    pub outcome: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// The rest of the event, parsed from [`AuditRecord::payload_json`] for
    /// display and filtering (`null` when the stored text does not parse:
    /// verification then reports the event as modified).
    pub payload: serde_json::Value,
    /// The payload exactly as stored. Links of encoding 2 and later are
    /// hashed over these bytes, never over a re-serialisation of
    /// [`AuditRecord::payload`], so the hash cannot drift with a JSON
    /// parser's float rounding.
    #[serde(skip)]
    pub payload_json: String,
    /// The chain encoding the link was hashed with: 1 for links written
    /// before version 0.2 (a canonical re-serialisation of the parsed
    /// payload), 2 for the stored payload bytes.
    pub encoding: i64,
    /// Hash of the previous link.
    pub prev_hash: String,
    /// Hash of this link.
    pub hash: String,
    /// Question and answer text, lower-cased, for text filters. Derived from
    /// the payload and not covered by the hash.
    #[serde(skip)]
    pub search_text: String,
    /// Space-separated ids of the documents the event touched, padded with
    /// spaces (` a b `), for the document filter. Derived, not hashed.
    #[serde(skip)]
    pub document_ids: String,
}

/// An audit link before it has its place in the chain: the store assigns
/// `seq` and `prev_hash` under a lock and calls the chain's hash function.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditLink {
    /// Event id.
    pub id: String,
    /// Time of the event.
    pub occurred_at: i64,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// How it ended.
    pub outcome: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// The rest of the event.
    pub payload: serde_json::Value,
    /// The payload's text as it will be stored and hashed.
    pub payload_json: String,
    /// The chain encoding the link is hashed with.
    pub encoding: i64,
    /// Derived search text.
    pub search_text: String,
    /// Derived document ids.
    pub document_ids: String,
}

impl NewAuditLink {
    /// The record this link becomes at position `seq` after `prev_hash`,
    /// with its own hash still empty (the chain's hash function fills it).
    pub fn into_record(self, seq: i64, prev_hash: String) -> AuditRecord {
        AuditRecord {
            seq,
            id: self.id,
            occurred_at: self.occurred_at,
            actor: self.actor,
            action: self.action,
            outcome: self.outcome,
            client_addr: self.client_addr,
            payload: self.payload,
            payload_json: self.payload_json,
            encoding: self.encoding,
            prev_hash,
            hash: String::new(),
            search_text: self.search_text,
            document_ids: self.document_ids,
        }
    }
}

/// Filters of an audit search. Every filter is a bound parameter, never
/// spliced into SQL. Results come newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `auth.`).
    pub action: Option<String>,
    /// Exact outcome.
    pub outcome: Option<String>,
    /// Events at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Events before this time (ms).
    pub to_ms: Option<i64>,
    /// Text contained in the question or the answer (case-insensitive).
    pub text: Option<String>,
    /// Events that retrieved or changed this document.
    pub document_id: Option<String>,
    /// Events with a guard decision of this rule (`pii.cn_id`), of this
    /// family (a prefix ending in `.`: `injection.`), or of any rule (`*`).
    pub guard: Option<String>,
    /// Cursor: only events with a smaller sequence number.
    pub before_seq: Option<i64>,
    /// Page size.
    pub limit: i64,
}

/// A web session (the token itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// sha256 of the session token.
    pub token_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry time.
    pub expires_at: i64,
    /// Sign-out time.
    pub revoked_at: Option<i64>,
    /// Client address at sign-in.
    pub client_addr: Option<String>,
}

/// Where the chain starts after a retention purge: the last purged event's
/// sequence number and hash, and the `audit.purge` event that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// Sequence number of the last purged event.
    pub anchor_seq: i64,
    /// Its hash: the `prev_hash` of the first remaining event.
    pub anchor_hash: String,
    /// Id of the `audit.purge` event recording the purge.
    pub purge_event_id: String,
    /// When the purge ran.
    pub created_at: i64,
}

/// A user's conversation with the assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// Random id.
    pub id: String,
    /// User name of the owner; nobody else may read it.
    pub owner: String,
    /// Title (the first question, shortened).
    pub title: String,
    /// When it was started.
    pub created_at: i64,
    /// When a message was last added.
    pub updated_at: i64,
}

/// A message to add to a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
    /// The assistant's thinking, when it was shown.
    pub reasoning: Option<String>,
    /// Resolved citations (JSON list), empty for user turns.
    pub citations: serde_json::Value,
    /// The audit event that recorded the exchange.
    pub audit_event_id: Option<String>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Position in the conversation, from 1.
    pub seq: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
    /// The assistant's thinking, when it was shown.
    pub reasoning: Option<String>,
    /// Resolved citations.
    pub citations: serde_json::Value,
    /// The audit event that recorded the exchange.
    pub audit_event_id: Option<String>,
    /// When it was added.
    pub created_at: i64,
}

/// An exchange that has started and not yet closed: written before its
/// `exchange.started` audit event, removed after its closing event, so a
/// process that dies while answering leaves it behind to be closed as
/// interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenExchange {
    /// The exchange id both audit events carry.
    pub exchange_id: String,
    /// The process that runs it (host and listen address for a server).
    pub node: String,
    /// The action its closing event will have, e.g. `chat.completion`.
    pub action: String,
    /// Who asked (user name).
    pub actor: String,
    /// When it started (Unix ms).
    pub started_at: i64,
}
