//! Prompt packing at Qwen3's full 128K context, measured with the real
//! Qwen3 tokenizer and chat template (from the offline assets): the packed
//! prompt fills the budget and never exceeds it by a single token.

use std::path::PathBuf;
use tokenizers::Tokenizer;
use zhishu_engine::{ChatMessage, ChatTemplate};
use zhishu_query::QueryError;
use zhishu_query::prompt::{Candidate, Limits, Measure, PackInput, Packed, SYSTEM_PROMPT, pack};
use zhishu_retrieval::ChunkDoc;

fn qwen3() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR")
        .map_or_else(
            |_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default())
                    .join(".cache/zhishu/assets")
            },
            PathBuf::from,
        )
        .join("tokenizers/qwen3")
}

struct Qwen3 {
    tokenizer: Tokenizer,
    template: ChatTemplate,
}

impl Measure for Qwen3 {
    fn count(&self, text: &str) -> usize {
        self.tokenizer.encode(text, false).map(|e| e.len()).unwrap()
    }
    fn prompt_tokens(&self, packed: &Packed) -> Result<usize, QueryError> {
        let text = self.template.render(&packed.messages, true, false)?;
        Ok(self.count(&text))
    }
}

fn passage(i: usize) -> String {
    // Mixed Chinese and English, ~500 tokens, different per passage.
    let mut s = String::new();
    for j in 0..18 {
        s.push_str(&format!(
            "Section {i}.{j}: expense claims above {} yuan need the manager's approval. \
             第{i}条第{j}款：差旅报销须在出差结束后{}日内提交，逾期不予受理。 ",
            100 + i * 7 + j,
            10 + (i + j) % 20
        ));
    }
    s.trim_end().to_owned()
}

fn candidates(m: &Qwen3, n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| {
            let text = passage(i);
            Candidate {
                chunk: ChunkDoc {
                    chunk_id: format!("c{i}"),
                    document_id: format!("doc{}", i / 2),
                    version: 1,
                    ordinal: (i % 2) as i64,
                    collection: "finance".into(),
                    path: format!("/policies/p{i}.pdf"),
                    title: format!("差旅政策 Travel policy {i}"),
                    section_path: "报销 > Approval".into(),
                    page: Some(i as i64 + 1),
                    access_groups: vec!["finance".into()],
                    content_hash: String::new(),
                    modified_at: 0,
                    char_start: 0,
                    char_end: text.chars().count() as i64,
                    qwen_tokens: m.count(&text) as i64,
                    text,
                    prompt_ids: None,
                    token_vectors: None,
                },
                score: 1.0 / (i as f32 + 1.0),
            }
        })
        .collect()
}

fn input(cands: Vec<Candidate>, context: usize) -> PackInput {
    PackInput {
        system: Some(SYSTEM_PROMPT.into()),
        history: vec![
            ChatMessage::new("user", "差旅报销的期限是多久？"),
            ChatMessage::new("assistant", "出差结束后 30 日内 [1]。"),
        ],
        question: "And who approves claims above 500 yuan?".into(),
        candidates: cands,
        grounded: true,
        limits: Limits {
            context,
            answer: 1024,
            per_document: 3,
            history_share: 0.25,
        },
    }
}

#[test]
fn a_128k_prompt_fills_the_budget_and_never_exceeds_it() {
    let dir = qwen3();
    let m = Qwen3 {
        tokenizer: Tokenizer::from_file(dir.join("tokenizer.json"))
            .expect("Qwen3 tokenizer (scripts/fetch-assets.sh)"),
        template: ChatTemplate::from_folder(&dir)
            .unwrap()
            .expect("Qwen3 chat template"),
    };
    let cands = candidates(&m, 320);
    let context = 131_072;
    let packed = pack(&input(cands.clone(), context), &m).unwrap();
    let budget = context - 1024;
    assert!(
        packed.prompt_tokens <= budget,
        "{} > {budget}",
        packed.prompt_tokens
    );
    assert_eq!(packed.prompt_tokens, m.prompt_tokens(&packed).unwrap());
    let largest = cands
        .iter()
        .map(|c| c.chunk.qwen_tokens as usize)
        .max()
        .unwrap();
    assert!(
        packed.prompt_tokens + largest + 64 > budget,
        "the budget is filled: {} of {budget} with {} sources",
        packed.prompt_tokens,
        packed.sources.len()
    );
    assert!(packed.sources.len() > 100, "{}", packed.sources.len());
    assert_eq!(packed.history_dropped, 0);

    // At the boundary: a context of exactly what that prompt needs keeps
    // every source; one token less drops one.
    let need = packed.prompt_tokens;
    // (Token counts of the parts differ from the whole's by a token here
    // and there where BPE merges across a boundary, so the packing may
    // keep one source fewer; it never goes over.)
    let exact = pack(&input(cands.clone(), need + 1024), &m).unwrap();
    assert!(exact.prompt_tokens <= need);
    assert!(exact.sources.len() + 1 >= packed.sources.len());
    let short = pack(&input(cands, need + 1023), &m).unwrap();
    assert!(
        short.prompt_tokens < need,
        "{} ≥ {need}",
        short.prompt_tokens
    );
    assert!(short.sources.len() <= packed.sources.len());
    assert_eq!(m.prompt_tokens(&short).unwrap(), short.prompt_tokens);
}
