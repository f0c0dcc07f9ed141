//! Retrieval: the vector store (Qdrant Edge in-process, or a Qdrant
//! server), the lexical store
//! (Tantivy BM25 with Chinese and English analysis), and the access-control
//! scope that both apply *inside* the store.
//!
//! Both stores hold the same [`ChunkDoc`]s, keyed by the same deterministic
//! chunk id, so a hit from either can be fused with the other (the lexical
//! index also keeps each chunk's packed token vectors for late
//! interaction, [`ChunkDoc::token_vectors`]). Every search
//! takes a [`Scope`] (the caller's access groups) that is turned into a
//! store-native filter and combined with the caller's [`SearchFilter`] by
//! conjunction: a filter can only narrow what the scope allows, never widen
//! it.
#![warn(missing_docs)]

mod chunk;
mod error;
pub mod eval;
mod hybrid;
mod lexical;
mod open;
mod pool;
mod remote;
mod scope;
pub mod synthetic;
mod vector;

pub use chunk::{ChunkDoc, PromptIds, chunk_id, prompt_label, prompt_piece, tokenizer_fingerprint};
pub use error::RetrievalError;
pub use hybrid::{
    Candidates, Hit, HybridSearcher, Mode, SearchOptions, SearchResults, StageScores, Timings,
};
pub use lexical::sparse::{AverageTerms, Bm25Encoder, FieldAverages, FieldLengths, SparseVector};
pub use lexical::vocabulary::{Vocabulary, VocabularyError, VocabularyFile};
pub use lexical::{Lexical, LexicalHit, LexicalIds, LexicalIndex, analyze};
pub use open::{
    OpenError, bm25_encoder, open_reranker, open_searcher, open_vectors, open_vectors_for_tests,
    open_vectors_with, open_vocabulary, token_form, vectors_config_for_tests,
};
pub use remote::QdrantIndex;
pub use scope::{Scope, SearchFilter, ancestors};
pub use vector::bm25::{BM25, Bm25Hit, Bm25Query, Bm25Target};
pub use vector::{EdgeIndex, VectorHit, VectorIndex};
