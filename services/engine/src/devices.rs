//! Devices by name, the memory they have free, and what a part of a model
//! takes on them: what the engine checks before it loads anything.
//!
//! Why check before loading: a 32B model in bf16 is 64 GB; finding out
//! that it does not fit by running out of device memory half-way through
//! the load leaves an operator with a CUDA error and a minute lost. The
//! weights a part holds follow from the model's shape, so the engine
//! refuses at start, naming the bytes needed and free on each device.

use crate::EngineError;
use crate::config::ModelConfig;
use crate::model::Placement;
use candle_core::{DType, Device};

/// The device called `name`: `cpu` or `cuda:N`.
///
/// # Errors
/// [`EngineError::Device`] for another name, for `cuda:N` in a build
/// without the `cuda` feature, or when the driver has no GPU `N`.
pub fn parse(name: &str) -> Result<Device, EngineError> {
    let err = |message: String| EngineError::Device {
        device: name.to_owned(),
        message,
    };
    if name == "cpu" {
        return Ok(Device::Cpu);
    }
    let Some(ordinal) = name
        .strip_prefix("cuda:")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return Err(err("not a device: use \"cpu\" or \"cuda:N\"".into()));
    };
    cuda(ordinal).map_err(err)
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> Result<Device, String> {
    Device::new_cuda(ordinal).map_err(|e| {
        format!("the NVIDIA driver cannot open GPU {ordinal} ({e}); check `nvidia-smi` and CUDA_VISIBLE_DEVICES")
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize) -> Result<Device, String> {
    Err("this binary was built without GPU support: build it with `cargo build --release --features cuda` on a machine with the CUDA toolkit, or set engine.devices = [\"cpu\"]".into())
}

/// The name [`parse`] reads back: `cpu` or `cuda:N`.
pub fn label(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
        candle_core::DeviceLocation::Cpu => "cpu".into(),
    }
}

/// Bytes free on `device`: what the driver reports for a GPU,
/// `MemAvailable` for the CPU; `None` when unknown.
pub fn free_memory(device: &Device) -> Option<u64> {
    match device {
        Device::Cpu => host_available_memory(),
        #[cfg(feature = "cuda")]
        Device::Cuda(d) => d
            .cuda_stream()
            .context()
            .mem_get_info()
            .ok()
            .map(|(free, _total)| free as u64),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// `MemAvailable` of `/proc/meminfo` (Linux), in bytes.
pub fn host_available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The compute dtype on `device`: f32 on the CPU (its kernels), bf16 on
/// GPUs.
pub fn compute_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Bytes of dense weights the part of the model at `placement` holds in
/// `dtype`: its layers' share (heads and MLP width split over the
/// tensor-parallel size), the embedding on the first stage, the final
/// norm and output layer on the last (the embedding again when tied).
pub fn part_weight_bytes(config: &ModelConfig, placement: &Placement, dtype: DType) -> u64 {
    let c = config;
    let (h, hd) = (c.hidden_size as u64, c.head_dim as u64);
    let size = placement.size.max(1) as u64;
    let attention = h * hd * (2 * c.num_heads as u64 + 2 * c.num_kv_heads as u64);
    let mlp = 3 * h * c.intermediate_size as u64;
    let layer = (attention + mlp) / size + 2 * h;
    let layers = placement.layers.len() as u64 * layer;
    let embedding = c.vocab_size as u64 * h;
    let holds_first = placement.layers.start == 0;
    let first = if holds_first { embedding } else { 0 };
    // A tied output layer is the embedding itself, counted once where one
    // part holds both ends.
    let last = match (placement.layers.end == c.num_layers, c.tie_word_embeddings) {
        (false, _) => 0,
        (true, true) if holds_first => h,
        (true, _) => h + embedding,
    };
    (layers + first + last) * dtype.size_in_bytes() as u64
}

/// Checks that each part's weights fit its device: `parts` are (device,
/// bytes it will hold), parts on the same device adding up.
///
/// # Errors
/// [`EngineError::Device`] naming the first device that lacks room, with
/// the bytes needed and free on every device.
pub fn check_fit(parts: &[(Device, u64)]) -> Result<(), EngineError> {
    let mut seen: Vec<(String, u64, Option<u64>)> = Vec::new();
    for (device, bytes) in parts {
        let name = label(device);
        match seen.iter_mut().find(|(n, _, _)| *n == name) {
            Some(entry) => entry.1 += bytes,
            None => seen.push((name, *bytes, free_memory(device))),
        }
    }
    let short = seen
        .iter()
        .find(|(_, needed, free)| free.is_some_and(|f| *needed > f));
    let Some((device, _, _)) = short else {
        return Ok(());
    };
    let each: Vec<String> = seen
        .iter()
        .map(|(d, needed, free)| {
            let free = free.map_or_else(|| "unknown".into(), gib);
            format!("{d} needs {} and has {free} free", gib(*needed))
        })
        .collect();
    Err(EngineError::Device {
        device: device.clone(),
        message: format!(
            "the model's weights do not fit ({}); use more devices (engine.devices with engine.parallel = \"tensor\" or \"pipeline\"), a smaller or quantised model, or free the device",
            each.join("; ")
        ),
    })
}

/// `bytes` as GiB with two decimals, and the exact count.
pub fn gib(bytes: u64) -> String {
    format!(
        "{:.2} GiB ({bytes} bytes)",
        bytes as f64 / (1u64 << 30) as f64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_read_back() {
        assert_eq!(label(&parse("cpu").unwrap()), "cpu");
        for bad in ["gpu", "cuda:", "cuda:x", "CPU"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("not a device"), "{bad}: {e}");
        }
        #[cfg(not(feature = "cuda"))]
        {
            let e = parse("cuda:0").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }

    #[test]
    fn part_bytes_add_up_to_the_whole_model() {
        // Qwen3-32B's shape.
        let json = serde_json::json!({
            "architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936,
            "hidden_size": 5120, "intermediate_size": 25600,
            "num_hidden_layers": 64, "num_attention_heads": 64,
            "num_key_value_heads": 8, "head_dim": 128, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0, "max_position_embeddings": 40960,
            "tie_word_embeddings": false
        });
        let c = ModelConfig::from_hf_value(&json).unwrap();
        let whole = part_weight_bytes(&c, &Placement::whole(&c), DType::BF16);
        // 32.8B parameters in bf16.
        assert!((65_000_000_000..66_500_000_000).contains(&whole), "{whole}");
        let stage = |r: std::ops::Range<usize>| {
            part_weight_bytes(
                &c,
                &Placement {
                    layers: r,
                    rank: 0,
                    size: 1,
                },
                DType::BF16,
            )
        };
        assert_eq!(stage(0..30) + stage(30..64), whole);
        // Two tensor-parallel shards each hold half the layers' weights
        // (and the whole embedding and output layer).
        let shard = part_weight_bytes(
            &c,
            &Placement {
                layers: 0..64,
                rank: 0,
                size: 2,
            },
            DType::BF16,
        );
        assert!(shard < whole * 11 / 20 && shard > whole / 2, "{shard}");
        // Tied embeddings (the output layer is the embedding) are counted
        // once where one part holds both ends, twice over two stages.
        let mut tied = json;
        tied["tie_word_embeddings"] = true.into();
        let t = ModelConfig::from_hf_value(&tied).unwrap();
        let embedding = 151_936 * 5120 * 2;
        let tied_whole = part_weight_bytes(&t, &Placement::whole(&t), DType::BF16);
        assert_eq!(tied_whole, whole - embedding);
        let tied_stage = |r: std::ops::Range<usize>| {
            let p = Placement {
                layers: r,
                rank: 0,
                size: 1,
            };
            part_weight_bytes(&t, &p, DType::BF16)
        };
        assert_eq!(tied_stage(0..30) + tied_stage(30..64), whole);
    }

    #[test]
    fn a_model_larger_than_memory_is_refused_naming_the_bytes() {
        let free = host_available_memory().unwrap();
        let e = check_fit(&[(Device::Cpu, free / 2), (Device::Cpu, free)])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("device `cpu`:"), "{e}");
        assert!(
            e.contains("need") && e.contains("free") && e.contains("GiB"),
            "{e}"
        );
        check_fit(&[(Device::Cpu, 1 << 20)]).unwrap();
    }
}
