//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use crate::error::ApiError;
use crate::readiness::{Check, run_checks};
use crate::{ApiDoc, AppState};
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// Registers the operational routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(openapi);
}

/// Liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    /// Zhishu version.
    pub version: &'static str,
    /// Which API this process serves: `all`, `ingest` or `query`.
    pub service: String,
}

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// One entry per configured store.
    pub checks: Vec<Check>,
}

/// Liveness: the process is up and serving HTTP. Checks no dependency.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Health)))]
#[get("/healthz")]
pub(crate) async fn healthz(state: web::Data<AppState>) -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        service: state.service.to_string(),
    })
}

/// Readiness: every configured store is usable. 503 names the failing ones.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every store is usable", body = Readiness),
        (status = 503, description = "At least one store failed; see `checks`", body = Readiness)))]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let checks = run_checks(&state).await;
    let failed: Vec<_> = checks.iter().filter(|c| !c.ok).collect();
    if failed.is_empty() {
        HttpResponse::Ok().json(Readiness {
            status: "ready",
            checks,
        })
    } else {
        for c in &failed {
            tracing::warn!(check = c.name, detail = %c.detail, "readiness check failed");
        }
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(Readiness {
                status: "not_ready",
                checks,
            })
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(Ok(worker)) = state.embedder.get() {
        state.metrics.observe_encoder(worker);
    }
    state.metrics.observe_guard(&state.guard);
    let text = state
        .metrics
        .render()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub(crate) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
