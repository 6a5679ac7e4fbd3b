//! What a search is asked to do: the search itself ([`Search`]), the length and the rules every
//! hypothesis follows, the choice among a beam's answers ([`GenerateOptions`]), and the bounds
//! that refuse settings no search can run with.

use serde::{Deserialize, Serialize};

use super::RepeatLimit;
use crate::{Error, Result};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Search {
    /// The most likely token each step.
    Greedy,
    /// Keeps the `width` best hypotheses; scores are divided by GNMT's length penalty
    /// `((5 + length) / 6) ^ length_penalty`.
    Beam { width: usize, length_penalty: f32 },
    /// Draws from the distribution at `temperature`, cut to the `top_k` most likely tokens
    /// (0: no cut) and to the smallest set holding `top_p` of the probability.
    Sample { temperature: f32, top_k: usize, top_p: f32, seed: u64 },
}

/// Widest beam a search accepts: each hypothesis is a row of every decoder step.
pub const MAX_BEAM_WIDTH: usize = 64;
/// Most tokens one generation may ask for (models stop earlier, at their `max_code_len`).
pub const MAX_TOKENS: usize = 4096;

impl Search {
    /// The search the CLI and the page use unless told otherwise. The length penalty was chosen
    /// on CoNaLa and English–Python dev (1.0, 1.5, 2.0: BLEU 25.57/12.47, 28.04/14.70, 28.82/15.34).
    pub const DEFAULT: Search = Search::Beam { width: 4, length_penalty: 2.0 };

    /// Refuses settings no search can run with.
    pub fn check(&self) -> Result<()> {
        let bad = |message: String| Err(Error::Search(message));
        match *self {
            Search::Greedy => Ok(()),
            Search::Beam { width, .. } if !(1..=MAX_BEAM_WIDTH).contains(&width) => {
                bad(format!("beam width must be 1 to {MAX_BEAM_WIDTH}, not {width}"))
            }
            Search::Beam { length_penalty, .. } if !length_penalty.is_finite() => {
                bad(format!("the length penalty must be a finite number, not {length_penalty}"))
            }
            Search::Beam { .. } => Ok(()),
            Search::Sample { temperature, .. } if !(temperature.is_finite() && temperature > 0.0) => {
                bad(format!("temperature must be a finite number above 0, not {temperature}"))
            }
            Search::Sample { top_p, .. } if !(top_p > 0.0 && top_p <= 1.0) => {
                bad(format!("top-p must be in (0, 1], not {top_p}"))
            }
            Search::Sample { .. } => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    pub search: Search,
    /// Most code tokens to generate (also capped by the model's `max_code_len`).
    pub max_tokens: usize,
    /// Keep the cross-attention weights of every step (costs a read per step).
    pub attention: bool,
    /// Of a beam's finished candidates, take the best non-empty one that Python can parse (the
    /// best one when none does). Greedy search and sampling have a single candidate.
    #[serde(default)]
    pub prefer_parseable: bool,
    /// With `prefer_parseable`: of those that parse, take the best that is one line or could run
    /// on its own, when one is (`standalone`: CPython compiles it, and it reads no name that
    /// is not bound in it, a builtin or a word of the prompt).
    #[serde(default)]
    pub prefer_standalone: bool,
    /// With `prefer_parseable` and a [`Watch`](super::Watch) that runs code
    /// ([`Watch::runs_clean`](super::Watch::runs_clean)): of a beam's best
    /// [`PREFER_RUNNING_TRIES`](super::PREFER_RUNNING_TRIES) answers that parse, take the first that runs to its end.
    #[serde(default)]
    pub prefer_running: bool,
    /// Rule out tokens that cannot continue Python (`grammar`).
    #[serde(default = "constrained_by_default")]
    pub constrained: bool,
    /// Rule out degenerate repetition.
    #[serde(default)]
    pub repeat_limit: Option<RepeatLimit>,
    /// Code ids the output must start with (continue from a chosen alternative).
    #[serde(default)]
    pub prefix: Vec<usize>,
    /// How many of the most likely tokens each generated token lists as alternatives.
    #[serde(default)]
    pub alternatives: usize,
    /// `Some(bias)`: offer each retrieved example's code, as it is, among a beam's answers, scored
    /// by the model as the beam scores its own plus `bias`, then reranked and chosen like them
    /// ([`Generation::copied_from`](super::Generation::copied_from) says when one wins). Not with a forced prefix.
    #[serde(default)]
    pub copy_examples: Option<f32>,
}

fn constrained_by_default() -> bool {
    true
}

impl Default for GenerateOptions {
    /// MODEL.md's headline search: a beam of 4 reranked towards code that parses, Python-aware
    /// masking, the repetition limit, and retrieved functions offered as they are (bias 0, chosen
    /// on dev: MODEL.md "Copying what retrieval finds").
    fn default() -> Self {
        Self {
            search: Search::DEFAULT,
            max_tokens: 200,
            attention: false,
            prefer_parseable: true,
            prefer_standalone: true,
            prefer_running: false,
            constrained: true,
            repeat_limit: Some(RepeatLimit { n: 4, times: 2 }),
            prefix: Vec::new(),
            alternatives: 5,
            copy_examples: Some(0.0),
        }
    }
}

impl GenerateOptions {
    /// Refuses settings no search can run with.
    pub fn check(&self, code_vocab: usize) -> Result<()> {
        self.search.check()?;
        if !(1..=MAX_TOKENS).contains(&self.max_tokens) {
            return Err(Error::Search(format!(
                "max tokens must be 1 to {MAX_TOKENS}, not {}",
                self.max_tokens
            )));
        }
        if let Some(limit) = self.repeat_limit
            && (limit.n == 0 || limit.times == 0)
        {
            return Err(Error::Search("a repetition limit needs n ≥ 1 and times ≥ 1".into()));
        }
        if let Some(&bad) = self.prefix.iter().find(|&&id| id >= code_vocab) {
            return Err(Error::Search(format!("prefix token {bad} is not in the code vocabulary")));
        }
        if let Some(bias) = self.copy_examples
            && !bias.is_finite()
        {
            return Err(Error::Search(format!(
                "the copied examples' bias must be a finite number, not {bias}"
            )));
        }
        if self.alternatives > 100 {
            return Err(Error::Search(format!("at most 100 alternatives, not {}", self.alternatives)));
        }
        Ok(())
    }
}

/// How many of a beam's answers that parse [`GenerateOptions::prefer_running`] runs at most.
pub const PREFER_RUNNING_TRIES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_no_search_can_run_with_are_refused() {
        let with = |search: Search| GenerateOptions { search, ..GenerateOptions::default() };
        let refused = |options: GenerateOptions, needle: &str| {
            let message = options.check(100).expect_err("must be refused").to_string();
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        };
        refused(with(Search::Beam { width: 0, length_penalty: 1.0 }), "beam width");
        refused(with(Search::Beam { width: MAX_BEAM_WIDTH + 1, length_penalty: 1.0 }), "beam width");
        refused(with(Search::Beam { width: 4, length_penalty: f32::NAN }), "length penalty");
        let sample = |temperature: f32, top_p: f32| Search::Sample { temperature, top_k: 0, top_p, seed: 0 };
        for temperature in [f32::NAN, f32::INFINITY, 0.0, -1.0] {
            refused(with(sample(temperature, 0.9)), "temperature");
        }
        for top_p in [0.0, -0.5, 1.5, f32::NAN] {
            refused(with(sample(1.0, top_p)), "top-p");
        }
        refused(GenerateOptions { max_tokens: 0, ..GenerateOptions::default() }, "max tokens");
        refused(GenerateOptions { max_tokens: MAX_TOKENS + 1, ..GenerateOptions::default() }, "max tokens");
        refused(GenerateOptions { prefix: vec![100], ..GenerateOptions::default() }, "prefix token 100");
        refused(
            GenerateOptions {
                repeat_limit: Some(RepeatLimit { n: 0, times: 2 }),
                ..GenerateOptions::default()
            },
            "repetition limit",
        );
        assert!(GenerateOptions::default().check(100).is_ok());
        assert!(with(sample(0.7, 1.0)).check(100).is_ok());
        assert!(with(Search::Greedy).check(100).is_ok());
    }
}
