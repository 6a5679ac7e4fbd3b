//! Greedy decoding and sampling: one hypothesis, one token a step.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::rules::{Choice, Rules, Track};
use super::stepper::Stepper;
use super::{Hypothesis, Watch};
use crate::Result;
use crate::model::{EncoderInput, Seq2Seq};
use crate::text::vocab::{BOS_ID, EOS_ID};

/// Picks the next token from log-probabilities: the best one, or a draw.
pub(crate) struct Sampler {
    temperature: f32,
    top_k: usize,
    top_p: f32,
    rng: Option<ChaCha8Rng>,
}

impl Sampler {
    pub fn greedy() -> Self {
        Self { temperature: 1.0, top_k: 0, top_p: 1.0, rng: None }
    }

    pub fn new(temperature: f32, top_k: usize, top_p: f32, seed: u64) -> Self {
        if temperature <= 0.0 {
            return Self::greedy();
        }
        Self { temperature, top_k, top_p: top_p.clamp(0.0, 1.0), rng: Some(ChaCha8Rng::seed_from_u64(seed)) }
    }

    pub fn pick(&mut self, log_probs: &[f32]) -> usize {
        let Some(rng) = self.rng.as_mut() else {
            return argmax(log_probs);
        };
        let mut candidates: Vec<(usize, f32)> =
            log_probs.iter().enumerate().map(|(i, &lp)| (i, lp / self.temperature)).collect();
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
        if self.top_k > 0 {
            candidates.truncate(self.top_k);
        }
        let max = candidates[0].1;
        let mut probs: Vec<f32> = candidates.iter().map(|(_, s)| (s - max).exp()).collect();
        let total: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|p| *p /= total);
        // Nucleus: the smallest prefix whose mass reaches top_p (at least one token).
        let mut mass = 0.0;
        let keep = probs.iter().take_while(|&&p| {
            let before = mass;
            mass += p;
            before < self.top_p
        });
        let keep = keep.count().max(1);
        let kept_mass: f32 = probs[..keep].iter().sum();
        let mut draw = rng.random::<f32>() * kept_mass;
        for (k, p) in probs[..keep].iter().enumerate() {
            draw -= p;
            if draw <= 0.0 {
                return candidates[k].0;
            }
        }
        candidates[keep - 1].0
    }
}

pub(crate) fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

/// Greedy decoding or sampling for a batch of rows (prompts) at once; a row leaves the batch at
/// its `<eos>`. `watch` follows row 0. Returns one hypothesis per row, in order.
pub(crate) async fn run(
    mut decoder: Stepper<'_>,
    max_tokens: usize,
    attention: bool,
    samplers: Vec<Sampler>,
    rules: &Rules<'_>,
    watch: &mut impl Watch,
) -> Result<Vec<Hypothesis>> {
    struct Row {
        at: usize,
        sampler: Sampler,
        track: Track,
        hypothesis: Hypothesis,
    }
    let mut done: Vec<Option<Hypothesis>> = samplers.iter().map(|_| None).collect();
    let mut live: Vec<Row> = samplers
        .into_iter()
        .enumerate()
        .map(|(at, sampler)| Row { at, sampler, track: Track::default(), hypothesis: Hypothesis::default() })
        .collect();
    for _ in 0..max_tokens {
        let last: Vec<usize> =
            live.iter().map(|r| r.hypothesis.ids.last().copied().unwrap_or(BOS_ID)).collect();
        let (mut log_probs, weights) = decoder.step(&last, attention).await?;
        let vocab = log_probs.len() / live.len();
        let per_row = weights.len() / live.len();
        let mut kept = Vec::with_capacity(live.len());
        for (r, row) in live.iter_mut().enumerate() {
            let scores = &mut log_probs[r * vocab..(r + 1) * vocab];
            let alternatives = rules.apply(&row.track, row.at, &row.hypothesis.ids, scores);
            let next = row.sampler.pick(scores);
            let h = &mut row.hypothesis;
            h.score += scores[next];
            if next == EOS_ID {
                continue;
            }
            h.ids.push(next);
            h.choices.push(Choice { log_prob: scores[next], alternatives });
            h.attention.extend_from_slice(&weights[r * per_row..(r + 1) * per_row]);
            rules.advance(&mut row.track, next);
            kept.push(r);
        }
        let followed = live.first().filter(|r| r.at == 0).map(|r| r.hypothesis.ids.clone());
        // Rows that ended leave the batch.
        if kept.len() < live.len() {
            let mut rows: Vec<Option<Row>> = live.into_iter().map(Some).collect();
            for (r, row) in rows.iter_mut().enumerate() {
                if !kept.contains(&r) {
                    let row = row.take().expect("each row once");
                    done[row.at] = Some(row.hypothesis);
                }
            }
            live = rows.into_iter().flatten().collect();
            if live.is_empty() {
                break;
            }
            decoder = decoder.select(&kept);
        }
        if let Some(ids) = followed
            && !watch.step(&ids).await
        {
            break;
        }
    }
    for row in live {
        done[row.at] = Some(row.hypothesis);
    }
    Ok(done.into_iter().map(|h| h.expect("every row ends")).collect())
}

/// Greedy generation for a batch of encoder inputs at once, without the Python-aware rules
/// (training's validation): each row stops at `<eos>`.
pub async fn greedy_batch(
    model: &Seq2Seq,
    input: &EncoderInput,
    max_tokens: usize,
) -> Result<Vec<Vec<usize>>> {
    let [rows, _] = input.prompt.dims();
    let device = input.prompt.device();
    let stepper = Stepper::Burn { model, state: model.start(model.encode(input)), device: &device };
    let samplers = (0..rows).map(|_| Sampler::greedy()).collect();
    let found = run(stepper, max_tokens, false, samplers, &Rules::free(), &mut ()).await?;
    Ok(found.into_iter().map(|h| h.ids).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_best_and_sampling_respects_top_k() {
        let log_probs = [0.1f32.ln(), 0.6f32.ln(), 0.3f32.ln()];
        assert_eq!(Sampler::greedy().pick(&log_probs), 1);
        let mut top1 = Sampler::new(1.0, 1, 1.0, 7);
        assert!((0..50).all(|_| top1.pick(&log_probs) == 1));
        let mut top2 = Sampler::new(1.0, 2, 1.0, 7);
        let picks: Vec<usize> = (0..200).map(|_| top2.pick(&log_probs)).collect();
        assert!(picks.contains(&2) && !picks.contains(&0));
    }

    #[test]
    fn top_p_keeps_the_smallest_nucleus_and_seeds_repeat() {
        let log_probs = [0.05f32.ln(), 0.7f32.ln(), 0.25f32.ln()];
        let mut nucleus = Sampler::new(1.0, 0, 0.7, 1);
        assert!((0..100).all(|_| nucleus.pick(&log_probs) == 1));
        let draws = |seed| {
            let mut s = Sampler::new(2.0, 0, 1.0, seed);
            (0..20).map(|_| s.pick(&log_probs)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
    }
}
