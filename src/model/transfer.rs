//! Copying trained weights into a new model: the start of fine-tuning from a pretrained run.

use burn::store::{BurnpackStore, ModuleSnapshot};

use super::Seq2Seq;
use crate::{Error, Result};

/// Which weights [`Seq2Seq::copy_weights`] copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// Every weight: whole-model pretraining, then fine-tuning.
    All,
    /// What a code language model learns: code embeddings and positions, the decoder's
    /// self-attention and feed-forward blocks with their norms, and the output. Not the encoder,
    /// and not cross-attention, which saw no prompt.
    Decoder,
}

impl Transfer {
    /// Tensor paths (Burn's dotted field names) this transfer copies.
    fn pattern(self) -> &'static str {
        match self {
            Transfer::All => ".*",
            Transfer::Decoder => {
                r"^(code_embedding|code_positions|decoder_norm|output)\.|^decoder\.[0-9]+\.(self_attention|self_residual|feed_forward|feed_forward_residual)\."
            }
        }
    }
}

impl Seq2Seq {
    /// Overwrites this model's weights with `source`'s, those `transfer` names; returns how many
    /// tensors were copied. Shapes must agree (same vocabularies and sizes), or nothing is kept.
    pub fn copy_weights(&mut self, source: &Seq2Seq, transfer: Transfer) -> Result<usize> {
        let failed = |e: String| Error::Bundle(format!("cannot copy the weights: {e}"));
        let mut saved = BurnpackStore::from_bytes(None);
        source.save_into(&mut saved).map_err(|e| failed(e.to_string()))?;
        let bytes = saved.get_bytes().map_err(|e| failed(e.to_string()))?;
        let mut store =
            BurnpackStore::from_bytes(Some(bytes)).with_regex(transfer.pattern()).allow_partial(true);
        let before = self.clone();
        let outcome = match self.load_from(&mut store) {
            Ok(result) if result.errors.is_empty() => Ok(result.applied.len()),
            Ok(result) => Err(failed(format!("{:?}", result.errors))),
            Err(e) => Err(failed(e.to_string())),
        };
        if outcome.is_err() {
            // Loading stops at the first misfit tensor: undo the ones applied before it.
            *self = before;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::model::Seq2SeqConfig;

    fn config() -> Seq2SeqConfig {
        Seq2SeqConfig::new(20, 30).with_d_model(16).with_heads(2).with_d_ff(32).with_dropout(0.0)
    }

    /// Every tensor of a model, by path.
    fn weights(model: &Seq2Seq) -> Vec<(String, Vec<u8>)> {
        let mut all: Vec<(String, Vec<u8>)> = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
            .collect();
        all.sort();
        all
    }

    #[test]
    fn decoder_transfer_copies_the_decoder_and_leaves_the_rest() {
        let device = Device::flex();
        let source = config().init(&device);
        let fresh = config().init(&device);
        let mut target = fresh.clone();
        let copied = target.copy_weights(&source, Transfer::Decoder).unwrap();
        let (from, before, after) = (weights(&source), weights(&fresh), weights(&target));
        let mut seen = 0;
        for (((path, s), (_, b)), (_, a)) in from.iter().zip(&before).zip(&after) {
            let decoder_side = path.starts_with("code_")
                || path.starts_with("decoder_norm")
                || (path.starts_with("decoder.") && !path.contains("cross_"));
            if decoder_side {
                assert_eq!(a, s, "{path} copied");
                seen += 1;
            } else {
                assert_eq!(a, b, "{path} left as it was");
            }
        }
        assert_eq!(copied, seen);
        assert!(copied > 0 && copied < from.len());

        let mut all = fresh.clone();
        assert_eq!(all.copy_weights(&source, Transfer::All).unwrap(), from.len());
        assert_eq!(weights(&all), from);
    }

    #[test]
    fn other_shapes_are_refused_and_nothing_changes() {
        let device = Device::flex();
        let source = Seq2SeqConfig::new(20, 31).with_d_model(16).with_heads(2).with_d_ff(32).init(&device);
        let fresh = config().init(&device);
        let mut target = fresh.clone();
        assert!(target.copy_weights(&source, Transfer::All).is_err());
        assert_eq!(weights(&target), weights(&fresh));
    }
}
