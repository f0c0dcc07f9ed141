//! Products with [`QWeight`]s on the CPU: a matrix–vector kernel that
//! dequantises groups on the fly (decode), and GEMM over dequantised tiles
//! (prefill).
//!
//! The decode kernel has the structure of [`crate::matvec`]: weight rows
//! split over rayon's pool, each row read once and dotted with every
//! activation row while it is in cache, AVX-512 or AVX2 chosen at run time.
//! What changes is the inner loop: a block of 32 codes is widened to
//! floats in registers (4-bit: mask and shift; 8-bit: zero-extend; e4m3:
//! its bits moved into an f16 and converted), multiplied with the
//! activations and summed per group; the group's sum is then scaled once,
//! and its offset is applied through the activation's own group sum
//! (`offset · Σx`), computed once per call. So a weight costs one
//! conversion and one fused multiply-add per activation row, and the
//! memory read per weight is its 4 or 8 bits.

use super::packed::{BLOCK, Codes, QWeight};
use rayon::prelude::*;

/// Weight rows per rayon task (as in [`crate::matvec`]).
const ROWS_PER_TASK: usize = 64;

/// Bytes ahead of the current block whose cache line the kernel
/// prefetches.
const PREFETCH: usize = 2048;

/// Activation rows one kernel call takes: their partial sums live in
/// registers (AVX-512 has 32, AVX2 16).
fn group_rows() -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 8;
    }
    4
}

/// `y = x Wᵀ` for `x` `[m, cols]` row-major and a quantised `w`; returns
/// `[m, rows]` row-major. Any `m`; meant for decode batches (a few rows),
/// larger ones are faster through [`gemm_tiles`].
///
/// # Panics
/// When `x` is not `m × cols` long.
pub fn matvec(x: &[f32], m: usize, w: &QWeight) -> Vec<f32> {
    let (n, k) = (w.rows(), w.cols());
    assert_eq!(x.len(), m * k, "x is not [m, cols]");
    if m == 0 {
        return Vec::new();
    }
    // Act order: the stored columns are a permutation of the features.
    let permuted: Vec<f32>;
    let x = match w.perm() {
        Some(p) => {
            permuted = x
                .chunks_exact(k)
                .flat_map(|row| p.iter().map(|&j| row[j as usize]))
                .collect();
            &permuted[..]
        }
        None => x,
    };
    let group = w.group();
    let groups = k / group;
    let sums: Vec<f32> = x
        .chunks_exact(group)
        .map(|g| g.iter().sum::<f32>())
        .collect();
    let xs: Vec<&[f32]> = x.chunks_exact(k).collect();
    let ss: Vec<&[f32]> = sums.chunks_exact(groups).collect();
    let rb = w.codes().row_bytes(k);
    let kernel_rows = group_rows();
    let mut t = vec![0f32; n * m];
    t.par_chunks_mut(ROWS_PER_TASK * m)
        .enumerate()
        .for_each(|(task, out)| {
            let r0 = task * ROWS_PER_TASK;
            let rows = out.len() / m;
            let tile = Tile {
                codes: &w.data()[r0 * rb..(r0 + rows) * rb],
                scales: &w.scales()[r0 * groups..(r0 + rows) * groups],
                offsets: &w.offsets()[r0 * groups..(r0 + rows) * groups],
                rows,
                group,
            };
            let mut g = 0;
            while g < m {
                let len = (m - g).min(kernel_rows);
                let (xg, sg) = (&xs[g..g + len], &ss[g..g + len]);
                match len {
                    1 => run::<1>(w.codes(), xg, sg, &tile, out, m, g),
                    2 => run::<2>(w.codes(), xg, sg, &tile, out, m, g),
                    3 => run::<3>(w.codes(), xg, sg, &tile, out, m, g),
                    4 => run::<4>(w.codes(), xg, sg, &tile, out, m, g),
                    5 => run::<5>(w.codes(), xg, sg, &tile, out, m, g),
                    6 => run::<6>(w.codes(), xg, sg, &tile, out, m, g),
                    7 => run::<7>(w.codes(), xg, sg, &tile, out, m, g),
                    _ => run::<8>(w.codes(), xg, sg, &tile, out, m, g),
                }
                g += len;
            }
        });
    crate::matvec::by_activation_row(t, m, n)
}

/// One weight row: its codes, and per group its scale and offset.
struct Row<'a> {
    codes: &'a [u8],
    scales: &'a [f32],
    offsets: &'a [f32],
    group: usize,
}

/// One task's consecutive weight rows.
struct Tile<'a> {
    codes: &'a [u8],
    scales: &'a [f32],
    offsets: &'a [f32],
    rows: usize,
    group: usize,
}

impl Tile<'_> {
    fn row(&self, r: usize) -> Row<'_> {
        let rb = self.codes.len() / self.rows;
        let groups = self.scales.len() / self.rows;
        Row {
            codes: &self.codes[r * rb..(r + 1) * rb],
            scales: &self.scales[r * groups..(r + 1) * groups],
            offsets: &self.offsets[r * groups..(r + 1) * groups],
            group: self.group,
        }
    }
}

/// Dots `M` activation rows with every row of a tile, into columns
/// `g..g + M` of `out` (`[rows, m]`). One call per task keeps the loop
/// over rows inside the kernel's target features, so rows follow one
/// another without a call or a feature check between them.
type Kernel<const M: usize> =
    unsafe fn(&[&[f32]; M], &[&[f32]; M], &Tile<'_>, &mut [f32], usize, usize);

fn run<const M: usize>(
    codes: Codes,
    xs: &[&[f32]],
    sums: &[&[f32]],
    tile: &Tile<'_>,
    out: &mut [f32],
    m: usize,
    g: usize,
) {
    let xs: [&[f32]; M] = std::array::from_fn(|i| xs[i]);
    let sums: [&[f32]; M] = std::array::from_fn(|i| sums[i]);
    let kernel: Kernel<M> = select::<M>(codes);
    // SAFETY: `select` returned a kernel whose CPU features were detected
    // on this machine; every slice has the lengths the layout implies
    // (checked when the weight was packed and when `x` was split).
    unsafe { kernel(&xs, &sums, tile, out, m, g) };
}

/// The widest kernel for these codes that this CPU runs.
fn select<const M: usize>(codes: Codes) -> Kernel<M> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx2") {
            return match codes {
                Codes::U4 => avx512::tile::<M, 0>,
                Codes::U8 => avx512::tile::<M, 1>,
                Codes::F8 => avx512::tile::<M, 2>,
            };
        }
        if has!("avx2") && has!("fma") && has!("f16c") {
            return match codes {
                Codes::U4 => avx2::tile::<M, 0>,
                Codes::U8 => avx2::tile::<M, 1>,
                Codes::F8 => avx2::tile::<M, 2>,
            };
        }
    }
    match codes {
        Codes::U4 => portable_tile::<M, 0>,
        Codes::U8 => portable_tile::<M, 1>,
        Codes::F8 => portable_tile::<M, 2>,
    }
}

/// Decodes one block of 32 codes (the layout of [`Codes`]) to numbers:
/// 4/8-bit integers as they are, e4m3 as its f16 decoding.
pub(crate) fn decode_block<const C: u8>(codes: &[u8], out: &mut [f32; BLOCK]) {
    match C {
        0 => {
            for i in 0..16 {
                out[i] = f32::from(codes[i] & 0x0f);
                out[i + 16] = f32::from(codes[i] >> 4);
            }
        }
        1 => {
            for (o, c) in out.iter_mut().zip(codes) {
                *o = f32::from(*c);
            }
        }
        _ => {
            for (o, c) in out.iter_mut().zip(codes) {
                *o = super::packed::e4m3_value(*c) / super::packed::F8_FACTOR;
            }
        }
    }
}

/// Bytes of one block of 32 codes.
const fn block_bytes<const C: u8>() -> usize {
    if C == 0 { 16 } else { 32 }
}

/// Any CPU: every row of the tile through [`portable`].
unsafe fn portable_tile<const M: usize, const C: u8>(
    xs: &[&[f32]; M],
    sums: &[&[f32]; M],
    tile: &Tile<'_>,
    out: &mut [f32],
    m: usize,
    g: usize,
) {
    for (r, o) in out.chunks_exact_mut(m).enumerate().take(tile.rows) {
        // SAFETY: the portable kernel needs no CPU feature.
        o[g..g + M].copy_from_slice(&unsafe { portable::<M, C>(xs, sums, &tile.row(r)) });
    }
}

/// Any CPU: decode a block, then dot.
unsafe fn portable<const M: usize, const C: u8>(
    xs: &[&[f32]; M],
    sums: &[&[f32]; M],
    row: &Row<'_>,
) -> [f32; M] {
    let mut total = [0f32; M];
    let mut block = [0f32; BLOCK];
    let per_group = row.group / BLOCK;
    for (g, (scale, offset)) in row.scales.iter().zip(row.offsets).enumerate() {
        let mut acc = [0f32; M];
        for b in 0..per_group {
            let at = g * per_group + b;
            decode_block::<C>(&row.codes[at * block_bytes::<C>()..], &mut block);
            for (a, x) in acc.iter_mut().zip(xs) {
                *a += crate::matvec::dot(&block, &x[at * BLOCK..(at + 1) * BLOCK]);
            }
        }
        for i in 0..M {
            total[i] += acc[i] * scale + offset * sums[i][g];
        }
    }
    total
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{BLOCK, PREFETCH, Row, Tile, block_bytes};
    use std::arch::x86_64::*;

    /// Two vectors of 16 floats: the block's 32 codes.
    #[inline(always)]
    unsafe fn decode<const C: u8>(p: *const u8) -> (__m512, __m512) {
        // SAFETY (all arms): the caller points `p` at a whole block.
        unsafe {
            match C {
                0 => {
                    let b = _mm_loadu_si128(p as *const __m128i);
                    let low = _mm_set1_epi8(0x0f);
                    let lo = _mm_and_si128(b, low);
                    let hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
                    (
                        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)),
                        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)),
                    )
                }
                1 => (
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i))),
                    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
                        p.add(16) as *const __m128i
                    ))),
                ),
                _ => (f8(p), f8(p.add(16))),
            }
        }
    }

    /// 16 e4m3 codes as f16 bits (`(b & 0x7f) << 7 | (b & 0x80) << 8`),
    /// converted to floats.
    #[inline(always)]
    unsafe fn f8(p: *const u8) -> __m512 {
        // SAFETY: 16 readable bytes at `p` (the caller's block).
        unsafe {
            let v = _mm256_cvtepu8_epi16(_mm_loadu_si128(p as *const __m128i));
            let mag = _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x7f)), 7);
            let sign = _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi16(0x80)), 8);
            _mm512_cvtph_ps(_mm256_or_si256(mag, sign))
        }
    }

    /// Every row of the tile through [`row`], under the same features;
    /// a single activation row (one sequence decoding) goes through
    /// [`pair`], two weight rows at a time.
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn tile<const M: usize, const C: u8>(
        xs: &[&[f32]; M],
        sums: &[&[f32]; M],
        tile: &Tile<'_>,
        out: &mut [f32],
        m: usize,
        g: usize,
    ) {
        let mut start = 0;
        if M == 1 {
            while start + 1 < tile.rows {
                // SAFETY: as below.
                let [a, b] =
                    unsafe { pair::<C>(xs[0], sums[0], &tile.row(start), &tile.row(start + 1)) };
                out[start * m + g] = a;
                out[(start + 1) * m + g] = b;
                start += 2;
            }
        }
        for (r, o) in out
            .chunks_exact_mut(m)
            .enumerate()
            .take(tile.rows)
            .skip(start)
        {
            // SAFETY: the caller checked the features; the row's slices
            // have the layout's lengths.
            o[g..g + M].copy_from_slice(&unsafe { row::<M, C>(xs, sums, &tile.row(r)) });
        }
    }

    /// Two weight rows against one activation row: two independent
    /// streams of codes and four accumulator chains in flight, and each
    /// activation block loaded once for both.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn pair<const C: u8>(x: &[f32], sums: &[f32], a: &Row<'_>, b: &Row<'_>) -> [f32; 2] {
        let per_group = a.group / BLOCK;
        let bytes = block_bytes::<C>();
        let (pa, pb) = (a.codes.as_ptr(), b.codes.as_ptr());
        let mut total = [_mm512_setzero_ps(); 2];
        let mut offset = [0f32; 2];
        for (g, &sum) in sums.iter().enumerate().take(a.scales.len()) {
            let mut acc = [_mm512_setzero_ps(); 4];
            for blk in 0..per_group {
                let at = g * per_group + blk;
                // SAFETY: block `at` lies within both rows' codes, and
                // columns `at·32..at·32 + 32` within `x`.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(pa.wrapping_add(at * bytes + PREFETCH) as *const i8);
                    _mm_prefetch::<_MM_HINT_T0>(pb.wrapping_add(at * bytes + PREFETCH) as *const i8);
                    let px = x.as_ptr().add(at * BLOCK);
                    let (x0, x1) = (_mm512_loadu_ps(px), _mm512_loadu_ps(px.add(16)));
                    let (a0, a1) = decode::<C>(pa.add(at * bytes));
                    let (b0, b1) = decode::<C>(pb.add(at * bytes));
                    acc[0] = _mm512_fmadd_ps(x0, a0, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x1, a1, acc[1]);
                    acc[2] = _mm512_fmadd_ps(x0, b0, acc[2]);
                    acc[3] = _mm512_fmadd_ps(x1, b1, acc[3]);
                }
            }
            let (sa, sb) = (_mm512_set1_ps(a.scales[g]), _mm512_set1_ps(b.scales[g]));
            total[0] = _mm512_fmadd_ps(_mm512_add_ps(acc[0], acc[1]), sa, total[0]);
            total[1] = _mm512_fmadd_ps(_mm512_add_ps(acc[2], acc[3]), sb, total[1]);
            offset[0] += a.offsets[g] * sum;
            offset[1] += b.offsets[g] * sum;
        }
        [
            _mm512_reduce_add_ps(total[0]) + offset[0],
            _mm512_reduce_add_ps(total[1]) + offset[1],
        ]
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn row<const M: usize, const C: u8>(
        xs: &[&[f32]; M],
        sums: &[&[f32]; M],
        row: &Row<'_>,
    ) -> [f32; M] {
        let per_group = row.group / BLOCK;
        let bytes = block_bytes::<C>();
        let base = row.codes.as_ptr();
        let mut total = [_mm512_setzero_ps(); M];
        let mut offset = [0f32; M];
        for (g, (&scale, &off)) in row.scales.iter().zip(row.offsets).enumerate() {
            let mut acc = [[_mm512_setzero_ps(); 2]; M];
            for b in 0..per_group {
                let at = g * per_group + b;
                // SAFETY: block `at` lies within the row's codes, and
                // columns `at·32..at·32 + 32` within every `x`.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(
                        base.wrapping_add(at * bytes + PREFETCH) as *const i8
                    );
                    let (w0, w1) = decode::<C>(base.add(at * bytes));
                    for (a, x) in acc.iter_mut().zip(xs) {
                        let px = x.as_ptr().add(at * BLOCK);
                        a[0] = _mm512_fmadd_ps(_mm512_loadu_ps(px), w0, a[0]);
                        a[1] = _mm512_fmadd_ps(_mm512_loadu_ps(px.add(16)), w1, a[1]);
                    }
                }
            }
            let s = _mm512_set1_ps(scale);
            for i in 0..M {
                total[i] = _mm512_fmadd_ps(_mm512_add_ps(acc[i][0], acc[i][1]), s, total[i]);
                offset[i] += off * sums[i][g];
            }
        }
        std::array::from_fn(|i| _mm512_reduce_add_ps(total[i]) + offset[i])
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BLOCK, PREFETCH, Row, Tile, block_bytes};
    use std::arch::x86_64::*;

    /// Eight codes starting at byte `p` widened to floats (8-bit codes).
    #[inline(always)]
    unsafe fn u8x8(p: *const u8) -> __m256 {
        // SAFETY: 8 readable bytes at `p`.
        unsafe { _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))) }
    }

    /// Eight e4m3 codes at `p` as floats (their f16 decoding).
    #[inline(always)]
    unsafe fn f8x8(p: *const u8) -> __m256 {
        // SAFETY: 8 readable bytes at `p`.
        unsafe {
            let v = _mm_cvtepu8_epi16(_mm_loadl_epi64(p as *const __m128i));
            let mag = _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x7f)), 7);
            let sign = _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8);
            _mm256_cvtph_ps(_mm_or_si128(mag, sign))
        }
    }

    /// Four vectors of 8 floats: the block's 32 codes.
    #[inline(always)]
    unsafe fn decode<const C: u8>(p: *const u8) -> [__m256; 4] {
        // SAFETY (all arms): the caller points `p` at a whole block.
        unsafe {
            match C {
                0 => {
                    let b = _mm_loadu_si128(p as *const __m128i);
                    let low = _mm_set1_epi8(0x0f);
                    let lo = _mm_and_si128(b, low);
                    let hi = _mm_and_si128(_mm_srli_epi16(b, 4), low);
                    let f = |v: __m128i| _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v));
                    [
                        f(lo),
                        f(_mm_srli_si128(lo, 8)),
                        f(hi),
                        f(_mm_srli_si128(hi, 8)),
                    ]
                }
                1 => [u8x8(p), u8x8(p.add(8)), u8x8(p.add(16)), u8x8(p.add(24))],
                _ => [f8x8(p), f8x8(p.add(8)), f8x8(p.add(16)), f8x8(p.add(24))],
            }
        }
    }

    /// Every row of the tile through [`row`], under the same features.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn tile<const M: usize, const C: u8>(
        xs: &[&[f32]; M],
        sums: &[&[f32]; M],
        tile: &Tile<'_>,
        out: &mut [f32],
        m: usize,
        g: usize,
    ) {
        for (r, o) in out.chunks_exact_mut(m).enumerate().take(tile.rows) {
            // SAFETY: the caller checked the features; the row's slices
            // have the layout's lengths.
            o[g..g + M].copy_from_slice(&unsafe { row::<M, C>(xs, sums, &tile.row(r)) });
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn row<const M: usize, const C: u8>(
        xs: &[&[f32]; M],
        sums: &[&[f32]; M],
        row: &Row<'_>,
    ) -> [f32; M] {
        let per_group = row.group / BLOCK;
        let bytes = block_bytes::<C>();
        let base = row.codes.as_ptr();
        let mut total = [_mm256_setzero_ps(); M];
        let mut offset = [0f32; M];
        for (g, (&scale, &off)) in row.scales.iter().zip(row.offsets).enumerate() {
            let mut acc = [[_mm256_setzero_ps(); 2]; M];
            for b in 0..per_group {
                let at = g * per_group + b;
                // SAFETY: as in the AVX-512 kernel.
                unsafe {
                    _mm_prefetch::<_MM_HINT_T0>(
                        base.wrapping_add(at * bytes + PREFETCH) as *const i8
                    );
                    let w = decode::<C>(base.add(at * bytes));
                    for (a, x) in acc.iter_mut().zip(xs) {
                        let px = x.as_ptr().add(at * BLOCK);
                        a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(px), w[0], a[0]);
                        a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(px.add(8)), w[1], a[1]);
                        a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(px.add(16)), w[2], a[0]);
                        a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(px.add(24)), w[3], a[1]);
                    }
                }
            }
            let s = _mm256_set1_ps(scale);
            for i in 0..M {
                total[i] = _mm256_fmadd_ps(_mm256_add_ps(acc[i][0], acc[i][1]), s, total[i]);
                offset[i] += off * sums[i][g];
            }
        }
        std::array::from_fn(|i| {
            let v = total[i];
            let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            _mm_cvtss_f32(h) + offset[i]
        })
    }
}

/// Rows of dequantised weights per GEMM tile: about 16 MB of floats, so a
/// tile is dequantised once and then read from cache by every activation
/// row, while the whole matrix is never dequantised at once.
fn tile_rows(cols: usize) -> usize {
    ((4 << 20) / cols.max(1)).clamp(32, 4096)
}

/// `y = x Wᵀ` for many activation rows (prefill): tiles of rows are
/// dequantised (in parallel) and multiplied by a GEMM, so the cost of
/// dequantising is shared by every row of `x`.
///
/// # Errors
/// On a tensor failure.
pub fn gemm_tiles(
    x: &candle_core::Tensor,
    w: &QWeight,
) -> candle_core::Result<candle_core::Tensor> {
    use candle_core::Tensor;
    let (n, k) = (w.rows(), w.cols());
    let step = tile_rows(k);
    let mut outs = Vec::with_capacity(n.div_ceil(step));
    let mut start = 0;
    while start < n {
        let len = step.min(n - start);
        let mut tile = vec![0f32; len * k];
        tile.par_chunks_mut(k)
            .enumerate()
            .for_each(|(i, row)| w.dequantize_row_into(start + i, row));
        let tile = Tensor::from_vec(tile, (len, k), x.device())?;
        outs.push(x.matmul(&tile.t()?)?);
        start += len;
    }
    Tensor::cat(&outs, 1)
}

#[cfg(test)]
mod tests {
    use super::super::packed::{Codes, QWeight};
    use super::*;
    use proptest::prelude::*;

    fn weight(
        codes: Codes,
        rows: usize,
        cols: usize,
        group: usize,
        seed: u64,
        perm: bool,
    ) -> QWeight {
        let u = super::super::packed::random(codes, rows, cols / group, group, seed, perm);
        QWeight::pack(&u).unwrap()
    }

    fn reference(x: &[f32], m: usize, w: &QWeight) -> Vec<f64> {
        let d = w.dequantize();
        let (n, k) = (w.rows(), w.cols());
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for r in 0..n {
                y[i * n + r] = (0..k)
                    .map(|j| x[i * k + j] as f64 * d[r * k + j] as f64)
                    .sum();
            }
        }
        y
    }

    fn check(got: &[f32], want: &[f64], k: usize) {
        let scale = want.iter().fold(1.0f64, |a, b| a.max(b.abs()));
        for (g, e) in got.iter().zip(want) {
            assert!(
                (*g as f64 - e).abs() <= 1e-5 * scale * (k as f64).sqrt(),
                "{g} vs {e}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The on-the-fly kernel equals a float64 product with the
        /// dequantised matrix: every value type, row count, group size and
        /// act-order permutation.
        #[test]
        fn the_kernel_equals_the_dequantised_product(
            kind in 0usize..3, m in 1usize..12, n in 1usize..80,
            groups in 1usize..4, blocks in 1usize..5, seed: u64, perm: bool,
        ) {
            let codes = [Codes::U4, Codes::U8, Codes::F8][kind];
            let group = blocks * BLOCK;
            let w = weight(codes, n, groups * group, group, seed, perm);
            let k = w.cols();
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 7919 + seed as usize) % 1000) as f32 / 500.0 - 1.0).collect();
            check(&matvec(&x, m, &w), &reference(&x, m, &w), k);
        }
    }

    #[test]
    fn the_portable_kernel_agrees_with_the_selected_one() {
        for codes in [Codes::U4, Codes::U8, Codes::F8] {
            let w = weight(codes, 3, 256, 64, 7, false);
            let x: Vec<f32> = (0..2 * 256).map(|i| (i % 13) as f32 / 7.0 - 0.9).collect();
            let xs: [&[f32]; 2] = [&x[..256], &x[256..]];
            let sums: Vec<f32> = x.chunks_exact(64).map(|g| g.iter().sum()).collect();
            let ss: [&[f32]; 2] = [&sums[..4], &sums[4..]];
            let tile = Tile {
                codes: w.data(),
                scales: w.scales(),
                offsets: w.offsets(),
                rows: 3,
                group: 64,
            };
            let mut want = vec![0f32; 6];
            let mut got = vec![0f32; 6];
            let c = match codes {
                Codes::U4 => 0,
                Codes::U8 => 1,
                Codes::F8 => 2,
            };
            // SAFETY: selected for this CPU; the portable one needs nothing.
            unsafe {
                match c {
                    0 => portable_tile::<2, 0>(&xs, &ss, &tile, &mut want, 2, 0),
                    1 => portable_tile::<2, 1>(&xs, &ss, &tile, &mut want, 2, 0),
                    _ => portable_tile::<2, 2>(&xs, &ss, &tile, &mut want, 2, 0),
                }
                select::<2>(codes)(&xs, &ss, &tile, &mut got, 2, 0);
            }
            let close = |a: &[f32], what: &str| {
                for (p, q) in a.iter().zip(&want) {
                    assert!(
                        (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                        "{what} {codes:?}: {p} vs {q}"
                    );
                }
            };
            close(&got, "selected");
            // The AVX2 kernel too, where an AVX-512 CPU would not pick it.
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                let mut v = vec![0f32; 6];
                // SAFETY: the features were just detected.
                unsafe {
                    match c {
                        0 => avx2::tile::<2, 0>(&xs, &ss, &tile, &mut v, 2, 0),
                        1 => avx2::tile::<2, 1>(&xs, &ss, &tile, &mut v, 2, 0),
                        _ => avx2::tile::<2, 2>(&xs, &ss, &tile, &mut v, 2, 0),
                    }
                }
                close(&v, "AVX2");
            }
        }
    }

    #[test]
    fn gemm_over_tiles_equals_the_kernel() {
        let w = weight(Codes::U4, 70, 128, 32, 3, true);
        let m = 20;
        let x: Vec<f32> = (0..m * 128).map(|i| (i % 17) as f32 / 9.0 - 0.8).collect();
        let t =
            candle_core::Tensor::from_vec(x.clone(), (m, 128), &candle_core::Device::Cpu).unwrap();
        let y = gemm_tiles(&t, &w)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        check(&y, &reference(&x, m, &w), 128);
    }
}
