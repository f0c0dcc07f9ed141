//! A search exchange: validated, scoped, and recorded with every chunk the
//! asker receives.

use super::{Asker, ExchangeError, Exchanges, MAX_K, MAX_NEIGHBOURS, MAX_QUERY_CHARS};
use serde_json::json;
use std::time::Instant;
use zhishu_audit::Outcome;
use zhishu_retrieval::{HybridSearcher, Mode, SearchFilter, SearchOptions, SearchResults};

/// The action of a search's audit event.
const SEARCH: &str = "search";

/// A search, as a front end received it.
#[derive(Debug, Clone)]
pub struct SearchAsk {
    /// The query, in Chinese, English or both.
    pub query: String,
    /// Hits to return (1–[`MAX_K`]). Default 10.
    pub k: Option<usize>,
    /// Narrowing filters (they cannot widen the scope).
    pub filter: SearchFilter,
    /// Which retrievers. Default hybrid.
    pub mode: Mode,
    /// Rerank hybrid hits with the cross-encoder.
    pub rerank: bool,
    /// Chunks before and after each hit to attach (0–[`MAX_NEIGHBOURS`]).
    /// Default `retrieval.neighbours`.
    pub neighbours: Option<usize>,
}

impl Exchanges {
    /// Searches the documents the asker may read with `searcher` (`None`
    /// when the stores are not open) and records the search with every
    /// chunk returned (hits with their score, neighbours with none).
    ///
    /// # Errors
    /// [`ExchangeError`]; every one is recorded in the audit trail first
    /// (or is the audit failure itself).
    #[tracing::instrument(skip_all, fields(via = asker.via.as_str()))]
    pub async fn search(
        &self,
        asker: &Asker,
        ask: SearchAsk,
        searcher: Option<&HybridSearcher>,
    ) -> Result<SearchResults, ExchangeError> {
        let started = Instant::now();
        let mut event = asker.event(SEARCH, Outcome::Ok);
        self.set_question(&mut event, Some(&ask.query));
        let results = match search(asker, &ask, searcher, &mut event).await {
            Ok(r) => r,
            Err(e) => return Err(self.record_failure(event, e, Some(started)).await),
        };
        let source = crate::record::source;
        event.retrieved = results
            .hits
            .iter()
            .flat_map(|h| {
                std::iter::once(source(&h.chunk, h.score))
                    .chain(h.neighbours.iter().map(|n| source(n, 0.0)))
            })
            .collect();
        event.latency_ms = Some(started.elapsed().as_millis() as u64);
        self.audit.record(event).await?;
        Ok(results)
    }
}

async fn search(
    asker: &Asker,
    ask: &SearchAsk,
    searcher: Option<&HybridSearcher>,
    event: &mut zhishu_audit::AuditEvent,
) -> Result<SearchResults, ExchangeError> {
    if ask.query.trim().is_empty() {
        return Err(ExchangeError::invalid("invalid_query", "`query` is empty"));
    }
    if ask.query.chars().count() > MAX_QUERY_CHARS {
        return Err(ExchangeError::invalid(
            "invalid_query",
            format!("`query` is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    let k = ask.k.unwrap_or(10);
    if k == 0 || k > MAX_K {
        return Err(ExchangeError::invalid(
            "invalid_k",
            format!("`k` must be 1–{MAX_K}"),
        ));
    }
    ask.filter
        .validate()
        .map_err(|e| ExchangeError::invalid("invalid_filter", e.to_string()))?;
    let mode = match (ask.mode, ask.rerank) {
        (Mode::Hybrid, true) => Mode::HybridRerank,
        (m, _) => m,
    };
    let searcher = searcher.ok_or(ExchangeError::StoresUnavailable)?;
    if mode == Mode::HybridRerank && searcher.reranker.is_none() {
        return Err(ExchangeError::invalid(
            "rerank_unavailable",
            "no cross-encoder is configured on this server ([reranker] model); search without `rerank`",
        ));
    }
    let neighbours = ask.neighbours.unwrap_or(searcher.fusion.neighbours);
    if neighbours > MAX_NEIGHBOURS {
        return Err(ExchangeError::invalid(
            "invalid_neighbours",
            format!("`neighbours` must be 0–{MAX_NEIGHBOURS}"),
        ));
    }
    let scope = asker.scope();
    event.input = Some(json!({
        "via": asker.via.as_str(),
        "k": k,
        "filters": ask.filter,
        "mode": mode,
        "neighbours": neighbours,
        "scope": scope.groups(),
    }));
    let options = SearchOptions {
        mode,
        neighbours,
        query_vector: None,
    };
    Ok(searcher
        .search_with(&ask.query, k, &scope, &ask.filter, &options)
        .await?)
}
