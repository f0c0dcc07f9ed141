//! The model's tokenizer: `tokenizer.json` from a model folder, or the
//! byte-level BPE vocabulary and merges embedded in a GGUF file.

use crate::EngineError;
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;
use std::path::Path;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

fn tok_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Tokenizer(e.to_string())
}

/// Loads `tokenizer.json` from a folder.
///
/// # Errors
/// Naming the file when it is missing or invalid.
pub fn from_folder(dir: &Path) -> Result<Tokenizer, EngineError> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(EngineError::File {
            path: path.display().to_string(),
            message: "missing (the model folder needs its tokenizer)".into(),
        });
    }
    Tokenizer::from_file(&path).map_err(|e| EngineError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

fn strings(m: &HashMap<String, Value>, key: &str) -> Result<Vec<String>, EngineError> {
    let v = m
        .get(key)
        .ok_or_else(|| tok_err(format!("the GGUF file has no `{key}`")))?;
    v.to_vec()
        .map_err(tok_err)?
        .iter()
        .map(|x| x.to_string().cloned().map_err(tok_err))
        .collect()
}

/// Builds the tokenizer stored in GGUF metadata (`tokenizer.ggml.*`).
/// Byte-level BPE (`gpt2`, as written for SmolLM2, Qwen and Llama 3) is
/// supported; SentencePiece vocabularies (`llama`) are not yet.
///
/// # Errors
/// [`EngineError::Tokenizer`] naming the missing or unsupported field.
pub fn from_gguf(m: &HashMap<String, Value>) -> Result<Tokenizer, EngineError> {
    let model = m
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    if model != "gpt2" {
        return Err(tok_err(format!(
            "tokenizer.ggml.model `{model}` is not supported (byte-level BPE `gpt2` is); use a model folder with tokenizer.json"
        )));
    }
    let tokens = strings(m, "tokenizer.ggml.tokens")?;
    let merges: Vec<(String, String)> = strings(m, "tokenizer.ggml.merges")?
        .into_iter()
        .filter_map(|s| {
            let (a, b) = s.split_once(' ')?;
            Some((a.to_owned(), b.to_owned()))
        })
        .collect();
    let types: Vec<i32> = m
        .get("tokenizer.ggml.token_type")
        .and_then(|v| v.to_vec().ok())
        .map(|v| v.iter().map(|x| x.to_i32().unwrap_or(1)).collect())
        .unwrap_or_default();
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(tok_err)?;
    let mut tok = Tokenizer::new(bpe);
    let byte_level = ByteLevel::new(false, true, true);
    let pre = m
        .get("tokenizer.ggml.pre")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .unwrap_or_default();
    // SmolLM's pre-tokenizer splits digits one by one before byte-level BPE.
    if pre == "smollm" {
        tok.with_pre_tokenizer(Some(Sequence::new(vec![
            Digits::new(true).into(),
            byte_level.into(),
        ])));
    } else {
        tok.with_pre_tokenizer(Some(byte_level));
    }
    tok.with_decoder(Some(ByteLevel::default()));
    // Control (3) and user-defined (4) tokens are matched whole.
    let special: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter())
        .filter(|(_, t)| **t == 3 || **t == 4)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(&special);
    Ok(tok)
}
