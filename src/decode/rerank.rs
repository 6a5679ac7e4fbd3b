//! Reranking a beam by how well each answer explains its prompt (Yin & Neubig 2019, "Reranking
//! for Neural Semantic Parsing"): a reverse model, trained on the same pairs turned around (code
//! in, prompt words out; `Corpus::Reverse`), scores log P(prompt | answer), which the forward
//! model's score cannot see: an answer that drops half of what was asked can still be likely.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{Hypothesis, read_floats};
use crate::data::batch::encoder_input;
use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::text::vocab::{BOS_ID, EOS_ID, UNK_ID};
use crate::{Error, Result};

/// The reverse model and how much its score counts.
#[derive(Debug, Clone)]
pub struct Reranker {
    /// Reads code ids (the forward model's code vocabulary), writes prompt ids (its prompt
    /// vocabulary).
    pub model: Seq2Seq,
    pub config: Seq2SeqConfig,
    /// An answer's score is the forward score plus `weight` × the mean log-probability per
    /// prompt token (and `<eos>`) under the reverse model; 0 leaves the beam's order.
    pub weight: f32,
}

impl Reranker {
    /// A reranker for a forward model with these vocabulary sizes; refuses a reverse model of
    /// other vocabularies and a weight that is not a number.
    pub fn new(model: Seq2Seq, config: Seq2SeqConfig, weight: f32, forward: &Seq2SeqConfig) -> Result<Self> {
        if config.prompt_vocab != forward.code_vocab || config.code_vocab != forward.prompt_vocab {
            return Err(Error::Search(format!(
                "the reverse model reads {} and writes {} words, but the model writes {} and reads {}",
                config.prompt_vocab, config.code_vocab, forward.code_vocab, forward.prompt_vocab
            )));
        }
        let mut reranker = Self { model, config, weight: 0.0 };
        reranker.set_weight(weight)?;
        Ok(reranker)
    }

    /// Changes how much the reverse score counts; refuses a weight that is not a number.
    pub fn set_weight(&mut self, weight: f32) -> Result<()> {
        if !weight.is_finite() {
            return Err(Error::Search(format!("the reranking weight must be a finite number, not {weight}")));
        }
        self.weight = weight;
        Ok(())
    }

    /// Mean log-probability per token of `prompt` (ids, then `<eos>`) given each answer's code.
    ///
    /// # Shapes
    /// encoder input `[answers, code]`; teacher-forced decoder `[answers, prompt + 1]`.
    pub async fn explains(
        &self,
        prompt: &[usize],
        answers: &[&[usize]],
        device: &Device,
    ) -> Result<Vec<f32>> {
        if answers.is_empty() {
            return Ok(Vec::new());
        }
        let codes: Vec<Vec<usize>> = answers
            .iter()
            .map(|ids| match ids.is_empty() {
                // An empty answer explains nothing; the encoder needs one token to attend to.
                true => vec![UNK_ID],
                false => ids[..ids.len().min(self.config.max_prompt_len)].to_vec(),
            })
            .collect();
        let prompt = &prompt[..prompt.len().min(self.config.max_code_len.saturating_sub(1))];
        let rows = answers.len();
        let length = prompt.len() + 1;
        let repeated = |row: Vec<usize>| -> Tensor<2, Int> {
            let data: Vec<i64> = (0..rows).flat_map(|_| row.iter().map(|&id| id as i64)).collect();
            Tensor::from_data(TensorData::new(data, [rows, length]), device)
        };
        let decoder_input = repeated([&[BOS_ID], prompt].concat());
        let target = repeated([prompt, &[EOS_ID]].concat());
        let logits = self.model.forward(&encoder_input(&codes, &[], device), decoder_input);
        let chosen = log_softmax(logits, 2).gather(2, target.unsqueeze_dim(2));
        let mean = chosen.reshape([rows, length]).mean_dim(1).reshape([rows]);
        read_floats(mean).await
    }

    /// Adds each answer's weighted reverse score to its forward score and sorts best first (a
    /// stable sort: ties keep the beam's order).
    pub(crate) async fn rerank(
        &self,
        prompt: &[usize],
        ranked: &mut [Hypothesis],
        device: &Device,
    ) -> Result<()> {
        if self.weight == 0.0 || ranked.len() < 2 {
            return Ok(());
        }
        let answers: Vec<&[usize]> = ranked.iter().map(|h| h.ids.as_slice()).collect();
        let explained = self.explains(prompt, &answers, device).await?;
        for (hypothesis, score) in ranked.iter_mut().zip(explained) {
            hypothesis.score += self.weight * score;
        }
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::log_softmax_rows;

    fn reverse_model(device: &Device) -> (Seq2Seq, Seq2SeqConfig) {
        let config = Seq2SeqConfig::new(9, 7)
            .with_d_model(16)
            .with_heads(2)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_d_ff(32)
            .with_dropout(0.0);
        (config.init(device), config)
    }

    #[test]
    fn the_score_is_the_mean_log_probability_of_the_prompt_step_by_step() {
        let device = Device::flex();
        let (model, config) = reverse_model(&device);
        let forward = Seq2SeqConfig::new(7, 9);
        let reranker = Reranker::new(model.clone(), config.clone(), 1.0, &forward).unwrap();
        let prompt = [4, 5, 6];
        let answers: [&[usize]; 2] = [&[4, 8], &[5]];
        let scores = pollster::block_on(reranker.explains(&prompt, &answers, &device)).unwrap();
        // The same number from one answer at a time, the prompt fed token by token.
        for (answer, score) in answers.iter().zip(&scores) {
            let input = encoder_input(&[answer.to_vec()], &[], &device);
            let mut state = model.start(model.encode(&input));
            let mut total = 0.0;
            for (last, next) in [BOS_ID, 4, 5, 6].into_iter().zip([4, 5, 6, EOS_ID]) {
                let step = model
                    .step(&mut state, Tensor::from_data(TensorData::new(vec![last as i64], [1, 1]), &device));
                let mut logits = step.logits.into_data().try_into_vec_as::<f32>().unwrap();
                log_softmax_rows(&mut logits, 7);
                total += logits[next];
            }
            assert!((score - total / 4.0).abs() < 1e-4, "{score} vs {}", total / 4.0);
        }
    }

    #[test]
    fn reranking_adds_the_weighted_score_and_sorts() {
        let device = Device::flex();
        let (model, config) = reverse_model(&device);
        let forward = Seq2SeqConfig::new(7, 9);
        let hypotheses = || {
            (0..3).map(|i| Hypothesis {
                ids: vec![3 + i],
                score: -(i as f32) * 1e-3,
                ..Hypothesis::default()
            })
        };
        let prompt = [4, 5];
        let reranker = Reranker::new(model, config, 100.0, &forward).unwrap();
        let mut ranked: Vec<Hypothesis> = hypotheses().collect();
        pollster::block_on(reranker.rerank(&prompt, &mut ranked, &device)).unwrap();
        let answers: Vec<Vec<usize>> = hypotheses().map(|h| h.ids).collect();
        let answers: Vec<&[usize]> = answers.iter().map(Vec::as_slice).collect();
        let explained = pollster::block_on(reranker.explains(&prompt, &answers, &device)).unwrap();
        let mut expected: Vec<(f32, usize)> =
            hypotheses().zip(&explained).map(|(h, e)| (h.score + 100.0 * e, h.ids[0])).collect();
        expected.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert_eq!(
            ranked.iter().map(|h| h.ids[0]).collect::<Vec<_>>(),
            expected.iter().map(|e| e.1).collect::<Vec<_>>()
        );
        assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn a_reverse_model_of_other_vocabularies_is_refused() {
        let device = Device::flex();
        let (model, config) = reverse_model(&device);
        let refused = Reranker::new(model.clone(), config.clone(), 1.0, &Seq2SeqConfig::new(9, 7));
        assert!(matches!(refused, Err(Error::Search(m)) if m.contains("reverse model")));
        assert!(Reranker::new(model, config, f32::NAN, &Seq2SeqConfig::new(7, 9)).is_err());
    }
}
