//! `nl2py generate`: Python for one prompt, with the retrieved examples and the cross-attention
//! as text on request, and the answer run in `eval --run`'s sandbox on request.

use std::path::PathBuf;
use std::time::Duration;

use nl2py::decode::{GenerateOptions, Generation};

use crate::sandbox::Sandbox;
use crate::search_args::SearchArgs;

#[derive(clap::Args)]
pub struct Args {
    /// The model: a bundle file or a run folder [default: the shipped model/default.nl2py].
    #[arg(long)]
    model: Option<PathBuf>,
    /// What the code should do.
    prompt: String,
    #[command(flatten)]
    search: SearchArgs,
    /// Print each generated token's probability and the alternatives the model offered there.
    #[arg(long)]
    alternatives: bool,
    /// Print the cross-attention (code tokens × prompt tokens, mean over layers and heads).
    #[arg(long)]
    attention: bool,
    /// Print the retrieved training pairs the model read beside the prompt, with their source
    /// and licence (a retrieval model's; others have none).
    #[arg(long)]
    show_examples: bool,
    /// Run the answer as a program in `nl2py eval --run`'s sandbox (python3; `nl2py eval --help`
    /// says what it isolates) and print how it ended and the last 4 KB it wrote (stdout and
    /// stderr); `input()` reads nothing.
    #[arg(long)]
    run: bool,
    /// Seconds of wall clock the answer may run with --run before it is killed.
    #[arg(long, default_value_t = 5, requires = "run")]
    run_timeout: u64,
    /// Print everything as JSON (with --run, the run's outcome and output under "run").
    #[arg(long)]
    json: bool,
    /// Backend: flex (CPU), or wgpu, vulkan, cuda[:N] where built with that feature.
    #[arg(long, default_value = "flex")]
    device: String,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let device = crate::devices::parse(&args.device)?.remove(0);
    let model = args.model.clone().unwrap_or_else(|| PathBuf::from(crate::model_file::SHIPPED));
    // Before the model loads: a missing python3 says so at once.
    let sandbox = args.run.then(|| Sandbox::new(Duration::from_secs(args.run_timeout))).transpose()?;
    let mut runner = args.search.runner()?;
    let mut translator = crate::model_file::load(&model, &device)?;
    args.search.rerank.apply(&mut translator, &device)?;
    let options = GenerateOptions { attention: args.attention || args.json, ..args.search.options() };
    let generation = pollster::block_on(translator.generate_watched(&args.prompt, &options, &mut runner))?;
    let ran = sandbox.as_ref().map(|sandbox| sandbox.run(&generation.code)).transpose()?;
    if args.json {
        let mut json = serde_json::to_value(&generation)?;
        if let Some(ran) = &ran {
            json["run"] = serde_json::json!({ "outcome": ran.outcome.to_string(), "output": ran.output });
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    if generation.truncated {
        eprintln!("note: the prompt was cut to {} tokens", generation.prompt_tokens.len());
    }
    if generation.cut_to_parse {
        eprintln!("note: no answer parsed whole; these are the lines of the best one that do");
    }
    if let Some(example) = generation.copied_from.and_then(|n| Some((n, generation.examples.get(n)?))) {
        let (n, example) = example;
        eprintln!(
            "note: the code of retrieved example {} ({}, {}), as it is",
            n + 1,
            example.source,
            example.licence
        );
    }
    print!("{}", generation.code);
    if let Some(ran) = &ran {
        println!("\n--- ran in the sandbox: {}", ran.outcome);
        print!("{}", ran.output);
        if !ran.output.is_empty() && !ran.output.ends_with('\n') {
            println!();
        }
    }
    if args.show_examples {
        print_examples(&generation);
    }
    if args.alternatives {
        print_alternatives(&generation);
    }
    if args.attention {
        print_attention(&generation);
    }
    Ok(())
}

/// One line per generated token: its probability, then the model's best alternatives there.
fn print_alternatives(generation: &Generation) {
    println!("\ntoken probabilities and alternatives:");
    for choice in &generation.tokens {
        let others: Vec<String> = choice
            .alternatives
            .iter()
            .filter(|a| a.id != choice.id)
            .map(|a| format!("{:?} {:.0} %", a.token, 100.0 * a.probability))
            .collect();
        println!(
            "  {:<16} {:>5.1} %   {}",
            format!("{:?}", choice.token),
            100.0 * choice.probability,
            others.join(", ")
        );
    }
}

fn print_examples(generation: &Generation) {
    if generation.examples.is_empty() {
        println!("\n(no retrieved examples: this model reads the prompt alone)");
    }
    for (n, example) in generation.examples.iter().enumerate() {
        println!("\nexample {} (BM25 {:.1}; {}, {}):", n + 1, example.score, example.source, example.licence);
        println!("  # {}", example.prompt);
        for line in example.code.lines() {
            println!("  {line}");
        }
    }
}

/// Rows: generated tokens; columns: prompt tokens; cells: mean weight in percent.
fn print_attention(generation: &Generation) {
    let Some(attention) = &generation.attention else { return };
    let labels: Vec<String> = generation.output_tokens.iter().map(|t| format!("{t:?}")).collect();
    let width = labels.iter().map(|t| t.chars().count()).max().unwrap_or(1).min(16);
    println!("\ncross-attention (%, mean over {} layers × {} heads):", attention.layers, attention.heads);
    print!("{:width$} ", "");
    for token in &generation.prompt_tokens {
        print!("{:>6}", token.chars().take(6).collect::<String>());
    }
    println!();
    for (step, label) in labels.iter().enumerate() {
        print!("{:width$} ", label.chars().take(width).collect::<String>());
        for weight in attention.mean(step, None, None) {
            print!("{:>6.0}", 100.0 * weight);
        }
        println!();
    }
}
