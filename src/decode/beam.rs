//! Beam search: the `width` best partial outputs advance together as one batch.

use super::rules::{Choice, Rules, Track};
use super::{Hypothesis, Watch, step_rows};
use crate::Result;
use crate::model::{DecoderState, Seq2Seq};
use crate::text::vocab::{BOS_ID, EOS_ID};
use burn::tensor::Device;

pub(crate) struct BeamSearch {
    pub width: usize,
    pub length_penalty: f32,
    pub max_tokens: usize,
    /// The prompt's index in its batch (what [`Rules`] checks completeness against).
    pub prompt: usize,
}

struct Live {
    hypothesis: Hypothesis,
    track: Track,
}

impl BeamSearch {
    /// GNMT's length normalization.
    fn normalized(&self, log_prob: f32, length: usize) -> f32 {
        log_prob / ((5.0 + length as f32) / 6.0).powf(self.length_penalty)
    }

    /// The finished hypotheses, best first (never empty), and whether the watch stopped the
    /// search.
    pub async fn run(
        &self,
        model: &Seq2Seq,
        mut state: DecoderState,
        device: &Device,
        attention: bool,
        rules: &Rules<'_>,
        watch: &mut impl Watch,
    ) -> Result<(Vec<Hypothesis>, bool)> {
        // A live hypothesis's `score` is its summed log-probability; a finished one's, normalized.
        let mut live = vec![Live { hypothesis: Hypothesis::default(), track: Track::default() }];
        let mut finished: Vec<Hypothesis> = Vec::new();
        let mut stopped = false;
        for step in 0..self.max_tokens {
            let last: Vec<usize> =
                live.iter().map(|l| l.hypothesis.ids.last().copied().unwrap_or(BOS_ID)).collect();
            let (mut log_probs, weights) = step_rows(model, &mut state, &last, device, attention).await?;
            let vocab = log_probs.len() / live.len();
            let per_row = weights.len() / live.len();
            // The best `2 · width` continuations over all rows: enough to fill the beam even if
            // up to `width` of them end here. Ruled-out tokens (−∞) are never candidates.
            let mut candidates: Vec<(f32, usize, usize)> = Vec::with_capacity(live.len() * 2 * self.width);
            let mut offered = Vec::with_capacity(live.len());
            for (row, l) in live.iter().enumerate() {
                let scores = &mut log_probs[row * vocab..(row + 1) * vocab];
                offered.push(rules.apply(&l.track, self.prompt, &l.hypothesis.ids, scores));
                let mut best: Vec<usize> = (0..vocab).filter(|&t| scores[t].is_finite()).collect();
                let keep = (2 * self.width).min(best.len());
                if keep > 0 && keep < best.len() {
                    best.select_nth_unstable_by(keep - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
                }
                candidates.extend(
                    best[..keep].iter().map(|&token| (l.hypothesis.score + scores[token], row, token)),
                );
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            let last_step = step + 1 == self.max_tokens;
            let mut next: Vec<Live> = Vec::with_capacity(self.width);
            let mut rows = Vec::with_capacity(self.width);
            for (log_prob, row, token) in candidates {
                if next.len() == self.width {
                    break;
                }
                let parent = &live[row];
                let mut child = parent.hypothesis.clone();
                child.score = log_prob;
                if token != EOS_ID {
                    child.ids.push(token);
                    child.choices.push(Choice {
                        log_prob: log_probs[row * vocab + token],
                        alternatives: offered[row].clone(),
                    });
                    child.attention.extend_from_slice(&weights[row * per_row..(row + 1) * per_row]);
                }
                if token == EOS_ID || last_step {
                    child.score = self.normalized(log_prob, child.ids.len() + 1);
                    finished.push(child);
                } else {
                    let mut track = parent.track;
                    rules.advance(&mut track, token);
                    next.push(Live { hypothesis: child, track });
                    rows.push(row);
                }
            }
            if finished.len() >= self.width || next.is_empty() {
                break;
            }
            // `next` is best-first: its head is the output so far. Stopped, it counts as finished.
            if !watch.step(&next[0].hypothesis.ids).await {
                let mut best = next.swap_remove(0).hypothesis;
                best.score = self.normalized(best.score, best.ids.len());
                finished.push(best);
                stopped = true;
                break;
            }
            state = state.select(&rows);
            live = next;
        }
        if finished.is_empty() {
            finished.push(Hypothesis { score: f32::NEG_INFINITY, ..Hypothesis::default() });
        }
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok((finished, stopped))
    }
}
