//! Guardrail settings: where the lexicons live and the policy that turns a
//! guard's finding into an action.
//!
//! The policy is an ordered list of rules; for each finding the first rule
//! whose selectors all match decides (like a firewall). Rules written in the
//! configuration come before the built-in defaults
//! ([`GuardConfig::default_rules`]), so a deployment overrides a default by
//! writing a narrower or equal rule of its own.

use crate::Role;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where in an exchange a guard runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardPoint {
    /// The question and the conversation history, before retrieval.
    Question,
    /// Each retrieved passage, before it enters the prompt.
    Passage,
    /// The answer, as it streams.
    Answer,
    /// A document, at ingestion.
    Document,
}

impl GuardPoint {
    /// Every point, in the order an exchange meets them (ingestion last).
    pub const ALL: [GuardPoint; 4] = [
        GuardPoint::Question,
        GuardPoint::Passage,
        GuardPoint::Answer,
        GuardPoint::Document,
    ];

    /// The point's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardPoint::Question => "question",
            GuardPoint::Passage => "passage",
            GuardPoint::Answer => "answer",
            GuardPoint::Document => "document",
        }
    }
}

/// What a finding does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Nothing, and nothing recorded.
    Allow,
    /// Recorded in the audit event; the text passes unchanged. For a
    /// passage carrying instructions, flagging fences it in the prompt.
    Flag,
    /// The matched text is masked with a placeholder (`[身份证号-1]`).
    Redact,
    /// The question is refused, the passage dropped, the answer cut
    /// (`finish_reason: "content_filter"`), the document not indexed.
    Block,
}

impl GuardAction {
    /// The action's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardAction::Allow => "allow",
            GuardAction::Flag => "flag",
            GuardAction::Redact => "redact",
            GuardAction::Block => "block",
        }
    }
}

/// Whose view a `redact` masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MaskTarget {
    /// What the model sees (the question, history and passages in the
    /// prompt) and what the user sees (the answer). The default.
    #[default]
    Both,
    /// Only what reaches the model; the user's own text is shown as typed.
    Model,
    /// Only what reaches the user; the model sees the real value.
    User,
}

/// Language of the placeholders that replace redacted values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlaceholderLanguage {
    /// `[身份证号-1]`, `[手机号-2]` (the default).
    #[default]
    Zh,
    /// `[ID-NUMBER-1]`, `[MOBILE-2]`.
    En,
}

/// One policy rule. Every selector left empty matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardRule {
    /// The guard rules it governs: an exact id (`pii.cn_id`,
    /// `lexicon.sensitive`, `injection.override`), a family (`pii.*`), or
    /// `*`.
    pub rule: String,
    /// Where it applies. Default: every point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<GuardPoint>,
    /// The action.
    pub action: GuardAction,
    /// For `redact`: whose view is masked. Default `both`.
    #[serde(default)]
    pub mask: MaskTarget,
    /// Only for callers holding one of these roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    /// Only for callers in one of these access groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Only for these collections (the passage's or document's; for a
    /// question, the collections it is narrowed to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collections: Vec<String>,
}

impl GuardRule {
    /// A rule for everyone, everywhere in `points` (all when empty),
    /// masking both views.
    pub fn new(rule: &str, points: &[GuardPoint], action: GuardAction) -> Self {
        Self {
            rule: rule.into(),
            points: points.to_vec(),
            action,
            mask: MaskTarget::Both,
            roles: Vec::new(),
            groups: Vec::new(),
            collections: Vec::new(),
        }
    }

    /// Whether this rule governs guard rule `id` (`x.*` covers `x.y`).
    pub fn governs(&self, id: &str) -> bool {
        match self.rule.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => id.starts_with(prefix),
            None => self.rule == id,
        }
    }
}

/// Guardrails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// Run the guards. Default true. Off, nothing is checked and nothing
    /// recorded: for a deployment whose gateway checks elsewhere.
    pub enabled: bool,
    /// The folder of sensitive-word lexicons, one `NAME.txt` per list
    /// (rule id `lexicon.NAME`). Created with the shipped lists when
    /// missing. Relative to the working directory. Default
    /// `configs/guard`.
    pub lexicons: PathBuf,
    /// Seconds between checks of the lexicon folder for changes; a change
    /// is loaded without a restart (a file that does not parse is refused
    /// and the lists in force stay). 0 turns the watch off. Default 5.
    pub reload_secs: u64,
    /// Placeholder language. Default `zh`.
    pub placeholders: PlaceholderLanguage,
    /// Policy rules, first match wins, before [`GuardConfig::default_rules`].
    pub rules: Vec<GuardRule>,
    /// The learned injection check on questions (docs/guard.md): `builtin`
    /// (default: the model shipped in the binary, trained for the
    /// single-box embedder multilingual-e5-small; with another embedder
    /// the rules judge alone, and the log says so), `off`, or the path of
    /// a model written by `zhishu guard train` (a node whose embedder it
    /// does not fit refuses to serve).
    pub injection_model: String,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lexicons: PathBuf::from("configs/guard"),
            reload_secs: 5,
            placeholders: PlaceholderLanguage::Zh,
            rules: Vec::new(),
            injection_model: "builtin".into(),
        }
    }
}

impl GuardConfig {
    /// The built-in policy, consulted after the configured rules:
    ///
    /// | rules | question | passage | answer | document |
    /// |---|---|---|---|---|
    /// | `injection.obfuscation` | flag | flag | — | flag |
    /// | `injection.*` | block | flag (fenced) | — | flag |
    /// | `lexicon.*` | block | flag | block | flag |
    /// | `pii.email` | redact | redact | flag | flag |
    /// | `pii.*` | redact | redact | redact | flag |
    ///
    /// Anything else is allowed. E-mail addresses are only flagged in
    /// answers: the passages the model reads have theirs masked already, a
    /// work address is what an answer often must give ("write to
    /// it-support@…"), and redacting them on the stream would hold back
    /// every word until the next token shows it is not followed by `@`.
    pub fn default_rules() -> Vec<GuardRule> {
        use GuardAction::*;
        use GuardPoint::*;
        vec![
            // Hidden characters or mixed scripts alone are a signal, not
            // an attack: the phrase rules judge what they hide.
            GuardRule::new("injection.obfuscation", &[Question], Flag),
            GuardRule::new("injection.*", &[Question], Block),
            GuardRule::new("injection.*", &[Passage, Document], Flag),
            GuardRule::new("lexicon.*", &[Question, Answer], Block),
            GuardRule::new("lexicon.*", &[Passage, Document], Flag),
            GuardRule::new("pii.email", &[Answer], Flag),
            GuardRule::new("pii.*", &[Question, Passage, Answer], Redact),
            GuardRule::new("pii.*", &[Document], Flag),
        ]
    }

    /// Checks what serde cannot: rule patterns.
    ///
    /// # Errors
    /// The offending rule's index and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.injection_model.trim().is_empty() {
            return Err((
                "guard.injection_model".into(),
                "empty: use \"builtin\", \"off\" or the path of a model from `zhishu guard train`"
                    .into(),
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            let key = format!("guard.rules[{i}].rule");
            let family = r.rule.strip_suffix('*').unwrap_or(&r.rule);
            let ok = !r.rule.is_empty()
                && (family.is_empty() || family.ends_with('.') || !r.rule.ends_with('*'))
                && family
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Err((
                    key,
                    format!(
                        "`{}` is not a rule pattern: use an id such as `pii.cn_id`, a family such as `pii.*`, or `*`",
                        r.rule
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_govern_their_members_only() {
        let r = GuardRule::new("pii.*", &[], GuardAction::Flag);
        assert!(r.governs("pii.cn_id"));
        assert!(!r.governs("piiX"));
        assert!(!r.governs("lexicon.pii"));
        assert!(GuardRule::new("*", &[], GuardAction::Flag).governs("anything"));
        assert!(GuardRule::new("pii.email", &[], GuardAction::Flag).governs("pii.email"));
        assert!(!GuardRule::new("pii.email", &[], GuardAction::Flag).governs("pii.email2"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_rule_index() {
        let mut c = GuardConfig::default();
        c.rules.push(GuardRule::new("pii*", &[], GuardAction::Flag));
        let (key, _) = c.validate().unwrap_err();
        assert_eq!(key, "guard.rules[0].rule");
        c.rules[0].rule = "pii.*".into();
        assert!(c.validate().is_ok());
    }
}
