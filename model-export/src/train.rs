//! `nl2py train`: reads a prepared folder, builds the core's `TrainingConfig` from the flags
//! (`training_args`), keeps `run.json`, and runs the core's recipe;
//! `--resume` continues a killed run, `--snapshot` one committed elsewhere (`nl2py snapshot`).

use std::fs;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::Device;
use nl2py::data::prepare::Split;
use nl2py::model::{Seq2Seq, Transfer};
use nl2py::train::{Corpus, Init, Launch, Start, TrainingData, checkpoint_epochs};

use crate::prepared::{model_vocabs, read_index, read_split, read_vocab};
use crate::run_folder::{MODEL_FILE, RUN_FILE, RunFile};
use crate::training_args::TrainingArgs;

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
    training: TrainingArgs,
    /// Start from this model's weights (a bundle or a run folder on the same prepared data). A
    /// model with fewer layers than this run's grows: its layers are copied, the extra ones start
    /// as identities.
    #[arg(long)]
    init_from: Option<PathBuf>,
    /// Copy only what a code language model learned: code embeddings, the decoder's
    /// self-attention and feed-forward blocks, the output; not the encoder or cross-attention.
    #[arg(long, requires = "init_from")]
    init_decoder_only: bool,
    /// The encoder also reads the code of each prompt's retrieved neighbours (the prepared
    /// folder's retrieval index; `nl2py prepare --neighbours`); implied by an --init-from model
    /// that reads them.
    #[arg(long)]
    retrieval: bool,
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
    let (input_vocab, output_vocab) = model_vocabs(&args.data, args.training.corpus())?;
    // Absolute, so that a resume from another folder finds it.
    let init = match &args.init_from {
        Some(from) => Some(Init {
            from: fs::canonicalize(from).with_context(|| format!("--init-from {}", from.display()))?,
            decoder_only: args.init_decoder_only,
        }),
        None => None,
    };
    let source = init.as_ref().map(|init| crate::model_file::load(&init.from, device)).transpose()?;
    let like = source.as_ref().map(|source| &source.config);
    let mut training = args.training.training(input_vocab.len(), output_vocab.len(), init, like);
    training.check()?;
    // A model that read retrieved examples goes on reading them, as many tokens of them as before.
    let inherited = like.and_then(|config| config.max_example_len);
    if args.retrieval || inherited.is_some() {
        if training.corpus == Corpus::Reverse {
            bail!(
                "a reverse model reads no retrieved examples: leave out --retrieval (and an --init-from model that reads them)"
            );
        }
        let index = read_index(&args.data, &output_vocab)?.with_context(|| match inherited {
            Some(_) => format!(
                "the --init-from model reads retrieved examples, so {} needs a retrieval index: prepare it \
                 with --neighbours",
                args.data.display()
            ),
            None => format!("--retrieval needs {}: prepare with --neighbours", args.data.display()),
        })?;
        training.model.max_example_len = Some(inherited.unwrap_or(index.max_example_len));
    }
    let run_file = RunFile { data: fs::canonicalize(&args.data)?, training };
    let init = match source {
        Some(source) => Some(transfer_from(source, &run_file)?),
        None => None,
    };
    crate::run_folder::write(&args.out, &run_file)?;
    Ok((run_file, Start::Fresh { init }))
}

/// The weights a fresh run starts from (`--init-from`), checked to share its vocabularies.
fn init_weights(run_file: &RunFile, device: &Device) -> anyhow::Result<Option<(Seq2Seq, Transfer)>> {
    let Some(init) = &run_file.training.init else { return Ok(None) };
    Ok(Some(transfer_from(crate::model_file::load(&init.from, device)?, run_file)?))
}

/// `source`'s weights as the start of the run `run_file` describes, which must read and write
/// the same vocabularies.
fn transfer_from(
    source: nl2py::decode::Translator,
    run_file: &RunFile,
) -> anyhow::Result<(Seq2Seq, Transfer)> {
    let init = run_file.training.init.as_ref().expect("a run started from a model");
    let (input_vocab, output_vocab) = model_vocabs(&run_file.data, run_file.training.corpus)?;
    if source.prompt_vocab != input_vocab || source.code_vocab != output_vocab {
        bail!(
            "{} was trained on other vocabularies: prepare the data with `nl2py prepare --vocabularies {}`",
            init.from.display(),
            init.from.display()
        );
    }
    let (from, to) = (&source.config, &run_file.training.model);
    let widths = |c: &nl2py::model::Seq2SeqConfig| (c.d_model, c.heads, c.d_ff);
    if widths(from) != widths(to) {
        bail!(
            "{} has --d-model {} --heads {} --d-ff {}, this run {} {} {}: leave those flags out to keep \
             the model's (only layers can be added)",
            init.from.display(),
            from.d_model,
            from.heads,
            from.d_ff,
            to.d_model,
            to.heads,
            to.d_ff
        );
    }
    let transfer = Transfer::between(from, to, init.decoder_only);
    Ok((source.model, transfer))
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
        pretrain: needs(
            Split::Pretrain,
            matches!(training.corpus, Corpus::Pretrain | Corpus::Mixed | Corpus::Code),
        )?,
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
