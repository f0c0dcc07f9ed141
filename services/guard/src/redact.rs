//! Placeholders for redacted values.
//!
//! A value is replaced by a numbered placeholder of its kind
//! (`[身份证号-1]`), the same value by the same placeholder throughout an
//! exchange, so "call [手机号-1] or [手机号-2]" stays readable and the
//! model can still tell the numbers apart.

use crate::Finding;
use std::collections::HashMap;

/// Numbers placeholders for one exchange.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    chinese: bool,
    seen: HashMap<(String, String), String>,
    counts: HashMap<&'static str, usize>,
}

impl Redactor {
    /// A redactor writing Chinese (`[身份证号-1]`) or English
    /// (`[ID-NUMBER-1]`) labels.
    pub fn new(chinese: bool) -> Self {
        Self {
            chinese,
            ..Self::default()
        }
    }

    /// The placeholder for a finding's value.
    pub fn placeholder(&mut self, f: &Finding) -> String {
        let label = f.label(self.chinese);
        let key = (f.rule.clone(), f.value.clone());
        if let Some(p) = self.seen.get(&key) {
            return p.clone();
        }
        let n = self.counts.entry(label).or_insert(0);
        *n += 1;
        let p = format!("[{label}-{n}]");
        self.seen.insert(key, p.clone());
        p
    }

    /// `text` with each finding's span (original characters, sorted, not
    /// overlapping) replaced by its placeholder.
    pub fn apply<'a>(
        &mut self,
        text: &str,
        findings: impl IntoIterator<Item = &'a Finding>,
    ) -> String {
        let mut spans: Vec<&Finding> = findings.into_iter().collect();
        if spans.is_empty() {
            return text.to_owned();
        }
        spans.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in spans {
            if f.end > chars.len() {
                continue;
            }
            if f.start < at {
                // Overlapping spans mask as one: the rest of this one goes
                // under the previous placeholder.
                at = at.max(f.end);
                continue;
            }
            out.extend(&chars[at..f.start]);
            out.push_str(&self.placeholder(f));
            at = f.end;
        }
        out.extend(&chars[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhishu_core::config::{GuardAction, MaskTarget};

    fn finding(rule: &str, start: usize, end: usize) -> Finding {
        Finding {
            rule: rule.into(),
            action: GuardAction::Redact,
            mask: MaskTarget::Both,
            start,
            end,
            value: format!("{start}-{end}"),
            detail: None,
        }
    }

    #[test]
    fn overlapping_spans_leave_nothing_unmasked() {
        let mut r = Redactor::new(true);
        let text = "abcdefghij";
        let out = r.apply(
            text,
            &[finding("lexicon.x", 2, 6), finding("pii.email", 4, 8)],
        );
        assert_eq!(out, "ab[敏感词-1]ij");
    }
}
