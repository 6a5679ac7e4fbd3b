//! `nl2py generate`: Python for one prompt, with the retrieved examples and the cross-attention
//! as text on request.

use std::path::PathBuf;

use nl2py::decode::{GenerateOptions, Generation, Search};

#[derive(clap::Args)]
pub struct Args {
    /// The model: a bundle file or a run folder [default: the shipped model/default.nl2py].
    #[arg(long)]
    model: Option<PathBuf>,
    /// What the code should do.
    prompt: String,
    /// Beam search with this width (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    #[arg(long, default_value_t = 0.6)]
    length_penalty: f32,
    /// Rerank the beam: take the best candidate that Python can parse (needs --beam 2 or more).
    #[arg(long)]
    rerank: bool,
    /// Sample at this temperature instead of searching.
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 200)]
    max_tokens: usize,
    /// Print the cross-attention (code tokens × prompt tokens, mean over layers and heads).
    #[arg(long)]
    attention: bool,
    /// Print the retrieved training pairs the model read beside the prompt, with their source
    /// and licence (a retrieval model's; others have none).
    #[arg(long)]
    show_examples: bool,
    /// Print everything as JSON.
    #[arg(long)]
    json: bool,
    /// Backend: flex (CPU), or wgpu, vulkan, cuda[:N] where built with that feature.
    #[arg(long, default_value = "flex")]
    device: String,
}

pub fn search(
    beam: usize,
    length_penalty: f32,
    temperature: Option<f32>,
    top_k: usize,
    top_p: f32,
    seed: u64,
) -> Search {
    match temperature {
        Some(temperature) => Search::Sample { temperature, top_k, top_p, seed },
        None if beam > 1 => Search::Beam { width: beam, length_penalty },
        None => Search::Greedy,
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if args.rerank && (args.beam < 2 || args.temperature.is_some()) {
        anyhow::bail!("--rerank chooses among a beam's candidates: give --beam 2 or more");
    }
    let device = crate::devices::parse(&args.device)?.remove(0);
    let model = args.model.clone().unwrap_or_else(|| PathBuf::from(crate::model_file::SHIPPED));
    let translator = crate::model_file::load(&model, &device)?;
    let options = GenerateOptions {
        search: search(args.beam, args.length_penalty, args.temperature, args.top_k, args.top_p, args.seed),
        max_tokens: args.max_tokens,
        attention: args.attention || args.json,
        prefer_parseable: args.rerank,
    };
    let generation = pollster::block_on(translator.generate(&args.prompt, &options))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&generation)?);
        return Ok(());
    }
    if generation.truncated {
        eprintln!("note: the prompt was cut to {} tokens", generation.prompt_tokens.len());
    }
    print!("{}", generation.code);
    if args.show_examples {
        print_examples(&generation);
    }
    if args.attention {
        print_attention(&generation);
    }
    Ok(())
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
