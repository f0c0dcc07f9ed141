//! The Qwen3 inference engine: model, weights, YaRN, paged KV cache,
//! scheduler, sampler and devices.
//!
//! Nothing is implemented here yet: this crate is the room for issues #7
//! (model core) and #10 (serving). It must keep compiling without a GPU;
//! CUDA code will sit behind a `cuda` feature.
#![warn(missing_docs)]
