//! The guards' administration: sensitive-word lexicons (list, read,
//! replace, add and remove entries, delete) and a check of a text against
//! the policy in force. Administrators change; compliance officers read
//! and check. Every call is audited.
//!
//! The lexicons are files (guard.lexicons); a change made here is written
//! to its file and loaded at once, a change made to the files by hand is
//! loaded by [`watch_lexicons`] within `guard.reload_secs`.

use crate::access::{Caller, GuardAdmin, GuardReader};
use crate::error::{bad, parse_json};
use crate::{ApiError, AppState};
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use zhishu_audit::Outcome;
use zhishu_guard::{Context, GuardError, GuardPoint};

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_lexicons)
        .service(get_lexicon)
        .service(put_lexicon)
        .service(edit_lexicon)
        .service(delete_lexicon)
        .service(check);
}

/// A guard error as the client may see it: what to fix, without the
/// server's paths.
fn client_error(e: GuardError) -> ApiError {
    match e {
        GuardError::Lexicon { line, message, .. } => {
            bad("invalid_lexicon", format!("line {line}: {message}"))
        }
        e @ GuardError::BadName(_) => bad("invalid_lexicon_name", e.to_string()),
        e @ GuardError::NoLexicon(_) => ApiError::NotFound(e.to_string()),
        GuardError::Io { path, source } => {
            ApiError::Internal(format!("lexicon file {}: {source}", path.display()))
        }
        e => ApiError::Internal(e.to_string()),
    }
}

/// Records an administrator's change, succeeded or not, before the
/// response leaves.
async fn record_change<T>(
    state: &AppState,
    caller: &Caller<GuardAdmin>,
    action: &str,
    input: serde_json::Value,
    result: &Result<T, GuardError>,
) -> Result<(), ApiError> {
    let outcome = if result.is_ok() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    let mut ev = caller.event(action, outcome);
    ev.input = Some(input);
    ev.error = result.as_ref().err().map(ToString::to_string);
    state.audit.record(ev).await?;
    Ok(())
}

/// The lists in force.
#[utoipa::path(get, path = "/v1/guard/lexicons", tag = "guard",
    responses((status = 200, description = "Each list's name (rule `lexicon.NAME`) and entry count", body = Object)))]
#[get("/v1/guard/lexicons")]
pub(crate) async fn list_lexicons(
    state: web::Data<AppState>,
    caller: Caller<GuardReader>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    state
        .audit
        .record(caller.event("guard.lexicon.list", Outcome::Ok))
        .await?;
    let lexicons = state.guard.lexicons();
    Ok(web::Json(json!({
        "data": lexicons.list(),
        "enabled": state.guard.enabled(),
    })))
}

/// One list: its entries and its file text.
#[utoipa::path(get, path = "/v1/guard/lexicons/{name}", tag = "guard",
    params(("name" = String, Path, description = "List name")),
    responses((status = 200, description = "The list", body = Object),
        (status = 404, description = "No such list", body = crate::error::ErrorBody)))]
#[get("/v1/guard/lexicons/{name}")]
pub(crate) async fn get_lexicon(
    state: web::Data<AppState>,
    caller: Caller<GuardReader>,
    name: web::Path<String>,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let mut ev = caller.event("guard.lexicon.read", Outcome::Ok);
    ev.input = Some(json!({"name": *name}));
    state.audit.record(ev).await?;
    let l = state.guard.lexicons().get(&name).map_err(client_error)?;
    let entries: Vec<_> = l
        .entries
        .iter()
        .map(|e| json!({"term": e.term, "whole_word": e.whole_word}))
        .collect();
    Ok(web::Json(
        json!({"name": l.name, "rule": format!("lexicon.{}", l.name), "entries": entries, "text": l.to_text()}),
    ))
}

/// Replaces (or creates) a list with the text of the body (the file
/// format: one entry per line, `# comment`, `ENTRY | word`). A text that
/// does not parse is refused with its line; the list in force stays.
#[utoipa::path(put, path = "/v1/guard/lexicons/{name}", tag = "guard",
    params(("name" = String, Path, description = "List name: 1–64 of a-z, 0-9, `_`, `-`")),
    request_body(content = String, content_type = "text/plain", description = "The list, UTF-8"),
    responses((status = 200, description = "The list as loaded", body = Object),
        (status = 400, description = "A line that does not parse", body = crate::error::ErrorBody)))]
#[put("/v1/guard/lexicons/{name}")]
pub(crate) async fn put_lexicon(
    state: web::Data<AppState>,
    caller: Caller<GuardAdmin>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        bad(
            "invalid_lexicon",
            "the list is not UTF-8: send it as UTF-8 text",
        )
    })?;
    let result = state.guard.lexicons().put(&name, text);
    let input = json!({"name": *name, "bytes": body.len()});
    record_change(&state, &caller, "guard.lexicon.write", input, &result).await?;
    let l = result.map_err(client_error)?;
    Ok(web::Json(
        json!({"name": l.name, "entries": l.entries.len()}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// Adds and removes entries of a list (created by a first addition).
#[utoipa::path(post, path = "/v1/guard/lexicons/{name}/entries", tag = "guard",
    params(("name" = String, Path, description = "List name")),
    request_body(content = Object, description = "{\"add\": [\"ENTRY\", \"ENTRY | word\"], \"remove\": [\"ENTRY\"]}"),
    responses((status = 200, description = "The list as loaded", body = Object),
        (status = 400, description = "An entry that does not parse", body = crate::error::ErrorBody)))]
#[post("/v1/guard/lexicons/{name}/entries")]
pub(crate) async fn edit_lexicon(
    state: web::Data<AppState>,
    caller: Caller<GuardAdmin>,
    name: web::Path<String>,
    raw: web::Bytes,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let edit: Edit = parse_json(&raw).map_err(|e| bad("invalid_json", e.to_string()))?;
    if edit
        .add
        .iter()
        .chain(&edit.remove)
        .any(|e| e.contains('\n'))
    {
        return Err(bad("invalid_lexicon", "an entry is one line"));
    }
    let store = state.guard.lexicons();
    let result = (|| {
        let mut l = None;
        if !edit.add.is_empty() {
            l = Some(store.add(&name, &edit.add)?);
        }
        if !edit.remove.is_empty() {
            l = Some(store.remove(&name, &edit.remove)?);
        }
        match l {
            Some(l) => Ok(l),
            None => store.get(&name),
        }
    })();
    let input = json!({"name": *name, "added": edit.add.len(), "removed": edit.remove.len()});
    record_change(&state, &caller, "guard.lexicon.write", input, &result).await?;
    let l = result.map_err(client_error)?;
    Ok(web::Json(
        json!({"name": l.name, "entries": l.entries.len()}),
    ))
}

/// Deletes a list.
#[utoipa::path(delete, path = "/v1/guard/lexicons/{name}", tag = "guard",
    params(("name" = String, Path, description = "List name")),
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such list", body = crate::error::ErrorBody)))]
#[delete("/v1/guard/lexicons/{name}")]
pub(crate) async fn delete_lexicon(
    state: web::Data<AppState>,
    caller: Caller<GuardAdmin>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let result = state.guard.lexicons().delete(&name);
    let input = json!({"name": *name});
    record_change(&state, &caller, "guard.lexicon.delete", input, &result).await?;
    result.map_err(client_error)?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckRequest {
    text: String,
    #[serde(default = "question")]
    point: GuardPoint,
    #[serde(default)]
    collection: Option<String>,
}

fn question() -> GuardPoint {
    GuardPoint::Question
}

/// Longest text a check takes, in bytes.
const MAX_CHECK_BYTES: usize = 1 << 20;

/// What the guards find in a text at a point, and what the policy in
/// force does with it, for the caller's roles and groups.
#[utoipa::path(post, path = "/v1/guard/check", tag = "guard",
    request_body(content = Object, description = "{\"text\": \"…\", \"point\": \"question|passage|answer|document\", \"collection\": optional}"),
    responses((status = 200, description = "Findings (rule, action, offsets) and the text as the model and the user would see it", body = Object)))]
#[post("/v1/guard/check")]
pub(crate) async fn check(
    state: web::Data<AppState>,
    caller: Caller<GuardReader>,
    raw: web::Bytes,
) -> Result<web::Json<serde_json::Value>, ApiError> {
    let req: CheckRequest = parse_json(&raw).map_err(|e| bad("invalid_json", e.to_string()))?;
    if req.text.len() > MAX_CHECK_BYTES {
        return Err(bad("text_too_long", "`text` is longer than 1 MiB"));
    }
    let ctx = Context {
        roles: caller.principal.roles.clone(),
        groups: caller.principal.groups.clone(),
        collections: req.collection.clone().into_iter().collect(),
    };
    let guard = state.guard.clone();
    let text = req.text.clone();
    let point = req.point;
    let checked = ctx.clone();
    // A megabyte is checked in linear time, but not on an HTTP worker.
    let mut verdict = web::block(move || guard.check(&text, point, &checked))
        .await
        .map_err(|e| ApiError::Internal(format!("guard check: {e}")))?;
    // A question is judged as a chat question would be: by the injection
    // model too, with this node's embedder.
    if point == GuardPoint::Question {
        let kn = crate::knowledge::loaded(&state);
        zhishu_query::screen::weigh_question(
            &state.guard,
            kn.as_ref().map(|k| &k.searcher.encoder),
            &req.text,
            &mut verdict,
            &ctx,
            &state.guard.redactor(),
        )
        .await
        .map_err(|e| ApiError::from(zhishu_query::ExchangeError::GuardFailed(e)))?;
    }
    let report = state.guard.report_of(&req.text, verdict);
    let mut ev = caller.event("guard.check", Outcome::Ok);
    ev.input = Some(json!({"point": point.as_str(), "chars": req.text.chars().count()}));
    ev.policy = zhishu_query::screen::decisions(point, "check", &report.verdict);
    state.audit.record(ev).await?;
    Ok(web::Json(serde_json::to_value(&report).map_err(|e| {
        ApiError::Internal(format!("guard check report: {e}"))
    })?))
}

/// Reloads the lexicons when their files change, every
/// `guard.reload_secs`; a file that does not parse is logged with its line
/// and the lists in force stay.
pub(crate) async fn watch_lexicons(state: Arc<AppState>) {
    let secs = state.config.guard.reload_secs;
    if secs == 0 || !state.guard.enabled() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    tick.tick().await;
    loop {
        tick.tick().await;
        let store = state.guard.lexicons().clone();
        let outcome = tokio::task::spawn_blocking(move || store.reload_if_changed()).await;
        match outcome {
            Ok(None) => {}
            Ok(Some(Ok(r))) => {
                let entries: usize = r.lists.iter().map(|l| l.entries).sum();
                tracing::info!(lists = r.lists.len(), entries, "lexicons reloaded");
                for e in r.refused {
                    tracing::warn!(error = %e, "a lexicon file does not parse; its last loaded version stays in force");
                }
            }
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "the lexicon folder cannot be read; the lists in force stay")
            }
            Err(e) => tracing::error!(error = %e, "the lexicon watch failed"),
        }
    }
}
