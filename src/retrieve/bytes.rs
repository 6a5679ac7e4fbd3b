//! The index as bytes (the prepared folder's `index.bin`, a bundle's index section):
//! `NL2PYID2` and the [`Matching`] as bit flags (format 2), or `NL2PYIDX` (format 1, whose words
//! are those of [`Matching::LEGACY`], and which an index of that matching is still written as),
//! then LEB128 unsigned integers and length-prefixed UTF-8 strings — neighbours,
//! max_example_len, the sources (name, licence), the word table, then each entry (source,
//! prompt, code, word ids, code ids). Reading checks every count and id against what is left and
//! what exists, so a hostile file is refused, never trusted.

use super::{Entry, Index, IndexSource, Matching};
use crate::{Error, Result};

/// Format 1: every prompt word as it is.
const MAGIC: &[u8; 8] = b"NL2PYIDX";
/// Format 2: the matching follows.
const MAGIC_2: &[u8; 8] = b"NL2PYID2";

fn put(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_ids(out: &mut Vec<u8>, ids: &[u32]) {
    put(out, ids.len() as u64);
    ids.iter().for_each(|&id| put(out, id as u64));
}

impl Index {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match self.matching {
            Matching::LEGACY => MAGIC.to_vec(),
            matching => {
                let mut out = MAGIC_2.to_vec();
                put(&mut out, matching.to_bits());
                out
            }
        };
        put(&mut out, self.neighbours as u64);
        put(&mut out, self.max_example_len as u64);
        put(&mut out, self.sources.len() as u64);
        for source in &self.sources {
            put_str(&mut out, &source.name);
            put_str(&mut out, &source.licence);
        }
        put(&mut out, self.words.len() as u64);
        self.words.iter().for_each(|w| put_str(&mut out, w));
        put(&mut out, self.entries.len() as u64);
        for entry in &self.entries {
            put(&mut out, entry.source as u64);
            put_str(&mut out, &entry.prompt);
            put_str(&mut out, &entry.code);
            put_ids(&mut out, &entry.words);
            put_ids(&mut out, &entry.code_ids);
        }
        out
    }

    /// Reads what [`Index::to_bytes`] wrote; code ids must be below `code_vocab`.
    pub fn from_bytes(bytes: &[u8], code_vocab: usize) -> Result<Index> {
        let mut r = Reader { bytes, at: MAGIC.len() };
        let matching = if bytes.starts_with(MAGIC) {
            Matching::LEGACY
        } else if bytes.starts_with(MAGIC_2) {
            let bits = r.number()?;
            Matching::from_bits(bits)
                .ok_or_else(|| Error::Index(format!("matching flags {bits:#x}: written by a newer nl2py")))?
        } else {
            return Err(Error::Index("not a retrieval index (wrong magic bytes)".into()));
        };
        let neighbours = r.count(64, "neighbours")?;
        let max_example_len = r.count(4096, "max_example_len")?;
        let sources = (0..r.count(usize::MAX, "sources")?)
            .map(|_| Ok(IndexSource { name: r.string()?, licence: r.string()? }))
            .collect::<Result<Vec<_>>>()?;
        let words = (0..r.count(usize::MAX, "words")?).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
        let mut index = Index::with_matching(sources, neighbours, max_example_len, matching);
        index.word_ids = words.iter().cloned().zip(0..).collect();
        if index.word_ids.len() != words.len() {
            return Err(Error::Index("a word appears twice in the word table".into()));
        }
        index.words = words;
        for _ in 0..r.count(usize::MAX, "entries")? {
            let source = r.number()?;
            if source >= index.sources.len() as u64 {
                return Err(Error::Index(format!("an entry's source {source} is out of range")));
            }
            let source = source as usize;
            let prompt = r.string()?;
            let code = r.string()?;
            let words = r.ids(index.words.len(), "word")?;
            let code_ids = r.ids(code_vocab, "code")?;
            index.add(Entry { source, prompt, code, words, code_ids, definition: false });
        }
        if r.at != bytes.len() {
            return Err(Error::Index(format!("{} bytes after the last entry", bytes.len() - r.at)));
        }
        Ok(index)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn number(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or_else(|| Error::Index("truncated".into()))?;
            self.at += 1;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Error::Index("a number longer than 64 bits".into()))
    }

    /// A count or index at most `max`; a count of things also cannot exceed the bytes left
    /// (each takes at least one), so a forged count never allocates more than the file's size.
    fn count(&mut self, max: usize, what: &str) -> Result<usize> {
        let n = self.number()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > max as u64 || (max == usize::MAX && n > left) {
            return Err(Error::Index(format!("{what}: {n} is out of range")));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let len = self.count(usize::MAX, "a string's length")?;
        let text = std::str::from_utf8(&self.bytes[self.at..self.at + len])
            .map_err(|_| Error::Index("a string is not UTF-8".into()))?;
        self.at += len;
        Ok(text.to_string())
    }

    fn ids(&mut self, below: usize, what: &str) -> Result<Vec<u32>> {
        let len = self.count(usize::MAX, "a list's length")?;
        (0..len)
            .map(|_| match self.number()? {
                id if id < below as u64 => Ok(id as u32),
                id => Err(Error::Index(format!("{what} id {id} is out of range (below {below})"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::NewEntry;
    use super::*;
    use crate::text::prompt;

    fn sample() -> Index {
        let mut index = Index::new(
            vec![IndexSource { name: "conala-train.json".into(), licence: "CC BY-SA 4.0".into() }],
            2,
            64,
        );
        for (text, code) in [("reverse a string `s`", vec![300, 5]), ("sort list `d` by value", vec![7])] {
            let tokens = prompt::tokenize(text).tokens;
            index.push(NewEntry {
                source: 0,
                prompt: text,
                code: "s[::-1]",
                prompt_tokens: &tokens,
                code_ids: code,
            });
        }
        index
    }

    #[test]
    fn bytes_round_trip() {
        let index = sample();
        let back = Index::from_bytes(&index.to_bytes(), 400).unwrap();
        assert_eq!(back, index);
        let query = prompt::tokenize("reverse string").tokens;
        assert_eq!(back.search(&query, 1, |_| false), index.search(&query, 1, |_| false));
    }

    #[test]
    fn the_matching_round_trips_and_format_1_still_reads() {
        let task = sample();
        assert!(task.to_bytes().starts_with(MAGIC_2));
        let legacy = task.reindexed(Matching::LEGACY, |p| prompt::tokenize(p).tokens);
        let bytes = legacy.to_bytes();
        assert!(bytes.starts_with(MAGIC), "a legacy index is written as format 1");
        let back = Index::from_bytes(&bytes, 400).unwrap();
        assert_eq!(back.matching(), Matching::LEGACY);
        assert_eq!(back, legacy);
        let mut newer = MAGIC_2.to_vec();
        put(&mut newer, 1 << 9);
        newer.extend_from_slice(&bytes[MAGIC.len()..]);
        assert!(Index::from_bytes(&newer, 400).unwrap_err().to_string().contains("newer nl2py"));
    }

    #[test]
    fn hostile_bytes_are_refused() {
        let bytes = sample().to_bytes();
        assert!(Index::from_bytes(&bytes, 300).unwrap_err().to_string().contains("code id 300"));
        assert!(Index::from_bytes(b"NOTANIDX", 400).is_err());
        for cut in 8..bytes.len() {
            assert!(Index::from_bytes(&bytes[..cut], 400).is_err(), "cut at {cut}");
        }
        let mut forged = MAGIC.to_vec();
        put(&mut forged, 2);
        put(&mut forged, 64);
        put(&mut forged, u64::MAX >> 1);
        assert!(Index::from_bytes(&forged, 400).unwrap_err().to_string().contains("out of range"));
        // A word table with no entries: searching it finds nothing, and does not panic.
        let mut wordy = MAGIC.to_vec();
        for n in [2, 64, 0, 1] {
            put(&mut wordy, n);
        }
        put_str(&mut wordy, "reverse");
        put(&mut wordy, 0);
        let empty = Index::from_bytes(&wordy, 400).unwrap();
        assert!(empty.search(&prompt::tokenize("reverse it").tokens, 2, |_| false).is_empty());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(Index::from_bytes(&extra, 400).is_err());
    }
}
