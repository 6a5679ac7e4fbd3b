//! Moving trained weights between models: copying them into a new model (fine-tuning from a
//! pretrained run) and averaging the checkpoints of one run.

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Bytes, DType};

use super::{Seq2Seq, Seq2SeqConfig};
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
    /// Every weight of a model with fewer layers but the same sizes and vocabularies, layer `i`
    /// into layer `i`; the layers the source lacks (on top of each stack) start as identities:
    /// the output projections of their attention and feed-forward blocks are zero, so the deeper
    /// model computes what the source did until training moves them (growing a trained model
    /// instead of training a larger one from scratch).
    Grow,
}

impl Transfer {
    /// How a model shaped as `from` starts a run shaped as `to`: only what a code language
    /// model learned (`decoder_only`), grown when `to` has more layers on either side, else all.
    pub fn between(from: &Seq2SeqConfig, to: &Seq2SeqConfig, decoder_only: bool) -> Transfer {
        let deeper = from.encoder_layers < to.encoder_layers || from.decoder_layers < to.decoder_layers;
        match (decoder_only, deeper) {
            (true, _) => Transfer::Decoder,
            (false, true) => Transfer::Grow,
            (false, false) => Transfer::All,
        }
    }

    /// Tensor paths (Burn's dotted field names) this transfer copies.
    fn pattern(self) -> &'static str {
        match self {
            Transfer::All | Transfer::Grow => ".*",
            Transfer::Decoder => {
                r"^(code_embedding|code_positions|decoder_norm|output)\.|^decoder\.[0-9]+\.(self_attention|self_residual|feed_forward|feed_forward_residual)\."
            }
        }
    }
}

impl Seq2Seq {
    /// Overwrites this model's weights with `source`'s, those `transfer` names; returns how many
    /// tensors were copied. Both models must have the same layers and shapes (the same
    /// vocabularies and sizes): otherwise nothing changes and the error names the misfits.
    pub fn copy_weights(&mut self, source: &Seq2Seq, transfer: Transfer) -> Result<usize> {
        let failed = |e: String| Error::Weights(format!("cannot copy the weights: {e}"));
        let mut saved = BurnpackStore::from_bytes(None);
        source.save_into(&mut saved).map_err(|e| failed(e.to_string()))?;
        let bytes = saved.get_bytes().map_err(|e| failed(e.to_string()))?;
        let mut store =
            BurnpackStore::from_bytes(Some(bytes)).with_regex(transfer.pattern()).allow_partial(true);
        let before = self.clone();
        // Growing, the tensors of layers the source lacks are missing from it, and only those.
        let (encoder_layers, decoder_layers) = (source.encoder.len(), source.decoder.len());
        let grown =
            |path: &str| transfer == Transfer::Grow && is_new_layer(path, encoder_layers, decoder_layers);
        let outcome = match self.load_from(&mut store) {
            Ok(result)
                if result.errors.is_empty()
                    && result.missing.iter().all(|(path, _)| grown(path))
                    && result.unused.is_empty() =>
            {
                // A failure here must also leave the model as it was (below).
                match transfer {
                    Transfer::Grow => self.zero_new_outputs(encoder_layers, decoder_layers).map_err(failed),
                    _ => Ok(()),
                }
                .map(|()| result.applied.len())
            }
            Ok(result) => {
                let missing: Vec<&String> = result.missing.iter().map(|(path, _)| path).collect();
                Err(failed(format!(
                    "other layers: {:?} missing, {:?} unused, {:?}",
                    missing, result.unused, result.errors
                )))
            }
            Err(e) => Err(failed(e.to_string())),
        };
        if outcome.is_err() {
            // Burn applies every tensor that fits before it reports the misfits: undo them.
            *self = before;
        }
        outcome
    }

    /// Zeroes the output projections (weights and biases) of attention and feed-forward blocks in
    /// the layers from `encoder_layers` and `decoder_layers` on: each such layer then adds nothing
    /// to its residual stream.
    fn zero_new_outputs(
        &mut self,
        encoder_layers: usize,
        decoder_layers: usize,
    ) -> std::result::Result<(), String> {
        let output = |path: &str| path.contains("attention.output.") || path.contains("feed_forward.outer.");
        let zeros: Vec<PackTensor> = self
            .collect(None, None, false)
            .into_iter()
            .filter(|t| is_new_layer(&t.name, encoder_layers, decoder_layers) && output(&t.name))
            .map(|t| {
                let bytes = Bytes::from_elems(vec![0.0f32; t.byte_len() / 4]);
                PackTensor::new(t.name.clone(), t.dtype, t.shape.clone(), t.param_id, bytes)
            })
            .collect();
        let result = self.apply(zeros, None, None, false);
        match result.errors.is_empty() {
            true => Ok(()),
            false => Err(format!("{:?}", result.errors)),
        }
    }

    /// The element-wise mean of the weights of models of one configuration (checkpoint
    /// averaging: the mean of a run's last epochs often generalises better than any one of them).
    pub fn average(models: &[Seq2Seq]) -> Result<Seq2Seq> {
        let failed = |e: String| Error::Weights(format!("cannot average the weights: {e}"));
        let first = models.first().ok_or_else(|| failed("no models".into()))?;
        let all: Vec<Vec<PackTensor>> = models.iter().map(|m| m.collect(None, None, false)).collect();
        let mut mean = Vec::with_capacity(all[0].len());
        for (i, tensor) in all[0].iter().enumerate() {
            if tensor.dtype != DType::F32 {
                return Err(failed(format!("{} is {:?}, not f32", tensor.name, tensor.dtype)));
            }
            let mut sum = vec![0.0f32; tensor.byte_len() / 4];
            for tensors in &all {
                let other = tensors.get(i).filter(|t| t.name == tensor.name && t.shape == tensor.shape);
                let other = other.ok_or_else(|| failed(format!("the models differ at {}", tensor.name)))?;
                let bytes = other.to_bytes().map_err(|e| failed(e.to_string()))?;
                for (total, value) in sum.iter_mut().zip(bytes.chunks_exact(4)) {
                    *total += f32::from_le_bytes(value.try_into().expect("4 bytes"));
                }
            }
            sum.iter_mut().for_each(|x| *x /= models.len() as f32);
            let bytes = Bytes::from_elems(sum);
            mean.push(PackTensor::new(
                tensor.name.clone(),
                tensor.dtype,
                tensor.shape.clone(),
                tensor.param_id,
                bytes,
            ));
        }
        let mut model = first.clone();
        let result = model.apply(mean, None, None, false);
        if !result.errors.is_empty() {
            return Err(failed(format!("{:?}", result.errors)));
        }
        Ok(model)
    }
}

/// Whether a tensor path (`decoder.3.feed_forward.outer.weight`) is in one of the layers from
/// `encoder_layers` on in the encoder, or from `decoder_layers` on in the decoder.
fn is_new_layer(path: &str, encoder_layers: usize, decoder_layers: usize) -> bool {
    let mut parts = path.split('.');
    let first_new = match parts.next() {
        Some("encoder") => encoder_layers,
        Some("decoder") => decoder_layers,
        _ => return false,
    };
    parts.next().and_then(|layer| layer.parse::<usize>().ok()).is_some_and(|layer| layer >= first_new)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor, TensorData};

    use super::*;
    use crate::model::EncoderInput;

    fn config() -> Seq2SeqConfig {
        Seq2SeqConfig::new(20, 30).with_d_model(16).with_heads(2).with_d_ff(32).with_dropout(0.0)
    }

    #[test]
    fn a_run_with_more_layers_grows_its_source() {
        let deeper = config().with_decoder_layers(config().decoder_layers + 1);
        assert_eq!(Transfer::between(&config(), &config(), false), Transfer::All);
        assert_eq!(Transfer::between(&config(), &deeper, false), Transfer::Grow);
        assert_eq!(Transfer::between(&config(), &deeper, true), Transfer::Decoder);
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

    /// The model with every norm weight set to 0.5 (fresh norms are all 1 and 0 in any model,
    /// so a copy could not be told from none).
    fn with_distinct_norms(model: &Seq2Seq) -> Seq2Seq {
        let tensors: Vec<PackTensor> = model
            .collect(None, None, false)
            .into_iter()
            .filter(|t| t.name.contains("norm"))
            .map(|t| {
                let bytes = Bytes::from_elems(vec![0.5f32; t.byte_len() / 4]);
                PackTensor::new(t.name.clone(), t.dtype, t.shape.clone(), t.param_id, bytes)
            })
            .collect();
        let mut changed = model.clone();
        assert!(changed.apply(tensors, None, None, false).errors.is_empty());
        changed
    }

    #[test]
    fn decoder_transfer_copies_the_decoder_and_leaves_the_rest() {
        let device = Device::flex();
        let untied = config().with_tie_embeddings(false);
        let source = with_distinct_norms(&untied.init(&device));
        let fresh = untied.init(&device);
        let mut target = fresh.clone();
        let copied = target.copy_weights(&source, Transfer::Decoder).unwrap();
        let (from, before, after) = (weights(&source), weights(&fresh), weights(&target));
        let mut seen = 0;
        for (((path, s), (_, b)), (_, a)) in from.iter().zip(&before).zip(&after) {
            let decoder_side = path.starts_with("code_")
                || path.starts_with("decoder_norm")
                || path.starts_with("output.")
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

    /// A grown model starts where its source was: same logits, every source tensor copied into
    /// it; its new layers' other weights stay as initialised, so training can move them.
    #[test]
    fn a_grown_model_computes_what_its_source_did() {
        let device = Device::flex();
        let source = with_distinct_norms(&config().init(&device));
        let deeper = config().with_encoder_layers(3).with_decoder_layers(4);
        let fresh = deeper.init(&device);
        let mut grown = fresh.clone();
        let copied = grown.copy_weights(&source, Transfer::Grow).unwrap();
        assert_eq!(copied, weights(&source).len());
        let ints = |rows: &[&[i64]]| -> Tensor<2, Int> {
            let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
            Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), &device)
        };
        let input = EncoderInput::new(ints(&[&[5, 6, 7, 0], &[8, 9, 0, 0]]));
        let target = ints(&[&[1, 4, 5, 6], &[1, 9, 9, 8]]);
        let expected = source.forward(&input, target.clone());
        let got = grown.forward(&input, target);
        let gap = (expected - got).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-5, "logits differ by {gap}");
        let new_query =
            |m: &Seq2Seq| weights(m).into_iter().find(|(p, _)| p == "decoder.3.self_attention.query.weight");
        assert_eq!(
            new_query(&grown),
            new_query(&fresh),
            "a new layer's other weights are left as initialised"
        );
        // Not a grown model: the plain copy still wants every layer, and a deeper source is refused.
        assert!(fresh.clone().copy_weights(&source, Transfer::All).is_err());
        let mut shallow = config().init(&device);
        assert!(shallow.copy_weights(&grown, Transfer::Grow).is_err());
    }

    #[test]
    fn the_average_of_models_is_the_mean_of_each_weight() {
        let device = Device::flex();
        let models: Vec<Seq2Seq> = (0..3).map(|_| config().init(&device)).collect();
        let mean = Seq2Seq::average(&models).unwrap();
        let floats = |bytes: &[u8]| -> Vec<f32> {
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        };
        let each: Vec<Vec<(String, Vec<u8>)>> = models.iter().map(weights).collect();
        for (i, (path, averaged)) in weights(&mean).iter().enumerate() {
            let values: Vec<Vec<f32>> = each.iter().map(|w| floats(&w[i].1)).collect();
            for (j, got) in floats(averaged).iter().enumerate() {
                let expected = values.iter().map(|v| v[j]).sum::<f32>() / 3.0;
                assert!((got - expected).abs() < 1e-6, "{path}[{j}]: {got} vs {expected}");
            }
        }
        assert!(Seq2Seq::average(&[]).is_err());
        let other = Seq2SeqConfig::new(20, 31).with_d_model(16).with_heads(2).with_d_ff(32).init(&device);
        assert!(Seq2Seq::average(&[models[0].clone(), other]).is_err());
    }

    #[test]
    fn other_shapes_or_layers_are_refused_and_nothing_changes() {
        let device = Device::flex();
        let fresh = config().init(&device);
        for source in [
            Seq2SeqConfig::new(20, 31).with_d_model(16).with_heads(2).with_d_ff(32).init(&device),
            config().with_decoder_layers(4).init(&device),
            config().with_tie_embeddings(false).init(&device),
        ] {
            for transfer in [Transfer::All, Transfer::Decoder] {
                let mut target = fresh.clone();
                assert!(target.copy_weights(&source, transfer).is_err(), "{transfer:?}");
                assert_eq!(weights(&target), weights(&fresh));
            }
        }
    }
}
