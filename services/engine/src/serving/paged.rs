//! The paged KV pool and attention computed straight from its blocks.
//!
//! Layout: one buffer per layer for keys and one for values, each
//! `[blocks, kv_heads, block_size, head_dim]`, so the keys of one head in
//! one block are a contiguous `block_size × head_dim` run: the kernel
//! streams a block at a time with no gather into a contiguous copy.
//!
//! The kernel is flash-attention's online softmax on the CPU: for a tile
//! of query rows and the query heads that share one key/value head, it
//! walks the sequence's block table once, scores a block of keys, rescales
//! the running sums by the new maximum and adds the block's weighted
//! values. Memory is the tile's accumulators, whatever the context; keys
//! are read once per tile instead of once per query row and head; causality
//! is a bound on the key index, never a mask tensor. Tiles run in parallel
//! on rayon's pool (the one candle's matrix products use).

use super::blocks::BlockId;
use crate::cache::KvCache;
use candle_core::{DType, Result, Tensor};
use rayon::prelude::*;
use std::sync::Mutex;

/// Query rows per tile in a prefill: keys are read once per tile.
const TILE_ROWS: usize = 8;

/// Keys and values of every sequence, in blocks.
#[derive(Debug)]
pub struct PagedKv {
    kv_heads: usize,
    head_dim: usize,
    block_size: usize,
    blocks: usize,
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl PagedKv {
    /// Bytes one block takes over all layers (keys and values, f32).
    pub fn block_bytes(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        block_size: usize,
    ) -> usize {
        2 * layers * kv_heads * head_dim * block_size * std::mem::size_of::<f32>()
    }

    /// A pool of `blocks` blocks. The buffers are zeroed by the allocator,
    /// so the operating system commits pages only as blocks are written.
    pub fn new(
        layers: usize,
        kv_heads: usize,
        head_dim: usize,
        block_size: usize,
        blocks: usize,
    ) -> Self {
        let per_layer = blocks * kv_heads * block_size * head_dim;
        Self {
            kv_heads,
            head_dim,
            block_size,
            blocks,
            k: (0..layers).map(|_| vec![0.0; per_layer]).collect(),
            v: (0..layers).map(|_| vec![0.0; per_layer]).collect(),
        }
    }

    /// Blocks in the pool.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// Offset of `(block, head, slot)` in a layer buffer.
    fn at(&self, block: BlockId, head: usize, slot: usize) -> usize {
        ((block as usize * self.kv_heads + head) * self.block_size + slot) * self.head_dim
    }

    /// Writes `n` tokens' keys and values (`[kv_heads, n, head_dim]`,
    /// row-major) at positions `start..start + n` of the sequence whose
    /// blocks are `table`.
    fn write(&mut self, layer: usize, table: &[BlockId], start: usize, k: &[f32], v: &[f32]) {
        let d = self.head_dim;
        let n = k.len() / (self.kv_heads * d);
        for h in 0..self.kv_heads {
            for i in 0..n {
                let pos = start + i;
                let dst = self.at(table[pos / self.block_size], h, pos % self.block_size);
                let src = (h * n + i) * d;
                self.k[layer][dst..dst + d].copy_from_slice(&k[src..src + d]);
                self.v[layer][dst..dst + d].copy_from_slice(&v[src..src + d]);
            }
        }
    }

    /// The first `len` tokens of a sequence as contiguous
    /// `[kv_heads, len, head_dim]` keys and values.
    fn gather(&self, layer: usize, table: &[BlockId], len: usize) -> (Vec<f32>, Vec<f32>) {
        let d = self.head_dim;
        let mut k = Vec::with_capacity(self.kv_heads * len * d);
        let mut v = Vec::with_capacity(self.kv_heads * len * d);
        for h in 0..self.kv_heads {
            for pos in 0..len {
                let at = self.at(table[pos / self.block_size], h, pos % self.block_size);
                k.extend_from_slice(&self.k[layer][at..at + d]);
                v.extend_from_slice(&self.v[layer][at..at + d]);
            }
        }
        (k, v)
    }

    /// Attention of `t` new query rows at cache positions `start..start +
    /// t` (`q`: `[heads, t, head_dim]`) over the sequence's first
    /// `start + t` tokens; returns `[t, heads × head_dim]`.
    fn attend(
        &self,
        layer: usize,
        table: &[BlockId],
        q: &[f32],
        heads: usize,
        start: usize,
        scale: f32,
    ) -> Vec<f32> {
        let d = self.head_dim;
        let t = q.len() / (heads * d);
        let group = heads / self.kv_heads;
        let tiles = t.div_ceil(TILE_ROWS);
        let units: Vec<(usize, usize)> = (0..self.kv_heads)
            .flat_map(|g| (0..tiles).map(move |tile| (g, tile)))
            .collect();
        let done: Vec<(usize, usize, Vec<f32>)> = units
            .into_par_iter()
            .map(|(g, tile)| {
                let r0 = tile * TILE_ROWS;
                let r1 = (r0 + TILE_ROWS).min(t);
                (
                    g,
                    r0,
                    self.tile(layer, table, q, g, group, t, r0, r1, start, scale),
                )
            })
            .collect();
        let mut out = vec![0.0; t * heads * d];
        for (g, r0, acc) in done {
            let rows = acc.len() / (group * d);
            for j in 0..group {
                let h = g * group + j;
                for i in 0..rows {
                    let src = (j * rows + i) * d;
                    let dst = ((r0 + i) * heads + h) * d;
                    out[dst..dst + d].copy_from_slice(&acc[src..src + d]);
                }
            }
        }
        out
    }

    /// One tile: query heads `g × group ..` and rows `r0..r1`; returns
    /// `[group, rows, head_dim]`, normalised.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        &self,
        layer: usize,
        table: &[BlockId],
        q: &[f32],
        g: usize,
        group: usize,
        t: usize,
        r0: usize,
        r1: usize,
        start: usize,
        scale: f32,
    ) -> Vec<f32> {
        let (d, bs) = (self.head_dim, self.block_size);
        let rows = r1 - r0;
        let nq = group * rows;
        // Query j (head g·group + j / rows, row r0 + j % rows), pre-scaled.
        let mut qs = Vec::with_capacity(nq * d);
        for j in 0..group {
            let h = g * group + j;
            for i in r0..r1 {
                let at = (h * t + i) * d;
                qs.extend(q[at..at + d].iter().map(|x| x * scale));
            }
        }
        let mut m = vec![f32::NEG_INFINITY; nq];
        let mut l = vec![0.0f32; nq];
        let mut acc = vec![0.0f32; nq * d];
        let mut s = vec![0.0f32; bs];
        // Keys the tile's last row sees.
        let visible = start + r1;
        let (kbuf, vbuf) = (&self.k[layer], &self.v[layer]);
        for (b, &block) in table.iter().enumerate().take(visible.div_ceil(bs)) {
            let first = b * bs;
            let base = self.at(block, g, 0);
            for qi in 0..nq {
                let row = r0 + qi % rows;
                // Keys this row may see in this block.
                let seen = (start + row + 1).saturating_sub(first).min(bs);
                if seen == 0 {
                    continue;
                }
                let qv = &qs[qi * d..(qi + 1) * d];
                let mut block_max = f32::NEG_INFINITY;
                for (slot, sc) in s.iter_mut().enumerate().take(seen) {
                    let key = &kbuf[base + slot * d..base + (slot + 1) * d];
                    *sc = dot(qv, key);
                    block_max = block_max.max(*sc);
                }
                let new_m = m[qi].max(block_max);
                let correction = (m[qi] - new_m).exp();
                let a = &mut acc[qi * d..(qi + 1) * d];
                if correction != 1.0 {
                    a.iter_mut().for_each(|x| *x *= correction);
                }
                let mut sum = 0.0;
                for (slot, &sc) in s.iter().enumerate().take(seen) {
                    let p = (sc - new_m).exp();
                    sum += p;
                    let val = &vbuf[base + slot * d..base + (slot + 1) * d];
                    a.iter_mut().zip(val).for_each(|(x, y)| *x += p * y);
                }
                l[qi] = l[qi] * correction + sum;
                m[qi] = new_m;
            }
        }
        for (row, sum) in acc.chunks_mut(d).zip(&l) {
            let inv = 1.0 / sum;
            row.iter_mut().for_each(|x| *x *= inv);
        }
        acc
    }
}

/// A dot product written so the compiler vectorises it: eight independent
/// partial sums (a single running sum would pin the additions in order).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
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

fn to_f32(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// One sequence's view of the pool during a forward step: it writes the
/// step's keys and values into the sequence's blocks and attends over
/// them. The block table already covers `start + new tokens` (the
/// scheduler allocated before the step).
pub struct PagedSeq<'a> {
    pool: &'a Mutex<PagedKv>,
    table: &'a [BlockId],
    start: usize,
}

impl<'a> PagedSeq<'a> {
    /// A view of the sequence holding `start` tokens in `table`'s blocks.
    pub fn new(pool: &'a Mutex<PagedKv>, table: &'a [BlockId], start: usize) -> Self {
        Self { pool, table, start }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'a, PagedKv>> {
        self.pool
            .lock()
            .map_err(|_| candle_core::Error::Msg("the KV pool was poisoned by a panic".into()))
    }

    fn store(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<usize> {
        let n = k.dim(1)?;
        let mut pool = self.lock()?;
        if (self.start + n).div_ceil(pool.block_size) > self.table.len() {
            candle_core::bail!(
                "paged cache: {} tokens do not fit {} blocks",
                self.start + n,
                self.table.len()
            );
        }
        pool.write(layer, self.table, self.start, &to_f32(k)?, &to_f32(v)?);
        Ok(n)
    }
}

impl KvCache for PagedSeq<'_> {
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (kv_heads, _, d) = k.dims3()?;
        let n = self.store(layer, k, v)?;
        let len = self.start + n;
        let (kd, vd) = self.lock()?.gather(layer, self.table, len);
        Ok((
            Tensor::from_vec(kd, (kv_heads, len, d), k.device())?.to_dtype(k.dtype())?,
            Tensor::from_vec(vd, (kv_heads, len, d), k.device())?.to_dtype(v.dtype())?,
        ))
    }

    fn attend(
        &mut self,
        layer: usize,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f64,
        _block_elements: usize,
    ) -> Result<Tensor> {
        let (heads, t, d) = q.dims3()?;
        self.store(layer, k, v)?;
        let out = self.lock()?.attend(
            layer,
            self.table,
            &to_f32(q)?,
            heads,
            self.start,
            scale as f32,
        );
        Tensor::from_vec(out, (t, heads * d), q.device())?.to_dtype(q.dtype())
    }

    fn len(&self) -> usize {
        self.start
    }

    fn truncate(&mut self, len: usize) {
        self.start = self.start.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::attend;
    use candle_core::Device;

    #[test]
    fn paged_attention_equals_the_contiguous_one() {
        // (heads, kv heads, head dim, block size, cached, new): decodes,
        // prefills from empty over several tiles, chunks after a prefix.
        for (heads, kv, d, bs, start, t) in [
            (6, 2, 20, 4, 5, 19),
            (4, 2, 16, 4, 0, 13),
            (9, 3, 64, 16, 0, 22),
            (9, 3, 64, 16, 22, 1),
            (2, 1, 16, 16, 40, 9),
        ] {
            check(heads, kv, d, bs, start, t);
        }
    }

    fn check(heads: usize, kv: usize, d: usize, bs: usize, start: usize, t: usize) {
        let dev = Device::Cpu;
        let pool = Mutex::new(PagedKv::new(1, kv, d, bs, 64));
        // Scattered, out-of-order blocks, as a busy pool hands them out.
        let table: Vec<BlockId> = (0..(start + t).div_ceil(bs))
            .map(|b| ((b * 37 + 11) % 64) as BlockId)
            .collect();
        let k = Tensor::randn(0f32, 1.0, (kv, start + t, d), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (kv, start + t, d), &dev).unwrap();
        let q = Tensor::randn(0f32, 1.0, (heads, t, d), &dev).unwrap();
        // The first `start` tokens arrive in one step, the rest in the next.
        let head = |x: &Tensor, a, n| x.narrow(1, a, n).unwrap().contiguous().unwrap();
        if start > 0 {
            let mut first = PagedSeq::new(&pool, &table, 0);
            first
                .append(0, &head(&k, 0, start), &head(&v, 0, start))
                .unwrap();
        }
        let mut seq = PagedSeq::new(&pool, &table, start);
        let got = seq
            .attend(0, &q, &head(&k, start, t), &head(&v, start, t), 0.3, 0)
            .unwrap();
        let want = attend(&q, &k, &v, start, 0.3, 1 << 20).unwrap();
        let diff = (got - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{heads}/{kv} heads, {start}+{t}: {diff}");
        // And what was written reads back in order.
        let (kall, _) = PagedSeq::new(&pool, &table, start + t)
            .append(0, &head(&k, 0, 0), &head(&v, 0, 0))
            .unwrap();
        let same = (kall - &k).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(same.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn a_step_beyond_the_allocated_blocks_is_an_error_not_a_panic() {
        let dev = Device::Cpu;
        let pool = Mutex::new(PagedKv::new(1, 1, 4, 4, 4));
        let table = [1];
        let k = Tensor::zeros((1, 5, 4), DType::F32, &dev).unwrap();
        let err = PagedSeq::new(&pool, &table, 0)
            .append(0, &k, &k)
            .unwrap_err();
        assert!(err.to_string().contains("do not fit"), "{err}");
    }
}
