//! Generation: from a prompt to Python with a trained model. The search runs on the CPU over
//! logits read back with `into_data_async`, so the same loop serves Flex natively and WebGPU in
//! a browser (where synchronous reads are not possible).

mod beam;
mod sample;

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::metrics::is_valid_python;
use crate::model::{DecoderState, EncoderInput, Seq2Seq, Seq2SeqConfig};
use crate::retrieve::{Hit, Index};
use crate::text::vocab::{BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab};
use crate::text::{code, prompt};
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
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { search: Search::Greedy, max_tokens: 200, attention: false, prefer_parseable: false }
    }
}

/// Cross-attention of one generation: for each generated token, each decoder layer and head,
/// the weights over the prompt tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossAttention {
    pub layers: usize,
    pub heads: usize,
    /// Prompt tokens attended to.
    pub source: usize,
    /// `[step][layer][head][source]`, flattened.
    pub weights: Vec<f32>,
}

impl CrossAttention {
    pub fn steps(&self) -> usize {
        self.weights.len() / (self.layers * self.heads * self.source).max(1)
    }

    /// Weights over the prompt of one step, layer and head.
    pub fn get(&self, step: usize, layer: usize, head: usize) -> &[f32] {
        let at = ((step * self.layers + layer) * self.heads + head) * self.source;
        &self.weights[at..at + self.source]
    }

    /// Mean weights of one step over the chosen layer (`None`: all layers) and head (`None`:
    /// all heads).
    pub fn mean(&self, step: usize, layer: Option<usize>, head: Option<usize>) -> Vec<f32> {
        let layers: Vec<usize> = layer.map_or_else(|| (0..self.layers).collect(), |l| vec![l]);
        let heads: Vec<usize> = head.map_or_else(|| (0..self.heads).collect(), |h| vec![h]);
        let parts = (layers.len() * heads.len()) as f32;
        let mut mean = vec![0.0; self.source];
        for &layer in &layers {
            for &head in &heads {
                for (m, w) in mean.iter_mut().zip(self.get(step, layer, head)) {
                    *m += w / parts;
                }
            }
        }
        mean
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Runnable Python: detokenized, the prompt's names and strings put back.
    pub code: String,
    /// The prompt as the model read it (slots in place of quoted spans).
    pub prompt_tokens: Vec<String>,
    /// What each slot token stands for.
    pub slots: prompt::Slots,
    /// The model's output tokens, one per attention step (slots not yet replaced).
    pub output_tokens: Vec<String>,
    pub ids: Vec<usize>,
    /// Log-probability of the output (beam: divided by the length penalty).
    pub score: f32,
    /// The prompt was longer than the model reads and was cut.
    pub truncated: bool,
    pub attention: Option<CrossAttention>,
    /// The retrieved pairs whose code the model read beside the prompt, nearest first.
    #[serde(default)]
    pub examples: Vec<RetrievedExample>,
}

/// A training pair retrieved for a prompt, with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedExample {
    pub prompt: String,
    pub code: String,
    /// The data file it comes from, and that file's licence.
    pub source: String,
    pub licence: String,
    /// BM25 score.
    pub score: f32,
}

/// Watches a generation step by step: the page shows tokens as they come and offers Stop.
///
/// Generation runs on one thread (natively blocking, in a browser on the page's event loop), so
/// the returned futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Watch {
    /// Called after each step with the best output so far (ids, no `<eos>`); `false` ends the
    /// generation there, keeping what it has.
    async fn step(&mut self, best: &[usize]) -> bool;
}

/// Watching nothing: the generation runs to its end.
impl Watch for () {
    async fn step(&mut self, _best: &[usize]) -> bool {
        true
    }
}

/// A trained model with its vocabularies: prompts in, Python out.
#[derive(Debug, Clone)]
pub struct Translator {
    pub model: Seq2Seq,
    pub config: Seq2SeqConfig,
    pub prompt_vocab: Vocab,
    pub code_vocab: Vocab,
    /// Prompts are tokenized with slots ([`prompt::tokenize`]), as the model was trained; false
    /// for the ablation baseline ([`prompt::tokenize_without_slots`]).
    pub slots: bool,
    /// The retrieval index for a model that reads retrieved examples.
    pub index: Option<Index>,
    pub device: Device,
}

/// A finished hypothesis of any search.
pub(crate) struct Hypothesis {
    pub ids: Vec<usize>,
    pub score: f32,
    /// Per step, `[layer][head][source]` flattened; empty unless attention is kept.
    pub attention: Vec<f32>,
}

/// Reads a float tensor back to the CPU.
pub(crate) async fn read_floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| Error::Device(format!("{e:?}")))?;
    data.try_into_vec_as::<f32>().map_err(|e| Error::Device(format!("{e:?}")))
}

/// `log_softmax` of each row of `logits` (`rows × vocab`, row-major), in place.
pub(crate) fn log_softmax_rows(logits: &mut [f32], vocab: usize) {
    for row in logits.chunks_mut(vocab) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = row.iter().map(|x| (x - max).exp()).sum::<f32>().ln() + max;
        row.iter_mut().for_each(|x| *x -= log_sum);
    }
}

/// Tokens a generation must never produce: `<pad>`, `<bos>`, `<unk>` (printed, `<unk>` would be
/// a name in the code). `<eos>` stays: it ends the output.
const NEVER_GENERATED: [usize; 3] = [PAD_ID, BOS_ID, UNK_ID];

/// Rules out the special tokens in rows of scores (`rows × vocab`).
pub(crate) fn forbid_specials(scores: &mut [f32], vocab: usize) {
    for row in scores.chunks_mut(vocab) {
        for id in NEVER_GENERATED {
            row[id] = f32::NEG_INFINITY;
        }
    }
}

/// One step for every live row: log-probabilities `[rows × vocab]` and, when asked, the
/// cross-attention `[rows][layer][head][source]`.
pub(crate) async fn step_rows(
    model: &Seq2Seq,
    state: &mut DecoderState,
    last: &[usize],
    device: &Device,
    attention: bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let ids: Vec<i64> = last.iter().map(|&i| i as i64).collect();
    let last = Tensor::<2, Int>::from_data(TensorData::new(ids, [last.len(), 1]), device);
    let step = model.step(state, last);
    let [_, vocab] = step.logits.dims();
    let mut log_probs = read_floats(step.logits).await?;
    log_softmax_rows(&mut log_probs, vocab);
    forbid_specials(&mut log_probs, vocab);
    let weights = if attention {
        // [rows, heads, 1, source] per layer → [rows, layers·heads, 1, source]: one read.
        read_floats(Tensor::cat(step.cross_attention, 1)).await?
    } else {
        Vec::new()
    };
    Ok((log_probs, weights))
}

impl Translator {
    /// The prompt as this model reads it: with slots or without, as it was trained.
    pub fn tokenize_prompt(&self, text: &str) -> prompt::Prompt {
        if self.slots { prompt::tokenize(text) } else { prompt::tokenize_without_slots(text) }
    }

    /// The nearest indexed pairs for a tokenized prompt (none without an index, or for a model
    /// that does not read examples).
    pub fn retrieve(&self, prompt_tokens: &[String]) -> Vec<Hit> {
        match &self.index {
            Some(index) if self.model.reads_examples() => {
                index.search(prompt_tokens, index.neighbours, |_| false)
            }
            _ => Vec::new(),
        }
    }

    /// The example ids a model reads for these hits.
    pub fn example_ids(&self, hits: &[Hit]) -> Vec<usize> {
        let entries: Vec<usize> = hits.iter().map(|h| h.entry).collect();
        self.index.as_ref().map(|index| index.example_ids(&entries)).unwrap_or_default()
    }

    /// Generates Python for a prompt. An empty prompt, or one of only unknown words, is an error.
    pub async fn generate(&self, prompt_text: &str, options: &GenerateOptions) -> Result<Generation> {
        self.generate_watched(prompt_text, options, &mut ()).await
    }

    /// [`Translator::generate`], telling `watch` about every step.
    pub async fn generate_watched(
        &self,
        prompt_text: &str,
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Generation> {
        let prompt = self.tokenize_prompt(prompt_text);
        if prompt.tokens.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let mut ids = self.prompt_vocab.encode(&prompt.tokens);
        if ids.iter().all(|&id| id == UNK_ID) {
            return Err(Error::UnknownPrompt(prompt.tokens.join(" ")));
        }
        let truncated = ids.len() > self.config.max_prompt_len;
        ids.truncate(self.config.max_prompt_len);
        let source = ids.len();
        let row = |ids: &[usize]| {
            let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
            Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, ids.len()]), &self.device)
        };
        let hits = self.retrieve(&prompt.tokens);
        let example_ids = self.example_ids(&hits);
        let mut input = EncoderInput::new(row(&ids));
        if !example_ids.is_empty() {
            input = input.with_examples(row(&example_ids));
        }
        // The attention kept per step covers the prompt and the examples.
        let memory_len = source + example_ids.len();
        let state = self.model.start(self.model.encode(&input));
        let max_tokens = options.max_tokens.min(self.config.max_code_len.saturating_sub(1)).max(1);
        let best = match options.search {
            Search::Greedy => {
                let sampler = sample::Sampler::greedy();
                sample::run(&self.model, state, &self.device, max_tokens, options.attention, sampler, watch)
                    .await?
            }
            Search::Sample { temperature, top_k, top_p, seed } => {
                let sampler = sample::Sampler::new(temperature, top_k, top_p, seed);
                sample::run(&self.model, state, &self.device, max_tokens, options.attention, sampler, watch)
                    .await?
            }
            Search::Beam { width, length_penalty } => {
                let search = beam::BeamSearch { width: width.max(1), length_penalty, max_tokens };
                let ranked = search.run(&self.model, state, &self.device, options.attention, watch).await?;
                choose(ranked, options.prefer_parseable, |h| {
                    // An empty program parses, but answers nothing.
                    let code = code_from_tokens(&self.code_vocab.decode(&h.ids), &prompt.slots);
                    !code.trim().is_empty() && is_valid_python(&code)
                })
            }
        };
        let output_tokens = self.code_vocab.decode(&best.ids);
        let code = code_from_tokens(&output_tokens, &prompt.slots);
        let attention = options.attention.then(|| CrossAttention {
            layers: self.config.decoder_layers,
            heads: self.config.heads,
            source,
            // The page draws the prompt's words: the weights on examples are left out.
            weights: best.attention.chunks(memory_len).flat_map(|w| &w[..source]).copied().collect(),
        });
        let examples = match &self.index {
            Some(index) => hits
                .iter()
                .map(|hit| {
                    let entry = index.entry(hit.entry);
                    let from = &index.sources[entry.source];
                    RetrievedExample {
                        prompt: entry.prompt.clone(),
                        code: entry.code.clone(),
                        source: from.name.clone(),
                        licence: from.licence.clone(),
                        score: hit.score,
                    }
                })
                .collect(),
            None => Vec::new(),
        };
        let mut prompt_tokens = prompt.tokens;
        prompt_tokens.truncate(source);
        Ok(Generation {
            code,
            prompt_tokens,
            slots: prompt.slots,
            output_tokens,
            ids: best.ids,
            score: best.score,
            truncated,
            attention,
            examples,
        })
    }
}

/// The answer among hypotheses ranked best first: the best, or with `prefer_parseable` the best
/// that `parses` (the best when none does).
fn choose(
    ranked: Vec<Hypothesis>,
    prefer_parseable: bool,
    parses: impl Fn(&Hypothesis) -> bool,
) -> Hypothesis {
    let pick = if prefer_parseable { ranked.iter().position(parses).unwrap_or(0) } else { 0 };
    ranked.into_iter().nth(pick).expect("a search returns at least one hypothesis")
}

/// Python source from generated code tokens: the prompt's names and strings put back, detokenized.
pub fn code_from_tokens(tokens: &[String], slots: &prompt::Slots) -> String {
    code::detokenize(&slots.restore(tokens))
}

/// Greedy generation for a batch of prompts at once (validation): each row stops at `<eos>`.
///
/// # Shapes
/// - input: prompts `[batch, source]` (and examples), right-padded with `<pad>`
pub async fn greedy_batch(
    model: &Seq2Seq,
    input: &EncoderInput,
    max_tokens: usize,
) -> Result<Vec<Vec<usize>>> {
    let [rows, _] = input.prompt.dims();
    let device = input.prompt.device();
    let mut state = model.start(model.encode(input));
    let mut outputs = vec![Vec::new(); rows];
    let mut done = vec![false; rows];
    let mut last = vec![BOS_ID as i64; rows];
    for _ in 0..max_tokens {
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(last.clone(), [rows, 1]), &device);
        let logits = model.step(&mut state, tokens).logits;
        let [_, vocab] = logits.dims();
        let mut scores = read_floats(logits).await?;
        forbid_specials(&mut scores, vocab);
        let next: Vec<i64> = scores.chunks(vocab).map(|row| sample::argmax(row) as i64).collect();
        for (row, &token) in next.iter().enumerate() {
            if done[row] {
                continue;
            }
            if token as usize == EOS_ID {
                done[row] = true;
            } else {
                outputs[row].push(token as usize);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        last = next;
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reranking_takes_the_best_candidate_that_parses() {
        let ranked = || {
            [3, 1, 2, 4]
                .iter()
                .enumerate()
                .map(|(rank, &id)| Hypothesis { ids: vec![id], score: -(rank as f32), attention: Vec::new() })
                .collect()
        };
        let even = |h: &Hypothesis| h.ids[0].is_multiple_of(2);
        assert_eq!(choose(ranked(), false, even).ids, [3]);
        assert_eq!(choose(ranked(), true, even).ids, [2]);
        assert_eq!(choose(ranked(), true, |_| false).ids, [3], "none parses: the best");
    }

    #[test]
    fn attention_means_pick_layers_and_heads() {
        // 1 step, 2 layers, 2 heads, 2 source tokens: weights [l0h0, l0h1, l1h0, l1h1].
        let attention = CrossAttention {
            layers: 2,
            heads: 2,
            source: 2,
            weights: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0],
        };
        assert_eq!(attention.steps(), 1);
        assert_eq!(attention.mean(0, Some(1), Some(0)), [0.5, 0.5]);
        assert_eq!(attention.mean(0, Some(0), None), [0.5, 0.5]);
        assert_eq!(attention.mean(0, None, Some(0)), [0.75, 0.25]);
        assert_eq!(attention.mean(0, None, None), [0.625, 0.375]);
    }
}
