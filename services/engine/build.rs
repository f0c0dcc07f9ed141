//! Compiles the CUDA attention kernels (`kernels/*.cu`) to PTX with nvcc
//! when the `cuda` feature is on; does nothing otherwise. The PTX is
//! embedded in the library (`include_str!`) and loaded through cudarc at
//! run time, so the binary runs on any GPU the driver can JIT it for.
//!
//! nvcc is `$NVCC`, else `$CUDA_ROOT/bin/nvcc`, else `nvcc` on the PATH;
//! the target is `compute_$CUDA_COMPUTE_CAP` (default 80: A100 and newer).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=kernels/paged_attention.cu");
    println!("cargo::rerun-if-env-changed=NVCC");
    println!("cargo::rerun-if-env-changed=CUDA_ROOT");
    println!("cargo::rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let nvcc = std::env::var_os("NVCC")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CUDA_ROOT").map(|r| PathBuf::from(r).join("bin/nvcc")))
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80".into());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("paged_attention.ptx");
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", "-std=c++17", "--use_fast_math"])
        .arg(format!("-arch=compute_{cap}"))
        .arg("-o")
        .arg(&out)
        .arg("kernels/paged_attention.cu")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "{} failed on kernels/paged_attention.cu ({s})",
            nvcc.display()
        ),
        Err(e) => panic!(
            "cannot run {} ({e}): the `cuda` feature needs the CUDA toolkit (set NVCC or CUDA_ROOT; scripts/check-cuda.sh installs one from PyPI)",
            nvcc.display()
        ),
    }
}
