//! What one audit event says.

use serde::{Deserialize, Serialize};
use zhishu_core::Role;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// User name (or `anonymous` before authentication, `system:cli` for
    /// commands run on the server).
    pub user: String,
    /// Roles at the time of the event.
    pub roles: Vec<Role>,
    /// Access groups at the time of the event.
    pub groups: Vec<String>,
    /// How they authenticated: `session`, `api_key`, `oidc`, `cli`, `none`.
    pub auth: String,
    /// The API key's prefix, when a key was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

/// How the request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered.
    Ok,
    /// Failed.
    Error,
    /// Refused by a policy (authentication, role, guard, rate limit).
    Refused,
    /// Stopped before the end because the client went away (an abandoned
    /// stream); the event keeps what had been produced.
    Cancelled,
    /// Started but never closed: the process stopped (crash, kill, power)
    /// while answering; recorded when the server next starts.
    Interrupted,
}

impl Outcome {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Refused => "refused",
            Outcome::Cancelled => "cancelled",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// A chunk that retrieval returned for the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedSource {
    /// Chunk id.
    pub chunk_id: String,
    /// Document id.
    pub document_id: String,
    /// Document version.
    pub document_version: i64,
    /// Final score.
    pub score: f64,
    /// The document's title when it was retrieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The document's path when it was retrieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The chunk's page, when the document has pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// The chunk's section (headings path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// A source the answer cites with its `[n]` marker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CitedSource {
    /// The marker's number.
    pub n: u32,
    /// Chunk id.
    pub chunk_id: String,
    /// Document id.
    pub document_id: String,
    /// Page, when the document has pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    /// `marker` when the model wrote it, `overlap` when an unmarked
    /// sentence was matched to the source afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The prompt sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptInfo {
    /// Tokens in the prompt.
    pub tokens: u64,
    /// SHA-256 of the prompt text.
    pub sha256: String,
    /// The whole prompt, when `audit.store_prompts` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The model and its sampling parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Served model name.
    pub name: String,
    /// The LoRA adapter the answer was generated with (the name the
    /// request picked), when not the base model. Absent from events
    /// without one, so their hashes are those of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// SHA-256 (hex) of that adapter's weights file, so the trail names
    /// the weights that answered even if the name later points elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_sha256: Option<String>,
    /// Sampling parameters as sent.
    pub parameters: serde_json::Value,
}

/// Token counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
}

/// A policy's verdict on the request (guard, redaction, rate limit, role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyDecision {
    /// Policy name, e.g. `role`, `rate_limit`, `prompt_injection_guard`.
    pub policy: String,
    /// `allow`, `deny`, `redact`, …
    pub verdict: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a guard: the rule that fired (`pii.cn_id`, `lexicon.sensitive`,
    /// `injection.override`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For a guard: where it ran (`question`, `passage`, `answer`,
    /// `document`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub point: Option<String>,
    /// For a guard: the text it read (`messages[2]`, a passage's chunk id,
    /// `answer`, a document id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For a guard: the character offsets `[start, end)` of what it found
    /// in that text — never the matched text itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<[u64; 2]>,
}

impl PolicyDecision {
    /// A decision with a policy and a verdict only.
    pub fn new(policy: impl Into<String>, verdict: impl Into<String>) -> Self {
        Self {
            policy: policy.into(),
            verdict: verdict.into(),
            detail: None,
            rule: None,
            point: None,
            target: None,
            spans: Vec::new(),
        }
    }
}

/// One audit event, before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who acted.
    pub actor: Actor,
    /// Client address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    /// What was done, dotted: `auth.login`, `audit.search`, `chat.completion`.
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The request id, to join with logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The exchange this event opens or closes: an `exchange.started`
    /// event and the event that closes it carry the same id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_id: Option<String>,
    /// The input: question, messages, query and filters, changed fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// The question, when there is one (searchable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// The question's SHA-256 instead of its text, where the configuration
    /// keeps no questions (`audit.store_questions = false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_sha256: Option<String>,
    /// What retrieval returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrieved: Vec<RetrievedSource>,
    /// Documents changed by the request (ingest, delete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
    /// The prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<PromptInfo>,
    /// The answer as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The sources the answer cites.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<CitedSource>,
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelInfo>,
    /// Token counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Time to serve the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Policy decisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<PolicyDecision>,
    /// Error message, for `error` and `refused` outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AuditEvent {
    /// A minimal event; fill in the rest with struct update syntax or the
    /// public fields.
    pub fn new(actor: Actor, action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            actor,
            client_addr: None,
            action: action.into(),
            outcome,
            request_id: None,
            exchange_id: None,
            input: None,
            question: None,
            question_sha256: None,
            retrieved: Vec::new(),
            documents: Vec::new(),
            prompt: None,
            answer: None,
            citations: Vec::new(),
            model: None,
            usage: None,
            latency_ms: None,
            policy: Vec::new(),
            error: None,
        }
    }

    /// Text the `text` filter searches: question and answer, lower-cased,
    /// NUL characters as spaces (PostgreSQL's text columns cannot hold
    /// them; the payload keeps them, escaped).
    pub(crate) fn search_text(&self) -> String {
        let mut text = String::new();
        for part in [&self.question, &self.answer].into_iter().flatten() {
            text.push_str(part);
            text.push('\n');
        }
        text.to_lowercase().replace('\0', " ")
    }

    /// Ids of every document the event touched, padded for LIKE matching.
    pub(crate) fn document_ids(&self) -> String {
        let mut ids: Vec<&str> = self
            .retrieved
            .iter()
            .map(|r| r.document_id.as_str())
            .chain(self.documents.iter().map(String::as_str))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            String::new()
        } else {
            format!(" {} ", ids.join(" "))
        }
    }
}
