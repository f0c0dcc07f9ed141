//! The search pool: the threads that run store reads (BM25, dense search,
//! loading chunks) off the async runtime.
//!
//! Why not tokio's blocking pool: its idle threads sleep on a condition
//! variable at once, so every hand-off pays a full wake-up of a sleeping
//! thread, and a hybrid search makes several in sequence (both engines,
//! then loading the kept chunks). On a 2-core virtual machine an empty
//! `spawn_blocking` round trip measured 16–64 µs at the median and over
//! 100 µs at p99, a large share of a 1–2 ms search over 10,000 chunks.
//! Rayon's workers look for work for a short while before they sleep, so
//! searches arriving back to back are picked up in a few microseconds,
//! and a fixed set of threads (one per core) bounds how many store reads
//! compete for the cores at once. A pool of its own, not rayon's global
//! one: the embedding model and Qdrant's optimiser use that, and a search
//! must not queue behind a batch of matrix products.
//!
//! Only short reads run here. Writes, flushes and index builds stay on
//! tokio's blocking pool: they can take seconds and would hold a search
//! thread that long. A task never waits for another task of this pool
//! (that could deadlock a full pool); it only ever reports back to an
//! async caller.

use crate::RetrievalError;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

/// The pool, built on first use; `None` when its threads could not be
/// started (then reads fall back to tokio's blocking pool).
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("zhishu-search-{i}"))
            .build()
            .map_err(|e| tracing::warn!(error = %e, "search pool unavailable; using tokio's blocking pool"))
            .ok()
    })
    .as_ref()
}

/// Runs a store read on the search pool and returns its result;
/// `on_panic` makes the error for a task that panicked.
///
/// # Errors
/// The task's own error, or [`RetrievalError::Lexical`] /
/// [`RetrievalError::Vector`] (per `on_panic`) when it panicked.
pub(crate) async fn read<T: Send + 'static>(
    on_panic: fn(String) -> RetrievalError,
    f: impl FnOnce() -> Result<T, RetrievalError> + Send + 'static,
) -> Result<T, RetrievalError> {
    let Some(pool) = pool() else {
        return tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| on_panic(format!("a search task failed: {e}")))?;
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool.spawn(move || {
        let _ = tx.send(caught(on_panic, f));
    });
    rx.await
        .unwrap_or_else(|_| Err(on_panic("a search task was dropped".into())))
}

/// Runs `f` on the search pool without waiting for it; `f` reports its own
/// result (hybrid search's engines meet this way, [`crate::hybrid`]).
pub(crate) fn spawn(f: impl FnOnce() + Send + 'static) {
    // Rayon aborts the process on a panic in a spawned task: caught here,
    // the task just ends, and whoever waits for its report sees its sender
    // dropped.
    let f = move || {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(f));
    };
    match pool() {
        Some(pool) => pool.spawn(f),
        None => drop(tokio::task::spawn_blocking(f)),
    }
}

/// `f`'s result, or the error `on_panic` makes should it panic: a panic
/// must reach the caller as an error, not take down a search thread.
pub(crate) fn caught<T>(
    on_panic: fn(String) -> RetrievalError,
    f: impl FnOnce() -> Result<T, RetrievalError>,
) -> Result<T, RetrievalError> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(on_panic("a search task panicked".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_errors_and_panics_come_back_as_results() {
        let ok = read(RetrievalError::Lexical, || Ok(41 + 1)).await;
        assert_eq!(ok.ok(), Some(42));
        let err = read::<()>(RetrievalError::Lexical, || {
            Err(RetrievalError::InvalidFilter("bad".into()))
        })
        .await;
        assert!(matches!(err, Err(RetrievalError::InvalidFilter(_))));
        let panicked = read::<()>(RetrievalError::Vector, || panic!("boom")).await;
        assert!(
            matches!(&panicked, Err(RetrievalError::Vector(m)) if m.contains("panicked")),
            "{panicked:?}"
        );
        // The pool survives a panicking task.
        let again = read(RetrievalError::Vector, || Ok("still here")).await;
        assert_eq!(again.ok(), Some("still here"));
    }
}
