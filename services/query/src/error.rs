//! What can go wrong between a question and its answer.

use zhishu_engine::EngineError;

/// A failure of the query pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The request cannot be served as asked (the caller can fix it).
    #[error("{0}")]
    Invalid(String),
    /// The question alone (with the system prompt and the answer reserve)
    /// does not fit the model's context.
    #[error(
        "the prompt needs {needed} tokens but only {budget} fit (context {context} − {answer} reserved for the answer); shorten the question or lower max_tokens"
    )]
    TooLong {
        /// Tokens the unavoidable part of the prompt needs.
        needed: usize,
        /// Tokens available for the prompt.
        budget: usize,
        /// The model's context.
        context: usize,
        /// Tokens reserved for the answer.
        answer: usize,
    },
    /// Every engine slot and queue place is taken; retry later.
    #[error("the model is busy: {0} requests are already waiting; retry in a few seconds")]
    Busy(usize),
    /// Retrieval failed (kept typed: a bad filter is the caller's error,
    /// a store that is down is not).
    #[error("retrieval failed: {0}")]
    Retrieval(zhishu_retrieval::RetrievalError),
    /// The engine failed.
    #[error(transparent)]
    Engine(EngineError),
    /// Generation failed half-way.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The engine's worker has stopped.
    #[error("the generation engine has stopped")]
    Stopped,
}

impl From<EngineError> for QueryError {
    /// The engine's "busy" and "stopped" keep their own meaning (503 with
    /// a retry for the first); everything else is an engine failure.
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Busy(n) => Self::Busy(n),
            EngineError::Stopped => Self::Stopped,
            e => Self::Engine(e),
        }
    }
}
