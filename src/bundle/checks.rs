//! What a bundle may ask for. The checksum only proves the file arrived as written, and anyone
//! can recompute it, so everything the header and the weights say is checked against bounds
//! before it is divided by, indexed with or allocated: a hostile or broken file is refused with
//! the field and its bound, never a panic or a request for gigabytes (which aborts the page).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::tensor::{DType, Shape, Tensor};

use super::{bundle_error, int8};
use crate::Result;
use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::text::vocab::SPECIALS;

const VOCAB: RangeInclusive<usize> = SPECIALS.len()..=1_000_000;
const D_MODEL: RangeInclusive<usize> = 1..=4096;
const D_FF: RangeInclusive<usize> = 1..=16_384;
/// An encoder of no layers still embeds and normalizes the prompt; the decoder's layers are
/// where it reads the prompt, and the cross-attention the page draws.
const ENCODER_LAYERS: RangeInclusive<usize> = 0..=24;
const DECODER_LAYERS: RangeInclusive<usize> = 1..=24;
const MAX_PROMPT_LEN: RangeInclusive<usize> = 1..=4096;
/// `<bos>` and at least one generated token.
const MAX_CODE_LEN: RangeInclusive<usize> = 2..=4096;
/// The retrieval index's own bound on its examples (`crate::retrieve`).
const MAX_EXAMPLE_LEN: RangeInclusive<usize> = 1..=4096;
/// 1 GB of f32 weights: a page's wasm32 memory is 4 GiB at most, and loading holds the file
/// beside the decoded weights.
const MAX_PARAMETERS: u64 = 250_000_000;
/// Bytes of metadata keys and values, which `nl2py export --inspect` prints.
const MAX_METADATA_BYTES: usize = 64 * 1024;

fn within(field: &str, value: usize, bounds: &RangeInclusive<usize>) -> Result<()> {
    if bounds.contains(&value) {
        return Ok(());
    }
    Err(bundle_error(format!(
        "header field {field} = {value} is out of bounds ({}..={})",
        bounds.start(),
        bounds.end()
    )))
}

/// Checks a bundle's model configuration before the model is built.
///
/// # Bounds
/// - `prompt_vocab`, `code_vocab`: 4 (the special tokens) to 1,000,000
/// - `d_model`: 1 to 4096; `heads`: at least 1 and a divisor of `d_model`; `d_ff`: 1 to 16,384
/// - `encoder_layers`: 0 to 24; `decoder_layers`: 1 to 24
/// - `dropout`: finite, in [0, 1)
/// - `max_prompt_len`: 1 to 4096; `max_code_len`: 2 to 4096; `max_example_len`: 1 to 4096
/// - all parameters together: at most 250 M
pub fn check_config(config: &Seq2SeqConfig) -> Result<()> {
    within("prompt_vocab", config.prompt_vocab, &VOCAB)?;
    within("code_vocab", config.code_vocab, &VOCAB)?;
    within("d_model", config.d_model, &D_MODEL)?;
    if config.heads == 0 || !config.d_model.is_multiple_of(config.heads) {
        return Err(bundle_error(format!(
            "header field heads = {} must be at least 1 and divide d_model = {}",
            config.heads, config.d_model
        )));
    }
    within("d_ff", config.d_ff, &D_FF)?;
    within("encoder_layers", config.encoder_layers, &ENCODER_LAYERS)?;
    within("decoder_layers", config.decoder_layers, &DECODER_LAYERS)?;
    if !(0.0..1.0).contains(&config.dropout) {
        return Err(bundle_error(format!(
            "header field dropout = {:?} is out of bounds (finite, in [0, 1))",
            config.dropout
        )));
    }
    within("max_prompt_len", config.max_prompt_len, &MAX_PROMPT_LEN)?;
    within("max_code_len", config.max_code_len, &MAX_CODE_LEN)?;
    if let Some(len) = config.max_example_len {
        within("max_example_len", len, &MAX_EXAMPLE_LEN)?;
    }
    let parameters = parameters(config);
    if parameters > MAX_PARAMETERS {
        return Err(bundle_error(format!(
            "the configuration asks for {parameters} parameters, more than the {MAX_PARAMETERS} a bundle may hold"
        )));
    }
    Ok(())
}

/// Parameters of the model `config` builds. In u64: on wasm32 a usize holds only 4 G, and one
/// in-bounds embedding (a million tokens of width 4096) is already more.
fn parameters(config: &Seq2SeqConfig) -> u64 {
    let [d, ff] = [config.d_model, config.d_ff].map(|n| n as u64);
    let linear = |inputs: u64, outputs: u64| inputs * outputs + outputs;
    let norm = 2 * d;
    let attention = 4 * linear(d, d);
    let feed_forward = linear(d, ff) + linear(ff, d);
    let encoder_layer = attention + feed_forward + 2 * norm;
    let decoder_layer = 2 * attention + feed_forward + 3 * norm;
    let positions = config.max_prompt_len + config.max_code_len + config.max_example_len.unwrap_or(0);
    let embeddings = (config.prompt_vocab + config.code_vocab + positions) as u64 * d;
    let final_norms = if config.pre_norm { 2 * norm } else { 0 };
    let output = if config.tie_embeddings { 0 } else { linear(d, config.code_vocab as u64) };
    embeddings
        + config.encoder_layers as u64 * encoder_layer
        + config.decoder_layers as u64 * decoder_layer
        + final_norms
        + output
}

/// Checks the free-form metadata's size.
pub fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<()> {
    let bytes: usize = metadata.iter().map(|(key, value)| key.len() + value.len()).sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(bundle_error(format!(
            "header field metadata holds {bytes} bytes, more than {MAX_METADATA_BYTES}"
        )));
    }
    Ok(())
}

/// The path and shape of each of a module's float parameters, read without initializing them
/// (a fresh model's parameters are lazy: nothing is allocated before the weights are loaded).
#[derive(Default)]
struct Shapes {
    path: Vec<String>,
    found: Vec<(String, Shape)>,
}

impl ModuleVisitor for Shapes {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.found.push((self.path.join("."), param.lazy_shape()));
    }
}

/// Checks that the weights hold every parameter of `model` with the model's shape, as floats or
/// as well-formed int8 blocks, before any of them is decoded: Burn compares shapes only after
/// decoding, and its int8 decoder trusts the block layout.
pub fn check_weights(model: &Seq2Seq, weights: &BTreeMap<String, PackTensor>) -> Result<()> {
    let mut shapes = Shapes::default();
    model.visit(&mut shapes);
    let misfit = |reason: String| bundle_error(format!("weights do not fit the model: {reason}"));
    for (name, shape) in shapes.found {
        let tensor = weights.get(&name).ok_or_else(|| misfit(format!("no tensor {name}")))?;
        if tensor.shape != shape {
            return Err(misfit(format!(
                "tensor {name} has shape {:?}, but the model's is {:?}",
                tensor.shape.as_slice(),
                shape.as_slice()
            )));
        }
        match tensor.dtype {
            DType::QFloat(_) => int8::check_blocks(tensor).map_err(misfit)?,
            dtype if dtype.is_float() => {}
            dtype => return Err(misfit(format!("tensor {name} holds {dtype:?}, not floats"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    /// The count that bounds allocation is the count the model allocates.
    #[test]
    fn parameters_are_counted_as_the_model_has_them() {
        let base = Seq2SeqConfig::new(40, 50).with_d_model(16).with_heads(2).with_d_ff(24);
        let configs = [
            base.clone(),
            base.clone().with_encoder_layers(0).with_pre_norm(false).with_tie_embeddings(false),
            base.with_max_example_len(Some(12)).with_decoder_layers(2),
        ];
        for config in configs {
            let model = config.init(&Device::flex());
            assert_eq!(parameters(&config), model.num_params() as u64, "{config:?}");
        }
    }

    #[test]
    fn dropout_must_be_a_number_below_one() {
        let config = Seq2SeqConfig::new(40, 50).with_d_model(16).with_heads(2);
        assert!(check_config(&config).is_ok());
        for dropout in [f64::NAN, f64::INFINITY, -0.1, 1.0] {
            let message = check_config(&config.clone().with_dropout(dropout)).unwrap_err().to_string();
            assert!(message.contains("dropout"), "{dropout}: {message}");
        }
    }
}
