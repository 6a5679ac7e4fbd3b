//! The bundle file: a round trip keeps every weight, and a truncated, bit-flipped, foreign,
//! newer or mismatched file is refused with a message that says what is wrong.

use std::collections::{BTreeMap, HashMap};

use burn::tensor::Device;
use nl2py::bundle::{self, Precision};
use nl2py::decode::Translator;
use nl2py::model::Seq2SeqConfig;
use nl2py::text::vocab::Vocab;
use sha2::{Digest, Sha256};

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
    Translator {
        model: config.init(&device),
        config,
        prompt_vocab: vocab.clone(),
        code_vocab: vocab,
        slots: true,
        index: None,
        device,
    }
}

fn message(bytes: &[u8]) -> String {
    bundle::load(bytes, &Device::flex()).expect_err("must be refused").to_string()
}

/// Replaces the checksum so that only the deeper checks can catch a change.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 32;
    let sum = Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    bytes
}

#[test]
fn round_trip_keeps_the_model_and_metadata() {
    // Wide enough that the weights outweigh burnpack's per-tensor descriptors.
    let t = translator(64);
    let meta = BTreeMap::from([("command".to_string(), "nl2py train".to_string())]);
    let bytes = bundle::export(&t, Precision::F32, meta.clone()).unwrap();
    let info = bundle::inspect(&bytes).unwrap();
    assert_eq!((info.config, info.precision, info.metadata), (t.config.clone(), Precision::F32, meta));
    let loaded = bundle::load(&bytes, &Device::flex()).unwrap();
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
    assert!(message(&bytes[..bytes.len() / 2]).contains("checksum mismatch"));
    assert!(message(&bytes[..10]).contains("truncated"));
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    assert!(message(&flipped).contains("checksum mismatch"));
    assert!(message(b"<!DOCTYPE html><html>404</html>").contains("not an nl2py model bundle"));
    let mut newer = bytes.clone();
    newer[8] = 99;
    assert!(message(&reseal(newer)).contains("format version 99"));

    // A header from one model with the weights of another (checksum intact).
    let other = bundle::export(&translator(8), Precision::F32, BTreeMap::new()).unwrap();
    let header_end = |b: &[u8]| 16 + u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let mut mixed = bytes[..header_end(&bytes)].to_vec();
    mixed.extend_from_slice(&other[header_end(&other)..]);
    assert!(message(&reseal(mixed)).contains("weights do not fit the model"), "{}", message(&bytes));
}
