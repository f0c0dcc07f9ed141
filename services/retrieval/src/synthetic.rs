//! Synthetic corpora for tests and benchmarks at scale: passages whose
//! length and wording vary with their index, in English and Chinese, and
//! unit vectors that stand in for embeddings when embedding thousands of
//! long passages would dominate the run. Deterministic, so runs compare.

use crate::{ChunkDoc, chunk_id};

pub mod clustered;

/// Passage `i`: `sentences` sentences of an expense policy, alternating
/// English and Chinese, each naming `i` so that passages differ.
pub fn passage(i: usize, sentences: usize) -> String {
    let mut s = String::new();
    for j in 0..sentences {
        if (i + j).is_multiple_of(2) {
            s.push_str(&format!(
                "Clause {i}.{j}: travel claims above {} yuan need the approval of the cost-centre manager before payment. ",
                100 + (i * 13 + j * 7) % 900
            ));
        } else {
            s.push_str(&format!(
                "第{i}条第{j}款：差旅费用须在出差结束后{}个工作日内提交报销，逾期由财务部退回。",
                5 + (i + j) % 20
            ));
        }
    }
    s.trim_end().to_owned()
}

/// Chunk `i` of a synthetic policy library: `per_document` consecutive
/// chunks per document, one page each, readable by `group`, with `text`
/// and its stored Qwen3 token count.
pub fn chunk(
    i: usize,
    per_document: usize,
    group: &str,
    text: String,
    qwen_tokens: i64,
) -> ChunkDoc {
    let doc = i / per_document.max(1);
    let ordinal = (i % per_document.max(1)) as i64;
    let document_id = format!("policy-{doc}");
    ChunkDoc {
        chunk_id: chunk_id(&document_id, 1, ordinal),
        document_id,
        version: 1,
        ordinal,
        collection: "finance".into(),
        path: format!("/finance/policy-{doc}.pdf"),
        title: format!("Expense policy {doc}"),
        section_path: format!("Claims > Clause {i}"),
        page: Some(ordinal + 1),
        access_groups: vec![group.to_owned()],
        content_hash: format!("{i:064x}"),
        modified_at: 0,
        char_start: 0,
        char_end: text.chars().count() as i64,
        qwen_tokens,
        text,
        prompt_ids: None,
        token_vectors: None,
    }
}

/// A deterministic unit vector of `dims` dimensions for item `i`
/// (xorshift, so neighbouring items are unrelated).
pub fn unit_vector(i: usize, dims: usize) -> Vec<f32> {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut v: Vec<f32> = (0..dims)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passages_differ_and_vectors_are_unit_length() {
        assert_ne!(passage(1, 3), passage(2, 3));
        assert!(passage(3, 2).contains("第3条"));
        let v = unit_vector(7, 384);
        assert_eq!(v.len(), 384);
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        assert_ne!(unit_vector(1, 8), unit_vector(2, 8));
    }
}
