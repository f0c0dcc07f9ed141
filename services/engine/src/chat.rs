//! Chat templates: the model's own Jinja template, rendered as transformers
//! renders it, and the `<think>…</think>` split of an answer.
//!
//! Why the model's template and not a hand-written format: the template is
//! part of what the model was trained on (Qwen3 drops earlier turns'
//! thinking and writes an empty think block when thinking is off); any
//! drift from it silently degrades answers. transformers renders with
//! `trim_blocks` and `lstrip_blocks`, Python string methods
//! (`startswith`, `split`, `strip`…), `tojson` and `raise_exception`;
//! minijinja with its Python-compatibility callback does the same.

use crate::EngineError;
use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde::{Deserialize, Serialize};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
    /// An assistant turn's thinking, when kept apart from `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl ChatMessage {
    /// A message with a role and text.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            reasoning_content: None,
        }
    }
}

/// A compiled chat template and the special tokens it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

impl ChatTemplate {
    /// Compiles `source` (Jinja).
    ///
    /// # Errors
    /// [`EngineError::Template`] with the syntax error.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| EngineError::Template(e.to_string()))?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Reads the template from a model folder: `chat_template.jinja`, or
    /// `chat_template` in `tokenizer_config.json` (a string, or a list of
    /// named templates of which `default` is used). `Ok(None)` when the
    /// folder has none.
    ///
    /// # Errors
    /// When a file exists but cannot be read or compiled.
    pub fn from_folder(dir: &std::path::Path) -> Result<Option<Self>, EngineError> {
        let config_path = dir.join("tokenizer_config.json");
        let config: serde_json::Value = match std::fs::read_to_string(&config_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| EngineError::File {
                path: config_path.display().to_string(),
                message: e.to_string(),
            })?,
            Err(_) => serde_json::Value::Null,
        };
        let token = |key: &str| match &config[key] {
            serde_json::Value::String(s) => s.clone(),
            v => v["content"].as_str().unwrap_or_default().to_owned(),
        };
        let source = match std::fs::read_to_string(dir.join("chat_template.jinja")) {
            Ok(s) => Some(s),
            Err(_) => match &config["chat_template"] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(list) => list
                    .iter()
                    .find(|t| t["name"] == "default")
                    .and_then(|t| t["template"].as_str())
                    .map(str::to_owned),
                _ => None,
            },
        };
        source
            .map(|s| Self::new(&s, &token("bos_token"), &token("eos_token")))
            .transpose()
    }

    /// Renders a conversation. `add_generation_prompt` opens the
    /// assistant's turn; `enable_thinking` is passed to templates that
    /// know it (Qwen3) and ignored by others.
    ///
    /// # Errors
    /// [`EngineError::Template`] when the template fails (including its own
    /// `raise_exception`).
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        enable_thinking: bool,
    ) -> Result<String, EngineError> {
        let t = self
            .env
            .get_template("chat")
            .map_err(|e| EngineError::Template(e.to_string()))?;
        t.render(context! {
            messages => Value::from_serialize(messages),
            add_generation_prompt => add_generation_prompt,
            enable_thinking => enable_thinking,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(|e| EngineError::Template(format!("{e:#}")))
    }
}

/// An answer split into its thinking and the part shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitAnswer {
    /// Text inside `<think>…</think>`, trimmed; `None` when there was none.
    pub thinking: Option<String>,
    /// Everything after the thinking, trimmed.
    pub answer: String,
}

/// Splits `<think>…</think>` off a generated answer. An unclosed block (the
/// answer was cut off while thinking) is all thinking.
pub fn split_thinking(text: &str) -> SplitAnswer {
    let body = text.trim_start();
    match body.find("</think>") {
        Some(end) => {
            let inner = body[..end].trim_start_matches("<think>");
            let inner = inner.trim();
            SplitAnswer {
                thinking: (!inner.is_empty()).then(|| inner.to_owned()),
                answer: body[end + "</think>".len()..].trim().to_owned(),
            }
        }
        None if body.starts_with("<think>") => SplitAnswer {
            thinking: Some(body["<think>".len()..].trim().to_owned()),
            answer: String::new(),
        },
        None => SplitAnswer {
            thinking: None,
            answer: text.trim().to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinking_is_split_from_the_answer() {
        let s = split_thinking("<think>\nThe passage says Paris.\n</think>\n\nParis.");
        assert_eq!(s.thinking.as_deref(), Some("The passage says Paris."));
        assert_eq!(s.answer, "Paris.");
        let s = split_thinking("<think>\n\n</think>\n\n巴黎。");
        assert_eq!(s.thinking, None);
        assert_eq!(s.answer, "巴黎。");
        let s = split_thinking("<think>still going");
        assert_eq!(s.thinking.as_deref(), Some("still going"));
        assert_eq!(s.answer, "");
        assert_eq!(split_thinking("Just text.").answer, "Just text.");
    }

    #[test]
    fn raise_exception_and_syntax_errors_are_reported() {
        let t = ChatTemplate::new("{{ raise_exception('roles must alternate') }}", "", "").unwrap();
        let e = t.render(&[], true, true).unwrap_err().to_string();
        assert!(e.contains("roles must alternate"), "{e}");
        assert!(ChatTemplate::new("{% if %}", "", "").is_err());
    }
}
