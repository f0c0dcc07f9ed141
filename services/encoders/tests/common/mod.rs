//! Shared helpers of the encoder tests.

use std::path::PathBuf;

/// The offline all-MiniLM-L6-v2 from `scripts/fetch-assets.sh`.
pub fn minilm() -> PathBuf {
    let assets = std::env::var("ZHISHU_ASSETS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets")
        });
    let dir = assets.join("models/all-MiniLM-L6-v2");
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/fetch-assets.sh",
        dir.display()
    );
    dir
}
