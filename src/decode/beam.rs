//! Beam search: the `width` best partial outputs advance together as one batch.

use super::rules::{Choice, Rules, Track};
use super::stepper::Stepper;
use super::{Hypothesis, Watch};
use crate::Result;
use crate::text::vocab::{BOS_ID, EOS_ID};

pub(crate) struct BeamSearch {
    pub width: usize,
    pub length_penalty: f32,
    pub max_tokens: usize,
    /// The prompt's index in its batch (what [`Rules`] checks completeness against).
    pub prompt: usize,
}

/// A hypothesis still in the beam. What its steps chose stays in the search's [`History`].
struct Live {
    ids: Vec<usize>,
    /// The summed log-probability.
    score: f32,
    track: Track,
    /// Its last token's entry in the history (`None` before the first token).
    last: Option<usize>,
}

/// Every token a hypothesis of the search took, with what its step chose and (when kept) its
/// attention. A child shares its parent's entries where a copy of them would grow each step:
/// with attention kept, 10 KB a token for the shipped model, so copying every child's history
/// made the search quadratic in the output's length.
#[derive(Default)]
struct History {
    /// Per entry: the entry before it (`None`: the first token) and the step's choice.
    entries: Vec<(Option<usize>, Choice)>,
    /// `[entries, per_entry]`: each entry's attention weights (none when not kept).
    attention: Vec<f32>,
}

impl History {
    /// A token taken after `parent`: its entry.
    fn push(&mut self, parent: Option<usize>, choice: Choice, attention: &[f32]) -> usize {
        self.entries.push((parent, choice));
        self.attention.extend_from_slice(attention);
        self.entries.len() - 1
    }

    /// `live` as a hypothesis with `score`: its choices and attention from the first token on.
    fn hypothesis(&self, live: Live, score: f32) -> Hypothesis {
        let mut chain = Vec::with_capacity(live.ids.len());
        let mut at = live.last;
        while let Some(entry) = at {
            chain.push(entry);
            at = self.entries[entry].0;
        }
        chain.reverse();
        let per_entry = self.attention.len() / self.entries.len().max(1);
        Hypothesis {
            ids: live.ids,
            score,
            choices: chain.iter().map(|&e| self.entries[e].1.clone()).collect(),
            attention: chain
                .iter()
                .flat_map(|&e| &self.attention[e * per_entry..(e + 1) * per_entry])
                .copied()
                .collect(),
            copied_from: None,
        }
    }
}

impl BeamSearch {
    /// GNMT's length normalization.
    pub(super) fn normalized(&self, log_prob: f32, length: usize) -> f32 {
        log_prob / ((5.0 + length as f32) / 6.0).powf(self.length_penalty)
    }

    /// The finished hypotheses, best first (never empty), and whether the watch stopped the
    /// search.
    pub async fn run(
        &self,
        mut decoder: Stepper<'_>,
        attention: bool,
        rules: &Rules<'_>,
        watch: &mut impl Watch,
    ) -> Result<(Vec<Hypothesis>, bool)> {
        // A live hypothesis's `score` is its summed log-probability; a finished one's, normalized.
        let mut live = vec![Live { ids: Vec::new(), score: 0.0, track: Track::default(), last: None }];
        let mut history = History::default();
        let mut finished: Vec<Hypothesis> = Vec::new();
        let mut stopped = false;
        for step in 0..self.max_tokens {
            let last: Vec<usize> = live.iter().map(|l| l.ids.last().copied().unwrap_or(BOS_ID)).collect();
            let (mut log_probs, weights) = decoder.step(&last, attention).await?;
            let vocab = log_probs.len() / live.len();
            let per_row = weights.len() / live.len();
            // The best `2 · width` continuations over all rows: enough to fill the beam even if
            // up to `width` of them end here. Ruled-out tokens (−∞) are never candidates.
            let mut candidates: Vec<(f32, usize, usize)> = Vec::with_capacity(live.len() * 2 * self.width);
            let mut offered = Vec::with_capacity(live.len());
            for (row, l) in live.iter().enumerate() {
                let scores = &mut log_probs[row * vocab..(row + 1) * vocab];
                offered.push(rules.apply(&l.track, self.prompt, &l.ids, scores));
                let mut best: Vec<usize> = (0..vocab).filter(|&t| scores[t].is_finite()).collect();
                let keep = (2 * self.width).min(best.len());
                if keep > 0 && keep < best.len() {
                    best.select_nth_unstable_by(keep - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
                }
                candidates.extend(best[..keep].iter().map(|&token| (l.score + scores[token], row, token)));
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            let last_step = step + 1 == self.max_tokens;
            let mut next: Vec<Live> = Vec::with_capacity(self.width);
            let mut rows = Vec::with_capacity(self.width);
            // At the token limit the `width` best continuations finish in the beam's place, not
            // every candidate: a beam of 16 cut there would hand 512 answers to be parsed and
            // reranked (2.1 s natively for one prompt).
            let mut cut_off = 0;
            for (log_prob, row, token) in candidates {
                if next.len() + cut_off == self.width {
                    break;
                }
                let parent = &live[row];
                let mut child =
                    Live { ids: parent.ids.clone(), score: log_prob, track: parent.track, last: parent.last };
                if token != EOS_ID {
                    child.ids.push(token);
                    let choice = Choice {
                        log_prob: log_probs[row * vocab + token],
                        alternatives: offered[row].clone(),
                    };
                    child.last =
                        Some(history.push(parent.last, choice, &weights[row * per_row..(row + 1) * per_row]));
                }
                if token == EOS_ID || last_step {
                    let score = self.normalized(log_prob, child.ids.len() + 1);
                    finished.push(history.hypothesis(child, score));
                    cut_off += usize::from(token != EOS_ID);
                } else {
                    rules.advance(&mut child.track, token);
                    next.push(child);
                    rows.push(row);
                }
            }
            if finished.len() >= self.width || next.is_empty() {
                break;
            }
            // `next` is best-first: its head is the output so far. Stopped, it counts as finished.
            if !watch.step(&next[0].ids).await {
                let best = next.swap_remove(0);
                let score = self.normalized(best.score, best.ids.len());
                finished.push(history.hypothesis(best, score));
                stopped = true;
                break;
            }
            decoder = decoder.select(&rows);
            live = next;
        }
        if finished.is_empty() {
            finished.push(Hypothesis { score: f32::NEG_INFINITY, ..Hypothesis::default() });
        }
        finished.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok((finished, stopped))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor, TensorData};
    use pollster::block_on;

    use super::*;
    use crate::decode::greedy_batch;
    use crate::model::{DecoderState, EncoderInput, Seq2Seq, Seq2SeqConfig};

    /// A one-layer model whose code tokens, besides the specials [`Rules::free`] rules out
    /// (`<pad>`, `<bos>`, `<unk>`), are `<eos>` and 4 to `code_vocab − 1`.
    fn model(code_vocab: usize, device: &Device) -> Seq2Seq {
        Seq2SeqConfig::new(12, code_vocab)
            .with_d_model(16)
            .with_heads(2)
            .with_d_ff(32)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_dropout(0.0)
            .init(device)
    }

    fn prompts(rows: &[[i64; 3]], device: &Device) -> EncoderInput {
        let ids: Vec<i64> = rows.iter().flatten().copied().collect();
        EncoderInput::new(Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), 3]), device))
    }

    fn beam(model: &Seq2Seq, input: &EncoderInput, width: usize, max_tokens: usize) -> Vec<Hypothesis> {
        let search = BeamSearch { width, length_penalty: 2.0, max_tokens, prompt: 0 };
        let device = input.prompt.device();
        let decoder = Stepper::Burn { model, state: model.start(model.encode(input)), device: &device };
        let (ranked, stopped) = block_on(search.run(decoder, false, &Rules::free(), &mut ())).unwrap();
        assert!(!stopped, "nothing watches the search");
        ranked
    }

    /// Log-probabilities of the next token after `last`, advancing `state`.
    fn log_probs(model: &Seq2Seq, state: &mut DecoderState, last: usize) -> Vec<f32> {
        let device = Device::flex();
        let mut decoder = Stepper::Burn { model, state: state.clone(), device: &device };
        let (row, _) = block_on(decoder.step(&[last], false)).unwrap();
        if let Stepper::Burn { state: stepped, .. } = decoder {
            *state = stepped;
        }
        row
    }

    /// Every output of at most `max_tokens` tokens, ended by `<eos>` or cut there, with its
    /// summed log-probability.
    fn every_output(
        model: &Seq2Seq,
        code_vocab: usize,
        input: &EncoderInput,
        max_tokens: usize,
    ) -> Vec<(Vec<usize>, f32)> {
        let allowed: Vec<usize> = std::iter::once(EOS_ID).chain(4..code_vocab).collect();
        let mut open = vec![(Vec::new(), 0.0, model.start(model.encode(input)))];
        let mut outputs = Vec::new();
        while let Some((ids, log_prob, mut state)) = open.pop() {
            let last = ids.last().copied().unwrap_or(BOS_ID);
            let row = log_probs(model, &mut state, last);
            for &token in &allowed {
                let mut next: Vec<usize> = ids.clone();
                if token != EOS_ID {
                    next.push(token);
                }
                if token == EOS_ID || next.len() == max_tokens {
                    outputs.push((next, log_prob + row[token]));
                } else {
                    open.push((next, log_prob + row[token], state.clone()));
                }
            }
        }
        outputs
    }

    #[test]
    fn a_beam_as_wide_as_every_output_ranks_them_all_by_normalized_score() {
        let device = Device::flex();
        // <eos>, 4 and 5 over at most 3 tokens: 1 + 2 + 4 + 8 outputs.
        let (code_vocab, max_tokens, outputs) = (6, 3, 15);
        let model = model(code_vocab, &device);
        let input = prompts(&[[5, 6, 7]], &device);
        // GNMT at α = 2: log P / ((5 + |Y|) / 6)², |Y| counting the <eos>, even one cut off.
        let mut expected: Vec<(Vec<usize>, f32)> = every_output(&model, code_vocab, &input, max_tokens)
            .into_iter()
            .map(|(ids, log_prob)| {
                let length = (ids.len() + 1) as f32;
                (ids, log_prob / ((5.0 + length) / 6.0).powi(2))
            })
            .collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(expected.len(), outputs);
        let ranked = beam(&model, &input, outputs, max_tokens);
        assert_eq!(ranked.len(), outputs, "every output finishes");
        for (rank, (hypothesis, (ids, score))) in ranked.iter().zip(&expected).enumerate() {
            assert_eq!(&hypothesis.ids, ids, "rank {rank}");
            assert!((hypothesis.score - score).abs() < 1e-5, "rank {rank}: {} vs {score}", hypothesis.score);
        }
    }

    #[test]
    fn a_beam_keeps_the_width_most_likely_prefixes_and_finishes_as_many_at_the_limit() {
        let device = Device::flex();
        // <eos> and 4 to 7 over two steps: the first step keeps the best two tokens other than
        // <eos>; at the last, the best two of their continuations are cut off there.
        let (code_vocab, width) = (8, 2);
        let model = model(code_vocab, &device);
        let input = prompts(&[[5, 6, 7]], &device);
        let mut state = model.start(model.encode(&input));
        let first = log_probs(&model, &mut state, BOS_ID);
        let mut likeliest: Vec<usize> = (4..code_vocab).collect();
        likeliest.sort_by(|&a, &b| first[b].total_cmp(&first[a]));
        likeliest.truncate(width);
        // Every two-token output starting with a kept prefix, most likely first.
        let mut continued: Vec<(Vec<usize>, f32)> = every_output(&model, code_vocab, &input, 2)
            .into_iter()
            .filter(|(ids, _)| ids.len() == 2 && likeliest.contains(&ids[0]))
            .collect();
        continued.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut cut_off: Vec<Vec<usize>> =
            beam(&model, &input, width, 2).into_iter().map(|h| h.ids).filter(|ids| ids.len() == 2).collect();
        cut_off.sort();
        let mut expected: Vec<Vec<usize>> = continued.into_iter().take(width).map(|(ids, _)| ids).collect();
        expected.sort();
        assert_eq!(cut_off, expected, "the outputs the token limit finished");
    }

    #[test]
    fn a_beam_of_one_is_greedy() {
        let device = Device::flex();
        let (code_vocab, max_tokens) = (12, 8);
        let model = model(code_vocab, &device);
        let rows = [[5, 6, 7], [8, 9, 10], [4, 11, 5], [7, 7, 6], [10, 4, 9], [6, 5, 11]];
        let greedy = block_on(greedy_batch(&model, &prompts(&rows, &device), max_tokens)).unwrap();
        for (row, greedy_ids) in rows.iter().zip(greedy) {
            let beam_ids = &beam(&model, &prompts(&[*row], &device), 1, max_tokens)[0].ids;
            // At the last step every candidate finishes, and an output cut off there can outrank
            // one that ends a token earlier: greedy's <eos> may lose to the runner-up token.
            let cut_off_instead = greedy_ids.len() == max_tokens - 1
                && beam_ids.len() == max_tokens
                && beam_ids.starts_with(&greedy_ids);
            assert!(
                *beam_ids == greedy_ids || cut_off_instead,
                "prompt {row:?}: {beam_ids:?} vs {greedy_ids:?}"
            );
        }
    }

    /// Every finished hypothesis carries, for each of its tokens, the log-probability and the
    /// cross-attention that stepping the model along its own tokens gives: the history its
    /// children share is put together in order and from each one's own parents.
    #[test]
    fn each_hypothesis_keeps_the_choices_and_attention_of_its_own_steps() {
        let device = Device::flex();
        let (code_vocab, width, max_tokens) = (10, 3, 5);
        let model = model(code_vocab, &device);
        let input = prompts(&[[5, 6, 7]], &device);
        let start =
            || Stepper::Burn { model: &model, state: model.start(model.encode(&input)), device: &device };
        let search = BeamSearch { width, length_penalty: 1.0, max_tokens, prompt: 0 };
        let (ranked, _) = block_on(search.run(start(), true, &Rules::free(), &mut ())).unwrap();
        assert!(ranked.len() >= width, "the search ends with a full beam finished");
        for hypothesis in &ranked {
            assert_eq!(hypothesis.choices.len(), hypothesis.ids.len(), "{:?}", hypothesis.ids);
            let mut replay = start();
            let (mut last, mut per_token) = (BOS_ID, 0);
            for (t, &token) in hypothesis.ids.iter().enumerate() {
                let (log_probs, weights) = block_on(replay.step(&[last], true)).unwrap();
                per_token = weights.len();
                let kept = &hypothesis.attention[t * weights.len()..(t + 1) * weights.len()];
                let case = format!("{:?}, token {t}", hypothesis.ids);
                assert!((hypothesis.choices[t].log_prob - log_probs[token]).abs() < 1e-5, "{case}");
                assert!(kept.iter().zip(&weights).all(|(a, b)| (a - b).abs() < 1e-6), "{case}: attention");
                last = token;
            }
            assert_eq!(hypothesis.attention.len(), hypothesis.ids.len() * per_token);
        }
    }
}
