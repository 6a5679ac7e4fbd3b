//! `nl2py train`'s recipe and model flags, turned into the core's `TrainingConfig` (whose
//! defaults are the flags' defaults).

use clap::builder::{PossibleValuesParser, TypedValueParser};
use nl2py::model::Seq2SeqConfig;
use nl2py::train::{Corpus, Init, TrainingConfig};

/// Every default, from the core.
fn defaults() -> TrainingConfig {
    TrainingConfig::new(Seq2SeqConfig::new(0, 0))
}

#[derive(clap::Args)]
pub struct TrainingArgs {
    /// train: the train split's pairs; pretrain: the pretrain split's (API docs, mined); mixed:
    /// both; code: the code of both alone, a decoder-only language model of Python; reverse: the
    /// train split turned around (code in, prompt out), the reranker's reverse model.
    #[arg(long, default_value_t = defaults().corpus, value_parser = PossibleValuesParser::new(Corpus::ALL.map(Corpus::name)).map(|name| name.parse::<Corpus>().expect("a listed name")))]
    corpus: Corpus,
    /// Leave out training pairs with more code tokens than this (at most, and by default,
    /// --max-code-len − 1: what fits). Without it, `--corpus code` cuts long code into windows.
    #[arg(long)]
    longest_code: Option<usize>,
    /// Repeat the pairs of data files whose name starts with PREFIX N times an epoch
    /// (`--repeat conala=4 --repeat english_python=2`).
    #[arg(long, value_name = "PREFIX=N", value_parser = parse_repeat)]
    repeat: Vec<(String, usize)>,
    #[arg(long, default_value_t = defaults().epochs)]
    epochs: usize,
    /// Peak learning rate, reached after the warm-up, then decayed linearly to a thousandth.
    #[arg(long, default_value_t = defaults().lr)]
    lr: f64,
    #[arg(long, default_value_t = defaults().warmup_steps)]
    warmup_steps: usize,
    /// Padded target tokens per batch (batches group examples of similar length).
    #[arg(long, default_value_t = defaults().batch_tokens)]
    batch_tokens: usize,
    #[arg(long, default_value_t = defaults().max_batch)]
    max_batch: usize,
    #[arg(long, default_value_t = defaults().label_smoothing)]
    label_smoothing: f32,
    #[arg(long, default_value_t = defaults().weight_decay)]
    weight_decay: f32,
    /// Gradient clipping: largest L2 norm of each parameter's gradient.
    #[arg(long, default_value_t = defaults().clip_norm)]
    clip_norm: f32,
    #[arg(long, default_value_t = defaults().seed)]
    seed: u64,
    /// Stop after this many epochs without a better dev BLEU.
    #[arg(long, default_value_t = defaults().patience)]
    patience: usize,
    /// Longest greedy generation when scoring dev BLEU.
    #[arg(long, default_value_t = defaults().valid_max_tokens)]
    valid_max_tokens: usize,
    // The model's shape: each flag's default is the --init-from model's where one is given, else
    // the core's (`Seq2SeqConfig`), so that a fine-tune keeps the shape of what it starts from.
    /// [default: 256, or the --init-from model's]
    #[arg(long)]
    d_model: Option<usize>,
    /// [default: 8, or the --init-from model's]
    #[arg(long)]
    heads: Option<usize>,
    /// [default: 3, or the --init-from model's]
    #[arg(long)]
    encoder_layers: Option<usize>,
    /// [default: 3, or the --init-from model's]
    #[arg(long)]
    decoder_layers: Option<usize>,
    /// [default: 512, or the --init-from model's]
    #[arg(long)]
    d_ff: Option<usize>,
    #[arg(long, default_value_t = defaults().model.dropout)]
    dropout: f64,
    /// Layer norm after each block (the original paper) instead of before it [default: before,
    /// or as the --init-from model has it].
    #[arg(long)]
    post_norm: bool,
    /// Separate output projection instead of reusing the code embedding [default: reused, or as
    /// the --init-from model has it].
    #[arg(long)]
    untied: bool,
    /// [default: 96, or the --init-from model's]
    #[arg(long)]
    max_prompt_len: Option<usize>,
    /// [default: 256, or the --init-from model's]
    #[arg(long)]
    max_code_len: Option<usize>,
}

fn parse_repeat(text: &str) -> Result<(String, usize), String> {
    let (prefix, times) = text.split_once('=').ok_or("expected PREFIX=N")?;
    let times = times.parse().map_err(|_| format!("{times:?} is not a count"))?;
    Ok((prefix.to_string(), times))
}

impl TrainingArgs {
    pub fn corpus(&self) -> Corpus {
        self.corpus
    }

    /// A new run's settings on a prepared folder with these vocabulary sizes; the model's shape
    /// is `like`'s (the --init-from model's) where a flag does not say otherwise.
    pub fn training(
        &self,
        prompt_vocab: usize,
        code_vocab: usize,
        init: Option<Init>,
        like: Option<&Seq2SeqConfig>,
    ) -> TrainingConfig {
        let base = like.cloned().unwrap_or_else(|| defaults().model);
        let model = Seq2SeqConfig::new(prompt_vocab, code_vocab)
            .with_d_model(self.d_model.unwrap_or(base.d_model))
            .with_heads(self.heads.unwrap_or(base.heads))
            .with_encoder_layers(self.encoder_layers.unwrap_or(base.encoder_layers))
            .with_decoder_layers(self.decoder_layers.unwrap_or(base.decoder_layers))
            .with_d_ff(self.d_ff.unwrap_or(base.d_ff))
            .with_dropout(self.dropout)
            .with_pre_norm(base.pre_norm && !self.post_norm)
            .with_tie_embeddings(base.tie_embeddings && !self.untied)
            .with_max_prompt_len(self.max_prompt_len.unwrap_or(base.max_prompt_len))
            .with_max_code_len(self.max_code_len.unwrap_or(base.max_code_len));
        TrainingConfig::new(model)
            .with_corpus(self.corpus)
            .with_longest_code(self.longest_code)
            .with_init(init)
            .with_repeat(self.repeat.clone())
            .with_epochs(self.epochs)
            .with_lr(self.lr)
            .with_warmup_steps(self.warmup_steps)
            .with_batch_tokens(self.batch_tokens)
            .with_max_batch(self.max_batch)
            .with_label_smoothing(self.label_smoothing)
            .with_weight_decay(self.weight_decay)
            .with_clip_norm(self.clip_norm)
            .with_seed(self.seed)
            .with_patience(self.patience)
            .with_valid_max_tokens(self.valid_max_tokens)
    }
}
