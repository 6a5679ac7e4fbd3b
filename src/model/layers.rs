//! Encoder and decoder layers: attention and a feed-forward block, each wrapped in a residual
//! connection with layer norm before (pre-norm) or after (post-norm, the original paper).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Bool, Device, Tensor};

use super::attention::{Attention, AttentionConfig, KeyValues, per_position};

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
    inner: Linear,
    outer: Linear,
    dropout: Dropout,
}

impl FeedForward {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        per_position(&self.outer, self.dropout.forward(relu(per_position(&self.inner, x))))
    }
}

/// A residual connection around one block, with its layer norm and dropout.
#[derive(Module, Debug)]
pub struct Residual {
    norm: LayerNorm,
    dropout: Dropout,
    pre_norm: bool,
}

impl Residual {
    fn forward(&self, x: Tensor<3>, block: impl FnOnce(Tensor<3>) -> Tensor<3>) -> Tensor<3> {
        if self.pre_norm {
            x.clone() + self.dropout.forward(block(self.norm.forward(x)))
        } else {
            self.norm.forward(x.clone() + self.dropout.forward(block(x)))
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
    self_attention: Attention,
    self_residual: Residual,
    cross_attention: Attention,
    cross_residual: Residual,
    feed_forward: FeedForward,
    feed_forward_residual: Residual,
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
