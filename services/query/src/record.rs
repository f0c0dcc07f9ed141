//! The audit record of an exchange, filled in the same way for every
//! front end (HTTP and CLI).

use crate::{Answer, Prepared};
use sha2::{Digest, Sha256};
use zhishu_audit::{AuditEvent, CitedSource, PromptInfo, RetrievedSource, Usage};

/// Sets what retrieval returned (every chunk, with its score) and the
/// prompt (token count, SHA-256, and the text when `keep_text`).
pub fn prepared(event: &mut AuditEvent, prepared: &Prepared, keep_text: bool) {
    event.retrieved = prepared
        .retrieved
        .iter()
        .map(|c| RetrievedSource {
            chunk_id: c.chunk.chunk_id.clone(),
            document_id: c.chunk.document_id.clone(),
            document_version: c.chunk.version,
            score: f64::from(c.score),
        })
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
