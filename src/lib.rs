//! nl2py's core: everything that runs the same natively and in the browser (wasm32).
//! No file or process I/O lives here: functions take text and bytes and return values. The one
//! exception is training (feature `train`, native only), which like burn-train's Learner that
//! it drives writes its run folder and reports progress.

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
