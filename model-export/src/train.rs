//! `nl2py train`: reads a prepared folder, turns the flags into the core's `TrainingConfig`
//! (whose defaults are the flags' defaults), keeps `run.json`, and runs the core's recipe;
//! `--resume` continues a killed run, `--snapshot` one committed elsewhere (`nl2py snapshot`).

use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::Device;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use nl2py::data::prepare::Split;
use nl2py::model::{Seq2Seq, Seq2SeqConfig, Transfer};
use nl2py::train::{Corpus, Init, Launch, Start, TrainingConfig, TrainingData, checkpoint_epochs};

use crate::prepared::{read_index, read_split, read_vocab};
use crate::run_folder::{MODEL_FILE, RUN_FILE, RunFile};

/// Every default, from the core.
fn defaults() -> TrainingConfig {
    TrainingConfig::new(Seq2SeqConfig::new(0, 0))
}

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
    /// train: the train split's pairs; pretrain: the pretrain split's (API docs, mined); mixed:
    /// both; code: the code of both alone, a decoder-only language model of Python.
    #[arg(long, default_value_t = defaults().corpus, value_parser = PossibleValuesParser::new(Corpus::ALL.map(Corpus::name)).map(|name| name.parse::<Corpus>().expect("a listed name")))]
    corpus: Corpus,
    /// Leave out training pairs with more code tokens than this (at most, and by default,
    /// --max-code-len − 1: what fits). Without it, `--corpus code` cuts long code into windows.
    #[arg(long)]
    longest_code: Option<usize>,
    /// Start from this model's weights (a bundle or a run folder on the same prepared data).
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Copy only what a code language model learned: code embeddings, the decoder's
    /// self-attention and feed-forward blocks, the output; not the encoder or cross-attention.
    #[arg(long, requires = "init_from")]
    init_decoder_only: bool,
    /// Repeat the pairs of data files whose name starts with PREFIX N times an epoch
    /// (`--repeat conala=4 --repeat english_python=2`).
    #[arg(long, value_name = "PREFIX=N", value_parser = parse_repeat)]
    repeat: Vec<(String, usize)>,
    /// The encoder also reads the code of each prompt's retrieved neighbours (the prepared
    /// folder's retrieval index; `nl2py prepare --neighbours`).
    #[arg(long)]
    retrieval: bool,
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    /// Peak learning rate, reached after the warm-up, then decayed linearly to a thousandth.
    #[arg(long, default_value_t = defaults().lr)]
    lr: f64,
    #[arg(long, default_value_t = defaults().warmup_steps)]
    warmup_steps: usize,
    /// Padded target tokens per batch (batches group examples of similar length).
    #[arg(long, default_value_t = defaults().batch_tokens)]
    batch_tokens: usize,
    #[arg(long, default_value_t = defaults().max_batch)]
    max_batch: usize,
    #[arg(long, default_value_t = defaults().label_smoothing)]
    label_smoothing: f32,
    #[arg(long, default_value_t = defaults().weight_decay)]
    weight_decay: f32,
    /// Gradient clipping: largest L2 norm of each parameter's gradient.
    #[arg(long, default_value_t = defaults().clip_norm)]
    clip_norm: f32,
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Stop after this many epochs without a better dev BLEU.
    #[arg(long, default_value_t = defaults().patience)]
    patience: usize,
    /// Longest greedy generation when scoring dev BLEU.
    #[arg(long, default_value_t = defaults().valid_max_tokens)]
    valid_max_tokens: usize,
    #[arg(long, default_value_t = defaults().model.d_model)]
    d_model: usize,
    #[arg(long, default_value_t = defaults().model.heads)]
    heads: usize,
    #[arg(long, default_value_t = defaults().model.encoder_layers)]
    encoder_layers: usize,
    #[arg(long, default_value_t = defaults().model.decoder_layers)]
    decoder_layers: usize,
    #[arg(long, default_value_t = defaults().model.d_ff)]
    d_ff: usize,
    #[arg(long, default_value_t = defaults().model.dropout)]
    dropout: f64,
    /// Layer norm after each block (the original paper) instead of before it.
    #[arg(long)]
    post_norm: bool,
    /// Separate output projection instead of reusing the code embedding.
    #[arg(long)]
    untied: bool,
    #[arg(long, default_value_t = defaults().model.max_prompt_len)]
    max_prompt_len: usize,
    #[arg(long, default_value_t = defaults().model.max_code_len)]
    max_code_len: usize,
}

fn parse_repeat(text: &str) -> Result<(String, usize), String> {
    let (prefix, times) = text.split_once('=').ok_or("expected PREFIX=N")?;
    let times = times.parse().map_err(|_| format!("{times:?} is not a count"))?;
    Ok((prefix.to_string(), times))
}

impl Args {
    /// A new run's settings on a prepared folder with these vocabulary sizes.
    fn training(&self, prompt_vocab: usize, code_vocab: usize) -> anyhow::Result<TrainingConfig> {
        let model = Seq2SeqConfig::new(prompt_vocab, code_vocab)
            .with_d_model(self.d_model)
            .with_heads(self.heads)
            .with_encoder_layers(self.encoder_layers)
            .with_decoder_layers(self.decoder_layers)
            .with_d_ff(self.d_ff)
            .with_dropout(self.dropout)
            .with_pre_norm(!self.post_norm)
            .with_tie_embeddings(!self.untied)
            .with_max_prompt_len(self.max_prompt_len)
            .with_max_code_len(self.max_code_len);
        // Absolute, so that a resume from another folder finds it.
        let init = match &self.init_from {
            Some(from) => Some(Init {
                from: fs::canonicalize(from).with_context(|| format!("--init-from {}", from.display()))?,
                decoder_only: self.init_decoder_only,
            }),
            None => None,
        };
        Ok(TrainingConfig::new(model)
            .with_corpus(self.corpus)
            .with_longest_code(self.longest_code)
            .with_init(init)
            .with_repeat(self.repeat.clone())
            .with_epochs(self.epochs)
            .with_lr(self.lr)
            .with_warmup_steps(self.warmup_steps)
            .with_batch_tokens(self.batch_tokens)
            .with_max_batch(self.max_batch)
            .with_label_smoothing(self.label_smoothing)
            .with_weight_decay(self.weight_decay)
            .with_clip_norm(self.clip_norm)
            .with_seed(self.seed)
            .with_patience(self.patience)
            .with_valid_max_tokens(self.valid_max_tokens))
    }
}

/// The run file and how the run starts: continued, restored from a snapshot, or new.
fn start(args: &Args, device: &Device) -> anyhow::Result<(RunFile, Start)> {
    let run_path = args.out.join(RUN_FILE);
    let last = checkpoint_epochs(&args.out, true).last().copied();
    if args.resume {
        if let (Some(dir), None) = (&args.snapshot, last) {
            let (run_file, epoch, weights) = crate::snapshot::restore(dir, &args.data, device)?;
            crate::run_folder::write(&args.out, &run_file)?;
            println!("restoring {} from the snapshot of epoch {epoch}", args.out.display());
            return Ok((run_file, Start::Restore { epoch, weights }));
        }
        let run_file = crate::run_folder::read(&args.out)
            .with_context(|| format!("--resume needs {}", run_path.display()))?;
        if let Some(epoch) = last {
            println!("resuming {} after epoch {epoch}", args.out.display());
            return Ok((run_file, Start::Resume { epoch }));
        }
        println!("no checkpoint in {} yet: starting from the beginning", args.out.display());
        let init = init_weights(&run_file, device)?;
        return Ok((run_file, Start::Fresh { init }));
    }
    if run_path.exists() {
        bail!("{} already holds a run: pass --resume to continue it, or another --out", args.out.display());
    }
    let prompt_vocab = read_vocab(&args.data, "prompt")?;
    let code_vocab = read_vocab(&args.data, "code")?;
    let mut training = args.training(prompt_vocab.len(), code_vocab.len())?;
    training.check()?;
    if args.retrieval {
        let index = read_index(&args.data, &code_vocab)?.with_context(|| {
            format!("--retrieval needs {}: prepare with --neighbours", args.data.display())
        })?;
        training.model.max_example_len = Some(index.max_example_len);
    }
    let run_file = RunFile { data: fs::canonicalize(&args.data)?, training };
    let init = init_weights(&run_file, device)?;
    crate::run_folder::write(&args.out, &run_file)?;
    Ok((run_file, Start::Fresh { init }))
}

/// The weights a fresh run starts from (`--init-from`), checked to share its vocabularies.
fn init_weights(run_file: &RunFile, device: &Device) -> anyhow::Result<Option<(Seq2Seq, Transfer)>> {
    let Some(init) = &run_file.training.init else { return Ok(None) };
    let source = crate::model_file::load(&init.from, device)?;
    if source.prompt_vocab != read_vocab(&run_file.data, "prompt")?
        || source.code_vocab != read_vocab(&run_file.data, "code")?
    {
        bail!(
            "{} was trained on other vocabularies: prepare both runs from the same folder",
            init.from.display()
        );
    }
    let transfer = if init.decoder_only { Transfer::Decoder } else { Transfer::All };
    Ok(Some((source.model, transfer)))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let devices = crate::devices::parse(&args.device)?;
    fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let (run_file, start) = start(args, &devices[0])?;
    let data = &run_file.data;
    let prompt_vocab = read_vocab(data, "prompt")?;
    let code_vocab = Arc::new(read_vocab(data, "code")?);
    let index = match run_file.training.model.max_example_len {
        Some(_) => read_index(data, &code_vocab)?,
        None => None,
    };
    let training = &run_file.training;
    let needs = |split: Split, used: bool| if used { read_split(data, split) } else { Ok(Vec::new()) };
    let data = TrainingData {
        train: needs(Split::Train, training.corpus != Corpus::Pretrain)?,
        pretrain: needs(Split::Pretrain, training.corpus != Corpus::Train)?,
        dev: read_split(data, Split::Dev)?,
        prompt_vocab: &prompt_vocab,
        code_vocab,
        index: index.as_ref(),
    };
    let launch = Launch {
        dir: &args.out,
        devices: devices.clone(),
        start,
        dashboard: std::io::stdout().is_terminal(),
    };
    let started = std::time::Instant::now();
    nl2py::train::train(training, &data, launch)?;
    println!("trained for {:.1} min", started.elapsed().as_secs_f64() / 60.0);

    let (best, epoch) = crate::run_folder::load_best(&args.out, &devices[0])?;
    let bytes = nl2py::bundle::export(&best, nl2py::bundle::Precision::F32, Default::default())?;
    crate::files::write(&args.out.join(MODEL_FILE), &bytes)?;
    println!("best epoch {epoch}: written to {}", args.out.join(MODEL_FILE).display());
    Ok(())
}
