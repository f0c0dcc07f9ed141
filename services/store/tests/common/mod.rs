//! The shared test databases live in `zhishu_store::testing`.
pub use zhishu_store::testing::*;
