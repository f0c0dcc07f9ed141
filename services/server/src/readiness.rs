//! Readiness: is every configured store usable right now?
//!
//! Each check runs concurrently under `server.readiness_timeout_secs`, so a
//! hung dependency makes the probe fail fast instead of hanging it.

use crate::AppState;
use crate::state::MigrationState;
use serde::Serialize;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use zhishu_core::config::VectorBackend;
use zhishu_store::{AuditStore, Backend};

/// The outcome of one check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// `database`, `audit`, `embedder`, `vectors`, `lexical`, `documents`
    /// (ingest nodes) or `engine` (query nodes).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was checked, or why it failed.
    pub detail: String,
    /// How long it took.
    pub latency_ms: u64,
}

/// Runs every check.
pub(crate) async fn run_checks(state: &AppState) -> Vec<Check> {
    let limit = Duration::from_secs(state.config.server.readiness_timeout_secs.max(1));
    let (db, audit, embedder, vectors, lexical, engine, documents) = tokio::join!(
        timed("database", limit, check_database(state)),
        timed("audit", limit, check_audit(state)),
        timed("embedder", limit, check_embedder(state)),
        timed("vectors", limit, check_vectors(state)),
        timed("lexical", limit, check_lexical(state)),
        timed("engine", limit, check_engine(state)),
        timed("documents", limit, check_documents(state)),
    );
    let mut checks = vec![db, audit, embedder, vectors, lexical];
    if state.service != crate::Service::Query {
        checks.push(documents);
    }
    if state.service != crate::Service::Ingest {
        checks.push(engine);
    }
    for c in &checks {
        state
            .metrics
            .readiness
            .with_label_values(&[c.name])
            .set(i64::from(c.ok));
    }
    checks
}

async fn timed(
    name: &'static str,
    limit: Duration,
    check: impl Future<Output = Result<String, String>>,
) -> Check {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs())));
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(detail) => Check {
            name,
            ok: true,
            detail,
            latency_ms,
        },
        Err(detail) => Check {
            name,
            ok: false,
            detail,
            latency_ms,
        },
    }
}

async fn check_database(state: &AppState) -> Result<String, String> {
    let kind = match state.store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    state
        .store
        .ping()
        .await
        .map_err(|e| format!("{kind}: {e}"))?;
    match state.migration_state() {
        MigrationState::Done => Ok(format!("{kind}: reachable, schema up to date")),
        MigrationState::Pending(why) => Err(format!("{kind}: schema not applied yet ({why})")),
        MigrationState::Failed(why) => Err(format!("{kind}: migration failed: {why}")),
    }
}

/// The embedding model must be loaded.
async fn check_embedder(state: &AppState) -> Result<String, String> {
    match state.embedder.get() {
        Some(Ok(w)) => Ok(format!(
            "{} loaded (inputs up to {} tokens)",
            w.name(),
            w.max_tokens()
        )),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the embedding model is still loading".into()),
    }
}

/// The language model must be loaded to answer questions.
async fn check_engine(state: &AppState) -> Result<String, String> {
    match state.rag.get() {
        Some(Ok(r)) => {
            let adapters = if r.adapters().is_empty() {
                String::new()
            } else {
                format!("; LoRA adapters: {}", r.adapters().join(", "))
            };
            let serving = r.serving();
            let blocks = serving.metrics().kv_blocks_used.get();
            let devices: Vec<String> = serving
                .devices()
                .iter()
                .map(|d| {
                    format!(
                        "{}: weights {} bytes, KV cache {} bytes, {blocks} KV blocks used",
                        d.device, d.weight_bytes, d.kv_bytes
                    )
                })
                .collect();
            Ok(format!(
                "{} loaded ({} tokens of context; KV cache holds {} tokens){adapters}; {}",
                r.served_name(),
                r.context_tokens(),
                serving.capacity_tokens(),
                devices.join("; ")
            ))
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the language model is still loading".into()),
    }
}

/// The document readers of an ingest node: which PDF engine runs and
/// whether OCR does. A missing engine does not fail the check — it fails
/// only the files that need it, saying so — but the detail names it, so an
/// operator sees "OCR unavailable" before a scan fails.
async fn check_documents(state: &AppState) -> Result<String, String> {
    let k = match state.knowledge.get() {
        Some(Ok(k)) => k,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("the ingestion pipeline is still loading".into()),
    };
    let Some(jobs) = &k.jobs else {
        return Ok("no ingestion on this node".into());
    };
    let s = jobs.pipeline().reader.status();
    let pdf = match &s.pdf_problem {
        None => format!("PDF: {}", s.pdf_engine),
        Some(p) => format!("PDF: {} fallback ({p})", s.pdf_engine),
    };
    let ocr = match (&s.ocr, &s.ocr_problem) {
        (Some(o), _) => format!("OCR: {o}"),
        (None, Some(p)) => format!("OCR unavailable: {p}"),
        (None, None) => "OCR unavailable".into(),
    };
    Ok(format!("{pdf}; {ocr}"))
}

/// The audit trail must be readable; without it every request is refused.
async fn check_audit(state: &AppState) -> Result<String, String> {
    if state.migration_state() != MigrationState::Done {
        return Err("audit store: schema not applied yet".into());
    }
    match state.store.last_audit().await {
        Ok(Some(last)) => Ok(format!("audit trail readable; {} events", last.seq)),
        Ok(None) => Ok("audit trail readable; empty".into()),
        Err(e) => Err(format!("audit store: {e}")),
    }
}

/// Once the stores are open, their state; before, whether they can be.
async fn check_lexical(state: &AppState) -> Result<String, String> {
    match state.knowledge.get() {
        Some(Ok(k)) => Ok(k.searcher.lexical.describe()),
        Some(Err(e)) => Err(e.to_string()),
        None if state.config.lexical.backend == zhishu_core::config::LexicalBackend::Qdrant => Ok(
            "BM25 as sparse vectors inside the vector store (lexical.backend = \"qdrant\")".into(),
        ),
        None => check_dir(state.config.lexical_path(), "tantivy index").await,
    }
}

async fn check_vectors(state: &AppState) -> Result<String, String> {
    match state.knowledge.get() {
        Some(Ok(k)) => return k.searcher.vectors.status().await.map_err(|e| e.to_string()),
        Some(Err(e)) => return Err(e.to_string()),
        None => {}
    }
    let v = &state.config.vectors;
    match v.backend {
        VectorBackend::Edge => check_dir(state.config.vectors_path(), "qdrant edge store").await,
        VectorBackend::Qdrant => {
            let url = v.url.as_deref().unwrap_or_default();
            let authority = url
                .split_once("://")
                .map_or(url, |(_, rest)| rest)
                .split('/')
                .next()
                .unwrap_or_default();
            let target = if authority.contains(':') {
                authority.to_string()
            } else {
                format!("{authority}:6334")
            };
            tokio::net::TcpStream::connect(&target)
                .await
                .map(|_| format!("qdrant server at {target} accepts connections"))
                .map_err(|e| format!("qdrant server at {target} is unreachable: {e}"))
        }
    }
}

/// A local store folder must exist (or be creatable) and be writable.
async fn check_dir(dir: std::path::PathBuf, what: &'static str) -> Result<String, String> {
    tokio::task::spawn_blocking(move || probe_dir(&dir, what))
        .await
        .map_err(|e| format!("{what}: check panicked: {e}"))?
}

fn probe_dir(dir: &Path, what: &str) -> Result<String, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{what} folder {} cannot be created: {e}", dir.display()))?;
    let probe = dir.join(format!(".zhishu-ready-{}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("{what} folder {} is not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(format!("{what} folder {} is writable", dir.display()))
}
