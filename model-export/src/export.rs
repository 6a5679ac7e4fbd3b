//! `nl2py export`: one bundle file (config, vocabularies, weights, checksum) from a run's best
//! checkpoint or another bundle, in f32, f16 or int8, with a reranker's reverse model when asked;
//! `--inspect` reads a bundle's header.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use nl2py::bundle::{self, Precision};

use crate::search_args::RerankArgs;

#[derive(clap::Args)]
pub struct Args {
    /// A run folder (its best checkpoint) or a bundle file.
    #[arg(long)]
    model: PathBuf,
    /// The bundle to write.
    #[arg(long, required_unless_present = "inspect")]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PrecisionArg::F16)]
    precision: PrecisionArg,
    /// `key=value` facts stored in the bundle (training command, metrics…).
    #[arg(long = "meta", value_parser = parse_meta)]
    metadata: Vec<(String, String)>,
    /// Only check --model as a bundle and print its header.
    #[arg(long)]
    inspect: bool,
    /// Export the mean of the run's last N checkpoints instead of its best one.
    #[arg(long)]
    average_last: Option<usize>,
    #[command(flatten)]
    rerank: RerankArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
    /// Matrices as 8-bit blocks (32 values, one f16 scale); about half the size of f16.
    Int8,
}

fn parse_meta(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| "expected key=value".into())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.inspect {
        let bytes =
            std::fs::read(&args.model).with_context(|| format!("cannot read {}", args.model.display()))?;
        let info = bundle::inspect(&bytes)?;
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let mut translator = match args.average_last {
        Some(count) => {
            let (translator, epochs) = crate::run_folder::load_average(&args.model, count, &Device::flex())?;
            println!("averaged the checkpoints of epochs {epochs:?}");
            translator
        }
        None => crate::model_file::load(&args.model, &Device::flex())?,
    };
    args.rerank.apply(&mut translator, &Device::flex())?;
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F16 => Precision::F16,
        PrecisionArg::Int8 => Precision::Int8,
    };
    let metadata: BTreeMap<String, String> = args.metadata.iter().cloned().collect();
    let bytes = bundle::export(&translator, precision, metadata)?;
    let out = args.out.as_ref().expect("clap requires --out");
    crate::files::write(out, &bytes)?;
    println!("wrote {} ({:.1} MB)", out.display(), bytes.len() as f64 / 1e6);
    Ok(())
}
