//! Subword pieces of code tokens. With a piece vocabulary ([`Vocab::has_pieces`]) a name or
//! number the vocabulary lacks is written as a first piece and continuation pieces
//! (`reverse` `##_str` `##ing`), and a string's body as runs of characters (`Enter` ` a`
//! ` number` `: `) instead of one token a character, so a small model no longer has to spell.
//! The layout tokens, operators and the lexer's tokens stay as [`code`] makes them.
//!
//! The pieces are learned by byte-pair encoding (Hugging Face's `tokenizers`, natively, when
//! `nl2py prepare` builds the vocabulary) and applied by greedy longest match, WordPiece's rule,
//! which needs only the vocabulary's token list: a bundle carries no merge table and the page
//! segments nothing while it generates (the index holds its examples as ids already).
//!
//! A string body's quotes, backslashes and line breaks stay single characters, so
//! [`code::string_end`] and the grammar find a string's end and its escapes as before.

use super::code;
use super::prompt::MAX_SLOTS;
use super::python;
use super::vocab::{SPECIALS, UNK_ID, Vocab};

/// The mark that starts a continuation piece: `##ing` continues the name or number before it.
pub const CONTINUATION: &str = "##";

/// Longest piece, in characters, that learning makes and segmentation tries.
pub const MAX_PIECE_CHARS: usize = 16;

/// Whether a token continues the name or number before it (`##ing`).
pub fn is_continuation(token: &str) -> bool {
    token.len() > CONTINUATION.len() && token.starts_with(CONTINUATION)
}

/// Whether a token of more than one character may stand inside a string body: no quote,
/// backslash or line break, no continuation mark, and not a special, layout or slot token.
pub fn is_string_piece(token: &str) -> bool {
    token.chars().nth(1).is_some()
        && !token.starts_with(CONTINUATION)
        && !token.contains(['\'', '"', '\\', '\n', '\r'])
        && !is_reserved(token)
}

/// Whether a token may start a name or number that continuation pieces extend: a name that is
/// no keyword (`for` `##mat` would read as the keyword first), or a number.
pub fn starts_word(token: &str) -> bool {
    let mut chars = token.chars();
    let Some(first) = chars.next() else { return false };
    let number = first.is_ascii_digit() || (first == '.' && chars.next().is_some_and(|c| c.is_ascii_digit()));
    let name =
        python::is_word_char(first) && token.chars().all(python::is_word_char) && !python::is_keyword(token);
    (number || name) && !is_reserved(token)
}

/// Specials, layout and slot tokens: never a piece of anything.
fn is_reserved(token: &str) -> bool {
    SPECIALS.contains(&token)
        || [code::NEWLINE, code::INDENT, code::DEDENT].contains(&token)
        || ["var_", "str_"].iter().any(|kind| {
            token.strip_prefix(kind).and_then(|i| i.parse::<usize>().ok()).is_some_and(|i| i < MAX_SLOTS)
        })
}

/// Whether a code token is a name or number, the tokens that pieces may spell.
fn is_word(token: &str) -> bool {
    let mut chars = token.chars();
    let starts = match chars.next() {
        Some('.') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some(c) => python::is_word_char(c),
        None => false,
    };
    starts && token.chars().all(|c| python::is_word_char(c) || c == '.')
}

/// Code tokens (as [`code::tokenize`] gives them: a string one character a token) to ids of a
/// piece vocabulary. A name or number the vocabulary lacks becomes its longest known first piece
/// and then the longest continuations, or `<unk>` when no such spelling exists; a string body's
/// characters become the longest pieces the vocabulary has.
pub fn encode<S: AsRef<str>>(vocab: &Vocab, tokens: &[S]) -> Vec<usize> {
    let mut ids = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_ref();
        i += 1;
        if let Some((_, quote)) = code::string_opening(token) {
            ids.push(vocab.id(token));
            let end = code::string_end(tokens, i, quote);
            let closed = end > i && tokens[end - 1].as_ref() == quote;
            let body: Vec<char> =
                tokens[i..end - usize::from(closed)].iter().flat_map(|t| t.as_ref().chars()).collect();
            encode_body(vocab, &body, &mut ids);
            if closed {
                ids.push(vocab.id(quote));
            }
            i = end;
        } else if let Some(id) = vocab.get(token) {
            ids.push(id);
        } else if is_word(token) {
            ids.extend(spell(vocab, token).unwrap_or_else(|| vec![UNK_ID]));
        } else {
            ids.push(UNK_ID);
        }
    }
    ids
}

/// A string body's characters as the longest pieces known, one unknown character `<unk>`.
fn encode_body(vocab: &Vocab, body: &[char], ids: &mut Vec<usize>) {
    let mut at = 0;
    while at < body.len() {
        let longest = (2..=MAX_PIECE_CHARS.min(body.len() - at))
            .rev()
            .find_map(|len| {
                let piece: String = body[at..at + len].iter().collect();
                vocab.get(&piece).filter(|_| is_string_piece(&piece)).map(|id| (id, len))
            })
            .unwrap_or_else(|| (vocab.id(&body[at].to_string()), 1));
        ids.push(longest.0);
        at += longest.1;
    }
}

/// A word as a first piece and continuations, each the longest the vocabulary has.
fn spell(vocab: &Vocab, word: &str) -> Option<Vec<usize>> {
    let chars: Vec<char> = word.chars().collect();
    let mut ids = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let (id, len) = (1..=MAX_PIECE_CHARS.min(chars.len() - at)).rev().find_map(|len| {
            let text: String = chars[at..at + len].iter().collect();
            let piece = if at == 0 { text } else { format!("{CONTINUATION}{text}") };
            vocab.get(&piece).filter(|_| at > 0 || starts_word(&piece)).map(|id| (id, len))
        })?;
        ids.push(id);
        at += len;
    }
    Some(ids)
}

/// How a piece vocabulary's places are shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceBudget {
    /// All tokens, specials and slots included.
    pub max_vocab: usize,
    /// Of those, the most that string pieces may take.
    pub string_pieces: usize,
    /// Fewest occurrences of an operator or layout token, and of a pair that learning merges.
    pub min_freq: usize,
}

/// Learns a piece vocabulary from the training splits' code tokens (slots abstracted): the
/// specials and slots; keywords, layout, and the operators and string openers seen `min_freq` times;
/// names and numbers by byte-pair encoding with continuation pieces; string bodies by
/// byte-pair encoding over their words (a word keeps the space before it: ` number`).
#[cfg(not(target_arch = "wasm32"))]
pub fn learn<'a>(sequences: impl Iterator<Item = &'a Vec<String>>, budget: &PieceBudget) -> Vocab {
    use std::collections::HashMap;

    // One text a sequence, its words joined by NUL (which no Python source holds), for the
    // trainer's `feed`, which counts the words its closure returns.
    let mut names = Vec::new();
    let mut strings = Vec::new();
    let mut others: HashMap<String, usize> = HashMap::new();
    for tokens in sequences {
        let (mut seq_names, mut seq_strings) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < tokens.len() {
            let token = tokens[i].as_str();
            i += 1;
            if let Some((_, quote)) = code::string_opening(token) {
                *others.entry(token.to_string()).or_default() += 1;
                let end = code::string_end(tokens, i, quote);
                let closed = end > i && tokens[end - 1] == quote;
                let body: String = tokens[i..end - usize::from(closed)].concat();
                seq_strings.extend(string_words(&body));
                if closed {
                    *others.entry(quote.to_string()).or_default() += 1;
                }
                i = end;
            } else if is_word(token) && !is_reserved(token) && !python::is_keyword(token) {
                seq_names.push(token);
            } else {
                *others.entry(token.to_string()).or_default() += 1;
            }
        }
        names.push(seq_names.join("\0"));
        strings.push(seq_strings.join("\0"));
    }

    let mut tokens: Vec<String> = super::vocab::fixed_tokens().collect();
    // Keywords and layout whole, however rare: the grammar reads them by their token.
    let mut fixed: Vec<(String, usize)> = others
        .into_iter()
        .filter(|(t, n)| *n >= budget.min_freq && !is_reserved(t) || is_layout(t) || python::is_keyword(t))
        .collect();
    fixed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    tokens.extend(fixed.into_iter().map(|(t, _)| t));
    // Every character seen stays (a word it spells is never `<unk>`), then the merges: string
    // pieces up to their share of the places, names the rest.
    let left = budget.max_vocab.saturating_sub(tokens.len());
    let string_budget = budget.string_pieces.min(left);
    let single = |piece: &String| piece.trim_start_matches(CONTINUATION).chars().nth(1).is_none();
    let (name_chars, name_merges): (Vec<String>, Vec<String>) =
        byte_pairs(&names, left - string_budget, budget.min_freq, true).into_iter().partition(single);
    let (string_chars, string_merges): (Vec<String>, Vec<String>) =
        byte_pairs(&strings, string_budget, budget.min_freq, false).into_iter().partition(single);
    let string_room = string_budget.saturating_sub(string_chars.len()).min(string_merges.len());
    let mut seen: std::collections::HashSet<String> = tokens.iter().cloned().collect();
    let mut add = |tokens: &mut Vec<String>, pieces: Vec<String>, room: usize| {
        let end = budget.max_vocab.saturating_sub(room);
        for piece in pieces {
            if tokens.len() >= end {
                break;
            }
            if seen.insert(piece.clone()) {
                tokens.push(piece);
            }
        }
    };
    add(&mut tokens, name_chars, 0);
    add(&mut tokens, string_chars, 0);
    add(&mut tokens, name_merges, string_room);
    add(&mut tokens, string_merges, 0);
    Vocab::from_pieces(tokens)
}

#[cfg(not(target_arch = "wasm32"))]
fn is_layout(token: &str) -> bool {
    [code::NEWLINE, code::INDENT, code::DEDENT].contains(&token)
}

/// Byte-pair encoding over NUL-joined words: the alphabet and merged pieces, in the trainer's
/// id order (alphabet first, then merges as made); `size` bounds the whole, unless the alphabet
/// alone is larger. With `continuation`,
/// a piece that does not start a word is marked with [`CONTINUATION`].
///
/// The trainer's own continuation prefix numbers the marked characters in the order it meets
/// them, which a hash map decides, and equal counts are merged in that order; so each word's
/// characters after its first are shifted into Unicode's private-use plane 15 instead, where
/// the trainer's sorted alphabet numbers them, and shifted back afterwards.
#[cfg(not(target_arch = "wasm32"))]
fn byte_pairs(texts: &[String], size: usize, min_freq: usize, continuation: bool) -> Vec<String> {
    use tokenizers::Trainer;
    use tokenizers::models::bpe::{BPE, BpeTrainer};

    const SHIFT: u32 = 0xF0000;
    let shift = |c: char| char::from_u32(SHIFT + c as u32).filter(|_| (c as u32) < 0xFFFE);
    let unshift = |c: char| match c as u32 {
        code @ SHIFT.. => char::from_u32(code - SHIFT),
        _ => Some(c),
    };
    if size == 0 {
        return Vec::new();
    }
    let mut trainer = BpeTrainer::builder()
        .vocab_size(size)
        .min_frequency(min_freq as u64)
        .show_progress(false)
        .max_token_length(Some(MAX_PIECE_CHARS))
        .build();
    let words = |text: &str| {
        let words = text.split('\0').filter(|w| !w.is_empty());
        Ok(if continuation {
            // A word with a character past the shift's reach is left out (no Python name has one).
            words
                .filter_map(|w| {
                    let mut chars = w.chars();
                    let first = chars.next()?;
                    std::iter::once(Some(first)).chain(chars.map(shift)).collect::<Option<String>>()
                })
                .collect()
        } else {
            words.map(str::to_string).collect()
        })
    };
    trainer.feed(texts.iter(), words).expect("splitting text never fails");
    let mut model = BPE::default();
    trainer.train(&mut model).expect("training on counted words never fails");
    let mut vocab: Vec<(String, u32)> = model.get_vocab().into_iter().collect();
    vocab.sort_by_key(|(_, id)| *id);
    vocab
        .into_iter()
        .filter_map(|(piece, _)| {
            let marked = piece.chars().next().is_some_and(|c| c as u32 >= SHIFT);
            let text = piece.chars().map(unshift).collect::<Option<String>>()?;
            Some(if marked { format!("{CONTINUATION}{text}") } else { text })
        })
        .collect()
}

/// A string body cut into the words its pieces are learned from: a run of letters, digits and
/// `_`, or of other printable characters, each with the one space before it; other spaces,
/// quotes, backslashes and line breaks alone.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
fn string_words(body: &str) -> Vec<String> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Punct,
        Alone,
    }
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_whitespace() || matches!(c, '\'' | '"' | '\\') {
            Class::Alone
        } else {
            Class::Punct
        }
    };
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_class = Class::Alone;
    for c in body.chars() {
        let cls = class(c);
        let continues = cls != Class::Alone && cls == current_class && !current.is_empty();
        let after_space = cls != Class::Alone && current == " ";
        if continues || after_space {
            current.push(c);
            current_class = cls;
            continue;
        }
        if !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
        current_class = if c == ' ' { Class::Alone } else { cls };
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::vocab::fixed_tokens;

    fn piece_vocab(extra: &[&str]) -> Vocab {
        Vocab::from_pieces(fixed_tokens().chain(extra.iter().map(|s| s.to_string())).collect())
    }

    fn tokens(source: &str) -> Vec<String> {
        code::tokenize(source).unwrap()
    }

    #[test]
    fn names_are_spelled_with_the_longest_pieces() {
        let v = piece_vocab(&[
            "(", ")", "=", "reverse", "re", "##_", "##_str", "##ing", "##s", "s", "for", "##mat", "f", "##o",
            "##r",
        ]);
        let ids = encode(&v, &tokens("reverse_string = reverses(s)"));
        assert_eq!(v.decode(&ids), ["reverse", "##_str", "##ing", "=", "reverse", "##s", "(", "s", ")"]);
        assert_eq!(code::detokenize(&v.decode(&ids)), "reverse_string = reverses(s)\n");
        // A keyword never starts a longer name: `format` is `f` `##o` `##r` `##mat`.
        assert_eq!(v.decode(&encode(&v, &tokens("format"))), ["f", "##o", "##r", "##mat"]);
        // No spelling at all: one `<unk>`.
        assert_eq!(encode(&v, &tokens("zebra")), [UNK_ID]);
    }

    #[test]
    fn string_bodies_become_pieces_with_quotes_and_escapes_alone() {
        let v = piece_vocab(&[
            "print", "(", ")", ",", "'", "\"", "\\", "n", "E", "Enter", " a", " ", ":", ": ", "it", "s",
        ]);
        let source = r#"print('Enter a: \n', "it's", '\'')"#;
        let ids = encode(&v, &tokens(source));
        let pieces =
            ["print", "(", "'", "Enter", " a", ": ", "\\", "n", "'", ",", "\"", "it", "'", "s", "\""];
        assert_eq!(v.decode(&ids)[..15], pieces);
        assert_eq!(code::detokenize(&v.decode(&ids)), source.to_string() + "\n");
        // A character the vocabulary lacks is one `<unk>`.
        assert_eq!(v.decode(&encode(&v, &tokens("print('a?')")))[3..5], ["<unk>", "<unk>"]);
    }

    #[test]
    fn pieces_are_told_apart() {
        assert!(is_continuation("##ing") && !is_continuation("##") && !is_continuation("ing"));
        assert!(is_string_piece(" number") && is_string_piece("==") && !is_string_piece("a"));
        for not_piece in ["it's", "a\\n", "##x", "var_0", "<newline>", "<eos>"] {
            assert!(!is_string_piece(not_piece), "{not_piece}");
        }
        assert!(starts_word("reverse") && starts_word("3") && starts_word("var_9"));
        assert!(!starts_word("for") && !starts_word("var_0") && !starts_word("+") && !starts_word(" a"));
    }

    #[test]
    fn string_words_keep_the_space_before_them() {
        assert_eq!(string_words("Enter a number: "), ["Enter", " a", " number", ":", " "]);
        assert_eq!(string_words("it's  %d\\n"), ["it", "'", "s", " ", " %", "d", "\\", "n"]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn learning_keeps_what_code_needs_and_is_repeatable() {
        let corpus: Vec<Vec<String>> = [
            "print('Enter a number: ')",
            "number = int(input('Enter a number: '))",
            "def reverse_string(s):\n    return s[::-1]",
            "reverse_string('hello')",
            "reverse_list = [1, 2]",
            "print(reverse_string(number))",
        ]
        .iter()
        .map(|s| tokens(s))
        .collect();
        let budget = PieceBudget { max_vocab: 200, string_pieces: 60, min_freq: 2 };
        let v = learn(corpus.iter(), &budget);
        assert_eq!(v, learn(corpus.iter(), &budget), "the same data gives the same vocabulary");
        assert!(v.has_pieces() && v.len() <= 200);
        for needed in ["(", ")", "'", "<newline>", "<indent>", "var_0", "def", "reverse_string"] {
            assert!(v.get(needed).is_some(), "{needed} missing");
        }
        assert!(
            v.get("Enter").is_some() || v.get("Enter a").is_some(),
            "a frequent string word is one piece"
        );
        for source in ["print('Enter a number: ')", "reverse_list = reverse_string(s)"] {
            let ids = encode(&v, &tokens(source));
            assert!(!ids.contains(&UNK_ID), "{source}: {:?}", v.decode(&ids));
            assert!(ids.len() < tokens(source).len() || !source.contains('\''));
            assert_eq!(code::detokenize(&v.decode(&ids)), code::detokenize(&tokens(source)));
        }
    }
}
