//! Paged attention from candle tensor ops: the reference path every device
//! runs.
//!
//! The pool lives where the model does (a GPU, or the CPU), in the model's
//! dtype. A step's new keys and values are scattered into their slots in
//! one `scatter_set` per layer; each sequence's keys and values are then
//! gathered by its block table (`index_select`) and go through the blocked
//! attention of [`crate::attention`]. No kernel of our own: what it needs
//! from a device is what candle already runs there, so the GPU path works
//! wherever candle's CUDA backend does, and the CPU tests run this exact
//! code against the CPU's paged kernel ([`super::paged`]).
//!
//! Why gather instead of reading in place: candle has no op that follows a
//! block table, and a gathered copy costs one read of the sequence's cache
//! per layer, which a decode step reads anyway. The hand-written kernels
//! (`engine.attention = "kernels"`) read blocks in place.
//!
//! Layout: per layer one tensor of keys and one of values, `[blocks ×
//! block_size, kv_heads × head_dim]`. A token's row is its slot, `block ×
//! block_size + offset` (vLLM's slot mapping), so a write is one scatter
//! of whole rows and a sequence's cache one gather of rows.

use super::blocks::BlockId;
use super::paged::Segment;
use crate::attention;
use candle_core::{DType, Device, Result, Tensor};

/// Keys and values of every sequence, in blocks, as device tensors.
#[derive(Debug)]
pub struct TensorKv {
    kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    blocks: usize,
    dtype: DType,
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Scores one attention block may hold (see [`crate::attention`]).
    block_elements: usize,
    /// Attention through the CUDA kernels instead of gathered copies.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    kernels: bool,
}

impl TensorKv {
    /// Bytes one block takes over `layers` layers in `dtype`.
    pub fn block_bytes(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        block_size: usize,
        dtype: DType,
    ) -> usize {
        2 * layers * kv_heads * head_dim * block_size * dtype.size_in_bytes()
    }

    /// A zeroed pool of `blocks` blocks for `layers` layers on `device`.
    ///
    /// # Errors
    /// When the device cannot allocate it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        block_size: usize,
        blocks: usize,
        device: &Device,
        dtype: DType,
        block_elements: usize,
    ) -> Result<Self> {
        let shape = (blocks * block_size, kv_heads * head_dim);
        let buffers = || {
            (0..layers)
                .map(|_| Tensor::zeros(shape, dtype, device))
                .collect::<Result<Vec<_>>>()
        };
        Ok(Self {
            kv_heads,
            head_dim,
            block_size,
            blocks,
            dtype,
            k: buffers()?,
            v: buffers()?,
            block_elements: block_elements.max(1),
            kernels: false,
        })
    }

    /// The same pool read by the CUDA kernels (`engine.attention =
    /// "kernels"`): writes stay the scatter here, attention reads the
    /// blocks in place ([`super::kernels`]). Only in `cuda` builds, on a
    /// GPU.
    #[cfg(feature = "cuda")]
    pub fn with_kernels(mut self) -> Self {
        self.kernels = true;
        self
    }

    /// Blocks in the pool.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Tokens per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The slots of positions `from..to` of the sequence whose blocks are
    /// `table`.
    fn slots(&self, table: &[BlockId], from: usize, to: usize) -> Vec<u32> {
        let bs = self.block_size;
        (from..to)
            .map(|pos| (table[pos / bs] as usize * bs + pos % bs) as u32)
            .collect()
    }

    /// Writes rows `seg.rows` of `k` and `v` (`[tokens, kv_heads,
    /// head_dim]`, the whole batch) at positions `seg.start..` of each
    /// segment's sequence: one scatter per buffer for the whole batch.
    pub(super) fn write(
        &self,
        layer: usize,
        segs: &[Segment<'_>],
        k: &Tensor,
        v: &Tensor,
    ) -> Result<()> {
        let width = self.kv_heads * self.head_dim;
        let mut slots = Vec::with_capacity(k.dim(0)?);
        let mut rows = Vec::with_capacity(segs.len());
        for seg in segs {
            let n = seg.rows.len();
            slots.extend(self.slots(seg.table, seg.start, seg.start + n));
            rows.push((seg.rows.start, n));
        }
        if slots.is_empty() {
            return Ok(());
        }
        let n = slots.len();
        let index = Tensor::from_vec(slots, (n, 1), k.device())?
            .broadcast_as((n, width))?
            .contiguous()?;
        // The segments' rows in segment order (they usually are the batch).
        let pick = |x: &Tensor| -> Result<Tensor> {
            let x = x.reshape((x.dim(0)?, width))?;
            let parts = rows
                .iter()
                .map(|&(at, n)| x.narrow(0, at, n))
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&parts, 0)?.to_dtype(self.dtype)?.contiguous()
        };
        self.k[layer].scatter_set(&index, &pick(k)?, 0)?;
        self.v[layer].scatter_set(&index, &pick(v)?, 0)?;
        Ok(())
    }

    /// The first `len` tokens of a sequence, `[kv_heads, len, head_dim]`
    /// keys and values.
    pub(super) fn gather(
        &self,
        layer: usize,
        table: &[BlockId],
        len: usize,
    ) -> Result<(Tensor, Tensor)> {
        let device = self.k[layer].device();
        let index = Tensor::from_vec(self.slots(table, 0, len), len, device)?;
        let take = |buf: &Tensor| -> Result<Tensor> {
            buf.index_select(&index, 0)?
                .reshape((len, self.kv_heads, self.head_dim))?
                .transpose(0, 1)?
                .contiguous()
        };
        Ok((take(&self.k[layer])?, take(&self.v[layer])?))
    }

    /// Attention of every segment's query rows (`q`: `[tokens, heads,
    /// head_dim]`, the whole batch) over its sequence's cached tokens up to
    /// each row; returns `[tokens, heads × head_dim]` in `q`'s dtype. The
    /// segments' keys and values must already be written.
    pub(super) fn attend(
        &self,
        layer: usize,
        segs: &[Segment<'_>],
        q: &Tensor,
        scale: f64,
    ) -> Result<Tensor> {
        #[cfg(feature = "cuda")]
        if self.kernels {
            let out = super::kernels::attend(
                segs,
                q,
                &self.k[layer],
                &self.v[layer],
                self.kv_heads,
                self.block_size,
                scale,
            )?;
            return out.to_dtype(q.dtype());
        }
        let (tokens, heads, d) = q.dims3()?;
        let mut outs = Vec::with_capacity(segs.len());
        let mut next = 0;
        for seg in segs {
            if seg.rows.start != next {
                candle_core::bail!(
                    "paged attention: segments must cover the batch in order (row {} after {next})",
                    seg.rows.start
                );
            }
            let n = seg.rows.len();
            next += n;
            let (k, v) = self.gather(layer, seg.table, seg.start + n)?;
            let qs = q
                .narrow(0, seg.rows.start, n)?
                .transpose(0, 1)?
                .contiguous()?
                .to_dtype(self.dtype)?;
            outs.push(attention::attend_blocks(
                &qs,
                &k,
                &v,
                seg.start,
                scale,
                self.block_elements,
            )?);
        }
        if next != tokens {
            candle_core::bail!("paged attention: segments cover {next} of {tokens} rows");
        }
        let out = if outs.len() == 1 {
            outs.remove(0)
        } else {
            Tensor::cat(&outs, 0)?
        };
        debug_assert_eq!(out.dims(), [tokens, heads * d]);
        out.to_dtype(q.dtype())
    }
}
