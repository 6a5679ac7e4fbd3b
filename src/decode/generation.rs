//! What a generation gives back: the code, the tokens it is made of with their probabilities
//! and alternatives, the cross-attention of every step, and the retrieved examples the model read.

use serde::{Deserialize, Serialize};

use crate::text::{code, prompt};

/// A generated token's probability and the tokens the model rated highest at its place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenChoice {
    pub token: String,
    pub id: usize,
    pub probability: f32,
    /// Best first; the chosen token is among them when it was one of the most likely.
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub token: String,
    pub id: usize,
    pub probability: f32,
}

/// Cross-attention of one generation: for each generated token, each decoder layer and head,
/// the weights over the prompt tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossAttention {
    pub layers: usize,
    pub heads: usize,
    /// Prompt tokens attended to.
    pub source: usize,
    /// `[step][layer][head][source]`, flattened.
    pub weights: Vec<f32>,
}

impl CrossAttention {
    pub fn steps(&self) -> usize {
        self.weights.len() / (self.layers * self.heads * self.source).max(1)
    }

    /// Weights over the prompt of one step, layer and head.
    pub fn get(&self, step: usize, layer: usize, head: usize) -> &[f32] {
        let at = ((step * self.layers + layer) * self.heads + head) * self.source;
        &self.weights[at..at + self.source]
    }

    /// Mean weights of one step over the chosen layer (`None`: all layers) and head (`None`:
    /// all heads).
    pub fn mean(&self, step: usize, layer: Option<usize>, head: Option<usize>) -> Vec<f32> {
        let layers: Vec<usize> = layer.map_or_else(|| (0..self.layers).collect(), |l| vec![l]);
        let heads: Vec<usize> = head.map_or_else(|| (0..self.heads).collect(), |h| vec![h]);
        let parts = (layers.len() * heads.len()) as f32;
        let mut mean = vec![0.0; self.source];
        for &layer in &layers {
            for &head in &heads {
                for (m, w) in mean.iter_mut().zip(self.get(step, layer, head)) {
                    *m += w / parts;
                }
            }
        }
        mean
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Runnable Python: detokenized, the prompt's names and strings put back.
    pub code: String,
    /// The prompt as the model read it (slots in place of quoted spans).
    pub prompt_tokens: Vec<String>,
    /// What each slot token stands for.
    pub slots: prompt::Slots,
    /// The model's output tokens, one per attention step (slots not yet replaced).
    pub output_tokens: Vec<String>,
    pub ids: Vec<usize>,
    /// Per output token: its probability and the alternatives the model offered.
    #[serde(default)]
    pub tokens: Vec<TokenChoice>,
    /// Log-probability of the output (beam: divided by the length penalty, plus the reranker's
    /// weighted score when the translator has one).
    pub score: f32,
    /// The prompt was longer than the model reads and was cut.
    pub truncated: bool,
    /// No answer of the search parsed whole: this is the longest start of the best one that
    /// does, ending at a line's end (a program cut off by the token limit, mostly).
    #[serde(default)]
    pub cut_to_parse: bool,
    pub attention: Option<CrossAttention>,
    /// The retrieved pairs whose code the model read beside the prompt, nearest first.
    #[serde(default)]
    pub examples: Vec<RetrievedExample>,
    /// The answer is this example's code, as it is ([`GenerateOptions::copy_examples`](super::GenerateOptions::copy_examples)).
    #[serde(default)]
    pub copied_from: Option<usize>,
}

/// A training pair retrieved for a prompt, with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedExample {
    pub prompt: String,
    pub code: String,
    /// The data file it comes from, and that file's licence.
    pub source: String,
    pub licence: String,
    /// BM25 score.
    pub score: f32,
}

/// Python source from generated code tokens: the prompt's names and strings put back, detokenized.
pub fn code_from_tokens(tokens: &[String], slots: &prompt::Slots) -> String {
    code::detokenize(&slots.restore(tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_means_pick_layers_and_heads() {
        // 1 step, 2 layers, 2 heads, 2 source tokens: weights [l0h0, l0h1, l1h0, l1h1].
        let attention = CrossAttention {
            layers: 2,
            heads: 2,
            source: 2,
            weights: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 1.0, 0.0],
        };
        assert_eq!(attention.steps(), 1);
        assert_eq!(attention.mean(0, Some(1), Some(0)), [0.5, 0.5]);
        assert_eq!(attention.mean(0, Some(0), None), [0.5, 0.5]);
        assert_eq!(attention.mean(0, None, Some(0)), [0.75, 0.25]);
        assert_eq!(attention.mean(0, None, None), [0.625, 0.375]);
    }
}
