//! Zhishu's HTTP layer.
//!
//! This crate owns everything that knows about HTTP: the actix-web app, the
//! middleware that gives every request an id, a tracing span and metrics, the
//! mapping of errors to status codes, the operational endpoints and the
//! OpenAPI document. It calls into the domain crates and never the other way
//! round; handlers stay thin.
//!
//! The binary calls [`run`] with a validated [`Config`]; that is the whole
//! wiring.
#![warn(missing_docs)]

pub mod access;
mod audit_api;
mod chat;
mod departure;
mod document_files;
mod embeddings;
mod error;
mod guard_api;
mod identity;
mod knowledge;
mod metrics;
mod middleware;
mod openapi;
mod ops;
mod readiness;
mod state;
pub mod telemetry;
mod ui;

pub use error::{ApiError, ServerError};
pub use knowledge::Knowledge;
pub use middleware::RequestId;
pub use openapi::ApiDoc;
pub use state::{AppState, LoadError, Service, Slot};

use actix_web::{App, HttpServer, web};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};
use zhishu_core::Config;
use zhishu_store::SqlStore;

/// Runs the server until SIGINT or SIGTERM, then lets in-flight requests
/// finish (up to `server.shutdown_timeout_secs`) and returns.
///
/// The database may be down at start: the server still starts, reports
/// "not ready" on `/readyz`, and applies the migrations as soon as the
/// database answers.
///
/// Must be called inside an actix system (`actix_web::rt::System`).
///
/// # Errors
/// [`ServerError`] when the address cannot be bound or the database URL is
/// unusable.
pub async fn run(config: Config, service: Service) -> Result<(), ServerError> {
    let addr = config.listen_addr()?;
    let store = SqlStore::connect_lazy(&config.database)?;
    let state = web::Data::new(AppState::new(Arc::new(config), store, service)?);
    let migrations = actix_web::rt::spawn(state::migrate_until_ready(state.clone().into_inner()));
    let lexicon_watch = actix_web::rt::spawn(guard_api::watch_lexicons(state.clone().into_inner()));

    let app_state = state.clone();
    let cfg = &state.config.server;
    let max_json = cfg.max_json_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(error::json_config(max_json))
            .app_data(web::PayloadConfig::new(embeddings::MAX_BODY_BYTES))
            .app_data(error::query_config())
            .app_data(error::path_config())
            .wrap(actix_web::middleware::from_fn(middleware::request_context))
            .configure(ops::configure)
            .configure(identity::configure)
            .configure(audit_api::configure)
            .configure(embeddings::configure)
            .configure(knowledge::configure)
            .configure(document_files::configure)
            .configure(chat::configure)
            .configure(guard_api::configure)
            .default_service(web::to(ui::fallback))
    })
    .on_connect(departure::on_connect)
    .shutdown_timeout(cfg.shutdown_timeout_secs)
    .client_request_timeout(Duration::from_secs(30))
    // actix treats SIGINT as a forced stop; we want both SIGINT and SIGTERM
    // to drain in-flight requests, so the signals are ours (see below).
    .disable_signals();
    if cfg.workers > 0 {
        server = server.workers(cfg.workers);
    }
    let server = server
        .bind(addr)
        .map_err(|source| ServerError::Bind { addr, source })?;
    for bound in server.addrs() {
        info!(
            service = %service,
            database = %state.config.database.redacted_url(),
            "listening on http://{bound}"
        );
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(async move {
        let signal = shutdown_signal().await;
        info!(
            signal,
            "shutting down: no new connections; finishing in-flight requests"
        );
        handle.stop(true).await;
    });
    let result = server.await;
    migrations.abort();
    lexicon_watch.abort();
    // No more job claims: one waiting on the database must not hold the
    // pool's close up.
    if let Some(Ok(k)) = state.knowledge.get()
        && let Some(jobs) = &k.jobs
    {
        jobs.stop();
    }
    state.store.close().await;
    match result {
        Ok(()) => {
            info!("shutdown complete");
            Ok(())
        }
        Err(e) => {
            warn!(error = %e, "server stopped with an error");
            Err(ServerError::Io(e))
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM, naming it.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
