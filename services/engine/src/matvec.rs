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
//! Batches of more than [`MAX_ROWS`] rows go to GEMM, which is
//! compute-bound there and does better.

use rayon::prelude::*;

/// Most activation rows this kernel takes; above, GEMM wins.
pub const MAX_ROWS: usize = 4;

/// Weight rows one rayon task takes: large enough that scheduling costs
/// nothing beside the memory traffic (≥ 256 KB of weights per task at
/// 1,024 inputs), small enough to balance the threads.
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
    match m {
        1 => by_rows::<1>(x, w, n, k),
        2 => by_rows::<2>(x, w, n, k),
        3 => by_rows::<3>(x, w, n, k),
        _ => by_rows::<4>(x, w, n, k),
    }
}

/// Computes `[n, M]` (one weight row's results side by side), in parallel
/// over weight rows, then lays it out as `[M, n]`.
fn by_rows<const M: usize>(x: &[f32], w: &[f32], n: usize, k: usize) -> Vec<f32> {
    let xs: [&[f32]; M] = std::array::from_fn(|i| &x[i * k..(i + 1) * k]);
    let kernel = select::<M>();
    let mut t = vec![0f32; n * M];
    t.par_chunks_mut(ROWS_PER_TASK * M)
        .zip(w.par_chunks(ROWS_PER_TASK * k.max(1)))
        .for_each(|(out, rows)| {
            for (o, row) in out.chunks_exact_mut(M).zip(rows.chunks_exact(k.max(1))) {
                // SAFETY: `select` returned a kernel whose CPU features
                // were detected on this machine.
                o.copy_from_slice(&unsafe { kernel(&xs, row) });
            }
        });
    if M == 1 {
        return t;
    }
    let mut y = vec![0f32; M * n];
    for (r, vals) in t.chunks_exact(M).enumerate() {
        for (i, v) in vals.iter().enumerate() {
            y[i * n + r] = *v;
        }
    }
    y
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
        s + tail(&xs[i][blocks..], &w[blocks..])
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
        _mm_cvtss_f32(h) + tail(&xs[i][blocks..], &w[blocks..])
    })
}

/// Any CPU: `LANES` independent partial sums per row, which the compiler
/// may keep in vector registers, summed pairwise at the end.
unsafe fn dot_portable<const M: usize>(xs: &[&[f32]; M], w: &[f32]) -> [f32; M] {
    const LANES: usize = 16;
    let blocks = w.len() / LANES * LANES;
    let mut acc = [[0f32; LANES]; M];
    for (b, wb) in w[..blocks].chunks_exact(LANES).enumerate() {
        let at = b * LANES;
        for (a, x) in acc.iter_mut().zip(xs) {
            for ((s, xv), wv) in a.iter_mut().zip(&x[at..at + LANES]).zip(wb) {
                *s += xv * wv;
            }
        }
    }
    std::array::from_fn(|i| {
        let mut v = acc[i];
        let mut width = LANES;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                v[l] += v[l + width];
            }
        }
        v[0] + tail(&xs[i][blocks..], &w[blocks..])
    })
}

/// The last `len % STEP` products, one at a time.
#[inline(always)]
fn tail(x: &[f32], w: &[f32]) -> f32 {
    x.iter().zip(w).map(|(a, b)| a * b).sum()
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
        // k not a multiple of LANES (tail), n not a multiple of the task
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
