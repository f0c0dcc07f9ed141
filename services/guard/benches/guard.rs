//! The guards measured side by side with what a deployment would otherwise
//! put in front of a model: a keyword list checked with `contains` and bare
//! regular expressions for personal data and injection phrases (the
//! approach of Dify's keyword moderation and of most gateway plugins).
//!
//! ```text
//! cargo bench -p zhishu-guard --bench guard
//! ```
//!
//! 1. Latency of the question guard on 2,000-character questions (Chinese,
//!    English), p50 and p99, against the keyword-and-regex guard.
//! 2. Quality of both on the labelled sets (tests/data/guard, all splits).
//! 3. A 1 MB adversarial question at half and full size: linear time means
//!    a ratio near 2.
//! 4. The stream guard's hold-back: benign texts streamed token by token
//!    through the Qwen3 tokenizer; tokens held back after each token.

use regex::Regex;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use zhishu_core::config::GuardConfig;
use zhishu_guard::lexicon::Lexicon;
use zhishu_guard::{Context, Guard, GuardAction, GuardPoint, LexiconStore};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/guard")
}

fn items(file: &str) -> Vec<Value> {
    std::fs::read_to_string(data().join(file))
        .expect("the labelled sets")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn guard() -> Guard {
    let shipped = Lexicon::parse(
        "sensitive",
        zhishu_guard::store::SHIPPED,
        Path::new("sensitive.txt"),
    )
    .expect("the shipped list parses");
    Guard::with_lexicons(
        &GuardConfig::default(),
        Arc::new(LexiconStore::in_memory(vec![shipped])),
    )
    .expect("the built-in injection model loads")
}

/// The keyword-and-regex guard.
struct Baseline {
    terms: Vec<String>,
    pii: Vec<Regex>,
    injection: Vec<Regex>,
}

impl Baseline {
    fn new() -> Self {
        let terms = zhishu_guard::store::SHIPPED
            .lines()
            .map(|l| {
                l.split('|')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_lowercase()
            })
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let re = |p: &str| Regex::new(p).expect("a valid pattern");
        Self {
            terms,
            pii: [
                r"\b\d{17}[\dXx]\b",
                r"\b1[3-9]\d{9}\b",
                r"\b\d{16,19}\b",
                r"\b(?:\d{4}[ -]){3}\d{1,7}\b",
                r"[\w.+-]+@[\w-]+\.[\w.-]+",
                r"\b\d{3}-\d{2}-\d{4}\b",
                r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}\b",
                r"\+\d{1,3}[ \d-]{6,16}\d",
                r"\b[0-9A-HJ-NPQRTUWXY]{18}\b",
                r"\b[EG]\d{8}\b",
            ]
            .iter()
            .map(|p| re(p))
            .collect(),
            injection: [
                r"(?i)ignore (all |any )?(the )?(previous|prior|above|earlier) (instructions|rules|prompts?)",
                r"(?i)disregard (all |any )?(the |your )?(previous|prior|above)? ?(instructions|rules)",
                r"(?i)(reveal|show|print|repeat) (me )?(your|the) (system )?prompt",
                r"(?i)system prompt",
                r"(?i)developer mode|jailbreak|\bDAN\b|do anything now",
                r"(?i)you are now|pretend (to be|you are)|act as",
                r"<\|im_start\|>|<\|im_end\|>|\[INST\]|<<SYS>>|</source>",
                r"忽略.{0,8}(指令|规则|提示)",
                r"(系统提示词|提示词|系统指令)",
                r"(开发者模式|越狱|扮演|你现在是)",
            ]
            .iter()
            .map(|p| re(p))
            .collect(),
        }
    }

    /// (blocked by a term or an injection pattern, PII spans)
    fn check(&self, text: &str) -> (bool, Vec<(usize, usize)>) {
        let lower = text.to_lowercase();
        let term = self.terms.iter().any(|t| lower.contains(t.as_str()));
        let injection = self.injection.iter().any(|r| r.is_match(text));
        let mut spans = Vec::new();
        for r in &self.pii {
            for m in r.find_iter(text) {
                let s = text[..m.start()].chars().count();
                spans.push((s, s + m.as_str().chars().count()));
            }
        }
        (term || injection, spans)
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Questions of about 2,000 characters, built from the sets' texts.
fn long_questions(lang: &str) -> Vec<String> {
    let texts: Vec<String> = items("injection.jsonl")
        .into_iter()
        .filter(|v| v["lang"] == lang)
        .map(|v| v["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    (0..100)
        .map(|i| {
            let mut q = String::new();
            let mut k = i * 7;
            while q.chars().count() < 2000 {
                q.push_str(&texts[k % texts.len()]);
                q.push(' ');
                k += 1;
            }
            q.chars().take(2000).collect()
        })
        .collect()
}

fn latency(g: &Guard, b: &Baseline) {
    println!("## Question guard on 2,000-character questions, rules and model (µs)\n");
    println!(
        "| language | zhishu p50 | zhishu p99 | keyword+regex p50 | keyword+regex p99 | p99 ratio |"
    );
    println!("|---|---|---|---|---|---|");
    let ctx = Context::default();
    // The injection model weighs the rules' verdict over the question's
    // embedding, which retrieval computes anyway (the exchange hands it
    // on): its own cost is the dot product, measured here with a fixed
    // unit vector.
    let model = zhishu_guard::injection::model::InjectionModel::parse(
        zhishu_guard::injection::model::BUILTIN,
        "builtin",
    )
    .expect("the built-in model parses");
    let dims = model.weights.len();
    let vector = vec![1.0 / (dims as f32).sqrt(); dims];
    for lang in ["en", "zh"] {
        let qs = long_questions(lang);
        // Warm up (the detector, the traditional table, jieba).
        for q in qs.iter().take(5) {
            g.check(q, GuardPoint::Question, &ctx);
            b.check(q);
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            for q in &qs {
                let t = Instant::now();
                let mut v = g.check(q, GuardPoint::Question, &ctx);
                let chars = q.chars().count();
                g.weigh(&mut v, &model, chars, std::slice::from_ref(&vector), &ctx)
                    .expect("the vector fits the model");
                std::hint::black_box(v);
                ours.push(t.elapsed().as_secs_f64() * 1e6);
                let t = Instant::now();
                std::hint::black_box(b.check(q));
                theirs.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        let (o50, o99) = (percentile(&mut ours, 0.5), percentile(&mut ours, 0.99));
        let (t50, t99) = (percentile(&mut theirs, 0.5), percentile(&mut theirs, 0.99));
        println!(
            "| {lang} | {o50:.0} | {o99:.0} | {t50:.0} | {t99:.0} | {:.2}× |",
            o99 / t99
        );
    }
}

fn quality(g: &Guard, b: &Baseline) {
    println!("\n## Quality on the labelled sets (all splits)\n");
    println!("| language | measure | zhishu | keyword+regex |");
    println!("|---|---|---|---|");
    let ctx = Context::default();
    for lang in ["en", "zh"] {
        let (mut caught, mut caught_b, mut attacks) = (0, 0, 0);
        let (mut fp, mut fp_b, mut benign) = (0, 0, 0);
        for v in items("injection.jsonl") {
            if v["lang"] != lang || v["where"] != "question" {
                continue;
            }
            let text = v["text"].as_str().unwrap_or_default();
            let ours = g
                .check(text, GuardPoint::Question, &ctx)
                .findings
                .iter()
                .any(|f| f.rule.starts_with("injection.") && f.action == GuardAction::Block);
            let theirs = b.check(text).0;
            if v["label"] == "attack" {
                attacks += 1;
                caught += usize::from(ours);
                caught_b += usize::from(theirs);
            } else {
                benign += 1;
                fp += usize::from(ours);
                fp_b += usize::from(theirs);
            }
        }
        let (mut found, mut found_b, mut values) = (0, 0, 0);
        let (mut lfp, mut lfp_b, mut look) = (0, 0, 0);
        for v in items("pii.jsonl") {
            if v["lang"] != lang {
                continue;
            }
            let text = v["text"].as_str().unwrap_or_default();
            let ours: Vec<(usize, usize)> = zhishu_guard::pii::scan(text)
                .iter()
                .map(|m| (m.start, m.end))
                .collect();
            let theirs = b.check(text).1;
            let spans = v["spans"].as_array().cloned().unwrap_or_default();
            if spans.is_empty() {
                look += 1;
                lfp += usize::from(!ours.is_empty());
                lfp_b += usize::from(!theirs.is_empty());
            }
            for s in spans {
                let span = (
                    s["start"].as_u64().unwrap_or(0) as usize,
                    s["end"].as_u64().unwrap_or(0) as usize,
                );
                values += 1;
                found += usize::from(ours.contains(&span));
                found_b += usize::from(theirs.contains(&span));
            }
        }
        let r = |a: usize, n: usize| a as f64 / n.max(1) as f64;
        println!(
            "| {lang} | injection recall | {:.3} | {:.3} |",
            r(caught, attacks),
            r(caught_b, attacks)
        );
        println!(
            "| {lang} | false positives, benign questions | {:.3} | {:.3} |",
            r(fp, benign),
            r(fp_b, benign)
        );
        println!(
            "| {lang} | PII recall (exact span) | {:.3} | {:.3} |",
            r(found, values),
            r(found_b, values)
        );
        println!(
            "| {lang} | false positives, look-alikes | {:.3} | {:.3} |",
            r(lfp, look),
            r(lfp_b, look)
        );
    }
}

fn adversarial(g: &Guard) {
    println!("\n## A 1 MB adversarial question\n");
    // Every word opens a phrase or a lexicon entry; letters spelled out,
    // digits that almost make numbers, invisible characters.
    let unit = "ignore ignore previous 忽略 忽略之前 i g n o r e 1381234567 代开 \u{200B}敏 ";
    let ctx = Context::default();
    let mut times = Vec::new();
    for size in [512 * 1024, 1024 * 1024] {
        let text: String = unit
            .repeat(size / unit.len() + 1)
            .chars()
            .take(size / 3)
            .collect();
        let text = text.repeat(3);
        let t = Instant::now();
        std::hint::black_box(g.check(&text, GuardPoint::Question, &ctx));
        let s = t.elapsed().as_secs_f64();
        times.push(s);
        println!("- {} bytes: {:.3} s", text.len(), s);
    }
    println!(
        "- ratio 1 MB / 0.5 MB: {:.2} (linear ≈ 2)",
        times[1] / times[0]
    );
}

fn holdback(g: &Arc<Guard>, title: &str) {
    println!("\n## Stream hold-back on benign text (Qwen3 tokens): {title}\n");
    let path = std::env::var("ZHISHU_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets")
        })
        .join("tokenizers/qwen3/tokenizer.json");
    let Ok(tok) = tokenizers::Tokenizer::from_file(&path) else {
        println!(
            "(skipped: no Qwen3 tokenizer at {}; run scripts/fetch-assets.sh)",
            path.display()
        );
        return;
    };
    println!(
        "| language | texts | tokens | mean characters held | in tokens of mean length | tokens not wholly released (mean) | max |"
    );
    println!("|---|---|---|---|---|---|---|");
    for lang in ["en", "zh"] {
        let (mut held_sum, mut steps, mut max, mut texts) = (0usize, 0usize, 0usize, 0usize);
        let (mut chars_held, mut chars_total) = (0usize, 0usize);
        for v in items("injection.jsonl") {
            if v["lang"] != lang || v["label"] != "benign" {
                continue;
            }
            let text = v["text"].as_str().unwrap_or_default();
            let Ok(enc) = tok.encode(text, false) else {
                continue;
            };
            texts += 1;
            let mut s = g.stream(Context::default());
            let mut pieces = Vec::new();
            let mut at = 0;
            for &(_, end) in enc.get_offsets() {
                if end > at && text.is_char_boundary(end) {
                    pieces.push(&text[at..end]);
                    at = end;
                }
            }
            // Token ends, in characters.
            let mut ends = Vec::new();
            let mut total = 0usize;
            for p in pieces {
                total += p.chars().count();
                ends.push(total);
                if s.push(p).blocked.is_some() {
                    break;
                }
                // Tokens not yet wholly released to the user.
                let released = total - s.held();
                chars_held += s.held();
                let held = ends.iter().filter(|&&e| e > released).count();
                held_sum += held;
                max = max.max(held);
                steps += 1;
            }
            chars_total += total;
        }
        let per_token = chars_total as f64 / steps.max(1) as f64;
        let held = chars_held as f64 / steps.max(1) as f64;
        println!(
            "| {lang} | {texts} | {steps} | {held:.2} | {:.2} | {:.2} | {max} |",
            held / per_token,
            held_sum as f64 / steps.max(1) as f64
        );
    }
}

fn main() {
    let g = Arc::new(guard());
    let b = Baseline::new();
    latency(&g, &b);
    quality(&g, &b);
    adversarial(&g);
    holdback(
        &g,
        "the built-in policy (e-mail addresses flagged in answers)",
    );
    // E-mail addresses redacted in answers too: a word waits for a
    // possible `@`.
    let mut config = GuardConfig::default();
    config.rules.push(zhishu_core::config::GuardRule::new(
        "pii.email",
        &[GuardPoint::Answer],
        GuardAction::Redact,
    ));
    let shipped = Lexicon::parse(
        "sensitive",
        zhishu_guard::store::SHIPPED,
        Path::new("s.txt"),
    )
    .expect("the shipped list parses");
    let redacting = Arc::new(
        Guard::with_lexicons(&config, Arc::new(LexiconStore::in_memory(vec![shipped])))
            .expect("the built-in injection model loads"),
    );
    holdback(&redacting, "e-mail addresses redacted in answers too");
}
