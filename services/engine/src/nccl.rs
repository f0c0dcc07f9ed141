//! The NCCL all-reduce between GPUs of one process (`cuda` builds): the
//! [`Collective`] tensor parallelism uses across devices.
//!
//! One communicator per device, made together by `ncclCommInitAll`; shard
//! `rank` only ever uses communicator `rank`, from its own thread (as
//! [`crate::TensorParallel`] runs shards), which is how NCCL expects a
//! single process to drive several GPUs. The sum runs on each device's
//! candle stream, so it is ordered with the kernels before and after it.

use crate::parallel::Collective;
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::DeviceRepr;
use candle_core::cuda_backend::cudarc::nccl::{Comm, NcclType, ReduceOp};
use candle_core::cuda_backend::{CudaDType, CudaStorage};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

/// NCCL communicators, one per device, by rank.
pub struct NcclCollective {
    comms: Vec<Comm>,
}

// SAFETY: a communicator is a handle NCCL allows any thread to use as long
// as calls on it do not overlap; `all_reduce_sum(rank, …)` is only called
// by the thread running shard `rank`, one call at a time.
unsafe impl Send for NcclCollective {}
unsafe impl Sync for NcclCollective {}

fn nccl_err(e: impl std::fmt::Debug) -> candle_core::Error {
    candle_core::Error::Msg(format!("NCCL: {e:?}"))
}

impl NcclCollective {
    /// Communicators for `devices` (rank = position), which must be CUDA
    /// devices.
    ///
    /// # Errors
    /// When a device is not a GPU or NCCL cannot initialise.
    pub fn new(devices: &[Device]) -> Result<Self> {
        let streams = devices
            .iter()
            .map(|d| Ok(d.as_cuda_device()?.cuda_stream()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            comms: Comm::from_devices(streams).map_err(nccl_err)?,
        })
    }
}

struct AllReduce<'a> {
    comm: &'a Comm,
}

fn reduce<T: CudaDType + DeviceRepr + NcclType>(
    comm: &Comm,
    s: &CudaStorage,
    l: &Layout,
) -> Result<CudaStorage> {
    let (start, end) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("all-reduce of a non-contiguous tensor".into()))?;
    let src = s.as_cuda_slice::<T>()?.slice(start..end);
    let device = s.device().clone();
    // SAFETY: every element is written by the all-reduce before it is read.
    let mut dst = unsafe { device.alloc::<T>(end - start) }?;
    comm.all_reduce(&src, &mut dst, &ReduceOp::Sum)
        .map_err(nccl_err)?;
    Ok(CudaStorage::wrap_cuda_slice(dst, device))
}

impl CustomOp1 for AllReduce<'_> {
    fn name(&self) -> &'static str {
        "nccl-all-reduce"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        candle_core::bail!("the NCCL all-reduce runs on GPUs; use LocalCollective on the CPU")
    }

    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        let out = match s.dtype() {
            DType::F32 => reduce::<f32>(self.comm, s, l)?,
            DType::BF16 => reduce::<half::bf16>(self.comm, s, l)?,
            DType::F16 => reduce::<half::f16>(self.comm, s, l)?,
            d => candle_core::bail!("NCCL all-reduce of {d:?} tensors is not supported"),
        };
        Ok((out, l.shape().clone()))
    }
}

impl Collective for NcclCollective {
    fn size(&self) -> usize {
        self.comms.len()
    }

    fn all_reduce_sum(&self, rank: usize, t: &Tensor) -> Result<Tensor> {
        let comm = self
            .comms
            .get(rank)
            .ok_or_else(|| candle_core::Error::Msg(format!("no NCCL rank {rank}")))?;
        t.contiguous()?.apply_op1_no_bwd(&AllReduce { comm })
    }

    fn abort(&self) {
        // NCCL has no way to release peers blocked in a collective short
        // of destroying the communicators; a failed step is fatal to the
        // engine on GPUs, and the peers' next kernel launch fails too.
    }
}
