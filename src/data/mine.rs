//! Pairs mined from Python source trees (`nl2py mine DIR`): for each `def` or `class` whose body
//! opens with a docstring, the docstring's first sentence is the intent and the definition
//! without its docstrings is the snippet. They are pretraining pairs, as the API-docs sets are.

use serde::{Deserialize, Serialize};

use crate::text::python::{PyToken, PyTokenKind, lex, print, strip_docstrings};

/// One mined pair; `line` is where the definition starts in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinedPair {
    pub intent: String,
    pub snippet: String,
    pub line: usize,
}

/// Intents shorter than this many characters say too little ("Init.").
const MIN_INTENT_CHARS: usize = 12;
/// Longer first sentences are prose, not requests.
const MAX_INTENT_CHARS: usize = 200;

/// Every documented definition in one file, outer ones before the ones they contain. A file
/// that Python's tokenizer rejects yields nothing.
pub fn mine_source(source: &str) -> Vec<MinedPair> {
    let Ok(tokens) = lex(source) else { return Vec::new() };
    let mut pairs = Vec::new();
    for start in 0..tokens.len() {
        let at_line_start = start == 0
            || matches!(
                tokens[start - 1].kind,
                PyTokenKind::Newline | PyTokenKind::Indent | PyTokenKind::Dedent
            );
        if !at_line_start || !(tokens[start].is_name("def") || tokens[start].is_name("class")) {
            continue;
        }
        if let Some(pair) = mine_definition(&tokens, start) {
            pairs.push(pair);
        }
    }
    pairs
}

fn mine_definition(tokens: &[PyToken], start: usize) -> Option<MinedPair> {
    // The header ends at the `:` outside brackets; a block body follows as NEWLINE INDENT.
    let mut depth = 0i32;
    let mut colon = None;
    for (i, token) in tokens.iter().enumerate().skip(start) {
        match token.kind {
            PyTokenKind::Op if matches!(token.text.as_str(), "(" | "[" | "{") => depth += 1,
            PyTokenKind::Op if matches!(token.text.as_str(), ")" | "]" | "}") => depth -= 1,
            PyTokenKind::Op if token.text == ":" && depth == 0 => {
                colon = Some(i);
                break;
            }
            PyTokenKind::Newline => return None,
            _ => {}
        }
    }
    let indent = colon? + 2;
    if tokens.get(indent - 1)?.kind != PyTokenKind::Newline || tokens.get(indent)?.kind != PyTokenKind::Indent
    {
        return None; // a one-line body has no docstring worth mining
    }
    let PyTokenKind::String { body, .. } = &tokens.get(indent + 1)?.kind else { return None };
    let intent = first_sentence(body)?;
    // The body runs to the DEDENT that matches its INDENT.
    let mut level = 0;
    let end = (indent..tokens.len()).find(|&i| {
        match tokens[i].kind {
            PyTokenKind::Indent => level += 1,
            PyTokenKind::Dedent => level -= 1,
            _ => {}
        }
        level == 0
    })?;
    let snippet = print(&strip_docstrings(tokens[start..=end].to_vec()));
    Some(MinedPair { intent, snippet, line: tokens[start].line })
}

/// The docstring's first sentence on one line: up to the first blank line, or the first `.`
/// followed by a space or the end (a closing `:` goes too); `None` when too short or too long
/// to be an intent.
pub(super) fn first_sentence(docstring: &str) -> Option<String> {
    let paragraph = docstring.trim().split("\n\n").next().unwrap_or_default();
    let flat = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    let sentence = match flat.find(". ") {
        Some(end) => &flat[..end],
        None => flat.trim_end_matches(['.', ':']),
    };
    let length = sentence.chars().count();
    (MIN_INTENT_CHARS..=MAX_INTENT_CHARS).contains(&length).then(|| sentence.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
import os

def join_words(words, sep=" "):
    """Join the words with a separator. Empty lists give ''.

    More text.
    """
    return sep.join(words)


class Stack:
    """A last-in first-out stack of items."""

    def push(self, item):
        """Put an item on top of the stack."""
        self.items.append(item)

    def size(self):
        return len(self.items)

def short():
    """Init."""
    return 1

def f(): "Not a block body, so not mined."
"#;

    #[test]
    fn documented_definitions_become_pairs() {
        let pairs = mine_source(SOURCE);
        let intents: Vec<&str> = pairs.iter().map(|p| p.intent.as_str()).collect();
        assert_eq!(
            intents,
            [
                "Join the words with a separator",
                "A last-in first-out stack of items",
                "Put an item on top of the stack"
            ]
        );
        assert_eq!(
            pairs[0].snippet,
            "def join_words(words, sep=' '):\n    return sep.join(words)\n".replace('\'', "\"")
        );
        assert_eq!(pairs[0].line, 4);
        let class = &pairs[1].snippet;
        assert!(class.starts_with("class Stack:\n") && class.contains("def size(self):"), "{class}");
        assert!(!class.contains("Put an item"), "docstrings are stripped: {class}");
        assert_eq!(pairs[2].snippet, "def push(self, item):\n    self.items.append(item)\n");
    }

    #[test]
    fn untokenizable_files_and_odd_docstrings_give_nothing() {
        assert!(mine_source("def f(:\n    '''Broken file here.'''\n").is_empty());
        assert_eq!(
            first_sentence("  Return the\n   sum of two numbers.  "),
            Some("Return the sum of two numbers".into())
        );
        assert_eq!(first_sentence("Hi."), None);
    }
}
