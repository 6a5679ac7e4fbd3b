//! A bundle file's sections, for tests that change one and seal the file again: the header
//! (JSON), the weights (burnpack) and the retrieval index, then the SHA-256 of all that precedes
//! it (see `src/bundle/mod.rs` for the layout).
#![allow(dead_code)] // each test file uses its own part

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Sections {
    pub header: Value,
    pub weights: Vec<u8>,
    pub index: Vec<u8>,
}

impl Sections {
    /// The sections of a format-1 bundle (no `weights_len`: all weights) or format-2 one.
    pub fn of(bytes: &[u8]) -> Sections {
        let header_end = 16 + u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_slice(&bytes[16..header_end]).unwrap();
        let body = &bytes[header_end..bytes.len() - 32];
        let weights_len = header["weights_len"].as_u64().map_or(body.len(), |len| len as usize);
        let (weights, index) = body.split_at(weights_len);
        Sections { header, weights: weights.to_vec(), index: index.to_vec() }
    }

    /// The header with `weights_len` set to the weights' length.
    pub fn header_bytes(&self) -> Vec<u8> {
        let mut header = self.header.clone();
        header["weights_len"] = json!(self.weights.len());
        serde_json::to_vec(&header).unwrap()
    }

    /// A format-2 bundle of these sections, `header` as given, with a valid checksum.
    pub fn seal(&self, header: &[u8]) -> Vec<u8> {
        let mut bytes = b"NL2PYBND".to_vec();
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        for part in [header, &self.weights, &self.index] {
            bytes.extend_from_slice(part);
        }
        bytes.extend_from_slice(&[0; 32]);
        reseal(bytes)
    }

    /// A format-2 bundle of these sections with a valid checksum.
    pub fn sealed(&self) -> Vec<u8> {
        self.seal(&self.header_bytes())
    }
}

/// Replaces the checksum so that only the deeper checks can catch a change.
pub fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 32;
    let sum = Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    bytes
}
