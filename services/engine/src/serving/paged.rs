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
//!
//! That kernel is the CPU's. Every device can also hold its pool as
//! tensors and attend through candle ops ([`super::reference`]); a
//! [`KvStore`] is one or the other, and [`KvPools`] are the stores of one
//! model replica, one per pipeline stage.

use super::blocks::BlockId;
use super::reference::TensorKv;
use crate::cache::KvCache;
use crate::matvec::dot;
use candle_core::{DType, Result, Tensor};
use rayon::prelude::*;
use std::ops::Range;
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

    /// Writes a segment's keys and values: rows `seg.rows` of `k` and `v`
    /// (`[tokens, kv_heads, head_dim]`, row-major, the whole batch) at
    /// positions `seg.start..` of its sequence.
    fn write(&mut self, layer: usize, seg: &Segment<'_>, k: &[f32], v: &[f32]) {
        let (d, kvh) = (self.head_dim, self.kv_heads);
        for i in 0..seg.rows.len() {
            let pos = seg.start + i;
            let block = seg.table[pos / self.block_size];
            for h in 0..kvh {
                let dst = self.at(block, h, pos % self.block_size);
                let src = ((seg.rows.start + i) * kvh + h) * d;
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

    /// Attention of every segment's query rows (`q`: `[tokens, heads,
    /// head_dim]`, the whole batch) over its sequence's cached tokens up to
    /// each row; returns `[tokens, heads × head_dim]`. One parallel pass
    /// over (segment, key/value head, tile of rows) units.
    fn attend(
        &self,
        layer: usize,
        segs: &[Segment<'_>],
        q: &[f32],
        heads: usize,
        scale: f32,
    ) -> Vec<f32> {
        let d = self.head_dim;
        let group = heads / self.kv_heads;
        let units: Vec<(usize, usize, usize)> = segs
            .iter()
            .enumerate()
            .flat_map(|(si, seg)| {
                let tiles = seg.rows.len().div_ceil(TILE_ROWS);
                (0..self.kv_heads).flat_map(move |g| (0..tiles).map(move |t| (si, g, t)))
            })
            .collect();
        let done: Vec<(usize, usize, usize, Vec<f32>)> = units
            .into_par_iter()
            .map(|(si, g, tile)| {
                let seg = &segs[si];
                let r0 = tile * TILE_ROWS;
                let r1 = (r0 + TILE_ROWS).min(seg.rows.len());
                let acc = self.tile(layer, seg, q, heads, g, r0, r1, scale);
                (si, g, r0, acc)
            })
            .collect();
        let tokens = q.len() / (heads * d);
        let mut out = vec![0.0; tokens * heads * d];
        for (si, g, r0, acc) in done {
            let base = segs[si].rows.start + r0;
            let rows = acc.len() / (group * d);
            for j in 0..group {
                let h = g * group + j;
                for i in 0..rows {
                    let src = (j * rows + i) * d;
                    let dst = ((base + i) * heads + h) * d;
                    out[dst..dst + d].copy_from_slice(&acc[src..src + d]);
                }
            }
        }
        out
    }

    /// One tile of a segment: query heads `g × group ..` and its rows
    /// `r0..r1`; returns `[group, rows, head_dim]`, normalised.
    #[allow(clippy::too_many_arguments)]
    fn tile(
        &self,
        layer: usize,
        seg: &Segment<'_>,
        q: &[f32],
        heads: usize,
        g: usize,
        r0: usize,
        r1: usize,
        scale: f32,
    ) -> Vec<f32> {
        let (d, bs) = (self.head_dim, self.block_size);
        let group = heads / self.kv_heads;
        let (table, start) = (seg.table, seg.start);
        let rows = r1 - r0;
        let nq = group * rows;
        // Query j (head g·group + j / rows, row r0 + j % rows), pre-scaled.
        let mut qs = Vec::with_capacity(nq * d);
        for j in 0..group {
            let h = g * group + j;
            for i in r0..r1 {
                let at = ((seg.rows.start + i) * heads + h) * d;
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

fn to_f32(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// One sequence's view of the pools during a forward step: it writes the
/// step's keys and values into the sequence's blocks and attends over
/// them. The block table already covers `start + new tokens` (the
/// scheduler allocated before the step).
pub struct PagedSeq<'a> {
    view: PagedRef<'a>,
}

impl<'a> PagedSeq<'a> {
    /// A view of the sequence holding `start` tokens in `table`'s blocks.
    pub fn new(pools: &'a KvPools, table: &'a [BlockId], start: usize) -> Self {
        Self {
            view: PagedRef {
                pools,
                table,
                start,
            },
        }
    }
}

fn lock(pool: &Mutex<KvStore>) -> Result<std::sync::MutexGuard<'_, KvStore>> {
    pool.lock()
        .map_err(|_| candle_core::Error::Msg("the KV pool was poisoned by a panic".into()))
}

/// One sequence's rows in a batch: `rows` of the packed tensors are its
/// new tokens, at positions `start..` of the sequence whose blocks are
/// `table`.
pub struct Segment<'a> {
    pub(super) table: &'a [BlockId],
    pub(super) start: usize,
    pub(super) rows: Range<usize>,
}

/// Checks that a segment's blocks hold its tokens.
fn check(seg: &Segment<'_>, block_size: usize) -> Result<()> {
    let need = seg.start + seg.rows.len();
    if need.div_ceil(block_size) > seg.table.len() {
        candle_core::bail!(
            "paged cache: {need} tokens do not fit {} blocks",
            seg.table.len()
        );
    }
    Ok(())
}

/// Where one part of a model keeps its keys and values.
#[derive(Debug)]
pub enum KvStore {
    /// Host `f32` buffers read by the CPU's paged kernel.
    Host(PagedKv),
    /// Tensors on the model's device, read through candle ops (the
    /// reference path, [`super::reference`]).
    Tensors(TensorKv),
}

impl KvStore {
    fn block_size(&self) -> usize {
        match self {
            Self::Host(p) => p.block_size,
            Self::Tensors(t) => t.block_size(),
        }
    }
}

/// The KV stores of one model replica (one tensor-parallel rank): one per
/// pipeline stage, each holding its stage's range of layers, with the
/// same block tables.
#[derive(Debug)]
pub struct KvPools {
    parts: Vec<(Range<usize>, Mutex<KvStore>)>,
}

impl KvPools {
    /// One store for every layer.
    pub fn one(store: KvStore) -> Self {
        Self::new(vec![(0..usize::MAX, store)])
    }

    /// Stores by the (global) layer ranges they hold, first to last.
    pub fn new(parts: Vec<(Range<usize>, KvStore)>) -> Self {
        Self {
            parts: parts.into_iter().map(|(r, s)| (r, Mutex::new(s))).collect(),
        }
    }

    /// The store holding `layer`, and the layer's index in it.
    fn part(&self, layer: usize) -> Result<(&Mutex<KvStore>, usize)> {
        self.parts
            .iter()
            .find(|(r, _)| r.contains(&layer))
            .map(|(r, s)| (s, layer - r.start))
            .ok_or_else(|| candle_core::Error::Msg(format!("no KV store holds layer {layer}")))
    }
}

/// What a [`PagedSeq`] shows of itself so that the model can attend for a
/// whole batch in one call ([`attend_batch`]).
#[derive(Clone, Copy)]
pub struct PagedRef<'a> {
    pools: &'a KvPools,
    table: &'a [BlockId],
    start: usize,
}

/// Attention of a packed batch whose every sequence lives in the same
/// pools: `q` `[tokens, heads, head_dim]`, `k` and `v` `[tokens, kv_heads,
/// head_dim]` (the new tokens, written to the pool here), `spans` each
/// sequence's (first row, rows). One lock, one copy of each input, one
/// parallel pass: the per-sequence path costs a lock, six copies and a
/// thread-pool round trip per sequence and layer, which dominates a step
/// of many one-token decodes. Returns `None` when the caches are not all
/// views of one set of pools.
///
/// # Errors
/// On a sequence whose blocks cannot hold its tokens, or a kernel failure.
pub fn attend_batch(
    refs: &[Option<PagedRef<'_>>],
    layer: usize,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    spans: &[(usize, usize)],
    scale: f64,
) -> Result<Option<Tensor>> {
    let Some(Some(first)) = refs.first() else {
        return Ok(None);
    };
    if !refs
        .iter()
        .all(|r| r.is_some_and(|r| std::ptr::eq(r.pools, first.pools)))
    {
        return Ok(None);
    }
    let (n, heads, d) = q.dims3()?;
    let segs: Vec<Segment<'_>> = refs
        .iter()
        .flatten()
        .zip(spans)
        .map(|(r, &(off, len))| Segment {
            table: r.table,
            start: r.start,
            rows: off..off + len,
        })
        .collect();
    let (store, local) = first.pools.part(layer)?;
    let mut store = lock(store)?;
    for seg in &segs {
        check(seg, store.block_size())?;
    }
    let out = match &mut *store {
        KvStore::Host(pool) => {
            let (qf, kf, vf) = (
                to_f32(&q.contiguous()?)?,
                to_f32(&k.contiguous()?)?,
                to_f32(&v.contiguous()?)?,
            );
            for seg in &segs {
                pool.write(local, seg, &kf, &vf);
            }
            let out = pool.attend(local, &segs, &qf, heads, scale as f32);
            Tensor::from_vec(out, (n, heads * d), q.device())?.to_dtype(q.dtype())?
        }
        KvStore::Tensors(t) => {
            t.write(local, &segs, k, v)?;
            t.attend(local, &segs, q, scale)?
        }
    };
    Ok(Some(out))
}

impl KvCache for PagedSeq<'_> {
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (kv_heads, n, d) = k.dims3()?;
        let seg = Segment {
            table: self.view.table,
            start: self.view.start,
            rows: 0..n,
        };
        let len = self.view.start + n;
        let (store, local) = self.view.pools.part(layer)?;
        let mut store = lock(store)?;
        check(&seg, store.block_size())?;
        // `[kv_heads, n, d]` as the token-major `[n, kv_heads, d]` batch.
        let (kt, vt) = (
            k.transpose(0, 1)?.contiguous()?,
            v.transpose(0, 1)?.contiguous()?,
        );
        match &mut *store {
            KvStore::Host(pool) => {
                pool.write(local, &seg, &to_f32(&kt)?, &to_f32(&vt)?);
                let (kd, vd) = pool.gather(local, self.view.table, len);
                Ok((
                    Tensor::from_vec(kd, (kv_heads, len, d), k.device())?.to_dtype(k.dtype())?,
                    Tensor::from_vec(vd, (kv_heads, len, d), k.device())?.to_dtype(v.dtype())?,
                ))
            }
            KvStore::Tensors(t) => {
                t.write(local, &[seg], &kt, &vt)?;
                let (kall, vall) = t.gather(local, self.view.table, len)?;
                Ok((kall.to_dtype(k.dtype())?, vall.to_dtype(v.dtype())?))
            }
        }
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
        // The batch path with a batch of one: `[heads, t, d]` inputs
        // become its token-major `[t, heads, d]`.
        let t = q.dim(1)?;
        let tm = |x: &Tensor| x.transpose(0, 1);
        let views = [Some(self.view)];
        attend_batch(&views, layer, &tm(q)?, &tm(k)?, &tm(v)?, &[(0, t)], scale)?
            .ok_or_else(|| candle_core::Error::Msg("a paged view without its pool".into()))
    }

    fn paged(&self) -> Option<PagedRef<'_>> {
        Some(self.view)
    }

    fn len(&self) -> usize {
        self.view.start
    }

    fn truncate(&mut self, len: usize) {
        self.view.start = self.view.start.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::attend;
    use candle_core::Device;
    use proptest::prelude::*;

    /// Both kinds of store, on the CPU, in f32.
    fn stores(kv: usize, d: usize, bs: usize, blocks: usize) -> [KvPools; 2] {
        [
            KvPools::one(KvStore::Host(PagedKv::new(1, kv, d, bs, blocks))),
            KvPools::one(KvStore::Tensors(
                TensorKv::new(1, kv, d, bs, blocks, &Device::Cpu, DType::F32, 1 << 12).unwrap(),
            )),
        ]
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

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
            for pools in stores(kv, d, bs, 64) {
                check(&pools, heads, kv, d, bs, start, t);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        pools: &KvPools,
        heads: usize,
        kv: usize,
        d: usize,
        bs: usize,
        start: usize,
        t: usize,
    ) {
        let dev = Device::Cpu;
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
            let mut first = PagedSeq::new(pools, &table, 0);
            first
                .append(0, &head(&k, 0, start), &head(&v, 0, start))
                .unwrap();
        }
        let mut seq = PagedSeq::new(pools, &table, start);
        let got = seq
            .attend(0, &q, &head(&k, start, t), &head(&v, start, t), 0.3, 0)
            .unwrap();
        let want = attend(&q, &k, &v, start, 0.3, 1 << 20).unwrap();
        let diff = max_diff(&got, &want);
        assert!(diff < 1e-5, "{heads}/{kv} heads, {start}+{t}: {diff}");
        // And what was written reads back in order.
        let (kall, _) = PagedSeq::new(pools, &table, start + t)
            .append(0, &head(&k, 0, 0), &head(&v, 0, 0))
            .unwrap();
        assert_eq!(max_diff(&kall, &k), 0.0);
    }

    #[test]
    fn a_step_beyond_the_allocated_blocks_is_an_error_not_a_panic() {
        let dev = Device::Cpu;
        for pools in stores(1, 4, 4, 4) {
            let table = [1];
            let k = Tensor::zeros((1, 5, 4), DType::F32, &dev).unwrap();
            let err = PagedSeq::new(&pools, &table, 0)
                .append(0, &k, &k)
                .unwrap_err();
            assert!(err.to_string().contains("do not fit"), "{err}");
        }
    }

    /// A batch of sequences: (cached tokens, new tokens, blocks shared with
    /// sequence 0's table).
    fn batch_shapes() -> impl Strategy<Value = (usize, Vec<(usize, usize, usize)>)> {
        (
            prop::sample::select(vec![1usize, 3, 4, 16]),
            prop::collection::vec((0usize..40, 1usize..20, 0usize..3), 1..5),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The reference path (candle ops over a gathered copy, what GPUs
        /// run) and the CPU kernel give the contiguous attention of every
        /// sequence of a packed batch, over block tables with holes,
        /// prefixes shared between sequences, and lengths that are not a
        /// multiple of the block size.
        #[test]
        fn both_paths_equal_contiguous_attention_for_a_batch(
            (bs, seqs) in batch_shapes(),
            seed in 0u64..1000,
        ) {
            let dev = Device::Cpu;
            let (heads, kv, d) = (4, 2, 8);
            let blocks = 512;
            // Sequence 0's blocks; others share its first `shared` blocks
            // (a common prefix: same keys) and then take their own, every
            // other block id left as a hole (at most 4 × 59 blocks are
            // taken, so odd ids below 512 never repeat).
            let mut next = (seed as usize % 7) * 2 + 1;
            let mut fresh = || { next += 2; (next % blocks) as BlockId };
            let mut tables: Vec<Vec<BlockId>> = Vec::new();
            let mut lens = Vec::new();
            for (i, &(start, t, shared)) in seqs.iter().enumerate() {
                let len = start + t;
                let nb = len.div_ceil(bs);
                let table: Vec<BlockId> = (0..nb)
                    .map(|b| {
                        // Shared blocks hold whole cached blocks only.
                        let share = i > 0 && b < shared && (b + 1) * bs <= start.min(lens[0]);
                        if share { tables[0][b] } else { fresh() }
                    })
                    .collect();
                tables.push(table);
                lens.push(len);
            }
            // Keys and values of sequence 0's positions, reused where a
            // block is shared.
            let longest = lens.iter().max().copied().unwrap_or(1);
            let k0 = Tensor::randn(0f32, 1.0, (kv, longest, d), &dev).unwrap();
            let v0 = Tensor::randn(0f32, 1.0, (kv, longest, d), &dev).unwrap();
            let mut ks = Vec::new();
            let mut vs = Vec::new();
            for (i, &(start, t, _)) in seqs.iter().enumerate() {
                let len = start + t;
                let own_k = Tensor::randn(0f32, 1.0, (kv, len, d), &dev).unwrap();
                let own_v = Tensor::randn(0f32, 1.0, (kv, len, d), &dev).unwrap();
                let shared_tokens = tables[i].iter().zip(&tables[0]).take_while(|(a, b)| a == b).count() * bs;
                let shared_tokens = if i == 0 { 0 } else { shared_tokens.min(len) };
                let mix = |own: &Tensor, base: &Tensor| if shared_tokens == 0 { own.clone() } else {
                    Tensor::cat(&[base.narrow(1, 0, shared_tokens).unwrap(),
                        own.narrow(1, shared_tokens, len - shared_tokens).unwrap()], 1).unwrap()
                };
                let (k, v) = if i == 0 { (k0.narrow(1, 0, len).unwrap(), v0.narrow(1, 0, len).unwrap()) }
                    else { (mix(&own_k, &k0), mix(&own_v, &v0)) };
                ks.push(k.contiguous().unwrap());
                vs.push(v.contiguous().unwrap());
            }
            let total: usize = seqs.iter().map(|s| s.1).sum();
            let q = Tensor::randn(0f32, 1.0, (total, heads, d), &dev).unwrap();
            for pools in stores(kv, d, bs, blocks) {
                // Cached tokens first, one sequence at a time.
                for (i, &(start, _, _)) in seqs.iter().enumerate() {
                    if start > 0 {
                        PagedSeq::new(&pools, &tables[i], 0)
                            .append(0, &ks[i].narrow(1, 0, start).unwrap(), &vs[i].narrow(1, 0, start).unwrap())
                            .unwrap();
                    }
                }
                // Then every sequence's new tokens in one packed batch.
                let views: Vec<Option<PagedRef<'_>>> = seqs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Some(PagedRef { pools: &pools, table: &tables[i], start: s.0 }))
                    .collect();
                let mut spans = Vec::new();
                let mut off = 0;
                for s in &seqs {
                    spans.push((off, s.1));
                    off += s.1;
                }
                let pick = |x: &[Tensor]| -> Tensor {
                    let parts: Vec<Tensor> = seqs.iter().enumerate()
                        .map(|(i, s)| x[i].narrow(1, s.0, s.1).unwrap().transpose(0, 1).unwrap())
                        .collect();
                    Tensor::cat(&parts, 0).unwrap().contiguous().unwrap()
                };
                let got = attend_batch(&views, 0, &q, &pick(&ks), &pick(&vs), &spans, 0.4)
                    .unwrap()
                    .unwrap();
                for (i, &(start, t, _)) in seqs.iter().enumerate() {
                    let qs = q.narrow(0, spans[i].0, t).unwrap().transpose(0, 1).unwrap().contiguous().unwrap();
                    let want = attend(&qs, &ks[i], &vs[i], start, 0.4, 1 << 20).unwrap();
                    let diff = max_diff(&got.narrow(0, spans[i].0, t).unwrap(), &want);
                    prop_assert!(diff < 1e-5, "sequence {i} ({start}+{t}, block {bs}): {diff}");
                }
            }
        }
    }
}
