//! The decoder as a search drives it: one step for every live row, then keep some rows. Burn's
//! model runs on any device (WebGPU in a browser); on the CPU the same step runs on
//! [`CpuDecoder`], several times faster for one to a few rows.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{log_softmax_rows, read_floats};
use crate::Result;
use crate::model::{CpuDecoder, CpuState, DecoderState, Seq2Seq};

// One stepper lives per search, moved a few times: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Stepper<'a> {
    Burn { model: &'a Seq2Seq, state: DecoderState, device: &'a Device },
    Cpu { decoder: &'a CpuDecoder, state: CpuState },
}

impl Stepper<'_> {
    /// One step for every live row: log-probabilities `[rows × vocab]` and, when asked, the
    /// cross-attention `[rows][layer][head][source]`.
    pub async fn step(&mut self, last: &[usize], attention: bool) -> Result<(Vec<f32>, Vec<f32>)> {
        let (mut log_probs, weights, vocab) = match self {
            Stepper::Burn { model, state, device } => {
                let ids: Vec<i64> = last.iter().map(|&i| i as i64).collect();
                let last = Tensor::<2, Int>::from_data(TensorData::new(ids, [last.len(), 1]), *device);
                let step = model.step(state, last);
                let [_, vocab] = step.logits.dims();
                let logits = read_floats(step.logits).await?;
                let weights = if attention {
                    // [rows, heads, 1, source] per layer → [rows, layers·heads, 1, source]: one read.
                    read_floats(Tensor::cat(step.cross_attention, 1)).await?
                } else {
                    Vec::new()
                };
                (logits, weights, vocab)
            }
            Stepper::Cpu { decoder, state } => {
                let (logits, weights) = decoder.step(state, last, attention);
                (logits, weights, decoder.vocab())
            }
        };
        log_softmax_rows(&mut log_probs, vocab);
        Ok((log_probs, weights))
    }

    /// Keeps rows `rows`, in that order (a row may repeat).
    pub fn select(self, rows: &[usize]) -> Self {
        match self {
            Stepper::Burn { model, state, device } => {
                Stepper::Burn { model, state: state.select(rows), device }
            }
            Stepper::Cpu { decoder, mut state } => {
                state.select(rows);
                Stepper::Cpu { decoder, state }
            }
        }
    }
}
