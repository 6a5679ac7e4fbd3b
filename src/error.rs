//! The core crate's one error type. The CLI wraps it in `anyhow`; the page turns it into text.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Python source that Python's own tokenizer would also reject.
    #[error("line {line}: {message}")]
    Tokenize { line: usize, message: String },
    /// A vocabulary file that is not what `Vocab::to_json` writes.
    #[error("vocabulary: {0}")]
    Vocab(String),
    #[error("the prompt is empty: describe the code you want, e.g. \"sort list `d` by value\"")]
    EmptyPrompt,
    #[error("none of the prompt's words is known to the model ({0}); try English words")]
    UnknownPrompt(String),
    /// A model bundle that cannot be loaded, and why.
    #[error("model bundle: {0}")]
    Bundle(String),
    /// A retrieval index that cannot be read, and why.
    #[error("retrieval index: {0}")]
    Index(String),
    /// Weights that cannot be copied or averaged between models.
    #[error("weights: {0}")]
    Weights(String),
    /// Search settings no search can run with.
    #[error("search settings: {0}")]
    Search(String),
    /// Training settings or data a run cannot start with, or a run that failed.
    #[error("training: {0}")]
    Training(String),
    /// A tensor could not be read back from the device.
    #[error("device: {0}")]
    Device(String),
}

pub type Result<T> = std::result::Result<T, Error>;
