//! Reading what `nl2py prepare` wrote: splits, vocabularies and the retrieval index.

use std::fs;
use std::path::Path;

use anyhow::Context;
use nl2py::data::prepare::{Example, PrepareConfig, Report, Split};
use nl2py::retrieve::Index;
use nl2py::text::vocab::Vocab;
use nl2py::train::Corpus;

/// The retrieval index's file in a prepared folder.
pub const INDEX_FILE: &str = "index.bin";

/// The folder's retrieval index, checked against its code vocabulary; `None` when it has none.
pub fn read_index(dir: &Path, code_vocab: &Vocab) -> anyhow::Result<Option<Index>> {
    let path = dir.join(INDEX_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(Index::from_bytes(&bytes, code_vocab.len()).with_context(|| format!("in {}", path.display()))?))
}

pub fn read_vocab(dir: &Path, side: &str) -> anyhow::Result<Vocab> {
    let path = dir.join(format!("vocab-{side}.json"));
    let text = fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (run `nl2py prepare` first)", path.display()))?;
    Vocab::from_json(&text).with_context(|| format!("in {}", path.display()))
}

/// The vocabularies of a model trained on the folder with `corpus`, input side first: prompt
/// and code, or code and prompt for a reverse model.
pub fn model_vocabs(dir: &Path, corpus: Corpus) -> anyhow::Result<(Vocab, Vocab)> {
    let (prompt, code) = (read_vocab(dir, "prompt")?, read_vocab(dir, "code")?);
    Ok(if corpus == Corpus::Reverse { (code, prompt) } else { (prompt, code) })
}

pub fn read_split(dir: &Path, split: Split) -> anyhow::Result<Vec<Example>> {
    let path = dir.join(format!("{}.jsonl", split.name()));
    let text = fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (run `nl2py prepare` first)", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a prepared example", path.display(), n + 1))
        })
        .collect()
}

/// How the folder was prepared; folders from before the config was recorded took the defaults.
pub fn read_config(dir: &Path) -> anyhow::Result<PrepareConfig> {
    let path = dir.join("report.json");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("cannot read {} (run `nl2py prepare` first)", path.display()))?;
    let report: Report = serde_json::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(report.config.unwrap_or_default())
}
