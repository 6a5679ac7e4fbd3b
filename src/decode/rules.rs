//! What every search (greedy, sampling, beam) does to a hypothesis's next-token scores before it
//! picks: special tokens never, only tokens that can continue Python ([`grammar`]), no n-gram
//! repeated past a limit, the alternatives recorded for the user, and a forced prefix.

use serde::{Deserialize, Serialize};

use super::grammar::{PyState, TokenClasses};
use crate::text::vocab::{BOS_ID, EOS_ID, PAD_ID, UNK_ID};

/// Tokens a generation must never produce: `<pad>`, `<bos>`, `<unk>` (printed, `<unk>` would be
/// a name in the code). `<eos>` stays: it ends the output.
const NEVER_GENERATED: [usize; 3] = [PAD_ID, BOS_ID, UNK_ID];

/// No `n`-gram of output tokens may occur more than `times` times: the token that would make
/// one more occurrence is ruled out (degenerate loops such as `is is is is`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatLimit {
    pub n: usize,
    pub times: usize,
}

impl RepeatLimit {
    /// Rules out, in `row`, the tokens that would repeat an n-gram of `ids` too often.
    fn forbid(&self, ids: &[usize], row: &mut [f32]) {
        let n = self.n.max(1);
        if ids.len() + 1 < n {
            return;
        }
        let context = &ids[ids.len() + 1 - n..];
        // Counts per next token of the (n−1)-token context's earlier occurrences.
        let mut counts: Vec<(usize, usize)> = Vec::new();
        for window in ids.windows(n) {
            if &window[..n - 1] == context {
                let next = window[n - 1];
                match counts.iter_mut().find(|(t, _)| *t == next) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((next, 1)),
                }
            }
        }
        rule_out(row, counts.into_iter().filter(|&(_, count)| count >= self.times).map(|(token, _)| token));
    }
}

/// Sets the log-probabilities of `ids` to −∞ (ids beyond the row are no tokens: skipped).
fn rule_out(row: &mut [f32], ids: impl IntoIterator<Item = usize>) {
    for id in ids {
        if let Some(s) = row.get_mut(id) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Whether code ids so far make a whole program, for the prompt at an index of the batch.
pub(crate) type IsComplete<'a> = &'a dyn Fn(usize, &[usize]) -> bool;

/// The rules of one generation.
pub(crate) struct Rules<'a> {
    /// Python-aware masking; `None` leaves the model free (training's validation).
    pub grammar: Option<&'a TokenClasses>,
    pub repeat: Option<RepeatLimit>,
    /// Tokens the output must start with (the page's "continue from this alternative").
    pub prefix: &'a [usize],
    /// How many of the most likely tokens each step records.
    pub alternatives: usize,
    /// Whether the code so far is a whole program (it parses): `<eos>` is ruled out where it is
    /// not. Parsing costs, so it is asked only when `<eos>` ranks among the `eos_rank` best
    /// tokens, where the search could take it.
    pub complete: Option<IsComplete<'a>>,
    pub eos_rank: usize,
    /// Per prompt of the batch, the code ids of the slot tokens its prompt did not define
    /// (ruled out with the grammar: they would print as names nothing defines).
    pub undefined_slots: &'a [Vec<usize>],
}

/// A hypothesis's place in the grammar.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Track {
    python: PyState,
}

/// What a step chose, and what the model offered instead: `(id, log-probability)`, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Choice {
    pub log_prob: f32,
    pub alternatives: Vec<(usize, f32)>,
}

impl Rules<'_> {
    /// Only the special tokens are ruled out.
    pub fn free() -> Rules<'static> {
        Rules {
            grammar: None,
            repeat: None,
            prefix: &[],
            alternatives: 0,
            complete: None,
            eos_rank: 0,
            undefined_slots: &[],
        }
    }

    /// Rules out what `ids` (the hypothesis so far for the batch's prompt `prompt`, at `track`)
    /// may not continue with, records the alternatives, then forces the prefix's token at this
    /// step. `row`: log-probabilities.
    pub fn apply(&self, track: &Track, prompt: usize, ids: &[usize], row: &mut [f32]) -> Vec<(usize, f32)> {
        rule_out(row, NEVER_GENERATED);
        let forced = self.prefix.get(ids.len()).copied();
        if forced.is_none() {
            if let Some(classes) = self.grammar {
                track.python.mask(classes, row);
                rule_out(row, self.undefined_slots.get(prompt).into_iter().flatten().copied());
            }
            if let Some(repeat) = &self.repeat {
                repeat.forbid(ids, row);
            }
            let eos = row.get(EOS_ID).copied();
            if let Some(complete) = self.complete
                && row.get(EOS_ID).is_some_and(|eos| eos.is_finite())
                && row.iter().filter(|&&s| s > row[EOS_ID]).count() < self.eos_rank
                && !complete(prompt, ids)
            {
                row[EOS_ID] = f32::NEG_INFINITY;
                // Code that can neither go on nor end whole still ends: a search needs a token.
                if row.iter().all(|s| *s == f32::NEG_INFINITY) {
                    row[EOS_ID] = eos.unwrap_or(0.0);
                }
            }
        }
        let alternatives = top(row, self.alternatives);
        if let Some(forced) = forced.filter(|&f| f < row.len()) {
            let score = row[forced];
            row.iter_mut().for_each(|s| *s = f32::NEG_INFINITY);
            // The model may rate the user's choice −∞ (a special token): it is still taken.
            row[forced] = if score.is_finite() { score } else { -1e9 };
        }
        alternatives
    }

    pub fn advance(&self, track: &mut Track, id: usize) {
        if let Some(classes) = self.grammar {
            track.python.advance(id, classes);
        }
    }
}

/// The `k` best finite entries of a row, best first (ties: the lower id first). One pass that
/// keeps the best so far: once `k` are held, an entry costs one comparison with the last of them.
/// (Collecting the row's 8,000 entries and selecting took 3 % of a greedy generation natively.)
pub(crate) fn top(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (id, &score) in row.iter().enumerate() {
        let beats_last = best.len() < k || score.total_cmp(&best[k - 1].1).is_gt();
        if score.is_finite() && beats_last {
            // After every entry scored at least as high: those have lower ids.
            let at = best.partition_point(|(_, held)| held.total_cmp(&score).is_ge());
            best.insert(at, (id, score));
            best.truncate(k);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against sorting the whole row: ties, −∞, NaN, fewer finite entries than asked, none asked.
    #[test]
    fn top_keeps_the_best_in_order() {
        let row = [-1.0, -3.0, f32::NEG_INFINITY, -1.0, -0.5, f32::NAN, -3.0, -2.0, f32::INFINITY, -0.5];
        let sorted = |k: usize| {
            let mut all: Vec<(usize, f32)> =
                row.iter().copied().enumerate().filter(|(_, s)| s.is_finite()).collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(k);
            all
        };
        for k in [0, 1, 2, 3, 5, 7, 20] {
            assert_eq!(top(&row, k), sorted(k), "k = {k}");
        }
        assert_eq!(top(&row, 3), [(4, -0.5), (9, -0.5), (0, -1.0)]);
    }

    #[test]
    fn an_ngram_may_not_occur_more_than_its_limit() {
        let limit = RepeatLimit { n: 2, times: 2 };
        // "a b a b a": the 2-gram (a, b) occurred twice, so b may not follow a again.
        let mut row = vec![0.0; 4];
        limit.forbid(&[1, 2, 1, 2, 1], &mut row);
        assert_eq!(row, [0.0, 0.0, f32::NEG_INFINITY, 0.0]);
        let mut row = vec![0.0; 4];
        limit.forbid(&[1, 2, 1], &mut row);
        assert!(row.iter().all(|s| s.is_finite()), "once is allowed");
    }

    #[test]
    fn eos_only_where_the_code_is_complete() {
        let complete = |_: usize, ids: &[usize]| ids.len().is_multiple_of(2);
        let rules = Rules { complete: Some(&complete), eos_rank: 1, ..Rules::free() };
        let row = || vec![-5.0, -5.0, -0.1, -5.0, -2.0];
        let mut odd = row();
        rules.apply(&Track::default(), 0, &[4], &mut odd);
        assert_eq!(odd[EOS_ID], f32::NEG_INFINITY);
        let mut even = row();
        rules.apply(&Track::default(), 0, &[4, 4], &mut even);
        assert_eq!(even[EOS_ID], -0.1);
        // <eos> ranked below what the search looks at: not asked, not touched.
        let mut unlikely = vec![-5.0, -5.0, -3.0, -5.0, -0.1];
        rules.apply(&Track::default(), 0, &[4], &mut unlikely);
        assert_eq!(unlikely[EOS_ID], -3.0);
    }

    #[test]
    fn slots_the_prompt_did_not_define_are_ruled_out_with_the_grammar() {
        use crate::text::vocab::Vocab;
        let counts = ["x", "var_0", "var_1"].map(|t| (t.to_string(), 1)).into_iter().collect();
        let vocab = Vocab::build(&counts, 1);
        let classes = TokenClasses::new(&vocab);
        let undefined = [vec![vocab.id("var_1")]];
        let rules = Rules { grammar: Some(&classes), undefined_slots: &undefined, ..Rules::free() };
        let mut row = vec![0.0; vocab.len()];
        rules.apply(&Track::default(), 0, &[], &mut row);
        assert_eq!(row[vocab.id("var_1")], f32::NEG_INFINITY);
        assert!(row[vocab.id("var_0")].is_finite() && row[vocab.id("x")].is_finite());
        // Without the grammar (training's validation) the model stays free.
        let free = Rules { undefined_slots: &undefined, ..Rules::free() };
        let mut row = vec![0.0; vocab.len()];
        free.apply(&Track::default(), 0, &[], &mut row);
        assert!(row[vocab.id("var_1")].is_finite());
    }

    #[test]
    fn eos_stays_where_nothing_else_may_come() {
        let never = |_: usize, _: &[usize]| false;
        let rules = Rules { complete: Some(&never), eos_rank: 1, ..Rules::free() };
        let mut row = vec![-5.0, -5.0, -0.5, f32::NEG_INFINITY];
        rules.apply(&Track::default(), 0, &[3], &mut row);
        assert_eq!(row, [f32::NEG_INFINITY, f32::NEG_INFINITY, -0.5, f32::NEG_INFINITY]);
    }

    #[test]
    fn specials_are_never_chosen_and_a_prefix_is_forced() {
        let prefix = [7];
        let rules = Rules { prefix: &prefix, alternatives: 2, ..Rules::free() };
        let mut row: Vec<f32> = (0..8).map(|i| -(i as f32)).collect();
        let alternatives = rules.apply(&Track::default(), 0, &[], &mut row);
        // <pad> 0, <bos> 1 and <unk> 3 are out; the best left are <eos> 2 and token 4.
        assert_eq!(alternatives, [(2, -2.0), (4, -4.0)]);
        assert_eq!(row.iter().filter(|s| s.is_finite()).count(), 1);
        assert_eq!(row[7], -7.0);
        let mut free_row: Vec<f32> = (0..8).map(|i| -(i as f32)).collect();
        rules.apply(&Track::default(), 0, &[7], &mut free_row);
        assert_eq!(free_row.iter().filter(|s| s.is_finite()).count(), 5, "after the prefix: free");
    }
}
