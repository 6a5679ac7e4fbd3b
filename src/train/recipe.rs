//! The training recipe: which pairs an epoch holds, AdamW with warm-up and linear decay,
//! burn-train's Learner validating on dev every epoch (loss and BLEU of greedy generations),
//! the last three and the best checkpoints kept, early stopping, and a run resumed after its
//! last checkpoint or restored from bare weights.
//!
//! Like burn-train, whose Learner it drives, this writes the run folder (checkpoints,
//! `epochs.jsonl`) and reports progress on stdout; reading data and writing bundles stay with
//! the caller.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::InMemDataset;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::module_lr_scheduler::ModuleLrScheduler;
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::{LrSchedulerConfig, LrSchedulerRecord};
use burn::module::Module;
use burn::optim::{AdamWConfig, ModuleOptimizer, OptimizerRecord};
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

use super::bleu::CorpusBleu;
use super::config::{Corpus, TrainingConfig};
use super::objective::{BucketBatcher, Objective, Trainee};
use super::progress::{Divergence, EpochRecord, PlainProgress};
use crate::data::batch::{EncodedExample, bucket};
use crate::data::prepare::Example;
use crate::model::{Seq2Seq, Seq2SeqConfig, Transfer};
use crate::retrieve::Index;
use crate::text::vocab::Vocab;
use crate::{Error, Result};

/// The run folder's log of validated epochs, one JSON line each.
pub const EPOCHS_FILE: &str = "epochs.jsonl";

/// A prepared folder's contents, as training reads them.
pub struct TrainingData<'a> {
    pub train: Vec<Example>,
    pub pretrain: Vec<Example>,
    pub dev: Vec<Example>,
    pub prompt_vocab: &'a Vocab,
    pub code_vocab: Arc<Vocab>,
    /// The retrieval index, which a retrieval model's examples point into.
    pub index: Option<&'a Index>,
}

/// How a run begins.
pub enum Start {
    /// From random weights, or with weights copied from another model.
    Fresh { init: Option<(Seq2Seq, Transfer)> },
    /// After the run folder's checkpoint of this epoch: weights, optimizer and schedule.
    Resume { epoch: usize },
    /// From these weights as if `epoch` epochs had just finished: they become that epoch's
    /// checkpoint, with a fresh optimizer and the schedule stepped to the epoch's end.
    Restore { epoch: usize, weights: Seq2Seq },
}

/// Where and how a run trains.
pub struct Launch<'a> {
    /// The run folder: burn-train's checkpoints and logs, and [`EPOCHS_FILE`].
    pub dir: &'a Path,
    /// One device, or several that train data-parallel.
    pub devices: Vec<Device>,
    pub start: Start,
    /// Draw burn-train's terminal dashboard instead of plain progress lines.
    pub dashboard: bool,
}

/// An epoch's pairs and dev's, encoded, with a line that says what they are.
pub struct EpochData {
    pub train: Vec<EncodedExample>,
    pub dev: Vec<EncodedExample>,
    pub summary: String,
}

/// The pairs an epoch holds under `config`: the corpus's, repeats included, without code too
/// long to fit (it would teach outputs that stop mid-statement); a code language model's are
/// code windows. Dev is never trained on.
pub fn epoch_data(config: &TrainingConfig, data: &TrainingData) -> EpochData {
    let model = &config.model;
    let encode = |e: &Example| {
        let encoded = EncodedExample::new(
            e,
            data.prompt_vocab,
            &data.code_vocab,
            model.max_prompt_len,
            model.max_code_len,
        );
        match data.index {
            Some(index) if model.max_example_len.is_some() => {
                encoded.with_examples(index.example_ids(&e.retrieved))
            }
            _ => encoded,
        }
    };
    if config.corpus == Corpus::Reverse {
        let reverse = |e: &Example| {
            let (prompt, code) = (data.prompt_vocab, &data.code_vocab);
            EncodedExample::reversed(e, prompt, code, model.max_prompt_len, model.max_code_len)
        };
        let train: Vec<EncodedExample> = data
            .train
            .iter()
            .flat_map(|e| std::iter::repeat_n(reverse(e), config.repeats(&e.source)))
            .collect();
        let summary =
            format!("reverse corpus (code in, prompt out): {} pairs an epoch, repeats included", train.len());
        return EpochData { dev: data.dev.iter().map(reverse).collect(), train, summary };
    }
    let longest = config.longest_code();
    let sources: Vec<&Example> = match config.corpus {
        Corpus::Train | Corpus::Reverse => data.train.iter().collect(),
        Corpus::Pretrain => data.pretrain.iter().collect(),
        Corpus::Mixed | Corpus::Code => data.train.iter().chain(&data.pretrain).collect(),
    };
    if config.corpus == Corpus::Code {
        let window = model.max_code_len - 1;
        let windows = |examples: &mut dyn Iterator<Item = &Example>| -> Vec<EncodedExample> {
            examples
                .filter(|e| config.longest_code.is_none_or(|most| e.code_tokens.len() <= most))
                .flat_map(|e| EncodedExample::code_windows(e, &data.code_vocab, window))
                .collect()
        };
        let train = windows(&mut sources.into_iter());
        let tokens: usize = train.iter().map(|e| e.code.len()).sum();
        let summary = format!(
            "code of train and pretrain: {} windows of at most {window} tokens, {tokens} tokens",
            train.len()
        );
        return EpochData { dev: windows(&mut data.dev.iter()), train, summary };
    }
    let too_long = sources.iter().filter(|e| e.code_tokens.len() > longest).count();
    let train: Vec<EncodedExample> = sources
        .iter()
        .filter(|e| e.code_tokens.len() <= longest)
        .flat_map(|e| std::iter::repeat_n(encode(e), config.repeats(&e.source)))
        .collect();
    let summary = format!(
        "{} corpus: {} pairs an epoch, repeats included ({too_long} of {} with more than {longest} code tokens left out)",
        config.corpus,
        train.len(),
        sources.len(),
    );
    EpochData { train, dev: data.dev.iter().map(encode).collect(), summary }
}

/// AdamW (β₂ 0.98, ε 1e-9, decoupled weight decay) with per-parameter gradient clipping.
pub fn optimizer(config: &TrainingConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .with_weight_decay(config.weight_decay)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(config.clip_norm)))
        .init()
}

/// Linear warm-up to `lr`, then linear decay to `lr / 1000` at the last of `steps`.
pub fn scheduler(config: &TrainingConfig, steps: usize) -> Result<ModuleLrScheduler> {
    let warmup = config.warmup_steps.clamp(1, steps.saturating_sub(1).max(1));
    let lr = config.lr;
    SequentialLrSchedulerConfig::new(
        vec![
            LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(lr / warmup as f64, lr, warmup)),
            LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(
                lr,
                lr * 1e-3,
                steps.saturating_sub(warmup).max(1),
            )),
        ],
        vec![warmup],
    )
    .init()
    .map_err(|e| Error::Training(format!("learning-rate schedule: {e}")))
}

fn checkpoint_file(dir: &Path, part: &str, epoch: usize) -> PathBuf {
    dir.join("checkpoint").join(format!("{part}-{epoch}.bpk"))
}

/// Epochs with a checkpoint in the run folder whose records load: with `resumable`, the model,
/// optimizer and scheduler records (burn-train writes them from separate threads, so a run killed
/// mid-save can leave `model-N.bpk` without `optim-N.bpk`, or a file cut short); otherwise the
/// model's alone, which is all that generating needs.
pub fn checkpoint_epochs(dir: &Path, resumable: bool) -> Vec<usize> {
    let loads = |epoch: usize| {
        ModuleRecord::load(checkpoint_file(dir, "model", epoch)).is_ok()
            && (!resumable
                || OptimizerRecord::load(checkpoint_file(dir, "optim", epoch)).is_ok()
                    && LrSchedulerRecord::load(checkpoint_file(dir, "scheduler", epoch)).is_ok())
    };
    let mut epochs: Vec<usize> = fs::read_dir(dir.join("checkpoint"))
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
/// highest BLEU, or for a code language model the lowest loss; the last checkpoint when no epoch
/// was scored. Returns the epoch and its score.
pub fn best_epoch(dir: &Path, config: &TrainingConfig) -> Result<(usize, f64)> {
    let kept = checkpoint_epochs(dir, false);
    let text = fs::read_to_string(dir.join(EPOCHS_FILE)).unwrap_or_default();
    let score = |record: &EpochRecord| match config.scores_bleu() {
        true => record.metrics.get("valid BLEU").copied(),
        false => record.metrics.get("valid Loss").map(|loss| -loss),
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<EpochRecord>(line).ok())
        .filter(|record| kept.contains(&record.epoch))
        .filter_map(|record| Some((record.epoch, score(&record)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .or_else(|| kept.last().map(|&epoch| (epoch, f64::NAN)))
        .ok_or_else(|| Error::Training(format!("{} has no checkpoint yet", dir.display())))
}

/// The weights of one epoch's checkpoint.
pub fn checkpoint_model(dir: &Path, model: &Seq2SeqConfig, epoch: usize, device: &Device) -> Result<Seq2Seq> {
    let objective = Objective { label_smoothing: 0.0, max_valid_tokens: 0 };
    let mut trainee = Trainee::new(model.init(device), objective);
    let path = checkpoint_file(dir, "model", epoch);
    trainee
        .load_from(&mut BurnpackStore::from_file(&path))
        .map_err(|e| Error::Training(format!("cannot load {}: {e}", path.display())))?;
    Ok(trainee.model)
}

/// Trains as `config` says, writing the run into `launch.dir`. Returns when the last epoch is
/// done or dev stopped improving; an error when the loss diverged or the Learner failed.
pub fn train(config: &TrainingConfig, data: &TrainingData, launch: Launch) -> Result<()> {
    config.check()?;
    let Launch { dir, devices, start, dashboard } = launch;
    let device = devices.first().ok_or_else(|| Error::Training("no device to train on".into()))?.clone();
    let epochs = epoch_data(config, data);
    println!("{}\ndev: {} examples", epochs.summary, epochs.dev.len());
    let train_batches = bucket(epochs.train, config.batch_tokens, config.max_batch);
    let batches_per_epoch = train_batches.len();
    let dev_batches = bucket(epochs.dev, config.batch_tokens, config.max_batch);

    device.seed(config.seed);
    // A resumed run draws other masks than its first epochs did.
    let resumed_after = match &start {
        Start::Fresh { .. } => 0,
        Start::Resume { epoch } | Start::Restore { epoch, .. } => *epoch as u64,
    };
    crate::model::dropout::seed(config.seed ^ (resumed_after << 32));
    // A code language model has no prompt to translate: validation measures its loss alone.
    let max_valid_tokens = if config.scores_bleu() { config.valid_max_tokens } else { 0 };
    let objective = Objective { label_smoothing: config.label_smoothing, max_valid_tokens };
    let mut model = config.model.init(&device.clone().autodiff());
    if let Start::Fresh { init: Some((source, transfer)) } = &start {
        let copied = model.copy_weights(source, *transfer)?;
        println!("started from {copied} tensors of another model ({transfer:?})");
    }
    let trainee = Trainee::new(model, objective);
    let optimizer = optimizer(config);
    let scheduler = scheduler(config, batches_per_epoch * config.epochs)?;
    let resume_from = match start {
        Start::Fresh { .. } => None,
        Start::Resume { epoch } => Some(epoch),
        Start::Restore { epoch, weights } => {
            let mut restored = trainee.clone();
            restored.model.copy_weights(&weights, Transfer::All)?;
            let mut scheduler = scheduler.clone();
            for _ in 0..epoch * batches_per_epoch {
                scheduler.step();
            }
            fs::create_dir_all(dir.join("checkpoint"))
                .map_err(|e| Error::Training(format!("cannot create {}: {e}", dir.display())))?;
            let saved = |result: std::result::Result<(), _>, part: &str| {
                result.map_err(|e| Error::Training(format!("cannot write the {part} checkpoint: {e:?}")))
            };
            saved(restored.into_record().save(checkpoint_file(dir, "model", epoch)), "model")?;
            saved(optimizer.to_record().save(checkpoint_file(dir, "optim", epoch)), "optimizer")?;
            saved(scheduler.to_record().save(checkpoint_file(dir, "scheduler", epoch)), "scheduler")?;
            Some(epoch)
        }
    };

    let train_loader = DataLoaderBuilder::new(BucketBatcher)
        .batch_size(1)
        .shuffle(config.seed)
        .num_workers(0)
        .build(InMemDataset::new(train_batches));
    let dev_loader =
        DataLoaderBuilder::new(BucketBatcher).batch_size(1).build(InMemDataset::new(dev_batches));
    let bleu = CorpusBleu::new(data.code_vocab.clone());
    let stopping = StoppingCondition::NoImprovementSince { n_epochs: config.patience };
    let (best_checkpoint, early_stopping) = if config.scores_bleu() {
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
    } else {
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
    };
    let mut training = SupervisedTraining::new(dir, train_loader, dev_loader)
        .metrics((LossMetric::new(),))
        .metric_train_numeric(LearningRateMetric::new());
    // A model scored on its loss generates nothing in validation: a BLEU column would read 0.
    if config.scores_bleu() {
        training = training.metric_valid_numeric(bleu);
    }
    training = training
        .with_default_checkpointers()
        .with_checkpointing_strategy(
            ComposedCheckpointingStrategy::builder()
                // The last three stay for averaging (`nl2py export --average-last`).
                .add(KeepLastNCheckpoints::new(3))
                .add(best_checkpoint)
                .build(),
        )
        .early_stopping(early_stopping)
        .num_epochs(config.epochs);
    let divergence = Divergence::default();
    let interrupter = training.interrupter();
    let drawn = dashboard.then(|| default_renderer(interrupter.clone(), resume_from));
    let progress = PlainProgress::new(dir.join(EPOCHS_FILE), drawn, interrupter, divergence.clone());
    training = training.renderer(Box::new(progress));
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    if devices.len() > 1 {
        let strategy = ExecutionStrategy::multi(devices, MultiDeviceOptim::OptimMainDevice);
        training = training.with_training_strategy(strategy.into());
    }
    let result = training.launch(Learner::new(trainee, optimizer, scheduler));
    if let Some(epoch) = divergence.epoch() {
        return Err(Error::Training(format!(
            "the loss stopped being a number in epoch {epoch}; the checkpoints before it are kept \
             (try a lower learning rate or more warm-up)"
        )));
    }
    match result.error {
        Some(error) => Err(Error::Training(format!("{error:?}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::prompt::Slots;

    fn example(source: &str, code_len: usize) -> Example {
        Example {
            source: source.into(),
            id: "1".into(),
            prompt: "p".into(),
            snippet: "x".into(),
            prompt_tokens: vec!["p".into()],
            code_tokens: vec!["x".into(); code_len],
            slots: Slots::default(),
            retrieved: Vec::new(),
            tests: Vec::new(),
            attribution: None,
        }
    }

    #[test]
    fn an_epoch_repeats_sources_and_leaves_out_code_that_does_not_fit() {
        let vocab = Vocab::build(&[("p".to_string(), 1), ("x".to_string(), 1)].into_iter().collect(), 1);
        let data = TrainingData {
            train: vec![example("conala-train.json", 3), example("django-all.anno", 3)],
            pretrain: vec![example("api-docs.jsonl", 3), example("api-docs.jsonl", 9)],
            dev: vec![example("conala-train.json", 20)],
            prompt_vocab: &vocab,
            code_vocab: Arc::new(vocab.clone()),
            index: None,
        };
        let config = TrainingConfig::new(Seq2SeqConfig::new(4, 4).with_max_code_len(8))
            .with_corpus(Corpus::Mixed)
            .with_repeat(vec![("conala".into(), 3)]);
        let epoch = epoch_data(&config, &data);
        // conala ×3, django ×1, the short api-docs pair; the 9-token one does not fit in 7.
        assert_eq!(epoch.train.len(), 5);
        assert!(epoch.summary.contains("1 of 4 with more than 7 code tokens left out"), "{}", epoch.summary);
        assert_eq!(epoch.dev.len(), 1);
        let train_only = epoch_data(&config.clone().with_corpus(Corpus::Train), &data);
        assert_eq!(train_only.train.len(), 4);
        let code = epoch_data(&config.clone().with_corpus(Corpus::Code), &data);
        assert_eq!(code.train.iter().map(|w| w.code.len()).collect::<Vec<_>>(), [3, 3, 3, 7, 2]);
        // Turned around: the train split only, code in (cut to the encoder's 4), prompt out.
        let mut reverse_config = config.with_corpus(Corpus::Reverse);
        reverse_config.model.max_prompt_len = 4;
        let reverse = epoch_data(&reverse_config, &data);
        assert_eq!(reverse.train.len(), 4);
        let x = vocab.id("x");
        assert!(reverse.train.iter().all(|e| e.prompt == [x; 3] && e.code == [vocab.id("p")]));
        assert_eq!(reverse.dev[0].prompt, [x; 4]);
    }

    #[test]
    fn the_schedule_warms_up_then_decays_to_a_thousandth() {
        let config = TrainingConfig::new(Seq2SeqConfig::new(4, 4)).with_lr(1e-3).with_warmup_steps(10);
        let mut schedule = scheduler(&config, 100).unwrap();
        let rates: Vec<f64> = (0..100).map(|_| schedule.step().base()).collect();
        assert!((rates[0] - 1e-4).abs() < 1e-9, "{}", rates[0]);
        let peak = rates.iter().copied().fold(0.0, f64::max);
        assert!((peak - 1e-3).abs() < 1e-9 && rates[..10].windows(2).all(|w| w[0] < w[1]));
        assert!(rates[10..].windows(2).all(|w| w[0] >= w[1]));
        assert!(rates[99] < 2e-5, "{}", rates[99]);
    }
}
