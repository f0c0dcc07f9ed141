//! Zhishu's relational store.
//!
//! Documents and their chunk registry, ingest jobs, users, API keys and the
//! audit trail live in SQL: an SQLite file on one box, PostgreSQL when scaled
//! out. Both run the same code: queries are written once in the dialect both
//! accept (`$N` placeholders, BIGINT times in Unix milliseconds, JSON lists as
//! text) and executed through sqlx's `Any` driver, while each backend keeps
//! its own migration folder for the few things that differ (trigger syntax).
//!
//! The [`Repository`] trait is the contract the services program against; the
//! one test suite in `tests/repository.rs` runs it on SQLite always and on
//! PostgreSQL when `DATABASE_URL` is set.
#![warn(missing_docs)]

mod error;
mod pool;
mod records;
mod repository;
mod sql;
#[doc(hidden)]
pub mod testing;

pub use error::StoreError;
pub use pool::{Backend, SqlStore};
pub use records::*;
pub use repository::{
    AuditStore, ConversationStore, DocumentRegistry, ExchangeRegistry, ExchangeStore,
    IdentityStore, IngestStore, JobStore, RateStore, Repository,
};

/// Milliseconds since the Unix epoch, the time unit of every stored time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
