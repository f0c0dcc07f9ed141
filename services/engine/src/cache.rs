//! The key/value cache seen by the forward pass.
//!
//! The model only asks a cache to append one step's keys and values for a
//! layer and to hand back everything held so far, so the simple contiguous
//! cache here and a paged block cache (issue #10) are interchangeable
//! behind [`KvCache`]: the scheduler owns memory, the model owns math.

use crate::attention;
use candle_core::{Result, Tensor};

/// Keys and values of one sequence, for every layer.
pub trait KvCache: Send {
    /// Appends `k` and `v` (`[kv_heads, n, head_dim]`) to `layer` and
    /// returns all keys and values held for it, `[kv_heads, len, head_dim]`.
    ///
    /// # Errors
    /// On a shape mismatch or when memory cannot be allocated.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)>;

    /// Appends `k` and `v` (`[kv_heads, n, head_dim]`, the new tokens'
    /// keys and values) to `layer` and returns the attention of `q`
    /// (`[heads, n, head_dim]`) over everything held, `[n, heads ×
    /// head_dim]`. The default gathers the whole cache and runs
    /// [`attention::attend`]; a paged cache reads its blocks in place.
    ///
    /// # Errors
    /// On a shape mismatch or a kernel failure.
    fn attend(
        &mut self,
        layer: usize,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f64,
        block_elements: usize,
    ) -> Result<Tensor> {
        let n = k.dim(1)?;
        let (kall, vall) = self.append(layer, k, v)?;
        // Causality is by order in the cache: the new tokens follow
        // everything it held before.
        let past = kall.dim(1)? - n;
        attention::attend(q, &kall, &vall, past, scale, block_elements)
    }

    /// The paged pool behind this cache, when it is a view of one: the
    /// model then attends for the whole batch in one call
    /// ([`crate::serving::paged::attend_batch`]).
    fn paged(&self) -> Option<crate::serving::paged::PagedRef<'_>> {
        None
    }

    /// Tokens held (the position of the next token).
    fn len(&self) -> usize;

    /// Whether the cache holds nothing.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything after the first `len` tokens (e.g. to reuse a
    /// shared prompt prefix).
    fn truncate(&mut self, len: usize);
}

/// One growable buffer per layer; capacity doubles as needed, so appending
/// a token copies only that token (amortised).
#[derive(Debug, Default)]
pub struct ContiguousCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    /// Tokens held by each layer (they advance in step within a forward).
    layer_len: Vec<usize>,
}

impl ContiguousCache {
    /// An empty cache for `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
            len: 0,
            layer_len: vec![0; layers],
        }
    }
}

fn grow(buf: &Tensor, held: usize, need: usize) -> Result<Tensor> {
    let (h, cap, d) = buf.dims3()?;
    if need <= cap {
        return Ok(buf.clone());
    }
    let new_cap = need.max(cap * 2).max(16);
    let bigger = Tensor::zeros((h, new_cap, d), buf.dtype(), buf.device())?;
    if held > 0 {
        bigger.slice_set(&buf.narrow(1, 0, held)?.contiguous()?, 1, 0)?;
    }
    Ok(bigger)
}

impl KvCache for ContiguousCache {
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let held = self.layer_len[layer];
        let n = k.dim(1)?;
        let need = held + n;
        let (kb, vb) = match self.layers[layer].take() {
            Some((kb, vb)) => (grow(&kb, held, need)?, grow(&vb, held, need)?),
            None => {
                let (h, _, d) = k.dims3()?;
                let cap = need.max(16);
                (
                    Tensor::zeros((h, cap, d), k.dtype(), k.device())?,
                    Tensor::zeros((h, cap, d), v.dtype(), v.device())?,
                )
            }
        };
        kb.slice_set(&k.contiguous()?, 1, held)?;
        vb.slice_set(&v.contiguous()?, 1, held)?;
        let out = (kb.narrow(1, 0, need)?, vb.narrow(1, 0, need)?);
        self.layers[layer] = Some((kb, vb));
        self.layer_len[layer] = need;
        self.len = self.len.max(need);
        Ok(out)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        for l in &mut self.layer_len {
            *l = (*l).min(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn appends_grow_and_truncate() {
        let dev = Device::Cpu;
        let mut c = ContiguousCache::new(1);
        let step = |i: f32| Tensor::full(i, (2, 1, 4), &dev).unwrap();
        for i in 0..40 {
            let (k, _) = c.append(0, &step(i as f32), &step(-(i as f32))).unwrap();
            assert_eq!(k.dims(), &[2, i + 1, 4]);
        }
        assert_eq!(c.len(), 40);
        let (k, v) = c.append(0, &step(99.0), &step(-99.0)).unwrap();
        let k: Vec<f32> = k
            .narrow(1, 39, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(&k[..4], &[39.0; 4]);
        assert_eq!(&k[4..8], &[99.0; 4]);
        assert_eq!(v.dtype(), DType::F32);
        c.truncate(10);
        let (k, _) = c.append(0, &step(7.0), &step(7.0)).unwrap();
        assert_eq!(k.dims(), &[2, 11, 4]);
    }
}
