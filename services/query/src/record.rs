//! The audit record of an exchange, filled in the same way for every
//! front end (HTTP and CLI).

use crate::{Answer, Prepared};
use sha2::{Digest, Sha256};
use zhishu_audit::{AuditEvent, CitedSource, PromptInfo, RetrievedSource, Usage};
use zhishu_retrieval::ChunkDoc;

/// A retrieved chunk as the audit event keeps it: ids, version and score,
/// and where it sits in its document as it was at the time (title, path,
/// page, section), so the record stays readable after the document changes.
pub fn source(c: &ChunkDoc, score: f32) -> RetrievedSource {
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    RetrievedSource {
        chunk_id: c.chunk_id.clone(),
        document_id: c.document_id.clone(),
        document_version: c.version,
        score: f64::from(score),
        title: text(&c.title),
        path: text(&c.path),
        page: c.page,
        section: text(&c.section_path),
    }
}

/// Sets what retrieval returned (every chunk, with its score) and the
/// prompt (token count, SHA-256, and the text when `keep_text`).
pub fn prepared(event: &mut AuditEvent, prepared: &Prepared, keep_text: bool) {
    event.retrieved = prepared
        .retrieved
        .iter()
        .map(|c| source(&c.chunk, c.score))
        .collect();
    event.prompt = Some(PromptInfo {
        tokens: prepared.prompt_ids.len() as u64,
        sha256: hex::encode(Sha256::digest(prepared.prompt.as_bytes())),
        text: keep_text.then(|| prepared.prompt.clone()),
    });
}

/// Sets the answer, its citations and the token counts.
pub fn answered(event: &mut AuditEvent, answer: &Answer) {
    event.answer = Some(answer.content.clone());
    event.citations = answer
        .citations
        .iter()
        .map(|c| CitedSource {
            n: c.n,
            chunk_id: c.chunk_id.clone(),
            document_id: c.document_id.clone(),
            page: c.page,
            origin: Some(
                match c.origin {
                    crate::Origin::Marker => "marker",
                    crate::Origin::Overlap => "overlap",
                }
                .into(),
            ),
        })
        .collect();
    event.usage = Some(Usage {
        prompt_tokens: answer.prompt_tokens as u64,
        completion_tokens: answer.completion_tokens as u64,
    });
}
