//! A run's progress small enough to commit: the weights of its last finished epoch as one int8
//! bundle (`model.nl2py`) and `snapshot.json` (the run's settings, that epoch). A later session
//! on a fresh machine turns it back into a resumable checkpoint: those weights, a fresh
//! optimizer, and the learning-rate schedule stepped to where the epoch ended.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use nl2py::bundle::{self, Precision};
use nl2py::text::vocab::Vocab;
use nl2py::train::Trainee;
use serde::{Deserialize, Serialize};

use super::{RunFile, checkpoint_epochs, checkpoint_model, read_run_file, translator};

const SNAPSHOT_FILE: &str = "snapshot.json";
const WEIGHTS_FILE: &str = "model.nl2py";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub run: RunFile,
    /// The last finished epoch, whose weights `model.nl2py` holds.
    pub epoch: usize,
}

/// Writes the snapshot of `run`'s last resumable epoch to `out` (replacing what is there).
pub fn save(run: &Path, out: &Path) -> anyhow::Result<Snapshot> {
    let run_file = read_run_file(run)?;
    let epoch = *checkpoint_epochs(run, true)
        .last()
        .with_context(|| format!("{} has no checkpoint yet", run.display()))?;
    let device = Device::flex();
    let model = checkpoint_model(run, &run_file, epoch, &device)?;
    let metadata = [("snapshot".to_string(), format!("epoch {epoch} of {}", run.display()))].into();
    let bytes = bundle::export(&translator(&run_file, model, &device)?, Precision::Int8, metadata)?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let snapshot = Snapshot { run: run_file, epoch };
    crate::files::write(&out.join(WEIGHTS_FILE), &bytes)?;
    crate::files::write(&out.join(SNAPSHOT_FILE), serde_json::to_string_pretty(&snapshot)?.as_bytes())?;
    Ok(snapshot)
}

pub fn read(dir: &Path) -> anyhow::Result<Snapshot> {
    let path = dir.join(SNAPSHOT_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("in {}", path.display()))
}

/// What the run about to start trains with: the snapshot fills them in.
pub struct Parts<'a> {
    /// The prepared folder's vocabularies, which must be the snapshot's.
    pub vocabularies: (&'a Vocab, &'a Vocab),
    pub trainee: Trainee,
    pub optimizer: &'a ModuleOptimizer,
    pub scheduler: ModuleLrScheduler,
}

/// Writes the resumable checkpoint of `snapshot.epoch` into the run folder `run`: the snapshot's
/// weights, the optimizer's (fresh) state, and the schedule after `steps_done` steps.
pub fn restore(
    dir: &Path,
    snapshot: &Snapshot,
    run: &Path,
    parts: Parts,
    steps_done: usize,
    device: &Device,
) -> anyhow::Result<()> {
    let Parts { vocabularies, trainee, optimizer, mut scheduler } = parts;
    let bytes = fs::read(dir.join(WEIGHTS_FILE)).with_context(|| format!("cannot read {}", dir.display()))?;
    let source = bundle::load(&bytes, device)?;
    let mut trainee = trainee;
    if source.config != snapshot.run.model {
        bail!("{} holds another model than its snapshot.json describes", dir.display());
    }
    if (&source.prompt_vocab, &source.code_vocab) != vocabularies {
        bail!(
            "{} was prepared with other vocabularies than the snapshot's run: prepare it with the same data and flags",
            snapshot.run.data.display()
        );
    }
    trainee.model.copy_weights(&source.model, nl2py::model::Transfer::All)?;
    let checkpoints = run.join("checkpoint");
    fs::create_dir_all(&checkpoints)?;
    let file = |name: &str| checkpoints.join(format!("{name}-{}.bpk", snapshot.epoch));
    trainee.into_record().save(file("model")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    optimizer.to_record().save(file("optim")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    for _ in 0..steps_done {
        scheduler.step();
    }
    scheduler.to_record().save(file("scheduler")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}
