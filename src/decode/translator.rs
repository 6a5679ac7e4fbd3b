//! [`Translator`]: a trained model with its vocabularies and retrieval index, the one type that
//! goes from prompt text to a [`Generation`], telling a [`Watch`] about every step.

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};

use super::stepper::Stepper;
use super::{
    Alternative, CrossAttention, GenerateOptions, Generation, Hypothesis, MAX_BEAM_WIDTH,
    PREFER_RUNNING_TRIES, Reranker, RetrievedExample, Search, TokenChoice, beam, code_from_tokens, grammar,
    log_softmax_rows, read_floats, rules, sample, standalone,
};
use crate::data::batch::encoder_input;
use crate::metrics::is_valid_python;
use crate::model::{CpuDecoder, EncoderInput, Seq2Seq, Seq2SeqConfig};
use crate::retrieve::{Hit, Index, is_definition};
use crate::text::vocab::{BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab};
use crate::text::{code, prompt};
use crate::{Error, Result};

/// Watches a generation step by step: the page shows tokens as they come and offers Stop.
///
/// Generation runs on one thread (natively blocking, in a browser on the page's event loop), so
/// the returned futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Watch {
    /// Called after each step with the best output so far (ids, no `<eos>`); `false` ends the
    /// generation there, keeping what it has.
    async fn step(&mut self, best: &[usize]) -> bool;

    /// For [`GenerateOptions::prefer_running`]: runs `code` as a program with no input and says
    /// whether it ran to its end. The core runs nothing itself: natively the CLI's watch asks
    /// its sandbox, in the page the Python worker. `None` (a watch that runs nothing) turns the
    /// preference off.
    async fn runs_clean(&mut self, _code: &str) -> Option<bool> {
        None
    }
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
    /// The retrieval index for a model that reads retrieved examples (shared by the models
    /// built from one verified bundle).
    pub index: Option<Arc<Index>>,
    /// Reorders a beam's answers by how well each explains its prompt.
    pub reranker: Option<Reranker>,
    pub device: Device,
    /// The decoder's weights for [`CpuDecoder`] steps, when the model is on the CPU (Flex).
    cpu_decoder: Option<Arc<CpuDecoder>>,
    /// What each code token is to the grammar masking: built once, not per generation (a
    /// sixth of the time to a first token went to it when it was).
    token_classes: Arc<grammar::TokenClasses>,
}

impl Translator {
    /// A translator of `model` on `device`. On the CPU (Flex), generation steps run on
    /// [`CpuDecoder`] over the decoder's weights read out here once.
    pub fn new(
        model: Seq2Seq,
        config: Seq2SeqConfig,
        prompt_vocab: Vocab,
        code_vocab: Vocab,
        slots: bool,
        index: Option<Index>,
        device: Device,
    ) -> Result<Self> {
        let cpu_decoder =
            (device == Device::flex()).then(|| CpuDecoder::new(&model).map(Arc::new)).transpose()?;
        let token_classes = Arc::new(grammar::TokenClasses::new(&code_vocab));
        Ok(Translator {
            model,
            config,
            prompt_vocab,
            code_vocab,
            slots,
            index: index.map(Arc::new),
            reranker: None,
            device,
            cpu_decoder,
            token_classes,
        })
    }

    /// The same translator stepping Burn's model on the CPU too (the reference the CPU decoder
    /// is measured and checked against).
    pub fn without_cpu_decoder(self) -> Self {
        Translator { cpu_decoder: None, ..self }
    }

    /// The [`CpuDecoder`] generation steps run on, if any.
    pub fn cpu_decoder(&self) -> Option<&CpuDecoder> {
        self.cpu_decoder.as_deref()
    }

    /// Encodes `input` and readies the decoder for its first step.
    fn start(&self, input: &EncoderInput) -> Result<Stepper<'_>> {
        let state = self.model.start(self.model.encode(input));
        Ok(match &self.cpu_decoder {
            Some(decoder) => Stepper::Cpu { state: decoder.start(&state)?, decoder },
            None => Stepper::Burn { model: &self.model, state, device: &self.device },
        })
    }

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

    /// Generates Python for a prompt. An empty prompt, or one of only unknown words, is an error;
    /// so are search settings no search can run with ([`GenerateOptions::check`]).
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
        let mut generations = self.generate_batch_watched(&[prompt_text], options, watch).await?;
        generations.remove(0)
    }

    /// Generates for several prompts: greedy search and sampling decode them together as one
    /// batch, a beam search one prompt at a time. Each prompt gets its own result; the outer
    /// error is the settings' or the device's.
    pub async fn generate_batch(
        &self,
        prompts: &[&str],
        options: &GenerateOptions,
    ) -> Result<Vec<Result<Generation>>> {
        self.generate_batch_watched(prompts, options, &mut ()).await
    }

    /// [`Translator::generate_batch`], telling `watch` about every step (and asking it to run
    /// answers for [`GenerateOptions::prefer_running`]).
    pub async fn generate_batch_watched(
        &self,
        prompts: &[&str],
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Vec<Result<Generation>>> {
        options.check(self.code_vocab.len())?;
        let readings: Vec<Result<Reading>> = prompts.iter().map(|text| self.read(text)).collect();
        let ready: Vec<&Reading> = readings.iter().filter_map(|r| r.as_ref().ok()).collect();
        let classes = options.constrained.then_some(self.token_classes.as_ref());
        let complete = |prompt: usize, ids: &[usize]| self.parses(ids, &ready[prompt].prompt.slots);
        let undefined_slots: Vec<Vec<usize>> = ready
            .iter()
            .map(|r| {
                let ids = r.prompt.slots.undefined().map(|token| self.code_vocab.id(&token));
                ids.filter(|&id| id != UNK_ID).collect()
            })
            .collect();
        let rules = rules::Rules {
            grammar: classes,
            repeat: options.repeat_limit,
            prefix: &options.prefix,
            alternatives: options.alternatives,
            complete: options.constrained.then_some(&complete as rules::IsComplete),
            eos_rank: match options.search {
                Search::Greedy => 1,
                Search::Beam { width, .. } => 2 * width,
                Search::Sample { .. } => usize::MAX,
            },
            undefined_slots: &undefined_slots,
        };
        let max_tokens = options.max_tokens.min(self.config.max_code_len.saturating_sub(1)).max(1);
        // Per readable prompt: its answer, the encoder memory's width, and whether it was cut.
        let mut answers: Vec<(Hypothesis, usize, bool)> = Vec::with_capacity(ready.len());
        match options.search {
            Search::Greedy | Search::Sample { .. } if !ready.is_empty() => {
                let (input, memory_width) = self.encoder_input(&ready);
                let stepper = self.start(&input)?;
                let samplers = (0..ready.len() as u64)
                    .map(|row| match options.search {
                        Search::Sample { temperature, top_k, top_p, seed } => {
                            sample::Sampler::new(temperature, top_k, top_p, seed.wrapping_add(row))
                        }
                        _ => sample::Sampler::greedy(),
                    })
                    .collect();
                let found =
                    sample::run(stepper, max_tokens, options.attention, samplers, &rules, watch).await?;
                answers.extend(found.into_iter().map(|h| (h, memory_width, false)));
            }
            Search::Beam { width, length_penalty } => {
                for (prompt, reading) in ready.iter().enumerate() {
                    let (input, memory_width) = self.encoder_input(&[reading]);
                    let search = beam::BeamSearch { width, length_penalty, max_tokens, prompt };
                    let (mut ranked, stopped) =
                        search.run(self.start(&input)?, options.attention, &rules, watch).await?;
                    let parses = |ids: &[usize]| self.parses(ids, &reading.prompt.slots);
                    // When no answer parses, a beam four times as wide mostly holds one (unless the
                    // watch stopped the search: what it stopped at is the answer).
                    if options.prefer_parseable
                        && !stopped
                        && width < MAX_BEAM_WIDTH
                        && !ranked.iter().any(|h| parses(&h.ids))
                    {
                        let wider = beam::BeamSearch { width: (4 * width).min(MAX_BEAM_WIDTH), ..search };
                        (ranked, _) =
                            wider.run(self.start(&input)?, options.attention, &rules, watch).await?;
                    }
                    // Retrieved examples' code, as it is, scored beside the beam's answers. The
                    // search chooses among its own answers as without them; a copy that parses
                    // and scores higher (bias included) then takes its place.
                    let copying = options.copy_examples.filter(|_| options.prefix.is_empty() && !stopped);
                    if let Some(bias) = copying {
                        let copied = self.copied_answers(reading, &search, &ranked, options).await?;
                        ranked.extend(
                            copied.into_iter().map(|copy| Hypothesis { score: copy.score + bias, ..copy }),
                        );
                    }
                    if let (Some(reranker), false) = (&self.reranker, stopped) {
                        reranker.rerank(&reading.ids, &mut ranked, &self.device).await?;
                    }
                    let (copies, mut ranked): (Vec<Hypothesis>, Vec<Hypothesis>) =
                        ranked.into_iter().partition(|h| h.copied_from.is_some());
                    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
                    if options.prefer_parseable && options.prefer_standalone {
                        let words = prompt_words(&reading.prompt);
                        prefer(&mut ranked, |ids| {
                            standalone::is_standalone(&self.code(ids, &reading.prompt.slots), &words)
                        });
                    }
                    if options.prefer_parseable && options.prefer_running {
                        let mut tries = 0;
                        for at in 0..ranked.len() {
                            if tries == PREFER_RUNNING_TRIES {
                                break;
                            }
                            if !parses(&ranked[at].ids) {
                                continue;
                            }
                            tries += 1;
                            match watch.runs_clean(&self.code(&ranked[at].ids, &reading.prompt.slots)).await {
                                Some(true) => {
                                    let runs = ranked.remove(at);
                                    ranked.insert(0, runs);
                                    break;
                                }
                                Some(false) => {}
                                None => break, // nothing to run answers with
                            }
                        }
                    }
                    let newline = self.code_vocab.id(code::NEWLINE);
                    let (mut best, mut cut) =
                        choose(ranked, options.prefer_parseable, newline, max_tokens, parses);
                    let copy_parses = |copy: &Hypothesis| {
                        let rank = copy.copied_from.expect("a copy names its example");
                        is_valid_python(&self.example_code(&reading.hits, rank))
                    };
                    let best_copy =
                        copies.into_iter().filter(copy_parses).max_by(|a, b| a.score.total_cmp(&b.score));
                    if let Some(copy) = best_copy.filter(|copy| copy.score > best.score) {
                        (best, cut) = (copy, false);
                    }
                    answers.push((best, memory_width, cut));
                }
            }
            _ => {}
        }
        let mut answers = answers.into_iter();
        Ok(readings
            .into_iter()
            .map(|reading| {
                let reading = reading?;
                let (best, memory_width, cut) = answers.next().expect("one answer per readable prompt");
                Ok(self.generation(reading, best, memory_width, options.attention, cut))
            })
            .collect())
    }

    /// Whether code ids, with the prompt's slots put back, make a non-empty program that parses
    /// (an empty program parses, but answers nothing).
    fn parses(&self, ids: &[usize], slots: &prompt::Slots) -> bool {
        let code = self.code(ids, slots);
        !code.trim().is_empty() && is_valid_python(&code)
    }

    /// The Python source of code ids, with the prompt's slots put back.
    fn code(&self, ids: &[usize], slots: &prompt::Slots) -> String {
        code_from_tokens(&self.code_vocab.decode(ids), slots)
    }

    /// A prompt as the model reads it, with its retrieved examples.
    fn read(&self, text: &str) -> Result<Reading> {
        let prompt = self.tokenize_prompt(text);
        if prompt.tokens.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        let mut ids = self.prompt_vocab.encode(&prompt.tokens);
        if ids.iter().all(|&id| id == UNK_ID) {
            return Err(Error::UnknownPrompt(prompt.tokens.join(" ")));
        }
        let truncated = ids.len() > self.config.max_prompt_len;
        ids.truncate(self.config.max_prompt_len);
        let hits = self.retrieve(&prompt.tokens);
        let example_ids = self.example_ids(&hits);
        Ok(Reading { prompt, ids, truncated, hits, example_ids })
    }

    /// The encoder's input for prompts, padded; and the memory's width (prompt + examples).
    fn encoder_input(&self, readings: &[&Reading]) -> (EncoderInput, usize) {
        let prompts: Vec<Vec<usize>> = readings.iter().map(|r| r.ids.clone()).collect();
        let examples: Vec<Vec<usize>> = readings.iter().map(|r| r.example_ids.clone()).collect();
        let input = encoder_input(&prompts, &examples, &self.device);
        let width = input.prompt.dims()[1] + input.examples.as_ref().map_or(0, |e| e.dims()[1]);
        (input, width)
    }

    fn generation(
        &self,
        reading: Reading,
        best: Hypothesis,
        memory_width: usize,
        attention: bool,
        cut_to_parse: bool,
    ) -> Generation {
        let Reading { prompt, ids, truncated, hits, .. } = reading;
        let source = ids.len();
        let output_tokens = self.code_vocab.decode(&best.ids);
        let code = match best.copied_from {
            Some(rank) => self.example_code(&hits, rank),
            None => code_from_tokens(&output_tokens, &prompt.slots),
        };
        let attention = attention.then(|| CrossAttention {
            layers: self.config.decoder_layers,
            heads: self.config.heads,
            source,
            // The page draws the prompt's words: the weights on examples (and padding) are left out.
            weights: best.attention.chunks(memory_width).flat_map(|w| &w[..source]).copied().collect(),
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
        let token = |id: usize| self.code_vocab.decode(&[id]).remove(0);
        let tokens = best
            .ids
            .iter()
            .zip(&best.choices)
            .map(|(&id, choice)| TokenChoice {
                token: token(id),
                id,
                probability: choice.log_prob.exp(),
                alternatives: choice
                    .alternatives
                    .iter()
                    .map(|&(id, log_prob)| Alternative { token: token(id), id, probability: log_prob.exp() })
                    .collect(),
            })
            .collect();
        let mut prompt_tokens = prompt.tokens;
        prompt_tokens.truncate(source);
        Generation {
            code,
            prompt_tokens,
            slots: prompt.slots,
            output_tokens,
            ids: best.ids,
            tokens,
            score: best.score,
            truncated,
            cut_to_parse,
            attention,
            examples,
            copied_from: best.copied_from,
        }
    }

    /// The code of the retrieved example `rank` of `hits`, as its source gave it.
    fn example_code(&self, hits: &[Hit], rank: usize) -> String {
        let index = self.index.as_ref().expect("examples come from an index");
        let code = &index.entry(hits[rank].entry).code;
        if code.ends_with('\n') { code.clone() } else { format!("{code}\n") }
    }

    /// The code of a reading's retrieved examples as answers, scored by the model as `search`
    /// scores its own: the teacher-forced log-probability of the code ids (`<unk>` for a name the
    /// vocabulary lacks, as in training) and `<eos>`, length normalized; with each token's
    /// alternatives and, when kept, the cross-attention. Only examples that define a function
    /// with a body are offered (a whole function is what a copy gives whole; a one-line example
    /// is the model's to adapt), and none too long for `max_tokens` or equal to an answer in
    /// `ranked`.
    ///
    /// # Shapes
    /// decoder input and target `[examples, longest + 1]`; logits `[examples, longest + 1, vocab]`.
    async fn copied_answers(
        &self,
        reading: &Reading,
        search: &beam::BeamSearch,
        ranked: &[Hypothesis],
        options: &GenerateOptions,
    ) -> Result<Vec<Hypothesis>> {
        let Some(index) = &self.index else { return Ok(Vec::new()) };
        let mut copies: Vec<(usize, Vec<usize>)> = Vec::new();
        for (rank, hit) in reading.hits.iter().enumerate() {
            let entry = index.entry(hit.entry);
            let ids: Vec<usize> = entry.code_ids.iter().map(|&id| id as usize).collect();
            let usable = ids.len() < search.max_tokens && is_definition(&entry.code);
            let new = !ranked.iter().any(|h| h.ids == ids) && !copies.iter().any(|(_, c)| *c == ids);
            if usable && new {
                copies.push((rank, ids));
            }
        }
        if copies.is_empty() {
            return Ok(Vec::new());
        }
        let rows = copies.len();
        let length = copies.iter().map(|(_, ids)| ids.len()).max().unwrap_or(0) + 1;
        let padded = |row: Vec<usize>| row.into_iter().chain(std::iter::repeat(PAD_ID)).take(length);
        let decoder_input: Vec<i64> = copies
            .iter()
            .flat_map(|(_, ids)| padded([&[BOS_ID], &ids[..]].concat()))
            .map(|id| id as i64)
            .collect();
        let (input, memory_width) = self.encoder_input(&vec![reading; rows]);
        let mut state = self.model.start(self.model.encode(&input));
        let decoder_input = Tensor::from_data(TensorData::new(decoder_input, [rows, length]), &self.device);
        let (logits, cross_attention) = self.model.decode(&mut state, decoder_input);
        let vocab = self.code_vocab.len();
        let mut log_probs = read_floats(logits).await?;
        log_softmax_rows(&mut log_probs, vocab);
        // Per layer `[rows][heads][length][memory]`, read only when the answer keeps attention.
        let mut layers = Vec::new();
        if options.attention {
            for layer in cross_attention {
                layers.push(read_floats(layer).await?);
            }
        }
        let heads = self.config.heads;
        let mut answers = Vec::with_capacity(rows);
        for (row, (rank, ids)) in copies.into_iter().enumerate() {
            let at =
                |step: usize| &log_probs[(row * length + step) * vocab..(row * length + step + 1) * vocab];
            let mut log_prob = 0.0;
            let mut choices = Vec::with_capacity(ids.len());
            for (step, &id) in ids.iter().chain([&EOS_ID]).enumerate() {
                log_prob += at(step)[id];
                if id != EOS_ID {
                    choices.push(rules::Choice {
                        log_prob: at(step)[id],
                        alternatives: rules::top(at(step), options.alternatives),
                    });
                }
            }
            let mut attention = Vec::new();
            for step in 0..ids.len() {
                for layer in &layers {
                    for head in 0..heads {
                        let at = ((row * heads + head) * length + step) * memory_width;
                        attention.extend_from_slice(&layer[at..at + memory_width]);
                    }
                }
            }
            let score = search.normalized(log_prob, ids.len() + 1);
            answers.push(Hypothesis { ids, score, attention, choices, copied_from: Some(rank) });
        }
        Ok(answers)
    }
}

/// A prompt read for generation.
struct Reading {
    prompt: prompt::Prompt,
    /// Prompt ids, cut to the model's length.
    ids: Vec<usize>,
    truncated: bool,
    hits: Vec<Hit>,
    example_ids: Vec<usize>,
}

/// The answer among hypotheses ranked best first, and whether it was cut: the best, or with
/// `prefer_parseable` the best whose ids `parses`; when none does, of those the token limit
/// (`max_tokens`) cut off mid-statement, the longest start that ends at a `newline` and parses
/// (the earlier-ranked on a tie); the best whole when there is none. An answer that ended on its
/// own is never cut: what fails to parse in it may be early, and cutting there would lose most of it.
fn choose(
    mut ranked: Vec<Hypothesis>,
    prefer_parseable: bool,
    newline: usize,
    max_tokens: usize,
    parses: impl Fn(&[usize]) -> bool,
) -> (Hypothesis, bool) {
    assert!(!ranked.is_empty(), "a search returns at least one hypothesis");
    let pick = if prefer_parseable { ranked.iter().position(|h| parses(&h.ids)) } else { Some(0) };
    if let Some(pick) = pick {
        return (ranked.swap_remove(pick), false);
    }
    let longest_start = |h: &Hypothesis| {
        (1..h.ids.len()).rev().find(|&end| h.ids[end - 1] == newline && parses(&h.ids[..end]))
    };
    let cut = ranked
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ids.len() >= max_tokens)
        .filter_map(|(rank, h)| Some((longest_start(h)?, rank)));
    let Some((end, rank)) = cut.max_by_key(|&(end, rank)| (end, std::cmp::Reverse(rank))) else {
        return (ranked.swap_remove(0), false);
    };
    let mut best = ranked.swap_remove(rank);
    let per_step = best.attention.len() / best.ids.len();
    best.ids.truncate(end);
    best.choices.truncate(end);
    best.attention.truncate(end * per_step);
    (best, true)
}

/// Moves the best-ranked hypothesis for which `wanted` holds to the front, the others keeping
/// their order; leaves them as they are when there is none.
fn prefer(ranked: &mut Vec<Hypothesis>, mut wanted: impl FnMut(&[usize]) -> bool) {
    if let Some(pick) = ranked.iter().position(|h| wanted(&h.ids)) {
        let best = ranked.remove(pick);
        ranked.insert(0, best);
    }
}

/// The prompt's words and the identifiers inside its slots (`` `d.items()` `` gives `d`,
/// `items`): names a program may read without defining them.
fn prompt_words(prompt: &prompt::Prompt) -> Vec<&str> {
    let in_slots =
        prompt.slots.iter().flat_map(|slot| slot.text.split(|c: char| !(c.is_alphanumeric() || c == '_')));
    prompt.tokens.iter().map(String::as_str).chain(in_slots).filter(|word| !word.is_empty()).collect()
}

/// What tests elsewhere in the crate build translators from.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::HashMap;

    use burn::tensor::Device;

    use super::Translator;
    use crate::model::Seq2SeqConfig;
    use crate::retrieve::{Index, IndexSource, NewEntry};
    use crate::text::prompt;
    use crate::text::vocab::Vocab;

    /// The code of the first pair of [`translator`]'s index.
    pub(crate) const SORT_FUNCTION: &str = "def sort(x):\n    return sorted(x)\n";

    /// A one-layer translator of 7 words; with `max_example_len`, it reads retrieved examples
    /// from an index of two pairs (`sort list `x``: a function returning `sorted(x)`, `reverse
    /// string `x``: `x[::-1]`, both with the code ids of `x ( )`).
    pub(crate) fn translator(d_model: usize, max_example_len: Option<usize>) -> Translator {
        let words: HashMap<String, usize> =
            ["sort", "list", "x", "(", ")", "reverse", "string"].iter().map(|w| (w.to_string(), 5)).collect();
        let vocab = Vocab::build(&words, 1);
        let config = Seq2SeqConfig::new(vocab.len(), vocab.len())
            .with_d_model(d_model)
            .with_heads(2)
            .with_d_ff(32)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_max_prompt_len(8)
            .with_max_code_len(8)
            .with_max_example_len(max_example_len);
        let index = max_example_len.map(|len| {
            let source = IndexSource { name: "conala-train.json".into(), licence: "CC BY-SA 4.0".into() };
            let mut index = Index::new(vec![source], 2, len);
            for (text, code) in [("sort list `x`", SORT_FUNCTION), ("reverse string `x`", "x[::-1]")] {
                let tokens = prompt::tokenize(text).tokens;
                let code_ids = ["x", "(", ")"].iter().map(|t| vocab.id(t) as u32).collect();
                index.push(NewEntry { source: 0, prompt: text, code, prompt_tokens: &tokens, code_ids });
            }
            index
        });
        let device = Device::flex();
        Translator::new(config.init(&device), config, vocab.clone(), vocab, true, index, device).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retrieved function is offered as it is (its ids are `x ( )`, its text a function):
    /// taken when the bias lifts it over the beam's answer, never otherwise.
    #[test]
    fn a_copied_example_is_taken_as_it_is_when_it_scores_higher() {
        let translator = testing::translator(16, Some(6));
        let generate = |copy_examples| {
            let options = GenerateOptions {
                copy_examples,
                max_tokens: 6,
                attention: true,
                ..GenerateOptions::default()
            };
            pollster::block_on(translator.generate("sort list `x`", &options)).unwrap()
        };
        let copied = generate(Some(1e6));
        assert_eq!(copied.copied_from, Some(0));
        assert_eq!(copied.code, testing::SORT_FUNCTION);
        assert_eq!(copied.output_tokens, ["x", "(", ")"]);
        assert_eq!(copied.tokens.len(), 3, "each copied token has its probability");
        assert!(copied.tokens.iter().all(|t| t.probability > 0.0 && t.probability <= 1.0));
        assert_eq!(copied.attention.as_ref().unwrap().steps(), 3);
        for copy_examples in [Some(-1e6), None] {
            let own = generate(copy_examples);
            assert_eq!(own.copied_from, None);
            assert_ne!(own.code, testing::SORT_FUNCTION);
        }
    }

    #[test]
    fn reranking_takes_the_best_candidate_that_parses() {
        let ranked = || {
            [3, 1, 2, 4]
                .iter()
                .enumerate()
                .map(|(rank, &id)| Hypothesis {
                    ids: vec![id],
                    score: -(rank as f32),
                    ..Hypothesis::default()
                })
                .collect()
        };
        let even = |ids: &[usize]| ids[0].is_multiple_of(2);
        assert_eq!(choose(ranked(), false, 0, 1, even), (ranked().remove(0), false));
        assert_eq!(choose(ranked(), true, 0, 1, even).0.ids, [2]);
        assert_eq!(
            choose(ranked(), true, 0, 1, |_| false),
            (ranked().remove(0), false),
            "none parses: the best"
        );
    }

    #[test]
    fn the_best_hypothesis_wanted_goes_first_and_the_rest_keep_their_order() {
        let ranked = |ids: &[usize]| -> Vec<Hypothesis> {
            ids.iter().map(|&id| Hypothesis { ids: vec![id], ..Hypothesis::default() }).collect()
        };
        let firsts = |hs: &[Hypothesis]| hs.iter().map(|h| h.ids[0]).collect::<Vec<_>>();
        let mut hs = ranked(&[3, 1, 2, 4]);
        prefer(&mut hs, |ids| ids[0].is_multiple_of(2));
        assert_eq!(firsts(&hs), [2, 3, 1, 4]);
        prefer(&mut hs, |_| false);
        assert_eq!(firsts(&hs), [2, 3, 1, 4]);
    }

    #[test]
    fn a_prompts_words_include_the_identifiers_in_its_slots() {
        let prompt = prompt::tokenize("sum the values of `d.items()` in 'two words'");
        let words = prompt_words(&prompt);
        for word in ["sum", "values", "d", "items", "two", "words"] {
            assert!(words.contains(&word), "{word} in {words:?}");
        }
    }

    #[test]
    fn an_answer_cut_off_by_the_token_limit_is_cut_back_to_its_last_line_that_parses() {
        // Ids: 9 is a line's end; a start parses when it ends with 9 and holds no 7. The best
        // answer's lines: [1 9] [2 9] [7 9] [3]: its longest parsing start is [1 9 2 9].
        const NEWLINE: usize = 9;
        let parses = |ids: &[usize]| ids.last() == Some(&NEWLINE) && !ids.contains(&7);
        let ids = vec![1, NEWLINE, 2, NEWLINE, 7, NEWLINE, 3];
        let best = Hypothesis {
            attention: (0..ids.len() * 2).map(|i| i as f32).collect(),
            choices: vec![rules::Choice::default(); ids.len()],
            ids,
            score: -1.0,
            copied_from: None,
        };
        let other = Hypothesis { ids: vec![7, NEWLINE], score: -2.0, ..Hypothesis::default() };
        let (cut, was_cut) = choose(vec![best.clone(), other], true, NEWLINE, 7, parses);
        assert!(was_cut);
        assert_eq!(cut.ids, [1, NEWLINE, 2, NEWLINE]);
        assert_eq!((cut.choices.len(), &cut.attention), (4, &vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]));
        // A later answer that keeps more lines is cut instead.
        let longer = Hypothesis { ids: vec![1, NEWLINE, 2, NEWLINE, 3, NEWLINE, 7], ..Hypothesis::default() };
        let (cut, _) = choose(vec![best.clone(), longer], true, NEWLINE, 7, parses);
        assert_eq!(cut.ids, [1, NEWLINE, 2, NEWLINE, 3, NEWLINE]);
        let hopeless = Hypothesis { ids: vec![7, NEWLINE, 3], ..Hypothesis::default() };
        assert_eq!(choose(vec![hopeless.clone()], true, NEWLINE, 3, parses), (hopeless, false));
        // Ended before the token limit: kept whole.
        assert_eq!(choose(vec![best.clone()], true, NEWLINE, 8, parses), (best, false));
    }
}
