//! Matrix–vector products for decoding with dense `f32` weights on the CPU.
//!
//! Why a kernel of our own: a decode step multiplies one activation row (or
//! a handful, one per running sequence) by every weight matrix, so its
//! cost is the time to stream the weights from memory once, not FLOPs. A
//! general GEMM is built for the other case: it packs panels of both
//! operands and dispatches per call, and on the Qwen3-0.6B shape it
//! reached 44% of the copy-bandwidth ceiling where PyTorch (oneDNN) reached
//! 81% (docs/benchmarks.md). Here every weight row is read once, straight
//! from its `[out, in]` layout, and dotted with every activation row while
//! it is in cache; rows of the weight are split across rayon's pool (the
//! one candle uses), and the dot products run on AVX-512 or AVX2 + FMA
//! when the CPU has them (detected at run time, so one binary serves every
//! x86-64 machine).
//!
//! Larger batches (see [`max_rows`]) go to GEMM, which is compute-bound
//! there and does better.

use rayon::prelude::*;

/// Most activation rows this kernel takes (with AVX-512; see
/// [`max_rows`]).
pub const MAX_ROWS: usize = 16;

/// Activation rows one kernel call dots with a weight row: their partial
/// sums must fit in vector registers (2 per row; AVX-512 has 32, AVX2 16).
fn group_rows() -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 8;
    }
    4
}

/// Most rows worth sending here on this CPU; above, GEMM wins. With
/// AVX-512 the kernel keeps batches of up to 16 rows (a task's weight
/// tile stays in cache while each group of 8 rows passes over it), where
/// it matches or beats the GEMM crate's AVX2 code (serving SmolLM2-135M
/// at concurrency 16: 121 tokens/s with GEMM, 129 with this kernel).
/// Elsewhere GEMM takes over above 4 rows.
pub fn max_rows() -> usize {
    if group_rows() == 8 { MAX_ROWS } else { 4 }
}

/// Weight rows one rayon task takes: large enough that scheduling costs
/// nothing beside the memory traffic (≥ 256 KB of weights per task at
/// 1,024 inputs), small enough to balance the threads and to stay in L2
/// while several groups of rows pass over it.
const ROWS_PER_TASK: usize = 64;

/// Floats ahead of the current block that the kernel asks the cache to
/// fetch (2 KB): on a 2-core machine one sequential stream per core does
/// not keep enough loads in flight on its own (decode 5.8 → 6.5 tok/s
/// on Qwen3-0.6B in f32).
const PREFETCH: usize = 512;

/// `y = x Wᵀ` for `x` `[m, k]` and `w` `[n, k]`, both row-major; returns
/// `y` `[m, n]` row-major.
///
/// # Panics
/// When `m` is 0 or above [`MAX_ROWS`], or the slices are not `m × k` and
/// `n × k` long: callers check the shapes first.
pub fn matvec_f32(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f32> {
    assert!(
        (1..=MAX_ROWS).contains(&m),
        "matvec_f32 takes 1..={MAX_ROWS} rows, got {m}"
    );
    assert_eq!(x.len(), m * k, "x is not [m, k]");
    assert_eq!(w.len(), n * k, "w is not [n, k]");
    if k == 0 {
        return vec![0.0; m * n];
    }
    let xs: Vec<&[f32]> = x.chunks_exact(k).collect();
    let group = group_rows();
    // `[n, m]`: one weight row's results side by side.
    let mut t = vec![0f32; n * m];
    t.par_chunks_mut(ROWS_PER_TASK * m)
        .zip(w.par_chunks(ROWS_PER_TASK * k))
        .for_each(|(out, rows)| {
            let mut g = 0;
            while g < m {
                let len = (m - g).min(group);
                let xs = &xs[g..g + len];
                match len {
                    1 => tile::<1>(xs, rows, k, out, m, g),
                    2 => tile::<2>(xs, rows, k, out, m, g),
                    3 => tile::<3>(xs, rows, k, out, m, g),
                    4 => tile::<4>(xs, rows, k, out, m, g),
                    5 => tile::<5>(xs, rows, k, out, m, g),
                    6 => tile::<6>(xs, rows, k, out, m, g),
                    7 => tile::<7>(xs, rows, k, out, m, g),
                    _ => tile::<8>(xs, rows, k, out, m, g),
                }
                g += len;
            }
        });
    by_activation_row(t, m, n)
}

/// The kernels' output, `[n, m]` (one weight row's results side by side),
/// as `[m, n]`.
pub(crate) fn by_activation_row(t: Vec<f32>, m: usize, n: usize) -> Vec<f32> {
    if m == 1 {
        return t;
    }
    let mut y = vec![0f32; m * n];
    for (r, vals) in t.chunks_exact(m).enumerate() {
        for (i, v) in vals.iter().enumerate() {
            y[i * n + r] = *v;
        }
    }
    y
}

/// Dots `M` activation rows (`xs`, starting at row `g` of `m`) with every
/// weight row of a task's tile, into columns `g..g + M` of `out` (`[rows,
/// m]`).
fn tile<const M: usize>(
    xs: &[&[f32]],
    rows: &[f32],
    k: usize,
    out: &mut [f32],
    m: usize,
    g: usize,
) {
    let xs: [&[f32]; M] = std::array::from_fn(|i| xs[i]);
    let kernel = select::<M>();
    for (o, row) in out.chunks_exact_mut(m).zip(rows.chunks_exact(k)) {
        // SAFETY: `select` returned a kernel whose CPU features were
        // detected on this machine.
        o[g..g + M].copy_from_slice(&unsafe { kernel(&xs, row) });
    }
}

type Kernel<const M: usize> = unsafe fn(&[&[f32]; M], &[f32]) -> [f32; M];

/// The widest kernel this CPU runs.
fn select<const M: usize>() -> Kernel<M> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return dot_avx512::<M>;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return dot_avx2::<M>;
        }
    }
    dot_portable::<M>
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512<const M: usize>(xs: &[&[f32]; M], w: &[f32]) -> [f32; M] {
    use std::arch::x86_64::*;
    const STEP: usize = 32;
    let blocks = w.len() / STEP * STEP;
    let mut acc = [[_mm512_setzero_ps(); 2]; M];
    let mut at = 0;
    while at < blocks {
        // SAFETY: `at + STEP <= blocks <= w.len()`, and every `x` has
        // `w.len()` elements (checked by `matvec_f32`).
        unsafe {
            let ahead = w.as_ptr().wrapping_add(at + PREFETCH) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(ahead);
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64));
            let w0 = _mm512_loadu_ps(w.as_ptr().add(at));
            let w1 = _mm512_loadu_ps(w.as_ptr().add(at + 16));
            for (a, x) in acc.iter_mut().zip(xs) {
                a[0] = _mm512_fmadd_ps(_mm512_loadu_ps(x.as_ptr().add(at)), w0, a[0]);
                a[1] = _mm512_fmadd_ps(_mm512_loadu_ps(x.as_ptr().add(at + 16)), w1, a[1]);
            }
        }
        at += STEP;
    }
    std::array::from_fn(|i| {
        let s = _mm512_reduce_add_ps(_mm512_add_ps(acc[i][0], acc[i][1]));
        s + dot(&xs[i][blocks..], &w[blocks..])
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2<const M: usize>(xs: &[&[f32]; M], w: &[f32]) -> [f32; M] {
    use std::arch::x86_64::*;
    const STEP: usize = 16;
    let blocks = w.len() / STEP * STEP;
    let mut acc = [[_mm256_setzero_ps(); 2]; M];
    let mut at = 0;
    while at < blocks {
        // SAFETY: as in `dot_avx512`.
        unsafe {
            let ahead = w.as_ptr().wrapping_add(at + PREFETCH) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(ahead);
            let w0 = _mm256_loadu_ps(w.as_ptr().add(at));
            let w1 = _mm256_loadu_ps(w.as_ptr().add(at + 8));
            for (a, x) in acc.iter_mut().zip(xs) {
                a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(at)), w0, a[0]);
                a[1] = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(at + 8)), w1, a[1]);
            }
        }
        at += STEP;
    }
    std::array::from_fn(|i| {
        let v = _mm256_add_ps(acc[i][0], acc[i][1]);
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        _mm_cvtss_f32(h) + dot(&xs[i][blocks..], &w[blocks..])
    })
}

/// Any CPU: one [`dot`] per row.
unsafe fn dot_portable<const M: usize>(xs: &[&[f32]; M], w: &[f32]) -> [f32; M] {
    std::array::from_fn(|i| dot(xs[i], w))
}

/// A dot product written so the compiler vectorises it: eight independent
/// partial sums (a single running sum would pin the additions in order).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ac, ar) = a.as_chunks::<8>();
    let (bc, br) = b.as_chunks::<8>();
    for (x, y) in ac.iter().zip(bc) {
        for ((l, p), q) in lanes.iter_mut().zip(x).zip(y) {
            *l += p * q;
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], m: usize, w: &[f32], n: usize, k: usize) -> Vec<f64> {
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for r in 0..n {
                y[i * n + r] = (0..k)
                    .map(|j| x[i * k + j] as f64 * w[r * k + j] as f64)
                    .sum();
            }
        }
        y
    }

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn equals_a_float64_reference_for_every_row_count_and_odd_sizes() {
        // k not a multiple of a kernel step (tail), n not a multiple of the task
        // size, and k = 1.
        for (n, k) in [(1, 1), (7, 3), (130, 100), (257, 1024), (65, 33)] {
            for m in 1..=MAX_ROWS {
                let x = values(m * k, 1 + m as u64);
                let w = values(n * k, 99 + n as u64);
                let got = matvec_f32(&x, m, &w, n, k);
                let want = reference(&x, m, &w, n, k);
                assert_eq!(got.len(), m * n);
                for (g, e) in got.iter().zip(&want) {
                    let tol = 1e-5 * (k as f64).sqrt().max(1.0);
                    assert!(
                        (*g as f64 - e).abs() <= tol,
                        "m={m} n={n} k={k}: {g} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_portable_kernel_agrees_with_the_selected_one() {
        let (n, k) = (40, 300);
        let x = values(2 * k, 5);
        let w = values(n * k, 6);
        let xs: [&[f32]; 2] = [&x[..k], &x[k..]];
        let kernel = select::<2>();
        for row in w.chunks_exact(k) {
            // SAFETY: selected for this CPU; the portable one needs nothing.
            let (a, b) = unsafe { (kernel(&xs, row), dot_portable::<2>(&xs, row)) };
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() <= 1e-5, "{p} vs {q}");
            }
        }
    }
}
