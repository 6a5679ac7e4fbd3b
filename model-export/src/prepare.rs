//! `nl2py prepare`: reads every data file and data folder it knows in `--data` and a user's own
//! pairs files (`--pairs`, `nl2py::data::pairs`), writes
//! `<split>.jsonl`, `vocab-prompt.json`, `vocab-code.json` and `report.json` to `--out`, and
//! prints the report.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use nl2py::data::prepare::{self, PrepareConfig, Prepared, Report, SourceFile, Split};
use nl2py::data::{Member, SourceKind, data_dir};

use nl2py::text::vocab::Vocab;

use crate::prepared::{INDEX_FILE, read_vocab};

#[derive(clap::Args)]
pub struct Args {
    /// Folder with the data sets (data/sets.toml lists them); repeat it to add folders, such as
    /// one holding `nl2py mine` output [default: $NL2PY_DATA, else ../shared/data when it is a
    /// folder, else data/sets, where scripts/fetch-data.py puts them]
    #[arg(long)]
    data: Vec<PathBuf>,
    /// A file of your own pairs: JSON Lines (`{"prompt": …, "code": …}`, optional `source`,
    /// `licence`, `tests`) or CSV with those columns (named `.csv`); repeat it for more files.
    /// They join the data sets (train, and dev as CoNaLa train's share), and those with a licence
    /// join the retrieval index.
    #[arg(long, value_name = "FILE")]
    pairs: Vec<PathBuf>,
    /// Prepare from the --pairs files alone, without the data sets.
    #[arg(long, requires = "pairs", conflicts_with = "data")]
    only_pairs: bool,
    /// The licence of the --pairs records that name none (without it they train but are not
    /// indexed: an indexed pair is shown, with its licence, beside answers).
    #[arg(long, value_name = "TEXT", requires = "pairs")]
    pairs_licence: Option<String>,
    /// Folder to write the prepared splits and vocabularies to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Seed of the dev and functions splits.
    #[arg(long, default_value_t = PrepareConfig::default().seed)]
    seed: u64,
    /// Share of CoNaLa train (by question) and of English–Python that becomes dev.
    #[arg(long, default_value_t = PrepareConfig::default().dev_fraction)]
    dev_fraction: f64,
    /// Share of the pairs of TheAlgorithms and 30-seconds-of-python that becomes the functions
    /// split (held-out functions with tests, which `eval --run` scores): whole files, of those
    /// with a tested function.
    #[arg(long, default_value_t = PrepareConfig::default().functions_fraction)]
    functions_fraction: f64,
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
    /// Spell names, numbers and string contents with subword pieces learned by byte-pair
    /// encoding, giving string pieces at most N of the code vocabulary's places (--max-vocab, or
    /// 8,000, caps the whole); without it strings are one token a character.
    #[arg(long, value_name = "N")]
    string_pieces: Option<usize>,
    /// Keep the vocabularies of a model bundle (a snapshot's `model.nl2py`) or of a prepared
    /// folder instead of building new ones: a run resumed on data that has grown since keeps the
    /// ids its weights know.
    #[arg(long, value_name = "BUNDLE_OR_FOLDER")]
    vocabularies: Option<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.dev_fraction) {
        bail!("--dev-fraction must be in [0, 1), got {}", args.dev_fraction);
    }
    if !(0.0..1.0).contains(&args.functions_fraction) {
        bail!("--functions-fraction must be in [0, 1), got {}", args.functions_fraction);
    }
    let default_data = [data_dir(Path::new(""))];
    let data = match (args.only_pairs, args.data.is_empty()) {
        (true, _) => &[][..],
        (false, true) => &default_data[..],
        (false, false) => &args.data[..],
    };
    let mut files = Vec::new();
    for dir in data {
        files.extend(read_sources(dir)?);
    }
    for path in &args.pairs {
        files.push(read_pairs(path)?);
    }
    let mut names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        bail!("two data files are named {}: rename one (a pair's source is its file's name)", twice[0]);
    }
    // By kind then name: the order in which deduplication keeps the first of equal pairs.
    files.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let config = PrepareConfig {
        seed: args.seed,
        dev_fraction: args.dev_fraction,
        functions_fraction: args.functions_fraction,
        min_freq: args.min_freq,
        max_vocab: args.max_vocab,
        slots: !args.no_slots,
        neighbours: args.neighbours,
        max_example_len: args.max_example_len,
        string_pieces: args.string_pieces,
        pairs_licence: args.pairs_licence.clone(),
    };
    let vocabularies = args.vocabularies.as_deref().map(read_vocabularies).transpose()?;
    let prepared = prepare::prepare_with(&files, &config, vocabularies);
    refuse_empty_pairs(&prepared.report)?;
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

/// A user's pairs file, its kind by its name ([`SourceKind::of_pairs_file`]).
pub(crate) fn read_pairs(path: &Path) -> anyhow::Result<SourceFile> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    if path.is_dir() {
        bail!("--pairs {}: a folder, not a pairs file", path.display());
    }
    let text = read_text(path).with_context(|| format!("--pairs {}", path.display()))?;
    Ok(SourceFile {
        kind: SourceKind::of_pairs_file(&name),
        name,
        text,
        companion: None,
        members: Vec::new(),
    })
}

/// Refuses a pairs file of which no record became a pair (nothing is written): it is no pairs
/// file, or every record is wrong, and the reasons are named.
fn refuse_empty_pairs(report: &Report) -> anyhow::Result<()> {
    for source in report.sources.iter().filter(|s| s.kind.is_some_and(SourceKind::is_own_pairs)) {
        let kept: usize = source.kept.values().sum();
        if source.read == 0 {
            bail!("--pairs {}: holds no records; nothing written", source.file);
        }
        if kept == 0 && source.duplicates + source.overlapping == 0 {
            let reasons = source.problems.iter().take(20).map(|p| format!("\n  {p}")).collect::<String>();
            let more = source.problems.len().saturating_sub(20);
            let more = if more > 0 { format!("\n  … and {more} more") } else { String::new() };
            bail!(
                "--pairs {}: none of its {} records is a pair; nothing written{reasons}{more}",
                source.file,
                source.read
            );
        }
    }
    Ok(())
}

/// The files and folders of `dir` that a `SourceKind` names.
fn read_sources(dir: &Path) -> anyhow::Result<Vec<SourceFile>> {
    let entries = fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the data folder {} (fetch the data sets with scripts/fetch-data.py, or pass \
             --data DIR)",
            dir.display()
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if path.is_dir() {
            let Some(kind) = SourceKind::of_folder(&name) else { continue };
            let members = read_members(&path, kind)?;
            files.push(SourceFile { name, kind, text: String::new(), companion: None, members });
            continue;
        }
        let Some(kind) = SourceKind::of_file(&name) else { continue };
        let text = read_text(&path)?;
        let companion = match kind.companion(&name) {
            Some(other) => Some(read_text(&dir.join(other)).with_context(|| format!("{name} needs it"))?),
            None => None,
        };
        files.push(SourceFile { name, kind, text, companion, members: Vec::new() });
    }
    if files.is_empty() {
        bail!(
            "no data files in {} (expected conala-*.json, english_python_data*.txt, *.jsonl, \
             thealgorithms-python/, 30-seconds-of-python/)",
            dir.display()
        );
    }
    Ok(files)
}

/// The files a folder source reads ([`SourceKind::member_files`]), subfolders included, by path.
fn read_members(folder: &Path, kind: SourceKind) -> anyhow::Result<Vec<Member>> {
    let Some((under, ending)) = kind.member_files() else { return Ok(Vec::new()) };
    let mut members = Vec::new();
    let mut pending = vec![folder.join(under)];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_str().is_some_and(|p| p.ends_with(ending)) {
                let inside = path.strip_prefix(folder).unwrap_or(&path);
                let parts: Vec<String> = inside.iter().map(|p| p.to_string_lossy().into_owned()).collect();
                members.push(Member { path: parts.join("/"), text: read_text(&path)? });
            }
        }
    }
    members.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(members)
}

/// The (prompt, code) vocabularies of a prepared folder or of a model bundle.
fn read_vocabularies(from: &Path) -> anyhow::Result<(Vocab, Vocab)> {
    if from.is_dir() {
        return Ok((read_vocab(from, "prompt")?, read_vocab(from, "code")?));
    }
    let bytes = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let translator = nl2py::bundle::load(&bytes, &burn::tensor::Device::flex()).with_context(|| {
        format!("--vocabularies {}: neither a prepared folder nor a model bundle", from.display())
    })?;
    Ok((translator.prompt_vocab.clone(), translator.code_vocab.clone()))
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
        "functions",
        "tests",
    ]);
    for s in &report.sources {
        let kept = |split| s.kept.get(&split).copied().unwrap_or(0).to_string();
        let tests: usize = s.tests.values().sum();
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
            kept(Split::Functions),
            tests.to_string(),
        ]);
    }
    writeln!(text, "{sources}").unwrap();
    writeln!(text, "tests: the asserts of the kept pairs (functions: the held-out ones eval --run scores)")
        .unwrap();
    for s in report.sources.iter().filter(|s| !s.tests.is_empty()) {
        let by_split: Vec<String> =
            s.tests.iter().map(|(split, n)| format!("{} {n}", split.name())).collect();
        writeln!(text, "  {}: {}", s.file, by_split.join(", ")).unwrap();
    }
    for s in &report.sources {
        let Some((ids, unknown)) = s.code_ids.filter(|&(_, unknown)| unknown > 0) else { continue };
        writeln!(
            text,
            "{}: {unknown} of its {ids} code tokens are unknown to the code vocabulary ({:.1} %): a model \
             reads and writes them as <unk>, so it cannot learn to write them (prepare without \
             --vocabularies, and train from scratch, to make room for them)",
            s.file,
            100.0 * unknown as f64 / ids.max(1) as f64
        )
        .unwrap();
    }
    for s in report.sources.iter().filter(|s| !s.skipped.is_empty()) {
        writeln!(text, "{} — left out:", s.file).unwrap();
        for (reason, n) in &s.skipped {
            writeln!(text, "  {reason}: {n}").unwrap();
        }
    }

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
        if r.unlicensed > 0 {
            writeln!(
                text,
                "  {} of your pairs are not indexed: their records name no licence (add `licence`, or \
                 --pairs-licence)",
                r.unlicensed
            )
            .unwrap();
        }
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
        let which = if s.kind.is_some_and(SourceKind::is_own_pairs) { "problems" } else { "first problems" };
        writeln!(text, "{} — {which}:", s.file).unwrap();
        for p in &s.problems {
            writeln!(text, "  {p}").unwrap();
        }
    }
    writeln!(text, "written to {}", out.display()).unwrap();
    text
}
