//! Multi-head attention whose keys and values are computed apart from the queries, so a
//! decoder can keep them: the prompt's once per generation, its own growing by one token a step.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::dropout::dropout;

/// Added to the scores of masked positions before the softmax.
pub(super) const MASKED: f32 = -1.0e4;

#[derive(Config, Debug)]
pub struct AttentionConfig {
    /// Width of queries, keys, values and output.
    pub d_model: usize,
    /// Heads, each `d_model / heads` wide; divides `d_model`.
    pub heads: usize,
    /// Dropout on the attention weights.
    #[config(default = 0.1)]
    pub dropout: f64,
}

impl AttentionConfig {
    pub fn init(&self, device: &Device) -> Attention {
        assert_eq!(self.d_model % self.heads, 0, "d_model must be a multiple of heads");
        let linear = || LinearConfig::new(self.d_model, self.d_model).init(device);
        Attention {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

#[derive(Module, Debug)]
pub struct Attention {
    pub(super) query: Linear,
    pub(super) key: Linear,
    pub(super) value: Linear,
    pub(super) output: Linear,
    dropout: Dropout,
    pub(super) heads: usize,
}

/// Projected keys and values of an attended sequence.
///
/// # Shapes
/// - keys, values: `[batch, heads, length, d_model / heads]`
#[derive(Debug, Clone)]
pub struct KeyValues {
    pub keys: Tensor<4>,
    pub values: Tensor<4>,
}

impl KeyValues {
    /// These keys and values followed by `next`'s, along the sequence.
    pub fn append(self, next: KeyValues) -> KeyValues {
        KeyValues {
            keys: Tensor::cat(vec![self.keys, next.keys], 2),
            values: Tensor::cat(vec![self.values, next.values], 2),
        }
    }

    /// The batch rows `rows` (beam search reorders its hypotheses with this).
    pub fn select(self, rows: Tensor<1, Int>) -> KeyValues {
        KeyValues { keys: self.keys.select(0, rows.clone()), values: self.values.select(0, rows) }
    }
}

/// A linear layer over every position as one 2-D matmul: `[batch, length, in]` → `[batch, length, out]`.
/// Burn's `Linear` on a 3-D input broadcasts its weight into a batched matmul, several times
/// slower on Flex.
pub fn per_position(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    let [batch, length, width] = x.dims();
    linear.forward(x.reshape([batch * length, width])).reshape([batch as i64, length as i64, -1])
}

impl Attention {
    /// `[batch, length, d_model]` → `[batch, heads, length, d_model / heads]`
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, length, d_model] = x.dims();
        x.reshape([batch, length, self.heads, d_model / self.heads]).swap_dims(1, 2)
    }

    /// Keys and values of `source` `[batch, length, d_model]`.
    pub fn keys_values(&self, source: Tensor<3>) -> KeyValues {
        KeyValues {
            keys: self.split_heads(per_position(&self.key, source.clone())),
            values: self.split_heads(per_position(&self.value, source)),
        }
    }

    /// Attends from `x` to `kv`. `mask` is true where a query must not look, broadcast over heads.
    /// Returns the output and the attention weights.
    ///
    /// # Shapes
    /// - x: `[batch, queries, d_model]`, mask: `[batch or 1, 1, queries or 1, keys]`
    /// - output: `[batch, queries, d_model]`, weights: `[batch, heads, queries, keys]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        kv: &KeyValues,
        mask: Option<Tensor<4, Bool>>,
    ) -> (Tensor<3>, Tensor<4>) {
        let [batch, queries, d_model] = x.dims();
        let d_head = d_model / self.heads;
        let query = self.split_heads(per_position(&self.query, x));
        let mut scores = query.matmul(kv.keys.clone().transpose()).div_scalar((d_head as f32).sqrt());
        if let Some(mask) = mask {
            scores = scores.mask_fill(mask, MASKED);
        }
        let weights = softmax(scores, 3);
        let context = dropout(&self.dropout, weights.clone()).matmul(kv.values.clone());
        let context = context.swap_dims(1, 2).reshape([batch, queries, d_model]);
        (per_position(&self.output, context), weights)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn floats<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn weights_are_a_scaled_softmax_that_ignores_masked_keys() {
        let device = Device::flex();
        let attention = AttentionConfig::new(8, 2).with_dropout(0.0).init(&device);
        let x = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 1.0), &device);
        let source = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &device);
        let kv = attention.keys_values(source);
        let mask =
            Tensor::<4, Bool>::from_data(TensorData::new(vec![false, false, true], [1, 1, 1, 3]), &device);
        let (output, weights) = attention.forward(x.clone(), &kv, Some(mask));
        assert_eq!(output.dims(), [1, 2, 8]);
        assert_eq!(weights.dims(), [1, 2, 2, 3]);
        // Per head and query: weights over the keys sum to 1; the masked third key gets none.
        for row in floats(weights.clone()).chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5 && row[2] < 1e-6, "{row:?}");
        }
        // softmax(q·kᵀ / √d_head) over the unmasked keys, d_head = 4.
        let query = attention.split_heads(per_position(&attention.query, x));
        let scores = query.matmul(kv.keys.clone().slice([0..1, 0..2, 0..2, 0..4]).transpose());
        let expected = floats(softmax(scores.div_scalar(2.0), 3));
        let got = floats(weights.slice([0..1, 0..2, 0..2, 0..2]));
        for (e, g) in expected.iter().zip(&got) {
            assert!((e - g).abs() < 1e-5, "expected {expected:?}, got {got:?}");
        }
    }
}
