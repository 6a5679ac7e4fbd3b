//! What burn-train's Learner needs from the model: the loss for a batch (training) and, for
//! validation, the loss plus greedy generations to score with BLEU.

use burn::data::dataloader::batcher::Batcher;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::ExecutionError;
use burn::tensor::{Device, Int, Tensor};
use burn::train::metric::{Adaptor, LossInput};
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use crate::data::batch::{Batch, EncodedExample};
use crate::decode::greedy_batch;
use crate::model::Seq2Seq;
use crate::text::vocab::PAD_ID;

/// Collates pre-bucketed batches: the data loader hands over one bucket at a time.
#[derive(Debug, Clone, Default)]
pub struct BucketBatcher;

impl Batcher<Vec<EncodedExample>, Batch> for BucketBatcher {
    fn batch(&self, items: Vec<Vec<EncodedExample>>, device: &Device) -> Batch {
        Batch::new(items.into_iter().flatten().collect(), device)
    }
}

/// A step's result: the loss and, in validation, the generated ids with their examples.
#[derive(Debug, Clone)]
pub struct StepOutput {
    pub loss: Tensor<1>,
    /// Greedy outputs (validation only), one per example.
    pub generated: Vec<Vec<usize>>,
    pub examples: Vec<EncodedExample>,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        Ok(StepOutput { loss: self.loss.without_autodiff(), ..self })
    }
}

impl Adaptor<LossInput> for StepOutput {
    fn adapt(&self) -> LossInput {
        LossInput::new(self.loss.clone())
    }
}

/// Validation generations with the examples they answer, for generation metrics such as BLEU.
pub struct Generations {
    pub generated: Vec<Vec<usize>>,
    pub examples: Vec<EncodedExample>,
}

impl Adaptor<Generations> for StepOutput {
    fn adapt(&self) -> Generations {
        Generations { generated: self.generated.clone(), examples: self.examples.clone() }
    }
}

/// Settings of the training objective, stored beside the model so that steps can read them.
#[derive(Debug, Clone, Copy)]
pub struct Objective {
    pub label_smoothing: f32,
    /// Longest generation during validation.
    pub max_valid_tokens: usize,
}

/// Label-smoothed cross-entropy over the target positions, padding ignored.
pub fn loss(model: &Seq2Seq, batch: &Batch, label_smoothing: f32) -> Tensor<1> {
    let logits = model.forward(&batch.input, batch.code_input.clone());
    let [rows, length, vocab] = logits.dims();
    let targets: Tensor<1, Int> = batch.code_target.clone().reshape([rows * length]);
    let smoothing = (label_smoothing > 0.0).then_some(label_smoothing);
    let criterion = CrossEntropyLossConfig::new()
        .with_pad_tokens(Some(vec![PAD_ID]))
        .with_smoothing(smoothing)
        .init(&logits.device());
    criterion.forward(logits.reshape([rows * length, vocab]), targets)
}

/// The model with its training objective: what the Learner trains.
#[derive(burn::module::Module, Debug)]
pub struct Trainee {
    pub model: Seq2Seq,
    label_smoothing: f32,
    max_valid_tokens: usize,
}

impl Trainee {
    pub fn new(model: Seq2Seq, objective: Objective) -> Self {
        Self {
            model,
            label_smoothing: objective.label_smoothing,
            max_valid_tokens: objective.max_valid_tokens,
        }
    }
}

impl TrainStep for Trainee {
    type Input = Batch;
    type Output = StepOutput;

    fn step(&self, batch: Batch) -> TrainOutput<StepOutput> {
        let loss = loss(&self.model, &batch, self.label_smoothing);
        let grads = loss.backward();
        TrainOutput::new(self, grads, StepOutput { loss, generated: Vec::new(), examples: Vec::new() })
    }
}

impl InferenceStep for Trainee {
    type Input = Batch;
    type Output = StepOutput;

    fn step(&self, batch: Batch) -> StepOutput {
        let loss = loss(&self.model, &batch, self.label_smoothing);
        // Flex reads synchronously, so blocking on the async search is immediate.
        let generated = pollster::block_on(greedy_batch(&self.model, &batch.input, self.max_valid_tokens))
            .unwrap_or_else(|_| vec![Vec::new(); batch.examples.len()]);
        StepOutput { loss, generated, examples: batch.examples }
    }
}
