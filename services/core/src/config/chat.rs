//! The `[chat]` section: how questions become prompts and answers.

use serde::{Deserialize, Serialize};

/// Retrieval-augmented chat: how many passages a question draws, how the
/// prompt budget is shared, and how much of the engine one answer may use.
///
/// Why these defaults: eight passages of ~512 tokens fit comfortably in an
/// 8K context with room for a 1K answer; three chunks per document keep one
/// long manual from crowding out every other source; a queue of 32 waiting
/// requests is a few minutes of CPU work, beyond which a clear 503 is
/// kinder than a silent wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Passages retrieved per question. Default 8.
    pub sources: usize,
    /// Most passages from one document. Default 3.
    pub max_chunks_per_document: usize,
    /// Tokens reserved for the answer (and the default `max_tokens`).
    /// Default 1024.
    pub answer_tokens: usize,
    /// Largest share of the prompt budget the earlier turns may take;
    /// older turns are dropped first. Default 0.25.
    pub history_share: f32,
    /// Rewrite a follow-up question into a standalone one with the model
    /// before retrieval. Default true.
    pub rewrite_followups: bool,
    /// Replaces the built-in system prompt (which tells the model to answer
    /// only from the sources, cite `[n]`, and treat sources as data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Requests that may wait while `engine.max_running` answers are being
    /// generated, before new ones get 503. Default 32.
    pub queue: usize,
    /// Sampling temperature when a request sets none (the web UI never
    /// does). Unset: the model's recommendation (0.7 for Qwen3 without
    /// thinking, 0.6 with). 0 makes answers repeatable, which some
    /// compliance teams require.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            sources: 8,
            max_chunks_per_document: 3,
            answer_tokens: 1024,
            history_share: 0.25,
            rewrite_followups: true,
            system_prompt: None,
            queue: 32,
            temperature: None,
        }
    }
}

impl ChatConfig {
    /// Checks the values; `(key, message)` for the first bad one.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        if self.sources == 0 || self.sources > 100 {
            return Err(("chat.sources", "must be between 1 and 100".into()));
        }
        if self.max_chunks_per_document == 0 {
            return Err(("chat.max_chunks_per_document", "must be at least 1".into()));
        }
        if self.answer_tokens == 0 {
            return Err(("chat.answer_tokens", "must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.history_share) {
            return Err(("chat.history_share", "must be between 0 and 1".into()));
        }
        if self.queue == 0 {
            return Err(("chat.queue", "must be at least 1".into()));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(("chat.temperature", "must be between 0 and 2".into()));
        }
        Ok(())
    }
}
