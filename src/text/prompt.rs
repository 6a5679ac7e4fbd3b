//! English prompts: lower-cased words, numbers and punctuation, with the spans a user quotes
//! (`` `my_list` ``, `'hello'`) turned into slots (`var_0`, `str_0`). The same slots replace
//! those names and strings in the target code, and [`Slots::restore`] puts them back after
//! generation, so the model never has to spell a user's identifiers or strings.

use serde::{Deserialize, Serialize};

use super::code;
use super::python::{self, PyTokenKind};

/// Slots of each kind a prompt may hold; spans past this stay ordinary words.
pub const MAX_SLOTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotKind {
    /// A backticked span: a name or expression in the code.
    Var,
    /// A quoted span: the contents of a string literal in the code.
    Str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// `var_0`, `str_1`, …
    pub token: String,
    pub kind: SlotKind,
    /// What the user wrote between the quotes or backticks.
    pub text: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slots(pub Vec<Slot>);

/// The token of a prompt's `index`-th slot of a kind: `var_0`, `str_1`, …
fn slot_token(kind: SlotKind, index: usize) -> String {
    format!("{}_{index}", if kind == SlotKind::Var { "var" } else { "str" })
}

/// A tokenized prompt and the slots it defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub tokens: Vec<String>,
    pub slots: Slots,
}

/// Tokenizes a prompt: quoted spans become slots, the rest lower-cased words, numbers
/// (`3.5` stays whole) and single punctuation characters.
pub fn tokenize(text: &str) -> Prompt {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut slots = Slots::default();
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some((span, end, kind)) = quoted_span(&chars, i)
            && let Some(token) = slots.slot_for(&span, kind)
        {
            push_words(&plain, &mut tokens);
            plain.clear();
            tokens.push(token);
            i = end;
            continue;
        }
        plain.push(chars[i]);
        i += 1;
    }
    push_words(&plain, &mut tokens);
    Prompt { tokens, slots }
}

/// Whether prompts use slots when a saved file does not say (files from before it could).
pub(crate) fn slots_by_default() -> bool {
    true
}

/// Tokenizes a prompt without slots: quotes and backticks are punctuation and what they hold
/// ordinary words (the ablation baseline; the model must then spell names and strings itself).
pub fn tokenize_without_slots(text: &str) -> Prompt {
    let mut tokens = Vec::new();
    push_words(text, &mut tokens);
    Prompt { tokens, slots: Slots::default() }
}

/// A span opening at `start`: `` `…` `` or `'…'`/`"…"` where the quote is not an apostrophe
/// (`don't`, `` `x`'s ``). Returns its text, the index after it and its kind.
fn quoted_span(chars: &[char], start: usize) -> Option<(String, usize, SlotKind)> {
    let q = chars[start];
    if !matches!(q, '`' | '\'' | '"') {
        return None;
    }
    let is_word = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphanumeric());
    let possessive = chars.get(start + 1) == Some(&'s') && !is_word(Some(start + 2));
    if q == '\'' && (is_word(start.checked_sub(1)) || possessive) {
        return None;
    }
    let close = (start + 1..chars.len()).find(|&j| chars[j] == q && (q != '\'' || !is_word(Some(j + 1))))?;
    let span: String = chars[start + 1..close].iter().collect();
    if span.is_empty() {
        return None;
    }
    let kind = if q == '`' { SlotKind::Var } else { SlotKind::Str };
    Some((span, close + 1, kind))
}

fn push_words(text: &str, tokens: &mut Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() {
                let d = chars[i];
                let decimal_point = d == '.'
                    && chars[start..i].iter().all(|c| c.is_ascii_digit())
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if !(d.is_alphanumeric() || d == '_' || decimal_point) {
                    break;
                }
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect::<String>().to_lowercase());
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
}

impl Slots {
    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The slot tokens this prompt did not define (`var_1` when it quoted one name): in code they
    /// would stay names that nothing defines.
    pub fn undefined(&self) -> impl Iterator<Item = String> + '_ {
        [SlotKind::Var, SlotKind::Str]
            .into_iter()
            .flat_map(|kind| (0..MAX_SLOTS).map(move |index| slot_token(kind, index)))
            .filter(|token| self.0.iter().all(|slot| &slot.token != token))
    }

    /// The slot token for a span, reusing the slot of an equal span; `None` when this kind is full.
    /// A backticked string literal (`` `'abc'` ``) is a string slot for its contents.
    fn slot_for(&mut self, span: &str, kind: SlotKind) -> Option<String> {
        let (text, kind) = match (kind, string_literal_body(span)) {
            (SlotKind::Var, Some(body)) => (body, SlotKind::Str),
            _ => (span.to_string(), kind),
        };
        if let Some(slot) = self.0.iter().find(|s| s.kind == kind && s.text == text) {
            return Some(slot.token.clone());
        }
        let used = self.0.iter().filter(|s| s.kind == kind).count();
        if used >= MAX_SLOTS {
            return None;
        }
        let token = slot_token(kind, used);
        self.0.push(Slot { token: token.clone(), kind, text });
        Some(token)
    }

    /// Replaces the slots' names and strings in code tokens by the slot tokens. A var slot
    /// matches the tokens its text lexes to (`df.a` is three tokens); a str slot matches a
    /// whole string literal whose body is its text. String contents are never matched as names.
    pub fn abstract_code(&self, tokens: &[String]) -> Vec<String> {
        let var_patterns: Vec<(Vec<String>, &str)> = self
            .iter()
            .filter(|s| s.kind == SlotKind::Var)
            .filter_map(|s| Some((expression_tokens(&s.text)?, s.token.as_str())))
            .collect();
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            if let Some((_, quote)) = code::string_opening(&tokens[i]) {
                let end = code::string_end(tokens, i + 1, quote);
                let body: String = tokens[i + 1..end.saturating_sub(1).max(i + 1)].concat();
                match self.iter().find(|s| s.kind == SlotKind::Str && s.text == body) {
                    Some(slot) => out.push(slot.token.clone()),
                    None => out.extend_from_slice(&tokens[i..end]),
                }
                i = end;
                continue;
            }
            let matched = var_patterns
                .iter()
                .filter(|(pattern, _)| tokens[i..].starts_with(pattern))
                .max_by_key(|(pattern, _)| pattern.len());
            match matched {
                Some((pattern, slot)) => {
                    out.push(slot.to_string());
                    i += pattern.len();
                }
                None => {
                    out.push(tokens[i].clone());
                    i += 1;
                }
            }
        }
        out
    }

    /// Puts the user's names and strings back in place of slot tokens in generated code.
    /// Slot tokens the prompt did not define stay as they are.
    pub fn restore(&self, tokens: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(tokens.len());
        for token in tokens {
            match self.iter().find(|s| &s.token == token) {
                // A backticked span that is no Python expression (`%B %d`, `\n`, `.`) was meant
                // as text: it comes back as a string, so the code still parses.
                Some(slot) if slot.kind == SlotKind::Var && is_expression(&slot.text) => {
                    out.extend(expression_tokens(&slot.text).unwrap_or_else(|| vec![slot.text.clone()]))
                }
                Some(slot) => {
                    let quote = if slot.text.contains('\'') && !slot.text.contains('"') { "\"" } else { "'" };
                    out.push(quote.to_string());
                    out.extend(slot.text.chars().map(String::from));
                    out.push(quote.to_string());
                }
                None => out.push(token.clone()),
            }
        }
        out
    }
}

/// Whether `text` parses as one Python expression.
fn is_expression(text: &str) -> bool {
    rustpython_parser::parse(text, rustpython_parser::Mode::Expression, "<slot>").is_ok()
}

/// The code tokens of a one-line expression, or `None` when it does not lex as Python.
fn expression_tokens(text: &str) -> Option<Vec<String>> {
    let tokens = code::tokenize(text).ok()?;
    (!tokens.is_empty() && !tokens.iter().any(|t| t == code::NEWLINE || t == code::INDENT)).then_some(tokens)
}

/// The body of a span that is exactly one string literal (`'abc'`, `"x"`).
fn string_literal_body(span: &str) -> Option<String> {
    match python::lex(span).ok()?.as_slice() {
        [literal, newline] if newline.kind == PyTokenKind::Newline => match &literal.kind {
            PyTokenKind::String { body, .. } => Some(body.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_numbers_punctuation_lowercased() {
        let p = tokenize("Sort list by Value, then print 3.5 items!");
        assert_eq!(
            p.tokens,
            strings(&["sort", "list", "by", "value", ",", "then", "print", "3.5", "items", "!"])
        );
        assert!(p.slots.is_empty());
    }

    #[test]
    fn quoted_spans_become_slots_and_apostrophes_do_not() {
        let p = tokenize("don't split `my_list` on 'a b' or \"a b\"; use `my_list`'s `'x'`");
        assert_eq!(
            p.tokens,
            strings(&[
                "don", "'", "t", "split", "var_0", "on", "str_0", "or", "str_0", ";", "use", "var_0", "'",
                "s", "str_1"
            ])
        );
        assert_eq!(p.slots.0[1], Slot { token: "str_0".into(), kind: SlotKind::Str, text: "a b".into() });
        assert_eq!(p.slots.0[2].text, "x");
    }

    #[test]
    fn without_slots_quotes_are_punctuation() {
        let p = tokenize_without_slots("split `My_list` on 'a b'");
        assert_eq!(p.tokens, strings(&["split", "`", "my_list", "`", "on", "'", "a", "b", "'"]));
        assert!(p.slots.is_empty());
    }

    #[test]
    fn slots_abstract_and_restore_code() {
        let p = tokenize("split string `s` on 'a' and get `df.col`");
        let code = code::tokenize("s.split('a') + [s] + df.col + 'sa'").unwrap();
        let abstracted = p.slots.abstract_code(&code);
        assert_eq!(code::detokenize(&abstracted), "var_0.split(str_0) + [var_0] + var_1 + 'sa'\n");
        assert_eq!(code::detokenize(&p.slots.restore(&abstracted)), "s.split('a') + [s] + df.col + 'sa'\n");
    }

    #[test]
    fn a_backticked_span_that_is_no_expression_comes_back_as_a_string() {
        let p = tokenize("format `d` as `%B %d, %Y` and split on `\\n`");
        let restored =
            p.slots.restore(&strings(&["var_0", ".", "strftime", "(", "var_1", ")", "+", "var_2"]));
        assert_eq!(code::detokenize(&restored), "d.strftime('%B %d, %Y') + '\\n'\n");
    }

    #[test]
    fn restoring_picks_a_quote_that_needs_no_escape() {
        let p = tokenize("print \"it's\"");
        let restored = p.slots.restore(&strings(&["print", "(", "str_0", ")", "var_3"]));
        assert_eq!(code::detokenize(&restored), "print(\"it's\") var_3\n");
    }

    #[test]
    fn undefined_slots_are_those_the_prompt_did_not_quote() {
        let p = tokenize("split `s` on ','");
        let undefined: Vec<String> = p.slots.undefined().collect();
        assert_eq!(undefined.len(), 2 * MAX_SLOTS - 2);
        assert!(!undefined.contains(&"var_0".to_string()) && !undefined.contains(&"str_0".to_string()));
        assert!(undefined.contains(&"var_1".to_string()) && undefined.contains(&"str_7".to_string()));
    }

    #[test]
    fn many_spans_overflow_into_words() {
        let text: String = (0..MAX_SLOTS + 1).map(|i| format!("`v{i}` ")).collect();
        let p = tokenize(&text);
        assert_eq!(p.slots.0.len(), MAX_SLOTS);
        assert_eq!(p.tokens.last().map(String::as_str), Some("`"));
    }
}
