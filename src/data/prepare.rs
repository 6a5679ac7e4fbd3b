//! From source files to prepared splits and vocabularies, with a report of what happened to
//! every record. Deterministic for a given seed.
//!
//! - test: CoNaLa test, every record kept (its `snippet` is the BLEU reference even where our
//!   tokenizer rejects it; such records have no code tokens).
//! - dev: 10 % of CoNaLa train by `question_id` group, and 10 % of the English–Python pairs.
//! - functions: the functional check. Whole files of TheAlgorithms and whole snippets of
//!   30-seconds (`functions_fraction` of the pairs of those that have a tested pair, drawn with
//!   the seed); of their pairs only those with a test ([`Example::tests`]); the others are
//!   dropped.
//! - train: the rest of CoNaLa train and English–Python, Django, MBPP outside its test ids, the
//!   rest of TheAlgorithms and 30-seconds, and the rest of a user's own pairs (`--pairs`, of
//!   which `dev_fraction` goes to dev, as CoNaLa train's does).
//! - pretrain: API-docs and mined pairs, for whole-model pretraining or mixed training.
//!
//! With `neighbours > 0`, the train and pretrain pairs of sources whose licence allows
//! redistribution (the manifest's; a user's pair's own, or the one given for its file) form a
//! retrieval index, and every example gets its nearest indexed pairs
//! (never itself or a pair of its own group, e.g. the same CoNaLa question). A folder source's
//! entries are attributed to their file (`thealgorithms-python/maths/gcd.py`).
//!
//! Within a kind of source, pairs equal up to whitespace and comments (same lower-cased prompt,
//! same code tokens) are kept once; a pair equal to a pair of a split held out before it (test,
//! then dev, then functions) is dropped.
//! Vocabularies count train and pretrain only.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Member, RawPair, SourceKind, count_asserts};
use crate::retrieve::{Index, IndexSource, NewEntry};
use crate::text::{code, prompt, prompt::Slots, vocab::Vocab};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
    Pretrain,
    /// Held-out functions with tests: scored by running them, never trained on nor indexed.
    Functions,
}

impl Split {
    pub const ALL: [Split; 5] = [Split::Train, Split::Dev, Split::Test, Split::Pretrain, Split::Functions];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
            Split::Pretrain => "pretrain",
            Split::Functions => "functions",
        }
    }

    /// Splits that are scored, never trained on: their pairs drop equal pairs of later splits.
    fn is_held_out(self) -> bool {
        matches!(self, Split::Test | Split::Dev | Split::Functions)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareConfig {
    pub seed: u64,
    /// Share of CoNaLa train (by question) and of English–Python that goes to dev.
    pub dev_fraction: f64,
    /// Share of the pairs of TheAlgorithms' files and 30-seconds' snippets (of those with a
    /// tested pair, whole files drawn with the seed) that goes to the functions split.
    #[serde(default = "default_functions_fraction")]
    pub functions_fraction: f64,
    /// Tokens seen fewer times in train and pretrain become `<unk>`.
    pub min_freq: usize,
    /// Largest size of each vocabulary, specials and slots included: the train split's tokens are
    /// kept first, then the most frequent pretraining ones.
    #[serde(default)]
    pub max_vocab: Option<usize>,
    /// Quoted spans of prompts become slots (see [`prompt`]); false is the ablation baseline.
    #[serde(default = "crate::text::prompt::slots_by_default")]
    pub slots: bool,
    /// Retrieved neighbours per example (0: no retrieval index).
    #[serde(default)]
    pub neighbours: usize,
    /// Most code tokens of the neighbours, joined, that a model reads.
    #[serde(default)]
    pub max_example_len: usize,
    /// With `Some(n)`, the code vocabulary spells names, numbers and strings with subword pieces
    /// learned from train and pretrain ([`crate::text::pieces`]), at most `n` of its places for
    /// string pieces; `max_vocab` (default 8,000) caps it as a whole.
    #[serde(default)]
    pub string_pieces: Option<usize>,
    /// The licence of a user's own pairs whose records name none; pairs without one are trained
    /// on but not indexed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairs_licence: Option<String>,
}

/// A quarter: about 200 tested functions of some 840, enough to tell pass rates apart.
fn default_functions_fraction() -> f64 {
    0.25
}

impl Default for PrepareConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            dev_fraction: 0.1,
            functions_fraction: default_functions_fraction(),
            min_freq: 2,
            max_vocab: None,
            slots: true,
            neighbours: 0,
            max_example_len: 0,
            string_pieces: None,
            pairs_licence: None,
        }
    }
}

/// A data file's name, kind and contents, or a data folder's ([`SourceKind::of_folder`]).
pub struct SourceFile {
    pub name: String,
    pub kind: SourceKind,
    /// A file's text; empty for a folder.
    pub text: String,
    /// The text of the second file its kind reads ([`SourceKind::companion`]).
    pub companion: Option<String>,
    /// A folder's files ([`SourceKind::member_files`]); empty for a file.
    pub members: Vec<Member>,
}

impl SourceFile {
    fn read(&self) -> super::ReadOutcome {
        if self.kind.member_files().is_some() {
            self.kind.read_folder(&self.members)
        } else {
            self.kind.read(&self.text, self.companion.as_deref())
        }
    }
}

/// One prepared pair, as written to `<split>.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The file it came from.
    pub source: String,
    pub id: String,
    pub prompt: String,
    /// The code as the source gave it (CoNaLa's BLEU reference).
    pub snippet: String,
    pub prompt_tokens: Vec<String>,
    /// Cleaned code tokens with slots abstracted; empty for a test snippet we cannot tokenize.
    pub code_tokens: Vec<String>,
    pub slots: Slots,
    /// Entries of the retrieval index nearest to this prompt, nearest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retrieved: Vec<usize>,
    /// Python statements that test `snippet` when run after it ([`RawPair::tests`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// A user's own pair's source and licence, as its record gives them ([`RawPair::attribution`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<super::Attribution>,
}

impl Example {
    /// Pairs of one group never straddle splits and never retrieve each other.
    fn group(&self) -> (&str, &str) {
        (&self.source, self.id.split('#').next().unwrap_or(&self.id))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    pub file: String,
    pub kind: Option<SourceKind>,
    pub read: usize,
    pub malformed: usize,
    /// Code that Python's tokenizer would reject.
    pub rejected: usize,
    pub duplicates: usize,
    /// Pairs dropped for equalling a pair of a split held out before theirs (test, dev, functions).
    pub overlapping: usize,
    pub kept: BTreeMap<Split, usize>,
    /// Asserts of the kept pairs' tests, per split.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tests: BTreeMap<Split, usize>,
    /// Records left out on purpose, by reason: the reader's ([`super::ReadOutcome::skipped`]),
    /// and untested pairs of held-out files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, usize>,
    /// The first few malformed or rejected records, described (every one, for a user's pairs).
    pub problems: Vec<String>,
    /// A user's pairs' code as the code vocabulary spells it: how many ids, and how many of them
    /// are `<unk>` (tokens a kept vocabulary, `--vocabularies`, lacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_ids: Option<(usize, usize)>,
}

/// Nearest-rank percentiles of token counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lengths {
    pub p50: usize,
    pub p90: usize,
    pub p99: usize,
    pub max: usize,
}

impl Lengths {
    fn of(mut counts: Vec<usize>) -> Self {
        counts.sort_unstable();
        let at = |p: f64| {
            if counts.is_empty() {
                return 0;
            }
            let rank = ((p * counts.len() as f64).ceil() as usize).clamp(1, counts.len());
            counts[rank - 1]
        };
        Self { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: counts.last().copied().unwrap_or(0) }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    pub examples: usize,
    pub prompt_lengths: Lengths,
    /// In the code vocabulary's ids (pieces, with a piece vocabulary): what the model reads.
    pub code_lengths: Lengths,
    /// Share of the code's ids that are `<unk>`.
    #[serde(default)]
    pub code_unknown: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub config: Option<PrepareConfig>,
    pub sources: Vec<SourceReport>,
    pub splits: BTreeMap<Split, SplitReport>,
    pub prompt_vocab_size: usize,
    pub code_vocab_size: usize,
    #[serde(default)]
    pub retrieval: Option<RetrievalReport>,
}

/// What the retrieval index holds, and how close held-out prompts come to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    pub entries: usize,
    /// Indexed pairs per source file.
    pub by_source: BTreeMap<String, usize>,
    /// A user's own pairs left out of the index for want of a licence (their record names none
    /// and no `--pairs-licence` was given).
    #[serde(default)]
    pub unlicensed: usize,
    /// Held-out examples whose nearest indexed prompt has the same words (a near-duplicate: a
    /// right answer there can be recall, not skill), per split.
    pub near_identical: BTreeMap<Split, usize>,
}

pub struct Prepared {
    pub splits: BTreeMap<Split, Vec<Example>>,
    pub prompt_vocab: Vocab,
    pub code_vocab: Vocab,
    pub index: Option<Index>,
    pub report: Report,
}

/// A cleaned pair on its way to a split.
struct Candidate {
    file: usize,
    raw: RawPair,
    prompt: prompt::Prompt,
    code_tokens: Vec<String>,
}

impl Candidate {
    /// Equality up to case and whitespace in the prompt, and up to layout and comments in the code.
    fn key(&self) -> (String, Vec<String>) {
        let prompt = self.raw.prompt.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        (prompt, self.code_tokens.clone())
    }

    fn into_example(self, files: &[SourceFile]) -> Example {
        let code_tokens = self.prompt.slots.abstract_code(&self.code_tokens);
        Example {
            source: files[self.file].name.clone(),
            id: self.raw.id,
            prompt: self.raw.prompt,
            snippet: self.raw.code,
            prompt_tokens: self.prompt.tokens,
            code_tokens,
            slots: self.prompt.slots,
            retrieved: Vec::new(),
            tests: self.raw.tests,
            attribution: self.raw.attribution,
        }
    }
}

/// The reason counted for a held-out file's pairs that have no test.
const UNTESTED_HELD_OUT: &str = "untested pairs of files held out for the functions split";

pub fn prepare(files: &[SourceFile], config: &PrepareConfig) -> Prepared {
    prepare_with(files, config, None)
}

/// [`prepare`], with the (prompt, code) vocabularies of an earlier preparation instead of new
/// ones when given: a run continued on data that has grown since keeps the ids its weights know.
pub fn prepare_with(
    files: &[SourceFile],
    config: &PrepareConfig,
    vocabularies: Option<(Vocab, Vocab)>,
) -> Prepared {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut reports: Vec<SourceReport> = files
        .iter()
        .map(|f| SourceReport { file: f.name.clone(), kind: Some(f.kind), ..Default::default() })
        .collect();
    let mut by_kind: BTreeMap<SourceKind, Vec<Candidate>> = BTreeMap::new();
    for (file, source) in files.iter().enumerate() {
        let outcome = source.read();
        let report = &mut reports[file];
        report.read = outcome.read;
        report.malformed = outcome.malformed;
        report.problems = outcome.problems;
        report.skipped = outcome.skipped.into_iter().map(|(reason, n)| (reason.to_string(), n)).collect();
        let keep_untokenized = source.kind == SourceKind::ConalaTest;
        for raw in outcome.pairs {
            let code_tokens = match code::tokenize(&raw.code) {
                Ok(tokens) if !tokens.is_empty() => tokens,
                failure => {
                    report.rejected += 1;
                    if report.problems.len() < 2 * super::PROBLEMS_SHOWN {
                        let why = failure.err().map_or("no code after cleaning".into(), |e| e.to_string());
                        report.problems.push(format!("{}: tokenizer rejects the code ({why})", raw.id));
                    }
                    if !keep_untokenized {
                        continue;
                    }
                    Vec::new()
                }
            };
            let prompt = if config.slots {
                prompt::tokenize(&raw.prompt)
            } else {
                prompt::tokenize_without_slots(&raw.prompt)
            };
            by_kind.entry(source.kind).or_default().push(Candidate { file, raw, prompt, code_tokens });
        }
    }

    let mut assigned: BTreeMap<Split, Vec<Candidate>> = BTreeMap::new();
    for (kind, candidates) in by_kind {
        let candidates = if kind == SourceKind::ConalaTest {
            candidates
        } else {
            drop_duplicates(candidates, &mut reports)
        };
        match kind {
            SourceKind::ConalaTest => assigned.entry(Split::Test).or_default().extend(candidates),
            SourceKind::ApiDocs | SourceKind::ConalaMined => {
                assigned.entry(Split::Pretrain).or_default().extend(candidates)
            }
            SourceKind::ConalaTrain
            | SourceKind::EnglishPython
            | SourceKind::PairsJsonLines
            | SourceKind::PairsCsv => {
                let (dev, train) = split_by_group(candidates, config.dev_fraction, &mut rng);
                assigned.entry(Split::Dev).or_default().extend(dev);
                assigned.entry(Split::Train).or_default().extend(train);
            }
            // Neither is scored here: all of Django and MBPP's non-test problems train.
            SourceKind::Django | SourceKind::Mbpp => {
                assigned.entry(Split::Train).or_default().extend(candidates)
            }
            SourceKind::TheAlgorithms | SourceKind::ThirtySeconds => {
                // Draws of its own: the held-out files stay the same whatever else is read.
                let mut own_rng = ChaCha8Rng::seed_from_u64(config.seed);
                let (functions, train) = split_functions(candidates, config.functions_fraction, &mut own_rng);
                for c in functions.iter().filter(|c| c.raw.tests.is_empty()) {
                    *reports[c.file].skipped.entry(UNTESTED_HELD_OUT.into()).or_default() += 1;
                }
                let tested = functions.into_iter().filter(|c| !c.raw.tests.is_empty());
                assigned.entry(Split::Functions).or_default().extend(tested);
                assigned.entry(Split::Train).or_default().extend(train);
            }
        }
    }

    // Test wins over dev, dev over functions, and all three over train and pretrain.
    let mut held_out: HashSet<(String, Vec<String>)> = HashSet::new();
    for split in [Split::Test, Split::Dev, Split::Functions, Split::Train, Split::Pretrain] {
        let Some(candidates) = assigned.get_mut(&split) else { continue };
        if split != Split::Test {
            candidates.retain(|c| {
                let overlaps = held_out.contains(&c.key());
                if overlaps {
                    reports[c.file].overlapping += 1;
                }
                !overlaps
            });
        }
        if split.is_held_out() {
            held_out.extend(candidates.iter().filter(|c| !c.code_tokens.is_empty()).map(Candidate::key));
        }
    }

    let mut splits: BTreeMap<Split, Vec<Example>> = BTreeMap::new();
    for split in Split::ALL {
        let candidates = assigned.remove(&split).unwrap_or_default();
        for c in &candidates {
            let report = &mut reports[c.file];
            *report.kept.entry(split).or_default() += 1;
            let tests = count_asserts(&c.raw.tests);
            if tests > 0 {
                *report.tests.entry(split).or_default() += tests;
            }
        }
        splits.insert(split, candidates.into_iter().map(|c| c.into_example(files)).collect());
    }

    let training = || [Split::Train, Split::Pretrain].into_iter().flat_map(|s| &splits[&s]);
    let vocab = |tokens: &dyn Fn(&Example) -> &Vec<String>| {
        let vocab = Vocab::build(&count(training().map(tokens)), config.min_freq);
        match config.max_vocab {
            // A cap drops pretrain-only tokens first: the train split's are what fine-tuning needs.
            Some(max) => {
                let in_train = count(splits[&Split::Train].iter().map(tokens));
                vocab.truncated(max, |t| in_train.contains_key(t))
            }
            None => vocab,
        }
    };
    let learned = || {
        let code_vocab = match config.string_pieces {
            #[cfg(not(target_arch = "wasm32"))]
            Some(string_pieces) => {
                use crate::text::pieces::{PieceBudget, learn};
                // Pieces need a bound: without one, as many places as the shipped model has.
                let max_vocab = config.max_vocab.unwrap_or(8000);
                learn(
                    training().map(|e| &e.code_tokens),
                    &PieceBudget { max_vocab, string_pieces, min_freq: config.min_freq },
                )
            }
            _ => vocab(&|e| &e.code_tokens),
        };
        (vocab(&|e| &e.prompt_tokens), code_vocab)
    };
    let (prompt_vocab, code_vocab) = vocabularies.unwrap_or_else(learned);
    for report in reports.iter_mut().filter(|r| r.kind.is_some_and(SourceKind::is_own_pairs)) {
        let ids: Vec<usize> = splits
            .values()
            .flatten()
            .filter(|e| e.source == report.file)
            .flat_map(|e| code_vocab.encode_code(&e.code_tokens))
            .collect();
        let unknown = ids.iter().filter(|&&id| id == crate::text::vocab::UNK_ID).count();
        report.code_ids = Some((ids.len(), unknown));
    }
    let split_reports = splits
        .iter()
        .map(|(&split, examples)| {
            let code: Vec<Vec<usize>> =
                examples.iter().map(|e| code_vocab.encode_code(&e.code_tokens)).collect();
            let unknown = code.iter().flatten().filter(|&&id| id == crate::text::vocab::UNK_ID).count();
            let report = SplitReport {
                examples: examples.len(),
                prompt_lengths: Lengths::of(examples.iter().map(|e| e.prompt_tokens.len()).collect()),
                code_lengths: Lengths::of(code.iter().map(Vec::len).collect()),
                code_unknown: unknown as f64 / code.iter().map(Vec::len).sum::<usize>().max(1) as f64,
            };
            (split, report)
        })
        .collect();
    let (index, retrieval) = if config.neighbours > 0 {
        let (index, report) = retrieve_neighbours(&mut splits, &code_vocab, config);
        (Some(index), Some(report))
    } else {
        (None, None)
    };
    let report = Report {
        config: Some(config.clone()),
        sources: reports,
        splits: split_reports,
        prompt_vocab_size: prompt_vocab.len(),
        code_vocab_size: code_vocab.len(),
        retrieval,
    };
    Prepared { splits, prompt_vocab, code_vocab, index, report }
}

/// Indexes the train and pretrain pairs that may be redistributed, and gives every example its
/// nearest entries, never one of its own group.
fn retrieve_neighbours(
    splits: &mut BTreeMap<Split, Vec<Example>>,
    code_vocab: &Vocab,
    config: &PrepareConfig,
) -> (Index, RetrievalReport) {
    // Per attribution (a file, a folder source's file, or a user's named source) and licence:
    // its place in the index's sources.
    let mut sources: HashMap<(String, String), usize> = HashMap::new();
    let mut index_sources = Vec::new();
    let mut index = Index::new(Vec::new(), config.neighbours, config.max_example_len);
    // Per entry: the group of the example it holds.
    let mut groups: Vec<(String, String)> = Vec::new();
    let mut report = RetrievalReport::default();
    // Only what trains is indexed: never a held-out split.
    for split in [Split::Train, Split::Pretrain] {
        for example in splits.get(&split).into_iter().flatten() {
            let Some((name, licence)) = attributed(example, config) else {
                if example.attribution.is_some() {
                    report.unlicensed += 1;
                }
                continue;
            };
            let source = *sources.entry((name.clone(), licence.clone())).or_insert_with(|| {
                index_sources.push(IndexSource { name, licence });
                index_sources.len() - 1
            });
            index.push(NewEntry {
                source,
                prompt: &example.prompt,
                code: &example.snippet,
                prompt_tokens: &example.prompt_tokens,
                code_ids: code_vocab
                    .encode_code(&example.code_tokens)
                    .into_iter()
                    .map(|id| id as u32)
                    .collect(),
            });
            let (file, group) = example.group();
            groups.push((file.to_string(), group.to_string()));
            *report.by_source.entry(example.source.clone()).or_default() += 1;
        }
    }
    index.sources = index_sources;
    report.entries = index.len();
    report.near_identical = [(Split::Dev, 0), (Split::Test, 0)].into();
    if splits.get(&Split::Functions).is_some_and(|f| !f.is_empty()) {
        report.near_identical.insert(Split::Functions, 0);
    }
    for (&split, examples) in splits.iter_mut() {
        for example in examples.iter_mut() {
            let (file, group) = example.group();
            let own = |entry: usize| groups[entry].0 == file && groups[entry].1 == group;
            let hits = index.search(&example.prompt_tokens, config.neighbours, own);
            if split.is_held_out()
                && hits.first().is_some_and(|hit| index.same_words(hit.entry, &example.prompt_tokens))
            {
                *report.near_identical.entry(split).or_default() += 1;
            }
            example.retrieved = hits.iter().map(|hit| hit.entry).collect();
        }
    }
    (index, report)
}

/// The source an indexed example is shown with and its licence; `None` for what may not be
/// indexed. A data set's licence comes from the manifest, and a folder source's entries are
/// attributed to their file; a user's pair names its own (else its file's `--pairs-licence`).
fn attributed(example: &Example, config: &PrepareConfig) -> Option<(String, String)> {
    let (file, group) = example.group();
    if let Some(own) = &example.attribution {
        let licence = own.licence.clone().or_else(|| config.pairs_licence.clone())?;
        return Some((own.source.clone().unwrap_or_else(|| file.to_string()), licence));
    }
    let licence = super::redistribution_licence(file)?;
    let name = match SourceKind::of_folder(file) {
        Some(_) => format!("{file}/{group}"),
        None => file.to_string(),
    };
    Some((name, licence.to_string()))
}

/// Keeps the first of equal pairs (files in the order given), counting the others.
fn drop_duplicates(candidates: Vec<Candidate>, reports: &mut [SourceReport]) -> Vec<Candidate> {
    let mut seen = HashSet::new();
    candidates
        .into_iter()
        .filter(|c| {
            let first = seen.insert(c.key());
            if !first {
                reports[c.file].duplicates += 1;
            }
            first
        })
        .collect()
}

/// The functions split's side and train's: whole groups (files) drawn by [`split_by_group`] from
/// those with a tested pair, `fraction` of their pairs; groups without one all train.
fn split_functions(
    candidates: Vec<Candidate>,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let tested: HashSet<String> =
        candidates.iter().filter(|c| !c.raw.tests.is_empty()).map(|c| c.raw.group.clone()).collect();
    let (eligible, untested): (Vec<Candidate>, Vec<Candidate>) =
        candidates.into_iter().partition(|c| tested.contains(&c.raw.group));
    let (held_out, mut rest) = split_by_group(eligible, fraction, rng);
    rest.extend(untested);
    (held_out, rest)
}

/// Shuffles the groups and moves whole groups to the held-out side until it holds `fraction`
/// of the pairs. Returns (held out, rest), each in the input order.
fn split_by_group(
    candidates: Vec<Candidate>,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<Candidate>, Vec<Candidate>) {
    let mut group_sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &candidates {
        *group_sizes.entry(c.raw.group.as_str()).or_default() += 1;
    }
    let mut groups: Vec<(&str, usize)> = group_sizes.into_iter().collect();
    groups.shuffle(rng);
    let target = (fraction * candidates.len() as f64).round() as usize;
    let mut held_out_groups = HashSet::new();
    let mut taken = 0;
    for (group, size) in groups {
        if taken >= target {
            break;
        }
        held_out_groups.insert(group.to_string());
        taken += size;
    }
    candidates.into_iter().partition(|c| held_out_groups.contains(&c.raw.group))
}

fn count<'a>(sequences: impl Iterator<Item = &'a Vec<String>>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for token in sequences.flatten() {
        *counts.entry(token.clone()).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conala(n: usize, task: &str, question: impl Fn(usize) -> usize) -> String {
        let records: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"intent": "{task} {i}", "rewritten_intent": null, "snippet": "{task}({i})", "question_id": {}}}"#, question(i)))
            .collect();
        format!("[{}]", records.join(","))
    }

    fn files() -> Vec<SourceFile> {
        let ep = "# write a program to print one\nprint(1)\n\n# write a program to print one\nprint( 1 )  # same\n\n# write a program to print two\nprint(2\n";
        vec![
            SourceFile { name: "conala-train.json".into(), kind: SourceKind::ConalaTrain, text: conala(40, "train", |i| i / 2), companion: None, members: Vec::new() },
            SourceFile { name: "conala-test.json".into(), kind: SourceKind::ConalaTest, text: conala(5, "test", |i| 1000 + i), companion: None, members: Vec::new() },
            SourceFile { name: "english_python_data.txt".into(), kind: SourceKind::EnglishPython, text: ep.into(), companion: None, members: Vec::new() },
            SourceFile { name: "python-docs.jsonl".into(), kind: SourceKind::ApiDocs, text: "{\"intent\": \"Test  3\", \"snippet\": \"test( 3 )\"}\n{\"intent\": \"x\", \"snippet\": \"y\"}\n".into(), companion: None, members: Vec::new() },
        ]
    }

    #[test]
    fn splits_are_grouped_deduplicated_and_leak_free() {
        let prepared = prepare(&files(), &PrepareConfig::default());
        let r = &prepared.report.sources;
        assert_eq!((r[0].read, r[0].kept[&Split::Dev], r[0].kept[&Split::Train]), (40, 4, 36));
        let dev_groups: HashSet<&str> =
            prepared.splits[&Split::Dev].iter().map(|e| e.id.split('#').next().unwrap()).collect();
        assert!(
            prepared.splits[&Split::Train]
                .iter()
                .all(|e| !dev_groups.contains(e.id.split('#').next().unwrap()))
        );
        assert_eq!(r[1].kept[&Split::Test], 5);
        assert_eq!((r[2].read, r[2].duplicates, r[2].rejected), (3, 1, 1));
        assert_eq!((r[3].overlapping, r[3].kept[&Split::Pretrain]), (1, 1));
        assert!(prepared.code_vocab.len() > 4);
    }

    #[test]
    fn the_same_seed_gives_the_same_splits() {
        let a = prepare(&files(), &PrepareConfig::default());
        let b = prepare(&files(), &PrepareConfig::default());
        let c = prepare(&files(), &PrepareConfig { seed: 7, ..Default::default() });
        assert_eq!(a.splits, b.splits);
        assert_ne!(a.splits[&Split::Dev], c.splits[&Split::Dev]);
    }

    /// Every example gets neighbours from the licensed train and pretrain pairs, never from dev,
    /// test or its own group; English–Python (no licence) stays out of the index.
    #[test]
    fn neighbours_come_from_licensed_pairs_of_other_groups() {
        let config = PrepareConfig { neighbours: 2, max_example_len: 16, ..Default::default() };
        let prepared = prepare(&files(), &config);
        let index = prepared.index.as_ref().unwrap();
        let report = prepared.report.retrieval.as_ref().unwrap();
        assert_eq!(report.by_source.keys().collect::<Vec<_>>(), ["conala-train.json", "python-docs.jsonl"]);
        assert_eq!(report.entries, index.len());
        let dev = &prepared.splits[&Split::Dev];
        assert!(dev.iter().all(|e| e.retrieved.len() == 2), "dev prompts share `train` with the index");
        for split in Split::ALL {
            for example in &prepared.splits[&split] {
                for &entry in &example.retrieved {
                    let found = index.entry(entry);
                    let found_group = prepared.splits[&Split::Train]
                        .iter()
                        .chain(&prepared.splits[&Split::Pretrain])
                        .find(|e| e.prompt == found.prompt && e.snippet == found.code)
                        .map(|e| e.group())
                        .unwrap_or_else(|| {
                            panic!(
                                "{} retrieved {:?}, neither a train nor a pretrain pair",
                                example.id, found.prompt
                            )
                        });
                    assert_ne!(found_group, example.group(), "{} retrieved its own group", example.id);
                }
            }
        }
    }

    /// A TheAlgorithms folder of `n` files, each with one tested function and one untested.
    fn algorithms(n: usize) -> SourceFile {
        let members = (0..n)
            .map(|i| Member {
                path: format!("maths/f{i}.py"),
                text: format!(
                    "def add_{i}(x):\n    \"\"\"Add {i} to a number x.\n\n    >>> add_{i}(1)\n    {}\n    \"\"\"\n    return x + {i}\n\n\
                     def twice_{i}(x):\n    \"\"\"Double the number {i} times.\"\"\"\n    return x * 2\n",
                    i + 1
                ),
            })
            .collect();
        SourceFile {
            name: "thealgorithms-python".into(),
            kind: SourceKind::TheAlgorithms,
            text: String::new(),
            companion: None,
            members,
        }
    }

    /// Whole files go to the functions split, only their tested pairs; nothing of them trains
    /// or is indexed, and the rest of the folder trains, indexed under each file's path.
    #[test]
    fn held_out_functions_never_train_nor_reach_the_index() {
        let mut files = files();
        files.push(algorithms(40));
        let config = PrepareConfig {
            neighbours: 2,
            max_example_len: 16,
            functions_fraction: 0.15,
            ..Default::default()
        };
        let prepared = prepare(&files, &config);
        let functions = &prepared.splits[&Split::Functions];
        let report = &prepared.report.sources[4];
        assert_eq!(report.read, 40);
        assert_eq!(functions.len(), 6, "15 % of 80 pairs, in whole files of two");
        assert_eq!(report.skipped[UNTESTED_HELD_OUT], 6);
        assert_eq!((report.kept[&Split::Functions], report.kept[&Split::Train]), (6, 68));
        assert_eq!((report.tests[&Split::Functions], report.tests[&Split::Train]), (6, 34));
        assert!(functions.iter().all(|e| e.tests.len() == 1 && e.tests[0].starts_with("assert add_")));
        let held_out_files: HashSet<&str> = functions.iter().map(|e| e.group().1).collect();
        assert_eq!(held_out_files.len(), 6);
        let alone = prepare(&[algorithms(40)], &config);
        let ids = |examples: &[Example]| examples.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&alone.splits[&Split::Functions]), ids(functions), "other sources change nothing");
        let trained = [Split::Train, Split::Pretrain].into_iter().flat_map(|s| &prepared.splits[&s]);
        assert!(trained.clone().all(|e| !held_out_files.contains(e.group().1)));
        let index = prepared.index.as_ref().unwrap();
        let indexed: Vec<&str> = (0..index.len()).map(|i| index.entry(i).prompt.as_str()).collect();
        assert!(functions.iter().all(|e| !indexed.contains(&e.prompt.as_str())));
        let names: HashSet<&str> = index.sources.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names.contains("thealgorithms-python/maths/f0.py")
                || names.contains("thealgorithms-python/maths/f1.py")
        );
        assert!(index.sources.iter().all(|s| !held_out_files.iter().any(|f| s.name.ends_with(f))));
        let mut from_files = index.sources.iter().filter(|s| s.name.starts_with("thealgorithms")).peekable();
        assert!(from_files.peek().is_some() && from_files.all(|s| s.licence.starts_with("MIT")));
        // A train pair equal to a held-out one is dropped, as for dev and test.
        let copy = functions[0].clone();
        files.push(SourceFile {
            name: "mbpp-sanitized.json".into(),
            kind: SourceKind::Mbpp,
            text: serde_json::json!([{"task_id": 900, "prompt": copy.prompt, "code": copy.snippet}])
                .to_string(),
            companion: None,
            members: Vec::new(),
        });
        let prepared = prepare(&files, &config);
        assert_eq!(prepared.report.sources[5].overlapping, 1);
        assert!(prepared.splits[&Split::Train].iter().all(|e| e.snippet != copy.snippet));
    }

    #[test]
    fn own_pairs_are_indexed_with_their_own_source_and_licence_or_the_files() {
        let records = [
            r#"{"prompt": "zip a folder", "code": "shutil.make_archive('a', 'zip', 'b')", "source": "wiki", "licence": "CC0-1.0"}"#,
            r#"{"prompt": "read a gzip file", "code": "gzip.open('a.gz').read()"}"#,
            r#"{"prompt": "list a folder", "code": "os.listdir('.')"}"#,
        ];
        let files = [
            SourceFile {
                name: "mine.jsonl".into(),
                kind: SourceKind::PairsJsonLines,
                text: records.join("\n"),
                companion: None,
                members: Vec::new(),
            },
            SourceFile {
                name: "django-all.anno".into(),
                kind: SourceKind::Django,
                text: "call f\n".into(),
                companion: Some("f()\n".into()),
                members: Vec::new(),
            },
        ];
        let index_of = |config: &PrepareConfig| {
            let prepared = prepare(&files, config);
            let index = prepared.index.unwrap();
            let mut shown: Vec<(String, String, String)> = (0..index.len())
                .map(|i| index.entry(i))
                .map(|e| {
                    (
                        e.prompt.clone(),
                        index.sources[e.source].name.clone(),
                        index.sources[e.source].licence.clone(),
                    )
                })
                .collect();
            shown.sort();
            (shown, prepared.report.retrieval.unwrap().unlicensed)
        };
        let config =
            PrepareConfig { dev_fraction: 0.0, neighbours: 1, max_example_len: 16, ..Default::default() };
        let (shown, unlicensed) = index_of(&config);
        let django = (
            "call f".to_string(),
            "django-all.anno".to_string(),
            crate::data::redistribution_licence("django-all.anno").unwrap().to_string(),
        );
        assert_eq!(shown, [django.clone(), ("zip a folder".into(), "wiki".into(), "CC0-1.0".into())]);
        assert_eq!(unlicensed, 2);
        let config = PrepareConfig { pairs_licence: Some("MIT".into()), ..config };
        let (shown, unlicensed) = index_of(&config);
        let mine = |prompt: &str| (prompt.to_string(), "mine.jsonl".to_string(), "MIT".to_string());
        assert_eq!(
            shown,
            [
                django,
                mine("list a folder"),
                mine("read a gzip file"),
                ("zip a folder".into(), "wiki".into(), "CC0-1.0".into())
            ]
        );
        assert_eq!(unlicensed, 0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let l = Lengths::of((1..=100).collect());
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50, 90, 99, 100));
        assert_eq!(Lengths::of(vec![]), Lengths::default());
    }
}
