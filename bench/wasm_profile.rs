//! The page's CPU path compiled for wasm32 as the page compiles it (simd128, the `web` profile,
//! Flex with `simd`), run under Node's WASI instead of a browser so that `node --cpu-prof` can
//! say where its time goes. `scripts/profile-wasm.sh` builds it, runs it and sums the profile.
//!
//! `wasm_profile BUNDLE SEARCH ROUNDS` times the speed prompts round after round (the first
//! warms up), tokens/s as the page counts them: generated tokens over the whole time. SEARCH is
//! `greedy`, `default` (the page's default search) or `first-token` (greedy with a limit of one
//! token: the time before a first token).

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use nl2py::decode::{GenerateOptions, SPEED_PROMPTS, Search};

const USAGE: &str = "usage: wasm_profile BUNDLE greedy|default|first-token ROUNDS";

fn main() -> ExitCode {
    match run(&std::env::args().skip(1).collect::<Vec<_>>()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [bundle, search, rounds] = args else { return Err(USAGE.into()) };
    // The page keeps every step's attention, for its graph.
    let defaults = GenerateOptions { attention: true, ..GenerateOptions::default() };
    let options = match search.as_str() {
        "greedy" => GenerateOptions { search: Search::Greedy, ..defaults },
        "default" => defaults,
        "first-token" => GenerateOptions { search: Search::Greedy, max_tokens: 1, ..defaults },
        _ => return Err(USAGE.into()),
    };
    let rounds: usize = rounds.parse().map_err(|_| USAGE.to_string())?;
    let bytes = std::fs::read(bundle).map_err(|e| format!("{bundle}: {e}"))?;
    let start = Instant::now();
    let translator = nl2py::bundle::load(&bytes, &Device::flex()).map_err(|e| format!("{bundle}: {e}"))?;
    println!("loaded in {:.0} ms", start.elapsed().as_secs_f64() * 1e3);
    for round in 0..rounds {
        let (start, mut tokens) = (Instant::now(), 0);
        for prompt in SPEED_PROMPTS {
            let generation =
                pollster::block_on(translator.generate(prompt, &options)).map_err(|e| e.to_string())?;
            tokens += generation.ids.len();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let per_prompt = ms / SPEED_PROMPTS.len() as f64;
        println!(
            "round {round}: {tokens} tokens in {ms:.1} ms ({per_prompt:.1} ms a prompt), {:.0} tokens/s",
            tokens as f64 * 1e3 / ms
        );
    }
    Ok(())
}
