//! A vocabulary numbers tokens: the four special tokens first, then the slot tokens, then the
//! training tokens seen at least `min_freq` times, most frequent first (ties by text, so the
//! same data always gives the same ids). Saved as JSON: `{"tokens": [...]}` in id order, with
//! `"pieces": true` for a code vocabulary of subword pieces ([`super::pieces`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::prompt::MAX_SLOTS;
use crate::{Error, Result};

pub const PAD: &str = "<pad>";
pub const BOS: &str = "<bos>";
pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";
pub const SPECIALS: [&str; 4] = [PAD, BOS, EOS, UNK];

pub const PAD_ID: usize = 0;
pub const BOS_ID: usize = 1;
pub const EOS_ID: usize = 2;
pub const UNK_ID: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "VocabFile", into = "VocabFile")]
pub struct Vocab {
    tokens: Vec<String>,
    ids: HashMap<String, usize>,
    /// Code is encoded as subword pieces ([`super::pieces`]) rather than one token a lexer token
    /// and a character a string token.
    pieces: bool,
}

#[derive(Serialize, Deserialize)]
struct VocabFile {
    tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pieces: bool,
}

impl TryFrom<VocabFile> for Vocab {
    type Error = Error;

    fn try_from(file: VocabFile) -> Result<Self> {
        if file.tokens.len() < SPECIALS.len() || file.tokens[..SPECIALS.len()] != SPECIALS {
            return Err(Error::Vocab(format!("must start with {SPECIALS:?}")));
        }
        let ids: HashMap<String, usize> = file.tokens.iter().cloned().zip(0..).collect();
        if ids.len() != file.tokens.len() {
            return Err(Error::Vocab("a token appears twice".into()));
        }
        Ok(Self { tokens: file.tokens, ids, pieces: file.pieces })
    }
}

impl From<Vocab> for VocabFile {
    fn from(vocab: Vocab) -> Self {
        Self { tokens: vocab.tokens, pieces: vocab.pieces }
    }
}

/// The tokens every vocabulary starts with: the specials, then the slots.
pub(crate) fn fixed_tokens() -> impl Iterator<Item = String> {
    let slots = ["var", "str"].iter().flat_map(|kind| (0..MAX_SLOTS).map(move |i| format!("{kind}_{i}")));
    SPECIALS.iter().map(|s| s.to_string()).chain(slots)
}

impl Vocab {
    /// Builds a vocabulary from token counts, keeping tokens seen at least `min_freq` times.
    pub fn build(counts: &HashMap<String, usize>, min_freq: usize) -> Self {
        let mut tokens: Vec<String> = fixed_tokens().collect();
        let mut frequent: Vec<(&String, usize)> = counts
            .iter()
            .filter(|(token, n)| **n >= min_freq && !tokens.contains(token))
            .map(|(token, n)| (token, *n))
            .collect();
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        tokens.extend(frequent.into_iter().map(|(token, _)| token.clone()));
        let ids = tokens.iter().cloned().zip(0..).collect();
        Self { tokens, ids, pieces: false }
    }

    /// A piece vocabulary of these tokens (specials and slots first, as [`super::pieces::learn`]
    /// makes them); a repeated token is kept once, where it first comes.
    pub fn from_pieces(mut tokens: Vec<String>) -> Self {
        let mut ids = HashMap::with_capacity(tokens.len());
        tokens.retain(|token| {
            let new = !ids.contains_key(token);
            if new {
                ids.insert(token.clone(), ids.len());
            }
            new
        });
        Self { tokens, ids, pieces: true }
    }

    /// At most `max` tokens, never fewer than the specials and slots, which always stay; then the
    /// tokens `first` picks, then the rest, each group in its order of frequency.
    pub fn truncated(self, max: usize, first: impl Fn(&str) -> bool) -> Self {
        let fixed = SPECIALS.len() + 2 * MAX_SLOTS;
        let (head, rest) = self.tokens.split_at(fixed.min(self.tokens.len()));
        let (mut tokens, others): (Vec<String>, Vec<String>) = rest.iter().cloned().partition(|t| first(t));
        tokens.extend(others);
        tokens.truncate(max.saturating_sub(fixed));
        let tokens: Vec<String> = head.iter().cloned().chain(tokens).collect();
        let ids = tokens.iter().cloned().zip(0..).collect();
        Self { tokens, ids, pieces: self.pieces }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether code is spelled with subword pieces ([`super::pieces`]).
    pub fn has_pieces(&self) -> bool {
        self.pieces
    }

    pub fn id(&self, token: &str) -> usize {
        self.get(token).unwrap_or(UNK_ID)
    }

    /// The id of a token the vocabulary holds.
    pub fn get(&self, token: &str) -> Option<usize> {
        self.ids.get(token).copied()
    }

    pub fn token(&self, id: usize) -> &str {
        self.tokens.get(id).map_or(UNK, String::as_str)
    }

    pub fn encode<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<usize> {
        tokens.iter().map(|t| self.id(t.as_ref())).collect()
    }

    /// Code tokens ([`super::code::tokenize`]'s) to ids: one a token, or with a piece vocabulary
    /// the pieces that spell names, numbers and string bodies ([`super::pieces::encode`]).
    pub fn encode_code<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<usize> {
        if self.pieces { super::pieces::encode(self, tokens) } else { self.encode(tokens) }
    }

    pub fn decode(&self, ids: &[usize]) -> Vec<String> {
        ids.iter().map(|&id| self.token(id).to_string()).collect()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a vocabulary is plain strings")
    }

    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::Vocab(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, usize)]) -> HashMap<String, usize> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn specials_and_slots_first_then_by_frequency() {
        let v = Vocab::build(&counts(&[("b", 5), ("a", 5), ("c", 9), ("rare", 1), ("var_0", 3)]), 2);
        assert_eq!(v.token(PAD_ID), PAD);
        assert_eq!(v.token(EOS_ID), EOS);
        assert_eq!(v.id("var_0"), 4);
        assert_eq!(v.len(), 4 + 2 * MAX_SLOTS + 3);
        assert_eq!(v.decode(&v.encode(&["c", "a", "b"])), ["c", "a", "b"]);
        assert!(v.id("c") < v.id("a") && v.id("a") < v.id("b"));
        assert_eq!(v.id("rare"), UNK_ID);
        assert_eq!(v.token(10_000), UNK);

        let base = 4 + 2 * MAX_SLOTS;
        let capped = v.clone().truncated(base + 2, |_| false);
        assert_eq!(capped.len(), base + 2);
        assert_eq!((capped.id("c"), capped.id("a"), capped.id("b")), (base, base + 1, UNK_ID));
        let preferred = v.clone().truncated(base + 2, |t| t == "b");
        assert_eq!((preferred.id("b"), preferred.id("c"), preferred.id("a")), (base, base + 1, UNK_ID));
        assert_eq!(v.truncated(1, |_| true).len(), base, "specials and slots always stay");
    }

    #[test]
    fn json_round_trip_and_bad_files_refused() {
        let v = Vocab::build(&counts(&[("x", 3)]), 1);
        assert_eq!(Vocab::from_json(&v.to_json()).unwrap(), v);
        assert!(Vocab::from_json("{\"tokens\": [\"a\"]}").is_err());
        assert!(
            Vocab::from_json("{\"tokens\": [\"<pad>\",\"<bos>\",\"<eos>\",\"<unk>\",\"x\",\"x\"]}").is_err()
        );
        assert!(Vocab::from_json("not json").is_err());
        let pieces = Vocab::from_pieces(v.tokens.iter().cloned().chain(["##x".to_string()]).collect());
        assert!(pieces.to_json().contains("\"pieces\": true") && !v.to_json().contains("pieces"));
        assert_eq!(Vocab::from_json(&pieces.to_json()).unwrap(), pieces);
    }
}
