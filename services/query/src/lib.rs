//! The query service: from a question to a grounded, cited answer.
//!
//! The rooms, in the order a question passes them:
//! - [`pipeline`]: rewrite a follow-up, retrieve within the caller's scope,
//!   pack, generate, resolve citations ([`Rag`]);
//! - [`prompt`]: the packing of sources and history into the context;
//! - [`compose`]: the prompt's token ids, put together from stored ids
//!   (generation itself is the engine's [`zhishu_engine::Serving`]);
//! - [`think`] and [`citations`]: what happens to the text as it streams;
//! - [`screen`]: the guards applied to an exchange (question, passages,
//!   answer) and their audit decisions;
//! - [`record`]: the audit record of an exchange;
//! - [`exchange`]: the whole exchange, written once for HTTP and the CLI:
//!   validation, scope, sampling defaults, history, the audit event's life
//!   and conversation writes.
//!
//! Authentication and rate limits belong to the front ends, which know who
//! is asking; they hand an [`exchange::Asker`] to [`exchange::Exchanges`].
#![warn(missing_docs)]

pub mod attribution;
pub mod citations;
pub mod compose;
mod error;
pub mod exchange;
pub mod pipeline;
pub mod prompt;
pub mod record;
pub mod screen;
pub mod think;

pub use attribution::Origin;
pub use citations::{Citation, CitationFilter};
pub use compose::{Assembled, Assembler};
pub use error::QueryError;
pub use exchange::{
    Asker, ChatAsk, Exchange, ExchangeError, Exchanges, Finished, Sampling, SearchAsk, Step, Via,
};
pub use pipeline::{
    Answer, AnswerEvent, AnswerStream, PrepareTimings, Prepared, Question, Rag, Retrieval,
};
pub use prompt::{Candidate, SYSTEM_PROMPT, Source};
pub use think::{Routed, ThinkSplitter};
