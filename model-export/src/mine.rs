//! `nl2py mine DIR`: pretraining pairs from a Python source tree. Each `def`/`class` whose body
//! opens with a docstring gives its first sentence as intent and the definition without
//! docstrings as snippet (`nl2py::data::mine`). Written as JSONL that `nl2py prepare` reads as
//! pretraining pairs when the file is named `mined-*.jsonl` in the data folder.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nl2py::data::mine::mine_source;

#[derive(clap::Args)]
pub struct Args {
    /// The source tree to read (every `*.py` below it), e.g. Python's standard library:
    /// `python3 -c "import sysconfig; print(sysconfig.get_paths()['stdlib'])"`.
    dir: PathBuf,
    /// The JSONL file to write; name it `mined-<something>.jsonl` inside a data folder.
    #[arg(long)]
    out: PathBuf,
    /// Print this many sample pairs.
    #[arg(long, default_value_t = 5)]
    show: usize,
}

/// Every `.py` file below `dir`, in a stable order.
fn python_files(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            python_files(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "py") {
            files.push(path);
        }
    }
    Ok(())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let mut files = Vec::new();
    python_files(&args.dir, &mut files).with_context(|| format!("cannot read {}", args.dir.display()))?;
    // Written aside and renamed at the end, so that a killed run leaves no partial file behind.
    let partial = args.out.with_extension("partial");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?,
    );
    let (mut unreadable, mut without_pairs, mut pairs) = (0, 0, 0);
    let mut samples = Vec::new();
    for file in &files {
        let Ok(source) = std::fs::read_to_string(file) else {
            unreadable += 1; // not UTF-8
            continue;
        };
        let mined = mine_source(&source);
        if mined.is_empty() {
            without_pairs += 1;
        }
        let relative = file.strip_prefix(&args.dir).unwrap_or(file).display().to_string();
        for pair in mined {
            let record = serde_json::json!({
                "intent": pair.intent,
                "snippet": pair.snippet,
                "source": format!("{relative}:{}", pair.line),
            });
            writeln!(out, "{record}")?;
            if samples.len() < args.show && pairs % 997 == 0 {
                samples.push(record);
            }
            pairs += 1;
        }
    }
    out.flush()?;
    drop(out);
    std::fs::rename(&partial, &args.out).with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{} Python files: {pairs} pairs; {without_pairs} files without documented definitions (or rejected by the tokenizer), {unreadable} not UTF-8",
        files.len()
    );
    for sample in samples {
        println!(
            "\n# {}  ({})\n{}",
            sample["intent"].as_str().unwrap_or_default(),
            sample["source"].as_str().unwrap_or_default(),
            sample["snippet"].as_str().unwrap_or_default()
        );
    }
    println!("written to {}", args.out.display());
    Ok(())
}
