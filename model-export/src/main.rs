//! `nl2py`: the native command-line program. It parses arguments and does the file I/O; the
//! work itself lives in the `nl2py` core crate.

mod prepare;

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Prepare(args) => prepare::run(&args),
    }
}
