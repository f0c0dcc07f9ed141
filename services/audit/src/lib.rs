//! The audit trail.
//!
//! Every request that reads or changes knowledge or identity becomes one
//! [`AuditEvent`], written before the response completes. Events are links
//! of a hash chain: each link's hash is SHA-256 over a canonical encoding of
//! the link *including the previous link's hash*, so changing, deleting,
//! inserting or reordering any stored row breaks the chain at that row and
//! [`verify`] names it.
//!
//! [`AuditLog`] is the only writer: one task owns the chain's tail, takes
//! events from a bounded queue, and commits them in groups (one transaction
//! per group), which keeps the chain strictly ordered under any number of
//! concurrent requests without serialising them on a database round trip
//! each. Several processes may write to one database: a group that loses the
//! race for a sequence number is rebuilt on the new tail and retried.
//!
//! Failing closed is the caller's half of the contract: when
//! [`AuditLog::record`] returns an error, the request must not be answered.
#![warn(missing_docs)]

mod chain;
mod event;
mod export;
mod log;
mod retention;
mod verify;

pub use chain::{
    ENCODING, GENESIS_HASH, LEGACY_ENCODING, canonical_json, legacy_link_hash, link_hash,
};
pub use event::{
    Actor, AuditEvent, CitedSource, ModelInfo, Outcome, PolicyDecision, PromptInfo,
    RetrievedSource, Usage,
};
pub use export::{CSV_HEADER, csv_line, jsonl_line, parse_time, rfc3339};
pub use log::{AuditError, AuditLog};
pub use retention::{PurgeError, PurgeReport, purge};
pub use verify::{Problem, Verification, verify};
