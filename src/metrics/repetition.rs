//! Degenerate output, measured: loops (`is is is is`, the same `if` nested again and again) and
//! special tokens written out by name.

use std::collections::HashMap;

/// The n-gram length and count of [`is_repetitive`]: a 4-gram of CoNaLa's evaluation tokens
/// repeated 3 or more times.
pub const REPEATED_NGRAM: (usize, usize) = (4, 3);

/// Whether some `n`-gram of `tokens` occurs `times` times or more.
pub fn has_repeated_ngram<T: AsRef<str>>(tokens: &[T], n: usize, times: usize) -> bool {
    let mut counts: HashMap<Vec<&str>, usize> = HashMap::new();
    tokens.windows(n.max(1)).any(|window| {
        let count = counts.entry(window.iter().map(AsRef::as_ref).collect()).or_default();
        *count += 1;
        *count >= times
    })
}

/// The repetition metric reported by `nl2py eval`: some 4-gram of the code's evaluation tokens
/// occurs 3 or more times.
pub fn is_repetitive(code: &str) -> bool {
    let (n, times) = REPEATED_NGRAM;
    has_repeated_ngram(&super::tokenize_for_bleu_eval(code), n, times)
}

/// Whether code holds a special or layout token's name (`<newline>`, `<eos>`, …): text the
/// detokenizer wrote out because the model put it where Python cannot have it.
pub fn leaks_special_token(code: &str) -> bool {
    ["<pad>", "<bos>", "<eos>", "<unk>", "<newline>", "<indent>", "<dedent>"]
        .iter()
        .any(|name| code.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_repetitive_and_ordinary_code_is_not() {
        assert!(is_repetitive("print(\"it is is is is is is is is is\")"));
        assert!(is_repetitive("[1, 2, 3, 4, 5, 5, 6, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8]"));
        assert!(!is_repetitive("sorted(d.items(), key=lambda x: x[1])"));
        assert!(!is_repetitive("a = b + c\nd = e + f\n"));
        assert!(has_repeated_ngram(&["a", "b", "a", "b", "a", "b"], 2, 3));
        assert!(!has_repeated_ngram(&["a", "b", "a", "b"], 2, 3));
    }

    #[test]
    fn special_token_names_are_leaks() {
        assert!(leaks_special_token("count = '<newline>for i in s:'"));
        assert!(!leaks_special_token("x = '<b>'"));
    }
}
