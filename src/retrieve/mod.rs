//! Retrieval: an index of training pairs whose code the model reads beside the prompt
//! ("retrieve, then edit"). For a prompt, BM25 over the words of its task (`words`: without the
//! instruction shell, stemmed, slots kept as slot tokens) finds the nearest pairs, of which the
//! neighbours are picked so that they are no near copies of each other; their code, as
//! code-vocabulary ids joined by `<eos>`, is the encoder's second input. The index ships inside
//! the model bundle so the page retrieves exactly as `nl2py` does.

mod bytes;
mod words;

use std::collections::HashMap;

pub use words::{Matching, Query, identifier_words, is_definition, searchable, stem, task_tokens};

use serde::{Deserialize, Serialize};

use crate::text::vocab::EOS_ID;

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// How many of the best-scored entries a pick chooses from ([`Matching::diverse`],
/// [`Matching::definitions`]).
const POOL: usize = 32;
/// A candidate is useful when it scores at least this share of the best one: only useful ones
/// replace a near copy or are preferred for defining a function.
const USEFUL: f32 = 0.6;
/// Two examples are near copies from this overlap of their code tokens (multiset Jaccard).
const NEAR_COPY: f32 = 0.7;

/// Where indexed pairs come from, shown beside each retrieved example.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSource {
    /// The data file.
    pub name: String,
    pub licence: String,
}

/// One indexed pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Into [`Index::sources`].
    pub source: usize,
    /// The prompt and code as their source gave them (for display and attribution).
    pub prompt: String,
    pub code: String,
    /// Index-local word ids of the words it is found by ([`Matching`]).
    words: Vec<u32>,
    /// The code as model input: code-vocabulary ids, slots abstracted.
    pub code_ids: Vec<u32>,
    /// The code defines a function with a body ([`is_definition`]).
    definition: bool,
}

/// A pair to index: its prompt tokens (as `prompt::tokenize` gives them) and code ids.
pub struct NewEntry<'a> {
    pub source: usize,
    pub prompt: &'a str,
    pub code: &'a str,
    pub prompt_tokens: &'a [String],
    pub code_ids: Vec<u32>,
}

/// A BM25 index over prompts, with the code of every pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    pub sources: Vec<IndexSource>,
    /// How many neighbours a prompt gets.
    pub neighbours: usize,
    /// Most example tokens the model reads (neighbours' code joined, then cut).
    pub max_example_len: usize,
    /// How prompts become the words entries are found by, and how neighbours are picked.
    matching: Matching,
    words: Vec<String>,
    entries: Vec<Entry>,
    /// Per entry: how many searchable words its prompt has. Dense, because a search reads one
    /// per posting, and reading it from the entries missed the cache each time.
    entry_lens: Vec<f32>,
    /// Per word id: (entry, term frequency).
    postings: Vec<Vec<(u32, u16)>>,
    word_ids: HashMap<String, u32>,
    average_len: f32,
}

/// A scored neighbour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub entry: usize,
    pub score: f32,
}

impl Index {
    /// An empty index that matches on tasks ([`Matching::TASK`]).
    pub fn new(sources: Vec<IndexSource>, neighbours: usize, max_example_len: usize) -> Self {
        Self::with_matching(sources, neighbours, max_example_len, Matching::TASK)
    }

    /// An empty index that matches as `matching` says.
    pub fn with_matching(
        sources: Vec<IndexSource>,
        neighbours: usize,
        max_example_len: usize,
        matching: Matching,
    ) -> Self {
        Self {
            sources,
            neighbours,
            max_example_len,
            matching,
            words: Vec::new(),
            entries: Vec::new(),
            entry_lens: Vec::new(),
            postings: Vec::new(),
            word_ids: HashMap::new(),
            average_len: 0.0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entry(&self, entry: usize) -> &Entry {
        &self.entries[entry]
    }

    pub fn matching(&self) -> Matching {
        self.matching
    }

    /// Distinct words the entries are found by.
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// A prompt's tokens as this index reads a query.
    pub fn query(&self, prompt_tokens: &[String]) -> Query {
        words::query(prompt_tokens, self.matching)
    }

    /// Adds a pair; returns its entry number.
    pub fn push(&mut self, new: NewEntry) -> usize {
        let words = words::entry_words(new.prompt_tokens, new.code, self.matching)
            .into_iter()
            .map(|w| match self.word_ids.get(&w) {
                Some(&id) => id,
                None => {
                    let id = self.words.len() as u32;
                    self.words.push(w.clone());
                    self.word_ids.insert(w, id);
                    id
                }
            })
            .collect();
        self.add(Entry {
            source: new.source,
            prompt: new.prompt.to_string(),
            code: new.code.to_string(),
            words,
            code_ids: new.code_ids,
            definition: false,
        })
    }

    /// The same pairs, sources and settings, their words derived again as `matching` says from
    /// each pair's prompt (tokenized by `tokenize`, as the model reads prompts) and code: an
    /// index built before a change of [`Matching`] matches as a new one would, without preparing
    /// the data again.
    pub fn reindexed(&self, matching: Matching, tokenize: impl Fn(&str) -> Vec<String>) -> Index {
        let mut index =
            Index::with_matching(self.sources.clone(), self.neighbours, self.max_example_len, matching);
        for entry in &self.entries {
            let tokens = tokenize(&entry.prompt);
            index.push(NewEntry {
                source: entry.source,
                prompt: &entry.prompt,
                code: &entry.code,
                prompt_tokens: &tokens,
                code_ids: entry.code_ids.clone(),
            });
        }
        index
    }

    fn add(&mut self, mut entry: Entry) -> usize {
        entry.definition = is_definition(&entry.code);
        let at = self.entries.len();
        let mut counts: HashMap<u32, u16> = HashMap::new();
        for &w in &entry.words {
            *counts.entry(w).or_default() += 1;
        }
        if self.postings.len() < self.words.len() {
            self.postings.resize(self.words.len(), Vec::new());
        }
        let mut counts: Vec<(u32, u16)> = counts.into_iter().collect();
        counts.sort_unstable();
        for (w, tf) in counts {
            self.postings[w as usize].push((at as u32, tf));
        }
        let n = self.entries.len() as f32;
        self.average_len = (self.average_len * n + entry.words.len() as f32) / (n + 1.0);
        self.entry_lens.push(entry.words.len() as f32);
        self.entries.push(entry);
        at
    }

    /// The `k` nearest entries for a prompt's tokens, best first, leaving out entries for which
    /// `skip` is true; entries sharing no word are not hits. BM25 ranks the entries by the
    /// query's words (ties: lower entry first); the first is the best. Each next one is the best
    /// useful candidate (scoring at least `USEFUL` of the best) that, with
    /// [`Matching::diverse`], is no near copy of one already picked, and, with
    /// [`Matching::definitions`], defines a function while none picked does and the prompt asks
    /// for one; without a useful candidate, the next best.
    pub fn search(&self, prompt_tokens: &[String], k: usize, skip: impl Fn(usize) -> bool) -> Vec<Hit> {
        let query = self.query(prompt_tokens);
        if !self.matching.diverse && !self.matching.definitions {
            return self.rank(&query.words, k, skip);
        }
        let ranked = self.rank(&query.words, POOL.max(k), skip);
        self.pick(ranked, k, query.asks_for_definition)
    }

    /// The `k` best entries by BM25 for these words, best first.
    fn rank(&self, words: &[String], k: usize, skip: impl Fn(usize) -> bool) -> Vec<Hit> {
        let n = self.entries.len() as f32;
        // Dense scores: a common word's postings cover a good share of the index.
        let mut scores = vec![0f32; self.entries.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut seen = Vec::new();
        for word in words {
            let Some(&w) = self.word_ids.get(word) else { continue };
            // A repeated query word counts once.
            if seen.contains(&w) {
                continue;
            }
            seen.push(w);
            // A word of the table that no entry uses has no postings (an index read from bytes).
            let Some(postings) = self.postings.get(w as usize) else { continue };
            let df = postings.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(entry, tf) in postings {
                let len = self.entry_lens[entry as usize];
                let tf = tf as f32;
                let norm = K1 * (1.0 - B + B * len / self.average_len.max(1e-6));
                let score = &mut scores[entry as usize];
                if *score == 0.0 {
                    touched.push(entry);
                }
                *score += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<Hit> = touched
            .into_iter()
            .map(|entry| Hit { entry: entry as usize, score: scores[entry as usize] })
            .filter(|hit| !skip(hit.entry))
            .collect();
        let by_score = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry));
        if hits.len() > k && k > 0 {
            hits.select_nth_unstable_by(k - 1, by_score);
        }
        hits.truncate(k);
        hits.sort_by(by_score);
        hits
    }

    /// `k` of the ranked hits (best first), as [`Index::search`] describes.
    fn pick(&self, mut ranked: Vec<Hit>, k: usize, asks_for_definition: bool) -> Vec<Hit> {
        let Some(best) = ranked.first().map(|hit| hit.score).filter(|_| k > 0) else { return Vec::new() };
        let mut picked = vec![ranked.remove(0)];
        while picked.len() < k && !ranked.is_empty() {
            let useful: Vec<usize> = (0..ranked.len())
                .filter(|&i| {
                    ranked[i].score >= USEFUL * best
                        && !(self.matching.diverse
                            && picked.iter().any(|p| self.near_copies(p.entry, ranked[i].entry)))
                })
                .collect();
            let wants_definition = self.matching.definitions
                && asks_for_definition
                && !picked.iter().any(|p| self.entries[p.entry].definition);
            let at = useful
                .iter()
                .copied()
                .find(|&i| wants_definition && self.entries[ranked[i].entry].definition)
                .or(useful.first().copied())
                .unwrap_or(0);
            picked.push(ranked.remove(at));
        }
        picked
    }

    /// Whether two entries' code is nearly the same: the multiset Jaccard overlap of their code
    /// ids is at least `NEAR_COPY`.
    pub fn near_copies(&self, a: usize, b: usize) -> bool {
        let sorted = |e: usize| {
            let mut ids = self.entries[e].code_ids.clone();
            ids.sort_unstable();
            ids
        };
        let (a, b) = (sorted(a), sorted(b));
        let (mut i, mut j, mut shared) = (0, 0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let union = a.len() + b.len() - shared;
        union > 0 && shared as f32 >= NEAR_COPY * union as f32
    }

    /// The model's example input for some entries: their code ids, each followed by `<eos>`, cut
    /// to `max_example_len`.
    pub fn example_ids(&self, entries: &[usize]) -> Vec<usize> {
        let mut ids: Vec<usize> = entries
            .iter()
            .flat_map(|&e| self.entries[e].code_ids.iter().map(|&id| id as usize).chain([EOS_ID]))
            .collect();
        ids.truncate(self.max_example_len);
        ids
    }

    /// Whether an entry's words are those of `prompt_tokens` read as a query, as a set: the
    /// "near-identical prompt" of the leakage report.
    pub fn same_words(&self, entry: usize, prompt_tokens: &[String]) -> bool {
        let query = self.query(prompt_tokens);
        let mut ours: Vec<&str> = query.words.iter().map(String::as_str).collect();
        let mut theirs: Vec<&str> =
            self.entries[entry].words.iter().map(|&w| self.words[w as usize].as_str()).collect();
        for words in [&mut ours, &mut theirs] {
            words.sort_unstable();
            words.dedup();
        }
        ours == theirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::prompt;

    fn index(pairs: &[(&str, &[u32])]) -> Index {
        let pairs: Vec<(&str, &str, &[u32])> = pairs.iter().map(|&(text, ids)| (text, "c", ids)).collect();
        index_of(&pairs, Matching::TASK)
    }

    /// An index of (prompt, code, code ids) pairs.
    fn index_of(pairs: &[(&str, &str, &[u32])], matching: Matching) -> Index {
        let source = IndexSource { name: "t".into(), licence: "MIT".into() };
        let mut index = Index::with_matching(vec![source], 2, 6, matching);
        for (text, code, ids) in pairs {
            let tokens = prompt::tokenize(text).tokens;
            index.push(NewEntry {
                source: 0,
                prompt: text,
                code,
                prompt_tokens: &tokens,
                code_ids: ids.to_vec(),
            });
        }
        index
    }

    fn entries(hits: &[Hit]) -> Vec<usize> {
        hits.iter().map(|h| h.entry).collect()
    }

    /// Exercise prompts share their instruction shell: matching on every word finds those that
    /// share it; matching on the task finds the same task (issue 40).
    #[test]
    fn the_task_finds_the_same_task_where_the_shell_did_not() {
        let pairs: &[(&str, &str, &[u32])] = &[
            (
                "Write a python function to find the sum of an array.",
                "def _sum(arr):\n    return sum(arr)",
                &[1, 2],
            ),
            (
                "Write a python function to reverse an array upto a given position.",
                "def f(a, k):\n    pass",
                &[3],
            ),
            ("reverse a string `s`", "s[::-1]", &[4, 5]),
            ("get the current date", "datetime.date.today()", &[6]),
        ];
        let query = prompt::tokenize("write a python function to reverse a string").tokens;
        let legacy = index_of(pairs, Matching::LEGACY);
        assert_eq!(entries(&legacy.search(&query, 1, |_| false)), [1]);
        let task = index_of(pairs, Matching::TASK);
        assert_eq!(entries(&task.search(&query, 1, |_| false)), [2]);
        // Rebuilding the legacy index's words gives the index built with the new ones.
        assert_eq!(legacy.reindexed(Matching::TASK, |p| prompt::tokenize(p).tokens), task);
    }

    #[test]
    fn neighbours_are_no_near_copies_when_another_is_useful() {
        let pairs: &[(&str, &str, &[u32])] = &[
            ("return the greatest common divisor of `a` and `b`", "math.gcd(a, b)", &[1, 2, 3, 4, 5, 6, 7]),
            (
                "return the greatest common divisor of `a` and `b`",
                "fractions.gcd(a, b)",
                &[8, 2, 3, 4, 5, 6, 7],
            ),
            ("greatest common divisor of `a` and `b` by euclid's algorithm", "a % b", &[9, 10, 11]),
            ("print the date", "print(d)", &[12]),
            ("sort a list", "l.sort()", &[13]),
            ("open a file", "open(f)", &[14]),
            ("read a csv file", "pd.read_csv(f)", &[15]),
        ];
        let query = prompt::tokenize("find the gcd of `x` and `y`").tokens;
        let diverse = index_of(pairs, Matching::TASK);
        assert_eq!(entries(&diverse.search(&query, 2, |_| false)), [0, 2]);
        let copies = index_of(pairs, Matching { diverse: false, ..Matching::TASK });
        assert_eq!(entries(&copies.search(&query, 2, |_| false)), [0, 1]);
        // With nothing else useful, a near copy is still better than no second example.
        assert_eq!(entries(&diverse.search(&query, 2, |e| e == 2)), [0, 1]);
    }

    #[test]
    fn a_function_comes_second_when_the_prompt_asks_for_one() {
        let pairs: &[(&str, &str, &[u32])] = &[
            ("reverse a string `s`", "s[::-1]", &[1, 2]),
            ("reverse string `t`", "''.join(reversed(t))", &[3, 4]),
            (
                "reverse the words of a string",
                "def reverse_words(s):\n    return ' '.join(s.split()[::-1])",
                &[5, 6],
            ),
        ];
        let index = index_of(pairs, Matching::TASK);
        let asked = prompt::tokenize("write a python function to reverse a string").tokens;
        assert_eq!(entries(&index.search(&asked, 2, |_| false)), [0, 2]);
        let plain = prompt::tokenize("reverse a string").tokens;
        assert_eq!(entries(&index.search(&plain, 2, |_| false)), [0, 1]);
        let any_form = index_of(pairs, Matching { definitions: false, ..Matching::TASK });
        assert_eq!(entries(&any_form.search(&asked, 2, |_| false)), [0, 1]);
    }

    #[test]
    fn the_nearest_prompt_comes_first() {
        let index = index(&[
            ("sort list `a` by value", &[10]),
            ("reverse a string", &[11]),
            ("reverse list `b`", &[12]),
            ("get the current date", &[13]),
        ]);
        let query = prompt::tokenize("reverse the string `s`").tokens;
        let hits = index.search(&query, 2, |_| false);
        assert_eq!(hits.iter().map(|h| h.entry).collect::<Vec<_>>(), [1, 2]);
        assert!(hits[0].score > hits[1].score);
        let without_first = index.search(&query, 2, |e| e == 1);
        assert_eq!(without_first[0].entry, 2);
        assert!(index.search(&prompt::tokenize("zebra").tokens, 2, |_| false).is_empty());
    }

    #[test]
    fn examples_are_joined_by_eos_and_cut() {
        let index = index(&[("a b", &[10, 11, 12]), ("c d", &[20, 21, 22])]);
        assert_eq!(index.example_ids(&[0, 1]), [10, 11, 12, EOS_ID, 20, 21]);
        assert_eq!(index.example_ids(&[]), Vec::<usize>::new());
    }

    #[test]
    fn same_words_ignores_order_case_and_punctuation() {
        let index = index(&[("Reverse a string!", &[1])]);
        assert!(index.same_words(0, &prompt::tokenize("string a reverse").tokens));
        assert!(!index.same_words(0, &prompt::tokenize("reverse a list").tokens));
    }
}
