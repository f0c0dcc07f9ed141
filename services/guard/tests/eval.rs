//! The guards measured on the labelled sets in tests/data/guard, per
//! language, on the held-out `test` split (the rules were tuned on `dev`
//! only):
//! - personal data at the goals: recall ≥ 0.99, ≤ 1 % false positives on
//!   look-alikes;
//! - prompt injection at floors recorded from the last measurement
//!   ([`FLOORS`]), below the goals (recall ≥ 0.9 at ≤ 2 % false positives):
//!   a regression gate until the rules (or a classifier) reach them. The
//!   figures are in docs/benchmarks.md.
//!
//! `ZHISHU_GUARD_MISSES=dev` prints what the dev split misses (for tuning
//! on dev only).

use std::path::Path;
use std::sync::Arc;
use zhishu_core::config::GuardConfig;
use zhishu_guard::lexicon::Lexicon;
use zhishu_guard::{Guard, LexiconStore, eval};

fn data() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/guard")
}

fn guard() -> Guard {
    // The shipped list: a question about fraud vocabulary must not count
    // as an injection, whatever the lexicon says.
    let shipped = Lexicon::parse(
        "sensitive",
        zhishu_guard::store::SHIPPED,
        Path::new("sensitive.txt"),
    )
    .unwrap();
    Guard::with_lexicons(
        &GuardConfig::default(),
        Arc::new(LexiconStore::in_memory(vec![shipped])),
    )
    .unwrap()
}

/// Injection floors on `test`: (language, recall, false positives on
/// benign questions, indirect recall, false positives on benign passages).
const FLOORS: [(&str, f64, f64, f64, f64); 2] = [
    ("en", 0.82, 0.035, 0.72, 0.05),
    ("zh", 0.70, 0.02, 0.78, 0.05),
];

#[test]
fn the_guards_hold_their_measured_quality_on_the_labelled_sets() {
    let report = eval::run(&guard(), &data(), None).unwrap();
    println!("{}", report.markdown("test"));
    if let Ok(split) = std::env::var("ZHISHU_GUARD_MISSES") {
        for (s, row, text) in &report.misses {
            if *s == split {
                println!("MISS [{row}] {text}");
            }
        }
    }
    let attacks = ["override", "roleplay", "extraction", "delimiter", "encoded"];
    let kinds = [
        "cn_id",
        "cn_mobile",
        "bank_card",
        "credit_card",
        "uscc",
        "passport",
        "email",
        "us_ssn",
        "iban",
        "phone",
    ];
    let mut failures = Vec::new();
    let mut check = |what: String, value: f64, ok: bool| {
        if !ok {
            failures.push(format!("{what}: {value:.3}"));
        }
    };
    for (lang, recall, fp, indirect, fp_docs) in FLOORS {
        let r = report.sum("test", lang, &attacks).value();
        check(
            format!("{lang} injection recall (floor {recall}, goal 0.90)"),
            r,
            r >= recall,
        );
        let f = report
            .sum("test", lang, &["benign", "hard_negative"])
            .value();
        check(
            format!("{lang} false positives on benign questions (ceiling {fp}, goal 0.02)"),
            f,
            f <= fp,
        );
        let r = report.sum("test", lang, &["indirect"]).value();
        check(
            format!("{lang} indirect injection recall (floor {indirect})"),
            r,
            r >= indirect,
        );
        let f = report.sum("test", lang, &["benign_document"]).value();
        check(
            format!("{lang} false positives on benign passages (ceiling {fp_docs})"),
            f,
            f <= fp_docs,
        );
        let r = report.sum("test", lang, &kinds).value();
        check(format!("{lang} PII recall (goal 0.99)"), r, r >= 0.99);
        let f = report.sum("test", lang, &["lookalike"]).value();
        check(
            format!("{lang} false positives on look-alikes (goal 0.01)"),
            f,
            f <= 0.01,
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
