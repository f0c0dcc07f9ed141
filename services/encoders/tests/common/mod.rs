//! Shared helpers of the encoder tests.

use std::path::PathBuf;

/// The offline all-MiniLM-L6-v2 from `scripts/fetch-assets.sh`.
#[allow(dead_code)] // each test crate uses its own subset
pub fn minilm() -> PathBuf {
    asset("models/all-MiniLM-L6-v2")
}

/// The offline multilingual-e5-small from `scripts/fetch-assets.sh`.
#[allow(dead_code)]
pub fn e5_small() -> PathBuf {
    asset("models/multilingual-e5-small")
}

fn asset(path: &str) -> PathBuf {
    let assets = std::env::var("ZHISHU_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets")
        });
    let dir = assets.join(path);
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/fetch-assets.sh",
        dir.display()
    );
    dir
}
