//! `nl2py snapshot`: a run's progress small enough to commit — the weights of its last finished
//! epoch as one int8 bundle (`model.nl2py`) and `snapshot.json` (the run file, that epoch). A
//! later session on a fresh machine continues from it (`train --resume --snapshot`): those
//! weights, a fresh optimizer, and the learning-rate schedule stepped to where the epoch ended.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use nl2py::bundle::{self, Precision};
use nl2py::model::Seq2Seq;
use nl2py::train::{checkpoint_epochs, checkpoint_model};
use serde::Serialize;
use serde_json::Value;

use crate::prepared::model_vocabs;
use crate::run_folder::{self, RunFile};

const SNAPSHOT_FILE: &str = "snapshot.json";
const WEIGHTS_FILE: &str = "model.nl2py";

#[derive(clap::Args)]
pub struct Args {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// The snapshot folder to write (replaced).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    run: &'a RunFile,
    /// The last finished epoch, whose weights `model.nl2py` holds.
    epoch: usize,
}

/// Writes the snapshot of the run's last resumable epoch to `--out` (replacing what is there).
pub fn run(args: &Args) -> anyhow::Result<()> {
    let run_file = run_folder::read(&args.run)?;
    let epoch = *checkpoint_epochs(&args.run, true)
        .last()
        .with_context(|| format!("{} has no checkpoint yet", args.run.display()))?;
    let device = Device::flex();
    let model = checkpoint_model(&args.run, &run_file.training.model, epoch, &device)?;
    let metadata = [("snapshot".to_string(), format!("epoch {epoch} of {}", args.run.display()))].into();
    let translator = run_folder::translator(&run_file, model, &device)?;
    let bytes = bundle::export(&translator, Precision::Int8, metadata)?;
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let snapshot = serde_json::to_string_pretty(&Snapshot { run: &run_file, epoch })?;
    crate::files::write(&args.out.join(WEIGHTS_FILE), &bytes)?;
    crate::files::write(&args.out.join(SNAPSHOT_FILE), snapshot.as_bytes())?;
    println!("snapshot of epoch {epoch} written to {}", args.out.display());
    Ok(())
}

/// The snapshot in `dir` as a run on the prepared folder `data` (which must hold the snapshot
/// run's vocabularies): its run file, epoch and weights.
pub fn restore(dir: &Path, data: &Path, device: &Device) -> anyhow::Result<(RunFile, usize, Seq2Seq)> {
    let path = dir.join(SNAPSHOT_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    let epoch = value["epoch"].as_u64().with_context(|| format!("{} names no epoch", path.display()))?;
    let mut run_file =
        RunFile::from_json(&value["run"].to_string()).with_context(|| format!("in {}", path.display()))?;
    run_file.data = fs::canonicalize(data)
        .with_context(|| format!("--data {}: prepare it as the snapshot's run was", data.display()))?;
    let bytes = fs::read(dir.join(WEIGHTS_FILE)).with_context(|| format!("cannot read {}", dir.display()))?;
    let source = bundle::load(&bytes, device)?;
    if source.config != run_file.training.model {
        bail!("{} holds another model than its {SNAPSHOT_FILE} describes", dir.display());
    }
    let (input_vocab, output_vocab) = model_vocabs(data, run_file.training.corpus)?;
    if source.prompt_vocab != input_vocab || source.code_vocab != output_vocab {
        bail!(
            "{} was prepared with other vocabularies than the snapshot's run: prepare it with the same data and flags",
            data.display()
        );
    }
    Ok((run_file, epoch as usize, source.model))
}
