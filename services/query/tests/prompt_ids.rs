//! Composed prompt ids are the prompt's tokenisation, token for token:
//! on random Chinese/English/punctuation/digit texts with the real Qwen3
//! tokenizer and chat template (from the offline assets), at Qwen3's full
//! 128K window and at its boundary; and a tokenizer that does not compose
//! (SmolLM2's) is recognised and tokenised whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use zhishu_engine::testing::{TinyQwen3, write_tiny_qwen3};
use zhishu_engine::{ChatMessage, Engine};
use zhishu_query::Assembler;
use zhishu_query::prompt::{Candidate, Limits, PackInput, SYSTEM_PROMPT};
use zhishu_retrieval::ChunkDoc;
use zhishu_retrieval::synthetic::{chunk, passage};

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn qwen3(dir: &Path) -> Arc<Engine> {
    let model = dir.join("tiny-qwen3");
    write_tiny_qwen3(
        &model,
        &assets().join("tokenizers/qwen3"),
        &TinyQwen3::default(),
    )
    .expect("random Qwen3 with the real tokenizer (scripts/fetch-assets.sh)");
    Arc::new(Engine::load(&model, &candle_core::Device::Cpu).expect("load"))
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "travel",
    "claims",
    "approval",
    "the",
    "Clause",
    "yuan",
    "manager's",
    "don't",
    "ÉTÉ",
    "naïve",
];
const HAN: &[&str] = &[
    "差旅",
    "报销",
    "审批",
    "经理",
    "第",
    "条",
    "款",
    "工作日",
    "须",
    "。",
];
const PUNCT: &[&str] = &[
    ".", "。", "，", ",", "!", "?", "？", "！", ")", "(", "]", "[", ":", "：", ";", "\"", "'", "-",
    "—", "…", "*", "#", "/", "%", "&", "·", ">", "==", "```",
];
const SPACE: &[&str] = &[" ", " ", " ", "  ", "\n", "\n\n", "\t", " \n", "\r\n"];
const ODD: &[&str] = &[
    "<",
    "</source>",
    "<|im_end|>",
    "<think>",
    "<tool_call>",
    "< |",
    "<source id=\"3\">",
    "😀",
    "👍🏽",
    "e\u{301}",
    "\u{301}",
    "ＡＢＣ１２３",
    "2024",
    "3.14",
    "1,000",
];

fn text(rng: &mut Rng, max: usize) -> String {
    let n = 1 + rng.below(max);
    let mut s = String::new();
    for _ in 0..n {
        let part = match rng.below(10) {
            0..=2 => rng.pick(WORDS),
            3..=4 => rng.pick(HAN),
            5 => rng.pick(PUNCT),
            6..=7 => rng.pick(SPACE),
            8 => {
                s.push_str(&rng.below(100_000).to_string());
                continue;
            }
            _ => rng.pick(ODD),
        };
        s.push_str(part);
    }
    s
}

fn random_chunk(rng: &mut Rng, i: usize, engine: &Engine, fingerprint: &str) -> ChunkDoc {
    let mut body = text(rng, 40);
    if body.trim().is_empty() {
        body.push('x');
    }
    let mut c = chunk(i, 3, "public", body, 0);
    c.title = if rng.below(5) == 0 {
        String::new()
    } else {
        text(rng, 5)
    };
    c.section_path = if rng.below(3) == 0 {
        String::new()
    } else {
        text(rng, 4)
    };
    c.page = (rng.below(3) > 0).then(|| rng.below(3000) as i64);
    match rng.below(7) {
        // Stored by another tokenizer: not to be used.
        0 => {
            let mut c = c.with_prompt_ids(engine.tokenizer(), "another-tokenizer");
            if let Some(p) = &mut c.prompt_ids {
                p.ids.reverse();
            }
            c
        }
        // Stored before ids were kept.
        1 => {
            let mut c = c;
            c.qwen_tokens = engine.encode(&c.text).unwrap().len() as i64;
            c
        }
        _ => c.with_prompt_ids(engine.tokenizer(), fingerprint),
    }
}

fn input(candidates: Vec<Candidate>, history: Vec<ChatMessage>, question: String) -> PackInput {
    PackInput {
        system: Some(SYSTEM_PROMPT.into()),
        history,
        question,
        candidates,
        grounded: true,
        limits: Limits {
            context: 131_072,
            answer: 1_024,
            per_document: 100,
            history_share: 0.5,
        },
    }
}

#[test]
fn composed_ids_are_the_tokenisation_of_random_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = qwen3(dir.path());
    let assembler = Assembler::new(engine.clone());
    assert!(assembler.composes(), "Qwen3's tokenizer composes prompts");
    let fingerprint = assembler.fingerprint().unwrap().to_owned();
    let mut rng = Rng(0x5EED_2026_1129);
    let (mut sources, mut stored) = (0, 0);
    for case in 0..300 {
        let n = 1 + rng.below(12);
        let candidates = (0..n)
            .map(|i| Candidate {
                chunk: random_chunk(&mut rng, case * 20 + i, &engine, &fingerprint),
                score: 1.0 / (i as f32 + 1.0),
            })
            .collect();
        let history = if rng.below(2) == 0 {
            vec![
                ChatMessage::new("user", text(&mut rng, 10)),
                ChatMessage::new("assistant", text(&mut rng, 10)),
            ]
        } else {
            Vec::new()
        };
        let a = assembler
            .assemble(
                &input(candidates, history, text(&mut rng, 12)),
                rng.below(2) == 0,
            )
            .unwrap();
        assert_eq!(a.packed.sources.len(), n, "case {case}: every source fits");
        assert!(a.composed, "case {case}: composed");
        sources += n;
        stored += a.stored_sources;
        let whole = engine.encode(&a.prompt).unwrap();
        assert_eq!(a.prompt_ids, whole, "case {case}: {:?}", a.prompt);
        assert_eq!(a.packed.prompt_tokens, whole.len());
    }
    assert!(sources > 1_000);
    // Most pieces came from stored ids; the rest (another tokenizer's, none
    // stored, defanged text) were tokenised afresh, and all composed.
    assert!(
        stored > sources / 3 && stored < sources,
        "{stored} of {sources}"
    );
}

#[test]
fn a_128k_prompt_is_composed_exactly_to_the_last_token() {
    let dir = tempfile::tempdir().unwrap();
    let engine = qwen3(dir.path());
    let assembler = Assembler::new(engine.clone());
    let fingerprint = assembler.fingerprint().unwrap().to_owned();
    let candidates: Vec<Candidate> = (0..1_500)
        .map(|i| Candidate {
            chunk: chunk(i, 3, "public", passage(i, 1 + (i * 37) % 8), 0)
                .with_prompt_ids(engine.tokenizer(), &fingerprint),
            score: 1.0 - i as f32 / 1_500.0,
        })
        .collect();
    let history = vec![
        ChatMessage::new("user", "差旅报销的期限是多久？"),
        ChatMessage::new("assistant", "出差结束后 30 日内 [1]。"),
    ];
    let question = "And who approves claims above 500 yuan?".to_owned();
    let full = input(candidates, history, question);
    let a = assembler.assemble(&full, false).unwrap();
    let budget = 131_072 - 1_024;
    assert!(a.packed.prompt_tokens <= budget);
    assert_eq!(a.prompt_ids, engine.encode(&a.prompt).unwrap());
    assert!(
        a.packed.prompt_tokens + 300 > budget,
        "the window is filled: {} of {budget}",
        a.packed.prompt_tokens
    );
    assert!(a.packed.sources.len() > 500, "{}", a.packed.sources.len());
    assert_eq!(a.stored_sources, a.packed.sources.len());

    // The boundary, to the token: a window of exactly what that prompt
    // needs gives the same prompt; one token less drops a source.
    let need = a.packed.prompt_tokens;
    let mut exact = full.clone();
    exact.limits.context = need + 1_024;
    let e = assembler.assemble(&exact, false).unwrap();
    assert_eq!(e.packed.prompt_tokens, need);
    assert_eq!(e.packed.sources.len(), a.packed.sources.len());
    let mut short = full;
    short.limits.context = need + 1_023;
    let s = assembler.assemble(&short, false).unwrap();
    assert!(s.packed.prompt_tokens < need);
    let ids = |p: &zhishu_query::Assembled| {
        p.packed
            .sources
            .iter()
            .map(|s| s.chunk.chunk_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_ne!(ids(&s), ids(&a), "a source had to give way");
    assert_eq!(s.prompt_ids, engine.encode(&s.prompt).unwrap());
}

#[test]
fn a_tokenizer_that_does_not_compose_is_tokenised_whole() {
    let path = assets().join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    let engine = Arc::new(
        Engine::load(&path, &candle_core::Device::Cpu)
            .expect("SmolLM2 GGUF (scripts/fetch-assets.sh)"),
    );
    let assembler = Assembler::new(engine.clone());
    assert!(
        !assembler.composes(),
        "GPT-2 style pre-tokenisation does not compose"
    );
    let candidates = (0..20)
        .map(|i| Candidate {
            chunk: chunk(i, 2, "public", passage(i, 3), 0),
            score: 1.0,
        })
        .collect();
    let mut inp = input(candidates, Vec::new(), "Who approves claims?".into());
    inp.limits.context = 2_048;
    inp.limits.answer = 256;
    let a = assembler.assemble(&inp, false).unwrap();
    assert!(a.packed.prompt_tokens <= 2_048 - 256);
    assert!(!a.packed.sources.is_empty());
    assert_eq!(a.prompt_ids, engine.encode(&a.prompt).unwrap());
}
