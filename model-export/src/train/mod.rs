//! `nl2py train`: trains the model on a prepared folder with burn-train's Learner, validating on
//! dev every epoch (loss and BLEU of greedy generations), keeping the best and the last
//! checkpoints, stopping early, and resuming a killed run with `--resume`.

mod bleu;
mod progress;
mod snapshot;

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::{LrSchedulerConfig, LrSchedulerRecord};
use burn::optim::{AdamWConfig, OptimizerRecord};
use burn::store::{BurnpackStore, ModuleRecord, ModuleSnapshot};
use burn::tensor::Device;
use burn::train::checkpoint::{
    ComposedCheckpointingStrategy, KeepLastNCheckpoints, MetricCheckpointingStrategy,
};
use burn::train::metric::store::{Aggregate, Direction, Split as MetricSplit};
use burn::train::metric::{LearningRateMetric, LossMetric};
use burn::train::renderer::default_renderer;
use burn::train::{
    ExecutionStrategy, Learner, MetricEarlyStoppingStrategy, MultiDeviceOptim, StoppingCondition,
    SupervisedTraining,
};
use nl2py::data::batch::{EncodedExample, bucket};
use nl2py::data::prepare::{Example, Split};
use nl2py::decode::Translator;
use nl2py::model::{Seq2Seq, Seq2SeqConfig, Transfer};
use nl2py::train::{BucketBatcher, Objective, Trainee};
use serde::{Deserialize, Serialize};

use crate::prepared::{read_config, read_index, read_split, read_vocab};
use progress::{EpochRecord, PlainProgress};

#[derive(clap::Args)]
pub struct Args {
    /// Folder written by `nl2py prepare`.
    #[arg(long, default_value = "prepared")]
    data: PathBuf,
    /// Run folder: settings, checkpoints, logs, and the best model as `model.nl2py`.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its last checkpoint, with the settings it started with.
    #[arg(long)]
    resume: bool,
    /// With --resume, where --out holds no checkpoint: start from this snapshot (`nl2py
    /// snapshot`), its data read from --data (prepared as the snapshot's run was).
    #[arg(long, requires = "resume")]
    snapshot: Option<PathBuf>,
    /// Backend: flex (CPU), or wgpu, vulkan, cuda[:0,1,…] where built with that feature;
    /// several devices train data-parallel.
    #[arg(long, default_value = "flex")]
    device: String,
    #[command(flatten)]
    settings: Settings,
}

/// What a run learns from.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corpus {
    /// The train split's pairs (CoNaLa train and English–Python).
    #[default]
    Train,
    /// The pretrain split's pairs (API docs, mined): whole-model pretraining.
    Pretrain,
    /// Train and pretrain pairs together, each source repeated as `--repeat` says.
    Mixed,
    /// The code of every train and pretrain pair, without prompts: a decoder-only language
    /// model of Python whose decoder then starts a seq2seq run (`--init-decoder-only`).
    Code,
}

/// Everything that defines a run; saved as `run.json` so that `--resume` continues it exactly.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    #[arg(long, value_enum, default_value_t = Corpus::Train)]
    #[serde(default)]
    corpus: Corpus,
    /// Leave out training pairs with more code tokens than this (at most, and by default,
    /// --max-code-len − 1: what fits). Without it, `--corpus code` cuts long code into windows.
    #[arg(long)]
    #[serde(default)]
    longest_code: Option<usize>,
    /// Start from this model's weights (a bundle or a run folder on the same prepared data).
    #[arg(long)]
    #[serde(default)]
    init_from: Option<PathBuf>,
    /// Copy only what a code language model learned: code embeddings, the decoder's
    /// self-attention and feed-forward blocks, the output; not the encoder or cross-attention.
    #[arg(long, requires = "init_from")]
    #[serde(default)]
    init_decoder_only: bool,
    /// With `--corpus mixed`: repeat the pairs of data files whose name starts with PREFIX N
    /// times an epoch (`--repeat conala=4 --repeat english_python=2`).
    #[arg(long, value_name = "PREFIX=N", value_parser = parse_repeat)]
    #[serde(default)]
    repeat: Vec<(String, usize)>,
    /// The encoder also reads the code of each prompt's retrieved neighbours (the prepared
    /// folder's retrieval index; `nl2py prepare --neighbours`).
    #[arg(long)]
    #[serde(default)]
    retrieval: bool,
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    /// Peak learning rate, reached after the warm-up, then decayed linearly to zero at the end.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 300)]
    warmup_steps: usize,
    /// Padded target tokens per batch (batches group examples of similar length).
    #[arg(long, default_value_t = 3000)]
    batch_tokens: usize,
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    #[arg(long, default_value_t = 0.01)]
    weight_decay: f32,
    /// Gradient clipping: largest L2 norm of each parameter's gradient.
    #[arg(long, default_value_t = 1.0)]
    clip_norm: f32,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Stop after this many epochs without a better dev BLEU.
    #[arg(long, default_value_t = 6)]
    patience: usize,
    /// Longest greedy generation when scoring dev BLEU.
    #[arg(long, default_value_t = 160)]
    valid_max_tokens: usize,
    #[arg(long, default_value_t = 256)]
    d_model: usize,
    #[arg(long, default_value_t = 8)]
    heads: usize,
    #[arg(long, default_value_t = 3)]
    encoder_layers: usize,
    #[arg(long, default_value_t = 3)]
    decoder_layers: usize,
    #[arg(long, default_value_t = 512)]
    d_ff: usize,
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    /// Layer norm after each block (the original paper) instead of before it.
    #[arg(long)]
    post_norm: bool,
    /// Separate output projection instead of reusing the code embedding.
    #[arg(long)]
    untied: bool,
    #[arg(long, default_value_t = 96)]
    max_prompt_len: usize,
    #[arg(long, default_value_t = 256)]
    max_code_len: usize,
}

fn parse_repeat(text: &str) -> Result<(String, usize), String> {
    let (prefix, times) = text.split_once('=').ok_or("expected PREFIX=N")?;
    let times = times.parse().map_err(|_| format!("{times:?} is not a count"))?;
    Ok((prefix.to_string(), times))
}

impl Settings {
    /// How many times an epoch a pair from this data file is seen.
    fn repeats(&self, source: &str) -> usize {
        self.repeat.iter().find(|(prefix, _)| source.starts_with(prefix.as_str())).map_or(1, |r| r.1)
    }

    fn model_config(&self, prompt_vocab: usize, code_vocab: usize) -> Seq2SeqConfig {
        Seq2SeqConfig::new(prompt_vocab, code_vocab)
            .with_d_model(self.d_model)
            .with_heads(self.heads)
            .with_encoder_layers(self.encoder_layers)
            .with_decoder_layers(self.decoder_layers)
            .with_d_ff(self.d_ff)
            .with_dropout(self.dropout)
            .with_pre_norm(!self.post_norm)
            .with_tie_embeddings(!self.untied)
            .with_max_prompt_len(self.max_prompt_len)
            .with_max_code_len(self.max_code_len)
    }
}

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// The run folder.
    #[arg(long)]
    run: PathBuf,
    /// The snapshot folder to write (replaced).
    #[arg(long)]
    out: PathBuf,
}

pub fn snapshot_run(args: &SnapshotArgs) -> anyhow::Result<()> {
    let snapshot = snapshot::save(&args.run, &args.out)?;
    println!("snapshot of epoch {} written to {}", snapshot.epoch, args.out.display());
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    data: PathBuf,
    settings: Settings,
    model: Seq2SeqConfig,
}

const RUN_FILE: &str = "run.json";
const EPOCHS_FILE: &str = "epochs.jsonl";
pub const MODEL_FILE: &str = "model.nl2py";

fn checkpoint_path(run: &Path, epoch: usize) -> PathBuf {
    run.join("checkpoint").join(format!("model-{epoch}.bpk"))
}

/// Epochs with a checkpoint in the run folder whose records load: with `resumable`, the model,
/// optimizer and scheduler records (burn-train writes them from separate threads, so a run killed
/// mid-save can leave `model-N.bpk` without `optim-N.bpk`, or a file cut short); otherwise the
/// model's alone, which is all that generating needs.
fn checkpoint_epochs(run: &Path, resumable: bool) -> Vec<usize> {
    let dir = run.join("checkpoint");
    let loads = |epoch: usize| {
        let file = |name: &str| dir.join(format!("{name}-{epoch}.bpk"));
        ModuleRecord::load(file("model")).is_ok()
            && (!resumable
                || OptimizerRecord::load(file("optim")).is_ok()
                    && LrSchedulerRecord::load(file("scheduler")).is_ok())
    };
    let mut epochs: Vec<usize> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?.strip_suffix(".bpk")?.parse().ok()
        })
        .filter(|&epoch| loads(epoch))
        .collect();
    epochs.sort_unstable();
    epochs
}

/// The validated epoch with the best dev score among those whose checkpoint is still there: the
/// highest BLEU, or for a code language model the lowest loss. Returns the epoch and its score.
fn best_epoch(run: &Path, corpus: Corpus) -> anyhow::Result<(usize, f64)> {
    let kept = checkpoint_epochs(run, false);
    let text = fs::read_to_string(run.join(EPOCHS_FILE)).unwrap_or_default();
    let score = |r: &EpochRecord| -> Option<f64> {
        match corpus {
            Corpus::Code => {
                // "epoch 3.10 - batch 3.66": the epoch's mean loss, negated so higher is better.
                let loss = r.metrics.get("valid Loss")?.strip_prefix("epoch ")?.split(' ').next()?;
                Some(-loss.parse::<f64>().ok()?)
            }
            _ => r.metrics.get("valid BLEU")?.parse().ok(),
        }
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<EpochRecord>(l).ok())
        .filter(|r| kept.contains(&r.epoch))
        .filter_map(|r| Some((r.epoch, score(&r)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .or_else(|| kept.last().map(|&e| (e, f64::NAN)))
        .context("the run has no checkpoint yet")
}

fn read_run_file(run: &Path) -> anyhow::Result<RunFile> {
    let text = fs::read_to_string(run.join(RUN_FILE))
        .with_context(|| format!("{} is not a run folder", run.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// Loads the best checkpoint of a run as a translator (used by `train`, `eval` and `export`).
pub fn load_best(run: &Path, device: &Device) -> anyhow::Result<(Translator, usize)> {
    let run_file = read_run_file(run)?;
    let (epoch, _) = best_epoch(run, run_file.settings.corpus)?;
    let model = checkpoint_model(run, &run_file, epoch, device)?;
    Ok((translator(&run_file, model, device)?, epoch))
}

/// The mean of the last `count` checkpoints of a run (`nl2py export --average-last`); returns the
/// epochs averaged.
pub fn load_average(run: &Path, count: usize, device: &Device) -> anyhow::Result<(Translator, Vec<usize>)> {
    let run_file = read_run_file(run)?;
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
        .map(|&epoch| checkpoint_model(run, &run_file, epoch, device))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let averaged = Seq2Seq::average(&models)?;
    Ok((translator(&run_file, averaged, device)?, epochs))
}

/// The model weights of one epoch's checkpoint.
fn checkpoint_model(
    run: &Path,
    run_file: &RunFile,
    epoch: usize,
    device: &Device,
) -> anyhow::Result<Seq2Seq> {
    let objective = Objective { label_smoothing: 0.0, max_valid_tokens: 0 };
    let mut trainee = Trainee::new(run_file.model.init(device), objective);
    let path = checkpoint_path(run, epoch);
    trainee
        .load_from(&mut BurnpackStore::from_file(&path))
        .map_err(|e| anyhow::anyhow!("cannot load {}: {e}", path.display()))?;
    Ok(trainee.model)
}

/// A run's model with the vocabularies and prompt tokenization of its prepared folder.
fn translator(run_file: &RunFile, model: Seq2Seq, device: &Device) -> anyhow::Result<Translator> {
    let code_vocab = read_vocab(&run_file.data, "code")?;
    Ok(Translator {
        model,
        config: run_file.model.clone(),
        prompt_vocab: read_vocab(&run_file.data, "prompt")?,
        slots: read_config(&run_file.data)?.slots,
        index: match run_file.model.max_example_len {
            Some(_) => read_index(&run_file.data, &code_vocab)?,
            None => None,
        },
        code_vocab,
        device: device.clone(),
    })
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let devices = crate::devices::parse(&args.device)?;
    let device = devices[0].clone();
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let run_path = args.out.join(RUN_FILE);
    // A snapshot to turn into this run's first checkpoint, once the schedule is known.
    let mut restore = None;
    if let (true, Some(dir)) = (args.resume, &args.snapshot)
        && checkpoint_epochs(&args.out, true).is_empty()
    {
        let mut snapshot = snapshot::read(dir)?;
        snapshot.run.data = fs::canonicalize(&args.data).with_context(|| {
            format!("--data {}: prepare it as the snapshot's run was", args.data.display())
        })?;
        crate::files::write(&run_path, serde_json::to_string_pretty(&snapshot.run)?.as_bytes())?;
        println!("restoring {} from the snapshot of epoch {}", args.out.display(), snapshot.epoch);
        restore = Some((dir.clone(), snapshot));
    }
    let (run_file, resume_from) = if args.resume {
        let run_file =
            read_run_file(&args.out).with_context(|| format!("--resume needs {}", run_path.display()))?;
        let last = checkpoint_epochs(&args.out, true).last().copied();
        match last {
            Some(epoch) => println!("resuming {} after epoch {epoch}", args.out.display()),
            None if restore.is_some() => {}
            None => println!("no checkpoint in {} yet: starting from the beginning", args.out.display()),
        }
        (run_file, last)
    } else {
        if run_path.exists() {
            bail!(
                "{} already holds a run: pass --resume to continue it, or another --out",
                args.out.display()
            );
        }
        let prompt_vocab = read_vocab(&args.data, "prompt")?;
        let code_vocab = read_vocab(&args.data, "code")?;
        if args.settings.max_code_len < 2 {
            bail!("--max-code-len must leave room for <bos> and one token");
        }
        let mut model = args.settings.model_config(prompt_vocab.len(), code_vocab.len());
        if args.settings.retrieval {
            let index = read_index(&args.data, &code_vocab)?.with_context(|| {
                format!("--retrieval needs {}: prepare with --neighbours", args.data.display())
            })?;
            model.max_example_len = Some(index.max_example_len);
        }
        let mut settings = args.settings.clone();
        // Absolute, so that a resume from another folder finds it.
        if let Some(from) = &settings.init_from {
            settings.init_from =
                Some(fs::canonicalize(from).with_context(|| format!("--init-from {}", from.display()))?);
        }
        let run_file = RunFile { data: fs::canonicalize(&args.data)?, settings, model };
        fs::write(&run_path, serde_json::to_string_pretty(&run_file)?)?;
        (run_file, None)
    };
    let s = &run_file.settings;
    let prompt_vocab = read_vocab(&run_file.data, "prompt")?;
    let code_vocab = Arc::new(read_vocab(&run_file.data, "code")?);
    let index = if run_file.model.max_example_len.is_some() {
        read_index(&run_file.data, &code_vocab)?
    } else {
        None
    };
    let encode = |e: &Example| {
        let encoded = EncodedExample::new(e, &prompt_vocab, &code_vocab, s.max_prompt_len, s.max_code_len);
        match &index {
            Some(index) => encoded.with_examples(index.example_ids(&e.retrieved)),
            None => encoded,
        }
    };
    let window = s.max_code_len - 1;
    let code_windows_of = |splits: &[Split]| -> anyhow::Result<Vec<EncodedExample>> {
        let mut windows = Vec::new();
        for &split in splits {
            for example in read_split(&run_file.data, split)? {
                if s.longest_code.is_none_or(|longest| example.code_tokens.len() <= longest) {
                    windows.extend(EncodedExample::code_windows(&example, &code_vocab, window));
                }
            }
        }
        Ok(windows)
    };
    let (train, dev) = match s.corpus {
        Corpus::Train | Corpus::Pretrain | Corpus::Mixed => {
            let splits = match s.corpus {
                Corpus::Train => vec![Split::Train],
                Corpus::Pretrain => vec![Split::Pretrain],
                _ => vec![Split::Train, Split::Pretrain],
            };
            let mut all = Vec::new();
            for &split in &splits {
                all.extend(read_split(&run_file.data, split)?);
            }
            let count = all.len();
            // Code cut to fit would teach outputs that stop mid-statement: such pairs are left out.
            let longest = s.longest_code.unwrap_or(window).min(window);
            let kept: Vec<EncodedExample> = all
                .iter()
                .filter(|e| e.code_tokens.len() <= longest)
                .flat_map(|e| std::iter::repeat_n(encode(e), s.repeats(&e.source)))
                .collect();
            let names: Vec<&str> = splits.iter().map(|s| s.name()).collect();
            println!(
                "{}: {} pairs an epoch, repeats included ({} of {count} with more than {longest} code tokens left out)",
                names.join(" + "),
                kept.len(),
                all.iter().filter(|e| e.code_tokens.len() > longest).count(),
            );
            (kept, read_split(&run_file.data, Split::Dev)?.iter().map(encode).collect())
        }
        Corpus::Code => {
            let code = code_windows_of(&[Split::Train, Split::Pretrain])?;
            // Dev is never trained on: it only measures the loss.
            let tokens: usize = code.iter().map(|e| e.code.len()).sum();
            println!(
                "code of train and pretrain: {} windows of at most {window} tokens, {tokens} tokens",
                code.len()
            );
            (code, code_windows_of(&[Split::Dev])?)
        }
    };
    println!("dev: {} examples", dev.len());
    let train_batches = bucket(train, s.batch_tokens, s.max_batch);
    let train_batches_len = train_batches.len();
    let dev_batches = bucket(dev, s.batch_tokens, s.max_batch);
    let steps = train_batches.len() * s.epochs;

    device.seed(s.seed);
    // A code language model has no prompt to translate: validation measures its loss alone.
    let max_valid_tokens = if s.corpus == Corpus::Code { 0 } else { s.valid_max_tokens };
    let objective = Objective { label_smoothing: s.label_smoothing, max_valid_tokens };
    let mut model = run_file.model.init(&device.clone().autodiff());
    if let (Some(from), None) = (&s.init_from, resume_from) {
        let source = crate::model_file::load(from, &device)?;
        if source.prompt_vocab != prompt_vocab || source.code_vocab != *code_vocab {
            bail!(
                "{} was trained on other vocabularies: prepare both runs from the same folder",
                from.display()
            );
        }
        let transfer = if s.init_decoder_only { Transfer::Decoder } else { Transfer::All };
        let copied = model.copy_weights(&source.model, transfer)?;
        println!("started from {} ({copied} tensors, {transfer:?})", from.display());
    }
    let trainee = Trainee::new(model, objective);
    let train_loader = DataLoaderBuilder::new(BucketBatcher)
        .batch_size(1)
        .shuffle(s.seed)
        .num_workers(0)
        .build(InMemDataset::new(train_batches));
    let dev_loader =
        DataLoaderBuilder::new(BucketBatcher).batch_size(1).build(InMemDataset::new(dev_batches));

    let optimizer = AdamWConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .with_weight_decay(s.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(s.clip_norm)))
        .init();
    let warmup = s.warmup_steps.clamp(1, steps.saturating_sub(1).max(1));
    let scheduler = SequentialLrSchedulerConfig::new(
        vec![
            LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(s.lr / warmup as f64, s.lr, warmup)),
            LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(
                s.lr,
                s.lr * 1e-3,
                steps.saturating_sub(warmup).max(1),
            )),
        ],
        vec![warmup],
    )
    .init()
    .map_err(|e| anyhow::anyhow!("learning-rate schedule: {e}"))?;

    let mut resume_from = resume_from;
    if let Some((dir, snapshot)) = &restore {
        let steps_done = snapshot.epoch * train_batches_len;
        let parts = snapshot::Parts {
            vocabularies: (&prompt_vocab, &code_vocab),
            trainee: trainee.clone(),
            optimizer: &optimizer,
            scheduler: scheduler.clone(),
        };
        snapshot::restore(dir, snapshot, &args.out, parts, steps_done, &device)?;
        resume_from = Some(snapshot.epoch);
    }

    let bleu = bleu::CorpusBleu::new(code_vocab.clone());
    // The best epoch and early stopping follow dev BLEU; a code language model's, dev loss.
    let stopping = StoppingCondition::NoImprovementSince { n_epochs: s.patience };
    let (best_checkpoint, early_stopping) = if s.corpus == Corpus::Code {
        let loss = LossMetric::new();
        (
            MetricCheckpointingStrategy::new(&loss, Aggregate::Mean, Direction::Lowest, MetricSplit::Valid),
            MetricEarlyStoppingStrategy::new(
                &loss,
                Aggregate::Mean,
                Direction::Lowest,
                MetricSplit::Valid,
                stopping,
            ),
        )
    } else {
        (
            MetricCheckpointingStrategy::new(&bleu, Aggregate::Mean, Direction::Highest, MetricSplit::Valid),
            MetricEarlyStoppingStrategy::new(
                &bleu,
                Aggregate::Mean,
                Direction::Highest,
                MetricSplit::Valid,
                stopping,
            ),
        )
    };
    let mut training = SupervisedTraining::new(&args.out, train_loader, dev_loader)
        .metrics((LossMetric::new(),))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(bleu)
        .with_default_checkpointers()
        .with_checkpointing_strategy(
            ComposedCheckpointingStrategy::builder()
                // The last three stay for `nl2py export --average-last`.
                .add(KeepLastNCheckpoints::new(3))
                .add(best_checkpoint)
                .build(),
        )
        .early_stopping(early_stopping)
        .num_epochs(s.epochs);
    let dashboard =
        std::io::stdout().is_terminal().then(|| default_renderer(training.interrupter(), resume_from));
    training = training.renderer(Box::new(PlainProgress::new(args.out.join(EPOCHS_FILE), dashboard)));
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    if devices.len() > 1 {
        let strategy = ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice);
        training = training.with_training_strategy(strategy.into());
    }
    let started = std::time::Instant::now();
    let result = training.launch(Learner::new(trainee, optimizer, scheduler));
    if let Some(error) = result.error {
        bail!("training failed: {error:?}");
    }
    println!("trained for {:.1} min", started.elapsed().as_secs_f64() / 60.0);

    let (best, epoch) = load_best(&args.out, &device)?;
    let bytes = nl2py::bundle::export(&best, nl2py::bundle::Precision::F32, Default::default())?;
    fs::write(args.out.join(MODEL_FILE), bytes)?;
    println!("best epoch {epoch}: written to {}", args.out.join(MODEL_FILE).display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run.json` as runs wrote it before `--corpus`, `--longest-code` and `--init-from`.
    #[test]
    fn runs_from_before_the_pretraining_options_still_load() {
        let mut settings = serde_json::to_value(RunFile {
            data: "prepared".into(),
            settings: Settings {
                corpus: Corpus::Pretrain,
                longest_code: Some(9),
                init_from: Some("x".into()),
                init_decoder_only: true,
                repeat: vec![("conala".into(), 4)],
                retrieval: true,
                ..<Settings as clap::FromArgMatches>::from_arg_matches(
                    &<Settings as clap::Args>::augment_args(clap::Command::new("t")).get_matches_from(["t"]),
                )
                .unwrap()
            },
            model: Seq2SeqConfig::new(10, 10),
        })
        .unwrap();
        for field in ["corpus", "longest_code", "init_from", "init_decoder_only", "repeat", "retrieval"] {
            settings["settings"].as_object_mut().unwrap().remove(field);
        }
        let old: RunFile = serde_json::from_value(settings).unwrap();
        assert_eq!(old.settings.corpus, Corpus::Train);
        assert_eq!(
            (old.settings.longest_code, old.settings.init_from, old.settings.init_decoder_only),
            (None, None, false)
        );
    }
}
