//! The CUDA attention kernels (`kernels/paged_attention.cu`, compiled to
//! PTX by build.rs under `cuda`), selected by `engine.attention =
//! "kernels"`: attention read in place from the reference path's pool
//! ([`super::reference::TensorKv`]), with no gathered copy. One-row
//! segments (decode steps) go to `paged_decode`, longer ones to
//! `paged_prefill` in tiles of 16 rows; keys and values are written by the
//! reference path's scatter before either runs.
//!
//! The default stays the reference path until the device script
//! (`scripts/gpu-check.sh`) has checked these against it on a GPU.

use super::paged::Segment;
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaSlice, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDevice, CudaStorage, WrapErr};
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/paged_attention.ptx"));
/// Rows per prefill tile (`TILE` in the kernel).
const TILE: usize = 16;
/// Largest head dimension the kernels hold (`MAX_D`).
const MAX_D: usize = 256;

/// What the kernels need besides the tensors: the batch's block tables and
/// where each row or tile lies.
struct Paged {
    heads: usize,
    kv_heads: usize,
    d: usize,
    block_size: usize,
    max_blocks: usize,
    scale: f32,
    /// `[seqs × max_blocks]`, padded with 0.
    tables: Vec<i32>,
    /// Decode rows: (row, sequence, position).
    decode: Vec<(i32, i32, i32)>,
    /// Prefill tiles: (sequence, first row, rows, first position).
    tiles: Vec<(i32, i32, i32, i32)>,
}

impl Paged {
    fn new(
        segs: &[Segment<'_>],
        heads: usize,
        kv_heads: usize,
        d: usize,
        block_size: usize,
        scale: f64,
    ) -> Self {
        let max_blocks = segs.iter().map(|s| s.table.len()).max().unwrap_or(1).max(1);
        let mut tables = vec![0i32; segs.len() * max_blocks];
        let mut decode = Vec::new();
        let mut tiles = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            for (b, &block) in seg.table.iter().enumerate() {
                tables[i * max_blocks + b] = block as i32;
            }
            let n = seg.rows.len();
            if n == 1 {
                decode.push((seg.rows.start as i32, i as i32, seg.start as i32));
                continue;
            }
            for r0 in (0..n).step_by(TILE) {
                let rows = TILE.min(n - r0);
                tiles.push((
                    i as i32,
                    (seg.rows.start + r0) as i32,
                    rows as i32,
                    (seg.start + r0) as i32,
                ));
            }
        }
        Self {
            heads,
            kv_heads,
            d,
            block_size,
            max_blocks,
            scale: scale as f32,
            tables,
            decode,
            tiles,
        }
    }

    fn launch<T: DeviceRepr + ValidAsZeroBits + candle_core::cuda_backend::CudaDType>(
        &self,
        suffix: &str,
        dev: &CudaDevice,
        (q, ql): (&CudaStorage, &Layout),
        (k, kl): (&CudaStorage, &Layout),
        (v, vl): (&CudaStorage, &Layout),
    ) -> Result<CudaStorage> {
        let rows = ql.shape().dims()[0];
        let q = q.as_cuda_slice::<T>()?.slice(ql.start_offset()..);
        let k = k.as_cuda_slice::<T>()?.slice(kl.start_offset()..);
        let v = v.as_cuda_slice::<T>()?.slice(vl.start_offset()..);
        let out = dev.alloc_zeros::<T>(rows * self.heads * self.d)?;
        let tables = dev.clone_htod(&self.tables)?;
        let (h, kvh, d, bs, mb) = (
            self.heads as i32,
            self.kv_heads as i32,
            self.d as i32,
            self.block_size as i32,
            self.max_blocks as i32,
        );
        // Both kernels take (q, k, v, tables, <their int32 arrays>, out,
        // heads, kv_heads, d, block_size, max_blocks, scale), one block of
        // 128 threads per (grid row, head).
        let launch = |kernel: &str, grid: usize, arrays: &[&CudaSlice<i32>]| -> Result<()> {
            let f = dev.get_or_load_custom_func(
                &format!("{kernel}_{suffix}"),
                "zhishu_paged_attention",
                PTX,
            )?;
            let mut b = f.builder();
            b.arg(&q);
            b.arg(&k);
            b.arg(&v);
            b.arg(&tables);
            for a in arrays {
                b.arg(*a);
            }
            b.arg(&out);
            for n in [&h, &kvh, &d, &bs, &mb] {
                b.arg(n);
            }
            b.arg(&self.scale);
            let cfg = LaunchConfig {
                grid_dim: (grid as u32, self.heads as u32, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: the arguments match the kernel's signature; every
            // index the kernel forms is within the tensors (rows, block
            // tables covering each row's position, checked by the caller).
            unsafe { b.launch(cfg) }.w()?;
            Ok(())
        };
        if !self.decode.is_empty() {
            // Grid row x computes q's row index[x], of sequence row_seq[x]
            // at position row_pos[x].
            let col = |f: fn(&(i32, i32, i32)) -> i32| -> Vec<i32> {
                self.decode.iter().map(f).collect()
            };
            let row_seq = dev.clone_htod(&col(|r| r.1))?;
            let row_pos = dev.clone_htod(&col(|r| r.2))?;
            let index = dev.clone_htod(&col(|r| r.0))?;
            launch(
                "paged_decode",
                self.decode.len(),
                &[&row_seq, &row_pos, &index],
            )?;
        }
        if !self.tiles.is_empty() {
            let col = |f: fn(&(i32, i32, i32, i32)) -> i32| -> Vec<i32> {
                self.tiles.iter().map(f).collect()
            };
            let seq = dev.clone_htod(&col(|t| t.0))?;
            let row0 = dev.clone_htod(&col(|t| t.1))?;
            let nrows = dev.clone_htod(&col(|t| t.2))?;
            let pos0 = dev.clone_htod(&col(|t| t.3))?;
            launch(
                "paged_prefill",
                self.tiles.len(),
                &[&seq, &row0, &nrows, &pos0],
            )?;
        }
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    }
}

impl CustomOp3 for Paged {
    fn name(&self) -> &'static str {
        "zhishu-paged-attention"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!("the CUDA attention kernels run on GPUs; the CPU has its own")
    }

    fn cuda_fwd(
        &self,
        q: &CudaStorage,
        ql: &Layout,
        k: &CudaStorage,
        kl: &Layout,
        v: &CudaStorage,
        vl: &Layout,
    ) -> Result<(CudaStorage, Shape)> {
        let dev = q.device().clone();
        let rows = ql.shape().dims()[0];
        let out = match q.dtype() {
            DType::F32 => self.launch::<f32>("f32", &dev, (q, ql), (k, kl), (v, vl))?,
            DType::BF16 => self.launch::<half::bf16>("bf16", &dev, (q, ql), (k, kl), (v, vl))?,
            DType::F16 => self.launch::<half::f16>("f16", &dev, (q, ql), (k, kl), (v, vl))?,
            other => {
                candle_core::bail!("the attention kernels take f32, bf16 or f16, not {other:?}")
            }
        };
        Ok((out, Shape::from((rows, self.heads * self.d))))
    }
}

/// Attention of every segment's rows (`q` `[tokens, heads, d]`) over the
/// pool buffers `k` and `v` (`[slots, kv_heads × d]`, keys and values
/// already written); `[tokens, heads × d]`.
///
/// # Errors
/// A head dimension above 256, tensors not on a GPU, or a launch failure.
#[allow(clippy::too_many_arguments)]
pub(super) fn attend(
    segs: &[Segment<'_>],
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    kv_heads: usize,
    block_size: usize,
    scale: f64,
) -> Result<Tensor> {
    let (_, heads, d) = q.dims3()?;
    if d > MAX_D || d == 0 || heads % kv_heads != 0 {
        candle_core::bail!(
            "the attention kernels take head_dim up to {MAX_D} and whole GQA groups, not {d} / {heads} over {kv_heads}"
        );
    }
    let op = Paged::new(segs, heads, kv_heads, d, block_size, scale);
    let q = q.to_dtype(k.dtype())?.contiguous()?;
    q.apply_op3_no_bwd(k, v, &op)
}
