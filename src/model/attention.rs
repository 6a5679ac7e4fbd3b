//! Multi-head attention whose keys and values are computed apart from the queries, so a
//! decoder can keep them: the prompt's once per generation, its own growing by one token a step.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Int, Tensor};

/// Added to the scores of masked positions before the softmax.
const MASKED: f32 = -1.0e4;

#[derive(Config, Debug)]
pub struct AttentionConfig {
    pub d_model: usize,
    pub heads: usize,
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
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    dropout: Dropout,
    heads: usize,
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
        let context = self.dropout.forward(weights.clone()).matmul(kv.values.clone());
        let context = context.swap_dims(1, 2).reshape([batch, queries, d_model]);
        (per_position(&self.output, context), weights)
    }
}
