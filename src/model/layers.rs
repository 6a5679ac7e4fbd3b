//! Encoder and decoder layers: attention and a feed-forward block, each wrapped in a residual
//! connection with layer norm before (pre-norm) or after (post-norm, the original paper).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};

use super::attention::{Attention, AttentionConfig, KeyValues, per_position};
use super::dropout::dropout;

#[derive(Config, Debug)]
pub struct LayerConfig {
    /// Width of every token representation.
    pub d_model: usize,
    /// Attention heads; divides `d_model`.
    pub heads: usize,
    /// Hidden width of the feed-forward block.
    pub d_ff: usize,
    /// Dropout after attention, after the feed-forward block, and on attention weights.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Layer norm before each block (stable with warm-up-free schedules) instead of after it.
    #[config(default = true)]
    pub pre_norm: bool,
}

#[derive(Module, Debug)]
pub struct FeedForward {
    pub(super) inner: Linear,
    pub(super) outer: Linear,
    dropout: Dropout,
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        per_position(&self.outer, dropout(&self.dropout, relu(per_position(&self.inner, x))))
    }
}

/// A residual connection around one block, with its layer norm and dropout.
#[derive(Module, Debug)]
pub struct Residual {
    pub(super) norm: LayerNorm,
    dropout: Dropout,
    pub(super) pre_norm: bool,
}

impl Residual {
    fn forward(&self, x: Tensor<3>, block: impl FnOnce(Tensor<3>) -> Tensor<3>) -> Tensor<3> {
        if self.pre_norm {
            x.clone() + dropout(&self.dropout, block(self.norm.forward(x)))
        } else {
            self.norm.forward(x.clone() + dropout(&self.dropout, block(x)))
        }
    }
}

impl LayerConfig {
    fn attention(&self, device: &Device) -> Attention {
        AttentionConfig::new(self.d_model, self.heads).with_dropout(self.dropout).init(device)
    }

    fn residual(&self, device: &Device) -> Residual {
        Residual {
            norm: LayerNormConfig::new(self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            pre_norm: self.pre_norm,
        }
    }

    fn feed_forward(&self, device: &Device) -> FeedForward {
        FeedForward {
            inner: LinearConfig::new(self.d_model, self.d_ff).init(device),
            outer: LinearConfig::new(self.d_ff, self.d_model).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }

    pub fn init_encoder(&self, device: &Device) -> EncoderLayer {
        EncoderLayer {
            attention: self.attention(device),
            attention_residual: self.residual(device),
            feed_forward: self.feed_forward(device),
            feed_forward_residual: self.residual(device),
        }
    }

    pub fn init_decoder(&self, device: &Device) -> DecoderLayer {
        DecoderLayer {
            self_attention: self.attention(device),
            self_residual: self.residual(device),
            cross_attention: self.attention(device),
            cross_residual: self.residual(device),
            feed_forward: self.feed_forward(device),
            feed_forward_residual: self.residual(device),
        }
    }
}

#[derive(Module, Debug)]
pub struct EncoderLayer {
    attention: Attention,
    attention_residual: Residual,
    feed_forward: FeedForward,
    feed_forward_residual: Residual,
}

impl EncoderLayer {
    /// # Shapes
    /// - x: `[batch, length, d_model]`, pad_mask: `[batch, 1, 1, length]`
    pub fn forward(&self, x: Tensor<3>, pad_mask: Tensor<4, Bool>) -> Tensor<3> {
        let x = self.attention_residual.forward(x, |h| {
            let kv = self.attention.keys_values(h.clone());
            self.attention.forward(h, &kv, Some(pad_mask)).0
        });
        self.feed_forward_residual.forward(x, |h| self.feed_forward.forward(h))
    }
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub(super) self_attention: Attention,
    pub(super) self_residual: Residual,
    pub(super) cross_attention: Attention,
    pub(super) cross_residual: Residual,
    pub(super) feed_forward: FeedForward,
    pub(super) feed_forward_residual: Residual,
}

impl DecoderLayer {
    /// Keys and values of the encoder output for this layer's cross-attention.
    pub fn memory_keys_values(&self, memory: Tensor<3>) -> KeyValues {
        self.cross_attention.keys_values(memory)
    }

    /// One pass over `x`, the target positions after those already in `past` (the self-attention
    /// cache, extended in place). Returns the output and the cross-attention weights.
    ///
    /// # Shapes
    /// - x: `[batch, new, d_model]`; causal_mask: `[1, 1, new, past + new]` (None when `new` is 1)
    /// - memory_mask: `[batch, 1, 1, source]`; weights: `[batch, heads, new, source]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        past: &mut Option<KeyValues>,
        causal_mask: Option<Tensor<4, Bool>>,
        memory: &KeyValues,
        memory_mask: Tensor<4, Bool>,
    ) -> (Tensor<3>, Tensor<4>) {
        let x = self.self_residual.forward(x, |h| {
            let new = self.self_attention.keys_values(h.clone());
            let kv = match past.take() {
                Some(before) => before.append(new),
                None => new,
            };
            *past = Some(kv.clone());
            self.self_attention.forward(h, &kv, causal_mask).0
        });
        let mut weights = None;
        let x = self.cross_residual.forward(x, |h| {
            let (out, w) = self.cross_attention.forward(h, memory, Some(memory_mask));
            weights = Some(w);
            out
        });
        let x = self.feed_forward_residual.forward(x, |h| self.feed_forward.forward(h));
        (x, weights.expect("the cross-attention block ran"))
    }
}

/// Final layer norm of a pre-norm stack (post-norm stacks end normed already).
pub fn final_norm(pre_norm: bool, d_model: usize, device: &Device) -> Option<LayerNorm> {
    pre_norm.then(|| LayerNormConfig::new(d_model).init(device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::causal_mask;
    use burn::tensor::{Distribution, TensorData};

    const D_MODEL: usize = 8;

    fn config(pre_norm: bool) -> LayerConfig {
        LayerConfig::new(D_MODEL, 2, 16).with_dropout(0.0).with_pre_norm(pre_norm)
    }

    fn normal(dims: [usize; 3], device: &Device) -> Tensor<3> {
        Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
    }

    fn max_difference<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// `[batch, 1, 1, length]` padding mask of rows holding `lengths` tokens: true from each length on.
    fn padding(lengths: &[usize], length: usize, device: &Device) -> Tensor<4, Bool> {
        let mask: Vec<bool> = lengths.iter().flat_map(|&n| (0..length).map(move |j| j >= n)).collect();
        Tensor::from_data(TensorData::new(mask, [lengths.len(), 1, 1, length]), device)
    }

    #[test]
    fn three_positions_at_once_equal_three_cached_steps() {
        let device = Device::flex();
        for pre_norm in [true, false] {
            let layer = config(pre_norm).init_decoder(&device);
            let x = normal([2, 3, D_MODEL], &device);
            let memory = layer.memory_keys_values(normal([2, 4, D_MODEL], &device));
            let memory_mask = padding(&[4, 2], 4, &device);
            let mut past = None;
            let (all, all_weights) = layer.forward(
                x.clone(),
                &mut past,
                Some(causal_mask(0, 3, &device)),
                &memory,
                memory_mask.clone(),
            );
            let mut cached = None;
            for t in 0..3 {
                let position = x.clone().slice([0..2, t..t + 1, 0..D_MODEL]);
                let (out, weights) = layer.forward(position, &mut cached, None, &memory, memory_mask.clone());
                let expected = all.clone().slice([0..2, t..t + 1, 0..D_MODEL]);
                let diff = max_difference(out, expected);
                assert!(diff < 1e-5, "pre_norm={pre_norm} position {t}: {diff}");
                let diff = max_difference(weights, all_weights.clone().slice([0..2, 0..2, t..t + 1, 0..4]));
                assert!(diff < 1e-5, "pre_norm={pre_norm} position {t} cross-attention: {diff}");
            }
            // The cache holds every position's keys: [batch, heads, 3, d_model / heads].
            let (past, cached) = (past.unwrap(), cached.unwrap());
            assert_eq!(cached.keys.dims(), [2, 2, 3, 4]);
            assert!(max_difference(past.keys, cached.keys) < 1e-5);
            assert!(max_difference(past.values, cached.values) < 1e-5);
        }
    }

    #[test]
    fn the_encoder_ignores_what_stands_at_padded_positions() {
        let device = Device::flex();
        for pre_norm in [true, false] {
            let layer = config(pre_norm).init_encoder(&device);
            // Row 0 holds 3 tokens, row 1 holds 2, of 4 positions.
            let mask = padding(&[3, 2], 4, &device);
            let x = normal([2, 4, D_MODEL], &device);
            let other = normal([2, 4, D_MODEL], &device);
            let repadded =
                x.clone().mask_where(mask.clone().reshape([2, 4, 1]).expand([2, 4, D_MODEL]), other);
            let a = layer.forward(x, mask.clone());
            let b = layer.forward(repadded, mask);
            for (row, length) in [(0, 3), (1, 2)] {
                let diff = max_difference(
                    a.clone().slice([row..row + 1, 0..length, 0..D_MODEL]),
                    b.clone().slice([row..row + 1, 0..length, 0..D_MODEL]),
                );
                assert!(diff < 1e-5, "pre_norm={pre_norm} row {row}: {diff}");
            }
        }
    }

    /// Asserts that each position of `x` has mean 0 and variance 1 over its features (a fresh
    /// layer norm's gain is 1 and its bias 0).
    #[track_caller]
    fn assert_normed(x: Tensor<3>) {
        let mean = x.clone().mean_dim(2);
        let variance = (x - mean.clone()).powi_scalar(2).mean_dim(2);
        let mean = mean.abs().max().into_scalar::<f32>();
        let variance = variance.sub_scalar(1.0).abs().max().into_scalar::<f32>();
        assert!(mean < 1e-4 && variance < 1e-3, "mean off by {mean}, variance off by {variance}");
    }

    #[test]
    fn post_norm_normalizes_the_sum_and_pre_norm_adds_the_block_of_the_normed_input() {
        let device = Device::flex();
        // Positions far from normed: mean 1, standard deviation 3.
        let x = normal([2, 3, D_MODEL], &device).mul_scalar(3.0).add_scalar(1.0);
        let block = |h: Tensor<3>| h.mul_scalar(2.0).add_scalar(0.5);
        assert_normed(config(false).residual(&device).forward(x.clone(), block));
        let mut seen = None;
        let out = config(true).residual(&device).forward(x.clone(), |h| {
            seen = Some(h.clone());
            block(h)
        });
        let seen = seen.expect("the block ran");
        assert_normed(seen.clone());
        assert!(max_difference(out, x + block(seen)) < 1e-5);
    }
}
