//! The decoder's generation step on the CPU, outside Burn: the decoder's weights read out of a
//! [`Seq2Seq`] once into flat buffers, and one step over them with the vectorizable loops of
//! [`super::kernels`]. A step is a handful of matrix–vector products (one row per hypothesis);
//! Burn's CPU backend runs those without SIMD on wasm32 (its `gemm` keeps the simd128
//! microkernels for more than one row), so the page decodes several times faster this way.
//! Burn's model stays the reference: the encoder, training and WebGPU run on it, and this step
//! equals its [`Seq2Seq::step`] (tests below).

use std::fmt;
use std::sync::Arc;

use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use super::attention::{Attention, MASKED};
use super::kernels::{Dense, Norm, Split, Storage, add_scaled, dot, relu, softmax};
use super::layers::DecoderLayer;
use super::{DecoderState, Seq2Seq};
use crate::{Error, Result};

/// Burn's `LayerNormConfig` default, which every norm of the model uses.
const NORM_EPSILON: f32 = 1e-5;

/// One decoder layer's weights.
struct Layer {
    self_query: Dense,
    self_key: Dense,
    self_value: Dense,
    self_output: Dense,
    self_norm: Norm,
    /// The cross-attention's keys and values come with the state ([`CpuDecoder::start`]).
    cross_query: Dense,
    cross_output: Dense,
    cross_norm: Norm,
    inner: Dense,
    outer: Dense,
    feed_forward_norm: Norm,
}

/// The decoder of a [`Seq2Seq`] as flat `f32` buffers, for generation on the CPU.
pub struct CpuDecoder {
    layers: Vec<Layer>,
    /// Code embedding `[vocab, d_model]`: looked up for inputs and, when tied, the output
    /// projection (no bias).
    embedding: Dense,
    /// `[max_code_len, d_model]`.
    positions: Vec<f32>,
    final_norm: Option<Norm>,
    /// The output projection when embeddings are not tied.
    output: Option<Dense>,
    d_model: usize,
    heads: usize,
    pre_norm: bool,
}

impl fmt::Debug for CpuDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpuDecoder")
            .field("layers", &self.layers.len())
            .field("d_model", &self.d_model)
            .field("heads", &self.heads)
            .field("vocab", &self.embedding.outputs)
            .field("int8", &self.is_int8())
            .finish()
    }
}

/// A decoder row's view of the encoder output: its cross-attention keys and values per layer,
/// shared by the beam hypotheses that grew from it.
struct RowMemory {
    /// Per layer, `[heads, source, d_head]`.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    /// `[source]`, true at padding.
    padding: Vec<bool>,
}

/// One hypothesis being decoded.
#[derive(Clone)]
struct Row {
    memory: Arc<RowMemory>,
    /// Per layer, `[position, d_model]`: the self-attention keys and values so far.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

/// Buffers of a step, kept between steps so a generation allocates them once.
#[derive(Default)]
struct Scratch {
    /// `[rows, d_model]`: the residual stream.
    x: Vec<f32>,
    /// `[rows, d_model]`: a block's normed input; the post-norm result.
    normed: Vec<f32>,
    query: Vec<f32>,
    key: Vec<f32>,
    value: Vec<f32>,
    context: Vec<f32>,
    /// `[rows, d_model]`: a block's output.
    out: Vec<f32>,
    /// `[rows, d_ff]`.
    hidden: Vec<f32>,
    scores: Vec<f32>,
    /// The 8-bit products' integer activations.
    split: Split,
}

/// What [`CpuDecoder::step`] keeps between steps (the counterpart of [`DecoderState`]).
pub struct CpuState {
    rows: Vec<Row>,
    /// Target positions decoded so far.
    position: usize,
    /// Prompt (and example) positions in every row's memory.
    source: usize,
    scratch: Scratch,
}

impl CpuState {
    /// Keeps rows `rows`, in that order (beam search's reordering; a row may repeat).
    pub fn select(&mut self, rows: &[usize]) {
        if rows.iter().copied().eq(0..self.rows.len()) {
            return;
        }
        self.rows = rows.iter().map(|&r| self.rows[r].clone()).collect();
    }

    pub fn position(&self) -> usize {
        self.position
    }
}

fn floats<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor.into_data().try_into_vec::<f32>().map_err(|e| Error::Device(format!("{e:?}")))
}

fn dense(linear: &Linear, storage: Storage) -> Result<Dense> {
    let [inputs, outputs] = linear.weight.dims();
    let bias = linear.bias.as_ref().map(|b| floats(b.val())).transpose()?;
    Ok(Dense::from_linear(floats(linear.weight.val())?, bias, inputs, outputs, storage))
}

fn norm(norm: &LayerNorm) -> Result<Norm> {
    let gamma = floats(norm.gamma.val())?;
    let beta = match &norm.beta {
        Some(beta) => floats(beta.val())?,
        None => vec![0.0; gamma.len()],
    };
    Ok(Norm { gamma, beta, epsilon: NORM_EPSILON })
}

impl Layer {
    fn new(layer: &DecoderLayer, storage: Storage) -> Result<Self> {
        let Attention { query, key, value, output, .. } = &layer.self_attention;
        let dense = |linear| dense(linear, storage);
        Ok(Layer {
            self_query: dense(query)?,
            self_key: dense(key)?,
            self_value: dense(value)?,
            self_output: dense(output)?,
            self_norm: norm(&layer.self_residual.norm)?,
            cross_query: dense(&layer.cross_attention.query)?,
            cross_output: dense(&layer.cross_attention.output)?,
            cross_norm: norm(&layer.cross_residual.norm)?,
            inner: dense(&layer.feed_forward.inner)?,
            outer: dense(&layer.feed_forward.outer)?,
            feed_forward_norm: norm(&layer.feed_forward_residual.norm)?,
        })
    }
}

/// Where head `h`'s slice of position `j` starts in a key or value buffer: `h · head + j · position`.
#[derive(Clone, Copy)]
struct Strides {
    head: usize,
    position: usize,
}

impl CpuDecoder {
    /// Reads the decoder's weights out of `model` (a CPU read: `model` lives on Flex), stored
    /// as a step reads them fastest ([`Storage::FASTEST`]: an int8 bundle's blocks stay 8-bit).
    pub fn new(model: &Seq2Seq) -> Result<Self> {
        Self::with_storage(model, Storage::FASTEST)
    }

    /// [`CpuDecoder::new`], with 8-bit weights kept or not on any target.
    pub fn with_storage(model: &Seq2Seq, storage: Storage) -> Result<Self> {
        let [vocab, d_model] = model.code_embedding.weight.dims();
        let heads = model.decoder.first().map_or(1, |layer| layer.self_attention.heads);
        Ok(CpuDecoder {
            layers: model.decoder.iter().map(|layer| Layer::new(layer, storage)).collect::<Result<_>>()?,
            embedding: Dense::from_rows(floats(model.code_embedding.weight.val())?, d_model, vocab, storage),
            positions: floats(model.code_positions.weight.val())?,
            final_norm: model.decoder_norm.as_ref().map(norm).transpose()?,
            output: model.output.as_ref().map(|linear| dense(linear, storage)).transpose()?,
            d_model,
            heads,
            pre_norm: model.decoder.first().is_none_or(|layer| layer.self_residual.pre_norm),
        })
    }

    /// The state for a first step from Burn's: the encoder memory's cross-attention keys and
    /// values, read once.
    pub fn start(&self, state: &DecoderState) -> Result<CpuState> {
        if state.position != 0 {
            return Err(Error::Device("the CPU decoder starts from a state with no steps".into()));
        }
        let [batch, _, _, source] = state.memory_mask.dims();
        let padding: Vec<bool> = state
            .memory_mask
            .clone()
            .into_data()
            .try_into_vec::<bool>()
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        let per_row = self.d_model * source;
        let mut keys = Vec::with_capacity(self.layers.len());
        let mut values = Vec::with_capacity(self.layers.len());
        for kv in &state.memory {
            keys.push(floats(kv.keys.clone())?);
            values.push(floats(kv.values.clone())?);
        }
        let rows = (0..batch)
            .map(|b| {
                let row_of = |layers: &[Vec<f32>]| -> Vec<Vec<f32>> {
                    layers.iter().map(|l| l[b * per_row..(b + 1) * per_row].to_vec()).collect()
                };
                Row {
                    memory: Arc::new(RowMemory {
                        keys: row_of(&keys),
                        values: row_of(&values),
                        padding: padding[b * source..(b + 1) * source].to_vec(),
                    }),
                    keys: vec![Vec::new(); self.layers.len()],
                    values: vec![Vec::new(); self.layers.len()],
                }
            })
            .collect();
        Ok(CpuState { rows, position: 0, source, scratch: Scratch::default() })
    }

    /// Whether every matrix stayed 8-bit (a model loaded from an int8 bundle, kept so).
    pub fn is_int8(&self) -> bool {
        self.layers.iter().all(|l| {
            [
                &l.self_query,
                &l.self_key,
                &l.self_value,
                &l.self_output,
                &l.cross_query,
                &l.cross_output,
                &l.inner,
                &l.outer,
            ]
            .iter()
            .all(|dense| dense.is_int8())
        }) && self.output.as_ref().unwrap_or(&self.embedding).is_int8()
    }

    /// The output projection's width.
    pub fn vocab(&self) -> usize {
        self.output.as_ref().unwrap_or(&self.embedding).outputs
    }

    /// One generation step for every row: the next-token logits `[rows, vocab]` and, with
    /// `attention`, the cross-attention weights `[rows, layers, heads, source]` (empty otherwise),
    /// as [`Seq2Seq::step`] gives them.
    pub fn step(&self, state: &mut CpuState, last: &[usize], attention: bool) -> (Vec<f32>, Vec<f32>) {
        let d = self.d_model;
        let (heads, layers, source) = (self.heads, self.layers.len(), state.source);
        let position = state.position;
        assert_eq!(last.len(), state.rows.len(), "one last token per row");
        assert!((position + 1) * d <= self.positions.len(), "past the longest code the model reads");
        let Scratch { x, normed, query, key, value, context, out, hidden, scores, split } =
            &mut state.scratch;
        let rows = &mut state.rows;
        let scale = (d as f32).sqrt();
        let at_position = &self.positions[position * d..(position + 1) * d];
        x.clear();
        for &token in last {
            self.embedding.row(token, out);
            x.extend(out.iter().zip(at_position).map(|(e, p)| e * scale + p));
        }
        context.resize(x.len(), 0.0);
        let mut weights =
            if attention { vec![0.0; rows.len() * layers * heads * source] } else { Vec::new() };
        let self_strides = Strides { head: d / heads, position: d };
        let memory_strides = Strides { head: source * d / heads, position: d / heads };
        for (l, layer) in self.layers.iter().enumerate() {
            // Self-attention over this row's positions so far and the new one.
            let input = self.block_input(&layer.self_norm, x, normed);
            layer.self_query.forward(input, query, split);
            layer.self_key.forward(input, key, split);
            layer.self_value.forward(input, value, split);
            for (r, row) in rows.iter_mut().enumerate() {
                row.keys[l].extend_from_slice(&key[r * d..(r + 1) * d]);
                row.values[l].extend_from_slice(&value[r * d..(r + 1) * d]);
                let (keys, values) = (&row.keys[l], &row.values[l]);
                let at = r * d..(r + 1) * d;
                self.attend(
                    &query[at.clone()],
                    keys,
                    values,
                    self_strides,
                    None,
                    scores,
                    &mut context[at],
                    None,
                );
            }
            layer.self_output.forward(context, out, split);
            self.block_output(&layer.self_norm, x, out, normed);

            // Cross-attention over the encoder output.
            let input = self.block_input(&layer.cross_norm, x, normed);
            layer.cross_query.forward(input, query, split);
            for (r, row) in rows.iter().enumerate() {
                let memory = &row.memory;
                let at = r * d..(r + 1) * d;
                let kept = attention
                    .then(|| (r * layers + l) * heads * source..(r * layers + l + 1) * heads * source);
                self.attend(
                    &query[at.clone()],
                    &memory.keys[l],
                    &memory.values[l],
                    memory_strides,
                    Some(&memory.padding),
                    scores,
                    &mut context[at],
                    kept.map(|range| &mut weights[range]),
                );
            }
            layer.cross_output.forward(context, out, split);
            self.block_output(&layer.cross_norm, x, out, normed);

            let input = self.block_input(&layer.feed_forward_norm, x, normed);
            layer.inner.forward(input, hidden, split);
            relu(hidden);
            layer.outer.forward(hidden, out, split);
            self.block_output(&layer.feed_forward_norm, x, out, normed);
        }
        state.position += 1;
        let last_states = match &self.final_norm {
            Some(norm) => {
                norm.forward(x, normed);
                &normed[..]
            }
            None => &x[..],
        };
        let mut logits = Vec::new();
        self.output.as_ref().unwrap_or(&self.embedding).forward(last_states, &mut logits, split);
        (logits, weights)
    }

    /// A block's input: the residual stream, normed first in a pre-norm model.
    fn block_input<'a>(&self, norm: &Norm, x: &'a [f32], normed: &'a mut Vec<f32>) -> &'a [f32] {
        if self.pre_norm {
            norm.forward(x, normed);
            normed
        } else {
            x
        }
    }

    /// Adds a block's output to the residual stream (normed after, in a post-norm model).
    fn block_output(&self, norm: &Norm, x: &mut Vec<f32>, out: &[f32], normed: &mut Vec<f32>) {
        add_scaled(x, 1.0, out);
        if !self.pre_norm {
            norm.forward(x, normed);
            std::mem::swap(x, normed);
        }
    }

    /// Multi-head attention of one query (`[d_model]`) over the keys and values of
    /// `keys.len() / d_model` positions; `padding` marks positions not to attend. Writes the
    /// context (`[d_model]`) and, when given, the weights (`[heads, positions]`).
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        query: &[f32],
        keys: &[f32],
        values: &[f32],
        strides: Strides,
        padding: Option<&[bool]>,
        scores: &mut Vec<f32>,
        context: &mut [f32],
        mut weights: Option<&mut [f32]>,
    ) {
        let d_head = self.d_model / self.heads;
        let positions = keys.len() / self.d_model;
        let scale = (d_head as f32).sqrt();
        for h in 0..self.heads {
            let query = &query[h * d_head..(h + 1) * d_head];
            let at = |j: usize| {
                h * strides.head + j * strides.position..h * strides.head + j * strides.position + d_head
            };
            scores.clear();
            scores.extend((0..positions).map(|j| match padding {
                Some(padding) if padding[j] => MASKED,
                _ => dot(query, &keys[at(j)]) / scale,
            }));
            softmax(scores);
            let context = &mut context[h * d_head..(h + 1) * d_head];
            context.fill(0.0);
            for (j, &w) in scores.iter().enumerate() {
                add_scaled(context, w, &values[at(j)]);
            }
            if let Some(weights) = weights.as_deref_mut() {
                weights[h * positions..(h + 1) * positions].copy_from_slice(scores);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, TensorData};

    use super::*;
    use crate::model::{EncoderInput, Seq2SeqConfig};

    fn ints(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
        let data: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), rows[0].len()]), device)
    }

    fn max_difference(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Step by step, with rows reordered and repeated as a beam does, the CPU decoder gives
    /// Burn's logits and cross-attention weights: pre-norm and post-norm, tied and untied
    /// output, padding in the prompt, retrieved examples in the memory.
    #[test]
    fn steps_equal_burns() {
        let device = Device::flex();
        for (pre_norm, tie, examples) in [(true, true, false), (false, false, true), (true, false, true)] {
            let model = Seq2SeqConfig::new(20, 30)
                .with_d_model(32)
                .with_heads(4)
                .with_d_ff(48)
                .with_encoder_layers(1)
                .with_decoder_layers(2)
                .with_pre_norm(pre_norm)
                .with_tie_embeddings(tie)
                .with_max_example_len(examples.then_some(4))
                .with_dropout(0.0)
                .init(&device);
            let mut input = EncoderInput::new(ints(&[&[5, 6, 7, 0], &[8, 9, 0, 0]], &device));
            if examples {
                input = input.with_examples(ints(&[&[4, 2, 0], &[3, 0, 0]], &device));
            }
            let mut burn_state = model.start(model.encode(&input));
            let cpu = CpuDecoder::new(&model).unwrap();
            let mut cpu_state = cpu.start(&burn_state).unwrap();
            assert_eq!(cpu.vocab(), 30);
            let tokens = [[1, 1], [4, 9], [7, 7], [12, 3], [29, 0]];
            for (t, last) in tokens.iter().enumerate() {
                let step = model.step(&mut burn_state, ints(&[&[last[0]], &[last[1]]], &device));
                let expected: Vec<f32> = floats(step.logits).unwrap();
                let expected_weights = floats(Tensor::cat(step.cross_attention, 1)).unwrap();
                let ids = [last[0] as usize, last[1] as usize];
                let (logits, weights) = cpu.step(&mut cpu_state, &ids, true);
                let case = format!("pre_norm={pre_norm} tie={tie} examples={examples} step {t}");
                assert!(max_difference(&logits, &expected) < 1e-4, "{case}: logits differ");
                assert!(max_difference(&weights, &expected_weights) < 1e-5, "{case}: weights differ");
                // Reorder after the second step: row 1 twice.
                if t == 1 {
                    burn_state = burn_state.select(&[1, 1]);
                    cpu_state.select(&[1, 1]);
                }
            }
            assert_eq!(cpu_state.position(), tokens.len());
        }
    }

    #[test]
    fn a_state_that_has_stepped_is_refused() {
        let device = Device::flex();
        let model = Seq2SeqConfig::new(20, 30).with_d_model(16).with_heads(2).with_d_ff(16).init(&device);
        let mut state = model.start(model.encode(&EncoderInput::new(ints(&[&[5, 6]], &device))));
        model.step(&mut state, ints(&[&[1]], &device));
        assert!(CpuDecoder::new(&model).unwrap().start(&state).is_err());
    }
}
