//! Helpers the engine's benchmarks share (each bench is its own crate).
#![allow(dead_code)]

use std::time::Instant;

/// The value after `name` on the command line.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// STREAM-style copy bandwidth (bytes read + bytes written per second),
/// best of five copies of 1 GiB.
pub fn copy_bandwidth_gb_s() -> f64 {
    let n = 1 << 30;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dst.copy_from_slice(&src);
        best = best.min(t.elapsed().as_secs_f64());
        std::hint::black_box(&dst);
    }
    2.0 * n as f64 / best / 1e9
}
