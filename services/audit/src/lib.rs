//! The audit trail: events, the hash chain, search, export and verify.
//!
//! Nothing is implemented here yet: this crate is the room for issue #6.
//! The storage it will build on already exists: `zhishu-store` keeps the
//! append-only `audit_events` table (triggers refuse UPDATE and DELETE on
//! both SQLite and PostgreSQL) and appends links by sequence number.
#![warn(missing_docs)]
