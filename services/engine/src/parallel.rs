//! One model over several devices: pipeline stages and tensor-parallel
//! shards, with the all-reduce behind a [`Collective`].
//!
//! - **Pipeline** ([`PipelineParallel`]): each device holds a contiguous
//!   range of layers, sized by [`split_layers`] in proportion to its
//!   memory; a step's hidden states pass from stage to stage. Nothing is
//!   summed, so the logits are those of one device exactly.
//! - **Tensor** ([`TensorParallel`]): each device holds `1/size` of every
//!   layer, its share of the attention heads (and their KV cache) and of
//!   the MLP width, as Megatron-LM splits them: q/k/v and gate/up by rows,
//!   o and down by columns. Each shard's attention and MLP output is a
//!   partial sum; one all-reduce per block adds them up. Shards run on
//!   threads of their own, one per device.
//!
//! [`LocalCollective`] is the in-process all-reduce (CPU, or devices that
//! share memory); `crate::nccl::NcclCollective` (under `cuda`) implements
//! the same trait with NCCL.
//! It sums the parts in rank order, so a result does not depend on which
//! shard arrived first.

use crate::EngineError;
use crate::lora::LoraAdapter;
use crate::model::{Model, Placement, SeqInput};
use crate::weights::Checkpoint;
use candle_core::Tensor;
use std::ops::Range;
use std::sync::{Condvar, Mutex};

/// Collective operations between the shards of one model.
pub trait Collective: Send + Sync {
    /// Shards taking part.
    fn size(&self) -> usize;

    /// Sums `t` over every shard; each gets the sum on its own device.
    /// Every shard must call it, in the same order, with tensors of the
    /// same shape.
    ///
    /// # Errors
    /// When a shard gave up ([`Collective::abort`]) or a kernel fails.
    fn all_reduce_sum(&self, rank: usize, t: &Tensor) -> candle_core::Result<Tensor>;

    /// Releases every shard waiting in a collective with an error (a shard
    /// failed and will never arrive).
    fn abort(&self);
}

#[derive(Default)]
struct Round {
    parts: Vec<Option<Tensor>>,
    sum: Option<Tensor>,
    taken: usize,
    aborted: bool,
}

/// The in-process [`Collective`]: shards are threads of one process.
pub struct LocalCollective {
    size: usize,
    round: Mutex<Round>,
    changed: Condvar,
}

impl LocalCollective {
    /// A collective of `size` shards.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            round: Mutex::new(Round {
                parts: vec![None; size],
                ..Round::default()
            }),
            changed: Condvar::new(),
        }
    }
}

fn aborted() -> candle_core::Error {
    candle_core::Error::Msg("another tensor-parallel shard failed".into())
}

impl Collective for LocalCollective {
    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum(&self, rank: usize, t: &Tensor) -> candle_core::Result<Tensor> {
        let mut r = self.round.lock().map_err(|_| aborted())?;
        // The previous sum must be collected by everyone first.
        while r.sum.is_some() && !r.aborted {
            r = self.changed.wait(r).map_err(|_| aborted())?;
        }
        if r.aborted {
            return Err(aborted());
        }
        r.parts[rank] = Some(t.clone());
        if r.parts.iter().all(Option::is_some) {
            let parts: Vec<Tensor> = r.parts.iter_mut().filter_map(Option::take).collect();
            let device = parts[0].device().clone();
            let mut sum = parts[0].clone();
            for p in &parts[1..] {
                sum = (sum + p.to_device(&device)?)?;
            }
            r.sum = Some(sum);
            self.changed.notify_all();
        } else {
            while r.sum.is_none() && !r.aborted {
                r = self.changed.wait(r).map_err(|_| aborted())?;
            }
            if r.aborted {
                return Err(aborted());
            }
        }
        let out = r.sum.clone().ok_or_else(aborted)?;
        r.taken += 1;
        if r.taken == self.size {
            r.sum = None;
            r.taken = 0;
            self.changed.notify_all();
        }
        drop(r);
        out.to_device(t.device())
    }

    fn abort(&self) {
        if let Ok(mut r) = self.round.lock() {
            r.aborted = true;
        }
        self.changed.notify_all();
    }
}

/// Splits `layers` into one contiguous range per device, in proportion to
/// `memory` (bytes free on each), every device getting at least one layer.
///
/// # Errors
/// When there are more devices than layers, or no memory at all.
pub fn split_layers(layers: usize, memory: &[u64]) -> Result<Vec<Range<usize>>, EngineError> {
    let total: u128 = memory.iter().map(|&m| m as u128).sum();
    if memory.is_empty() || memory.len() > layers || total == 0 {
        return Err(EngineError::Config {
            field: "num_hidden_layers".into(),
            message: format!(
                "{layers} layers cannot be split over {} devices",
                memory.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(memory.len());
    let mut start = 0;
    let mut seen: u128 = 0;
    for (i, &m) in memory.iter().enumerate() {
        seen += m as u128;
        let left = memory.len() - i - 1;
        // Where the proportional cut falls, leaving a layer for each
        // device after this one and taking at least one here.
        let cut = ((seen * layers as u128 + total / 2) / total) as usize;
        let end = cut.clamp(start + 1, layers - left);
        out.push(start..end);
        start = end;
    }
    Ok(out)
}

/// Pipeline stages: consecutive layer ranges, one per device.
pub struct PipelineParallel {
    stages: Vec<Model>,
}

impl PipelineParallel {
    /// Loads stage `i`'s layers `ranges[i]` from `checkpoints[i]` (the
    /// checkpoint opened on stage `i`'s device).
    ///
    /// # Errors
    /// As [`Model::load_part`]; when the ranges do not tile the layers.
    pub fn load(checkpoints: &[Checkpoint], ranges: &[Range<usize>]) -> Result<Self, EngineError> {
        let tiled = ranges.windows(2).all(|w| w[0].end == w[1].start)
            && ranges.first().is_some_and(|r| r.start == 0)
            && checkpoints.len() == ranges.len()
            && ranges
                .last()
                .zip(checkpoints.first())
                .is_some_and(|(r, c)| r.end == c.config.num_layers);
        if !tiled {
            return Err(EngineError::Request(format!(
                "pipeline stages {ranges:?} do not cover the model's layers in order"
            )));
        }
        let stages = checkpoints
            .iter()
            .zip(ranges)
            .map(|(c, r)| {
                Model::load_part(
                    c,
                    Placement {
                        layers: r.clone(),
                        rank: 0,
                        size: 1,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { stages })
    }

    /// The stages, first to last.
    pub fn stages(&self) -> &[Model] {
        &self.stages
    }

    /// Adds a LoRA adapter to every stage (each takes its share of it);
    /// returns the index sequences name it by.
    ///
    /// # Errors
    /// As [`Model::add_adapter`].
    pub fn add_adapter(&mut self, adapter: &LoraAdapter) -> Result<usize, EngineError> {
        let fitted = self
            .stages
            .iter()
            .map(|part| part.fit_adapter(adapter))
            .collect::<Result<Vec<_>, _>>()?;
        let mut index = 0;
        for (part, f) in self.stages.iter_mut().zip(fitted) {
            index = part.push_adapter(f);
        }
        Ok(index)
    }

    /// [`Model::forward`] through every stage in turn.
    ///
    /// # Errors
    /// As [`Model::forward`].
    pub fn forward(&self, batch: &mut [SeqInput<'_>]) -> Result<Vec<Tensor>, EngineError> {
        let (first, last) = match (self.stages.first(), self.stages.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return Err(EngineError::Request("no pipeline stage".into())),
        };
        let p = first.prepare(batch)?;
        let mut x = first.embed_tokens(&p)?;
        for stage in &self.stages {
            x = stage.run_layers(x, batch, &p, &|t| Ok(t))?;
        }
        last.head(&x, batch, &p)
    }
}

/// Tensor-parallel shards of every layer, one per device.
pub struct TensorParallel {
    shards: Vec<Model>,
}

impl TensorParallel {
    /// Loads shard `i` of `checkpoints.len()` from `checkpoints[i]` (the
    /// checkpoint opened on shard `i`'s device).
    ///
    /// # Errors
    /// As [`Model::load_part`] (e.g. heads not divisible by the size).
    pub fn load(checkpoints: &[Checkpoint]) -> Result<Self, EngineError> {
        let size = checkpoints.len();
        let shards = checkpoints
            .iter()
            .enumerate()
            .map(|(rank, c)| {
                Model::load_part(
                    c,
                    Placement {
                        layers: 0..c.config.num_layers,
                        rank,
                        size,
                    },
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { shards })
    }

    /// The shards, by rank.
    pub fn shards(&self) -> &[Model] {
        &self.shards
    }

    /// Adds a LoRA adapter to every shard (each takes its share of it);
    /// returns the index sequences name it by.
    ///
    /// # Errors
    /// As [`Model::add_adapter`].
    pub fn add_adapter(&mut self, adapter: &LoraAdapter) -> Result<usize, EngineError> {
        let fitted = self
            .shards
            .iter()
            .map(|part| part.fit_adapter(adapter))
            .collect::<Result<Vec<_>, _>>()?;
        let mut index = 0;
        for (part, f) in self.shards.iter_mut().zip(fitted) {
            index = part.push_adapter(f);
        }
        Ok(index)
    }

    /// One step: `batches[rank]` is the batch as shard `rank` sees it (the
    /// same tokens, with that shard's KV caches). Shards run on threads of
    /// their own and meet in the all-reduces; rank 0's logits are returned
    /// (all ranks compute the same).
    ///
    /// # Errors
    /// The first shard's error when any fails (the others are released).
    pub fn forward(&self, batches: Vec<&mut [SeqInput<'_>]>) -> Result<Vec<Tensor>, EngineError> {
        // A fresh collective per step: a failed step leaves nothing behind.
        self.forward_with(batches, &LocalCollective::new(self.shards.len()))
    }

    /// [`TensorParallel::forward`] through a given collective (NCCL on
    /// GPUs).
    ///
    /// # Errors
    /// As [`TensorParallel::forward`].
    pub fn forward_with(
        &self,
        batches: Vec<&mut [SeqInput<'_>]>,
        collective: &dyn Collective,
    ) -> Result<Vec<Tensor>, EngineError> {
        if batches.len() != self.shards.len() || collective.size() != self.shards.len() {
            return Err(EngineError::Request(format!(
                "{} batches and a collective of {} for {} shards",
                batches.len(),
                collective.size(),
                self.shards.len()
            )));
        }
        let results: Vec<Result<Vec<Tensor>, EngineError>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .shards
                .iter()
                .zip(batches)
                .enumerate()
                .map(|(rank, (shard, batch))| {
                    s.spawn(move || {
                        let out =
                            shard.forward_reduced(batch, &|t| collective.all_reduce_sum(rank, &t));
                        if out.is_err() {
                            collective.abort();
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        collective.abort();
                        Err(EngineError::Request(
                            "a tensor-parallel shard panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        let mut first = None;
        for (rank, r) in results.into_iter().enumerate() {
            match r {
                Ok(l) if rank == 0 => first = Some(l),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        first.ok_or_else(|| EngineError::Request("no tensor-parallel shard".into()))
    }
}

/// How several devices share the model (`engine.parallel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// One device holds the whole model.
    #[default]
    None,
    /// Layer ranges per device ([`PipelineParallel`]).
    Pipeline,
    /// Heads and MLP width per device ([`TensorParallel`]).
    Tensor,
}

/// A loaded model, however it is laid out over devices: what the engine
/// and the serving loop drive.
pub enum Parts {
    /// One device.
    Whole(Box<Model>),
    /// Layer ranges, one per device.
    Pipeline(PipelineParallel),
    /// Shards of every layer, one per device, summed through `collective`
    /// (NCCL between GPUs); `None` sums in process, a fresh
    /// [`LocalCollective`] per step.
    Tensor {
        /// The shards.
        shards: TensorParallel,
        /// The all-reduce between them.
        collective: Option<Box<dyn Collective>>,
    },
}

impl Parts {
    /// The first part: its configuration is the model's.
    pub fn first(&self) -> &Model {
        match self {
            Self::Whole(m) => m,
            Self::Pipeline(p) => &p.stages[0],
            Self::Tensor { shards, .. } => &shards.shards[0],
        }
    }

    /// Every part, in order (stages first to last, or shards by rank).
    pub fn all(&self) -> &[Model] {
        match self {
            Self::Whole(m) => std::slice::from_ref(m.as_ref()),
            Self::Pipeline(p) => &p.stages,
            Self::Tensor { shards, .. } => &shards.shards,
        }
    }

    /// Sets of KV caches a sequence needs: one per tensor-parallel rank
    /// (each holds its heads), else one.
    pub fn ranks(&self) -> usize {
        match self {
            Self::Tensor { shards, .. } => shards.shards.len(),
            _ => 1,
        }
    }

    /// The parts whose layers rank `rank`'s caches hold: every pipeline
    /// stage (one set of caches, stage by stage), or the rank's shard.
    pub fn of_rank(&self, rank: usize) -> &[Model] {
        match self {
            Self::Tensor { shards, .. } => std::slice::from_ref(&shards.shards[rank]),
            other => other.all(),
        }
    }

    /// One step: `batches[rank]` is the batch with rank `rank`'s caches
    /// ([`Parts::ranks`] of them); returns each sequence's logits as
    /// [`Model::forward`] does.
    ///
    /// # Errors
    /// As [`Model::forward`]; when the batches do not match the ranks.
    pub fn forward(
        &self,
        mut batches: Vec<&mut [SeqInput<'_>]>,
    ) -> Result<Vec<Tensor>, EngineError> {
        if batches.len() != self.ranks() {
            return Err(EngineError::Request(format!(
                "{} sets of caches for {} ranks",
                batches.len(),
                self.ranks()
            )));
        }
        match self {
            Self::Whole(m) => m.forward(batches.remove(0)),
            Self::Pipeline(p) => p.forward(batches.remove(0)),
            Self::Tensor {
                shards,
                collective: Some(c),
            } => shards.forward_with(batches, c.as_ref()),
            Self::Tensor {
                shards,
                collective: None,
            } => shards.forward(batches),
        }
    }

    /// Adds a LoRA adapter to every part; returns its index.
    ///
    /// # Errors
    /// As [`Model::add_adapter`].
    pub fn add_adapter(&mut self, adapter: &LoraAdapter) -> Result<usize, EngineError> {
        match self {
            Self::Whole(m) => m.add_adapter(adapter),
            Self::Pipeline(p) => p.add_adapter(adapter),
            Self::Tensor { shards, .. } => shards.add_adapter(adapter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_split_in_proportion_to_memory() {
        assert_eq!(split_layers(64, &[1, 1]).unwrap(), [0..32, 32..64]);
        assert_eq!(split_layers(64, &[3, 1]).unwrap(), [0..48, 48..64]);
        assert_eq!(split_layers(10, &[1, 1, 1]).unwrap(), [0..3, 3..7, 7..10]);
        // Every device gets a layer, however little memory it has.
        assert_eq!(split_layers(3, &[100, 1, 1]).unwrap(), [0..1, 1..2, 2..3]);
        assert!(split_layers(2, &[1, 1, 1]).is_err());
    }

    #[test]
    fn the_local_all_reduce_sums_in_rank_order_across_threads() {
        let dev = candle_core::Device::Cpu;
        let c = LocalCollective::new(3);
        let sums: Vec<Vec<f32>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..3)
                .map(|rank| {
                    let c = &c;
                    let dev = &dev;
                    s.spawn(move || {
                        // Three rounds back to back.
                        (0..3)
                            .map(|round| {
                                let t = Tensor::full((rank * 10 + round) as f32, 2, dev).unwrap();
                                c.all_reduce_sum(rank, &t)
                                    .unwrap()
                                    .to_vec1::<f32>()
                                    .unwrap()[0]
                            })
                            .collect()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for got in sums {
            assert_eq!(got, [30.0, 33.0, 36.0]);
        }
        // A shard that gives up releases the others with an error.
        let c = LocalCollective::new(2);
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                c.all_reduce_sum(0, &Tensor::zeros(1, candle_core::DType::F32, &dev).unwrap())
            });
            std::thread::sleep(std::time::Duration::from_millis(20));
            c.abort();
            assert!(h.join().unwrap().is_err());
        });
    }
}
