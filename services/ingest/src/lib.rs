//! Ingestion: parse, chunk, embed and index document folders,
//! incrementally.
//!
//! [`parse`] turns a file into structured blocks, [`chunk`] cuts them into
//! passages within the embedding model's token budget, and [`sync`] keeps
//! the stores in step with a folder: unchanged files are skipped, changed
//! ones replaced, deleted ones removed, and a job killed half-way finishes
//! cleanly when run again.
#![warn(missing_docs)]

pub mod chunk;
pub mod eval;
mod eval_cache;
pub mod jobs;
mod open;
pub mod parse;
mod stages;
pub mod sync;

pub use open::{OpenError, open_eval_setup, open_pipeline};
