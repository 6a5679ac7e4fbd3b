//! Corpus BLEU of the validation generations, exactly as `nl2py eval` scores them, reported once
//! per epoch so that checkpointing and early stopping can use it.

use std::sync::Arc;

use super::objective::Generations;
use crate::decode::code_from_tokens;
use crate::metrics::{corpus_bleu, tokenize_for_bleu_eval};
use crate::text::vocab::Vocab;
use burn::tensor::TensorReadError;
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};

#[derive(Clone)]
pub struct CorpusBleu {
    code_vocab: Arc<Vocab>,
    /// (hypothesis, reference) tokens of the epoch so far.
    pairs: Vec<(Vec<String>, Vec<String>)>,
    last: f64,
}

impl CorpusBleu {
    pub fn new(code_vocab: Arc<Vocab>) -> Self {
        Self { code_vocab, pairs: Vec::new(), last: 0.0 }
    }

    fn score(&self) -> f64 {
        corpus_bleu(&self.pairs).score
    }
}

impl Metric for CorpusBleu {
    type Input = Generations;

    fn name(&self) -> MetricName {
        Arc::new("BLEU".to_string())
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes { unit: None, higher_is_better: true }.into()
    }

    fn update(&mut self, item: &Generations, _: &MetricMetadata) -> Result<SerializedEntry, TensorReadError> {
        for (ids, example) in item.generated.iter().zip(&item.examples) {
            let code = code_from_tokens(&self.code_vocab.decode(ids), &example.slots);
            self.pairs.push((tokenize_for_bleu_eval(&code), tokenize_for_bleu_eval(&example.reference)));
        }
        self.last = self.score();
        Ok(SerializedEntry::new(format!("{:.2}", self.last), NumericEntry::Value(self.last).serialize()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        self.last = self.score();
        Ok(SerializedEntry::new(format!("{:.2}", self.last), NumericEntry::Final(self.last).serialize()))
    }

    fn clear(&mut self) {
        self.pairs.clear();
        self.last = 0.0;
    }
}

impl Numeric for CorpusBleu {
    fn value(&self) -> Option<NumericEntry> {
        Some(NumericEntry::Value(self.last))
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(NumericEntry::Value(self.last))
    }

    fn final_value(&self) -> NumericEntry {
        NumericEntry::Final(self.last)
    }
}
