//! `nl2py prepare`: reads every data file it knows in `--data`, writes `<split>.jsonl`,
//! `vocab-prompt.json`, `vocab-code.json` and `report.json` to `--out`, and prints the report.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use nl2py::data::SourceKind;
use nl2py::data::prepare::{self, PrepareConfig, Prepared, Report, SourceFile, Split};

use crate::prepared::INDEX_FILE;

#[derive(clap::Args)]
pub struct Args {
    /// Folder with the data sets (see its PROVENANCE.md); repeat it to add folders, such as one
    /// holding `nl2py mine` output.
    #[arg(long, default_value = "../shared/data")]
    data: Vec<PathBuf>,
    /// Folder to write the prepared splits and vocabularies to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Seed of the dev split.
    #[arg(long, default_value_t = PrepareConfig::default().seed)]
    seed: u64,
    /// Share of CoNaLa train (by question) and of English–Python that becomes dev.
    #[arg(long, default_value_t = PrepareConfig::default().dev_fraction)]
    dev_fraction: f64,
    /// Tokens seen fewer times in train and pretrain become <unk>.
    #[arg(long, default_value_t = PrepareConfig::default().min_freq)]
    min_freq: usize,
    /// Largest size of each vocabulary: the train split's tokens first, then the most frequent
    /// pretraining tokens.
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Prompts without slots: quoted names and strings stay words (the ablation baseline).
    #[arg(long)]
    no_slots: bool,
    /// Retrieved neighbours per example (writes the retrieval index `index.bin`; 0: none).
    #[arg(long, default_value_t = 2)]
    neighbours: usize,
    /// Most code tokens of the neighbours, joined, that a retrieval model reads.
    #[arg(long, default_value_t = 96)]
    max_example_len: usize,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.dev_fraction) {
        bail!("--dev-fraction must be in [0, 1), got {}", args.dev_fraction);
    }
    let mut files = Vec::new();
    for dir in &args.data {
        files.extend(read_sources(dir)?);
    }
    // By kind then name: the order in which deduplication keeps the first of equal pairs.
    files.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let config = PrepareConfig {
        seed: args.seed,
        dev_fraction: args.dev_fraction,
        min_freq: args.min_freq,
        max_vocab: args.max_vocab,
        slots: !args.no_slots,
        neighbours: args.neighbours,
        max_example_len: args.max_example_len,
    };
    let prepared = prepare::prepare(&files, &config);
    write(&prepared, &args.out)?;
    let text = if args.json {
        serde_json::to_string_pretty(&prepared.report)? + "\n"
    } else {
        tables(&prepared.report, &args.out)
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The files of `dir` that a `SourceKind` names.
fn read_sources(dir: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let entries = fs::read_dir(dir)
        .with_context(|| format!("cannot read the data folder {} (pass --data DIR)", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let Some(kind) = SourceKind::of_file(&name) else { continue };
        let text = read_text(&path)?;
        let companion = match kind.companion(&name) {
            Some(other) => Some(read_text(&dir.join(other)).with_context(|| format!("{name} needs it"))?),
            None => None,
        };
        files.push(SourceFile { name, kind, text, companion });
    }
    if files.is_empty() {
        bail!(
            "no data files in {} (expected conala-*.json, english_python_data*.txt, *.jsonl)",
            dir.display()
        );
    }
    Ok(files)
}

/// A text file; bad UTF-8 becomes U+FFFD with a warning.
fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("warning: {} is not valid UTF-8; bad bytes become U+FFFD", path.display());
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    })
}

/// Each file is written whole or not at all (`files::write`): a killed run leaves the old one.
fn write(prepared: &Prepared, out: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (split, examples) in &prepared.splits {
        let mut lines = Vec::new();
        for example in examples {
            serde_json::to_writer(&mut lines, example)?;
            lines.push(b'\n');
        }
        crate::files::write(&out.join(format!("{}.jsonl", split.name())), &lines)?;
    }
    crate::files::write(&out.join("vocab-prompt.json"), prepared.prompt_vocab.to_json().as_bytes())?;
    crate::files::write(&out.join("vocab-code.json"), prepared.code_vocab.to_json().as_bytes())?;
    let index_path = out.join(INDEX_FILE);
    match &prepared.index {
        Some(index) => crate::files::write(&index_path, &index.to_bytes())?,
        None if index_path.exists() => fs::remove_file(&index_path)?,
        None => {}
    }
    let report = serde_json::to_string_pretty(&prepared.report)?;
    crate::files::write(&out.join("report.json"), report.as_bytes())
}

fn tables(report: &Report, out: &Path) -> String {
    use std::fmt::Write;
    let mut text = String::new();
    let mut sources = Table::new();
    sources.load_preset(UTF8_FULL_CONDENSED).set_header([
        "source",
        "read",
        "malformed",
        "rejected",
        "duplicates",
        "overlap",
        "train",
        "dev",
        "test",
        "pretrain",
    ]);
    for s in &report.sources {
        let kept = |split| s.kept.get(&split).copied().unwrap_or(0).to_string();
        sources.add_row([
            s.file.clone(),
            s.read.to_string(),
            s.malformed.to_string(),
            s.rejected.to_string(),
            s.duplicates.to_string(),
            s.overlapping.to_string(),
            kept(Split::Train),
            kept(Split::Dev),
            kept(Split::Test),
            kept(Split::Pretrain),
        ]);
    }
    writeln!(text, "{sources}").unwrap();

    let mut lengths = Table::new();
    lengths.load_preset(UTF8_FULL_CONDENSED).set_header([
        "split",
        "pairs",
        "prompt p50",
        "p90",
        "p99",
        "max",
        "code p50",
        "p90",
        "p99",
        "max",
    ]);
    for (split, r) in &report.splits {
        let (p, c) = (&r.prompt_lengths, &r.code_lengths);
        lengths.add_row([
            split.name().to_string(),
            r.examples.to_string(),
            p.p50.to_string(),
            p.p90.to_string(),
            p.p99.to_string(),
            p.max.to_string(),
            c.p50.to_string(),
            c.p90.to_string(),
            c.p99.to_string(),
            c.max.to_string(),
        ]);
    }
    writeln!(text, "{lengths}").unwrap();
    writeln!(
        text,
        "vocabulary: prompt {} tokens, code {} tokens",
        report.prompt_vocab_size, report.code_vocab_size
    )
    .unwrap();
    if let Some(r) = &report.retrieval {
        let sources: Vec<String> = r.by_source.iter().map(|(s, n)| format!("{s} {n}")).collect();
        writeln!(text, "retrieval index: {} pairs ({})", r.entries, sources.join(", ")).unwrap();
        for (split, n) in &r.near_identical {
            let all = report.splits.get(split).map_or(0, |s| s.examples);
            writeln!(
                text,
                "  {}: {n} of {all} prompts have an indexed prompt with the same words",
                split.name()
            )
            .unwrap();
        }
    }
    for s in report.sources.iter().filter(|s| !s.problems.is_empty()) {
        writeln!(text, "{} — first problems:", s.file).unwrap();
        for p in &s.problems {
            writeln!(text, "  {p}").unwrap();
        }
    }
    writeln!(text, "written to {}", out.display()).unwrap();
    text
}
