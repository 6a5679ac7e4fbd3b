//! The search flags `generate` and `eval` share. Their defaults are the core's
//! [`GenerateOptions::default`], which the page uses too; the core checks the values.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use burn::tensor::Device;
use nl2py::decode::{GenerateOptions, RepeatLimit, Reranker, Search, Translator, Watch};

use crate::sandbox::{Outcome, Sandbox};

#[derive(clap::Args, Debug, Clone)]
pub struct SearchArgs {
    /// Beam search with this width (1 to 64) [default: the core's, 4].
    #[arg(long)]
    beam: Option<usize>,
    /// Greedy search: the most likely token each step.
    #[arg(long, conflicts_with_all = ["beam", "temperature"])]
    greedy: bool,
    /// GNMT length penalty of the beam search [default: the core's].
    #[arg(long)]
    length_penalty: Option<f32>,
    /// Take the beam's best candidate even when it does not parse (the default prefers
    /// the best one that Python can parse).
    #[arg(long)]
    no_rerank: bool,
    /// Of the beam's candidates that parse, take the best even when it is a program of several
    /// lines that could not run on its own (the default prefers the best one that is one line,
    /// or compiles and reads no name that nothing defines and the prompt does not give).
    #[arg(long)]
    allow_fragments: bool,
    /// Of the beam's best 4 answers that parse, take the first that runs to its end as a
    /// program in eval --run's sandbox (python3, no input, 2 seconds each).
    #[arg(long)]
    prefer_running: bool,
    /// Offer each retrieved function, as it is, among the beam's answers, scored by the model and
    /// the reranker like the beam's own plus BIAS (the answer says when one is taken); `off`
    /// never copies [default: the core's, 0]
    #[arg(long, value_name = "BIAS|off", allow_negative_numbers = true, value_parser = parse_copy_bias)]
    copy_examples: Option<CopyChoice>,
    /// Sample at this temperature (above 0) instead of searching.
    #[arg(long)]
    temperature: Option<f32>,
    /// With --temperature: keep only the K most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// With --temperature: keep the smallest set of tokens holding this much probability, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most code tokens to generate (1 to 4096).
    #[arg(long, default_value_t = GenerateOptions::default().max_tokens)]
    max_tokens: usize,
    /// Let the model write tokens that cannot continue Python (no grammar masking).
    #[arg(long)]
    unconstrained: bool,
    /// No n-gram of output tokens more than TIMES times, as N:TIMES; `off` lifts the limit
    /// [default: the core's, 4:2].
    #[arg(long, value_parser = parse_repeat_limit)]
    repeat_limit: Option<RepeatChoice>,
    #[command(flatten)]
    pub rerank: RerankArgs,
}

/// The reranker's flags (`generate`, `eval`, `export`).
#[derive(clap::Args, Debug, Clone)]
pub struct RerankArgs {
    /// Rerank the beam with this reverse model (a bundle or run folder trained with `--corpus
    /// reverse` on the same prepared data, or a bundle of the same data that holds one) instead
    /// of the bundle's own.
    #[arg(long, requires = "rerank_weight")]
    reverse_model: Option<PathBuf>,
    /// How much the reverse model's score counts in reranking (0: not at all) [default: the
    /// bundle's].
    #[arg(long)]
    rerank_weight: Option<f32>,
}

#[derive(Debug, Clone, Copy)]
pub enum CopyChoice {
    Off,
    Bias(f32),
}

fn parse_copy_bias(text: &str) -> Result<CopyChoice, String> {
    match text {
        "off" => Ok(CopyChoice::Off),
        _ => text.parse().map(CopyChoice::Bias).map_err(|_| format!("{text:?} is neither a number nor off")),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum RepeatChoice {
    Off,
    Limit(RepeatLimit),
}

fn parse_repeat_limit(text: &str) -> Result<RepeatChoice, String> {
    if text == "off" {
        return Ok(RepeatChoice::Off);
    }
    let (n, times) = text.split_once(':').ok_or("expected N:TIMES or off")?;
    let number = |s: &str| s.parse::<usize>().map_err(|_| format!("{s:?} is not a count"));
    Ok(RepeatChoice::Limit(RepeatLimit { n: number(n)?, times: number(times)? }))
}

impl SearchArgs {
    /// The options these flags ask for, over the core's defaults.
    pub fn options(&self) -> GenerateOptions {
        let defaults = GenerateOptions::default();
        let default_penalty = match Search::DEFAULT {
            Search::Beam { length_penalty, .. } => length_penalty,
            _ => 1.0,
        };
        let search = match (self.greedy, self.temperature, self.beam) {
            (true, _, _) => Search::Greedy,
            (_, Some(temperature), _) => {
                Search::Sample { temperature, top_k: self.top_k, top_p: self.top_p, seed: self.seed }
            }
            (_, None, Some(1)) => Search::Greedy,
            (_, None, width) => match Search::DEFAULT {
                Search::Beam { width: default_width, .. } => Search::Beam {
                    width: width.unwrap_or(default_width),
                    length_penalty: self.length_penalty.unwrap_or(default_penalty),
                },
                other => other,
            },
        };
        GenerateOptions {
            search,
            max_tokens: self.max_tokens,
            prefer_parseable: !self.no_rerank,
            prefer_standalone: !self.allow_fragments,
            prefer_running: self.prefer_running,
            copy_examples: match self.copy_examples {
                Some(CopyChoice::Off) => None,
                Some(CopyChoice::Bias(bias)) => Some(bias),
                None => defaults.copy_examples,
            },
            constrained: !self.unconstrained,
            repeat_limit: match self.repeat_limit {
                Some(RepeatChoice::Off) => None,
                Some(RepeatChoice::Limit(limit)) => Some(limit),
                None => defaults.repeat_limit,
            },
            ..defaults
        }
    }
}

impl SearchArgs {
    /// What watches the generation for these flags: with --prefer-running, the sandbox that
    /// runs the beam's answers. Before the model loads, so a missing python3 says so at once.
    pub fn runner(&self) -> anyhow::Result<SandboxRunner> {
        let sandbox = self.prefer_running.then(|| Sandbox::new(PREFER_RUNNING_TIMEOUT)).transpose()?;
        Ok(SandboxRunner(sandbox))
    }
}

/// Runs answers in the sandbox for --prefer-running (a program that exits 0 within the time
/// limit runs clean); without a sandbox it runs nothing. It watches no step.
pub struct SandboxRunner(Option<Sandbox>);

impl Watch for SandboxRunner {
    async fn step(&mut self, _best: &[usize]) -> bool {
        true
    }

    async fn runs_clean(&mut self, code: &str) -> Option<bool> {
        let sandbox = self.0.as_ref()?;
        Some(sandbox.run(code).is_ok_and(|run| run.outcome == Outcome::Passed))
    }
}

/// How long --prefer-running lets each answer run.
const PREFER_RUNNING_TIMEOUT: Duration = Duration::from_secs(2);

impl RerankArgs {
    /// Gives `translator` the reranker these flags ask for: --reverse-model's, or its own with
    /// --rerank-weight's weight.
    pub fn apply(&self, translator: &mut Translator, device: &Device) -> anyhow::Result<()> {
        if let Some(path) = &self.reverse_model {
            let loaded = crate::model_file::load(path, device)
                .with_context(|| format!("--reverse-model {}", path.display()))?;
            // Same-sized vocabularies tell a forward model from a reverse one only by content.
            let turned_around =
                loaded.prompt_vocab == translator.code_vocab && loaded.code_vocab == translator.prompt_vocab;
            let same =
                loaded.prompt_vocab == translator.prompt_vocab && loaded.code_vocab == translator.code_vocab;
            let (model, config) = match (turned_around, same, loaded.reranker) {
                (true, _, _) => (loaded.model, loaded.config),
                // Another bundle of the same data: its own reverse model.
                (false, true, Some(reverse)) => (reverse.model, reverse.config),
                _ => bail!(
                    "--reverse-model {} does not read this model's code and write its prompts, nor \
                     is it a bundle of the same data with a reverse model: train one with --corpus \
                     reverse on the same prepared folder",
                    path.display()
                ),
            };
            let weight = self.rerank_weight.unwrap_or_default();
            translator.reranker = Some(Reranker::new(model, config, weight, &translator.config)?);
        } else if let Some(weight) = self.rerank_weight {
            match &mut translator.reranker {
                Some(reranker) => reranker.set_weight(weight)?,
                None => {
                    bail!("--rerank-weight: the model has no reverse model (give one with --reverse-model)")
                }
            }
        }
        Ok(())
    }
}
