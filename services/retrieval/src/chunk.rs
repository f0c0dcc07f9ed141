//! The unit both stores hold: one chunk of one document version.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A chunk with everything a hit must carry back (text, provenance, access
/// groups). It is the Qdrant payload and the Tantivy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkDoc {
    /// Deterministic id (see [`chunk_id`]), a UUID string.
    pub chunk_id: String,
    /// Owning document, stable across versions.
    pub document_id: String,
    /// Document version this chunk belongs to.
    pub version: i64,
    /// Position within the document, from 0.
    pub ordinal: i64,
    /// Collection of the document.
    pub collection: String,
    /// Source path of the document.
    pub path: String,
    /// Document title.
    pub title: String,
    /// Heading path, `A > B > C`.
    pub section_path: String,
    /// 1-based page, for paged formats.
    pub page: Option<i64>,
    /// Groups allowed to read the document.
    pub access_groups: Vec<String>,
    /// sha256 of the document's bytes.
    pub content_hash: String,
    /// Modification time of the file, ms since the epoch.
    pub modified_at: i64,
    /// Start offset in the document's text, in characters.
    pub char_start: i64,
    /// End offset (exclusive), in characters.
    pub char_end: i64,
    /// Length in Qwen3 tokens, so prompt assembly never re-tokenises.
    pub qwen_tokens: i64,
    /// The chunk's text.
    pub text: String,
}

/// The chunk id of position `ordinal` of `version` of a document: a UUID
/// (version 8) made of the first 16 bytes of
/// `sha256(document_id \0 version \0 ordinal)`. Deterministic, so re-running
/// a job overwrites instead of duplicating; a UUID, so Qdrant takes it as a
/// point id.
pub fn chunk_id(document_id: &str, version: i64, ordinal: i64) -> String {
    let mut h = Sha256::new();
    h.update(document_id.as_bytes());
    h.update([0]);
    h.update(version.to_le_bytes());
    h.update([0]);
    h.update(ordinal.to_le_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Uuid::new_v8(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_are_deterministic_and_distinct() {
        assert_eq!(chunk_id("d", 1, 0), chunk_id("d", 1, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 2, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 1, 1));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("e", 1, 0));
        assert!(uuid::Uuid::parse_str(&chunk_id("d", 1, 0)).is_ok());
    }
}
