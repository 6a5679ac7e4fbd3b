//! Where a command gets its model: a bundle file, or the best checkpoint of a run folder.

use std::path::Path;

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use burn::tensor::Device;
use nl2py::bundle::{self, BundleInfo, Precision};
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

/// A bundle whose model reads retrieved examples, on the CPU, with what the bundle says of itself
/// and its size in bytes: what the commands that change an index start from.
pub fn load_with_index(path: &Path) -> anyhow::Result<(Translator, BundleInfo, usize)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    let (translator, info) = bundle::load_inspected(&bytes, &Device::flex())
        .with_context(|| format!("cannot load {}", path.display()))?;
    if translator.index.is_none() {
        bail!(
            "{} has no retrieval index: its model was trained without retrieved examples, so it reads \
             none (train one with `nl2py train --retrieval`)",
            path.display()
        );
    }
    Ok((translator, info, bytes.len()))
}

/// Writes `translator` as a bundle to `out`, after checking the bytes read back as the page and
/// the CLI will read them; returns the bundle's size and the file's SHA-256.
pub fn write_checked(
    out: &Path,
    translator: &Translator,
    precision: Precision,
    metadata: BTreeMap<String, String>,
) -> anyhow::Result<(usize, String)> {
    let bytes = bundle::export(translator, precision, metadata)?;
    let written = bundle::inspect(&bytes)?;
    crate::files::write(out, &bytes)?;
    Ok((bytes.len(), written.file_sha256))
}
