//! The data sets' manifest, `data/sets.toml` (compiled in): each set's files, licence and
//! whether its pairs may go into a bundle's retrieval index; and where the sets are on disk.
//! `scripts/fetch-data.py` fetches and verifies the same sets from the same file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The part of `data/sets.toml` the core reads (the fetch script reads the rest: addresses,
/// hashes, listings).
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(rename = "set")]
    sets: Vec<DataSet>,
}

#[derive(Debug, Deserialize)]
struct DataSet {
    licence: String,
    /// Its pairs may be redistributed in a bundle's index, each carrying `licence`.
    indexed: bool,
    #[serde(default)]
    files: Vec<SetFile>,
    /// A folder-shaped set.
    archive: Option<Archive>,
}

#[derive(Debug, Deserialize)]
struct SetFile {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Archive {
    folder: String,
}

impl DataSet {
    /// Whether `name` is one of its files, or its folder.
    fn holds(&self, name: &str) -> bool {
        self.files.iter().any(|file| file.name == name)
            || self.archive.as_ref().is_some_and(|a| a.folder == name)
    }
}

fn manifest() -> &'static Manifest {
    static MANIFEST: OnceLock<Manifest> = OnceLock::new();
    MANIFEST.get_or_init(|| {
        toml::from_str(include_str!("../../data/sets.toml")).expect("data/sets.toml is checked by its tests")
    })
}

/// The licence under which a data file's (or data folder's) pairs may be redistributed inside a
/// model bundle's retrieval index, from the manifest; `None` where the set is not to be indexed
/// (CoNaLa test, English–Python: no licence stated) or is not in the manifest (pairs mined from a
/// machine's packages), which keeps those pairs out of the index.
pub fn redistribution_licence(name: &str) -> Option<&'static str> {
    manifest().sets.iter().find(|set| set.indexed && set.holds(name)).map(|set| set.licence.as_str())
}

/// The folder of the data sets: `$NL2PY_DATA` when set and not empty; else `../shared/data`
/// from `base` (a checkout's root, or `Path::new("")` for the working directory) when that is
/// a folder; else `data/sets` from `base`, where `scripts/fetch-data.py` puts them (its
/// `--where` follows the same rule).
pub fn data_dir(base: &Path) -> PathBuf {
    match std::env::var_os("NL2PY_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let shared = base.join("../shared/data");
            if shared.is_dir() { shared } else { base.join("data/sets") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_come_from_the_manifest() {
        assert_eq!(manifest().sets.len(), 8);
        assert_eq!(redistribution_licence("english_python_data.txt"), None);
        assert_eq!(redistribution_licence("conala-test.json"), None, "a test set is never indexed");
        assert_eq!(redistribution_licence("mined-stdlib.jsonl"), None);
        assert!(redistribution_licence("conala-train.json").unwrap().starts_with("CC BY-SA 4.0"));
        assert!(redistribution_licence("django-all.anno").unwrap().starts_with("MIT"));
        assert!(
            redistribution_licence("goldmine_snippet_count100k_topk1_temp2.jsonl")
                .unwrap()
                .starts_with("Apache-2.0")
        );
        assert!(redistribution_licence("thealgorithms-python").unwrap().starts_with("MIT (TheAlgorithms"));
        assert!(redistribution_licence("30-seconds-of-python").unwrap().starts_with("CC0"));
    }
}
