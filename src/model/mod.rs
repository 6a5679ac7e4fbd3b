//! The Transformer encoder–decoder ("Attention is all you need") that maps prompt tokens to code
//! tokens. One forward path serves training (all target positions at once, causal mask) and
//! generation (one position a step, reusing the keys and values of earlier steps).

mod attention;
mod cpu_decoder;
pub mod dropout;
pub(crate) mod kernels;
mod layers;
mod transfer;

pub use attention::KeyValues;
pub use cpu_decoder::{CpuDecoder, CpuState};
pub use kernels::Storage;
pub use transfer::Transfer;

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use layers::{DecoderLayer, EncoderLayer, LayerConfig, final_norm};

#[derive(Config, Debug, PartialEq)]
pub struct Seq2SeqConfig {
    /// Prompt vocabulary size.
    pub prompt_vocab: usize,
    /// Code vocabulary size.
    pub code_vocab: usize,
    /// Width of every token representation.
    #[config(default = 256)]
    pub d_model: usize,
    /// Attention heads per layer; divides `d_model`.
    #[config(default = 8)]
    pub heads: usize,
    /// Encoder layers (self-attention, feed-forward).
    #[config(default = 3)]
    pub encoder_layers: usize,
    /// Decoder layers (self-attention, cross-attention, feed-forward).
    #[config(default = 3)]
    pub decoder_layers: usize,
    /// Hidden width of the feed-forward blocks.
    #[config(default = 512)]
    pub d_ff: usize,
    /// Dropout in every layer while training.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Layer norm before each block (pre-norm) rather than after it (post-norm).
    #[config(default = true)]
    pub pre_norm: bool,
    /// Longest prompt in tokens (learned positions).
    #[config(default = 96)]
    pub max_prompt_len: usize,
    /// Longest code in tokens, `<bos>` included (learned positions).
    #[config(default = 256)]
    pub max_code_len: usize,
    /// The decoder's output projection reuses its input embedding.
    #[config(default = true)]
    pub tie_embeddings: bool,
    /// Longest retrieved-example input in tokens (learned positions of their own, which mark
    /// example tokens apart from the prompt's); `None`: the model reads the prompt alone.
    pub max_example_len: Option<usize>,
}

impl Seq2SeqConfig {
    pub fn init(&self, device: &Device) -> Seq2Seq {
        let layer = LayerConfig::new(self.d_model, self.heads, self.d_ff)
            .with_dropout(self.dropout)
            .with_pre_norm(self.pre_norm);
        // Token embeddings are scaled up by √d_model, so they start at std 1/√d_model (unit
        // scale after scaling, and small logits through the tied output); positions start small.
        let token_init = Initializer::Normal { mean: 0.0, std: (self.d_model as f64).powf(-0.5) };
        let position_init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let embedding = |n: usize, init: &Initializer| {
            EmbeddingConfig::new(n, self.d_model).with_initializer(init.clone()).init(device)
        };
        Seq2Seq {
            prompt_embedding: embedding(self.prompt_vocab, &token_init),
            prompt_positions: embedding(self.max_prompt_len, &position_init),
            example_positions: self.max_example_len.map(|n| embedding(n, &position_init)),
            encoder: (0..self.encoder_layers).map(|_| layer.init_encoder(device)).collect(),
            encoder_norm: final_norm(self.pre_norm, self.d_model, device),
            code_embedding: embedding(self.code_vocab, &token_init),
            code_positions: embedding(self.max_code_len, &position_init),
            decoder: (0..self.decoder_layers).map(|_| layer.init_decoder(device)).collect(),
            decoder_norm: final_norm(self.pre_norm, self.d_model, device),
            output: (!self.tie_embeddings)
                .then(|| LinearConfig::new(self.d_model, self.code_vocab).init(device)),
            d_model: self.d_model,
        }
    }
}

#[derive(Module, Debug)]
pub struct Seq2Seq {
    prompt_embedding: Embedding,
    prompt_positions: Embedding,
    /// Positions of retrieved-example tokens, which the encoder reads through the code embedding.
    example_positions: Option<Embedding>,
    encoder: Vec<EncoderLayer>,
    encoder_norm: Option<LayerNorm>,
    code_embedding: Embedding,
    code_positions: Embedding,
    decoder: Vec<DecoderLayer>,
    decoder_norm: Option<LayerNorm>,
    /// Output projection when embeddings are not tied.
    output: Option<Linear>,
    d_model: usize,
}

/// What the encoder reads: prompts and, for a retrieval model, the code of retrieved examples.
///
/// # Shapes
/// - prompt: `[batch, source]`; examples: `[batch, example]` code ids; both right-padded with `<pad>`
#[derive(Debug, Clone)]
pub struct EncoderInput {
    pub prompt: Tensor<2, Int>,
    pub examples: Option<Tensor<2, Int>>,
}

impl EncoderInput {
    pub fn new(prompt: Tensor<2, Int>) -> Self {
        Self { prompt, examples: None }
    }

    pub fn with_examples(self, examples: Tensor<2, Int>) -> Self {
        Self { examples: Some(examples), ..self }
    }
}

/// The encoder's output with its padding mask.
///
/// # Shapes
/// - states: `[batch, source (+ example), d_model]`; mask: `[batch, 1, 1, source (+ example)]`, true at padding
#[derive(Debug, Clone)]
pub struct Memory {
    pub states: Tensor<3>,
    pub mask: Tensor<4, Bool>,
}

/// What the decoder keeps between generation steps.
#[derive(Debug, Clone)]
pub struct DecoderState {
    /// Per layer: keys and values of the encoder output.
    memory: Vec<KeyValues>,
    /// `[batch, 1, 1, source]`, true at prompt padding.
    memory_mask: Tensor<4, Bool>,
    /// Per layer: keys and values of the target positions decoded so far.
    past: Vec<Option<KeyValues>>,
    /// Target positions decoded so far.
    position: usize,
}

impl DecoderState {
    pub fn position(&self) -> usize {
        self.position
    }

    /// Keeps batch rows `rows`, in that order (beam search's reordering).
    pub fn select(self, rows: &[usize]) -> DecoderState {
        let device = self.memory_mask.device();
        let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(rows.clone(), [rows.len()]), &device);
        DecoderState {
            memory: self.memory.into_iter().map(|kv| kv.select(index.clone())).collect(),
            memory_mask: self.memory_mask.select(0, index.clone()),
            past: self.past.into_iter().map(|kv| kv.map(|kv| kv.select(index.clone()))).collect(),
            position: self.position,
        }
    }
}

/// One generation step's result.
#[derive(Debug, Clone)]
pub struct Step {
    /// `[batch, code_vocab]` unnormalized scores of the next token.
    pub logits: Tensor<2>,
    /// Per decoder layer, `[batch, heads, 1, source]`: where the new token looked in the prompt.
    pub cross_attention: Vec<Tensor<4>>,
}

/// `[batch, 1, 1, length]` padding mask from token ids (true at `<pad>`).
fn pad_mask(tokens: &Tensor<2, Int>) -> Tensor<4, Bool> {
    let [batch, length] = tokens.dims();
    tokens.clone().equal_elem(crate::text::vocab::PAD_ID as i64).reshape([batch, 1, 1, length])
}

/// `[1, 1, new, past + new]`: true where position `past + i` would see a later position.
fn causal_mask(past: usize, new: usize, device: &Device) -> Tensor<4, Bool> {
    let total = past + new;
    let mask: Vec<bool> = (0..new).flat_map(|i| (0..total).map(move |j| j > past + i)).collect();
    Tensor::<4, Bool>::from_data(TensorData::new(mask, [1, 1, new, total]), device)
}

/// Position ids `[1, length]` starting at `start`.
fn positions(start: usize, length: usize, device: &Device) -> Tensor<2, Int> {
    let ids: Vec<i64> = (start..start + length).map(|p| p as i64).collect();
    Tensor::<2, Int>::from_data(TensorData::new(ids, [1, length]), device)
}

impl Seq2Seq {
    /// Encodes prompts and, when given and the model reads them, retrieved examples: one
    /// sequence, prompt first.
    pub fn encode(&self, input: &EncoderInput) -> Memory {
        let scale = (self.d_model as f32).sqrt();
        let embed = |tokens: &Tensor<2, Int>, table: &Embedding, positions_table: &Embedding| {
            let [batch, length] = tokens.dims();
            let positions = positions_table.forward(positions(0, length, &tokens.device()));
            table.forward(tokens.clone()).mul_scalar(scale)
                + positions.expand([batch as i64, length as i64, self.d_model as i64])
        };
        let mut x = embed(&input.prompt, &self.prompt_embedding, &self.prompt_positions);
        let mut mask = pad_mask(&input.prompt);
        if let (Some(examples), Some(table)) = (&input.examples, &self.example_positions) {
            let [_, length] = examples.dims();
            let max = table.weight.dims()[0];
            let examples = examples.clone().slice([0..examples.dims()[0], 0..length.min(max)]);
            x = Tensor::cat(vec![x, embed(&examples, &self.code_embedding, table)], 1);
            mask = Tensor::cat(vec![mask, pad_mask(&examples)], 3);
        }
        for layer in &self.encoder {
            x = layer.forward(x, mask.clone());
        }
        let states = match &self.encoder_norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        Memory { states, mask }
    }

    /// Whether the encoder reads retrieved examples.
    pub fn reads_examples(&self) -> bool {
        self.example_positions.is_some()
    }

    /// The decoder's state before its first step.
    pub fn start(&self, memory: Memory) -> DecoderState {
        DecoderState {
            memory: self
                .decoder
                .iter()
                .map(|layer| layer.memory_keys_values(memory.states.clone()))
                .collect(),
            memory_mask: memory.mask,
            past: vec![None; self.decoder.len()],
            position: 0,
        }
    }

    /// Runs the decoder over `tokens`, the positions after those `state` holds, and extends the
    /// state. Returns the logits of every new position and the cross-attention weights.
    ///
    /// # Shapes
    /// - tokens: `[batch, new]` → logits `[batch, new, code_vocab]`, weights per layer `[batch, heads, new, source]`
    pub fn decode(&self, state: &mut DecoderState, tokens: Tensor<2, Int>) -> (Tensor<3>, Vec<Tensor<4>>) {
        let [batch, new] = tokens.dims();
        let device = tokens.device();
        let scale = (self.d_model as f32).sqrt();
        let positions = self.code_positions.forward(positions(state.position, new, &device));
        let mut x = self.code_embedding.forward(tokens).mul_scalar(scale)
            + positions.expand([batch as i64, new as i64, self.d_model as i64]);
        // A single new position may see every earlier one: no mask needed.
        let causal = (new > 1).then(|| causal_mask(state.position, new, &device));
        let mut weights = Vec::with_capacity(self.decoder.len());
        for (k, layer) in self.decoder.iter().enumerate() {
            let (out, w) = layer.forward(
                x,
                &mut state.past[k],
                causal.clone(),
                &state.memory[k],
                state.memory_mask.clone(),
            );
            x = out;
            weights.push(w);
        }
        state.position += new;
        if let Some(norm) = &self.decoder_norm {
            x = norm.forward(x);
        }
        // One 2-D matmul over all positions: a batched matmul against the broadcast embedding
        // matrix is several times slower on Flex.
        let x = x.reshape([batch * new, self.d_model]);
        let logits = match &self.output {
            Some(output) => output.forward(x),
            None => x.matmul(self.code_embedding.weight.val().transpose()),
        };
        let logits = logits.reshape([batch as i64, new as i64, -1]);
        (logits, weights)
    }

    /// Teacher-forced forward pass for training: logits for every target position.
    ///
    /// # Shapes
    /// - code_input: `[batch, target]` (starts with `<bos>`) → `[batch, target, code_vocab]`
    pub fn forward(&self, input: &EncoderInput, code_input: Tensor<2, Int>) -> Tensor<3> {
        let mut state = self.start(self.encode(input));
        self.decode(&mut state, code_input).0
    }

    /// One generation step: the next-token logits for each row's last token.
    pub fn step(&self, state: &mut DecoderState, last: Tensor<2, Int>) -> Step {
        let (logits, cross_attention) = self.decode(state, last);
        let [batch, _, vocab] = logits.dims();
        Step { logits: logits.reshape([batch, vocab]), cross_attention }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Seq2SeqConfig {
        Seq2SeqConfig::new(20, 30)
            .with_d_model(16)
            .with_heads(2)
            .with_d_ff(32)
            .with_encoder_layers(2)
            .with_decoder_layers(2)
    }

    fn ints(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
        let data: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), rows[0].len()]), device)
    }

    /// Cached step-by-step decoding gives the logits of the full masked pass.
    #[test]
    fn incremental_decoding_matches_the_full_pass() {
        let device = Device::flex();
        for pre_norm in [true, false] {
            let model = tiny().with_pre_norm(pre_norm).with_dropout(0.0).init(&device);
            let prompt = ints(&[&[5, 6, 7, 0], &[8, 9, 0, 0]], &device);
            let target = ints(&[&[1, 4, 5, 6, 7], &[1, 9, 9, 8, 7]], &device);
            let input = EncoderInput::new(prompt);
            let full = model.forward(&input, target.clone());
            let mut state = model.start(model.encode(&input));
            for t in 0..5 {
                let step = model.step(&mut state, target.clone().slice([0..2, t..t + 1]));
                let expected = full.clone().slice([0..2, t..t + 1]).reshape([2, 30]);
                let diff = (step.logits - expected).abs().max().into_scalar::<f32>();
                assert!(diff < 1e-4, "pre_norm={pre_norm} step {t}: {diff}");
                assert_eq!(step.cross_attention[0].dims(), [2, 2, 1, 4]);
            }
        }
    }

    #[test]
    fn padding_in_the_prompt_is_not_attended() {
        let device = Device::flex();
        let model = tiny().with_dropout(0.0).init(&device);
        let prompt = ints(&[&[5, 6, 0, 0]], &device);
        let mut state = model.start(model.encode(&EncoderInput::new(prompt)));
        let step = model.step(&mut state, ints(&[&[1]], &device));
        let weights = step.cross_attention[1].clone().slice([0..1, 0..2, 0..1, 2..4]);
        assert!(weights.abs().max().into_scalar::<f32>() < 1e-6);
    }

    /// Examples extend the memory, their padding is masked, and a model without example
    /// positions ignores them.
    #[test]
    fn examples_join_the_memory() {
        let device = Device::flex();
        let prompt = ints(&[&[5, 6, 7], &[8, 9, 0]], &device);
        let examples = ints(&[&[4, 2, 0], &[0, 0, 0]], &device);
        let input = EncoderInput::new(prompt.clone()).with_examples(examples);
        let model = tiny().with_dropout(0.0).with_max_example_len(Some(8)).init(&device);
        let memory = model.encode(&input);
        assert_eq!(memory.states.dims(), [2, 6, 16]);
        let mask: Vec<bool> = memory.mask.clone().into_data().try_to_vec().unwrap();
        assert_eq!(mask, [false, false, false, false, false, true, false, false, true, true, true, true]);
        let mut state = model.start(memory);
        let step = model.step(&mut state, ints(&[&[1], &[1]], &device));
        assert_eq!(step.cross_attention[0].dims(), [2, 2, 1, 6]);
        let plain = tiny().with_dropout(0.0).init(&device);
        assert!(!plain.reads_examples());
        assert_eq!(plain.encode(&input).states.dims(), [2, 3, 16]);
    }

    #[test]
    fn beam_rows_can_be_reordered() {
        let device = Device::flex();
        let model = tiny().with_dropout(0.0).init(&device);
        let prompt = ints(&[&[5, 6, 7], &[8, 9, 10]], &device);
        let mut state = model.start(model.encode(&EncoderInput::new(prompt)));
        model.step(&mut state, ints(&[&[1], &[1]], &device));
        let mut swapped = state.clone().select(&[1, 0]);
        let a = model.step(&mut state, ints(&[&[4], &[4]], &device)).logits;
        let b = model.step(&mut swapped, ints(&[&[4], &[4]], &device)).logits;
        let diff = (a.slice([0..1, 0..30]) - b.slice([1..2, 0..30])).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5);
    }
}
