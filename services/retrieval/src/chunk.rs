//! The unit both stores hold: one chunk of one document version.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokenizers::Tokenizer;
use zhishu_encoders::{PackedTokens, TokenForm};

/// A chunk with everything a hit must carry back (text, provenance, access
/// groups). It is the Qdrant payload and the Tantivy document (which also
/// keeps the token vectors, [`ChunkDoc::token_vectors`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Length in Qwen3 tokens of the text as it sits in a prompt
    /// ([`prompt_piece`]), so prompt assembly never re-tokenises.
    pub qwen_tokens: i64,
    /// The chunk's text.
    pub text: String,
    /// The token ids of [`prompt_piece`] of the text, from the tokenizer
    /// that counted [`ChunkDoc::qwen_tokens`]. Stored in both stores
    /// ([`ChunkDoc::stored_json`]) but left out of API responses, where it
    /// would be noise of a few kilobytes per hit.
    #[serde(default, skip_serializing)]
    pub prompt_ids: Option<PromptIds>,
    /// The token vectors of [`ChunkDoc::embedding_text`] as the embedder
    /// read it at ingestion, packed ([`PackedTokens`]): late interaction
    /// scores the chunk from them instead of running the model on it
    /// again. Kept in the lexical index only, in a field of their own
    /// beside the payload ([`PackedTokens::to_stored`], base64; in the
    /// payload, as [`ChunkDoc::lexical_json`] writes them, in an index made
    /// before that field), and read back for the late pass's hits only;
    /// never in the vector store's payload or an API response. Vectors
    /// that cannot be read back (torn, a form this build does not know)
    /// read as none: the pass then computes them.
    #[serde(default, skip_serializing, deserialize_with = "read_token_vectors")]
    pub token_vectors: Option<Arc<PackedTokens>>,
}

impl ChunkDoc {
    /// What the embedding model reads for the chunk: its title and section
    /// path, then its text, so a passage about "limits" under "Travel >
    /// Hotels" is found by a question about hotel limits. Ingestion embeds
    /// it, `zhishu eval` embeds it, and late interaction rereads it: one
    /// text, so what is measured is what is served.
    pub fn embedding_text(&self) -> String {
        if self.section_path.is_empty() {
            format!("{}\n{}", self.title, self.text)
        } else {
            format!("{} > {}\n{}", self.title, self.section_path, self.text)
        }
    }

    /// The JSON both stores keep: every field, the prompt ids included.
    ///
    /// # Errors
    /// Never in practice (every field serialises); typed for the stores.
    pub fn stored_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut v = serde_json::to_value(self)?;
        if let (Some(ids), Some(map)) = (&self.prompt_ids, v.as_object_mut()) {
            map.insert("prompt_ids".into(), serde_json::to_value(ids)?);
        }
        Ok(v)
    }

    /// The JSON a lexical index made before kept token vectors had a field
    /// of their own keeps: [`ChunkDoc::stored_json`] and the packed token
    /// vectors, as `{"form", "width", "data"}` with the bytes in base64.
    /// (A current index keeps [`ChunkDoc::stored_json`] and the vectors
    /// beside it, so reads that do not want them never decode them.)
    ///
    /// # Errors
    /// Never in practice (every field serialises); typed for the stores.
    pub fn lexical_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut v = self.stored_json()?;
        if let (Some(t), Some(map)) = (&self.token_vectors, v.as_object_mut()) {
            map.insert(
                "token_vectors".into(),
                serde_json::json!({
                    "form": t.form(),
                    "width": t.width(),
                    "data": B64.encode(t.bytes()),
                }),
            );
        }
        Ok(v)
    }

    /// This chunk with the prompt ids and count ingestion stores, made by
    /// `tokenizer` (whose [`tokenizer_fingerprint`] is `fingerprint`): for
    /// chunks written to the stores without the ingestion pipeline
    /// (synthetic corpora, tests).
    pub fn with_prompt_ids(mut self, tokenizer: &Tokenizer, fingerprint: &str) -> Self {
        let encode = |t: &str| {
            tokenizer
                .encode(t, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default()
        };
        let ids = encode(&prompt_piece(&self.text));
        self.qwen_tokens = ids.len() as i64;
        self.prompt_ids = Some(PromptIds {
            tokenizer: fingerprint.to_owned(),
            label: encode(&prompt_label(&self.title, &self.section_path, self.page)),
            ids,
        });
        self
    }
}

/// How a chunk's text sits in a prompt, the piece whose ids are stored:
/// trimmed, with the newline that ends it. A piece boundary falls where
/// the tokenizer's pre-tokenizer always splits (after a newline that is
/// followed by `<`), so the piece's ids are the same alone and inside the
/// prompt; the newline belongs to the piece because a closing `.` or `。`
/// merges with it into one token.
pub fn prompt_piece(text: &str) -> String {
    let text = text.trim();
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    s
}

/// How a chunk names its source in a prompt, after the source's `[n]`:
/// ` Title · Section · p. 3` and the newline that ends the line. Its ids
/// are stored with the text's, so a prompt of a thousand sources is put
/// together without tokenising a thousand headers.
pub fn prompt_label(title: &str, section_path: &str, page: Option<i64>) -> String {
    let mut s = String::with_capacity(title.len() + section_path.len() + 16);
    s.push(' ');
    s.push_str(title);
    if !section_path.is_empty() {
        s.push_str(" · ");
        s.push_str(section_path);
    }
    if let Some(p) = page {
        s.push_str(&format!(" · p. {p}"));
    }
    s.push('\n');
    s
}

/// Token ids of a chunk's [`prompt_label`] and [`prompt_piece`], with the
/// fingerprint of the tokenizer that made them: prompt assembly uses them
/// only when the model it serves has the same tokenizer, and tokenises the
/// text otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptIds {
    /// [`tokenizer_fingerprint`] of the tokenizer.
    pub tokenizer: String,
    /// The ids of the label.
    pub label: Vec<u32>,
    /// The ids of the text.
    pub ids: Vec<u32>,
}

/// A short, stable name for a tokenizer's behaviour: the sha256 (first 16
/// hex digits) of its serialised form without truncation or padding, so
/// the same `tokenizer.json` gives the same fingerprint wherever it is
/// loaded, and any change to its vocabulary, merges, normaliser,
/// pre-tokeniser or added tokens gives another.
///
/// The serialised form is a fixed point of parse → serialise: floats (a
/// Unigram vocabulary's scores) are parsed correctly rounded (serde_json's
/// `float_roundtrip`) and written as the shortest text that reads back as
/// the same number, so loading the file again cannot move a score by one
/// unit in the last place and change the fingerprint. A tokenizer that
/// cannot be serialised gets a fingerprint that matches nothing, not even
/// itself: stored ids are then never reused, instead of being shared by
/// every such tokenizer.
pub fn tokenizer_fingerprint(tokenizer: &Tokenizer) -> String {
    static UNSERIALISABLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut t = tokenizer.clone();
    let _ = t.with_truncation(None);
    t.with_padding(None);
    let Ok(json) = t.to_string(false) else {
        let n = UNSERIALISABLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return format!("unserialisable-{}-{n}", std::process::id());
    };
    let digest = Sha256::digest(json.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Ids are stored as base64 of three little-endian bytes each (four
/// characters a token): vocabularies stay below 2^24 entries, and JSON
/// arrays of numbers would take half again as much.
fn pack_ids<E: serde::ser::Error>(ids: &[u32]) -> Result<String, E> {
    let mut bytes = Vec::with_capacity(ids.len() * 3);
    for &id in ids {
        if id >= 1 << 24 {
            return Err(E::custom(format!("token id {id} does not fit 24 bits")));
        }
        bytes.extend_from_slice(&id.to_le_bytes()[..3]);
    }
    Ok(B64.encode(bytes))
}

fn unpack_ids<E: serde::de::Error>(text: &str) -> Result<Vec<u32>, E> {
    let bytes = B64.decode(text.as_bytes()).map_err(E::custom)?;
    if bytes.len() % 3 != 0 {
        return Err(E::custom("prompt ids: not a whole number of tokens"));
    }
    Ok(bytes
        .chunks_exact(3)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0]))
        .collect())
}

impl Serialize for PromptIds {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PromptIds", 3)?;
        st.serialize_field("tokenizer", &self.tokenizer)?;
        st.serialize_field("label", &pack_ids::<S::Error>(&self.label)?)?;
        st.serialize_field("ids", &pack_ids::<S::Error>(&self.ids)?)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for PromptIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            tokenizer: String,
            label: String,
            ids: String,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Self {
            tokenizer: raw.tokenizer,
            label: unpack_ids::<D::Error>(&raw.label)?,
            ids: unpack_ids::<D::Error>(&raw.ids)?,
        })
    }
}

/// Reads kept token vectors leniently: whatever cannot be read back is
/// none, so a chunk is never lost over them.
fn read_token_vectors<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Arc<PackedTokens>>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw.and_then(|v| {
        let form: TokenForm = serde_json::from_value(v.get("form")?.clone()).ok()?;
        let width = usize::try_from(v.get("width")?.as_u64()?).ok()?;
        let bytes = B64.decode(v.get("data")?.as_str()?).ok()?;
        PackedTokens::from_bytes(form, width, bytes)
            .ok()
            .map(Arc::new)
    }))
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
    use proptest::prelude::*;

    proptest! {
        /// Regression: a Unigram tokenizer's float scores must survive
        /// save → load, or the same file fingerprints differently once
        /// loaded again and stored prompt ids stop being reused.
        #[test]
        fn a_tokenizer_fingerprints_the_same_after_a_save_and_load(
            scores in prop::collection::vec(-30.0f64..0.0, 4..64),
        ) {
            let mut vocab = vec![("<unk>".to_string(), 0.0)];
            vocab.extend(scores.iter().enumerate().map(|(i, s)| (format!("▁w{i}"), *s)));
            let model = tokenizers::models::unigram::Unigram::from(vocab, Some(0), false)
                .expect("a valid vocabulary");
            let tokenizer = Tokenizer::new(model);
            let saved = tokenizer.to_string(false).expect("serialisable");
            let loaded: Tokenizer = saved.parse().expect("loads");
            prop_assert_eq!(tokenizer_fingerprint(&loaded), tokenizer_fingerprint(&tokenizer));
        }
    }

    #[test]
    fn prompt_ids_are_stored_but_not_shown() {
        let ids = PromptIds {
            tokenizer: "0123456789abcdef".into(),
            label: vec![7, 8],
            ids: vec![0, 1, 255, 256, 151_643, (1 << 24) - 1],
        };
        let json = serde_json::to_value(&ids).unwrap();
        assert_eq!(json["ids"].as_str().unwrap().len(), 24);
        assert_eq!(serde_json::from_value::<PromptIds>(json).unwrap(), ids);
        let too_big = PromptIds {
            tokenizer: String::new(),
            label: Vec::new(),
            ids: vec![1 << 24],
        };
        assert!(serde_json::to_value(&too_big).is_err());

        let json = r#"{"chunk_id":"c","document_id":"d","version":1,"ordinal":0,
            "collection":"x","path":"/p","title":"T","section_path":"","page":null,
            "access_groups":["g"],"content_hash":"","modified_at":0,"char_start":0,
            "char_end":1,"qwen_tokens":2,"text":"a"}"#;
        let mut chunk: ChunkDoc = serde_json::from_str(json).unwrap();
        assert_eq!(chunk.prompt_ids, None, "chunks stored before ids read fine");
        chunk.prompt_ids = Some(ids.clone());
        // The API shape leaves the ids out; the stored shape keeps them.
        assert!(
            serde_json::to_value(&chunk)
                .unwrap()
                .get("prompt_ids")
                .is_none()
        );
        let stored = chunk.stored_json().unwrap();
        let back: ChunkDoc = serde_json::from_value(stored).unwrap();
        assert_eq!(back.prompt_ids, Some(ids));
        assert_eq!(prompt_piece("  Fine print.\n\n"), "Fine print.\n");
        assert_eq!(prompt_label("T", "A > B", Some(3)), " T · A > B · p. 3\n");
        assert_eq!(prompt_label("T", "", None), " T\n");
        // What the embedder reads: the heading line, then the text.
        assert_eq!(back.embedding_text(), "T\na");
        let under = ChunkDoc {
            section_path: "差旅 > 住宿".into(),
            text: "每晚不超过六百元。".into(),
            ..back
        };
        assert_eq!(
            under.embedding_text(),
            "T > 差旅 > 住宿\n每晚不超过六百元。"
        );
    }

    proptest! {
        /// Kept token vectors go through the lexical index's JSON and come
        /// back bit for bit in every form; the vector store's payload and
        /// the API shape never carry them; and bytes that cannot be read
        /// back lose the vectors, never the chunk.
        #[test]
        fn kept_token_vectors_round_trip_through_the_lexical_payload(
            form in prop_oneof![
                Just(TokenForm::F16),
                Just(TokenForm::Int8),
                Just(TokenForm::Sign),
                Just(TokenForm::Int4)
            ],
            width in 1usize..48,
            values in prop::collection::vec(-1.0f32..1.0, 0..200),
            cut in 1usize..10,
        ) {
            let rows = &values[..values.len() / width * width];
            let packed = Arc::new(PackedTokens::pack(form, rows, width));
            let chunk = ChunkDoc {
                chunk_id: "c".into(),
                text: "正文 text".into(),
                token_vectors: Some(packed.clone()),
                ..ChunkDoc::default()
            };
            let lexical = chunk.lexical_json().unwrap();
            let back: ChunkDoc = serde_json::from_value(lexical.clone()).unwrap();
            prop_assert_eq!(&back, &chunk);
            prop_assert!(chunk.stored_json().unwrap().get("token_vectors").is_none());
            prop_assert!(serde_json::to_value(&chunk).unwrap().get("token_vectors").is_none());

            // Torn bytes, an unknown form, a wrong type: the chunk reads,
            // without vectors.
            let mut torn = lexical.clone();
            let data = B64.encode(&packed.bytes()[..packed.bytes().len().saturating_sub(cut)]);
            torn["token_vectors"]["data"] = serde_json::json!(data);
            let mut unknown = lexical.clone();
            unknown["token_vectors"]["form"] = serde_json::json!("int3");
            let mut wrong = lexical;
            wrong["token_vectors"] = serde_json::json!([1, 2, 3]);
            for (name, v) in [("torn", torn), ("unknown", unknown), ("wrong", wrong)] {
                let read: ChunkDoc = serde_json::from_value(v).unwrap();
                prop_assert_eq!(&read.text, &chunk.text, "{}", name);
                let left = packed.bytes().len().saturating_sub(cut);
                let (head, row) = (form.header_bytes(width), form.row_bytes(width));
                let whole = left == 0 || (left > head && (left - head).is_multiple_of(row));
                if name != "torn" || !whole {
                    prop_assert!(read.token_vectors.is_none(), "{}", name);
                }
            }
        }
    }

    #[test]
    fn chunk_ids_are_deterministic_and_distinct() {
        assert_eq!(chunk_id("d", 1, 0), chunk_id("d", 1, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 2, 0));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("d", 1, 1));
        assert_ne!(chunk_id("d", 1, 0), chunk_id("e", 1, 0));
        assert!(uuid::Uuid::parse_str(&chunk_id("d", 1, 0)).is_ok());
    }
}
