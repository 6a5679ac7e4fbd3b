//! Retrieval: an index of training pairs whose code the model reads beside the prompt
//! ("retrieve, then edit"). For a prompt, BM25 over its slot-canonicalised words finds the
//! nearest pairs; their code, as code-vocabulary ids joined by `<eos>`, is the encoder's second
//! input. The index ships inside the model bundle so the page retrieves exactly as `nl2py` does.

mod bytes;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::text::vocab::EOS_ID;

/// BM25's term-frequency saturation and length normalisation (the usual values).
const K1: f32 = 1.2;
const B: f32 = 0.75;

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
    /// Index-local word ids of the prompt's searchable words.
    words: Vec<u32>,
    /// The code as model input: code-vocabulary ids, slots abstracted.
    pub code_ids: Vec<u32>,
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

/// The words of a prompt that retrieval matches on: words, numbers and slot tokens; not
/// punctuation.
pub fn searchable(tokens: &[String]) -> impl Iterator<Item = &str> {
    tokens
        .iter()
        .map(String::as_str)
        .filter(|t| t.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_'))
}

impl Index {
    pub fn new(sources: Vec<IndexSource>, neighbours: usize, max_example_len: usize) -> Self {
        Self {
            sources,
            neighbours,
            max_example_len,
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

    /// Adds a pair; returns its entry number.
    pub fn push(&mut self, new: NewEntry) -> usize {
        let words = searchable(new.prompt_tokens)
            .map(|w| match self.word_ids.get(w) {
                Some(&id) => id,
                None => {
                    let id = self.words.len() as u32;
                    self.words.push(w.to_string());
                    self.word_ids.insert(w.to_string(), id);
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
        })
    }

    fn add(&mut self, entry: Entry) -> usize {
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

    /// The `k` best entries for a prompt's tokens by BM25, best first (ties: lower entry
    /// first), leaving out entries for which `skip` is true. Entries sharing no word are not hits.
    pub fn search(&self, prompt_tokens: &[String], k: usize, skip: impl Fn(usize) -> bool) -> Vec<Hit> {
        let n = self.entries.len() as f32;
        // Dense scores: a common word's postings cover a good share of the index.
        let mut scores = vec![0f32; self.entries.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut seen = Vec::new();
        for word in searchable(prompt_tokens) {
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

    /// Whether an entry's searchable prompt words are those of `prompt_tokens`, as a set: the
    /// "near-identical prompt" of the leakage report.
    pub fn same_words(&self, entry: usize, prompt_tokens: &[String]) -> bool {
        let mut ours: Vec<&str> = searchable(prompt_tokens).collect();
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
        let mut index = Index::new(vec![IndexSource { name: "t".into(), licence: "MIT".into() }], 2, 6);
        for (text, code) in pairs {
            let tokens = prompt::tokenize(text).tokens;
            index.push(NewEntry {
                source: 0,
                prompt: text,
                code: "c",
                prompt_tokens: &tokens,
                code_ids: code.to_vec(),
            });
        }
        index
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
