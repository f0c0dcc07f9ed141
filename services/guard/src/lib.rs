//! Guardrails in the request path: sensitive words, personal data and
//! prompt injection, in Chinese and English.
//!
//! The guard runs at four points of an exchange (the question and its
//! history before retrieval, each retrieved passage before the prompt, the
//! answer as it streams, documents at ingestion) and turns each finding
//! into an action by policy ([`policy`]): allow, flag, redact or block.
//!
//! The rooms:
//! - [`normalize`]: the folded text every check reads, with offsets back
//!   to the text as written;
//! - [`automaton`]: the linear-time multi-pattern matcher;
//! - [`lexicon`] and [`store`]: sensitive-word lists, their file format,
//!   reload and editing;
//! - [`pii`]: personal data found by validation (check digits, dates,
//!   issuer ranges);
//! - [`injection`]: prompt-injection rules, direct and indirect;
//! - [`guard`]: one check at one point; [`stream`]: the answer guard;
//!   [`redact`]: placeholders.
//!
//! The crate is domain logic only: no HTTP, no store. The query service
//! applies it and records every decision in the exchange's audit event.
#![warn(missing_docs)]

pub mod automaton;
mod error;
pub mod eval;
pub mod guard;
pub mod injection;
pub mod lexicon;
pub mod normalize;
pub mod pii;
pub mod policy;
pub mod redact;
pub mod store;
pub mod stream;

pub use error::GuardError;
pub use guard::{CheckReport, Finding, Guard, Verdict};
pub use policy::{Context, Policy};
pub use redact::Redactor;
pub use store::{LexiconInfo, LexiconStore, Reload};
pub use stream::{Released, StreamGuard};
pub use zhishu_core::config::{GuardAction, GuardPoint, MaskTarget};
