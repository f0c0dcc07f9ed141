//! One exchange, written once for every front end.
//!
//! An exchange is a question and its answer (or a search and its hits):
//! question → scope → retrieval → assembly → generation → attribution →
//! record. The HTTP API and the CLI are thin adapters that turn their wire
//! format into an [`ChatAsk`] or [`SearchAsk`] and an [`Asker`], and render
//! what comes back; everything between — validation and limits, the
//! sampling defaults, history splicing, the access scope, the audit
//! event's whole life and conversation writes — lives here.
//!
//! # The audit life of a chat exchange
//!
//! 1. A row in `open_exchanges` notes the exchange as started.
//! 2. An `exchange.started` event (who asked, the question, the scope, what
//!    retrieval returned, the prompt's hash) is committed *before*
//!    [`Exchanges::chat`] returns, so no byte of an answer can leave before
//!    the trail holds it. If it cannot be written, the exchange fails
//!    closed.
//! 3. The answer runs on a task of its own ([`Exchange::run`]), which
//!    writes the closing event (`chat.completion`: answer, citations,
//!    tokens, latency, outcome `ok`, `error` or `cancelled`) whatever the
//!    client does: a client that leaves, streaming or not, stops generation
//!    and the task records the partial answer as `cancelled`.
//! 4. Then the row is removed. A process that dies in between leaves the
//!    row; when the node starts again, [`close_interrupted`] closes each
//!    such exchange as `interrupted`.
//!
//! A request refused before an exchange starts (invalid input, unknown
//! conversation) is recorded too, as one event with outcome `error`.

mod chat;
mod error;
mod search;
mod sweep;

pub use chat::{ChatAsk, Exchange, Finished, Sampling, Step};
pub use error::ExchangeError;
pub use search::SearchAsk;
pub use sweep::close_interrupted;

use crate::Rag;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use zhishu_audit::{Actor, AuditEvent, AuditLog, Outcome};
use zhishu_core::config::AuditConfig;
use zhishu_guard::Guard;
use zhishu_retrieval::Scope;
use zhishu_store::ExchangeStore;

/// The group every authenticated caller belongs to.
pub const PUBLIC_GROUP: &str = "public";
/// Most messages one chat request may carry.
pub const MAX_MESSAGES: usize = 256;
/// Most passages one question may retrieve: enough candidates to fill a
/// 128K-token window with short chunks; packing keeps what fits.
pub const MAX_SOURCES: usize = 2_000;
/// Most hits one search returns.
pub const MAX_K: usize = 100;
/// Longest search query, in characters.
pub const MAX_QUERY_CHARS: usize = 4000;
/// Most neighbours attached on each side of a search hit.
pub const MAX_NEIGHBOURS: usize = 5;
/// Most stop strings.
pub const MAX_STOPS: usize = 4;

/// Which front end an exchange came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The HTTP API (and the web UI).
    Http,
    /// The `zhishu` command line.
    Cli,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Http => "http",
            Via::Cli => "cli",
        }
    }
}

/// Who is asking, as the front end authenticated them.
#[derive(Debug, Clone)]
pub struct Asker {
    /// The actor of every audit event (user, roles, groups, how they
    /// authenticated).
    pub actor: Actor,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The request id, to join audit events with logs.
    pub request_id: Option<String>,
    /// The owner of conversations: the user for HTTP; `None` keeps no
    /// conversation (the CLI).
    pub owner: Option<String>,
    /// The front end.
    pub via: Via,
    /// Whether the asker belongs to [`PUBLIC_GROUP`] besides their groups:
    /// every signed-in user does; the CLI asks as exactly the groups it
    /// names (by default [`PUBLIC_GROUP`] alone).
    pub public: bool,
}

impl Asker {
    /// The access scope: the actor's groups, and [`PUBLIC_GROUP`] when
    /// [`Asker::public`].
    pub fn scope(&self) -> Scope {
        Scope::of_groups(
            self.actor
                .groups
                .iter()
                .cloned()
                .chain(self.public.then(|| PUBLIC_GROUP.to_owned())),
        )
    }

    /// A new audit event of this asker: the one place an event's actor,
    /// address and request id are set.
    pub fn event(&self, action: &str, outcome: Outcome) -> AuditEvent {
        let mut e = AuditEvent::new(self.actor.clone(), action, outcome);
        e.client_addr = self.client_addr.clone();
        e.request_id = self.request_id.clone();
        e
    }
}

/// The exchange service: the model, the audit log and the store, shared by
/// every exchange. Cheap to clone.
#[derive(Clone)]
pub struct Exchanges {
    rag: Option<Arc<Rag>>,
    audit: AuditLog,
    repo: Arc<dyn ExchangeStore>,
    store_prompts: bool,
    store_questions: bool,
    store_pii: bool,
    node: String,
    guard: Arc<Guard>,
}

impl Exchanges {
    /// The service over a loaded model (`None` where this process serves
    /// no model: searches only), the audit writer and the store. `node`
    /// names this process among those sharing the database (host and
    /// listen address for a server): at start-up, it closes the exchanges
    /// its previous life left open. `config` says what events keep
    /// (`audit.store_prompts`, `audit.store_questions`, `audit.store_pii`).
    /// `guard` checks the question, the passages and the answer.
    pub fn new(
        rag: Option<Arc<Rag>>,
        audit: AuditLog,
        repo: Arc<dyn ExchangeStore>,
        config: &AuditConfig,
        node: impl Into<String>,
        guard: Arc<Guard>,
    ) -> Self {
        Self {
            rag,
            audit,
            repo,
            store_prompts: config.store_prompts,
            store_questions: config.store_questions,
            store_pii: config.store_pii,
            node: node.into(),
            guard,
        }
    }

    /// The guards.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    /// `text` as the audit trail may keep it: personal data replaced by
    /// placeholders unless `audit.store_pii`.
    fn audit_text(&self, text: &str) -> String {
        if self.store_pii {
            text.to_owned()
        } else {
            crate::screen::audit_copy(text, &self.guard.redactor())
        }
    }

    /// Puts the question in `event`: its text, or only its SHA-256 where
    /// the configuration keeps no questions.
    fn set_question(&self, event: &mut AuditEvent, question: Option<&str>) {
        let Some(q) = question else { return };
        if self.store_questions {
            event.question = Some(self.audit_text(q));
        } else {
            event.question_sha256 = Some(hex::encode(Sha256::digest(q.as_bytes())));
        }
    }

    /// Records a request refused before any exchange started (malformed
    /// input the front end could not even turn into an ask), and hands the
    /// error back — or the audit failure, since an unrecorded refusal must
    /// not be answered either.
    pub async fn refuse(&self, asker: &Asker, action: &str, error: ExchangeError) -> ExchangeError {
        let ev = asker.event(action, Outcome::Error);
        self.record_failure(ev, error, None).await
    }

    /// Records `event` as failed with `error` (the whole text: the trail is
    /// for compliance officers, not for clients), closes its exchange when
    /// one had started, and hands the error back — or the audit failure.
    async fn record_failure(
        &self,
        mut event: AuditEvent,
        error: ExchangeError,
        started: Option<std::time::Instant>,
    ) -> ExchangeError {
        event.outcome = match error {
            ExchangeError::Filtered { .. } => Outcome::Refused,
            _ => Outcome::Error,
        };
        event.error = Some(error.to_string());
        if let Some(t) = started {
            event.latency_ms = Some(t.elapsed().as_millis() as u64);
        }
        let exchange = event.exchange_id.clone();
        if let Err(e) = self.audit.record(event).await {
            return ExchangeError::Audit(e);
        }
        if let Some(id) = exchange {
            self.forget(&id).await;
        }
        error
    }

    /// Removes an exchange from `open_exchanges` once it is closed (or
    /// never started). A failure is only logged: the row would make the
    /// next start-up record the exchange as interrupted too.
    async fn forget(&self, id: &str) {
        if let Err(e) = self.repo.close_exchange(id).await {
            tracing::warn!(error = %e, exchange = %id, "cannot remove an exchange from open_exchanges");
        }
    }
}
