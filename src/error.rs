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
}

pub type Result<T> = std::result::Result<T, Error>;
