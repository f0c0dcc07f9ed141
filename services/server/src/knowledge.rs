//! The knowledge APIs: ingest jobs (`/v1/ingest/jobs`), hybrid search
//! (`/v1/search`) and the document registry (`/v1/documents`).
//!
//! Handlers stay thin: they check the caller, validate the request, call
//! the ingestion job manager or the hybrid searcher, and write the audit
//! event. Searches always run with the caller's access groups (plus
//! `public`), which the stores apply inside the query.

use crate::access::{Authenticated, Caller, KnowledgeAdmin, Policy};
use crate::error::{bad, parse_json};
use crate::{ApiError, AppState};
use actix_web::{HttpResponse, delete, get, post, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use utoipa::ToSchema;
use zhishu_audit::Outcome;
use zhishu_ingest::jobs::JobManager;
use zhishu_ingest::sync::{Event, JobSpec};
use zhishu_query::{ExchangeError, SearchAsk};
use zhishu_retrieval::{HybridSearcher, Mode, Scope, SearchFilter, SearchResults};
use zhishu_store::{DocumentRecord, DocumentRegistry};

pub use zhishu_query::exchange::PUBLIC_GROUP;

/// The loaded knowledge services.
pub struct Knowledge {
    /// Ingest jobs; `None` on a query node, which builds no ingestion
    /// pipeline.
    pub jobs: Option<Arc<JobManager>>,
    /// Search.
    pub searcher: HybridSearcher,
    /// Reads documents: the ingestion pipeline's reader on an ingest node,
    /// one of its own on a query node (for page views).
    pub reader: Arc<zhishu_ingest::parse::Reader>,
}

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_job)
        .service(job_status)
        .service(job_events)
        .service(cancel_job)
        .service(search)
        .service(upload_document)
        .service(list_documents)
        .service(get_document)
        .service(delete_document);
}

/// The stores if they are open, without a word otherwise (for what can do
/// without them).
pub(crate) fn loaded(state: &AppState) -> Option<Arc<Knowledge>> {
    state.knowledge.get().and_then(|k| k.as_ref().ok().cloned())
}

pub(crate) fn knowledge(state: &AppState) -> Result<Arc<Knowledge>, ApiError> {
    match state.knowledge.get() {
        Some(Ok(k)) => Ok(k.clone()),
        Some(Err(e)) => {
            tracing::error!(error = %e, "the document stores are not available");
            Err(ApiError::Unavailable(
                "the document stores are not available on this server; see the server log",
            ))
        }
        None => Err(ApiError::Unavailable(
            "the embedding model and document stores are still loading; retry shortly",
        )),
    }
}

/// The ingestion jobs, or why this node has none.
fn jobs(k: &Knowledge) -> Result<&Arc<JobManager>, ApiError> {
    k.jobs.as_ref().ok_or(ApiError::Unavailable(
        "this node serves queries only; send ingestion and document changes to an ingest node",
    ))
}

/// The caller's scope: their groups and `public` (the exchange service's
/// rule, for every front end).
pub(crate) fn scope_of<P: Policy>(caller: &Caller<P>) -> Scope {
    caller.asker().scope()
}

/// Resolves a requested folder and checks that it lies under an allowed
/// root. Symlinks and `..` are resolved first, so neither can escape.
pub(crate) fn allowed_path(roots: &[PathBuf], requested: &str) -> Result<PathBuf, ApiError> {
    let forbidden = || {
        ApiError::Forbidden(format!(
            "{requested} is outside the folders ingestion may read (ingest.roots)"
        ))
    };
    let path = Path::new(requested);
    if !path.is_absolute() {
        return Err(bad(
            "invalid_path",
            format!("{requested}: give an absolute path under one of ingest.roots"),
        ));
    }
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    // Refuse before touching the file system when the lexical path is
    // already outside every root: a caller learns nothing about what exists
    // elsewhere.
    let lexically_inside = roots.iter().any(|r| {
        let mut clean = PathBuf::new();
        for c in path.components() {
            match c {
                std::path::Component::ParentDir => {
                    clean.pop();
                }
                std::path::Component::CurDir => {}
                other => clean.push(other),
            }
        }
        clean.starts_with(r)
    });
    if !lexically_inside {
        return Err(forbidden());
    }
    let real = std::fs::canonicalize(path)
        .map_err(|_| ApiError::NotFound(format!("{requested}: no such file or folder")))?;
    if roots.iter().any(|r| real.starts_with(r)) {
        Ok(real)
    } else {
        Err(forbidden())
    }
}

/// A new ingest job.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewJob {
    /// Absolute path of a folder (or file) under `ingest.roots`.
    pub path: String,
    /// Target collection. Default `default`.
    #[serde(default)]
    pub collection: Option<String>,
    /// Groups allowed to read the documents. Default `["public"]`.
    #[serde(default)]
    pub access_groups: Option<Vec<String>>,
    /// Descend into sub-folders. Default true.
    #[serde(default)]
    pub recursive: Option<bool>,
    /// Remove documents whose files are gone. Default false.
    #[serde(default)]
    pub sync_deletes: Option<bool>,
}

/// The job's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobCreated {
    /// Use it with `GET /v1/ingest/jobs/{id}` and `/events`.
    pub job_id: String,
}

fn valid_name(kind: &str, s: &str) -> Result<(), ApiError> {
    if s.is_empty()
        || s.len() > 128
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(bad(
            "invalid_name",
            format!("{kind} `{s}`: use 1–128 letters, digits, `-`, `_`, `.` or `:`"),
        ));
    }
    Ok(())
}

/// Starts ingesting a folder; progress at `/v1/ingest/jobs/{id}`.
#[utoipa::path(post, path = "/v1/ingest/jobs", tag = "ingest", request_body = NewJob,
    responses((status = 202, description = "Queued", body = JobCreated),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 403, description = "Path outside ingest.roots, or role", body = crate::error::ErrorBody),
        (status = 404, description = "No such folder", body = crate::error::ErrorBody)))]
#[post("/v1/ingest/jobs")]
pub(crate) async fn create_job(
    state: web::Data<AppState>,
    caller: Caller<KnowledgeAdmin>,
    raw: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: NewJob = parse_json(&raw)?;
    let collection = body.collection.unwrap_or_else(|| "default".into());
    valid_name("collection", &collection)?;
    let groups = body
        .access_groups
        .unwrap_or_else(|| vec![PUBLIC_GROUP.into()]);
    if groups.is_empty() || groups.len() > 64 {
        return Err(bad("invalid_access_groups", "give 1 to 64 access groups"));
    }
    for g in &groups {
        valid_name("access group", g)?;
    }
    let path = match allowed_path(&state.config.ingest.roots, &body.path) {
        Ok(p) => p,
        Err(e) => {
            let mut ev = caller.event("ingest.job.create", Outcome::Refused);
            ev.input = Some(serde_json::json!({"path": body.path}));
            ev.error = Some(e.to_string());
            state.audit.record(ev).await?;
            return Err(e);
        }
    };
    let k = knowledge(&state)?;
    let jobs = jobs(&k)?;
    let spec = JobSpec {
        paths: vec![path],
        collection,
        access_groups: groups,
        recursive: body.recursive.unwrap_or(true),
        sync_deletes: body.sync_deletes.unwrap_or(false),
    };
    let mut ev = caller.event("ingest.job.create", Outcome::Ok);
    ev.input = Some(serde_json::to_value(&spec).unwrap_or_default());
    state.audit.record(ev).await?;
    let job = jobs.submit(spec, &caller.principal.username).await?;
    Ok(HttpResponse::Accepted().json(JobCreated { job_id: job.id }))
}

/// A job's progress: counts, rate, ETA and per-file errors.
#[utoipa::path(get, path = "/v1/ingest/jobs/{id}", tag = "ingest",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = Object),
        (status = 404, description = "Unknown job", body = crate::error::ErrorBody)))]
#[get("/v1/ingest/jobs/{id}")]
pub(crate) async fn job_status(
    state: web::Data<AppState>,
    _caller: Caller<KnowledgeAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = knowledge(&state)?;
    if let Some(job) = jobs(&k)?.get(&id) {
        // Live state, with who holds it and how often it was claimed.
        let mut view = serde_json::to_value(job.view()).unwrap_or_default();
        if let Ok(r) = jobs(&k)?.record(&id).await {
            view["worker"] = serde_json::json!(r.worker);
            view["attempts"] = serde_json::json!(r.attempts);
        }
        return Ok(HttpResponse::Ok().json(view));
    }
    // Queued, running on another node, or of an earlier process: what the
    // registry recorded.
    let r = jobs(&k)?.record(&id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "id": r.id, "status": r.status, "paths": r.root_path.split('\n').collect::<Vec<_>>(),
        "collection": r.collection, "access_groups": r.access_groups, "created_by": r.created_by,
        "files_total": r.files_total, "files_done": r.files_done, "files_skipped": r.files_skipped,
        "files_failed": r.files_failed, "chunks": r.chunks_written, "error": r.error,
        "worker": r.worker, "attempts": r.attempts, "cancel_requested": r.cancel_requested,
    })))
}

fn sse(event: &Event) -> web::Bytes {
    let name = match event {
        Event::Scanned { .. } => "scanned",
        Event::Indexed { .. } => "indexed",
        Event::Skipped { .. } => "skipped",
        Event::Failed { .. } => "failed",
        Event::Deleted { .. } => "deleted",
        Event::Finished { .. } => "finished",
    };
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    web::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Server-sent progress events of a job, from its start; the stream ends
/// with a `finished` event.
#[utoipa::path(get, path = "/v1/ingest/jobs/{id}/events", tag = "ingest",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, description = "text/event-stream of progress events"),
        (status = 404, description = "Unknown job", body = crate::error::ErrorBody)))]
#[get("/v1/ingest/jobs/{id}/events")]
pub(crate) async fn job_events(
    state: web::Data<AppState>,
    _caller: Caller<KnowledgeAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = knowledge(&state)?;
    let mut first = jobs(&k)?.record(&id).await?;
    // A job just queued is usually claimed by this node's own worker within
    // moments (a submission wakes it): wait for that, so the reader gets
    // every event from the start, file by file.
    let waited = std::time::Instant::now();
    while jobs(&k)?.get(&id).is_none()
        && first.status == zhishu_store::JobStatus::Queued
        && waited.elapsed() < LOCAL_CLAIM_WAIT
    {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        first = jobs(&k)?.record(&id).await?;
    }
    let Some(job) = jobs(&k)?.get(&id) else {
        // Running on another node, or still queued: its progress as the
        // registry records it (the worker saves it every second).
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("cache-control", "no-cache"))
            .streaming(recorded_progress(state.clone(), first)));
    };
    let (history, rx) = job.subscribe();
    let past = futures_util::stream::iter(
        history
            .iter()
            .map(sse)
            .map(Ok::<_, ApiError>)
            .collect::<Vec<_>>(),
    );
    let live = futures_util::stream::unfold(rx, |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let last = matches!(e, Event::Finished { .. });
                    return Some((Ok(sse(&e)), if last { None } else { Some(rx) }));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(past.chain(live)))
}

/// How long a reader of a queued job's events waits for this node to claim
/// it before following it through the registry instead.
const LOCAL_CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// A job's progress from the registry, as `progress` events whenever it
/// changes (looked at every second), ending with `finished`.
fn recorded_progress(
    state: web::Data<AppState>,
    first: zhishu_store::JobRecord,
) -> impl futures_util::Stream<Item = Result<web::Bytes, ApiError>> {
    let event = |r: &zhishu_store::JobRecord| {
        let name = if r.status.is_terminal() {
            "finished"
        } else {
            "progress"
        };
        let data = serde_json::json!({
            "event": name, "status": r.status, "files_total": r.files_total,
            "files_done": r.files_done, "files_skipped": r.files_skipped,
            "files_failed": r.files_failed, "chunks": r.chunks_written, "error": r.error,
            "worker": r.worker, "attempts": r.attempts,
        });
        web::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
    };
    let start = event(&first);
    let done = first.status.is_terminal();
    let later = futures_util::stream::unfold(
        (state, first, done),
        move |(state, last, done)| async move {
            if done {
                return None;
            }
            // What a reader follows: not the lease, renewed every few
            // seconds.
            let shown = |r: &zhishu_store::JobRecord| {
                (
                    r.status,
                    r.files_total,
                    r.files_done,
                    r.files_skipped,
                    r.files_failed,
                    r.chunks_written,
                    r.error.clone(),
                    r.attempts,
                )
            };
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let k = knowledge(&state).ok()?;
                // A database that is briefly away: look again next second.
                let Ok(now) = jobs(&k).ok()?.record(&last.id).await else {
                    continue;
                };
                if shown(&now) != shown(&last) {
                    let finished = now.status.is_terminal();
                    return Some((Ok(event(&now)), (state, now, finished)));
                }
            }
        },
    );
    futures_util::stream::once(async move { Ok(start) }).chain(later)
}

/// Cancels a job: files in flight finish, what was written stays
/// consistent, the rest is left for the next run.
#[utoipa::path(delete, path = "/v1/ingest/jobs/{id}", tag = "ingest",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 202, description = "Cancelling", body = Object),
        (status = 404, description = "Unknown job", body = crate::error::ErrorBody)))]
#[delete("/v1/ingest/jobs/{id}")]
pub(crate) async fn cancel_job(
    state: web::Data<AppState>,
    caller: Caller<KnowledgeAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let k = knowledge(&state)?;
    let jobs = jobs(&k)?;
    // Unknown ids are refused before anything is recorded.
    jobs.record(&id).await?;
    let mut ev = caller.event("ingest.job.cancel", Outcome::Ok);
    ev.input = Some(serde_json::json!({"job_id": id.as_str()}));
    state.audit.record(ev).await?;
    // At once when it runs on this node, else at its worker's next renewal.
    let (record, cancelling) = jobs.cancel(&id).await?;
    let status = jobs.get(&id).map_or(record.status, |j| j.view().status);
    Ok(HttpResponse::Accepted()
        .json(serde_json::json!({"job_id": record.id, "cancelling": cancelling, "status": status})))
}

/// A search request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// The query, in Chinese, English or both.
    pub query: String,
    /// Hits to return (1–100). Default 10.
    #[serde(default)]
    pub k: Option<usize>,
    /// Narrowing filters (collections, document ids, path prefix,
    /// modified after). They cannot widen the caller's access.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filters: Option<SearchFilter>,
    /// Rerank the fused hits with the cross-encoder, when one is
    /// configured. Default false.
    #[serde(default)]
    pub rerank: Option<bool>,
    /// `bm25`, `dense` or `hybrid` (default).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mode: Option<Mode>,
    /// Chunks before and after each hit to attach for context (0–5).
    /// Default `retrieval.neighbours` from the configuration.
    #[serde(default)]
    pub neighbours: Option<usize>,
}

/// Hybrid search over the documents the caller may read.
#[utoipa::path(post, path = "/v1/search", tag = "search", request_body = SearchRequest,
    responses((status = 200, description = "Hits, best first, with every stage's score", body = Object),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 503, description = "Stores or model still loading", body = crate::error::ErrorBody)))]
#[post("/v1/search")]
pub(crate) async fn search(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    raw: web::Bytes,
) -> Result<web::Json<SearchResults>, ApiError> {
    let asker = caller.asker();
    let exchanges = state.exchanges();
    let body: SearchRequest = match parse_json(&raw) {
        Ok(b) => b,
        Err(e) => {
            let e = ExchangeError::invalid("invalid_json", e.to_string());
            return Err(exchanges.refuse(&asker, "search", e).await.into());
        }
    };
    let ask = SearchAsk {
        query: body.query,
        k: body.k,
        filter: body.filters.unwrap_or_default(),
        mode: body.mode.unwrap_or(Mode::Hybrid),
        rerank: body.rerank.unwrap_or(false),
        neighbours: body.neighbours,
    };
    let kn = knowledge(&state).ok();
    let results = exchanges
        .search(&asker, ask, kn.as_ref().map(|k| &k.searcher))
        .await?;
    Ok(web::Json(results))
}

/// Reads one multipart field's bytes as text (for the small form fields).
async fn field_text(field: &mut actix_multipart::Field) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|e| bad("invalid_multipart", e.to_string()))?;
        if buf.len() + chunk.len() > 64 << 10 {
            return Err(bad(
                "invalid_multipart",
                "a form field is longer than 64 KiB",
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| bad("invalid_multipart", "a form field is not UTF-8"))
}

/// The name an upload is stored under: its last path component, without
/// anything that could climb out of the upload folder.
fn upload_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if name.is_empty() || name.starts_with('.') || name.chars().any(char::is_control) {
        return Err(bad(
            "invalid_filename",
            format!("`{raw}` is not a usable file name"),
        ));
    }
    Ok(name.to_owned())
}

/// Uploads one document (`multipart/form-data`: a `file` part, optional
/// `collection` and repeated `access_group` parts) and ingests it.
#[utoipa::path(post, path = "/v1/documents", tag = "documents",
    request_body(content_type = "multipart/form-data", description = "file, collection, access_group…"),
    responses((status = 202, description = "Stored; ingestion queued", body = Object),
        (status = 400, description = "Invalid upload", body = crate::error::ErrorBody),
        (status = 413, description = "Larger than ingest.max_file_bytes", body = crate::error::ErrorBody)))]
#[post("/v1/documents")]
pub(crate) async fn upload_document(
    state: web::Data<AppState>,
    caller: Caller<KnowledgeAdmin>,
    mut form: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    use tokio::io::AsyncWriteExt;
    let k = knowledge(&state)?;
    // A query node takes no uploads: refused before anything is written.
    let jobs = jobs(&k)?;
    let limit = state.config.ingest.max_file_bytes;
    let uploads = state.config.storage.data_dir.join("uploads");
    tokio::fs::create_dir_all(&uploads)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", uploads.display())))?;
    let part = uploads.join(format!(".upload-{}", uuid::Uuid::new_v4()));
    // Removes the partial file on every early return.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = Cleanup(part.clone());
    let mut collection = "default".to_owned();
    let mut groups: Vec<String> = Vec::new();
    let mut file_name: Option<String> = None;
    let mut size: u64 = 0;
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| bad("invalid_multipart", e.to_string()))?;
        match field.name().unwrap_or_default() {
            "file" => {
                let raw = field
                    .content_disposition()
                    .and_then(|d| d.get_filename())
                    .unwrap_or_default()
                    .to_owned();
                file_name = Some(upload_name(&raw)?);
                let mut out = tokio::fs::File::create(&part)
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| bad("invalid_multipart", e.to_string()))?;
                    size += chunk.len() as u64;
                    if size > limit {
                        return Err(ApiError::PayloadTooLarge(format!(
                            "the file is larger than {limit} bytes (ingest.max_file_bytes)"
                        )));
                    }
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                }
                out.flush()
                    .await
                    .map_err(|e| ApiError::Internal(e.to_string()))?;
            }
            "collection" => collection = field_text(&mut field).await?,
            "access_group" | "access_groups" => groups.extend(
                field_text(&mut field)
                    .await?
                    .split(',')
                    .map(|g| g.trim().to_owned())
                    .filter(|g| !g.is_empty()),
            ),
            other => {
                return Err(bad(
                    "invalid_multipart",
                    format!("unknown part `{other}`: send file, collection and access_group"),
                ));
            }
        }
    }
    let name = file_name.ok_or_else(|| bad("invalid_multipart", "no `file` part"))?;
    valid_name("collection", &collection)?;
    if groups.is_empty() {
        groups.push(PUBLIC_GROUP.into());
    }
    for g in &groups {
        valid_name("access group", g)?;
    }
    zhishu_ingest::parse::Format::of(Path::new(&name))
        .map_err(|e| bad("unsupported_file_type", format!("{name}: {e}")))?;
    let folder = uploads.join(&collection);
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let target = folder.join(&name);
    tokio::fs::rename(&part, &target)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let target = zhishu_ingest::sync::absolute(&target);
    let path = target.display().to_string();
    let mut ev = caller.event("document.upload", Outcome::Ok);
    ev.input = Some(
        serde_json::json!({"path": path, "file": name, "bytes": size, "collection": collection, "access_groups": groups}),
    );
    state.audit.record(ev).await?;
    let spec = JobSpec {
        paths: vec![target],
        collection,
        access_groups: groups,
        recursive: false,
        sync_deletes: false,
    };
    let job = jobs.submit(spec, &caller.principal.username).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "job_id": job.id, "path": path, "bytes": size,
    })))
}

/// A page of documents.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentQuery {
    /// Only this collection.
    pub collection: Option<String>,
    /// Page size (1–500). Default 100.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// Whether a document shares an access group with the caller's scope: the
/// one rule every document endpoint applies (404 when it does not).
pub(crate) fn visible(doc: &DocumentRecord, scope: &Scope) -> bool {
    doc.access_groups.iter().any(|g| scope.groups().contains(g))
}

/// Documents the caller may read, with their indexing status.
#[utoipa::path(get, path = "/v1/documents", tag = "documents",
    params(("collection" = Option<String>, Query, description = "Only this collection"),
        ("limit" = Option<i64>, Query, description = "Page size"),
        ("offset" = Option<i64>, Query, description = "Rows to skip")),
    responses((status = 200, description = "Documents", body = Object)))]
#[get("/v1/documents")]
pub(crate) async fn list_documents(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let offset = query.offset.unwrap_or(0).max(0);
    let scope = scope_of(&caller);
    let docs = state
        .store
        .list_documents(query.collection.as_deref(), limit, offset)
        .await?;
    let docs: Vec<DocumentRecord> = docs.into_iter().filter(|d| visible(d, &scope)).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"documents": docs})))
}

/// One document and its chunks' places (pages, sections, token counts).
#[utoipa::path(get, path = "/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The document", body = Object),
        (status = 404, description = "Unknown, or not readable by the caller", body = crate::error::ErrorBody)))]
#[get("/v1/documents/{id}")]
pub(crate) async fn get_document(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let doc = state.store.document(&id).await?;
    // A document the caller may not read does not exist for them.
    if !visible(&doc, &scope_of(&caller)) {
        return Err(ApiError::NotFound(format!("document `{id}` not found")));
    }
    let mut ev = caller.event("document.read", Outcome::Ok);
    ev.documents = vec![doc.id.clone()];
    state.audit.record(ev).await?;
    let chunks = state.store.chunks(&doc.id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"document": doc, "chunks": chunks})))
}

/// Removes a document from every store (vectors, lexical index, registry).
#[utoipa::path(delete, path = "/v1/documents/{id}", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "Unknown document", body = crate::error::ErrorBody)))]
#[delete("/v1/documents/{id}")]
pub(crate) async fn delete_document(
    state: web::Data<AppState>,
    caller: Caller<KnowledgeAdmin>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let doc = state.store.document(&id).await?;
    let k = knowledge(&state)?;
    let jobs = jobs(&k)?;
    let mut ev = caller.event("document.delete", Outcome::Ok);
    ev.documents = vec![doc.id.clone()];
    ev.input = Some(serde_json::json!({"path": doc.source_path, "collection": doc.collection}));
    state.audit.record(ev).await?;
    jobs.delete_document(&doc.id).await?;
    Ok(HttpResponse::NoContent().finish())
}
