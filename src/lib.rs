//! nl2py's core: everything that runs the same natively and in the browser (wasm32).
//! No file or process I/O lives here: functions take text and bytes and return values. The one
//! exception is training (feature `train`, native only), which like burn-train's Learner that
//! it drives writes its run folder and reports progress.
//!
//! # Where to start reading
//!
//! Every caller, the `nl2py` CLI (`model-export/`) and the page (`web/`) alike, goes from a
//! prompt to Python through one type, [`decode::Translator`]:
//!
//! 1. [`bundle::load`] (or [`bundle::verify`] then [`bundle::load_verified`], as the page does)
//!    turns a model file into a `Translator`: the model, both vocabularies, the retrieval index
//!    and the reranker.
//! 2. [`decode::Translator::generate`] with [`decode::GenerateOptions::default`], the search the
//!    CLI, `nl2py eval` and the page share, returns a [`decode::Generation`]: the code, its
//!    tokens with their probabilities and alternatives, and the cross-attention the page draws.
//!
//! Inside `generate`, in the order a prompt meets them:
//!
//! - [`text::prompt`]: the prompt's words, with names in backticks and strings in quotes as
//!   slots ([`text::prompt::Slots`]);
//! - [`retrieve`]: the nearest training pairs, whose code the encoder reads after the prompt;
//! - [`model`]: the Transformer encoder–decoder ([`model::Seq2Seq`]) and the CPU decoder
//!   ([`model::CpuDecoder`]) that steps generation on the CPU;
//! - [`decode`]: the search (greedy, sampling, beam), the Python-aware rules every step applies,
//!   and reranking by a reverse model;
//! - [`text::code`]: code tokens back to Python ([`text::code::detokenize`]).
//!
//! Around it: [`data`] reads the data sets and prepares splits and vocabularies, `train` is the
//! training recipe, [`metrics`] scores generated code, [`bundle`] writes and checks the model
//! file, and [`Error`] is every error the crate returns.
//!
//! The repository's `docs/architecture.md` follows the same path with the folders' layout;
//! `MODEL.md` is the shipped model's card.

pub mod bundle;
pub mod data;
pub mod decode;
pub mod error;
pub mod metrics;
pub mod model;
pub mod retrieve;
pub mod text;
#[cfg(feature = "train")]
pub mod train;

pub use error::{Error, Result};
