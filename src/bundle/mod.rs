//! The exported model: one file with the configuration, both vocabularies and the weights, that
//! the CLI writes and the browser fetches.
//!
//! Layout: `NL2PYBND` (8 bytes), format version (u32 LE), header length (u32 LE), the header
//! (JSON: config, vocabularies, precision, metadata, the weights' length), the weights (Burn's
//! burnpack), the retrieval index when the model reads retrieved examples (see
//! [`crate::retrieve`]; format version 2, which version 1 bundles lack), and the SHA-256 of
//! everything before it (32 bytes). Any truncation or flipped bit fails the checksum; anyone can
//! recompute it, so the header and the weights are then checked against bounds (`checks`).

use std::collections::BTreeMap;

mod checks;
mod int8;

use burn::store::{BurnpackStore, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore};
use burn::tensor::{Bytes, DType, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::Translator;
use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::retrieve::Index;
use crate::text::vocab::Vocab;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"NL2PYBND";
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format this build reads: version 1 has no index section.
const OLDEST_VERSION: u32 = 1;
const CHECKSUM_LEN: usize = 32;

/// How the weights are stored; the model always computes in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    /// Matrices as blocks of 32 i8 values with an f16 scale each; the rest f16 (see `int8`).
    Int8,
}

impl Precision {
    /// A store that writes weights at this precision.
    fn writer(self) -> BurnpackStore {
        let store = BurnpackStore::from_bytes(None);
        match self {
            Precision::F32 => store.with_to_adapter(FloatCastAdapter::to(DType::F32)),
            Precision::F16 => store.with_to_adapter(FloatCastAdapter::to(DType::F16)),
            // Blocks first; what stays float (norms, biases) is then cast to f16.
            Precision::Int8 => {
                store.with_to_adapter(int8::QuantizeBlocks.chain(FloatCastAdapter::to(DType::F16)))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    config: Seq2SeqConfig,
    prompt_vocab: Vocab,
    code_vocab: Vocab,
    precision: Precision,
    /// Prompts are tokenized with slots (bundles from before this field: yes).
    #[serde(default = "crate::text::prompt::slots_by_default")]
    slots: bool,
    /// Free-form facts about the model (training command, data, metrics).
    metadata: BTreeMap<String, String>,
    /// Bytes of weights; the index follows them (version 2). Version 1: the rest is weights.
    #[serde(default)]
    weights_len: Option<usize>,
}

fn bundle_error(message: impl Into<String>) -> Error {
    Error::Bundle(message.into())
}

/// Writes a translator's model, configuration and vocabularies as bundle bytes. Refuses what
/// [`load`] would refuse for being out of bounds.
pub fn export(
    translator: &Translator,
    precision: Precision,
    metadata: BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    checks::check_config(&translator.config)?;
    checks::check_metadata(&metadata)?;
    let mut store = precision.writer();
    translator
        .model
        .save_into(&mut store)
        .map_err(|e| bundle_error(format!("cannot save the weights: {e}")))?;
    let weights = store.get_bytes().map_err(|e| bundle_error(format!("cannot save the weights: {e}")))?;
    let header = Header {
        config: translator.config.clone(),
        prompt_vocab: translator.prompt_vocab.clone(),
        code_vocab: translator.code_vocab.clone(),
        precision,
        slots: translator.slots,
        metadata,
        weights_len: Some(weights.len()),
    };
    let index = translator.index.as_ref().map(Index::to_bytes).unwrap_or_default();
    let header = serde_json::to_vec(&header).map_err(|e| bundle_error(e.to_string()))?;
    let mut out = Vec::with_capacity(16 + header.len() + weights.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&weights);
    out.extend_from_slice(&index);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// What a bundle says about itself, without building the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    pub format_version: u32,
    pub config: Seq2SeqConfig,
    pub precision: Precision,
    pub slots: bool,
    pub prompt_vocab_size: usize,
    pub code_vocab_size: usize,
    pub weights_bytes: usize,
    /// Pairs in the retrieval index (0: none).
    pub index_entries: usize,
    pub sha256: String,
    pub metadata: BTreeMap<String, String>,
}

/// A bundle's parts, checked.
struct Opened<'a> {
    version: u32,
    header: Header,
    weights: &'a [u8],
    index: Option<Index>,
    sha256: String,
}

/// Checks magic, version and checksum; returns the header, the weight bytes and the index.
fn open(bytes: &[u8]) -> Result<Opened<'_>> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bundle_error("not an nl2py model bundle (wrong magic bytes)"));
    }
    if bytes.len() < 16 + CHECKSUM_LEN {
        return Err(bundle_error(format!("truncated: {} bytes is shorter than any bundle", bytes.len())));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(bundle_error(format!(
            "bundle format version {version}, but this build reads versions {OLDEST_VERSION} to {FORMAT_VERSION}"
        )));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(bundle_error("checksum mismatch: the file is corrupt or truncated (download it again)"));
    }
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let header_end = 16usize.checked_add(header_len).filter(|&end| end <= body.len());
    let header_end =
        header_end.ok_or_else(|| bundle_error("header length points past the end of the file"))?;
    let header: Header = serde_json::from_slice(&body[16..header_end])
        .map_err(|e| bundle_error(format!("unreadable header: {e}")))?;
    checks::check_config(&header.config)?;
    checks::check_metadata(&header.metadata)?;
    if header.prompt_vocab.len() != header.config.prompt_vocab
        || header.code_vocab.len() != header.config.code_vocab
    {
        return Err(bundle_error("the vocabularies do not match the model configuration"));
    }
    let rest = &body[header_end..];
    let (weights, index) = match header.weights_len {
        Some(len) if len <= rest.len() => rest.split_at(len),
        Some(len) => return Err(bundle_error(format!("{len} bytes of weights, but {} left", rest.len()))),
        None => (rest, &[][..]),
    };
    let index = match (index.is_empty(), header.config.max_example_len) {
        (true, None) => None,
        (false, Some(_)) => {
            let index = Index::from_bytes(index, header.code_vocab.len())?;
            // Nothing to retrieve; and `Index::search` expects each word of the table to be in
            // some pair.
            if index.is_empty() {
                return Err(bundle_error("the retrieval index holds no pairs"));
            }
            Some(index)
        }
        (true, Some(_)) => {
            return Err(bundle_error("the model reads retrieved examples, but the bundle has no index"));
        }
        (false, None) => return Err(bundle_error("an index for a model that reads no examples")),
    };
    Ok(Opened { version, header, weights, index, sha256: hex::encode(checksum) })
}

/// Reads a bundle's header and checks its integrity.
pub fn inspect(bytes: &[u8]) -> Result<BundleInfo> {
    let Opened { version, header, weights, index, sha256 } = open(bytes)?;
    Ok(BundleInfo {
        index_entries: index.map_or(0, |i| i.len()),
        format_version: version,
        precision: header.precision,
        slots: header.slots,
        prompt_vocab_size: header.prompt_vocab.len(),
        code_vocab_size: header.code_vocab.len(),
        config: header.config,
        weights_bytes: weights.len(),
        sha256,
        metadata: header.metadata,
    })
}

/// Loads a bundle onto `device`. Fails with a message naming the problem: not a bundle, another
/// format version, corrupt or truncated, a header out of bounds, or weights that do not fit the
/// configuration.
pub fn load(bytes: &[u8], device: &Device) -> Result<Translator> {
    let Opened { header, weights, index, .. } = open(bytes)?;
    let mut model: Seq2Seq = header.config.init(device);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(weights.to_vec())))
        .with_from_adapter(int8::DequantizeBlocks.chain(FloatCastAdapter::to(DType::F32)));
    let tensors = store.get_all_tensors().map_err(|e| bundle_error(format!("unreadable weights: {e}")))?;
    checks::check_weights(&model, tensors)?;
    model.load_from(&mut store).map_err(|e| bundle_error(format!("weights do not fit the model: {e}")))?;
    Ok(Translator {
        model,
        config: header.config,
        prompt_vocab: header.prompt_vocab,
        code_vocab: header.code_vocab,
        slots: header.slots,
        index,
        device: device.clone(),
    })
}
