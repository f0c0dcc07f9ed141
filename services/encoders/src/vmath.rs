//! The encoder's element-wise steps over whole rows, eight lanes at a time
//! where the CPU has AVX2 and FMA.
//!
//! Why by hand: Rust's `f32::exp` is a call into libm per element, and a
//! floating-point sum or maximum is never vectorised by the compiler (it
//! may not reorder the additions). On 300–500-token chunks an encoder
//! layer computes `heads × tokens²` attention weights, each one `exp`:
//! 23 million per chunk for multilingual-e5-small, on the order of the
//! matrix products' own time. Here `exp` is the Cephes single-precision
//! polynomial (relative error about 1e-7, tested against `f64::exp` below)
//! evaluated on eight lanes with fused multiply-adds, and the reductions
//! keep eight partial sums.
//!
//! Every function takes the same path on every call for a given CPU, so a
//! text embeds to the same vector every time; a CPU without AVX2 and FMA
//! runs the scalar code (libm's `exp`, sequential sums).

/// `row` ← softmax(`row`), in place: `exp(v − max) / Σ`.
pub(crate) fn softmax(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA were detected on this CPU.
        unsafe { x86::softmax(row) };
        return;
    }
    softmax_scalar(row);
}

/// [`softmax`] one element at a time.
fn softmax_scalar(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// The exact (erf-based) GELU in place: `v · (1 + erf(v / √2)) / 2`, erf
/// by Abramowitz and Stegun's 7.1.26 ([`erf`]).
pub(crate) fn gelu(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: AVX2 and FMA were detected on this CPU.
        unsafe { x86::gelu(x) };
        return;
    }
    gelu_scalar(x);
}

/// [`gelu`] one element at a time.
fn gelu_scalar(x: &mut [f32]) {
    x.iter_mut()
        .for_each(|v| *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2)));
}

/// Layer normalisation of one row in place: `(v − mean) / √(var + eps) ·
/// weight + bias`, the mean and variance over the row.
pub(crate) fn layer_norm(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let var = sum_sq_dev(row, mean) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
        *v = (*v - mean) * inv * w + b;
    }
}

/// Σ `v` with eight partial sums (vectorised by the compiler: eight
/// independent accumulators need no reordering).
fn sum(row: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Σ (`v` − `mean`)², as [`sum`].
fn sum_sq_dev(row: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = row.chunks_exact(8);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += (v - mean) * (v - mean);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The error function, by Abramowitz and Stegun's 7.1.26 (absolute error
/// 1.5e-7; under 1e-6 computed in f32, tested against libm below).
/// `libm::erff` is exact to the last bit but branchy and scalar; this is
/// straight-line code around one `exp`.
pub(crate) fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + ERF_P * a);
    let poly = ((((ERF_A[4] * t + ERF_A[3]) * t + ERF_A[2]) * t + ERF_A[1]) * t + ERF_A[0]) * t;
    (1.0 - poly * (-a * a).exp()).copysign(x)
}

/// Abramowitz and Stegun 7.1.26: `p`, and `a1..a5`.
const ERF_P: f32 = 0.327_591_1;
const ERF_A: [f32; 5] = [
    0.254_829_6,
    -0.284_496_74,
    1.421_413_7,
    -1.453_152_1,
    1.061_405_4,
];

/// Whether this CPU runs the eight-lane paths (detected once; the
/// standard library caches the answer).
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ERF_A, ERF_P};
    use std::arch::x86_64::*;

    /// `e^x` on eight lanes: `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`,
    /// `e^r` by Cephes' `expf` polynomial, `2^n` built in the exponent
    /// bits as `2^⌊n/2⌋ · 2^(n−⌊n/2⌋)`, so that the subnormal results (down
    /// to `e^−103`) and those up to `f32::MAX` come out as `exp` rounds
    /// them; below −104 the result is 0, above `ln f32::MAX` infinity.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp8(x: __m256) -> __m256 {
        let lo = _mm256_set1_ps(-104.0);
        let xc = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(89.0));
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(xc, _mm256_set1_ps(std::f32::consts::LOG2_E)),
        );
        // ln 2 in two parts, so n·ln2_hi is exact.
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), xc);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
        let mut p = _mm256_set1_ps(1.987_569_1e-4);
        for c in [
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            0.166_666_65,
            0.5,
        ] {
            p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
        }
        let r2 = _mm256_mul_ps(r, r);
        let p = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
        let n = _mm256_cvtps_epi32(n);
        let half = _mm256_srai_epi32::<1>(n);
        let pow = |k: __m256i| {
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                k,
                _mm256_set1_epi32(127),
            )))
        };
        let e = _mm256_mul_ps(_mm256_mul_ps(p, pow(half)), pow(_mm256_sub_epi32(n, half)));
        // Below the range 0 (`max` turned −∞ into −104); NaN stays NaN
        // (`max(NaN, lo)` is lo, so it is put back).
        let under = _mm256_cmp_ps::<_CMP_LT_OQ>(x, lo);
        let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
        _mm256_blendv_ps(_mm256_andnot_ps(under, e), x, nan)
    }

    /// Horizontal sum of eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    /// Horizontal maximum of eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hmax(v: __m256) -> f32 {
        let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_max_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    /// Eight lanes of `row` from `i`, the lanes past its end filled with
    /// `fill`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load_tail(row: &[f32], i: usize, fill: f32) -> __m256 {
        let mut lanes = [fill; 8];
        lanes[..row.len() - i].copy_from_slice(&row[i..]);
        // SAFETY: `lanes` holds eight floats.
        unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
    }

    /// Stores the first `row.len() − i` lanes of `v` at `row[i..]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn store_tail(row: &mut [f32], i: usize, v: __m256) {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        let n = row.len() - i;
        row[i..].copy_from_slice(&lanes[..n]);
    }

    /// See [`super::softmax`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn softmax(row: &mut [f32]) {
        let full = row.len() / 8 * 8;
        let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ row.len().
            m = _mm256_max_ps(m, unsafe { _mm256_loadu_ps(row.as_ptr().add(i)) });
        }
        if full < row.len() {
            m = _mm256_max_ps(m, load_tail(row, full, f32::NEG_INFINITY));
        }
        let max = _mm256_set1_ps(hmax(m));
        let mut s = _mm256_setzero_ps();
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ row.len().
            unsafe {
                let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row.as_ptr().add(i)), max));
                _mm256_storeu_ps(row.as_mut_ptr().add(i), e);
                s = _mm256_add_ps(s, e);
            }
        }
        if full < row.len() {
            // Lanes past the end: exp(−∞) = 0, adding nothing to the sum.
            let e = exp8(_mm256_sub_ps(load_tail(row, full, f32::NEG_INFINITY), max));
            store_tail(row, full, e);
            s = _mm256_add_ps(s, e);
        }
        let inv = 1.0 / hsum(s);
        let inv8 = _mm256_set1_ps(inv);
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ row.len().
            unsafe {
                let p = row.as_mut_ptr().add(i);
                _mm256_storeu_ps(p, _mm256_mul_ps(_mm256_loadu_ps(p), inv8));
            }
        }
        for v in &mut row[full..] {
            *v *= inv;
        }
    }

    /// GELU of eight lanes (see [`super::gelu`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn gelu8(v: __m256) -> __m256 {
        let x = _mm256_mul_ps(v, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let sign = _mm256_and_ps(x, _mm256_set1_ps(-0.0));
        let a = _mm256_andnot_ps(_mm256_set1_ps(-0.0), x);
        let one = _mm256_set1_ps(1.0);
        let t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(ERF_P), a, one));
        let mut poly = _mm256_set1_ps(ERF_A[4]);
        for c in [ERF_A[3], ERF_A[2], ERF_A[1], ERF_A[0]] {
            poly = _mm256_fmadd_ps(poly, t, _mm256_set1_ps(c));
        }
        let poly = _mm256_mul_ps(poly, t);
        let e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(a, a)));
        let erf = _mm256_or_ps(_mm256_fnmadd_ps(poly, e, one), sign);
        _mm256_mul_ps(
            _mm256_mul_ps(_mm256_set1_ps(0.5), v),
            _mm256_add_ps(one, erf),
        )
    }

    /// See [`super::gelu`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn gelu(x: &mut [f32]) {
        let full = x.len() / 8 * 8;
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 ≤ x.len().
            unsafe {
                let p = x.as_mut_ptr().add(i);
                _mm256_storeu_ps(p, gelu8(_mm256_loadu_ps(p)));
            }
        }
        if full < x.len() {
            let v = gelu8(load_tail(x, full, 0.0));
            store_tail(x, full, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn erf_matches_libm_to_f32_resolution() {
        for i in -4000..=4000 {
            let x = i as f32 / 1000.0;
            let (got, want) = (erf(x), libm::erf(f64::from(x)));
            assert!(
                (f64::from(got) - want).abs() < 1e-6,
                "erf({x}) = {got}, want {want}"
            );
        }
    }

    /// `exp8` on eight values.
    #[cfg(target_arch = "x86_64")]
    fn exp8(xs: [f32; 8]) -> [f32; 8] {
        use std::arch::x86_64::*;
        let mut out = [0.0f32; 8];
        // SAFETY: callers checked AVX2 and FMA; both arrays hold 8.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), x86::exp8(_mm256_loadu_ps(xs.as_ptr()))) };
        out
    }

    /// The eight-lane `exp` against f64's: relative error under 2e-7
    /// where the result is a normal float, within the smallest subnormal
    /// (2^−149) below, and the edges of the range.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn exp8_is_exp_to_a_few_ulps() {
        if !avx2() {
            return;
        }
        let tiny = f64::from(f32::from_bits(1));
        let xs: Vec<f32> = (-104_000..=88_720).map(|i| i as f32 / 1000.0).collect();
        for chunk in xs.chunks(8) {
            let mut lanes = [0.0f32; 8];
            lanes[..chunk.len()].copy_from_slice(chunk);
            for (x, got) in chunk.iter().zip(exp8(lanes)) {
                let want = f64::from(*x).exp();
                let err = (f64::from(got) - want).abs();
                if want >= f64::from(f32::MIN_POSITIVE) {
                    assert!(err / want < 2e-7, "exp({x}) = {got}, want {want}");
                } else {
                    assert!(err <= tiny, "exp({x}) = {got:e}, want {want:e}");
                }
            }
        }
        let edge = [
            -104.0,
            -103.9,
            88.8,
            1000.0,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
            0.0,
        ];
        let out = exp8(edge);
        assert_eq!(&out[..2], &[0.0, f32::from_bits(1)]);
        assert_eq!(&out[2..4], &[f32::INFINITY, f32::INFINITY]);
        assert_eq!(&out[4..6], &[0.0, f32::INFINITY]);
        assert!(out[6].is_nan());
        assert_eq!(out[7], 1.0);
        assert!(exp8([-1000.0; 8]).iter().all(|v| *v == 0.0));
    }

    /// A row function, however it runs.
    type RowFn = Box<dyn Fn(&mut [f32])>;

    /// Both ways a row function runs: the scalar code, and the eight-lane
    /// code where this CPU has it.
    fn variants(
        scalar: fn(&mut [f32]),
        #[allow(unused_variables)] lanes: unsafe fn(&mut [f32]),
    ) -> Vec<RowFn> {
        let mut all: Vec<RowFn> = vec![Box::new(scalar)];
        #[cfg(target_arch = "x86_64")]
        if avx2() {
            // SAFETY: AVX2 and FMA were detected on this CPU.
            all.push(Box::new(move |x| unsafe { lanes(x) }));
        }
        all
    }

    #[cfg(target_arch = "x86_64")]
    fn lanes_softmax() -> unsafe fn(&mut [f32]) {
        x86::softmax
    }
    #[cfg(target_arch = "x86_64")]
    fn lanes_gelu() -> unsafe fn(&mut [f32]) {
        x86::gelu
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn lanes_softmax() -> unsafe fn(&mut [f32]) {
        softmax_scalar
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn lanes_gelu() -> unsafe fn(&mut [f32]) {
        gelu_scalar
    }

    /// Softmax in f64, from the same f32 differences to the maximum.
    fn softmax_f64(row: &[f32]) -> Vec<f64> {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = row.iter().map(|v| f64::from(v - max).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    proptest! {
        /// Softmax at any length (every tail of 0–7 lanes) and spread of
        /// scores: each weight within 1e-5 of f64's, relative (down to
        /// weights of 1e-38, where the floats run out), and the weights
        /// sum to 1.
        #[test]
        fn softmax_matches_f64(row in prop::collection::vec(-60.0f32..60.0, 1..70)) {
            let want = softmax_f64(&row);
            for run in variants(softmax_scalar, lanes_softmax()) {
                let mut got = row.clone();
                run(&mut got);
                for (g, w) in got.iter().zip(&want) {
                    prop_assert!((f64::from(*g) - w).abs() <= 1e-5 * w + 1e-44, "{g:e} vs {w:e}");
                }
                let total: f64 = got.iter().map(|v| f64::from(*v)).sum();
                prop_assert!((total - 1.0).abs() < 1e-5);
            }
        }

        /// GELU at any length within 5e-7 (relative to max(1, |v|)) of the
        /// exact erf-based GELU.
        #[test]
        fn gelu_matches_libm(row in prop::collection::vec(-12.0f32..12.0, 0..70)) {
            for run in variants(gelu_scalar, lanes_gelu()) {
                let mut got = row.clone();
                run(&mut got);
                for (v, g) in row.iter().zip(&got) {
                    let v = f64::from(*v);
                    let want = 0.5 * v * (1.0 + libm::erf(v / std::f64::consts::SQRT_2));
                    prop_assert!((f64::from(*g) - want).abs() < 5e-7 * v.abs().max(1.0), "gelu({v}) = {g}, want {want}");
                }
            }
        }

        /// Layer norm within 1e-5 of f64's (relative to max(1, |y|)).
        #[test]
        fn layer_norm_matches_f64(row in prop::collection::vec(-50.0f32..50.0, 2..70)) {
            let n = row.len();
            let weight: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 / n as f32).collect();
            let bias: Vec<f32> = (0..n).map(|i| i as f32 / 10.0 - 1.0).collect();
            let mean = row.iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n as f64;
            let mut got = row.clone();
            layer_norm(&mut got, &weight, &bias, 1e-5);
            for i in 0..n {
                let want = (f64::from(row[i]) - mean) / (var + 1e-5).sqrt() * f64::from(weight[i]) + f64::from(bias[i]);
                prop_assert!((f64::from(got[i]) - want).abs() < 1e-5 * want.abs().max(1.0), "{} vs {want}", got[i]);
            }
        }
    }
}
