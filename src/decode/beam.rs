//! Beam search: the `width` best partial outputs advance together as one batch.

use super::{Hypothesis, Watch, step_rows};
use crate::Result;
use crate::model::{DecoderState, Seq2Seq};
use crate::text::vocab::{BOS_ID, EOS_ID};
use burn::tensor::Device;

pub(crate) struct BeamSearch {
    pub width: usize,
    pub length_penalty: f32,
    pub max_tokens: usize,
}

struct Live {
    ids: Vec<usize>,
    log_prob: f32,
    attention: Vec<f32>,
}

impl BeamSearch {
    /// GNMT's length normalization.
    fn normalized(&self, log_prob: f32, length: usize) -> f32 {
        log_prob / ((5.0 + length as f32) / 6.0).powf(self.length_penalty)
    }

    /// The finished hypotheses, best first (never empty).
    pub async fn run(
        &self,
        model: &Seq2Seq,
        mut state: DecoderState,
        device: &Device,
        attention: bool,
        watch: &mut impl Watch,
    ) -> Result<Vec<Hypothesis>> {
        let mut live = vec![Live { ids: Vec::new(), log_prob: 0.0, attention: Vec::new() }];
        let mut finished: Vec<Hypothesis> = Vec::new();
        for step in 0..self.max_tokens {
            let last: Vec<usize> = live.iter().map(|h| h.ids.last().copied().unwrap_or(BOS_ID)).collect();
            let (log_probs, weights) = step_rows(model, &mut state, &last, device, attention).await?;
            let vocab = log_probs.len() / live.len();
            let per_row = weights.len() / live.len();
            // The best `2 · width` continuations over all rows: enough to fill the beam even if
            // up to `width` of them end here.
            let mut candidates: Vec<(f32, usize, usize)> = Vec::with_capacity(live.len() * 2 * self.width);
            for (row, h) in live.iter().enumerate() {
                let scores = &log_probs[row * vocab..(row + 1) * vocab];
                let mut best: Vec<usize> = (0..vocab).collect();
                let keep = (2 * self.width).min(vocab);
                best.select_nth_unstable_by(keep - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
                candidates.extend(best[..keep].iter().map(|&token| (h.log_prob + scores[token], row, token)));
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            let last_step = step + 1 == self.max_tokens;
            let mut next = Vec::with_capacity(self.width);
            let mut rows = Vec::with_capacity(self.width);
            for (log_prob, row, token) in candidates {
                if next.len() == self.width {
                    break;
                }
                let parent = &live[row];
                let mut attention = parent.attention.clone();
                attention.extend_from_slice(&weights[row * per_row..(row + 1) * per_row]);
                if token == EOS_ID || last_step {
                    let mut ids = parent.ids.clone();
                    if token != EOS_ID {
                        ids.push(token);
                    }
                    let score = self.normalized(log_prob, ids.len() + 1);
                    // The end token's attention row is not part of the output.
                    attention.truncate(parent.attention.len() + if token == EOS_ID { 0 } else { per_row });
                    finished.push(Hypothesis { ids, score, attention });
                } else {
                    let mut ids = parent.ids.clone();
                    ids.push(token);
                    next.push(Live { ids, log_prob, attention });
                    rows.push(row);
                }
            }
            if finished.len() >= self.width || next.is_empty() {
                break;
            }
            // `next` is best-first: its head is the output so far. Stopped, it counts as finished.
            if !watch.step(&next[0].ids).await {
                let Live { ids, log_prob, attention } = next.swap_remove(0);
                let score = self.normalized(log_prob, ids.len());
                finished.push(Hypothesis { ids, score, attention });
                break;
            }
            state = state.select(&rows);
            live = next;
        }
        if finished.is_empty() {
            finished.push(Hypothesis { ids: Vec::new(), score: f32::NEG_INFINITY, attention: Vec::new() });
        }
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(finished)
    }
}
