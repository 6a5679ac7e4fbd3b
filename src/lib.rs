//! nl2py's core: everything that runs the same natively and in the browser (wasm32).
//! No file or process I/O lives here: functions take text and bytes and return values.

pub mod data;
pub mod error;
pub mod text;

pub use error::{Error, Result};
