//! Shared state of the HTTP workers.

use crate::Knowledge;
use crate::ServerError;
use crate::metrics::Metrics;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tracing::{info, warn};
use zhishu_audit::AuditLog;
use zhishu_auth::oidc::OidcVerifier;
use zhishu_auth::{Authenticator, RateLimiter};
use zhishu_core::Config;
use zhishu_encoders::{Embedder, EncoderWorker, WorkerConfig};
use zhishu_guard::Guard;
use zhishu_ingest::jobs::{JobManager, Worker};
use zhishu_query::{Exchanges, Rag};
use zhishu_store::{Repository, SqlStore, StoreError};

/// Which API a process serves. A single box serves both; scaled out, the
/// ingest and query services run as separate processes on the same image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Service {
    /// Ingestion and query APIs.
    #[default]
    All,
    /// Ingestion APIs only.
    Ingest,
    /// Query APIs only.
    Query,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::All => "all",
            Service::Ingest => "ingest",
            Service::Query => "query",
        })
    }
}

/// State of the schema migrations, as readiness reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MigrationState {
    /// Not attempted yet, or the database did not answer yet.
    Pending(String),
    /// Applied.
    Done,
    /// Failed for a reason other than the database being unreachable.
    Failed(String),
}

/// What every handler can reach.
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The relational store.
    pub store: SqlStore,
    /// Which API this process serves.
    pub service: Service,
    /// The audit trail's writer.
    pub audit: AuditLog,
    /// Authentication.
    pub auth: Authenticator,
    /// The embedding model's worker, once loaded (it loads in the
    /// background so the server answers health checks meanwhile).
    pub embedder: Slot<EncoderWorker>,
    /// Ingestion jobs and search, once the embedder and the stores are
    /// open.
    pub knowledge: Slot<Arc<Knowledge>>,
    /// The language model and the chat pipeline, once loaded (in the
    /// background, like the embedder).
    pub rag: Slot<Arc<Rag>>,
    /// When the process started, seconds since the epoch.
    pub started_at: u64,
    /// This process among those sharing the database (host and listen
    /// address): exchanges it left open when it last stopped are closed as
    /// interrupted when it starts.
    pub node: String,
    /// The guards (lexicons reloaded in the background).
    pub guard: Arc<Guard>,
    /// When the process started, Unix milliseconds.
    started_ms: i64,
    /// The store as the exchange service uses it (one handle for every
    /// request).
    exchange_store: Arc<dyn zhishu_store::ExchangeStore>,
    pub(crate) limiter: RateLimiter,
    pub(crate) login_limiter: RateLimiter,
    pub(crate) metrics: Metrics,
    pub(crate) migrations: RwLock<MigrationState>,
}

impl AppState {
    /// Builds the state and starts the audit writer; the store may not be
    /// reachable yet. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// When the metrics registry cannot be built (a bug), or the guards'
    /// lexicons cannot be loaded (the file and line are named).
    pub fn new(
        config: Arc<Config>,
        store: SqlStore,
        service: Service,
    ) -> Result<Self, ServerError> {
        let guard = Arc::new(Guard::new(&config.guard)?);
        let repo: Arc<dyn Repository> = Arc::new(store.clone());
        let oidc = config.auth.oidc.clone().map(OidcVerifier::new);
        let ttl = Duration::from_secs(config.auth.session_ttl_minutes.max(1) * 60);
        let logins = config.limits.logins_per_minute;
        let embedder = Arc::new(OnceLock::new());
        let knowledge = Arc::new(OnceLock::new());
        let node = format!("{}:{}", host_name(), config.server.listen);
        load_embedder(
            &config,
            guard.clone(),
            embedder.clone(),
            knowledge.clone(),
            repo.clone(),
            service,
            (node.clone(), tokio::runtime::Handle::try_current().ok()),
        );
        let rag = Arc::new(OnceLock::new());
        let metrics = Metrics::new()?;
        if service == Service::Ingest {
            let _ = rag.set(Err(LoadError::IngestOnly));
        } else {
            load_engine(&config, rag.clone(), metrics.registry.clone());
        }
        Ok(Self {
            guard,
            node,
            started_ms: zhishu_store::now_ms(),
            exchange_store: repo.clone(),
            rag,
            started_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            embedder,
            knowledge,
            audit: AuditLog::start(repo.clone(), config.audit.queue),
            auth: Authenticator::new(repo, ttl, oidc),
            limiter: limiter(
                config.limits.requests_per_minute,
                config.limits.burst,
                &store,
            ),
            login_limiter: limiter(logins, logins.max(1), &store),
            config,
            store,
            service,
            metrics,
            migrations: RwLock::new(MigrationState::Pending("not attempted yet".into())),
        })
    }

    /// The exchange service over what this process has loaded so far.
    pub fn exchanges(&self) -> Exchanges {
        Exchanges::new(
            self.rag.get().and_then(|r| r.as_ref().ok().cloned()),
            self.audit.clone(),
            self.exchange_store.clone(),
            &self.config.audit,
            self.node.clone(),
            self.guard.clone(),
        )
    }

    pub(crate) fn migration_state(&self) -> MigrationState {
        self.migrations
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set_migration_state(&self, state: MigrationState) {
        match self.migrations.write() {
            Ok(mut s) => *s = state,
            Err(p) => *p.into_inner() = state,
        }
    }
}

/// Applies the migrations, retrying with backoff while the database is
/// unreachable. A migration that fails for another reason is not retried: it
/// needs an operator, and readiness says so.
pub(crate) async fn migrate_until_ready(state: Arc<AppState>) {
    let mut delay = Duration::from_millis(250);
    loop {
        match state.store.migrate().await {
            Ok(()) => {
                info!("database schema is up to date");
                state.set_migration_state(MigrationState::Done);
                close_interrupted(&state).await;
                return;
            }
            Err(StoreError::Unavailable(e)) => {
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unreachable; will retry");
                state.set_migration_state(MigrationState::Pending(e));
            }
            Err(e) => {
                warn!(error = %e, "database migration failed");
                state.set_migration_state(MigrationState::Failed(e.to_string()));
                return;
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Closes, as interrupted, the exchanges this node's previous life left
/// open (it stopped while answering), so the trail accounts for each.
async fn close_interrupted(state: &AppState) {
    let repo: &dyn Repository = &state.store;
    match zhishu_query::exchange::close_interrupted(
        &state.audit,
        repo,
        &state.node,
        state.started_ms,
    )
    .await
    {
        Ok(0) => {}
        Ok(n) => warn!(
            exchanges = n,
            "closed exchanges interrupted when this node last stopped"
        ),
        Err(e) => {
            warn!(error = %e, "cannot close interrupted exchanges; will try at the next start")
        }
    }
}

/// A rate limiter whose buckets every node shares when the database is
/// PostgreSQL (several nodes behind a load balancer), and this process's
/// own with SQLite (one box: no database write per request).
fn limiter(per_minute: u32, burst: u32, store: &SqlStore) -> RateLimiter {
    match store.backend() {
        zhishu_store::Backend::Postgres => {
            RateLimiter::shared(per_minute, burst, Arc::new(store.clone()))
        }
        zhishu_store::Backend::Sqlite => RateLimiter::new(per_minute, burst),
    }
}

/// The machine's host name (Linux), for the node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A component loaded in the background: not yet (`None`), loaded, or why
/// not. The error is kept typed; readiness and the log say it in words,
/// clients only learn that the component is unavailable.
pub type Slot<T> = Arc<OnceLock<Result<T, LoadError>>>;

/// Why a component loaded in the background is not there.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The embedding model could not be loaded or started.
    #[error("{source} (model folder {path}; run scripts/fetch-assets.sh for the offline default)")]
    Embedder {
        /// Its folder.
        path: std::path::PathBuf,
        /// Why.
        source: zhishu_encoders::EncoderError,
    },
    /// Without the embedding model there are no document stores.
    #[error("the embedding model is not available, so neither are the document stores")]
    NoEmbedder,
    /// The document stores could not be opened.
    #[error(transparent)]
    Stores(#[from] zhishu_ingest::OpenError),
    /// The language model could not be loaded.
    #[error("{source} (engine.model {path}; run scripts/fetch-assets.sh for the offline default)")]
    Model {
        /// Its file or folder.
        path: std::path::PathBuf,
        /// Why.
        source: zhishu_query::QueryError,
    },
    /// The configured injection model does not fit the embedder: the
    /// question guard cannot run, so nothing is served (fail closed).
    #[error(transparent)]
    Guard(#[from] zhishu_guard::GuardError),
    /// This process serves ingestion only, so it loads no model.
    #[error("this process serves the ingestion API only")]
    IngestOnly,
}

/// Opens the document stores around the loaded embedder: the searcher
/// always, the ingestion pipeline (chunking tokenizers, jobs) only where
/// this process serves ingestion.
fn open_knowledge(
    config: &Config,
    guard: Arc<Guard>,
    registry: Arc<dyn Repository>,
    encoder: EncoderWorker,
    service: Service,
    node: &str,
) -> Result<Arc<Knowledge>, zhishu_ingest::OpenError> {
    let searcher = zhishu_retrieval::open_searcher(config, encoder)?;
    let jobs = match service {
        Service::Query => None,
        Service::All | Service::Ingest => Some(JobManager::new(
            zhishu_ingest::open_pipeline(
                config,
                registry,
                &searcher,
                guard.enabled().then_some(guard),
            )?,
            Worker::new(node, Duration::from_secs(config.ingest.job_lease_secs)),
        )),
    };
    let reader = match &jobs {
        Some(j) => j.pipeline().reader.clone(),
        None => Arc::new(zhishu_ingest::parse::Reader::from_config(config)),
    };
    Ok(Arc::new(Knowledge {
        jobs,
        searcher,
        reader,
    }))
}

/// Whether the question guard's injection model reads this embedder's
/// vectors: a configured file that does not is an error; the built-in one
/// is set aside with a warning (the rules judge alone).
fn check_injection_model(guard: &Guard, encoder: &EncoderWorker) -> Result<(), LoadError> {
    let id = zhishu_query::screen::embedder_id(encoder);
    if guard.enabled() && guard.has_injection_model() && guard.injection_model(&id)?.is_none() {
        warn!(
            embedder = %id,
            "the built-in injection model was trained for multilingual-e5-small: questions are \
             judged by the injection rules alone; train one for this embedder with \
             `zhishu guard train` and set guard.injection_model (docs/guard.md)"
        );
    }
    Ok(())
}

fn load_embedder(
    config: &Config,
    guard: Arc<Guard>,
    slot: Slot<EncoderWorker>,
    knowledge: Slot<Arc<Knowledge>>,
    registry: Arc<dyn Repository>,
    service: Service,
    (node, runtime): (String, Option<tokio::runtime::Handle>),
) {
    let config = config.clone();
    let path = config.model_path(&config.embedder.model);
    let device = config.embedder.device.clone();
    let worker_config = WorkerConfig {
        max_batch_tokens: config.embedder.max_batch_tokens,
        queue: 1024,
        query_prefix: config.embedder.query_prefix.clone(),
        passage_prefix: config.embedder.passage_prefix.clone(),
        token_form: zhishu_retrieval::token_form(&config),
        ..Default::default()
    };
    let spawned = std::thread::Builder::new()
        .name("embedder-load".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let result = zhishu_encoders::device(&device)
                .and_then(|d| Embedder::load_on(&path, &d))
                .and_then(|e| EncoderWorker::start(e, worker_config))
                .map_err(|source| LoadError::Embedder { path, source });
            match &result {
                Ok(w) => info!(
                    model = w.name(),
                    ms = started.elapsed().as_millis() as u64,
                    "embedder loaded"
                ),
                Err(e) => warn!(error = %e, "embedder could not be loaded"),
            }
            let stores = match &result {
                Ok(w) => check_injection_model(&guard, w).and_then(|()| {
                    open_knowledge(&config, guard, registry, w.clone(), service, &node)
                        .inspect(|k| {
                            // Ingest nodes take jobs from the shared queue
                            // once their stores are open.
                            if let (Some(jobs), Some(rt)) = (&k.jobs, &runtime) {
                                jobs.start(rt);
                            }
                        })
                        .map_err(LoadError::from)
                }),
                Err(_) => Err(LoadError::NoEmbedder),
            };
            if let Err(e) = &stores {
                warn!(error = %e, "the document stores could not be opened");
            }
            // Stores first: readiness reports ready once the embedder is set,
            // and by then search must work.
            let _ = knowledge.set(stores);
            let _ = slot.set(result);
        });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the embedder loader");
    }
}

/// Loads the language model on a thread of its own, starts its serving
/// engine and registers the engine's metrics in `registry`.
fn load_engine(config: &Config, slot: Slot<Arc<Rag>>, registry: prometheus::Registry) {
    let config = config.clone();
    let spawned = std::thread::Builder::new()
        .name("engine-load".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let path = config.model_path(&config.engine.model);
            let result = Rag::load(&config)
                .map(Arc::new)
                .map_err(|source| LoadError::Model { path, source });
            match &result {
                Ok(r) => {
                    if let Err(e) = r.serving().metrics().register(&registry) {
                        warn!(error = %e, "engine metrics not registered");
                    }
                    info!(
                        model = r.served_name(),
                        context = r.context_tokens(),
                        kv_tokens = r.serving().capacity_tokens(),
                        ms = started.elapsed().as_millis() as u64,
                        "language model loaded"
                    )
                }
                Err(e) => warn!(error = %e, "language model could not be loaded"),
            }
            let _ = slot.set(result);
        });
    if let Err(e) = spawned {
        warn!(error = %e, "cannot start the language model loader");
    }
}
