//! The exported model: one file with the configuration, both vocabularies and the weights, that
//! the CLI writes and the browser fetches.
//!
//! Layout: `NL2PYBND` (8 bytes), format version (u32 LE), header length (u32 LE), the header
//! (JSON: config, vocabularies, precision, metadata, the weights' length), the weights (Burn's
//! burnpack), the reranker's reverse model's weights when there is one (format version 3; its
//! configuration and weight in the header), the retrieval index when the model reads retrieved examples (see
//! [`crate::retrieve`]; format version 2, which version 1 bundles lack), and the SHA-256 of
//! everything before it (32 bytes). Any truncation or flipped bit fails the checksum; anyone can
//! recompute it, so the header and the weights are then checked against bounds (`checks`).

use std::collections::BTreeMap;
use std::sync::Arc;

mod checks;
mod int8;

use burn::store::{BurnpackStore, FloatCastAdapter, ModuleAdapter, ModuleSnapshot, ModuleStore};
use burn::tensor::{Bytes, DType, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decode::{Reranker, Translator};
use crate::model::{Seq2Seq, Seq2SeqConfig};
use crate::retrieve::Index;
use crate::text::vocab::Vocab;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"NL2PYBND";
pub const FORMAT_VERSION: u32 = 3;
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
    /// The reranker's reverse model (version 3), whose weights follow the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reverse: Option<ReverseHeader>,
}

/// A reranker's reverse model as the header describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReverseHeader {
    /// Reads the model's code vocabulary, writes its prompt vocabulary.
    pub config: Seq2SeqConfig,
    /// How much its score counts ([`Reranker::weight`]).
    pub weight: f32,
    /// Bytes of its weights.
    pub weights_len: usize,
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
    let weights = weight_bytes(&translator.model, precision)?;
    let reverse_weights = match &translator.reranker {
        Some(reranker) => {
            checks::check_config(&reranker.config)?;
            weight_bytes(&reranker.model, precision)?
        }
        None => Vec::new(),
    };
    let reverse = translator.reranker.as_ref().map(|reranker| ReverseHeader {
        config: reranker.config.clone(),
        weight: reranker.weight,
        weights_len: reverse_weights.len(),
    });
    let header = Header {
        config: translator.config.clone(),
        prompt_vocab: translator.prompt_vocab.clone(),
        code_vocab: translator.code_vocab.clone(),
        precision,
        slots: translator.slots,
        metadata,
        weights_len: Some(weights.len()),
        reverse,
    };
    let index = translator.index.as_deref().map(Index::to_bytes).unwrap_or_default();
    let header = serde_json::to_vec(&header).map_err(|e| bundle_error(e.to_string()))?;
    let mut out = Vec::with_capacity(16 + header.len() + weights.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&weights);
    out.extend_from_slice(&reverse_weights);
    out.extend_from_slice(&index);
    let checksum = hashed(&out).finalize();
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// A model's weights at `precision`, as burnpack bytes.
fn weight_bytes(model: &Seq2Seq, precision: Precision) -> Result<Vec<u8>> {
    let mut store = precision.writer();
    model.save_into(&mut store).map_err(|e| bundle_error(format!("cannot save the weights: {e}")))?;
    let bytes = store.get_bytes().map_err(|e| bundle_error(format!("cannot save the weights: {e}")))?;
    Ok(bytes.to_vec())
}

/// A model of `config` with these burnpack bytes' weights, checked against bounds and shapes.
fn model_from(config: &Seq2SeqConfig, weights: &[u8], device: &Device) -> Result<Seq2Seq> {
    let mut model: Seq2Seq = config.init(device);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(weights.to_vec())))
        .with_from_adapter(int8::DequantizeBlocks.chain(FloatCastAdapter::to(DType::F32)));
    let tensors = store.get_all_tensors().map_err(|e| bundle_error(format!("unreadable weights: {e}")))?;
    checks::check_weights(&model, tensors)?;
    model.load_from(&mut store).map_err(|e| bundle_error(format!("weights do not fit the model: {e}")))?;
    Ok(model)
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
    /// The reranker's reverse model, if the bundle has one.
    pub reverse: Option<ReverseHeader>,
    /// The checksum the bundle ends with: the SHA-256 of the bytes before it.
    pub sha256: String,
    /// The SHA-256 of the whole file, checksum included, in hex: what `sha256sum` prints, and
    /// what a model manifest or a link's `&sha256=` names.
    pub file_sha256: String,
    pub metadata: BTreeMap<String, String>,
}

/// A SHA-256 hasher that has read `bytes`, fed in pieces of 64 KiB. In wasm a function runs
/// the code V8 had for it when it was called: a single call over the whole 19.5 MB bundle ran
/// in the baseline compiler's code from start to end and took 0.9 s in Node (0.07 s once
/// optimized), where calls over pieces switch to the optimized code after the first few.
fn hashed(bytes: &[u8]) -> Sha256 {
    let mut hasher = Sha256::new();
    for piece in bytes.chunks(1 << 16) {
        hasher.update(piece);
    }
    hasher
}

/// The SHA-256 of `bytes` (as `sha256sum` prints it, in bytes).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    hashed(bytes).finalize().into()
}

/// A bundle's parts, checked.
struct Opened<'a> {
    version: u32,
    header: Header,
    weights: &'a [u8],
    /// The reverse model's weights (empty without one).
    reverse_weights: &'a [u8],
    index: Option<Arc<Index>>,
    sha256: String,
    file_sha256: String,
}

/// Checks magic, version and checksum; returns the header, the weight bytes and the index.
/// `verified`: an earlier check of these same bytes, whose file SHA-256 and parsed index are
/// taken instead of hashing and parsing them again.
fn open<'a>(bytes: &'a [u8], verified: Option<&Verified>) -> Result<Opened<'a>> {
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
    let file_sha256 = match verified {
        Some(verified) => verified.info.file_sha256.clone(),
        None => {
            let mut hasher = hashed(body);
            if hasher.clone().finalize().as_slice() != checksum {
                return Err(bundle_error(
                    "checksum mismatch: the file is corrupt or truncated (download it again)",
                ));
            }
            hasher.update(checksum);
            hex::encode(hasher.finalize())
        }
    };
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
    let (weights, rest) = match header.weights_len {
        Some(len) if len <= rest.len() => rest.split_at(len),
        Some(len) => return Err(bundle_error(format!("{len} bytes of weights, but {} left", rest.len()))),
        None => (rest, &[][..]),
    };
    let (reverse_weights, index) = match &header.reverse {
        None => (&[][..], rest),
        Some(_) if header.weights_len.is_none() => {
            return Err(bundle_error("a reverse model, but no length for the model's weights"));
        }
        Some(reverse) => {
            checks::check_config(&reverse.config)?;
            let config = &header.config;
            if reverse.config.prompt_vocab != config.code_vocab
                || reverse.config.code_vocab != config.prompt_vocab
                || reverse.config.max_example_len.is_some()
            {
                return Err(bundle_error(
                    "the reverse model does not read the model's code and write its prompts",
                ));
            }
            if !reverse.weight.is_finite() {
                return Err(bundle_error("the reranking weight is not a number"));
            }
            if reverse.weights_len > rest.len() {
                let left = rest.len();
                return Err(bundle_error(format!(
                    "{} bytes of reverse weights, but {left} left",
                    reverse.weights_len
                )));
            }
            rest.split_at(reverse.weights_len)
        }
    };
    let index = match (index.is_empty(), header.config.max_example_len) {
        (true, None) => None,
        (false, Some(_)) => match verified {
            Some(verified) => verified.index.clone(),
            None => {
                let index = Index::from_bytes(index, header.code_vocab.len())?;
                // Nothing to retrieve; and `Index::search` expects each word of the table to
                // be in some pair.
                if index.is_empty() {
                    return Err(bundle_error("the retrieval index holds no pairs"));
                }
                Some(Arc::new(index))
            }
        },
        (true, Some(_)) => {
            return Err(bundle_error("the model reads retrieved examples, but the bundle has no index"));
        }
        (false, None) => return Err(bundle_error("an index for a model that reads no examples")),
    };
    Ok(Opened {
        version,
        header,
        weights,
        reverse_weights,
        index,
        sha256: hex::encode(checksum),
        file_sha256,
    })
}

impl Opened<'_> {
    fn info(&self) -> BundleInfo {
        let header = &self.header;
        BundleInfo {
            index_entries: self.index.as_ref().map_or(0, |i| i.len()),
            reverse: header.reverse.clone(),
            format_version: self.version,
            precision: header.precision,
            slots: header.slots,
            prompt_vocab_size: header.prompt_vocab.len(),
            code_vocab_size: header.code_vocab.len(),
            config: header.config.clone(),
            weights_bytes: self.weights.len(),
            sha256: self.sha256.clone(),
            file_sha256: self.file_sha256.clone(),
            metadata: header.metadata.clone(),
        }
    }
}

/// Reads a bundle's header and checks its integrity.
pub fn inspect(bytes: &[u8]) -> Result<BundleInfo> {
    Ok(open(bytes, None)?.info())
}

/// Bundle bytes that [`verify`] has checked as [`inspect`] does; only `verify` makes one.
/// [`load_verified`] builds models from them without hashing the file or parsing its index
/// again (the models share the index): the page checks a bundle when it gets it and then
/// builds a model on each backend it tries.
pub struct Verified {
    bytes: Vec<u8>,
    info: BundleInfo,
    index: Option<Arc<Index>>,
}

impl Verified {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn info(&self) -> &BundleInfo {
        &self.info
    }
}

/// Checks `bytes` as [`inspect`] does and keeps them with what it read.
pub fn verify(bytes: Vec<u8>) -> Result<Verified> {
    let (info, index) = {
        let opened = open(&bytes, None)?;
        (opened.info(), opened.index)
    };
    Ok(Verified { bytes, info, index })
}

/// [`load`] for bytes already checked: the same model, the checksum not computed again.
pub fn load_verified(bundle: &Verified, device: &Device) -> Result<Translator> {
    build(open(&bundle.bytes, Some(bundle))?, device)
}

/// Loads a bundle onto `device`. Fails with a message naming the problem: not a bundle, another
/// format version, corrupt or truncated, a header out of bounds, or weights that do not fit the
/// configuration.
pub fn load(bytes: &[u8], device: &Device) -> Result<Translator> {
    Ok(load_inspected(bytes, device)?.0)
}

/// [`load`] and [`inspect`] at once: the checksum (a SHA-256 over the whole file) and the index
/// are read once.
pub fn load_inspected(bytes: &[u8], device: &Device) -> Result<(Translator, BundleInfo)> {
    let opened = open(bytes, None)?;
    let info = opened.info();
    Ok((build(opened, device)?, info))
}

/// The translator of an opened bundle, on `device`.
fn build(opened: Opened<'_>, device: &Device) -> Result<Translator> {
    let Opened { header, weights, reverse_weights, index, .. } = opened;
    let model = model_from(&header.config, weights, device)?;
    let reranker = match header.reverse {
        Some(reverse) => {
            let model = model_from(&reverse.config, reverse_weights, device)?;
            Some(Reranker::new(model, reverse.config, reverse.weight, &header.config)?)
        }
        None => None,
    };
    let mut translator = Translator::new(
        model,
        header.config,
        header.prompt_vocab,
        header.code_vocab,
        header.slots,
        None,
        device.clone(),
    )?;
    translator.index = index;
    translator.reranker = reranker;
    Ok(translator)
}

#[cfg(test)]
mod tests {
    use burn::store::burn_pack::Tensor as PackTensor;
    use serde_json::Value;

    use super::*;
    use crate::decode::testing::translator;

    /// Bundle bytes of these parts at format `version`, with the header's length and the checksum.
    fn seal(version: u32, header: &Value, weights: &[u8], index: &[u8]) -> Vec<u8> {
        let header = serde_json::to_vec(header).unwrap();
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&version.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        for part in [&header[..], weights, index] {
            bytes.extend_from_slice(part);
        }
        let checksum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&checksum);
        bytes
    }

    /// Asserts that `open` refuses `bytes` with a message containing `expected`.
    #[track_caller]
    fn assert_refused(bytes: &[u8], expected: &str) {
        let opened = open(bytes, None).map(|_| ()).map_err(|e| e.to_string());
        assert!(opened.as_ref().is_err_and(|m| m.contains(expected)), "{opened:?}, not {expected:?}");
    }

    #[test]
    fn the_checksum_is_the_sha256_of_everything_before_it_and_any_flipped_bit_is_refused() {
        let mut bytes = export(&translator(8, None), Precision::F32, BTreeMap::new()).unwrap();
        let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        assert_eq!(checksum, Sha256::digest(body).as_slice());
        let info = inspect(&bytes).unwrap();
        assert_eq!(info.sha256, hex::encode(checksum));
        assert_eq!(info.file_sha256, hex::encode(Sha256::digest(&bytes)));
        for at in 0..bytes.len() {
            let bit = 1 << (at % 8);
            bytes[at] ^= bit;
            // Magic and version are read first; every later byte, and a version this build also
            // reads, is the checksum's to guard.
            let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
            let expected = match at {
                0..8 => "wrong magic bytes",
                8..12 if !(OLDEST_VERSION..=FORMAT_VERSION).contains(&version) => "bundle format version",
                _ => "checksum mismatch",
            };
            assert_refused(&bytes, expected);
            bytes[at] ^= bit;
        }
        assert!(open(&bytes, None).is_ok());
    }

    #[test]
    fn sections_are_split_where_the_header_says() {
        let t = translator(8, Some(6));
        let bytes = export(&t, Precision::F32, BTreeMap::new()).unwrap();
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let opened = open(&bytes, None).unwrap();
        let weights_len = opened.header.weights_len.unwrap();
        // Magic, version and header length; header; weights; index; checksum.
        assert_eq!(opened.weights, &bytes[16 + header_len..][..weights_len]);
        let index = &bytes[16 + header_len + weights_len..bytes.len() - CHECKSUM_LEN];
        assert_eq!(index, t.index.as_ref().unwrap().to_bytes());
        assert_eq!(opened.index, t.index);

        let mut header = serde_json::to_value(&opened.header).unwrap();
        let rest = weights_len + index.len();
        header["weights_len"] = (rest + 1).into();
        assert_refused(
            &seal(2, &header, opened.weights, index),
            &format!("{} bytes of weights, but {rest} left", rest + 1),
        );
        header["weights_len"] = weights_len.into();
        assert_refused(
            &seal(2, &header, opened.weights, &[]),
            "reads retrieved examples, but the bundle has no index",
        );
        header["config"]["max_example_len"] = Value::Null;
        assert_refused(
            &seal(2, &header, opened.weights, index),
            "an index for a model that reads no examples",
        );
    }

    /// The translator with a reranker: a one-layer reverse model of its vocabularies turned around.
    fn with_reranker(mut t: Translator) -> Translator {
        let config = Seq2SeqConfig::new(t.config.code_vocab, t.config.prompt_vocab)
            .with_d_model(8)
            .with_heads(2)
            .with_d_ff(16)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_max_prompt_len(8)
            .with_max_code_len(8);
        let reranker = Reranker::new(config.init(&t.device), config, 0.5, &t.config).unwrap();
        t.reranker = Some(reranker);
        t
    }

    #[test]
    fn a_reverse_model_sits_between_the_weights_and_the_index() {
        let t = with_reranker(translator(8, Some(6)));
        let bytes = export(&t, Precision::F32, BTreeMap::new()).unwrap();
        let opened = open(&bytes, None).unwrap();
        let reverse = opened.header.reverse.clone().unwrap();
        assert_eq!((reverse.weight, reverse.weights_len), (0.5, opened.reverse_weights.len()));
        let index = t.index.as_ref().unwrap().to_bytes();
        let after_weights = [opened.reverse_weights, &index].concat();
        assert_eq!(
            &bytes[bytes.len() - CHECKSUM_LEN - after_weights.len()..][..after_weights.len()],
            after_weights
        );
        assert_eq!(opened.index, t.index);

        let loaded = load(&bytes, &t.device).unwrap().reranker.expect("the reranker comes back");
        assert_eq!((loaded.weight, &loaded.config), (0.5, &t.reranker.as_ref().unwrap().config));
        let before = t.reranker.as_ref().unwrap().model.collect(None, None, false);
        let after = loaded.model.collect(None, None, false);
        assert_eq!(before.len(), after.len());
        assert!(before.iter().zip(&after).all(|(b, a)| floats(b) == floats(a)));

        let mut header = serde_json::to_value(&opened.header).unwrap();
        let left = after_weights.len();
        header["reverse"]["weights_len"] = (left + 1).into();
        assert_refused(
            &seal(3, &header, opened.weights, &after_weights),
            &format!("{} bytes of reverse weights, but {left} left", left + 1),
        );
        header["reverse"]["weights_len"] = reverse.weights_len.into();
        header["reverse"]["config"]["code_vocab"] = (t.config.prompt_vocab + 1).into();
        assert_refused(&seal(3, &header, opened.weights, &after_weights), "does not read the model's code");
    }

    #[test]
    fn a_version_1_bundle_is_all_weights_after_its_header() {
        let t = translator(8, None);
        let bytes = export(&t, Precision::F32, BTreeMap::new()).unwrap();
        let current = open(&bytes, None).unwrap();
        // Version 1 headers had neither `weights_len` nor `slots`.
        let mut header = serde_json::to_value(&current.header).unwrap();
        let fields = header.as_object_mut().unwrap();
        fields.remove("weights_len");
        fields.remove("slots");
        let old = seal(1, &header, current.weights, &[]);
        let opened = open(&old, None).unwrap();
        assert_eq!((opened.version, opened.weights, opened.header.slots), (1, current.weights, true));
        assert!(load(&old, &t.device).is_ok());
        for version in [0, FORMAT_VERSION + 1] {
            let expected = format!(
                "bundle format version {version}, but this build reads versions 1 to {FORMAT_VERSION}"
            );
            assert_refused(&seal(version, &header, current.weights, &[]), &expected);
        }
    }

    fn floats(tensor: &PackTensor) -> Vec<f32> {
        assert_eq!(tensor.dtype, DType::F32, "{}", tensor.name);
        let bytes = tensor.to_bytes().unwrap();
        bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// A verified bundle gives the model, vocabularies and index its bytes give, the models
    /// built from it share the index it parsed, and only bytes that pass the checks verify.
    #[test]
    fn a_verified_bundle_loads_as_its_bytes_do() {
        let t = translator(8, Some(6));
        let mut bytes = export(&t, Precision::F32, BTreeMap::new()).unwrap();
        let (loaded, info) = load_inspected(&bytes, &t.device).unwrap();
        let verified = verify(bytes.clone()).unwrap();
        assert_eq!((verified.info(), verified.bytes()), (&info, &bytes[..]));
        let from_verified = load_verified(&verified, &t.device).unwrap();
        let [expected, got] = [&loaded, &from_verified].map(|t| t.model.collect(None, None, false));
        assert_eq!(expected.len(), got.len());
        for (a, b) in expected.iter().zip(&got) {
            assert_eq!((&a.name, floats(a)), (&b.name, floats(b)));
        }
        assert_eq!(
            (&from_verified.prompt_vocab, &from_verified.code_vocab, &from_verified.index),
            (&loaded.prompt_vocab, &loaded.code_vocab, &loaded.index)
        );
        let again = load_verified(&verified, &t.device).unwrap();
        assert!(Arc::ptr_eq(from_verified.index.as_ref().unwrap(), again.index.as_ref().unwrap()));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let refused = verify(bytes).map(|_| ()).map_err(|e| e.to_string());
        assert!(refused.as_ref().is_err_and(|e| e.contains("checksum mismatch")), "{refused:?}");
    }

    #[test]
    fn a_round_trip_keeps_every_weight_at_f32_and_within_the_precision_below() {
        // Rows of 32: int8 stores the matrices as blocks.
        let t = translator(32, None);
        let original = t.model.collect(None, None, false);
        for precision in [Precision::F32, Precision::F16, Precision::Int8] {
            let loaded = load(&export(&t, precision, BTreeMap::new()).unwrap(), &t.device).unwrap();
            let loaded = loaded.model.collect(None, None, false);
            assert_eq!(loaded.len(), original.len());
            for (before, after) in original.iter().zip(&loaded) {
                assert_eq!((&before.name, &before.shape), (&after.name, &after.shape));
                let (before, after) = (floats(before), floats(after));
                let largest = before.iter().fold(0f32, |m, w| m.max(w.abs()));
                for (a, b) in before.iter().zip(&after) {
                    // f16 keeps 11 significant bits; int8 is within half a step of its block
                    // (at most the tensor's largest weight over 127), plus its f16 scale's
                    // rounding, and keeps norms and biases in f16, well within that.
                    let bound = match precision {
                        Precision::F32 => 0.0,
                        Precision::F16 => a.abs() / 2048.0 + 1e-7,
                        Precision::Int8 => largest / 127.0 * 0.6,
                    };
                    assert!((a - b).abs() <= bound, "{precision:?}: {a} came back as {b}");
                }
            }
        }
    }
}
