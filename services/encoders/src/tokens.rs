//! Passages' token vectors in a compact form, for late interaction.
//!
//! Late interaction ([`max_sim`](crate::max_sim)) compares every question
//! token with every token of a passage. Keeping a passage's token vectors
//! from ingestion spares a search the forward pass over it (seconds for 20
//! passages on a small CPU), but at full precision they outweigh the text
//! many times over: 384 dimensions × 4 bytes, 1.5 KB a token. The forms
//! trade bytes for fidelity (bytes per token at 384 dimensions):
//!
//! | form | bytes | a token is kept as |
//! |---|---:|---|
//! | `f16` | 768 | every value in half precision |
//! | `int8` | 388 | `round(x / s)`, `s = max |x| / 127`, `s` in f32 |
//! | `int4` | 194, and 768 a passage | `round((x - c) / s)` in `-7..=7` around the passage's mean token `c`, `s = max |x - c| / 7` in f16 |
//! | `sign` | 50, and 768 a passage | its side of the passage's mean token `c` in every value, and `a = mean |x - c|` in f16 |
//!
//! `int8` is the default: on the shipped evaluation sets its MaxSims rank
//! the passages as f16's do (nDCG@10 equal to the third decimal in every
//! set and language). `sign` reads a token back as `c + a · sign(x - c)`,
//! the least-squares best vector on the token's side of the centre in
//! every dimension. It keeps an eighth of int8's bytes and ranks as well
//! for questions in the pages' language, but loses cross-language
//! questions (docs-en's Chinese ones 0.573 → 0.468), whose matches rest on
//! finer differences between cosines. Without the centre, one bit of the
//! raw values is far worse (docs-en 0.732 → 0.596): e5's token vectors
//! share a large common component, and the signs mostly encode it.
//! `int4` keeps fifteen levels around the same centre instead of two:
//! half of int8's bytes, level with it within a language, a little below
//! across languages (eval-zh-en 0.925 → 0.920).
//!
//! Every form reads back into f32 rows that the one matrix kernel scores,
//! and the late pass scores a passage from its packed form whether it was
//! kept at ingestion, cached, or computed a moment ago: a passage scores
//! the same on every search.

use crate::EncoderError;
use half::f16;
use half::slice::HalfFloatSliceExt;

/// The widest token [`PackedTokens::from_bytes`] takes: far above any
/// embedder's (bge-m3 1,024, e5-large 1,024).
const MAX_WIDTH: usize = 1 << 16;

/// The first bytes of [`PackedTokens::to_stored`]'s form: "Zhishu Token
/// Vectors", version 1.
const STORED_MAGIC: [u8; 4] = *b"ZTV1";

/// Bytes before the packed tokens in [`PackedTokens::to_stored`]'s form:
/// the magic, the form's code, three reserved zeros, the width (u32 LE).
const STORED_HEAD: usize = 12;

/// How token vectors are packed ([`PackedTokens`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TokenForm {
    /// Half precision: 2 bytes a value.
    F16,
    /// One signed byte a value, with one f32 scale a token (the default:
    /// ranks as f16 does on the shipped sets).
    #[default]
    Int8,
    /// One bit a value around the passage's mean token, with one f16
    /// scale a token.
    Sign,
    /// Four bits a value around the passage's mean token (`-7..=7` steps
    /// of one f16 scale a token): half of int8's bytes.
    Int4,
}

impl TokenForm {
    /// Bytes one token of `width` values takes.
    pub fn row_bytes(self, width: usize) -> usize {
        match self {
            Self::F16 => 2 * width,
            Self::Int8 => 4 + width,
            Self::Sign => 2 + width.div_ceil(8),
            Self::Int4 => 2 + width.div_ceil(2),
        }
    }

    /// Bytes a passage of `width`-value tokens takes before its first
    /// token (the sign form's centre), when it has any token.
    pub fn header_bytes(self, width: usize) -> usize {
        match self {
            Self::Sign | Self::Int4 => 2 * width,
            Self::F16 | Self::Int8 => 0,
        }
    }

    /// The form's one-byte code in [`PackedTokens::to_stored`]'s bytes.
    /// Never renumbered: stores keep it.
    fn code(self) -> u8 {
        match self {
            Self::F16 => 1,
            Self::Int8 => 2,
            Self::Sign => 3,
            Self::Int4 => 4,
        }
    }

    /// The form a stored code names, if this build knows it.
    fn from_code(code: u8) -> Option<Self> {
        [Self::F16, Self::Int8, Self::Sign, Self::Int4]
            .into_iter()
            .find(|f| f.code() == code)
    }

    /// The form's name, as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Int8 => "int8",
            Self::Sign => "sign",
            Self::Int4 => "int4",
        }
    }
}

/// One passage's token vectors, `rows` of `width` values, packed in a
/// [`TokenForm`].
#[derive(Debug, Clone, PartialEq)]
pub struct PackedTokens {
    form: TokenForm,
    width: usize,
    bytes: Vec<u8>,
}

impl PackedTokens {
    /// Packs row-major `rows` of `width` values (a trailing partial row is
    /// left out).
    pub fn pack(form: TokenForm, rows: &[f32], width: usize) -> Self {
        let count = rows.len().checked_div(width).unwrap_or(0);
        let mut bytes =
            Vec::with_capacity(form.header_bytes(width) + count * form.row_bytes(width));
        let centre = if form.header_bytes(width) > 0 {
            centre(&rows[..count * width], width)
        } else {
            Vec::new()
        };
        // The centre first, once, before the first token (read back through
        // f16, so the offsets are from what unpacking adds them to).
        if count > 0 {
            for &c in &centre {
                bytes.extend_from_slice(&f16::from_f32(c).to_le_bytes());
            }
        }
        for row in rows.chunks_exact(width.max(1)).take(count) {
            match form {
                TokenForm::F16 => {
                    for &x in row {
                        bytes.extend_from_slice(&f16::from_f32(x).to_le_bytes());
                    }
                }
                TokenForm::Int8 => {
                    let top = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                    let scale = if top > 0.0 && top.is_finite() {
                        top / 127.0
                    } else {
                        0.0
                    };
                    bytes.extend_from_slice(&scale.to_le_bytes());
                    for &x in row {
                        let q = if scale > 0.0 {
                            (x / scale).round().clamp(-127.0, 127.0) as i8
                        } else {
                            0
                        };
                        bytes.push(q.to_le_bytes()[0]);
                    }
                }
                TokenForm::Int4 => {
                    let top = row
                        .iter()
                        .zip(&centre)
                        .fold(0.0f32, |m, (x, c)| m.max((x - c).abs()));
                    // Quantised with the scale as it is read back.
                    let scale = f16::from_f32(if top.is_finite() { top / 7.0 } else { 0.0 });
                    bytes.extend_from_slice(&scale.to_le_bytes());
                    let scale = scale.to_f32();
                    let code = |i: usize| -> u8 {
                        let q = if scale > 0.0 {
                            ((row[i] - centre[i]) / scale).round().clamp(-7.0, 7.0)
                        } else {
                            0.0
                        };
                        (q as i8 + 8).to_le_bytes()[0]
                    };
                    for start in (0..width).step_by(2) {
                        let high = if start + 1 < width {
                            code(start + 1)
                        } else {
                            8
                        };
                        bytes.push(code(start) | high << 4);
                    }
                }
                TokenForm::Sign => {
                    let off = |i: usize| row[i] - centre[i];
                    let mean = (0..width).map(|i| off(i).abs()).sum::<f32>() / width as f32;
                    bytes.extend_from_slice(&f16::from_f32(mean).to_le_bytes());
                    for start in (0..width).step_by(8) {
                        let mut b = 0u8;
                        for i in start..(start + 8).min(width) {
                            if off(i) >= 0.0 {
                                b |= 1 << (i - start);
                            }
                        }
                        bytes.push(b);
                    }
                }
            }
        }
        Self { form, width, bytes }
    }

    /// Token vectors of `width` values read back from bytes [`PackedTokens::bytes`]
    /// gave.
    ///
    /// # Errors
    /// [`EncoderError::Model`] when the bytes are not a whole number of
    /// tokens of that form and width, or the width is 0 or above 65,536.
    pub fn from_bytes(form: TokenForm, width: usize, bytes: Vec<u8>) -> Result<Self, EncoderError> {
        // A width from stored data: bounded before any arithmetic on it.
        if width == 0 || width > MAX_WIDTH {
            return Err(EncoderError::Model(format!(
                "kept token vectors: {width} values a token is not a model's width (1 to {MAX_WIDTH})"
            )));
        }
        let (head, row) = (form.header_bytes(width), form.row_bytes(width));
        let whole =
            bytes.is_empty() || (bytes.len() > head && (bytes.len() - head).is_multiple_of(row));
        if !whole {
            return Err(EncoderError::Model(format!(
                "kept token vectors: {} bytes are not whole {}-value tokens in the {} form",
                bytes.len(),
                width,
                form.as_str()
            )));
        }
        Ok(Self { form, width, bytes })
    }

    /// The form.
    pub fn form(&self) -> TokenForm {
        self.form
    }

    /// Values a token.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Tokens held.
    pub fn rows(&self) -> usize {
        self.bytes
            .len()
            .saturating_sub(self.form.header_bytes(self.width))
            .checked_div(self.form.row_bytes(self.width))
            .unwrap_or(0)
    }

    /// The packed bytes (the form and width are not in them).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The tokens as one self-describing byte string for a store: a
    /// 12-byte head (`ZTV1`, the form's code, three zeros, the width as
    /// u32 little-endian), then [`PackedTokens::bytes`]: what a store keeps
    /// (the lexical index, as base64 in a field of its own) and reads back
    /// with [`PackedTokens::from_stored`].
    pub fn to_stored(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STORED_HEAD + self.bytes.len());
        out.extend_from_slice(&STORED_MAGIC);
        out.extend_from_slice(&[self.form.code(), 0, 0, 0]);
        // The width is at most MAX_WIDTH (pack's callers pass a model's
        // width; from_bytes bounds it), so it fits a u32.
        out.extend_from_slice(&u32::try_from(self.width).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }

    /// Token vectors read back from [`PackedTokens::to_stored`]'s bytes.
    ///
    /// # Errors
    /// [`EncoderError::Model`] when the bytes are not that form (another
    /// magic, a form code this build does not know, a short head) or their
    /// tokens are torn ([`PackedTokens::from_bytes`]).
    pub fn from_stored(stored: &[u8]) -> Result<Self, EncoderError> {
        let refuse = |why: &str| EncoderError::Model(format!("kept token vectors: {why}"));
        let (head, body) = stored
            .split_at_checked(STORED_HEAD)
            .ok_or_else(|| refuse("fewer bytes than their head"))?;
        if head[..4] != STORED_MAGIC {
            return Err(refuse("not Zhishu's stored form (another magic)"));
        }
        let form = TokenForm::from_code(head[4])
            .ok_or_else(|| refuse(&format!("form code {} is unknown to this build", head[4])))?;
        let width = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        let width = usize::try_from(width).map_err(|_| refuse("a width above this machine's"))?;
        Self::from_bytes(form, width, body.to_vec())
    }

    /// The tokens as row-major f32 values, `rows × width`.
    pub fn unpack(&self) -> Vec<f32> {
        let width = self.width;
        let row_bytes = self.form.row_bytes(width);
        let head = self.form.header_bytes(width).min(self.bytes.len());
        let (centre, body) = self.bytes.split_at(head);
        let centre: Vec<f32> = centre
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        let mut out = Vec::with_capacity(self.rows() * width);
        for row in body.chunks_exact(row_bytes.max(1)) {
            match self.form {
                TokenForm::F16 => {
                    let half: Vec<f16> = row
                        .chunks_exact(2)
                        .map(|b| f16::from_le_bytes([b[0], b[1]]))
                        .collect();
                    let start = out.len();
                    out.resize(start + width, 0.0);
                    half.convert_to_f32_slice(&mut out[start..]);
                }
                TokenForm::Int8 => {
                    let scale = f32::from_le_bytes([row[0], row[1], row[2], row[3]]);
                    out.extend(row[4..].iter().map(|&q| f32::from(q as i8) * scale));
                }
                TokenForm::Int4 => {
                    let scale = f16::from_le_bytes([row[0], row[1]]).to_f32();
                    out.extend(centre.iter().enumerate().map(|(i, c)| {
                        let code = row[2 + i / 2] >> (4 * (i % 2)) & 0xF;
                        c + scale * (f32::from(code) - 8.0)
                    }));
                }
                TokenForm::Sign => {
                    let mean = f16::from_le_bytes([row[0], row[1]]).to_f32();
                    out.extend(centre.iter().enumerate().map(|(i, c)| {
                        if row[2 + i / 8] >> (i % 8) & 1 == 1 {
                            c + mean
                        } else {
                            c - mean
                        }
                    }));
                }
            }
        }
        out
    }
}

/// The mean of `rows` (row-major, `width` wide), as f16 reads it back.
fn centre(rows: &[f32], width: usize) -> Vec<f32> {
    let mut sum = vec![0.0f32; width];
    let count = rows.len() / width.max(1);
    for row in rows.chunks_exact(width.max(1)) {
        sum.iter_mut().zip(row).for_each(|(s, x)| *s += x);
    }
    sum.iter()
        .map(|s| f16::from_f32(s / count.max(1) as f32).to_f32())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unit_rows(values: &[f32], width: usize) -> Vec<f32> {
        let mut rows = values.to_vec();
        for row in rows.chunks_exact_mut(width) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            row.iter_mut().for_each(|x| *x /= norm);
        }
        rows
    }

    fn forms() -> impl Strategy<Value = TokenForm> {
        prop_oneof![
            Just(TokenForm::F16),
            Just(TokenForm::Int8),
            Just(TokenForm::Sign),
            Just(TokenForm::Int4)
        ]
    }

    proptest! {
        /// Every form keeps the tokens' count and shape, goes through its
        /// bytes unchanged, and reads back close to what it packed: f16 to
        /// half precision, int8 to half a step, sign to each value's side
        /// of the passage's mean token at the token's mean distance.
        #[test]
        fn packed_tokens_read_back_close(
            form in forms(),
            width in 1usize..40,
            rows in 0usize..6,
            seed in prop::collection::vec(-1.0f32..1.0, 240),
        ) {
            let values = unit_rows(&seed[..rows * width], width);
            let packed = PackedTokens::pack(form, &values, width);
            prop_assert_eq!(packed.rows(), rows);
            let head = if rows > 0 { form.header_bytes(width) } else { 0 };
            prop_assert_eq!(packed.bytes().len(), head + rows * form.row_bytes(width));
            let centre = centre(&values, width);
            let again = PackedTokens::from_bytes(form, width, packed.bytes().to_vec()).unwrap();
            prop_assert_eq!(&again, &packed);
            let back = packed.unpack();
            prop_assert_eq!(back.len(), values.len());
            for (row, got) in values.chunks_exact(width).zip(back.chunks_exact(width)) {
                let top = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let off: Vec<f32> = row.iter().zip(&centre).map(|(x, c)| x - c).collect();
                let mean = off.iter().map(|x| x.abs()).sum::<f32>() / width as f32;
                for ((&x, &y), (&o, &c)) in row.iter().zip(got).zip(off.iter().zip(&centre)) {
                    match form {
                        TokenForm::F16 => prop_assert!((x - y).abs() <= 1e-3 * x.abs().max(1e-3)),
                        TokenForm::Int8 => prop_assert!((x - y).abs() <= top / 254.0 + 1e-6),
                        TokenForm::Int4 => {
                            // Half a step of max |x - c| / 7 (the scale
                            // kept in f16), around the kept centre.
                            let reach = off.iter().fold(0.0f32, |m, o| m.max(o.abs()));
                            prop_assert!((x - y).abs() <= reach / 14.0 * 1.01 + 1e-5, "{} {}", x, y);
                        }
                        TokenForm::Sign => {
                            // The centre, plus or minus the mean offset,
                            // on the side the value lies.
                            let step = y - c;
                            prop_assert!((step.abs() - mean).abs() <= 1e-3 * mean + 1e-5);
                            prop_assert!(mean < 1e-4 || (step >= 0.0) == (o >= 0.0), "{} {} {}", x, y, c);
                        }
                    }
                }
            }
        }

        /// The stored form gives back exactly what was packed, and a
        /// stored string cut short, with a changed head or a form code
        /// this build does not know is refused, never misread.
        #[test]
        fn stored_form_round_trips_and_refuses_what_it_did_not_write(
            form in forms(),
            width in 1usize..40,
            rows in 0usize..6,
            seed in prop::collection::vec(-1.0f32..1.0, 240),
            cut in 0usize..10_000,
            flip in 0usize..12,
        ) {
            let packed = PackedTokens::pack(form, &unit_rows(&seed[..rows * width], width), width);
            let stored = packed.to_stored();
            prop_assert_eq!(stored.len(), 12 + packed.bytes().len());
            prop_assert_eq!(&PackedTokens::from_stored(&stored).unwrap(), &packed);
            // Cut anywhere inside the head, or inside a token.
            let cut = cut % stored.len();
            let short = PackedTokens::from_stored(&stored[..cut]);
            let (body, head) = (cut.saturating_sub(12), form.header_bytes(width));
            let torn_body = body > 0
                && (body <= head || !(body - head).is_multiple_of(form.row_bytes(width)));
            if cut < 12 || torn_body {
                prop_assert!(short.is_err());
            }
            // Any changed byte of the magic or the form code is refused,
            // and a changed width is refused or reads a different width.
            let mut changed = stored.clone();
            changed[flip] ^= 0x80;
            match (flip, PackedTokens::from_stored(&changed)) {
                (0..=4, read) => prop_assert!(read.is_err()),
                (8..=11, Ok(read)) => prop_assert_ne!(read.width(), width),
                _ => {}
            }
        }

        /// Bytes that are not whole tokens are refused, not misread.
        #[test]
        fn torn_bytes_are_refused(form in forms(), width in 1usize..40, extra in 1usize..1000) {
            let (head, row) = (form.header_bytes(width), form.row_bytes(width));
            let torn = head + 2 * row + 1 + extra % (row - 1).max(1);
            prop_assume!(!(torn - head).is_multiple_of(row));
            prop_assert!(PackedTokens::from_bytes(form, width, vec![0u8; torn]).is_err());
            if head > 0 {
                // A centre with no token after it.
                prop_assert!(PackedTokens::from_bytes(form, width, vec![0u8; head]).is_err());
            }
            prop_assert!(PackedTokens::from_bytes(form, width, vec![0u8; head + row]).is_ok());
        }
    }

    #[test]
    fn a_384_wide_token_takes_what_the_table_says() {
        assert_eq!(TokenForm::F16.row_bytes(384), 768);
        assert_eq!(TokenForm::Int8.row_bytes(384), 388);
        assert_eq!(TokenForm::Sign.row_bytes(384), 50);
        assert_eq!(TokenForm::Sign.header_bytes(384), 768);
        assert_eq!(TokenForm::Int4.row_bytes(384), 194);
        assert_eq!(TokenForm::Int4.header_bytes(384), 768);
        assert!(PackedTokens::from_bytes(TokenForm::Sign, 0, Vec::new()).is_err());
        // A corrupted width is refused, not overflowed.
        for form in [
            TokenForm::F16,
            TokenForm::Int8,
            TokenForm::Sign,
            TokenForm::Int4,
        ] {
            assert!(PackedTokens::from_bytes(form, usize::MAX, vec![0; 8]).is_err());
            assert!(PackedTokens::from_bytes(form, (1 << 16) + 1, vec![0; 8]).is_err());
        }
        // The sign form: the passage's mean token [1.5, -2], then each
        // token's side of it, at the mean distance 1.75.
        let p = PackedTokens::pack(TokenForm::Sign, &[3.0, -4.0, 0.0, 0.0], 2);
        assert_eq!(p.rows(), 2);
        assert_eq!(p.unpack(), vec![3.25, -3.75, -0.25, -0.25]);
        let none = PackedTokens::pack(TokenForm::Sign, &[], 2);
        assert_eq!((none.rows(), none.bytes().len()), (0, 0));
        // The int4 form: the centre [1.5, -2], offsets ±[1.5, 2] in steps
        // of 2 / 7; three values fit two bytes' nibbles, the last one
        // padded.
        let p = PackedTokens::pack(TokenForm::Int4, &[3.0, -4.0, 1.0, 0.0, 0.0, -1.0], 3);
        assert_eq!((p.rows(), p.bytes().len()), (2, 6 + 2 * 4));
        let back = p.unpack();
        for (x, y) in [3.0, -4.0, 1.0, 0.0, 0.0, -1.0].iter().zip(&back) {
            assert!((x - y).abs() <= 1.0 / 7.0 + 1e-3, "{x} {y}");
        }
    }
}
