//! Hybrid retrieval when the vector store runs in this process: the two
//! engines meet on a search thread, not on the async runtime.
//!
//! Why: awaiting both engines and then loading the kept chunks hands the
//! search from a search thread to the async task and back to a search
//! thread, and each hand-off to a sleeping thread is a wake-up that costs
//! tens of microseconds on a small virtual machine: a measurable share of
//! a search over 10,000 chunks. Here each engine runs as its own task on
//! the search pool and reports to a shared [`Meeting`]; whichever finishes
//! second fuses the two rankings and loads the first batch of chunks right
//! there, and the async caller is woken once, with everything it needs.
//! Neither task ever waits for the other (a full pool would deadlock), so
//! the meeting is a rendezvous of results, not of threads.

use super::{Found, HybridSearcher, Loaded, Votes, fuse, load_batch, ms, split};
use crate::{LexicalIds, LexicalIndex, RetrievalError, Scope, SearchFilter, SearchOptions, pool};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use zhishu_core::config::RetrievalConfig;

/// One engine's result and how long it took, once it has reported.
type Report<T> = Option<Result<(T, f64), RetrievalError>>;

/// Where the two engines' results meet.
struct Meeting {
    lexical: Report<LexicalIds>,
    dense: Report<Vec<(String, f32)>>,
    /// What the second to arrive needs to finish, and where to send it.
    then: Option<(Then, oneshot::Sender<Result<Found, RetrievalError>>)>,
}

/// What finishing takes beyond the two results.
struct Then {
    index: Arc<LexicalIndex>,
    scope: Scope,
    fusion: RetrievalConfig,
    votes: Votes,
    mode: crate::Mode,
    first_batch: usize,
    /// Whether the loaded chunks bring their kept token vectors (the late
    /// pass will rescore them).
    vectors: bool,
}

/// Records one engine's report; the second to arrive fuses, loads the
/// first batch and answers the caller.
fn arrive(meeting: &Mutex<Meeting>, report: impl FnOnce(&mut Meeting)) {
    let both = {
        let mut m = meeting.lock().unwrap_or_else(|p| p.into_inner());
        report(&mut m);
        if m.lexical.is_some() && m.dense.is_some() {
            m.lexical.take().zip(m.dense.take()).zip(m.then.take())
        } else {
            None
        }
    };
    if let Some(((lexical, dense), (then, reply))) = both {
        let found = pool::caught(RetrievalError::Lexical, || finish(lexical, dense, &then));
        // The caller may have gone (a closed connection): nothing to do.
        let _ = reply.send(found);
    }
}

/// Fusion and the first batch's chunks, from both engines' results.
fn finish(
    lexical: Result<(LexicalIds, f64), RetrievalError>,
    dense: Result<(Vec<(String, f32)>, f64), RetrievalError>,
    then: &Then,
) -> Result<Found, RetrievalError> {
    let (lexical, bm25_ms) = lexical?;
    let (dense, dense_ms) = dense?;
    let ranked = fuse(&lexical, &dense, &then.fusion, then.votes, then.mode);
    let (positions, dense_only) = split(&ranked[..then.first_batch.min(ranked.len())]);
    let first: Loaded = load_batch(
        &then.index,
        &lexical,
        &positions,
        &dense_only,
        &then.scope,
        then.vectors,
    )?;
    Ok(Found {
        lexical: Arc::new(lexical),
        ranked,
        first: Some(first),
        bm25_ms,
        dense_ms,
        embed_ms: 0.0,
    })
}

/// Both engines on the search pool, fused where they meet, with the first
/// `first_batch` candidates loaded.
pub(super) async fn retrieve(
    searcher: &HybridSearcher,
    query: &str,
    want: usize,
    first_batch: usize,
    scope: &Scope,
    filter: &SearchFilter,
    options: &SearchOptions,
) -> Result<Found, RetrievalError> {
    // Only Tantivy searches on this thread pool; the caller checks.
    let index = searcher.lexical.tantivy().cloned().ok_or_else(|| {
        RetrievalError::Lexical("fusion on a search thread needs the Tantivy index".into())
    })?;
    let (reply, answer) = oneshot::channel();
    let then = Then {
        index: index.clone(),
        scope: scope.clone(),
        fusion: searcher.fusion,
        votes: searcher.votes(query).await,
        mode: options.mode,
        first_batch,
        vectors: searcher.late_applies(options.mode),
    };
    let meeting = Arc::new(Mutex::new(Meeting {
        lexical: None,
        dense: None,
        then: Some((then, reply)),
    }));

    // BM25 starts at once; the query is embedded meanwhile.
    let m = meeting.clone();
    let (q, s, f) = (query.to_owned(), scope.clone(), filter.clone());
    let page_weight = searcher.fusion.page_weight;
    pool::spawn(move || {
        let t = Instant::now();
        let found = pool::caught(RetrievalError::Lexical, || {
            index.search_ids(&q, want, &s, &f, page_weight)
        });
        arrive(&m, |m| m.lexical = Some(found.map(|ids| (ids, ms(t)))));
    });
    let t = Instant::now();
    // Should embedding fail, the BM25 task still reports, to a meeting
    // nobody waits for any more, and is dropped with it.
    let vector = searcher.query_vector(query, options).await?;
    let embed_ms = ms(t);
    let (m, vectors) = (meeting, searcher.vectors.clone());
    let (s, f) = (scope.clone(), filter.clone());
    pool::spawn(move || {
        let t = Instant::now();
        let found = pool::caught(RetrievalError::Vector, || {
            vectors
                .search_ids_here(vector, want, &s, &f)
                .unwrap_or_else(|| Err(RetrievalError::Vector("not an in-process store".into())))
        });
        arrive(&m, |m| m.dense = Some(found.map(|hits| (hits, ms(t)))));
    });
    let mut found = answer
        .await
        .map_err(|_| RetrievalError::Vector("a search task was dropped".into()))??;
    found.embed_ms = embed_ms;
    Ok(found)
}
