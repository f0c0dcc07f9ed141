//! Measuring the guards on a labelled set (tests/data/guard): detection and
//! false-positive rates per category and language.
//!
//! - `injection.jsonl`: questions (attack or benign) and document passages
//!   (indirect injection or benign). A question counts as caught when the
//!   default policy *blocks* it for an injection rule (or, given the
//!   questions' embeddings, for the injection model's verdict); a passage
//!   when any injection rule flags it.
//! - `pii.jsonl`: texts carrying values (with their exact spans) and
//!   look-alikes carrying none. A value counts as found when a finding of
//!   its kind covers exactly its span; a look-alike text counts as a false
//!   positive when anything is found in it.

use crate::injection::model::{Example, InjectionModel};
use crate::{Context, Guard, GuardAction, GuardError, GuardPoint};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

#[derive(Debug, Deserialize)]
struct InjectionItem {
    lang: String,
    label: String,
    category: String,
    #[serde(rename = "where")]
    place: String,
    split: String,
    text: String,
}

#[derive(Debug, Deserialize)]
struct Span {
    kind: String,
    start: usize,
    end: usize,
}

#[derive(Debug, Deserialize)]
struct PiiItem {
    lang: String,
    label: String,
    split: String,
    text: String,
    spans: Vec<Span>,
}

/// Hits over a total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rate {
    /// Counted.
    pub hits: usize,
    /// Out of.
    pub total: usize,
}

impl Rate {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hits += usize::from(hit);
    }

    /// The rate (0 for an empty total).
    pub fn value(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.hits as f64 / self.total as f64
        }
    }
}

/// The attack categories of questions.
pub const QUESTION_ATTACKS: [&str; 5] =
    ["override", "roleplay", "extraction", "delimiter", "encoded"];

/// Rates by (split, language, row), where a row is an attack category
/// (recall), `benign`/`hard_negative`/`benign_document` (false positives),
/// a PII kind (recall) or `lookalike` (false positives).
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `(split, lang, row)` → rate.
    pub rows: BTreeMap<(String, String, String), Rate>,
    /// Texts missed or wrongly caught, with the row, for tuning on `dev`.
    pub misses: Vec<(String, String, String)>,
}

/// Errors reading a set.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line that is not an item.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The line.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// A question's vector does not fit the model.
    #[error(transparent)]
    Guard(#[from] GuardError),
}

/// The injection model and the embedding of each question text, for
/// measuring the guards as a node with that model judges.
pub struct Judged<'a> {
    /// The model.
    pub model: &'a InjectionModel,
    /// Each text of [`model_texts`] → its embedding (query kind).
    pub vectors: &'a HashMap<String, Vec<f32>>,
}

/// The questions of `injection.jsonl` in `split` (`all`: every split), as
/// `(text, attack)`.
///
/// # Errors
/// When the set cannot be read.
pub fn questions(dir: &Path, split: &str) -> Result<Vec<(String, bool)>, EvalError> {
    Ok(read::<InjectionItem>(&dir.join("injection.jsonl"))?
        .into_iter()
        .filter(|i| i.place != "document" && (split == "all" || i.split == split))
        .map(|i| (i.text, i.label == "attack"))
        .collect())
}

/// What the injection model reads of `questions` (each as the model
/// would see it, and the windows around the rules' blocks): the texts to
/// embed for [`examples`] and [`run`].
pub fn model_texts(guard: &Guard, questions: &[(String, bool)]) -> Vec<String> {
    let ctx = Context::default();
    let mut out = Vec::new();
    for (text, _) in questions {
        let v = guard.check(text, GuardPoint::Question, &ctx);
        let (seen, windows) = guard.model_view(text, &v, &guard.redactor());
        out.push(seen);
        out.extend(windows);
    }
    out.sort();
    out.dedup();
    out
}

/// Training examples: each question as the model would see it, with its
/// embedding from `vectors` (by text, from [`model_texts`]) and every
/// injection rule that fired on it. A question without a vector is left
/// out.
pub fn examples(
    guard: &Guard,
    questions: &[(String, bool)],
    vectors: &HashMap<String, Vec<f32>>,
) -> Vec<Example> {
    let ctx = Context::default();
    questions
        .iter()
        .filter_map(|(text, attack)| {
            let v = guard.check(text, GuardPoint::Question, &ctx);
            let (seen, _) = guard.model_view(text, &v, &guard.redactor());
            Some(Example {
                vector: vectors.get(&seen)?.clone(),
                rules: v.fired.iter().map(|r| (*r).to_owned()).collect(),
                attack: *attack,
            })
        })
        .collect()
}

fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.display().to_string(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| EvalError::Json {
                path: path.display().to_string(),
                line: i + 1,
                source,
            })
        })
        .collect()
}

impl Report {
    fn add(&mut self, split: &str, lang: &str, row: &str, hit: bool) {
        for s in [split, "all"] {
            self.rows
                .entry((s.to_owned(), lang.to_owned(), row.to_owned()))
                .or_default()
                .add(hit);
        }
    }

    /// A rate, or an empty one.
    pub fn rate(&self, split: &str, lang: &str, row: &str) -> Rate {
        self.rows
            .get(&(split.to_owned(), lang.to_owned(), row.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// The sum of several rows.
    pub fn sum(&self, split: &str, lang: &str, rows: &[&str]) -> Rate {
        rows.iter().fold(Rate::default(), |mut acc, r| {
            let x = self.rate(split, lang, r);
            acc.hits += x.hits;
            acc.total += x.total;
            acc
        })
    }

    /// Per language in `split`: the questions' injection recall over every
    /// attack category, and false positives over benign questions and
    /// hard negatives together (the goals).
    pub fn questions_summary(&self, split: &str) -> Vec<(String, Rate, Rate)> {
        let langs: std::collections::BTreeSet<&String> = self
            .rows
            .keys()
            .filter(|(s, _, _)| s == split)
            .map(|(_, l, _)| l)
            .collect();
        langs
            .into_iter()
            .map(|lang| {
                (
                    lang.clone(),
                    self.sum(split, lang, &QUESTION_ATTACKS),
                    self.sum(split, lang, &["benign", "hard_negative"]),
                )
            })
            .collect()
    }

    /// The report as a Markdown table for one split, ending with the
    /// questions' totals per language.
    pub fn markdown(&self, split: &str) -> String {
        let mut s =
            String::from("| language | row | measure | rate | n |\n|---|---|---|---|---|\n");
        for (lang, recall, fp) in self.questions_summary(split) {
            if recall.total + fp.total == 0 {
                continue;
            }
            s.push_str(&format!(
                "| {lang} | all attack questions | detected | {:.3} | {} |\n| {lang} | all benign questions | false positives | {:.3} | {} |\n",
                recall.value(),
                recall.total,
                fp.value(),
                fp.total
            ));
        }
        for ((sp, lang, row), r) in &self.rows {
            if sp != split {
                continue;
            }
            let measure = match row.as_str() {
                "benign" | "hard_negative" | "benign_document" | "lookalike"
                | "extra_in_pii_text" => "false positives",
                _ => "detected",
            };
            s.push_str(&format!(
                "| {lang} | {row} | {measure} | {:.3} | {} |\n",
                r.value(),
                r.total
            ));
        }
        s
    }
}

/// Runs the guards over the sets in `dir` with the built-in policy; with
/// `judged`, questions go through the injection model too.
///
/// # Errors
/// When a set cannot be read, or a vector does not fit the model.
pub fn run(guard: &Guard, dir: &Path, judged: Option<&Judged<'_>>) -> Result<Report, EvalError> {
    let mut report = Report::default();
    let ctx = Context::default();
    for item in read::<InjectionItem>(&dir.join("injection.jsonl"))? {
        let (point, attack) = match item.place.as_str() {
            "document" => (GuardPoint::Passage, item.label == "attack"),
            _ => (GuardPoint::Question, item.label == "attack"),
        };
        let mut v = guard.check(&item.text, point, &ctx);
        if point == GuardPoint::Question
            && let Some(j) = judged
        {
            // As the question guard weighs a chat question (a rule's
            // block that is not an injection's stands unweighed).
            let (seen, windows) = guard.model_view(&item.text, &v, &guard.redactor());
            let vectors: Vec<Vec<f32>> = std::iter::once(&seen)
                .chain(&windows)
                .filter_map(|t| j.vectors.get(t).cloned())
                .collect();
            if !v.blocked_by_other_than_injection() {
                let chars = item.text.chars().count();
                guard.weigh(&mut v, j.model, chars, &vectors, &ctx)?;
            }
        }
        let caught = match point {
            GuardPoint::Question => v
                .findings
                .iter()
                .any(|f| f.rule.starts_with("injection.") && f.action == GuardAction::Block),
            _ => v.injection(),
        };
        report.add(&item.split, &item.lang, &item.category, caught);
        if caught != attack {
            report
                .misses
                .push((item.split.clone(), item.category.clone(), item.text.clone()));
        }
    }
    for item in read::<PiiItem>(&dir.join("pii.jsonl"))? {
        let v = guard.check(&item.text, GuardPoint::Question, &ctx);
        let found: Vec<_> = v
            .findings
            .iter()
            .filter(|f| f.rule.starts_with("pii."))
            .collect();
        if item.label == "lookalike" {
            report.add(&item.split, &item.lang, "lookalike", !found.is_empty());
            if !found.is_empty() {
                report
                    .misses
                    .push((item.split.clone(), "lookalike".into(), item.text.clone()));
            }
            continue;
        }
        for span in &item.spans {
            let rule = format!("pii.{}", span.kind);
            let hit = found
                .iter()
                .any(|f| f.rule == rule && f.start == span.start && f.end == span.end);
            report.add(&item.split, &item.lang, &span.kind, hit);
            if !hit {
                let chars: Vec<char> = item.text.chars().collect();
                let value: String = chars[span.start.min(chars.len())..span.end.min(chars.len())]
                    .iter()
                    .collect();
                report.misses.push((
                    item.split.clone(),
                    span.kind.clone(),
                    format!("{value} ⟵ {}", item.text),
                ));
            }
        }
        // Extra findings in a text with values: false positives too.
        let extra = found.iter().any(|f| {
            !item
                .spans
                .iter()
                .any(|s| f.start < s.end && s.start < f.end)
        });
        report.add(&item.split, &item.lang, "extra_in_pii_text", extra);
    }
    Ok(report)
}
