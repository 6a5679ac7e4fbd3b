//! Code tokens: the strings the model reads and writes for Python. Names, numbers and operators
//! are their text; a string literal is an opening token (prefix and quote, `f'`), one token per
//! character, and a closing token (the quote) — this keeps the vocabulary small; layout is
//! `<newline>`, `<indent>` and `<dedent>`. A final newline and the dedents that close the last
//! blocks are implied by the end of the sequence and left out. A piece vocabulary spells names,
//! numbers and string bodies with longer pieces ([`super::pieces`]); [`to_python`] joins them.

use super::pieces;
use super::python::{self, PyToken, PyTokenKind};
use crate::Result;

pub const NEWLINE: &str = "<newline>";
pub const INDENT: &str = "<indent>";
pub const DEDENT: &str = "<dedent>";

/// Cleans and tokenizes Python source: comments, docstrings and layout go, strings become
/// characters. Fails where Python's own tokenizer fails.
pub fn tokenize(source: &str) -> Result<Vec<String>> {
    Ok(from_python(&python::strip_docstrings(python::lex(source)?)))
}

/// Turns code tokens back into clean Python source (PEP 8 spacing, 4-space indents).
/// Any token sequence is accepted: an unclosed string is closed, stray layout tokens are ignored.
pub fn detokenize<S: AsRef<str>>(tokens: &[S]) -> String {
    python::print(&to_python(tokens))
}

/// Lexer tokens to code tokens.
pub fn from_python(tokens: &[PyToken]) -> Vec<String> {
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        match &token.kind {
            PyTokenKind::Newline => out.push(NEWLINE.to_string()),
            PyTokenKind::Indent => out.push(INDENT.to_string()),
            PyTokenKind::Dedent => out.push(DEDENT.to_string()),
            PyTokenKind::String { prefix, quote, body } => {
                out.push(format!("{prefix}{quote}"));
                out.extend(body.chars().map(String::from));
                out.push(quote.clone());
            }
            PyTokenKind::Name | PyTokenKind::Number | PyTokenKind::Op => out.push(token.text.clone()),
        }
    }
    while out.last().is_some_and(|t| t == NEWLINE || t == DEDENT) {
        out.pop();
    }
    out
}

/// Splits an opening string token into prefix and quote: `rb'` → (`rb`, `'`).
pub fn string_opening(token: &str) -> Option<(&str, &str)> {
    let quote_at = token.find(['\'', '"'])?;
    let (prefix, quote) = token.split_at(quote_at);
    let known_prefix =
        ["", "r", "u", "b", "br", "rb", "f", "fr", "rf"].contains(&prefix.to_ascii_lowercase().as_str());
    let known_quote = matches!(quote, "'" | "\"" | "'''" | "\"\"\"");
    (known_prefix && known_quote).then_some((prefix, quote))
}

/// Code tokens to lexer tokens; string characters (or pieces) are gathered back into one literal,
/// and continuation pieces (`##ing`) join the name or number before them.
pub fn to_python<S: AsRef<str>>(tokens: &[S]) -> Vec<PyToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i].as_ref();
        i += 1;
        let kind = match token {
            NEWLINE => PyTokenKind::Newline,
            INDENT => PyTokenKind::Indent,
            DEDENT => PyTokenKind::Dedent,
            _ => {
                if let Some((prefix, quote)) = string_opening(token) {
                    let (body, used) = string_body(&tokens[i..], quote);
                    i += used;
                    let text = format!("{prefix}{quote}{body}{quote}");
                    let kind = PyTokenKind::String { prefix: prefix.into(), quote: quote.into(), body };
                    out.push(PyToken::new(kind, text, 0));
                    continue;
                }
                if let Some(rest) =
                    token.strip_prefix(pieces::CONTINUATION).filter(|_| pieces::is_continuation(token))
                {
                    match out.last_mut() {
                        Some(last) if matches!(last.kind, PyTokenKind::Name | PyTokenKind::Number) => {
                            last.text.push_str(rest);
                        }
                        // A stray continuation (the grammar never writes one) stands as a name.
                        _ => out.push(PyToken::new(PyTokenKind::Name, rest, 0)),
                    }
                    continue;
                }
                let first = token.chars().next().unwrap_or(' ');
                if first.is_ascii_digit() || (first == '.' && token.len() > 1) {
                    PyTokenKind::Number
                } else if python::is_word_char(first) {
                    PyTokenKind::Name
                } else {
                    PyTokenKind::Op
                }
            }
        };
        let text = match kind {
            PyTokenKind::Newline => "\n",
            PyTokenKind::Indent | PyTokenKind::Dedent => "",
            _ => token,
        };
        out.push(PyToken::new(kind, text, 0));
    }
    out
}

/// Index just past the closing quote of the string whose characters start at `from` (an escaped
/// quote is a character), or the end of `tokens` when the string is never closed.
pub fn string_end<S: AsRef<str>>(tokens: &[S], from: usize, quote: &str) -> usize {
    let mut escaped = false;
    for (j, token) in tokens.iter().enumerate().skip(from) {
        let token = token.as_ref();
        if token == quote && !escaped {
            return j + 1;
        }
        escaped = token == "\\" && !escaped;
    }
    tokens.len()
}

/// Gathers a string's characters up to its closing quote. Returns the body and how many tokens
/// it used, the closing quote included when present.
fn string_body<S: AsRef<str>>(tokens: &[S], quote: &str) -> (String, usize) {
    let used = string_end(tokens, 0, quote);
    let closed = used > 0 && tokens[used - 1].as_ref() == quote;
    let body = tokens[..used - usize::from(closed)].iter().map(AsRef::as_ref).collect();
    (body, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_become_characters() {
        assert_eq!(
            tokenize("print(f'Sum: {sum}')").unwrap(),
            ["print", "(", "f'", "S", "u", "m", ":", " ", "{", "s", "u", "m", "}", "'", ")"]
        );
    }

    #[test]
    fn the_old_projects_output_comes_out_clean() {
        let tokens = tokenize("print ( f'Sum: {sum}' )").unwrap();
        assert_eq!(detokenize(&tokens), "print(f'Sum: {sum}')\n");
    }

    #[test]
    fn blocks_and_escapes_round_trip() {
        let src = "def f(s):\n    if s == 'it\\'s':\n        return \"\"\"a\nb\"\"\"\n    return r'\\d+'\n";
        let tokens = tokenize(src).unwrap();
        assert!(tokens.contains(&INDENT.to_string()));
        assert_ne!(tokens.last().map(String::as_str), Some(DEDENT), "trailing dedents are implied");
        assert_eq!(detokenize(&tokens), src);
    }

    #[test]
    fn comments_and_docstrings_are_dropped() {
        let src = "def f(x):  # doc\n    '''Doc.'''\n    return x  # x\n";
        assert_eq!(detokenize(&tokenize(src).unwrap()), "def f(x):\n    return x\n");
    }

    #[test]
    fn continuation_pieces_join_the_word_before_them() {
        assert_eq!(detokenize(&["reverse", "##_str", "##ing", "(", "s", ")"]), "reverse_string(s)\n");
        assert_eq!(detokenize(&["x", "=", "12", "##34", "##.5"]), "x = 1234.5\n");
        assert_eq!(
            detokenize(&["print", "(", "'", "a", "##b", "'", ")"]),
            "print('a##b')\n",
            "in a string: text"
        );
        assert_eq!(detokenize(&["##ing"]), "ing\n");
    }

    #[test]
    fn any_token_sequence_prints_without_panicking() {
        assert_eq!(detokenize(&["print", "(", "'", "a", "b"]), "print('ab'\n");
        assert_eq!(detokenize(&[DEDENT, INDENT, "x", NEWLINE, NEWLINE]), "    x\n");
        assert_eq!(detokenize::<&str>(&[]), "");
    }
}
