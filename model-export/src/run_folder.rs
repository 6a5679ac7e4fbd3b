//! A training run's folder as the commands read and write it: `run.json` (the prepared folder it
//! trains on and its `TrainingConfig`), and its checkpoints as a translator — the best epoch's,
//! or the mean of the last few.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use nl2py::decode::Translator;
use nl2py::model::{Seq2Seq, Seq2SeqConfig};
use nl2py::train::{TrainingConfig, best_epoch, checkpoint_epochs, checkpoint_model};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::prepared::{model_vocabs, read_config, read_index};

pub const RUN_FILE: &str = "run.json";
/// The best epoch's model, written when a run ends.
pub const MODEL_FILE: &str = "model.nl2py";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// The prepared folder (absolute, so that a resume from elsewhere finds it).
    pub data: PathBuf,
    pub training: TrainingConfig,
}

impl RunFile {
    /// Reads a run file, also as runs before `TrainingConfig` wrote it (see [`upgrade`]).
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_str(text)?;
        let value = if value.get("settings").is_some() { upgrade(value)? } else { value };
        Ok(serde_json::from_value(value)?)
    }
}

/// A run file as runs wrote it before the recipe moved into the core: `settings` (the recipe's
/// fields flat, the model's repeated beside them, `init_from`/`init_decoder_only`, options that
/// later versions added missing) and `model`. Missing fields take today's defaults.
fn upgrade(old: Value) -> anyhow::Result<Value> {
    let model: Seq2SeqConfig = serde_json::from_value(old["model"].clone()).context("the run's model")?;
    let mut training = serde_json::to_value(TrainingConfig::new(model))?;
    let settings = old["settings"].as_object().context("the run's settings")?;
    for (key, value) in settings {
        if key != "model" && training.get(key).is_some() && !value.is_null() {
            training[key] = value.clone();
        }
    }
    if let Some(from) = settings.get("init_from").filter(|from| !from.is_null()) {
        let decoder_only = settings.get("init_decoder_only").cloned().unwrap_or(json!(false));
        training["init"] = json!({ "from": from, "decoder_only": decoder_only });
    }
    Ok(json!({ "data": old["data"], "training": training }))
}

pub fn read(run: &Path) -> anyhow::Result<RunFile> {
    let path = run.join(RUN_FILE);
    let text = fs::read_to_string(&path).with_context(|| format!("{} is not a run folder", run.display()))?;
    RunFile::from_json(&text).with_context(|| format!("in {}", path.display()))
}

pub fn write(run: &Path, run_file: &RunFile) -> anyhow::Result<()> {
    crate::files::write(&run.join(RUN_FILE), serde_json::to_string_pretty(run_file)?.as_bytes())
}

/// The best checkpoint of a run as a translator (used by `train`, `eval`, `export`, `generate`),
/// and its epoch.
pub fn load_best(run: &Path, device: &Device) -> anyhow::Result<(Translator, usize)> {
    let run_file = read(run)?;
    let (epoch, _) = best_epoch(run, &run_file.training)?;
    let model = checkpoint_model(run, &run_file.training.model, epoch, device)?;
    Ok((translator(&run_file, model, device)?, epoch))
}

/// The mean of the last `count` checkpoints of a run (`nl2py export --average-last`), and the
/// epochs averaged.
pub fn load_average(run: &Path, count: usize, device: &Device) -> anyhow::Result<(Translator, Vec<usize>)> {
    let run_file = read(run)?;
    let kept = checkpoint_epochs(run, false);
    let epochs = kept[kept.len().saturating_sub(count)..].to_vec();
    // Only consecutive epochs: a resumed run or the kept best epoch can leave gaps.
    if count == 0 || epochs.len() < count || epochs.windows(2).any(|w| w[1] != w[0] + 1) {
        bail!(
            "{} keeps the checkpoints of epochs {kept:?}: its last {count} are not consecutive",
            run.display()
        );
    }
    let models = epochs
        .iter()
        .map(|&epoch| checkpoint_model(run, &run_file.training.model, epoch, device))
        .collect::<nl2py::Result<Vec<_>>>()?;
    Ok((translator(&run_file, Seq2Seq::average(&models)?, device)?, epochs))
}

/// A run's model with the vocabularies, prompt slots and retrieval index of its prepared folder.
pub fn translator(run_file: &RunFile, model: Seq2Seq, device: &Device) -> anyhow::Result<Translator> {
    let config = run_file.training.model.clone();
    let (prompt_vocab, code_vocab) = model_vocabs(&run_file.data, run_file.training.corpus)?;
    let index = match config.max_example_len {
        Some(_) => read_index(&run_file.data, &code_vocab)?,
        None => None,
    };
    let slots = read_config(&run_file.data)?.slots;
    Ok(Translator::new(model, config, prompt_vocab, code_vocab, slots, index, device.clone())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nl2py::train::{Corpus, Init};

    /// `run.json` as runs wrote it before the recipe moved into the core (snapshots/rag's kind),
    /// and as the oldest ones did, before `--corpus`, `--longest-code`, `--init-from`, `--repeat`.
    #[test]
    fn run_files_of_older_runs_still_load() {
        let model = Seq2SeqConfig::new(10, 12).with_max_prompt_len(96).with_max_example_len(Some(8));
        let mut old = json!({
            "data": "/prepared",
            "settings": {
                "corpus": "mixed", "longest_code": null, "init_from": "/runs/lm",
                "init_decoder_only": true, "repeat": [["conala", 4]], "retrieval": true,
                "epochs": 10, "lr": 0.0007, "warmup_steps": 600, "batch_tokens": 3000,
                "max_batch": 64, "label_smoothing": 0.1, "weight_decay": 0.01, "clip_norm": 1.0,
                "seed": 42, "patience": 4, "valid_max_tokens": 160, "d_model": 256, "heads": 8,
                "encoder_layers": 3, "decoder_layers": 3, "d_ff": 512, "dropout": 0.1,
                "post_norm": false, "untied": false, "max_prompt_len": 96, "max_code_len": 256
            },
            "model": model,
        });
        let run = RunFile::from_json(&old.to_string()).unwrap();
        let expected = TrainingConfig::new(model.clone())
            .with_corpus(Corpus::Mixed)
            .with_init(Some(Init { from: "/runs/lm".into(), decoder_only: true }))
            .with_repeat(vec![("conala".into(), 4)])
            .with_epochs(10)
            .with_lr(7e-4)
            .with_warmup_steps(600)
            .with_patience(4);
        assert_eq!(run, RunFile { data: "/prepared".into(), training: expected });
        // Written again, it reads back the same.
        assert_eq!(RunFile::from_json(&serde_json::to_string(&run).unwrap()).unwrap(), run);

        for field in ["corpus", "longest_code", "init_from", "init_decoder_only", "repeat", "retrieval"] {
            old["settings"].as_object_mut().unwrap().remove(field);
        }
        let oldest = RunFile::from_json(&old.to_string()).unwrap();
        assert_eq!(
            (oldest.training.corpus, oldest.training.init, oldest.training.repeat),
            (Corpus::Train, None, vec![])
        );
    }
}
