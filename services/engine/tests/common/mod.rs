//! Helpers the engine's integration tests share.
#![allow(dead_code)]

use candle_core::Tensor;

/// The largest absolute difference of `a` from `b` over `b`'s largest
/// magnitude: "within 1e-4 relative" in the tests' sense.
pub fn relative(a: &Tensor, b: &Tensor) -> f32 {
    let scale = b
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
        / scale
}
