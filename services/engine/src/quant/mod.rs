//! Quantised safetensors checkpoints: AWQ, GPTQ, FP8 and
//! compressed-tensors.
//!
//! [`scheme`] reads `quantization_config` and refuses what the engine
//! cannot read exactly; [`formats`] turns each publisher's tensors into one
//! interchange form; [`packed`] holds them in the engine's own layout
//! ([`QWeight`]), which splits for tensor parallelism along whole groups;
//! [`kernel`] multiplies with it on the CPU, dequantising on the fly.
//! Activations stay in floating point (weight-only quantisation, as vLLM
//! runs AWQ/GPTQ, and W8A16 for FP8).

pub mod formats;
pub mod kernel;
pub mod packed;
pub mod scheme;

pub use packed::{Codes, QWeight, Unpacked};
pub use scheme::{Quantization, Scheme};

use candle_core::{DType, Tensor};

/// `x Wᵀ` for `x` `[m, cols]` on the CPU, in `x`'s dtype (computed in
/// f32): the on-the-fly kernel for decode-sized batches, GEMM over
/// dequantised tiles above.
///
/// # Errors
/// When `x` is not on the CPU or not `[m, cols]`, or on a tensor failure.
pub fn forward(w: &QWeight, x: &Tensor) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        return Err(candle_core::Error::Msg(
            "quantised weights are multiplied on the CPU; on a GPU they are dequantised at load"
                .into(),
        ));
    }
    let (m, k) = x.dims2()?;
    if k != w.cols() {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: x.shape().clone(),
            rhs: (w.rows(), w.cols()).into(),
            op: "quantised matmul",
        });
    }
    let dtype = x.dtype();
    let xf = x.to_dtype(DType::F32)?;
    let y = if m <= crate::matvec::max_rows() {
        let xs = xf.flatten_all()?.to_vec1::<f32>()?;
        Tensor::from_vec(kernel::matvec(&xs, m, w), (m, w.rows()), x.device())?
    } else {
        kernel::gemm_tiles(&xf.contiguous()?, w)?
    };
    y.to_dtype(dtype)
}
