//! `nl2py index`: adds a file of your own pairs to a bundle's retrieval index, without training,
//! so that the model reads your code as examples and the page shows them beside its answers.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use nl2py::data::pairs::{self, Indexed};

use crate::model_file::SHIPPED;

#[derive(clap::Args)]
pub struct Args {
    /// The bundle whose index grows (a model trained to read retrieved examples).
    #[arg(long, default_value = SHIPPED)]
    model: PathBuf,
    /// A file of your own pairs: JSON Lines or CSV (named `.csv`), as `nl2py prepare --pairs`
    /// reads them; repeat it for more files.
    #[arg(long, value_name = "FILE", required = true)]
    pairs: Vec<PathBuf>,
    /// The licence of records that name none (without it they are left out: each indexed pair
    /// is shown, with its licence, beside answers).
    #[arg(long, value_name = "TEXT")]
    licence: Option<String>,
    /// The bundle to write (may be --model itself; written whole or not at all).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let (mut translator, info, _) = crate::model_file::load_with_index(&args.model)?;
    let mut index = translator.index.as_deref().expect("load_with_index checked the index").clone();
    let before = index.len();
    let mut notes = Vec::new();
    for path in &args.pairs {
        let file = crate::prepare::read_pairs(path)?;
        let outcome = file.kind.read(&file.text, None);
        for problem in &outcome.problems {
            eprintln!("{}: {problem}", file.name);
        }
        let indexed = pairs::index_pairs(
            &mut index,
            &outcome.pairs,
            &file.name,
            args.licence.as_deref(),
            |text| translator.tokenize_prompt(text),
            &translator.code_vocab,
        );
        println!("{}", describe(&file.name, outcome.read, outcome.malformed, &indexed));
        if indexed.added == 0 && outcome.malformed == outcome.read {
            bail!(
                "--pairs {}: none of its {} records is a pair; nothing written",
                path.display(),
                outcome.read
            );
        }
        notes.push(format!("{} from {}", indexed.added, file.name));
    }
    let mut metadata = info.metadata.clone();
    let added = format!("{} by `nl2py index`", notes.join(", "));
    metadata
        .entry("indexed pairs".into())
        .and_modify(|earlier| *earlier = format!("{earlier}; {added}"))
        .or_insert(added);
    let after = index.len();
    translator.index = Some(Arc::new(index));
    let (bytes, sha256) = crate::model_file::write_checked(&args.out, &translator, info.precision, metadata)?;
    println!("{}: index {before} → {after} pairs, {bytes} bytes, sha256 {sha256}", args.out.display());
    Ok(())
}

/// One file's outcome, for the user.
fn describe(file: &str, read: usize, malformed: usize, indexed: &Indexed) -> String {
    let mut text = format!("{file}: {read} records, {} indexed", indexed.added);
    if malformed > 0 {
        text += &format!(", {malformed} malformed (named above)");
    }
    if indexed.already > 0 {
        text += &format!(", {} already in the index", indexed.already);
    }
    if !indexed.unlicensed.is_empty() {
        text += &format!(
            ", {} without a licence left out ({}; add `licence` or --licence)",
            indexed.unlicensed.len(),
            indexed.unlicensed.join(", ")
        );
    }
    if indexed.unknown_ids > 0 {
        text += &format!(
            "; {} of their {} code tokens are unknown to the model's vocabulary (it reads them as \
             <unk>; the page shows the code as written)",
            indexed.unknown_ids, indexed.code_ids
        );
    }
    text
}
