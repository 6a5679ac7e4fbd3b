//! The bundle file: a round trip keeps every weight, and a truncated, bit-flipped, foreign,
//! newer or mismatched file is refused with a message that says what is wrong. So is a
//! well-formed file (its checksum recomputed) whose header or int8 blocks are out of bounds.

mod bundle_sections;

use std::collections::{BTreeMap, HashMap};

use bundle_sections::{Sections, reseal};
use burn::store::burn_pack::{Tensor as PackTensor, Writer};
use burn::store::{BurnpackStore, ModuleStore};
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn::tensor::{Bytes, DType, Device};
use nl2py::bundle::{self, Precision};
use nl2py::decode::Translator;
use nl2py::model::Seq2SeqConfig;
use nl2py::text::vocab::Vocab;
use serde_json::{Value, json};

fn translator(d_model: usize) -> Translator {
    let words: HashMap<String, usize> =
        ["sort", "list", "x", "(", ")"].iter().map(|w| (w.to_string(), 5)).collect();
    let vocab = Vocab::build(&words, 1);
    let config = Seq2SeqConfig::new(vocab.len(), vocab.len())
        .with_d_model(d_model)
        .with_heads(2)
        .with_d_ff(32)
        .with_encoder_layers(1)
        .with_decoder_layers(1);
    let device = Device::flex();
    Translator::new(config.init(&device), config, vocab.clone(), vocab, true, None, device).unwrap()
}

/// Asserts that `load` refuses `bytes` with a message containing `expected`.
#[track_caller]
fn assert_load_refused(bytes: &[u8], expected: &str) {
    let loaded = bundle::load(bytes, &Device::flex()).map(|_| ()).map_err(|e| e.to_string());
    assert!(loaded.as_ref().is_err_and(|m| m.contains(expected)), "load: {loaded:?}, not {expected:?}");
}

/// A bundle's header (as JSON) and its weights; the tests' bundles have no index.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let sections = Sections::of(bytes);
    (sections.header, sections.weights)
}

/// A format-2 bundle of these parts: header length, `weights_len` and checksum follow them.
fn join(header: Value, weights: &[u8]) -> Vec<u8> {
    Sections { header, weights: weights.to_vec(), index: Vec::new() }.sealed()
}

/// Asserts that both `inspect` and `load` refuse `bytes` with a message containing `expected`.
#[track_caller]
fn assert_refused(bytes: &[u8], expected: &str) {
    let inspected = bundle::inspect(bytes).map(|_| ()).map_err(|e| e.to_string());
    assert!(
        inspected.as_ref().is_err_and(|m| m.contains(expected)),
        "inspect: {inspected:?}, not {expected:?}"
    );
    assert_load_refused(bytes, expected);
}

/// A tiny valid bundle with `edit` applied to its header's model configuration.
fn with_config(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let (mut header, weights) =
        split(&bundle::export(&translator(16), Precision::F32, BTreeMap::new()).unwrap());
    edit(&mut header["config"]);
    join(header, &weights)
}

/// Sets each value in turn on one configuration field and expects it refused by name.
#[track_caller]
fn assert_field_refused(field: &str, values: &[Value]) {
    for value in values {
        let bytes = with_config(|config| config[field] = value.clone());
        assert_refused(&bytes, &format!("{field} = {value}"));
    }
}

#[test]
fn heads_must_divide_d_model() {
    // d_model is 16.
    assert_field_refused("heads", &[json!(0), json!(3), json!(32)]);
}

#[test]
fn d_model_is_bounded() {
    assert_field_refused("d_model", &[json!(0), json!(8192)]);
}

#[test]
fn d_ff_is_bounded() {
    assert_field_refused("d_ff", &[json!(0), json!(20_000)]);
}

#[test]
fn encoder_layers_are_bounded() {
    assert_field_refused("encoder_layers", &[json!(25), json!(1_000_000)]);
}

#[test]
fn decoder_layers_are_bounded() {
    assert_field_refused("decoder_layers", &[json!(0), json!(25)]);
}

#[test]
fn dropout_is_below_one() {
    assert_field_refused("dropout", &[json!(1.0), json!(7.5), json!(-0.5)]);
}

#[test]
fn max_prompt_len_is_bounded() {
    assert_field_refused("max_prompt_len", &[json!(0), json!(100_000)]);
}

#[test]
fn max_code_len_leaves_room_for_a_token() {
    assert_field_refused("max_code_len", &[json!(0), json!(1), json!(100_000)]);
}

#[test]
fn max_example_len_is_bounded() {
    assert_field_refused("max_example_len", &[json!(0), json!(100_000)]);
}

#[test]
fn vocabulary_sizes_are_bounded() {
    assert_field_refused("prompt_vocab", &[json!(3), json!(2_000_000)]);
    assert_field_refused("code_vocab", &[json!(0), json!(2_000_000)]);
}

#[test]
fn the_parameter_count_is_capped() {
    // Each field within its own bounds; together about 11 G parameters.
    let huge = [("d_model", 4096), ("d_ff", 16_384), ("encoder_layers", 24), ("decoder_layers", 24)];
    let bytes = with_config(|config| huge.iter().for_each(|&(field, value)| config[field] = json!(value)));
    assert_refused(&bytes, "parameters, more than the 250000000");
    let mut t = translator(16);
    t.config = t.config.with_d_model(4096).with_d_ff(16_384).with_encoder_layers(24).with_decoder_layers(24);
    let exported = bundle::export(&t, Precision::F32, BTreeMap::new()).map(|_| ());
    assert!(
        exported.is_err_and(|e| e.to_string().contains("parameters")),
        "export writes no bundle that load refuses"
    );
}

#[test]
fn metadata_is_bounded() {
    let (mut header, weights) =
        split(&bundle::export(&translator(16), Precision::F32, BTreeMap::new()).unwrap());
    header["metadata"] = json!({ "notes": "x".repeat(100_000) });
    assert_refused(&join(header, &weights), "metadata holds 100005 bytes");
    let metadata = BTreeMap::from([("notes".to_string(), "x".repeat(100_000))]);
    let exported = bundle::export(&translator(16), Precision::F32, metadata).map(|_| ());
    assert!(
        exported.is_err_and(|e| e.to_string().contains("metadata holds 100005 bytes")),
        "export writes no bundle that load refuses"
    );
}

#[test]
fn an_index_of_no_pairs_is_refused() {
    // `NL2PYIDX`, then LEB128: 2 neighbours, 16 example tokens, one source ("a", "b"), a word
    // table of "sort", no entries.
    let mut index = b"NL2PYIDX".to_vec();
    index.extend_from_slice(&[2, 16, 1, 1, b'a', 1, b'b', 1, 4, b's', b'o', b'r', b't', 0]);
    let mut bytes = with_config(|config| config["max_example_len"] = json!(16));
    bytes.truncate(bytes.len() - 32);
    bytes.extend_from_slice(&index);
    assert_refused(&reseal([bytes, vec![0; 32]].concat()), "the retrieval index holds no pairs");
}

/// A tiny int8 bundle with `edit` applied to its weights (wide enough that matrices are blocks).
/// The tests on it expect our checks' messages: Burn's decoder trusts the block layout and panics,
/// which burn-store turns into an error natively but which aborts the page.
fn with_int8_weights(edit: impl FnOnce(&mut BTreeMap<String, PackTensor>)) -> Vec<u8> {
    let (header, weights) =
        split(&bundle::export(&translator(32), Precision::Int8, BTreeMap::new()).unwrap());
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(weights)));
    let mut tensors = store.get_all_tensors().unwrap().clone();
    edit(&mut tensors);
    join(header, &Writer::new(tensors.into_values().collect()).into_bytes().unwrap())
}

const BLOCKS: &str = "encoder.0.attention.query.weight";
const NORM: &str = "encoder.0.attention_residual.norm.gamma";

fn replace(tensors: &mut BTreeMap<String, PackTensor>, name: &str, dtype: DType, bytes: Vec<u8>) {
    let old = &tensors[name];
    let new = PackTensor::new(
        name.to_string(),
        dtype,
        old.shape.clone(),
        old.param_id,
        Bytes::from_bytes_vec(bytes),
    );
    tensors.insert(name.to_string(), new);
}

fn int8_dtype(tensors: &BTreeMap<String, PackTensor>) -> DType {
    let dtype = tensors[BLOCKS].dtype;
    assert!(matches!(dtype, DType::QFloat(_)), "{BLOCKS} is stored as blocks: {dtype:?}");
    dtype
}

#[test]
fn int8_blocks_must_hold_their_scales() {
    // [32, 32]: 1024 values and 32 f16 scales; half the scales are cut off.
    let bytes = with_int8_weights(|tensors| {
        let dtype = int8_dtype(tensors);
        replace(tensors, BLOCKS, dtype, vec![1; 1024 + 32]);
    });
    assert_load_refused(&bytes, &format!("tensor {BLOCKS} holds 1056 bytes of int8 blocks"));
}

#[test]
fn int8_blocks_must_tile_a_matrix_row() {
    // A norm's gains, [32], as one block of 32 values and its f16 scale.
    let bytes = with_int8_weights(|tensors| {
        let dtype = int8_dtype(tensors);
        replace(tensors, NORM, dtype, vec![1; 32 + 2]);
    });
    assert_load_refused(&bytes, &format!("tensor {NORM} of shape [32] is stored as int8 blocks"));
}

#[test]
fn int8_blocks_of_another_scheme_are_refused() {
    // Blocks of 16 fit the same shape, in more bytes: 1024 values and 64 f16 scales.
    let scheme = QuantScheme::default()
        .with_value(QuantValue::Q8S)
        .with_store(QuantStore::Native)
        .per_block([16], ScaleDtype::F16);
    let bytes =
        with_int8_weights(|tensors| replace(tensors, BLOCKS, DType::QFloat(scheme), vec![1; 1024 + 128]));
    assert_load_refused(&bytes, &format!("tensor {BLOCKS} is quantized as"));
}

#[test]
fn weights_of_another_shape_are_refused_before_decoding() {
    // Well-formed blocks of a [64, 32] matrix where the model has [32, 32].
    let bytes = with_int8_weights(|tensors| {
        let old = &tensors[BLOCKS];
        let (dtype, param_id) = (int8_dtype(tensors), old.param_id);
        let bytes = Bytes::from_bytes_vec(vec![1; 2048 + 128]);
        tensors.insert(
            BLOCKS.to_string(),
            PackTensor::new(BLOCKS.to_string(), dtype, [64, 32], param_id, bytes),
        );
    });
    assert_load_refused(&bytes, &format!("tensor {BLOCKS} has shape [64, 32], but the model's is [32, 32]"));
}

#[test]
fn round_trip_keeps_the_model_and_metadata() {
    // Wide enough that the weights outweigh burnpack's per-tensor descriptors.
    let t = translator(64);
    let meta = BTreeMap::from([("command".to_string(), "nl2py train".to_string())]);
    let bytes = bundle::export(&t, Precision::F32, meta.clone()).unwrap();
    let info = bundle::inspect(&bytes).unwrap();
    let (loaded, loaded_info) = bundle::load_inspected(&bytes, &Device::flex()).unwrap();
    assert_eq!(loaded_info, info, "loading reads the header inspect reads");
    assert_eq!((info.config, info.precision, info.metadata), (t.config.clone(), Precision::F32, meta));
    let options = nl2py::decode::GenerateOptions { max_tokens: 8, ..Default::default() };
    let a = pollster::block_on(t.generate("sort list `y`", &options)).unwrap();
    let b = pollster::block_on(loaded.generate("sort list `y`", &options)).unwrap();
    assert_eq!(a.ids, b.ids);
    let half = bundle::export(&t, Precision::F16, BTreeMap::new()).unwrap();
    let (f32_weights, f16_weights) =
        (bundle::inspect(&bytes).unwrap().weights_bytes, bundle::inspect(&half).unwrap().weights_bytes);
    assert!(
        f16_weights < f32_weights * 6 / 10,
        "f16 halves the weights: {f16_weights} vs {f32_weights} bytes"
    );
    assert!(bundle::load(&half, &Device::flex()).is_ok());
    let int8 = bundle::export(&t, Precision::Int8, BTreeMap::new()).unwrap();
    let int8_weights = bundle::inspect(&int8).unwrap().weights_bytes;
    assert!(
        int8_weights < f16_weights * 6 / 10,
        "int8 halves them again: {int8_weights} vs {f16_weights} bytes"
    );
    assert_eq!(bundle::inspect(&int8).unwrap().precision, Precision::Int8);
    let loaded = bundle::load(&int8, &Device::flex()).unwrap();
    assert!(pollster::block_on(loaded.generate("sort list `y`", &options)).is_ok());
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_reason() {
    let bytes = bundle::export(&translator(16), Precision::F32, BTreeMap::new()).unwrap();
    assert_load_refused(&bytes[..bytes.len() / 2], "checksum mismatch");
    assert_load_refused(&bytes[..10], "truncated");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    assert_load_refused(&flipped, "checksum mismatch");
    assert_load_refused(b"<!DOCTYPE html><html>404</html>", "not an nl2py model bundle");
    let mut newer = bytes.clone();
    newer[8] = 99;
    assert_load_refused(&reseal(newer), "format version 99");

    // A header from one model with the weights of another (checksum intact).
    let (header, _) = split(&bytes);
    let (_, other) = split(&bundle::export(&translator(8), Precision::F32, BTreeMap::new()).unwrap());
    assert_load_refused(&join(header, &other), "weights do not fit the model: tensor");
}
