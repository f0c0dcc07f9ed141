//! Where the KV cache lives and how big it is: one store per part of the
//! model (a pipeline stage, a tensor-parallel shard), on that part's
//! device, all with the same number of blocks so that one block manager
//! and one block table per sequence serve every device.
//!
//! Why one block count for all: a sequence's block `b` is block `b` on
//! every device (each holds its layers or its heads of it), as in vLLM's
//! workers; the pool is as large as the tightest device allows.

use super::paged::{KvPools, KvStore, PagedKv};
use super::reference::TensorKv;
use crate::EngineError;
use crate::devices;
use crate::model::Model;
use crate::parallel::Parts;
use candle_core::DType;

/// How attention reads the paged KV cache (`engine.attention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionPath {
    /// The CPU's paged kernel on the CPU, the reference path (candle ops)
    /// on GPUs.
    #[default]
    Auto,
    /// The reference path everywhere (on the CPU too: the code GPUs run,
    /// for checking).
    Reference,
    /// Hand-written kernels: the CPU's paged kernel on the CPU; the CUDA
    /// paged-attention kernels on GPUs (not the default until the device
    /// script has checked them against the reference path).
    Kernels,
}

/// What one device holds for the serving engine (for `/readyz` and
/// `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceUse {
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Bytes of model weights on it.
    pub weight_bytes: u64,
    /// Bytes of KV cache on it.
    pub kv_bytes: u64,
}

/// The pools (one [`KvPools`] per tensor-parallel rank), the blocks each
/// holds, and what every device holds.
pub(super) struct Plan {
    pub pools: Vec<KvPools>,
    pub blocks: usize,
    pub devices: Vec<DeviceUse>,
}

/// Whether `model`'s store holds host `f32` buffers for the CPU kernel.
fn host(model: &Model, path: AttentionPath) -> bool {
    model.device().is_cpu() && path != AttentionPath::Reference
}

/// Bytes one block takes in `model`'s store.
fn block_bytes(model: &Model, block_size: usize, path: AttentionPath) -> usize {
    let (layers, kv, d) = (
        model.placement().layers.len(),
        model.kv_heads(),
        model.config().head_dim,
    );
    let dtype = if host(model, path) {
        DType::F32
    } else {
        model.dtype()
    };
    TensorKv::block_bytes(layers, kv, d, block_size, dtype)
}

/// Sizes and allocates the KV stores of `parts`: each device gets
/// `bytes` of KV cache, or `fraction` of the memory it has free now (after
/// the weights), shared by the parts it holds (as many blocks as their
/// stores together allow).
///
/// # Errors
/// [`EngineError::Device`] when a device's budget holds no block, or a
/// device cannot allocate its store.
pub(super) fn plan(
    parts: &Parts,
    block_size: usize,
    bytes: usize,
    fraction: Option<f64>,
    path: AttentionPath,
) -> Result<Plan, EngineError> {
    let all = parts.all();
    let label = |m: &Model| devices::label(m.device());
    if path == AttentionPath::Kernels
        && let Some(m) = all.iter().find(|m| !m.device().is_cpu())
    {
        let d = m.config().head_dim;
        if d > 256 || d == 0 {
            return Err(EngineError::Device {
                device: label(m),
                message: format!(
                    "engine.attention = \"kernels\" takes head_dim up to 256, not {d}; use \"auto\""
                ),
            });
        }
    }
    // Per device: its budget over the bytes one block takes in every part
    // it holds (parts on one host share its memory).
    let mut per_device: Vec<(String, usize, usize)> = Vec::new();
    for m in all {
        let per_block = block_bytes(m, block_size, path);
        match per_device.iter_mut().find(|(d, _, _)| *d == label(m)) {
            Some(entry) => entry.2 += per_block,
            None => {
                let budget = match fraction
                    .and_then(|f| devices::free_memory(m.device()).map(|free| (f, free)))
                {
                    Some((f, free)) => (free as f64 * f) as usize,
                    None => bytes,
                };
                per_device.push((label(m), budget, per_block));
            }
        }
    }
    let mut blocks = usize::MAX;
    for (device, budget, per_block) in &per_device {
        let fit = budget / per_block;
        if fit == 0 {
            return Err(EngineError::Device {
                device: device.clone(),
                message: format!(
                    "its KV cache budget of {budget} bytes holds no KV block: one block of {block_size} tokens takes {per_block} bytes for this model; raise engine.kv_cache_bytes or engine.kv_cache_fraction"
                ),
            });
        }
        blocks = blocks.min(fit);
    }
    let mut pools = Vec::with_capacity(parts.ranks());
    for rank in 0..parts.ranks() {
        let mut stores = Vec::new();
        for m in parts.of_rank(rank) {
            let layers = m.placement().layers.clone();
            let (n, kv, d) = (layers.len(), m.kv_heads(), m.config().head_dim);
            let store = if host(m, path) {
                KvStore::Host(PagedKv::new(n, kv, d, block_size, blocks))
            } else {
                let store = TensorKv::new(
                    n,
                    kv,
                    d,
                    block_size,
                    blocks,
                    m.device(),
                    m.dtype(),
                    m.attention_block_elements,
                )
                .map_err(|e| EngineError::Device {
                    device: label(m),
                    message: format!("cannot allocate its KV cache of {blocks} blocks: {e}"),
                })?;
                #[cfg(feature = "cuda")]
                let store = if path == AttentionPath::Kernels {
                    store.with_kernels()
                } else {
                    store
                };
                KvStore::Tensors(store)
            };
            stores.push((layers, store));
        }
        pools.push(KvPools::new(stores));
    }
    let mut used: Vec<DeviceUse> = Vec::new();
    for m in all {
        let (w, kv) = (
            m.weight_bytes() as u64,
            (blocks * block_bytes(m, block_size, path)) as u64,
        );
        match used.iter_mut().find(|u| u.device == label(m)) {
            Some(u) => {
                u.weight_bytes += w;
                u.kv_bytes += kv;
            }
            None => used.push(DeviceUse {
                device: label(m),
                weight_bytes: w,
                kv_bytes: kv,
            }),
        }
    }
    Ok(Plan {
        pools,
        blocks,
        devices: used,
    })
}
