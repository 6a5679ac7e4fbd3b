//! `nl2py`: the native command-line program. It parses arguments and does the file I/O; the
//! work itself lives in the `nl2py` core crate.

mod bench;
mod devices;
mod eval;
mod export;
mod files;
mod generate;
mod index;
mod mine;
mod model_file;
mod prepare;
mod prepared;
mod retrieval;
mod run_folder;
mod sandbox;
mod search_args;
mod snapshot;
mod train;
mod training_args;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "nl2py", version, about = "English prompt to Python code: data, training and export")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reads the data sets, cleans and tokenizes them, and writes splits and vocabularies.
    Prepare(prepare::Args),
    /// Mines pretraining pairs (docstring sentence → definition) from a Python source tree.
    Mine(mine::Args),
    /// Trains the model on prepared data; `--resume` continues a killed run.
    Train(train::Args),
    /// Scores a model on CoNaLa test and the dev splits: BLEU, exact match, ROUGE-L, syntax-valid, runs-clean.
    Eval(eval::Args),
    /// Writes a model as one bundle file for the browser (or inspects a bundle).
    Export(export::Args),
    /// Writes a run's last finished epoch as a small snapshot to commit; `train --resume
    /// --snapshot DIR` continues from it on another machine.
    Snapshot(snapshot::Args),
    /// Generates Python for a prompt.
    Generate(generate::Args),
    /// Measures training and generation speed of the default model on this machine.
    Bench(bench::Args),
    /// Scores the retrieval index on prompts whose right example is known, or rebuilds a
    /// bundle's index.
    Retrieval(retrieval::Args),
    /// Adds your own pairs to a bundle's retrieval index, without training.
    Index(index::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Prepare(args) => prepare::run(&args),
        Command::Mine(args) => mine::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Snapshot(args) => snapshot::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Retrieval(args) => retrieval::run(&args),
        Command::Index(args) => index::run(&args),
    }
}
