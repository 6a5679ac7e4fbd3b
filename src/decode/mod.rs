//! Generation: from a prompt to Python with a trained model. The search runs on the CPU over
//! logits read back with `into_data_async`, so the same loop serves Flex natively and WebGPU in
//! a browser (where synchronous reads are not possible). Every search applies the same
//! `rules`: only tokens that can continue Python, a repetition limit, a forced prefix, and
//! the alternatives each token had. The CLI, `nl2py eval` and the page share
//! [`GenerateOptions::default`], the search MODEL.md's headline row measures.
//!
//! Three doors: `options` (what a search is asked: [`Search`], [`GenerateOptions`]),
//! `translator` (the [`Translator`], from prompt text to a generation, and the [`Watch`] it
//! tells about every step) and `generation` (what comes back: [`Generation`] and its parts).
//! Behind them: the searches (`sample`, `beam`), the rules every hypothesis follows (`rules`,
//! `grammar`), the choice among a beam's answers (`rerank`, `standalone`) and the decoder
//! steps (`stepper`).

mod beam;
mod generation;
mod grammar;
mod options;
mod rerank;
mod rules;
mod sample;
mod standalone;
mod stepper;
mod translator;

pub use generation::{
    Alternative, CrossAttention, Generation, RetrievedExample, TokenChoice, code_from_tokens,
};
pub use options::{GenerateOptions, MAX_BEAM_WIDTH, MAX_TOKENS, PREFER_RUNNING_TRIES, Search};
pub use rerank::Reranker;
pub use rules::RepeatLimit;
pub use sample::greedy_batch;
#[cfg(test)]
pub(crate) use translator::testing;
pub use translator::{Translator, Watch};

use burn::tensor::Tensor;

use crate::model::kernels;
use crate::{Error, Result};

/// Everyday prompts outside the data sets, on which `nl2py bench` and the page benchmark
/// (`tests/page_speed.rs`) time generation.
pub const SPEED_PROMPTS: &[&str] = &[
    "write a python program to print the fibonacci sequence",
    "write a function to check if a number is prime",
    "sort list `d` by value",
    "write a python program to find the sum of natural numbers",
    "read a file line by line and print each line",
    "write a function that returns the factorial of a number",
];

/// A hypothesis of any search.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Hypothesis {
    pub ids: Vec<usize>,
    pub score: f32,
    /// Per step, `[layer][head][source]` flattened; empty unless attention is kept.
    pub attention: Vec<f32>,
    /// Per step: the chosen token's log-probability and the alternatives.
    pub choices: Vec<rules::Choice>,
    /// Which of the prompt's retrieved examples it copies, if it does.
    pub copied_from: Option<usize>,
}

/// Reads a float tensor back to the CPU.
pub(crate) async fn read_floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| Error::Device(format!("{e:?}")))?;
    data.try_into_vec_as::<f32>().map_err(|e| Error::Device(format!("{e:?}")))
}

/// `log_softmax` of each row of `logits` (`rows × vocab`, row-major), in place.
pub(crate) fn log_softmax_rows(logits: &mut [f32], vocab: usize) {
    let mut exps = Vec::with_capacity(vocab);
    for row in logits.chunks_mut(vocab) {
        let max = kernels::max(row);
        exps.clear();
        exps.extend_from_slice(row);
        let log_sum = kernels::exp_shifted(&mut exps, max).ln() + max;
        row.iter_mut().for_each(|x| *x -= log_sum);
    }
}
