//! Turning texts into padded tensors, and hidden states into vectors.

use crate::EncoderError;
use candle_core::{DType, Device, IndexOp, Tensor};
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

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

/// A padded batch on the device.
pub(crate) struct Batch {
    pub input_ids: Tensor,
    pub token_type_ids: Tensor,
    pub attention_mask: Tensor,
}

/// Pads encodings to the longest one with `pad_id`.
pub(crate) fn pad(
    encodings: &[Encoding],
    pad_id: u32,
    device: &Device,
) -> Result<Batch, EncoderError> {
    let len = encodings
        .iter()
        .map(|e| e.get_ids().len())
        .max()
        .unwrap_or(1)
        .max(1);
    let n = encodings.len();
    let mut ids = vec![pad_id; n * len];
    let mut types = vec![0u32; n * len];
    let mut mask = vec![0u32; n * len];
    for (row, e) in encodings.iter().enumerate() {
        let base = row * len;
        for (i, (&id, &ty)) in e.get_ids().iter().zip(e.get_type_ids()).enumerate() {
            ids[base + i] = id;
            types[base + i] = ty;
            mask[base + i] = 1;
        }
    }
    Ok(Batch {
        input_ids: Tensor::from_vec(ids, (n, len), device)?,
        token_type_ids: Tensor::from_vec(types, (n, len), device)?,
        attention_mask: Tensor::from_vec(mask, (n, len), device)?,
    })
}

/// Mean of the hidden states over real (unpadded) tokens: `[B, T, H]` →
/// `[B, H]`.
pub(crate) fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor, EncoderError> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    Ok(summed.broadcast_div(&counts)?)
}

/// The first token's hidden state: `[B, T, H]` → `[B, H]`.
pub(crate) fn cls_pool(hidden: &Tensor) -> Result<Tensor, EncoderError> {
    Ok(hidden.i((.., 0, ..))?.contiguous()?)
}

/// Scales each row to unit length.
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor, EncoderError> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&norm)?)
}
