//! Where a command gets its model: a bundle file, or the best checkpoint of a run folder.

use std::path::Path;

use anyhow::Context;
use burn::tensor::Device;
use nl2py::decode::Translator;

/// The model this repository ships, which the web page serves: `nl2py generate` uses it when
/// given no `--model`.
pub const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../model/default.nl2py");

/// Loads `path`: a bundle file (`nl2py export`'s output) or a run folder (`nl2py train --out`).
pub fn load(path: &Path, device: &Device) -> anyhow::Result<Translator> {
    if path.is_dir() {
        return Ok(crate::run_folder::load_best(path, device)?.0);
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the model {} (pass --model FILE)", path.display()))?;
    nl2py::bundle::load(&bytes, device).with_context(|| format!("cannot load {}", path.display()))
}
