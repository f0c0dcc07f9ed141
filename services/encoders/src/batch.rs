//! Tokenizers set up for the encoders.

use crate::EncoderError;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// A tokenizer set up for the model: truncation at its limit, no padding
/// (batches are padded to their own longest member, not to a fixed length).
pub(crate) fn load_tokenizer(
    path: &std::path::Path,
    max_tokens: usize,
) -> Result<Tokenizer, EncoderError> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| EncoderError::Invalid {
        path: path.to_path_buf(),
        message: format!("not a tokenizer: {e}"),
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| EncoderError::Tokenizer(e.to_string()))?;
    Ok(tokenizer)
}
