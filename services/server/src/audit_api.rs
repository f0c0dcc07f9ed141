//! The compliance API: search, read, export and verify the audit trail.
//! Compliance officers only; every call is itself audited before it answers.

use crate::access::{Caller, Compliance};
use crate::knowledge::{PUBLIC_GROUP, knowledge};
use crate::{ApiError, AppState};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use zhishu_audit::{CSV_HEADER, Outcome, csv_line, jsonl_line, parse_time, rfc3339, verify};
use zhishu_retrieval::Scope;
use zhishu_store::{AuditFilter, AuditRecord, AuditStore, Repository};

/// Rows fetched per page while exporting: memory stays flat.
const EXPORT_PAGE: i64 = 500;

/// Registers the audit routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(events)
        .service(event)
        .service(passage)
        .service(export)
        .service(verify_chain);
}

/// Filters shared by search and export. All optional.
#[derive(Debug, Deserialize, IntoParams, Serialize, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's events.
    pub user: Option<String>,
    /// Only this action; a prefix ending in `.` (e.g. `auth.`) matches a family.
    pub action: Option<String>,
    /// `ok`, `error` or `refused`.
    pub outcome: Option<String>,
    /// From this time: Unix ms, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
    pub from: Option<String>,
    /// Before this time (same forms).
    pub to: Option<String>,
    /// Text contained in the question or the answer.
    pub text: Option<String>,
    /// Events that retrieved or changed this document.
    pub document_id: Option<String>,
    /// Events with a guard decision of this rule (`pii.cn_id`), of this
    /// family (`injection.`), or of any rule (`*`).
    pub guard: Option<String>,
    /// Cursor from the previous page (`next_cursor`).
    pub cursor: Option<i64>,
    /// Page size, 1–1000 (default 100).
    pub limit: Option<i64>,
    /// Export format: `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

/// Parses the query string after authentication, so that an anonymous
/// caller gets 401, not a validation error.
fn parse_query(req: &HttpRequest) -> Result<AuditQuery, ApiError> {
    web::Query::<AuditQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::BadRequest {
            code: "invalid_query",
            message: e.to_string(),
        })
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let time = |t: &Option<String>| -> Result<Option<i64>, ApiError> {
            t.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(|m| ApiError::BadRequest {
                    code: "invalid_time",
                    message: m,
                })
        };
        if let Some(o) = &self.outcome
            && !["ok", "error", "refused", "cancelled", "interrupted"].contains(&o.as_str())
        {
            return Err(ApiError::BadRequest {
                code: "invalid_outcome",
                message: format!(
                    "`{o}` is not an outcome: use ok, error, refused, cancelled or interrupted"
                ),
            });
        }
        Ok(AuditFilter {
            actor: self.user.clone(),
            action: self.action.clone(),
            outcome: self.outcome.clone(),
            from_ms: time(&self.from)?,
            to_ms: time(&self.to)?,
            text: self.text.clone(),
            document_id: self.document_id.clone(),
            guard: self.guard.clone().filter(|g| !g.trim().is_empty()),
            before_seq: self.cursor,
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
        })
    }
}

/// One event as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Position in the chain.
    pub seq: i64,
    /// Event id.
    pub id: String,
    /// Time, RFC 3339 UTC.
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// `ok`, `error`, `refused`, `cancelled` or `interrupted`.
    pub outcome: String,
    /// Client address.
    pub client_addr: Option<String>,
    /// The whole event: actor roles and groups, input, sources, answer,
    /// model, usage, latency, policy decisions.
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// Hash of this event.
    pub hash: String,
    /// The chain encoding the event was hashed with (1: written before
    /// version 0.2; 2: the stored payload bytes).
    pub encoding: i64,
}

impl From<AuditRecord> for EventView {
    fn from(r: AuditRecord) -> Self {
        Self {
            seq: r.seq,
            id: r.id,
            time: rfc3339(r.occurred_at),
            actor: r.actor,
            action: r.action,
            outcome: r.outcome,
            client_addr: r.client_addr,
            event: r.payload,
            prev_hash: r.prev_hash,
            hash: r.hash,
            encoding: r.encoding,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// Searches the audit trail, newest first, with cursor pagination.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "A page of events", body = EventPage),
        (status = 400, description = "Invalid filter", body = crate::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::error::ErrorBody),
        (status = 403, description = "Not a compliance officer", body = crate::error::ErrorBody)))]
#[get("/v1/audit/events")]
pub(crate) async fn events(
    state: web::Data<AppState>,
    caller: Caller<Compliance>,
    req: HttpRequest,
) -> Result<web::Json<EventPage>, ApiError> {
    let query = parse_query(&req)?;
    let filter = query.filter()?;
    let mut audit = caller.event("audit.search", Outcome::Ok);
    audit.input = serde_json::to_value(&query).ok();
    state.audit.record(audit).await?;
    let records = state.store.search_audit(&filter).await?;
    let next_cursor = (records.len() as i64 == filter.limit)
        .then(|| records.last().map(|r| r.seq))
        .flatten();
    Ok(web::Json(EventPage {
        events: records.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// One event by id.
#[utoipa::path(get, path = "/v1/audit/events/{id}", tag = "audit",
    params(("id" = String, Path, description = "Event id")),
    responses((status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event", body = crate::error::ErrorBody)))]
#[get("/v1/audit/events/{id}")]
pub(crate) async fn event(
    state: web::Data<AppState>,
    caller: Caller<Compliance>,
    id: web::Path<String>,
) -> Result<web::Json<EventView>, ApiError> {
    let mut audit = caller.event("audit.read", Outcome::Ok);
    audit.input = Some(serde_json::json!({"id": *id}));
    state.audit.record(audit).await?;
    Ok(web::Json(state.store.audit_event(&id).await?.into()))
}

/// A passage an audited exchange retrieved, for the officer to read: only
/// chunks the event names, looked up within the scope the asker had (the
/// event's `input.scope`, else their groups and `public`). A chunk id names
/// one version of its document, so the text is what was retrieved; once
/// the document has changed or been deleted, the passage is gone (404).
#[utoipa::path(get, path = "/v1/audit/events/{id}/passages/{chunk_id}", tag = "audit",
    params(("id" = String, Path, description = "Event id"),
        ("chunk_id" = String, Path, description = "A chunk the event retrieved")),
    responses((status = 200, description = "The passage: document, version, title, path, page, section, text", body = Object),
        (status = 404, description = "No such event, the event did not retrieve that chunk, or it is no longer indexed", body = crate::error::ErrorBody)))]
#[get("/v1/audit/events/{id}/passages/{chunk_id}")]
pub(crate) async fn passage(
    state: web::Data<AppState>,
    caller: Caller<Compliance>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let (id, chunk_id) = path.into_inner();
    let record = state.store.audit_event(&id).await?;
    let retrieved = record.payload["retrieved"]
        .as_array()
        .and_then(|r| r.iter().find(|s| s["chunk_id"] == chunk_id.as_str()))
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(format!("event {id} did not retrieve chunk {chunk_id}"))
        })?;
    let names = |v: &Vec<serde_json::Value>| -> Vec<String> {
        v.iter()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect()
    };
    let input = &record.payload["input"];
    let groups: Vec<String> = match (input["scope"].as_array(), input["groups"].as_array()) {
        (Some(scope), _) => names(scope),
        // `zhishu ask` before the exchange service recorded its groups here.
        (None, Some(groups)) => names(groups),
        (None, None) => record.payload["actor"]["groups"]
            .as_array()
            .map(names)
            .unwrap_or_default()
            .into_iter()
            .chain(std::iter::once(PUBLIC_GROUP.to_owned()))
            .collect(),
    };
    let kn = knowledge(&state)?;
    let found = kn
        .searcher
        .lexical
        .get(std::slice::from_ref(&chunk_id), &Scope::of_groups(groups))
        .await?
        .into_iter()
        .next();
    let mut audit = caller.event(
        "audit.passage.read",
        if found.is_some() {
            Outcome::Ok
        } else {
            Outcome::Error
        },
    );
    audit.input = Some(serde_json::json!({"event_id": id, "chunk_id": chunk_id}));
    audit.documents = retrieved["document_id"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    let Some(c) = found else {
        let gone = format!(
            "chunk {chunk_id} is no longer indexed: its document (version {}) was changed or deleted since",
            retrieved["document_version"]
        );
        audit.error = Some(gone.clone());
        state.audit.record(audit).await?;
        return Err(ApiError::NotFound(gone));
    };
    // Recorded before the passage leaves.
    state.audit.record(audit).await?;
    Ok(web::Json(serde_json::json!({
        "chunk_id": c.chunk_id,
        "document_id": c.document_id,
        "document_version": c.version,
        "title": c.title,
        "path": c.path,
        "page": c.page,
        "section": c.section_path,
        "text": c.text,
    })))
}

/// Exports the events matching the filters as JSON lines or CSV, streamed
/// page by page (newest first) so that any size exports in flat memory.
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "The events", content_type = "application/x-ndjson"),
        (status = 400, description = "Invalid filter or format", body = crate::error::ErrorBody)))]
#[get("/v1/audit/export")]
pub(crate) async fn export(
    state: web::Data<AppState>,
    caller: Caller<Compliance>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = parse_query(&req)?;
    let csv = match query.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        other => {
            return Err(ApiError::BadRequest {
                code: "invalid_format",
                message: format!("`{other}` is not an export format: use jsonl or csv"),
            });
        }
    };
    let mut filter = query.filter()?;
    filter.limit = EXPORT_PAGE;
    let mut audit = caller.event("audit.export", Outcome::Ok);
    audit.input = serde_json::to_value(&query).ok();
    state.audit.record(audit).await?;

    let store: Arc<dyn Repository> = Arc::new(state.store.clone());
    let header = csv.then(|| Ok::<_, ApiError>(Bytes::from_static(CSV_HEADER.as_bytes())));
    let pages = futures_util::stream::unfold(Some(filter), move |state| {
        let store = store.clone();
        async move {
            let filter = state?;
            match store.search_audit(&filter).await {
                Ok(records) if records.is_empty() => None,
                Ok(records) => {
                    let next = (records.len() as i64 == filter.limit).then(|| AuditFilter {
                        before_seq: records.last().map(|r| r.seq),
                        ..filter.clone()
                    });
                    let mut chunk = String::new();
                    for r in &records {
                        chunk.push_str(&if csv { csv_line(r) } else { jsonl_line(r) });
                    }
                    Some((Ok(Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export stopped");
                    Some((Err(ApiError::from(e)), None))
                }
            }
        }
    });
    let body = futures_util::stream::iter(header).chain(pages);
    let (content_type, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"zhishu-audit.{ext}\""),
        ))
        .streaming(body))
}

use futures_util::StreamExt;

/// Verifies the whole hash chain and reports the first bad event.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, description = "The verification result (`ok` false names the first bad event)")))]
#[get("/v1/audit/verify")]
pub(crate) async fn verify_chain(
    state: web::Data<AppState>,
    caller: Caller<Compliance>,
) -> Result<HttpResponse, ApiError> {
    let result = verify(&state.store).await?;
    let mut audit = caller.event("audit.verify", Outcome::Ok);
    audit.answer = Some(result.summary());
    state.audit.record(audit).await?;
    Ok(HttpResponse::Ok().json(result))
}
