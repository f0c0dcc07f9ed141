//! Late-interaction scores kept outside the worker.
//!
//! Why: whoever runs the same searches over a fixed corpus again and
//! again (`zhishu eval`'s quality gates in CI) recomputes the same
//! MaxSims every run, and each one of a 512-token passage not in the
//! token cache costs a forward pass of the model, while its record is a
//! few bytes. Searches for employees do not use a store: their corpus
//! changes and the token cache serves them.

/// Where [`EncoderWorker::late_scores`](crate::EncoderWorker::late_scores)
/// looks a score up before computing it, and records each score it
/// computed.
///
/// Both calls get the query with its prefix (followed, when the pass
/// weighs the question's pieces, by U+001F and the weights' bits) and the passage as late
/// interaction reads it (with its prefix, cut at `late_tokens`): with the
/// model, these determine the score, so an implementation keys on them
/// and on the model it serves.
pub trait LateScoreStore: Send + Sync {
    /// The score recorded for the pair, or `None` to have it computed.
    /// An implementation may answer `None` for a pair it holds, to check
    /// its record against the fresh score given to [`LateScoreStore::put`].
    fn get(&self, query: &str, passage: &str) -> Option<f32>;

    /// A score just computed for the pair.
    fn put(&self, query: &str, passage: &str, score: f32);
}
