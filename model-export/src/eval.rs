//! `nl2py eval`: scores generated code the way the field does, per split: CoNaLa test, CoNaLa
//! dev, English–Python dev. BLEU and exact match as CoNaLa's official scorer, ROUGE-L F1 on the
//! same tokens, syntax-valid % (RustPython's parser) and, for English–Python programs, runs-clean %
//! (`python3 -I` in a fresh folder with time and memory limits).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use nl2py::data::batch::{Batch, EncodedExample};
use nl2py::data::prepare::{Example, Split};
use nl2py::decode::{GenerateOptions, Search, Translator, code_from_tokens, greedy_batch};
use nl2py::metrics::{corpus_bleu, exact_match, is_valid_python, rouge_l_f1, tokenize_for_bleu_eval};
use serde::Serialize;

use crate::prepared::read_split;

#[derive(clap::Args)]
pub struct Args {
    /// The model: a bundle file or a run folder.
    #[arg(long)]
    model: PathBuf,
    /// Folder written by `nl2py prepare`.
    #[arg(long, default_value = "prepared")]
    data: PathBuf,
    /// Beam width (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    #[arg(long, default_value_t = 0.6)]
    length_penalty: f32,
    /// Rerank the beam: take the best candidate that Python can parse (needs --beam 2 or more).
    #[arg(long)]
    rerank: bool,
    #[arg(long, default_value_t = 200)]
    max_tokens: usize,
    /// Score only the first N examples of each split.
    #[arg(long)]
    limit: Option<usize>,
    /// Print N prompt / reference / output triples per split.
    #[arg(long, default_value_t = 0)]
    show: usize,
    /// Seconds a generated program may run before it counts as not clean.
    #[arg(long, default_value_t = 5)]
    run_timeout: u64,
    #[arg(long)]
    json: bool,
    /// Backend: flex (CPU), or wgpu, vulkan, cuda[:N] where built with that feature.
    #[arg(long, default_value = "flex")]
    device: String,
}

#[derive(Debug, Serialize)]
struct SplitScore {
    split: String,
    examples: usize,
    bleu: f64,
    exact_match: f64,
    rouge_l: f64,
    syntax_valid: f64,
    /// Only for English–Python programs.
    runs_clean: Option<f64>,
    seconds: f64,
}

/// The evaluation splits: CoNaLa test, and dev by source.
fn splits(data: &Path) -> anyhow::Result<Vec<(String, Vec<Example>)>> {
    let test = read_split(data, Split::Test)?;
    let dev = read_split(data, Split::Dev)?;
    let (conala, english): (Vec<Example>, Vec<Example>) =
        dev.into_iter().partition(|e| e.source.starts_with("conala"));
    Ok(vec![
        ("conala-test".into(), test),
        ("conala-dev".into(), conala),
        ("english-python-dev".into(), english),
    ])
}

/// Generated code for each example, in order.
fn generate(translator: &Translator, examples: &[Example], args: &Args) -> anyhow::Result<Vec<String>> {
    if args.beam > 1 {
        let options = GenerateOptions {
            search: Search::Beam { width: args.beam, length_penalty: args.length_penalty },
            max_tokens: args.max_tokens,
            attention: false,
            prefer_parseable: args.rerank,
        };
        return examples
            .iter()
            .map(|e| match pollster::block_on(translator.generate(&e.prompt, &options)) {
                Ok(generation) => Ok(generation.code),
                // A prompt the model cannot read gets no code, and scores as such.
                Err(nl2py::Error::EmptyPrompt | nl2py::Error::UnknownPrompt(_)) => Ok(String::new()),
                Err(e) => Err(e.into()),
            })
            .collect();
    }
    let config = &translator.config;
    let mut codes = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(32) {
        let encoded: Vec<EncodedExample> = chunk
            .iter()
            .map(|e| {
                // Neighbours from the model's own index, as `generate` and the page retrieve.
                let hits = translator.retrieve(&e.prompt_tokens);
                EncodedExample::new(
                    e,
                    &translator.prompt_vocab,
                    &translator.code_vocab,
                    config.max_prompt_len,
                    config.max_code_len,
                )
                .with_examples(translator.example_ids(&hits))
            })
            .collect();
        let input = Batch::new(encoded, &translator.device).input;
        let max_tokens = args.max_tokens.min(config.max_code_len - 1);
        let outputs = pollster::block_on(greedy_batch(&translator.model, &input, max_tokens))?;
        for (ids, example) in outputs.iter().zip(chunk) {
            codes.push(code_from_tokens(&translator.code_vocab.decode(ids), &example.slots));
        }
    }
    Ok(codes)
}

/// Runs a program with `python3 -I` in a fresh folder, no input, a time limit and 2 GB of memory.
/// True when it exits with status 0; a hang or a crash is simply false.
pub fn runs_clean(code: &str, timeout_s: u64) -> bool {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nl2py-run-{}-{n}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() || std::fs::write(dir.join("program.py"), code).is_err() {
        return false;
    }
    let script = format!("ulimit -v 2000000; exec timeout -s KILL {timeout_s} python3 -I program.py");
    let status = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(&dir);
    status.is_ok_and(|s| s.success())
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = crate::devices::parse(&args.device)?.remove(0);
    if args.rerank && args.beam < 2 {
        bail!("--rerank chooses among a beam's candidates: give --beam 2 or more");
    }
    let translator = crate::model_file::load(&args.model, &device)?;
    // Greedy scoring reads the prompt tokens the folder holds: they must be tokenized as the
    // model was trained, with slots or without.
    if crate::prepared::read_config(&args.data)?.slots != translator.slots {
        bail!(
            "{} was prepared {} slots but the model was trained {} them",
            args.data.display(),
            if translator.slots { "without" } else { "with" },
            if translator.slots { "with" } else { "without" }
        );
    }
    let mut scores = Vec::new();
    for (name, mut examples) in splits(&args.data).context("reading the prepared splits")? {
        if let Some(limit) = args.limit {
            examples.truncate(limit);
        }
        if examples.is_empty() {
            continue;
        }
        let started = Instant::now();
        let codes = generate(&translator, &examples, args)?;
        let tokens: Vec<(Vec<String>, Vec<String>)> = codes
            .iter()
            .zip(&examples)
            .map(|(code, e)| (tokenize_for_bleu_eval(code), tokenize_for_bleu_eval(&e.snippet)))
            .collect();
        let n = examples.len() as f64;
        let percent = |count: usize| 100.0 * count as f64 / n;
        let runs_clean = (name == "english-python-dev")
            .then(|| percent(codes.iter().filter(|c| runs_clean(c, args.run_timeout)).count()));
        let score = SplitScore {
            examples: examples.len(),
            bleu: corpus_bleu(&tokens).score,
            exact_match: percent(
                codes.iter().zip(&examples).filter(|(c, e)| exact_match(c, &e.snippet)).count(),
            ),
            rouge_l: 100.0 * tokens.iter().map(|(h, r)| rouge_l_f1(h, r)).sum::<f64>() / n,
            syntax_valid: percent(codes.iter().filter(|c| is_valid_python(c)).count()),
            runs_clean,
            seconds: started.elapsed().as_secs_f64(),
            split: name.clone(),
        };
        if !args.json {
            for (code, e) in codes.iter().zip(&examples).take(args.show) {
                println!(
                    "--- {name} {}\nprompt:    {}\nreference: {}\noutput:    {}",
                    e.id,
                    e.prompt,
                    e.snippet.trim_end(),
                    code.trim_end()
                );
            }
            let clean = score.runs_clean.map_or("-".to_string(), |r| format!("{r:.1}"));
            println!(
                "{name}: {} examples, BLEU {:.2}, exact {:.1} %, ROUGE-L {:.2}, syntax-valid {:.1} %, runs-clean {clean} %, {:.0} s",
                score.examples,
                score.bleu,
                score.exact_match,
                score.rouge_l,
                score.syntax_valid,
                score.seconds
            );
        }
        scores.push(score);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
    }
    Ok(())
}
