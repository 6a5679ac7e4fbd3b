//! Everything that defines a training run, with every default in one place: the model it trains
//! (`Seq2SeqConfig`), the data an epoch holds, the optimizer and schedule, validation and
//! stopping. Saved beside the run (`run.json`) so that a resumed run continues exactly.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::model::Seq2SeqConfig;

/// What a run learns from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Corpus {
    /// The train split's pairs (CoNaLa train, English–Python, Django, MBPP's non-test problems).
    #[default]
    Train,
    /// The pretrain split's pairs (API docs, mined): whole-model pretraining.
    Pretrain,
    /// Train and pretrain pairs together (each source repeated as `repeat` says).
    Mixed,
    /// The code of every train and pretrain pair, without prompts: a decoder-only language
    /// model of Python whose decoder then starts a seq2seq run (`Init::decoder_only`).
    Code,
    /// The train split's pairs turned around, code in and prompt words out: the reverse model
    /// that reranks a beam by how well each answer explains its prompt
    /// ([`crate::decode::Reranker`]). The model's prompt side is the code vocabulary.
    Reverse,
}

impl Corpus {
    pub const ALL: [Corpus; 5] =
        [Corpus::Train, Corpus::Pretrain, Corpus::Mixed, Corpus::Code, Corpus::Reverse];

    pub fn name(self) -> &'static str {
        match self {
            Corpus::Train => "train",
            Corpus::Pretrain => "pretrain",
            Corpus::Mixed => "mixed",
            Corpus::Code => "code",
            Corpus::Reverse => "reverse",
        }
    }
}

impl fmt::Display for Corpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Corpus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Corpus::ALL.into_iter().find(|c| c.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Corpus::ALL.iter().map(|c| c.name()).collect();
            format!("{text:?} is not a corpus ({})", names.join(", "))
        })
    }
}

/// Where a fresh run's weights come from instead of a random start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// A bundle or a run folder trained on the same prepared data.
    pub from: PathBuf,
    /// Copy only what a code language model learned: code embeddings, the decoder's
    /// self-attention and feed-forward blocks, the output; not the encoder or cross-attention.
    pub decoder_only: bool,
}

#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    /// The model trained.
    pub model: Seq2SeqConfig,
    /// What an epoch's pairs are.
    #[config(default = "Corpus::Train")]
    pub corpus: Corpus,
    /// Leave out training pairs with more code tokens than this (at most, and by default,
    /// `model.max_code_len − 1`: what fits). Without it, `Corpus::Code` cuts long code into
    /// windows.
    pub longest_code: Option<usize>,
    /// Start from another model's weights.
    pub init: Option<Init>,
    /// Pairs whose data file's name starts with the prefix are seen that many times an epoch
    /// (`("conala", 4)`); others once.
    #[config(default = "Vec::new()")]
    pub repeat: Vec<(String, usize)>,
    #[config(default = 30)]
    pub epochs: usize,
    /// Peak learning rate, reached after the warm-up, then decayed linearly to a thousandth of
    /// it at the end.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// Steps of linear warm-up from `lr / warmup_steps`.
    #[config(default = 300)]
    pub warmup_steps: usize,
    /// Padded target tokens per batch (batches group examples of similar length).
    #[config(default = 3000)]
    pub batch_tokens: usize,
    /// Most examples in a batch.
    #[config(default = 64)]
    pub max_batch: usize,
    /// Probability mass spread over the whole vocabulary in the cross-entropy target.
    #[config(default = 0.1)]
    pub label_smoothing: f32,
    /// AdamW's decoupled weight decay.
    #[config(default = 0.01)]
    pub weight_decay: f32,
    /// Largest L2 norm of each parameter's gradient.
    #[config(default = 1.0)]
    pub clip_norm: f32,
    /// Seeds the weights' initialisation and the batch order.
    #[config(default = 42)]
    pub seed: u64,
    /// Stop after this many epochs without a better dev score.
    #[config(default = 6)]
    pub patience: usize,
    /// Longest greedy generation when scoring dev BLEU.
    #[config(default = 160)]
    pub valid_max_tokens: usize,
}

impl TrainingConfig {
    /// How many times an epoch a pair from this data file is seen.
    pub fn repeats(&self, source: &str) -> usize {
        self.repeat.iter().find(|(prefix, _)| source.starts_with(prefix.as_str())).map_or(1, |r| r.1)
    }

    /// The most code tokens a training pair may have: what fits beside `<bos>`, or less.
    pub fn longest_code(&self) -> usize {
        let fits = self.model.max_code_len.saturating_sub(1);
        self.longest_code.unwrap_or(fits).min(fits)
    }

    /// A translator's dev score is its BLEU; a code language model's and a reverse model's,
    /// their loss.
    pub fn scores_bleu(&self) -> bool {
        !matches!(self.corpus, Corpus::Code | Corpus::Reverse)
    }

    /// Settings training cannot start with, said in words.
    pub fn check(&self) -> crate::Result<()> {
        let problem = if self.model.max_code_len < 2 {
            "max code length must leave room for <bos> and one token"
        } else if self.epochs == 0 {
            "epochs must be at least 1"
        } else if !(self.lr > 0.0 && self.lr <= 1.0) {
            "the learning rate must be in (0, 1]"
        } else if self.batch_tokens == 0 || self.max_batch == 0 {
            "batches must hold at least one token and one example"
        } else if !(0.0..1.0).contains(&self.label_smoothing) {
            "label smoothing must be in [0, 1)"
        } else {
            return Ok(());
        };
        Err(crate::Error::Training(problem.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_names_parse_back() {
        for corpus in Corpus::ALL {
            assert_eq!(corpus.name().parse::<Corpus>(), Ok(corpus));
        }
        assert!("books".parse::<Corpus>().unwrap_err().contains("train, pretrain, mixed, code, reverse"));
    }

    #[test]
    fn repeats_follow_the_first_matching_prefix() {
        let config = TrainingConfig::new(Seq2SeqConfig::new(10, 10))
            .with_repeat(vec![("conala".into(), 4), ("english_python".into(), 2)]);
        assert_eq!(config.repeats("conala-train.json"), 4);
        assert_eq!(config.repeats("english_python.txt"), 2);
        assert_eq!(config.repeats("django-all.anno"), 1);
    }

    #[test]
    fn training_pairs_fit_beside_bos() {
        let config = TrainingConfig::new(Seq2SeqConfig::new(10, 10).with_max_code_len(64));
        assert_eq!(config.longest_code(), 63);
        assert_eq!(config.clone().with_longest_code(Some(30)).longest_code(), 30);
        assert_eq!(config.with_longest_code(Some(300)).longest_code(), 63);
    }

    #[test]
    fn settings_training_cannot_use_are_refused() {
        let ok = TrainingConfig::new(Seq2SeqConfig::new(10, 10));
        assert!(ok.check().is_ok());
        for bad in [
            ok.clone().with_epochs(0),
            ok.clone().with_lr(f64::NAN),
            ok.clone().with_lr(0.0),
            ok.clone().with_lr(2.0),
            ok.clone().with_max_batch(0),
            ok.clone().with_label_smoothing(1.0),
            TrainingConfig::new(Seq2SeqConfig::new(10, 10).with_max_code_len(1)),
        ] {
            assert!(matches!(bad.check(), Err(crate::Error::Training(_))), "{bad:?}");
        }
    }
}
