//! Text encoders: embedding and reranking models on candle.
//!
//! Nothing is implemented here yet: this crate is the room for issue #3
//! (BERT / XLM-R embedders and cross-encoder rerankers with dynamic
//! batching). It will depend only on `zhishu-core`, candle and tokenizers.
#![warn(missing_docs)]
