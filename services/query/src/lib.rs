//! The query service: authentication, the RAG pipeline, prompt assembly
//! and the OpenAI-compatible API.
//!
//! Nothing is implemented here yet: this crate is the room for issues #6
//! (identity) and #8 (RAG chat). Until then `zhishu ask` refuses with exit
//! code 69 and no query route is served.
#![warn(missing_docs)]
