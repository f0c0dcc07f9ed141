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
            if f.start < at || f.end > chars.len() {
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
