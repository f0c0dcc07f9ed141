//! One layout for every quantised format: [`QWeight`].
//!
//! Why one layout: AWQ packs nibbles along the output in a shuffled order,
//! GPTQ along the input, compressed-tensors along the input in plain
//! order, FP8 stores bytes with block scales. Repacking each at load into
//! one row-major layout means one kernel per value type (4-bit, 8-bit
//! integer, e4m3) instead of one per publisher, and makes every format
//! split and dequantise the same way. Each weight is
//! `code · scale + offset`, with one scale and offset per row and group of
//! input columns (`offset = −zero · scale`), so the kernel sums
//! `scale · Σ code·x + offset · Σ x` per group and the second sum is
//! computed once per activation row, not per weight row.

use crate::EngineError;

/// Input columns one block of codes covers: 16 bytes of 4-bit codes, or 32
/// bytes of 8-bit ones. Groups are whole blocks.
pub const BLOCK: usize = 32;

/// The value type of the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codes {
    /// Unsigned 4-bit integers, 16 bytes per block of 32 columns: byte `i`
    /// holds column `i` in its low nibble and column `i + 16` in its high
    /// nibble (the order the kernel unpacks fastest, as ggml's Q4_0).
    U4,
    /// Unsigned 8-bit integers, one byte per column.
    U8,
    /// float8 e4m3 (`e4m3fn`), one byte per column. The kernel decodes a
    /// code by moving its bits into an f16 (`(b & 0x7f) << 7`, sign to bit
    /// 15), which is the e4m3 value divided by 2⁸; the 2⁸ is folded into
    /// the scales at load.
    F8,
}

impl Codes {
    /// Bytes one row of `cols` columns takes.
    pub fn row_bytes(self, cols: usize) -> usize {
        match self {
            Self::U4 => cols / 2,
            Self::U8 | Self::F8 => cols,
        }
    }
}

/// What e4m3 codes are multiplied by, after their f16 decoding, to give
/// their value (see [`Codes::F8`]).
pub const F8_FACTOR: f32 = 256.0;

/// The value of an e4m3 (`e4m3fn`) byte. `0x7f`/`0xff` (NaN) are never
/// written by quantisers and decode as ±480.
pub fn e4m3_value(b: u8) -> f32 {
    let bits = (u16::from(b & 0x7f) << 7) | (u16::from(b & 0x80) << 8);
    f16_to_f32(bits) * F8_FACTOR
}

/// An IEEE half-precision value (no crate needed for the few uses here).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f32::from(h & 0x3ff);
    let mag = match exp {
        0 => mant * 2f32.powi(-24),
        31 => {
            if mant == 0.0 {
                f32::INFINITY
            } else {
                f32::NAN
            }
        }
        e => (1.0 + mant / 1024.0) * 2f32.powi(e - 15),
    };
    sign * mag
}

/// A quantised `[rows, cols]` weight (`rows` = output features) in the
/// engine's layout.
#[derive(Debug, Clone)]
pub struct QWeight {
    rows: usize,
    cols: usize,
    group: usize,
    codes: Codes,
    /// `rows × row_bytes(cols)`.
    data: Vec<u8>,
    /// `rows × cols/group`; for [`Codes::F8`] already times [`F8_FACTOR`].
    scales: Vec<f32>,
    /// `rows × cols/group`.
    offsets: Vec<f32>,
    /// GPTQ's act order: stored column `j` holds input feature `perm[j]`,
    /// so that every group is a run of columns.
    perm: Option<Vec<u32>>,
}

/// A quantised matrix handed over by a format reader, one code per value,
/// before packing: the interchange between [`super::formats`] and
/// [`QWeight`].
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    /// Input columns per scale (divides `cols`).
    pub group: usize,
    /// The value type.
    pub codes: Codes,
    /// `rows × cols` codes, row-major, in stored column order (`perm`).
    pub values: Vec<u8>,
    /// `rows × cols/group`: the value of a code is `(code − zero) · scale`
    /// (for e4m3 codes, `e4m3(code) · scale`).
    pub scales: Vec<f32>,
    /// `rows × cols/group`, in code units; zeros for e4m3.
    pub zeros: Vec<f32>,
    /// See [`QWeight`].
    pub perm: Option<Vec<u32>>,
}

impl Unpacked {
    /// The dense matrix, `[rows, cols]` row-major in the input features'
    /// order: for shapes the packed layout does not take, and for GPUs.
    pub fn dequantize(&self) -> Vec<f32> {
        let groups = self.cols / self.group.max(1);
        let mut w = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            for c in 0..self.cols {
                let g = r * groups + c / self.group;
                let v = self.values[r * self.cols + c];
                let code = match self.codes {
                    Codes::F8 => e4m3_value(v),
                    Codes::U4 | Codes::U8 => f32::from(v),
                };
                let to = self.perm.as_ref().map_or(c, |p| p[c] as usize);
                w[r * self.cols + to] = (code - self.zeros[g]) * self.scales[g];
            }
        }
        w
    }
}

impl QWeight {
    /// Packs `u` into the engine's layout. `None` when its shape does not
    /// fit the layout (columns or group not a multiple of [`BLOCK`]): the
    /// caller then keeps the matrix dense.
    pub fn pack(u: &Unpacked) -> Option<Self> {
        let groups_ok = u.group > 0
            && u.group.is_multiple_of(BLOCK)
            && u.cols.is_multiple_of(u.group)
            && u.rows > 0;
        let perm_ok = u.perm.as_ref().is_none_or(|p| {
            let mut seen = vec![false; u.cols];
            p.len() == u.cols
                && p.iter().all(|&c| {
                    (c as usize) < u.cols && !std::mem::replace(&mut seen[c as usize], true)
                })
        });
        if !groups_ok
            || !perm_ok
            || u.values.len() != u.rows * u.cols
            || u.scales.len() != u.rows * (u.cols / u.group)
            || u.zeros.len() != u.scales.len()
        {
            return None;
        }
        let data = match u.codes {
            Codes::U4 => {
                let mut data = vec![0u8; u.rows * u.cols / 2];
                for (out, block) in data.chunks_exact_mut(16).zip(u.values.chunks_exact(BLOCK)) {
                    for i in 0..16 {
                        out[i] = (block[i] & 0x0f) | (block[i + 16] << 4);
                    }
                }
                data
            }
            Codes::U8 | Codes::F8 => u.values.clone(),
        };
        // The kernel multiplies an e4m3 code's f16 decoding (its value
        // ÷ 2⁸) by the stored scale, so that scale carries the 2⁸.
        let factor = if u.codes == Codes::F8 { F8_FACTOR } else { 1.0 };
        let scales = u.scales.iter().map(|s| s * factor).collect();
        let offsets = u.scales.iter().zip(&u.zeros).map(|(s, z)| -z * s).collect();
        Some(Self {
            rows: u.rows,
            cols: u.cols,
            group: u.group,
            codes: u.codes,
            data,
            scales,
            offsets,
            perm: u.perm.clone(),
        })
    }

    /// Output features.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Input columns per scale.
    pub fn group(&self) -> usize {
        self.group
    }

    /// The value type.
    pub fn codes(&self) -> Codes {
        self.codes
    }

    /// The packed codes, `rows × row_bytes(cols)`.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Per row and group: the multiplier of the decoded codes.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// Per row and group: the constant added per unit of input.
    pub fn offsets(&self) -> &[f32] {
        &self.offsets
    }

    /// The act-order permutation, if any (see [`QWeight`]).
    pub fn perm(&self) -> Option<&[u32]> {
        self.perm.as_deref()
    }

    /// Bytes a product reads: codes, scales and offsets.
    pub fn bytes(&self) -> usize {
        self.data.len() + 4 * (self.scales.len() + self.offsets.len())
    }

    /// Row `r` of the dequantised matrix into `out` (`cols` long), in the
    /// input features' order (the act-order permutation undone).
    ///
    /// # Panics
    /// When `r` is not a row or `out` is not `cols` long.
    pub fn dequantize_row_into(&self, r: usize, out: &mut [f32]) {
        use super::kernel::decode_block;
        assert_eq!(out.len(), self.cols, "a row has {} columns", self.cols);
        let groups = self.cols / self.group;
        let rb = self.codes.row_bytes(self.cols);
        let row = &self.data[r * rb..(r + 1) * rb];
        let bb = self.codes.row_bytes(BLOCK);
        let mut block = [0f32; BLOCK];
        for b in 0..self.cols / BLOCK {
            let codes = &row[b * bb..(b + 1) * bb];
            match self.codes {
                Codes::U4 => decode_block::<0>(codes, &mut block),
                Codes::U8 => decode_block::<1>(codes, &mut block),
                Codes::F8 => decode_block::<2>(codes, &mut block),
            }
            let g = r * groups + b * BLOCK / self.group;
            let (scale, offset) = (self.scales[g], self.offsets[g]);
            for (i, v) in block.iter().enumerate() {
                let c = b * BLOCK + i;
                let to = self.perm.as_ref().map_or(c, |p| p[c] as usize);
                out[to] = v * scale + offset;
            }
        }
    }

    /// Rows `start..start + len` of the dequantised matrix, `[len, cols]`
    /// row-major in the input features' order.
    pub fn dequantize_rows(&self, start: usize, len: usize) -> Vec<f32> {
        let mut out = vec![0f32; len * self.cols];
        for (i, row) in out.chunks_exact_mut(self.cols).enumerate() {
            self.dequantize_row_into(start + i, row);
        }
        out
    }

    /// The whole dequantised matrix, `[rows, cols]`.
    pub fn dequantize(&self) -> Vec<f32> {
        self.dequantize_rows(0, self.rows)
    }

    /// The matrix as ggml `Q4_1` blocks: per 32 columns an f16 scale `d`,
    /// an f16 minimum `m` and 16 bytes of nibbles in this layout's own
    /// order (byte `i`: column `i` low, `i + 16` high), so the codes are
    /// copied as they are. This is how 4-bit weights are held on GPUs,
    /// where candle's quantised kernels multiply them (a matrix–vector
    /// kernel that dequantises in registers for decode, dequantise-then-
    /// GEMM for prefill), at 0.625 bytes a weight. Scales and offsets are
    /// rounded to f16. `None` for 8-bit and e4m3 codes and for act order.
    pub fn to_q4_1_bytes(&self) -> Option<Vec<u8>> {
        if self.codes != Codes::U4 || self.perm.is_some() {
            return None;
        }
        let groups = self.cols / self.group;
        let blocks = self.cols / BLOCK;
        let mut out = Vec::with_capacity(self.rows * blocks * 20);
        for r in 0..self.rows {
            for b in 0..blocks {
                let g = r * groups + b * BLOCK / self.group;
                out.extend_from_slice(&half::f16::from_f32(self.scales[g]).to_le_bytes());
                out.extend_from_slice(&half::f16::from_f32(self.offsets[g]).to_le_bytes());
                let at = r * self.cols / 2 + b * 16;
                out.extend_from_slice(&self.data[at..at + 16]);
            }
        }
        Some(out)
    }

    /// Rows (`dim` 0) or input columns (`dim` 1) `start..start + len`: one
    /// tensor-parallel shard, cut along whole groups so every shard keeps
    /// its own scales.
    ///
    /// # Errors
    /// When the range leaves the matrix, a column range does not fall on
    /// group boundaries, or an act-order matrix is split by columns (its
    /// groups are scattered over the input features).
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Self, EngineError> {
        let groups = self.cols / self.group;
        let refuse = |message: String| EngineError::Config {
            field: "tensor_parallel".into(),
            message,
        };
        match dim {
            0 => {
                if start + len > self.rows || len == 0 {
                    return Err(refuse(format!(
                        "rows {start}..{} of a {}-row quantised matrix",
                        start + len,
                        self.rows
                    )));
                }
                let rb = self.codes.row_bytes(self.cols);
                Ok(Self {
                    rows: len,
                    data: self.data[start * rb..(start + len) * rb].to_vec(),
                    scales: self.scales[start * groups..(start + len) * groups].to_vec(),
                    offsets: self.offsets[start * groups..(start + len) * groups].to_vec(),
                    ..self.clone()
                })
            }
            1 => {
                if self.perm.is_some() {
                    return Err(refuse(
                        "a checkpoint quantised with act order (GPTQ's desc_act, compressed-tensors' actorder) cannot be split by input features; run it with pipeline parallelism, or use a checkpoint without act order".into(),
                    ));
                }
                // One scale per row (per-channel): any whole blocks of
                // columns keep it.
                let whole_row = groups == 1
                    && start.is_multiple_of(BLOCK)
                    && len.is_multiple_of(BLOCK)
                    && len > 0
                    && start + len <= self.cols;
                if whole_row {
                    let rb = self.codes.row_bytes(self.cols);
                    let (b0, b1) = (
                        self.codes.row_bytes(start),
                        self.codes.row_bytes(start + len),
                    );
                    let data = (0..self.rows)
                        .flat_map(|r| self.data[r * rb + b0..r * rb + b1].iter().copied())
                        .collect();
                    return Ok(Self {
                        cols: len,
                        group: len,
                        data,
                        ..self.clone()
                    });
                }
                if !start.is_multiple_of(self.group)
                    || !len.is_multiple_of(self.group)
                    || len == 0
                    || start + len > self.cols
                {
                    return Err(refuse(format!(
                        "input features {start}..{} do not fall on the quantisation groups of {} columns; choose a tensor-parallel size that divides the groups",
                        start + len,
                        self.group
                    )));
                }
                let rb = self.codes.row_bytes(self.cols);
                let (b0, b1) = (
                    self.codes.row_bytes(start),
                    self.codes.row_bytes(start + len),
                );
                let (g0, g1) = (start / self.group, (start + len) / self.group);
                let mut data = Vec::with_capacity(self.rows * (b1 - b0));
                let mut scales = Vec::with_capacity(self.rows * (g1 - g0));
                let mut offsets = Vec::with_capacity(self.rows * (g1 - g0));
                for r in 0..self.rows {
                    data.extend_from_slice(&self.data[r * rb + b0..r * rb + b1]);
                    scales.extend_from_slice(&self.scales[r * groups + g0..r * groups + g1]);
                    offsets.extend_from_slice(&self.offsets[r * groups + g0..r * groups + g1]);
                }
                Ok(Self {
                    cols: len,
                    data,
                    scales,
                    offsets,
                    ..self.clone()
                })
            }
            _ => Err(refuse(format!("no dimension {dim} in a matrix"))),
        }
    }
}

/// A random matrix of codes, scales and zero points (and, with `perm`, a
/// random act-order permutation), for the tests of this layout and of the
/// kernels.
#[cfg(test)]
pub(crate) fn random(
    codes: Codes,
    rows: usize,
    groups: usize,
    group: usize,
    seed: u64,
    perm: bool,
) -> Unpacked {
    let cols = groups * group;
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let max = if codes == Codes::U4 { 16 } else { 256 };
    // e4m3's NaN bytes (0x7f, 0xff) are never written by quantisers.
    let values = (0..rows * cols)
        .map(|_| match (next() % max) as u8 {
            v if codes == Codes::F8 && v & 0x7f == 0x7f => 1,
            v => v,
        })
        .collect();
    let scales = (0..rows * groups)
        .map(|_| (next() % 1000) as f32 / 1e4 + 1e-3)
        .collect();
    let zeros = (0..rows * groups)
        .map(|_| match codes {
            Codes::F8 => 0.0,
            _ => (next() % max) as f32,
        })
        .collect();
    let perm = perm.then(|| {
        let mut p: Vec<u32> = (0..cols as u32).collect();
        for i in (1..cols).rev() {
            p.swap(i, next() as usize % (i + 1));
        }
        p
    });
    Unpacked {
        rows,
        cols,
        group,
        codes,
        values,
        scales,
        zeros,
        perm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every e4m3 byte decodes to the value the format defines
    /// (sign · 2^(e−7) · (1 + m/8), subnormals 2⁻⁶ · m/8).
    #[test]
    fn e4m3_decoding_matches_the_definition() {
        for b in 0u8..=255 {
            if b & 0x7f == 0x7f {
                continue;
            }
            let (s, e, m) = ((b >> 7) & 1, (b >> 3) & 0xf, b & 7);
            let mag = if e == 0 {
                2f64.powi(-6) * f64::from(m) / 8.0
            } else {
                2f64.powi(i32::from(e) - 7) * (1.0 + f64::from(m) / 8.0)
            };
            let want = if s == 1 { -mag } else { mag };
            assert_eq!(e4m3_value(b) as f64, want, "byte {b:#04x}");
        }
        assert_eq!(e4m3_value(0x7e), 448.0);
    }

    fn unpacked(codes: Codes, rows: usize, groups: usize, group: usize, seed: u64) -> Unpacked {
        random(codes, rows, groups, group, seed, false)
    }

    fn reference(u: &Unpacked) -> Vec<f32> {
        let groups = u.cols / u.group;
        let mut w = vec![0f32; u.rows * u.cols];
        for r in 0..u.rows {
            for c in 0..u.cols {
                let g = r * groups + c / u.group;
                let v = u.values[r * u.cols + c];
                let code = if u.codes == Codes::F8 {
                    e4m3_value(v)
                } else {
                    f32::from(v)
                };
                let to = u.perm.as_ref().map_or(c, |p| p[c] as usize);
                w[r * u.cols + to] = (code - u.zeros[g]) * u.scales[g];
            }
        }
        w
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    proptest! {
        /// Packing then dequantising gives `(code − zero) · scale` for every
        /// value type, shape and permutation.
        #[test]
        fn dequantising_the_packed_layout_gives_every_weight(
            kind in 0usize..3, rows in 1usize..6, groups in 1usize..4,
            group_blocks in 1usize..3, seed: u64, shuffle: bool,
        ) {
            let codes = [Codes::U4, Codes::U8, Codes::F8][kind];
            let mut u = unpacked(codes, rows, groups, group_blocks * BLOCK, seed);
            if shuffle {
                let mut p: Vec<u32> = (0..u.cols as u32).collect();
                p.reverse();
                p.rotate_left(seed as usize % u.cols);
                u.perm = Some(p);
            }
            let q = QWeight::pack(&u).unwrap();
            close(&q.dequantize(), &reference(&u));
        }

        /// A shard by rows or by whole groups of columns dequantises to the
        /// same slice of the whole matrix.
        #[test]
        fn shards_are_slices_of_the_whole(
            kind in 0usize..3, rows in 2usize..6, groups in 2usize..5, seed: u64,
        ) {
            let codes = [Codes::U4, Codes::U8, Codes::F8][kind];
            let u = unpacked(codes, rows, groups, BLOCK, seed);
            let q = QWeight::pack(&u).unwrap();
            let whole = q.dequantize();
            let r0 = seed as usize % rows;
            let part = q.narrow(0, r0, rows - r0).unwrap();
            close(&part.dequantize(), &whole[r0 * u.cols..]);
            let g0 = seed as usize % groups;
            let part = q.narrow(1, g0 * BLOCK, (groups - g0) * BLOCK).unwrap();
            let want: Vec<f32> = whole
                .chunks_exact(u.cols)
                .flat_map(|row| row[g0 * BLOCK..].to_vec())
                .collect();
            close(&part.dequantize(), &want);
        }
    }

    #[test]
    fn a_per_row_scale_splits_at_any_block() {
        // One group per row (per-channel scales): a shard of 64 of 128
        // columns keeps the row's scale.
        let u = unpacked(Codes::U8, 3, 1, 128, 5);
        let q = QWeight::pack(&u).unwrap();
        let whole = q.dequantize();
        let part = q.narrow(1, 32, 64).unwrap();
        let want: Vec<f32> = whole
            .chunks_exact(128)
            .flat_map(|row| row[32..96].to_vec())
            .collect();
        close(&part.dequantize(), &want);
    }

    #[test]
    fn refuses_shards_that_cut_a_group_or_scatter_it() {
        let mut u = unpacked(Codes::U4, 4, 2, 64, 1);
        let q = QWeight::pack(&u).unwrap();
        assert!(
            q.narrow(1, 32, 64)
                .unwrap_err()
                .to_string()
                .contains("groups")
        );
        u.perm = Some((0..128).rev().collect());
        let q = QWeight::pack(&u).unwrap();
        assert!(
            q.narrow(1, 0, 64)
                .unwrap_err()
                .to_string()
                .contains("desc_act")
        );
        assert!(QWeight::pack(&unpacked(Codes::U4, 2, 1, 16, 1)).is_none());
    }
}
