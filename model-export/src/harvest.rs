//! `nl2py harvest`: expert iteration's data step. The model answers the train split's prompts of
//! one source (its greedy answer and `--samples` sampled ones, each prompt reading the neighbours
//! training gave it), the sandbox runs the reference and every new answer, and the answers that
//! exit cleanly printing what the reference printed (something, not nothing) join a copy of the
//! prepared folder as training pairs. `nl2py train --data OUT --repeat self=N` fine-tunes on them.
//! Running cleanly alone rewards too much: a function nothing calls runs cleanly whatever it does.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nl2py::data::prepare::{Example, Split};
use nl2py::decode::{GenerateOptions, Generation, Search};
use nl2py::train::self_pairs::{self_pair, worth_running};

use crate::prepared::read_split;
use crate::sandbox::{Outcome, Run, Sandbox};

#[derive(clap::Args)]
pub struct Args {
    /// The model: a bundle file or a run folder.
    #[arg(long)]
    model: PathBuf,
    /// Folder written by `nl2py prepare`.
    #[arg(long, default_value = "prepared")]
    data: PathBuf,
    /// The prepared folder to write: DATA's files, its train split with the kept answers added.
    #[arg(long)]
    out: PathBuf,
    /// Answer the train split's prompts whose data file starts with this.
    #[arg(long, default_value = "english_python")]
    source: String,
    /// Sampled answers per prompt, beside the greedy one.
    #[arg(long, default_value_t = 4)]
    samples: usize,
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Seeds the first sampled answer of each prompt (the others follow it).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Seconds an answer may run before it is killed and earns nothing.
    #[arg(long, default_value_t = 5)]
    run_timeout: u64,
    /// Answer only the first N prompts.
    #[arg(long)]
    limit: Option<usize>,
}

/// Whether an answer's run earns it a place: it exited cleanly and printed what the reference's
/// clean run printed, which was something.
fn rewarded(reference: &Run, answer: &Run) -> bool {
    reference.outcome == Outcome::Passed
        && !reference.output.trim().is_empty()
        && answer.outcome == Outcome::Passed
        && answer.output == reference.output
}

/// Every answer for each prompt: greedy first, then the samples. Prompts decode 32 at a time.
fn answer(
    translator: &nl2py::decode::Translator,
    examples: &[Example],
    args: &Args,
) -> anyhow::Result<Vec<Vec<Generation>>> {
    let mut answers: Vec<Vec<Generation>> = vec![Vec::new(); examples.len()];
    for pass in 0..=args.samples {
        let search = match pass {
            0 => Search::Greedy,
            // Samplers seed per row from here: passes are a batch's rows apart and more.
            n => Search::Sample {
                temperature: args.temperature,
                top_k: 0,
                top_p: args.top_p,
                seed: args.seed.wrapping_add(n as u64 * 1_000_003),
            },
        };
        let options = GenerateOptions { search, alternatives: 0, ..GenerateOptions::default() };
        options.search.check()?;
        let started = Instant::now();
        for (chunk, answers) in examples.chunks(32).zip(answers.chunks_mut(32)) {
            let prompts: Vec<(&str, &[usize])> =
                chunk.iter().map(|e| (e.prompt.as_str(), e.retrieved.as_slice())).collect();
            for (generation, answers) in
                pollster::block_on(translator.generate_batch_beside(&prompts, &options))?
                    .into_iter()
                    .zip(answers)
            {
                match generation {
                    Ok(generation) => answers.push(generation),
                    Err(nl2py::Error::EmptyPrompt | nl2py::Error::UnknownPrompt(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        eprintln!("answers, pass {pass} of {}: {:.0} s", args.samples, started.elapsed().as_secs_f64());
    }
    Ok(answers)
}

/// Runs `programs` in the sandbox on every core; the runs in order.
fn run_all(sandbox: &Sandbox, programs: &[&str]) -> anyhow::Result<Vec<Run>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = programs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = programs
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || chunk.iter().map(|p| sandbox.run(p)).collect::<anyhow::Result<Vec<_>>>())
            })
            .collect();
        let mut runs = Vec::with_capacity(programs.len());
        for handle in handles {
            runs.extend(handle.join().expect("a sandbox thread panicked")?);
        }
        Ok(runs)
    })
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.out == args.data {
        bail!("--out must be a new folder, not --data itself");
    }
    let device = crate::devices::parse("flex")?.remove(0);
    let sandbox = Sandbox::new(Duration::from_secs(args.run_timeout))?;
    eprintln!("sandbox: {}", sandbox.describe());
    let translator = crate::model_file::load(&args.model, &device)?;
    let train = read_split(&args.data, Split::Train)?;
    let mut examples: Vec<Example> =
        train.iter().filter(|e| e.source.starts_with(&args.source)).cloned().collect();
    examples.truncate(args.limit.unwrap_or(usize::MAX));
    if examples.is_empty() {
        bail!(
            "the train split of {} has no pairs from a file starting with {:?}",
            args.data.display(),
            args.source
        );
    }
    let answers = answer(&translator, &examples, args)?;
    let candidates: Vec<(usize, &Generation)> = examples
        .iter()
        .zip(&answers)
        .enumerate()
        .flat_map(|(i, (example, answers))| worth_running(example, answers).into_iter().map(move |g| (i, g)))
        .collect();
    let started = Instant::now();
    let references: Vec<&str> = examples.iter().map(|e| e.snippet.as_str()).collect();
    let reference_runs = run_all(&sandbox, &references)?;
    let programs: Vec<&str> = candidates.iter().map(|(_, g)| g.code.as_str()).collect();
    let runs = run_all(&sandbox, &programs)?;
    eprintln!(
        "ran {} references and {} answers: {:.0} s",
        examples.len(),
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    let mut pairs = Vec::new();
    let mut per_example = vec![0; examples.len()];
    for ((i, answer), run) in candidates.iter().zip(&runs) {
        if rewarded(&reference_runs[*i], run) {
            pairs.push(self_pair(&examples[*i], answer, per_example[*i]));
            per_example[*i] += 1;
        }
    }
    let checkable =
        reference_runs.iter().filter(|r| r.outcome == Outcome::Passed && !r.output.trim().is_empty()).count();
    println!(
        "{} prompts ({checkable} whose reference runs cleanly and prints), {} answers, {} new, {} ran cleanly, {} printed what the reference printed, for {} prompts",
        examples.len(),
        answers.iter().map(Vec::len).sum::<usize>(),
        candidates.len(),
        runs.iter().filter(|r| r.outcome == Outcome::Passed).count(),
        pairs.len(),
        per_example.iter().filter(|&&n| n > 0).count()
    );
    write_folder(args, &train, &pairs)
}

/// OUT: every file of DATA as it is, but the train split with `pairs` after its own.
fn write_folder(args: &Args, train: &[Example], pairs: &[Example]) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let train_file = format!("{}.jsonl", Split::Train.name());
    for entry in std::fs::read_dir(&args.data)? {
        let entry = entry?;
        if entry.file_type()?.is_file() && entry.file_name() != train_file.as_str() {
            std::fs::copy(entry.path(), args.out.join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    let mut lines = String::new();
    for example in train.iter().chain(pairs) {
        lines += &serde_json::to_string(example)?;
        lines.push('\n');
    }
    crate::files::write(&args.out.join(train_file), lines.as_bytes())?;
    println!(
        "wrote {} ({} train pairs, {} of them the model's)",
        args.out.display(),
        train.len() + pairs.len(),
        pairs.len()
    );
    Ok(())
}
