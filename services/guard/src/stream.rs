//! The answer guard, on the stream.
//!
//! Tokens keep flowing: the guard holds back only the tail of the answer
//! that could still become a match — the longest suffix that is a prefix
//! of a lexicon entry (the automaton's depth), a trailing run of
//! characters that could be part of a number, code or address, or a
//! whole-word match waiting for the next character — and only for the
//! families whose policy at the answer may change text. Everything before
//! that tail is checked, redacted for the user, and released.
//!
//! Each step rescans a window reaching back a bounded span before the
//! released point, so the work per token is bounded and a whole answer is
//! checked in linear time.

use crate::guard::{Finding, Guard};
use crate::normalize::{Depth, Folded};
use crate::pii;
use crate::policy::Context;
use crate::redact::Redactor;
use std::sync::Arc;
use zhishu_core::config::{GuardAction, GuardPoint};

/// Characters rescanned before the released point: longer than any match
/// can span (a 64-character entry with separators; a value of
/// [`pii::MAX_SPAN`]).
const LOOKBACK: usize = 320;

/// What one step releases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Released {
    /// Text for the user (redacted where the policy says).
    pub text: String,
    /// The finding that blocks the answer: generation must stop and the
    /// answer end with `content_filter`.
    pub blocked: Option<Finding>,
}

/// A guard over one streamed answer.
#[derive(Debug)]
pub struct StreamGuard {
    guard: Arc<Guard>,
    ctx: Context,
    chars: Vec<char>,
    released: usize,
    redactor: Redactor,
    findings: Vec<Finding>,
    hold_lexicon: bool,
    hold_pii: bool,
    hold_email: bool,
    blocked: bool,
    steps: usize,
    held_total: usize,
}

impl StreamGuard {
    pub(crate) fn new(guard: Arc<Guard>, ctx: Context) -> Self {
        let on = guard.enabled();
        let hold_lexicon = on
            && guard
                .policy()
                .may_change("lexicon.", GuardPoint::Answer, &ctx);
        let hold_pii = on && guard.policy().may_change("pii.", GuardPoint::Answer, &ctx);
        let hold_email = on
            && guard
                .policy()
                .may_change("pii.email", GuardPoint::Answer, &ctx);
        let redactor = guard.redactor();
        Self {
            guard,
            ctx,
            chars: Vec::new(),
            released: 0,
            redactor,
            findings: Vec::new(),
            hold_lexicon,
            hold_pii,
            hold_email,
            blocked: false,
            steps: 0,
            held_total: 0,
        }
    }

    /// Uses `redactor` (the exchange's, so the answer's placeholders match
    /// the question's).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Adds generated text; returns what may be shown now.
    pub fn push(&mut self, delta: &str) -> Released {
        if self.blocked {
            return Released::default();
        }
        self.chars.extend(delta.chars());
        let r = self.step(false);
        self.steps += 1;
        self.held_total += self.held();
        r
    }

    /// The answer ended: releases the rest.
    pub fn finish(&mut self) -> Released {
        if self.blocked {
            return Released::default();
        }
        self.step(true)
    }

    /// Characters held back now.
    pub fn held(&self) -> usize {
        self.chars.len() - self.released
    }

    /// Mean characters held back after each push.
    pub fn mean_held(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.held_total as f64 / self.steps as f64
        }
    }

    /// Every finding so far, in answer order (offsets in the answer as
    /// generated).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The placeholders used.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn step(&mut self, end: bool) -> Released {
        if !self.guard.enabled() {
            let text = self.chars[self.released..].iter().collect();
            self.released = self.chars.len();
            return Released {
                text,
                blocked: None,
            };
        }
        let from = self.released.saturating_sub(LOOKBACK);
        let window: String = self.chars[from..].iter().collect();
        let lexicons = self.guard.lexicons().current();
        let folded = Folded::new(&window, Depth::Full);
        let mut found = Vec::new();
        let lex_pending = self.guard.lexicon_findings(
            &lexicons,
            &folded,
            GuardPoint::Answer,
            &self.ctx,
            &mut found,
        );
        let width = Folded::new(&window, Depth::Width);
        let pii_found = pii::scan_folded(&width);
        self.guard
            .pii_findings(&pii_found, GuardPoint::Answer, &self.ctx, &mut found);
        let mut safe = self.chars.len();
        if !end {
            if self.hold_lexicon {
                safe = safe.min(from + lex_pending);
            }
            if self.hold_pii {
                safe = safe.min(from + pii::pending(&width, self.hold_email));
            }
        }
        for f in &mut found {
            f.start += from;
            f.end += from;
        }
        found.sort_by_key(|f| (f.start, f.end));
        if let Some(b) = found.iter().find(|f| f.action == GuardAction::Block) {
            let b = b.clone();
            self.record(&found);
            self.blocked = true;
            return Released {
                text: String::new(),
                blocked: Some(b),
            };
        }
        // A redaction that straddles the safe point waits with it.
        for f in &found {
            if f.masks_user() && f.start < safe && f.end > safe {
                safe = f.start;
            }
        }
        safe = safe.max(self.released);
        let part: String = self.chars[self.released..safe].iter().collect();
        let shift = self.released;
        // A value that began in text already released (longer than any
        // hold-back could foresee) is masked from here on: its tail never
        // shows.
        let masks: Vec<Finding> = found
            .iter()
            .filter(|f| f.masks_user() && f.end > shift && f.end <= safe)
            .map(|f| Finding {
                start: f.start.max(shift) - shift,
                end: f.end - shift,
                ..f.clone()
            })
            .collect();
        let text = self.redactor.apply(&part, &masks);
        let done: Vec<Finding> = found.into_iter().filter(|f| f.end <= safe).collect();
        self.record(&done);
        self.released = safe;
        Released {
            text,
            blocked: None,
        }
    }

    fn record(&mut self, found: &[Finding]) {
        for f in found {
            if !self
                .findings
                .iter()
                .any(|g| g.rule == f.rule && g.start == f.start)
            {
                self.findings.push(f.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexicon::Lexicon;
    use crate::store::LexiconStore;
    use proptest::prelude::*;
    use std::path::Path;
    use zhishu_core::config::GuardConfig;

    fn guard() -> Arc<Guard> {
        guard_with(GuardConfig::default())
    }

    /// E-mail addresses redacted in answers too (flagged by default): the
    /// stream holds each word back until it cannot be an address.
    fn guard_redacting_email() -> Arc<Guard> {
        let mut config = GuardConfig::default();
        config.rules.push(zhishu_core::config::GuardRule::new(
            "pii.email",
            &[GuardPoint::Answer],
            crate::GuardAction::Redact,
        ));
        guard_with(config)
    }

    fn guard_with(config: GuardConfig) -> Arc<Guard> {
        let lists = vec![Lexicon::parse("sensitive", "代开发票\n", Path::new("s.txt")).unwrap()];
        Arc::new(Guard::with_lexicons(&config, Arc::new(LexiconStore::in_memory(lists))).unwrap())
    }

    fn run(g: &Arc<Guard>, pieces: &[&str]) -> (String, Option<Finding>) {
        let mut s = g.stream(Context::default());
        let mut out = String::new();
        for p in pieces {
            let r = s.push(p);
            out.push_str(&r.text);
            if r.blocked.is_some() {
                return (out, r.blocked);
            }
        }
        let r = s.finish();
        out.push_str(&r.text);
        (out, r.blocked)
    }

    #[test]
    fn a_value_split_across_tokens_is_redacted_whole() {
        let g = guard();
        let (out, blocked) = run(&g, &["请拨打", "138", "1234", "5678", "联系我们。"]);
        assert_eq!(out, "请拨打[手机号-1]联系我们。");
        assert!(blocked.is_none());
    }

    #[test]
    fn a_grouped_number_whose_spaces_come_as_tokens_is_redacted_whole() {
        let g = guard();
        let (out, _) = run(&g, &["电话", "138", " ", "1234", " ", "5678", "。"]);
        assert_eq!(out, "电话[手机号-1]。");
        let (out, _) = run(&g, &["card ", "4111 ", "1111 ", "1111 ", "1111", " ok"]);
        assert_eq!(out, "card [信用卡号-1] ok");
    }

    #[test]
    fn a_blocked_term_stops_the_stream_before_it_shows() {
        let g = guard();
        let (out, blocked) = run(&g, &["你可以找人", "代开", "发票", "，然后"]);
        assert_eq!(blocked.unwrap().rule, "lexicon.sensitive");
        assert!(!out.contains("代开"), "{out}");
    }

    proptest! {
        /// However the answer is cut into tokens, the user sees what the
        /// whole-text check would show.
        #[test]
        fn streaming_equals_checking_the_whole_answer(
            parts in prop::collection::vec(
                prop::sample::select(vec!["我的", "电话", "138", "1234", "5678", " ", "，", "卡号",
                    "6222", "0212", "3456", "7890", "123", "邮箱", "a.b", "@", "example", ".com", "好的"]),
                1..24),
        ) {
            for g in [guard(), guard_redacting_email()] {
                let whole: String = parts.concat();
                let (streamed, blocked) = run(&g, &parts);
                prop_assert!(blocked.is_none());
                let v = g.check(&whole, GuardPoint::Answer, &Context::default());
                let expected = v.for_user(&whole, &mut g.redactor());
                prop_assert_eq!(streamed, expected);
            }
        }
    }
}
