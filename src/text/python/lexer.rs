//! A Python lexer that follows CPython 3.11's `tokenize` module: the same token boundaries for
//! names, numbers, strings and operators, the same INDENT/DEDENT rule, and the same rejections
//! (unterminated strings, EOF inside brackets, a dedent to no outer level, characters Python has
//! no token for). Comments and non-logical newlines (NL) are dropped: the model never sees them.
//! Tabs count to the next multiple of 8 as in CPython, so mixed indentation becomes levels.

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyTokenKind {
    Name,
    Number,
    /// A whole string literal; `prefix` as written (`rb`, `F`, …), `quote` is `'`, `"`, `'''` or
    /// `"""`, `body` the characters between the quotes, escapes untouched.
    String {
        prefix: String,
        quote: String,
        body: String,
    },
    Op,
    /// End of a logical line.
    Newline,
    Indent,
    Dedent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyToken {
    pub kind: PyTokenKind,
    /// The token's source text (for strings: prefix, quotes and body).
    pub text: String,
    /// 1-based line where the token starts.
    pub line: usize,
}

impl PyToken {
    pub fn new(kind: PyTokenKind, text: impl Into<String>, line: usize) -> Self {
        Self { kind, text: text.into(), line }
    }

    pub fn is_op(&self, op: &str) -> bool {
        self.kind == PyTokenKind::Op && self.text == op
    }

    pub fn is_name(&self, name: &str) -> bool {
        self.kind == PyTokenKind::Name && self.text == name
    }
}

/// Every operator and delimiter of CPython 3.11's `token.EXACT_TOKEN_TYPES`, longest first so
/// that the first match is the longest one, as in `tokenize`'s regular expression.
pub(crate) const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=", ":=",
    "<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "%", "&", "(", ")", "*", "+", ",", "-", ".", "/", ":",
    ";", "<", "=", ">", "@", "[", "]", "^", "{", "|", "}", "~",
];

/// Python 3 keywords, less the values `True`, `False` and `None`.
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
    "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not",
    "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

/// String prefixes Python 3 accepts, compared case-insensitively.
const STRING_PREFIXES: &[&str] = &["r", "u", "b", "br", "rb", "f", "fr", "rf"];

const TAB_SIZE: usize = 8;

/// Tokenizes Python source. Comments, blank lines and line continuations disappear; the result
/// ends with a NEWLINE and the DEDENTs that close open blocks, as `tokenize` emits them.
pub fn lex(source: &str) -> Result<Vec<PyToken>> {
    let normalized = source.trim_start_matches('\u{feff}').replace("\r\n", "\n").replace('\r', "\n");
    Lexer { chars: normalized.chars().collect(), pos: 0, line: 1, tokens: Vec::new() }.run()
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<PyToken>,
}

impl Lexer {
    fn run(mut self) -> Result<Vec<PyToken>> {
        let mut indents = vec![0usize];
        let mut depth: i64 = 0;
        let mut at_line_start = true;
        while self.pos < self.chars.len() {
            if at_line_start {
                at_line_start = false;
                if depth == 0 && self.indentation(&mut indents)? {
                    // A blank or comment-only line: the next one starts a line again.
                    at_line_start = true;
                    continue;
                }
            }
            let c = self.chars[self.pos];
            match c {
                ' ' | '\t' | '\u{c}' => self.pos += 1,
                '#' => self.skip_comment(),
                '\n' => {
                    if depth <= 0 && self.ends_logical_line() {
                        self.push(PyTokenKind::Newline, "\n");
                    }
                    self.pos += 1;
                    self.line += 1;
                    at_line_start = true;
                }
                '\\' => {
                    if self.peek(1) != Some('\n') {
                        return Err(self.error("unexpected character after line continuation"));
                    }
                    self.pos += 2;
                    self.line += 1;
                    if self.pos >= self.chars.len() {
                        return Err(self.error("EOF in multi-line statement"));
                    }
                }
                '\'' | '"' => self.string(String::new())?,
                c if c.is_ascii_digit() => self.number(),
                '.' if self.peek(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
                c if is_word_char(c) => self.name_or_prefixed_string()?,
                _ => {
                    let op = self
                        .operator()
                        .ok_or_else(|| self.error(&format!("Python has no token for {c:?}")))?;
                    match op {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => depth -= 1,
                        _ => {}
                    }
                    self.pos += op.chars().count();
                    self.push(PyTokenKind::Op, op);
                }
            }
        }
        // Like `tokenize`, an extra closing bracket (depth below zero) also leaves the
        // statement open.
        if depth != 0 {
            return Err(self.error("EOF in multi-line statement"));
        }
        if self.ends_logical_line() {
            self.push(PyTokenKind::Newline, "");
        }
        for _ in 1..indents.len() {
            self.push(PyTokenKind::Dedent, "");
        }
        Ok(self.tokens)
    }

    /// Reads the indentation of a new logical line and emits INDENT/DEDENT. Returns true when
    /// the line is blank or only a comment (then it is skipped whole, as `tokenize` does).
    fn indentation(&mut self, indents: &mut Vec<usize>) -> Result<bool> {
        let mut column = 0;
        let mut end = self.pos;
        while let Some(&c) = self.chars.get(end) {
            match c {
                ' ' => column += 1,
                '\t' => column = (column / TAB_SIZE + 1) * TAB_SIZE,
                '\u{c}' => column = 0,
                _ => break,
            }
            end += 1;
        }
        match self.chars.get(end) {
            None => {
                self.pos = end;
                return Ok(true);
            }
            Some('#') => {
                self.pos = end;
                self.skip_comment();
                self.skip_newline();
                return Ok(true);
            }
            Some('\n') => {
                self.pos = end;
                self.skip_newline();
                return Ok(true);
            }
            _ => {}
        }
        self.pos = end;
        let top = *indents.last().unwrap_or(&0);
        if column > top {
            indents.push(column);
            self.push(PyTokenKind::Indent, " ".repeat(column));
        }
        while column < *indents.last().unwrap_or(&0) {
            if !indents.contains(&column) {
                return Err(self.error("unindent does not match any outer indentation level"));
            }
            indents.pop();
            self.push(PyTokenKind::Dedent, "");
        }
        Ok(false)
    }

    fn skip_comment(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos] != '\n' {
            self.pos += 1;
        }
    }

    fn skip_newline(&mut self) {
        if self.chars.get(self.pos) == Some(&'\n') {
            self.pos += 1;
            self.line += 1;
        }
    }

    /// A NEWLINE closes a logical line only when the line held a token.
    fn ends_logical_line(&self) -> bool {
        self.tokens.last().is_some_and(|t| {
            !matches!(t.kind, PyTokenKind::Newline | PyTokenKind::Indent | PyTokenKind::Dedent)
        })
    }

    fn name_or_prefixed_string(&mut self) -> Result<()> {
        let start = self.pos;
        while self.pos < self.chars.len() && is_word_char(self.chars[self.pos]) {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        let quote_follows = matches!(self.chars.get(self.pos), Some('\'' | '"'));
        if quote_follows && STRING_PREFIXES.contains(&word.to_ascii_lowercase().as_str()) {
            return self.string(word);
        }
        self.push(PyTokenKind::Name, word);
        Ok(())
    }

    /// Reads a string literal whose prefix was already consumed; `self.pos` is on the quote.
    fn string(&mut self, prefix: String) -> Result<()> {
        let start_line = self.line;
        let q = self.chars[self.pos];
        let triple = self.peek(1) == Some(q) && self.peek(2) == Some(q);
        let quote: String = std::iter::repeat_n(q, if triple { 3 } else { 1 }).collect();
        self.pos += quote.len();
        let body_start = self.pos;
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                let what = if triple { "EOF in multi-line string" } else { "unterminated string literal" };
                return Err(Error::Tokenize { line: start_line, message: what.into() });
            };
            match c {
                '\\' => {
                    if self.peek(1) == Some('\n') {
                        self.line += 1;
                    }
                    self.pos += 2;
                }
                '\n' if !triple => {
                    return Err(Error::Tokenize {
                        line: start_line,
                        message: "unterminated string literal".into(),
                    });
                }
                '\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                c if c == q && (!triple || (self.peek(1) == Some(q) && self.peek(2) == Some(q))) => {
                    break;
                }
                _ => self.pos += 1,
            }
        }
        let body: String = self.chars[body_start..self.pos].iter().collect();
        self.pos += quote.len();
        let text = format!("{prefix}{quote}{body}{quote}");
        self.tokens.push(PyToken::new(PyTokenKind::String { prefix, quote, body }, text, start_line));
        Ok(())
    }

    /// `tokenize`'s Number pattern: the first of imaginary, float, integer that matches.
    fn number(&mut self) {
        let at = self.pos;
        let len = self.imaginary(at).or_else(|| self.float(at)).or_else(|| self.integer(at)).unwrap_or(1);
        let text: String = self.chars[at..at + len].iter().collect();
        self.pos += len;
        self.push(PyTokenKind::Number, text);
    }

    /// `[0-9](?:_?[0-9])*`
    fn digits(&self, at: usize, is_digit: fn(char) -> bool) -> Option<usize> {
        if !self.chars.get(at).is_some_and(|&c| is_digit(c)) {
            return None;
        }
        let mut end = at + 1;
        loop {
            match self.chars.get(end) {
                Some(&c) if is_digit(c) => end += 1,
                Some('_') if self.chars.get(end + 1).is_some_and(|&c| is_digit(c)) => end += 2,
                _ => return Some(end - at),
            }
        }
    }

    fn decimal(&self, at: usize) -> Option<usize> {
        self.digits(at, |c| c.is_ascii_digit())
    }

    /// `[eE][-+]?[0-9](?:_?[0-9])*`
    fn exponent(&self, at: usize) -> Option<usize> {
        if !matches!(self.chars.get(at), Some('e' | 'E')) {
            return None;
        }
        let sign = usize::from(matches!(self.chars.get(at + 1), Some('+' | '-')));
        self.decimal(at + 1 + sign).map(|n| 1 + sign + n)
    }

    /// Pointfloat (`1.`, `1.5`, `.5`, with an optional exponent) or Expfloat (`1e-3`).
    fn float(&self, at: usize) -> Option<usize> {
        let point = match self.decimal(at) {
            Some(n) if self.chars.get(at + n) == Some(&'.') => {
                Some(n + 1 + self.decimal(at + n + 1).unwrap_or(0))
            }
            Some(_) => None,
            None if self.chars.get(at) == Some(&'.') => self.decimal(at + 1).map(|n| n + 1),
            None => None,
        };
        match point {
            Some(n) => Some(n + self.exponent(at + n).unwrap_or(0)),
            None => self.decimal(at).and_then(|n| self.exponent(at + n).map(|e| n + e)),
        }
    }

    fn imaginary(&self, at: usize) -> Option<usize> {
        let is_j = |len: usize| matches!(self.chars.get(at + len), Some('j' | 'J'));
        match self.decimal(at) {
            Some(n) if is_j(n) => Some(n + 1),
            _ => self.float(at).filter(|&n| is_j(n)).map(|n| n + 1),
        }
    }

    /// Hex, binary, octal (`0o`) or decimal; a decimal with a leading zero is only zeros
    /// (`0777` is `0` then `777`, as in `tokenize`).
    fn integer(&self, at: usize) -> Option<usize> {
        if self.chars.get(at) == Some(&'0') {
            let based = match self.chars.get(at + 1) {
                Some('x' | 'X') => Some(self.digits_after_underscore(at + 2, |c| c.is_ascii_hexdigit())),
                Some('b' | 'B') => Some(self.digits_after_underscore(at + 2, |c| c == '0' || c == '1')),
                Some('o' | 'O') => Some(self.digits_after_underscore(at + 2, |c| ('0'..='7').contains(&c))),
                _ => None,
            };
            if let Some(Some(n)) = based {
                return Some(2 + n);
            }
            let mut end = at + 1;
            loop {
                match self.chars.get(end) {
                    Some('0') => end += 1,
                    Some('_') if self.chars.get(end + 1) == Some(&'0') => end += 2,
                    _ => return Some(end - at),
                }
            }
        }
        self.decimal(at)
    }

    /// `(?:_?[digit])+`
    fn digits_after_underscore(&self, at: usize, is_digit: fn(char) -> bool) -> Option<usize> {
        let lead = usize::from(self.chars.get(at) == Some(&'_'));
        self.digits(at + lead, is_digit).map(|n| n + lead)
    }

    fn operator(&self) -> Option<&'static str> {
        OPERATORS
            .iter()
            .copied()
            .find(|op| op.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c)))
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push(&mut self, kind: PyTokenKind, text: impl Into<String>) {
        self.tokens.push(PyToken::new(kind, text, self.line));
    }

    fn error(&self, message: &str) -> Error {
        Error::Tokenize { line: self.line, message: message.into() }
    }
}

/// `\w` as Python's `re` reads it: letters, digits and underscore in any script.
pub(crate) fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        lex(src)
            .unwrap()
            .into_iter()
            .map(|t| match t.kind {
                PyTokenKind::Newline => "NEWLINE".into(),
                PyTokenKind::Indent => "INDENT".into(),
                PyTokenKind::Dedent => "DEDENT".into(),
                _ => t.text,
            })
            .collect()
    }

    #[test]
    fn numbers_follow_tokenize() {
        assert_eq!(
            texts("1_000 0x1f 1e-3 2j 1.5J .5 1. 0b1_0 0o17"),
            ["1_000", "0x1f", "1e-3", "2j", "1.5J", ".5", "1.", "0b1_0", "0o17", "NEWLINE"]
        );
        assert_eq!(texts("0777"), ["0", "777", "NEWLINE"]);
        assert_eq!(texts("1if x else 2"), ["1", "if", "x", "else", "2", "NEWLINE"]);
        assert_eq!(texts("x[1:2]"), ["x", "[", "1", ":", "2", "]", "NEWLINE"]);
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            texts("a **= b // c := d -> e ... //= f"),
            ["a", "**=", "b", "//", "c", ":=", "d", "->", "e", "...", "//=", "f", "NEWLINE"]
        );
    }

    #[test]
    fn strings_with_prefixes_and_triple_quotes() {
        let toks = lex("x = Rb'a\\'b' + f\"{y}\" + '''l1\nl2''' + ur'z'").unwrap();
        let strings: Vec<_> = toks
            .iter()
            .filter_map(|t| match &t.kind {
                PyTokenKind::String { prefix, quote, body } => {
                    Some((prefix.as_str(), quote.as_str(), body.as_str()))
                }
                _ => None,
            })
            .collect();
        // `ur` is no Python 3 prefix: tokenize reads the NAME `ur`, then the string `'z'`.
        assert_eq!(
            strings,
            [("Rb", "'", "a\\'b"), ("f", "\"", "{y}"), ("", "'''", "l1\nl2"), ("", "'", "z")]
        );
        assert!(toks.iter().any(|t| t.is_name("ur")));
    }

    #[test]
    fn indentation_becomes_levels_whatever_its_width() {
        let src = "if a:\n  b\n  if c:\n\td\ne\n";
        assert_eq!(
            texts(src),
            [
                "if", "a", ":", "NEWLINE", "INDENT", "b", "NEWLINE", "if", "c", ":", "NEWLINE", "INDENT",
                "d", "NEWLINE", "DEDENT", "DEDENT", "e", "NEWLINE"
            ]
        );
    }

    #[test]
    fn comments_blank_lines_and_continuations_vanish() {
        let src = "# c\nx = (1,\n     2)  # tail\n\n   # indented comment\ny = 1 + \\\n  2\n";
        assert_eq!(
            texts(src),
            ["x", "=", "(", "1", ",", "2", ")", "NEWLINE", "y", "=", "1", "+", "2", "NEWLINE"]
        );
    }

    #[test]
    fn rejects_what_tokenize_rejects() {
        for bad in ["'abc", "x = (1,", "'''abc", "if a:\n    b\n  c\n", "a $ b", "a ? b", "x = \\ y"] {
            assert!(lex(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn missing_final_newline_still_closes_the_line() {
        assert_eq!(
            texts("def f():\n    return 1"),
            ["def", "f", "(", ")", ":", "NEWLINE", "INDENT", "return", "1", "NEWLINE", "DEDENT"]
        );
    }
}
