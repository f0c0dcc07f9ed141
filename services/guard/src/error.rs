//! The guard's errors.

use std::path::PathBuf;

/// What can go wrong loading or changing the guards.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// A lexicon line that does not parse; nothing of the file is used.
    #[error("{}:{line}: {message}", file.display())]
    Lexicon {
        /// The file.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What is wrong, and how to write it.
        message: String,
    },
    /// A lexicon name that is not `[a-z0-9_-]`, 1–64 characters.
    #[error(
        "`{0}` is not a lexicon name: use 1–64 of a-z, 0-9, `_` and `-` (the rule id becomes `lexicon.NAME`)"
    )]
    BadName(String),
    /// No lexicon of that name.
    #[error("there is no lexicon `{0}`")]
    NoLexicon(String),
    /// An injection model file that cannot be used, or a vector that does
    /// not fit it.
    #[error("{origin}: {message}")]
    Model {
        /// The file (or `training`, `the injection model`).
        origin: String,
        /// What is wrong, and what to do.
        message: String,
    },
    /// The configured injection model was trained over another embedder
    /// than the one this node runs.
    #[error(
        "guard.injection_model {path} was trained over {trained}, but this node embeds with {running}: retrain it with `zhishu guard train --out {path}`, or set guard.injection_model = \"off\""
    )]
    ModelEmbedder {
        /// The model file.
        path: String,
        /// The embedder it was trained over.
        trained: String,
        /// The embedder configured.
        running: String,
    },
    /// The lexicon folder cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
