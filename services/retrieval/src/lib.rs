//! Retrieval: Qdrant (Edge or server), Tantivy BM25, fusion, reranking
//! and access-control filters applied inside the stores.
//!
//! Nothing is implemented here yet: this crate is the room for issue #5.
//! Until then readiness checks only that the local store folders are
//! writable (embedded) or that the Qdrant server accepts connections.
#![warn(missing_docs)]
