//! Python-aware masking: a small state machine over code tokens ([`code`]) that tracks the open
//! string and its quote, the open brackets, the indent depth and what the last token allows
//! (an operand after an operand, an operator where an operand must come), and sets to −∞ the
//! scores of tokens that cannot continue Python as our tokenizer writes it.

use crate::text::code::{self, DEDENT, INDENT, NEWLINE};
use crate::text::vocab::{BOS_ID, EOS_ID, PAD_ID, SPECIALS, UNK_ID, Vocab};
use crate::text::{pieces, python};

/// Closing quotes; a string's quote is an index into this.
const QUOTES: [&str; 4] = ["'", "\"", "'''", "\"\"\""];
const OPENERS: [&str; 3] = ["(", "[", "{"];
/// Longest string body the model may write: past it only the closing quote may come (a model
/// lost in a string otherwise fills it with characters until it runs out of tokens).
pub(crate) const MAX_STRING_CHARS: u16 = 120;
const CLOSERS: [&str; 3] = [")", "]", "}"];

/// Tokens after which a statement cannot end: an operator without its right operand, or a
/// keyword that needs more of its statement. `*` is not one (`from m import *`), nor `,` or `;`.
const NEEDS_MORE: &[&str] = &[
    "=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=", ":=", "+", "-",
    "/", "//", "%", "**", "<<", ">>", "&", "|", "^", "~", "<", ">", "<=", ">=", "==", "!=", "->", ".", "@",
    "and", "as", "assert", "async", "await", "class", "def", "del", "elif", "else", "except", "finally",
    "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "try", "while",
    "with",
];

/// Python's keywords: never operands. `match`, `case` and `type` are soft keywords, names that
/// may be followed by an operand (`match x:`), so they are neither.
const KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
    "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not",
    "or", "pass", "raise", "return", "try", "while", "with", "yield", "match", "case", "type",
];

/// Keywords that, starting a line, make it a compound statement's header: its line cannot end
/// before a `:` outside brackets.
const COMPOUND: &[&str] =
    &["if", "elif", "else", "for", "while", "def", "class", "with", "try", "except", "finally", "async"];

/// Operators after which an operand must come: what follows may not be one of [`NO_OPERAND`].
/// Not `*` or `/` (`def f(a, /, *, b)`), nor `not` (`not in`) or `.` (`from . import`).
const WANTS_OPERAND: &[&str] = &[
    "=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=", ":=", "+", "-",
    "//", "%", "**", "<<", ">>", "&", "|", "^", "~", "<", ">", "<=", ">=", "==", "!=", "->", "@", "and",
    "or", "in", "is",
];

/// Tokens that need an operand before them (or are no operand themselves: `,` `;` `:`).
const NO_OPERAND: &[&str] = &[
    "=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", ">>=", "<<=", "&=", "|=", "^=", "@=", ":=", "/", "//",
    "%", "<<", ">>", "&", "|", "^", "<", ">", "<=", ">=", "==", "!=", "->", ".", ",", ";", ":", "and", "or",
    "in", "is", "if", "else", "for", "as",
];

/// A name (not a keyword), a number, `None`, `True` or `False`, or a slot (`var_0`, `str_1`).
fn is_operand(token: &str) -> bool {
    let mut chars = token.chars();
    let Some(first) = chars.next() else { return false };
    if first.is_ascii_digit() || (first == '.' && chars.next().is_some_and(|c| c.is_ascii_digit())) {
        return true;
    }
    (first.is_alphabetic() || first == '_')
        && token.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&token)
}

/// What the last token outside strings ended with, for what may follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Operand {
    /// Neither: the start, layout, an opening bracket, a keyword, `,` …
    #[default]
    Open,
    /// A name, number or closing bracket: no operand may follow (`print x`, `f(a) b`).
    Complete,
    /// A string: only another string may follow it as an operand (`'a' 'b'`).
    String,
    /// An operator that needs its right operand: no operator of [`NO_OPERAND`] may follow.
    Wanted,
}

/// Brackets whose kind is remembered, 2 bits each in a `u128`; deeper ones are only counted
/// and any closing bracket may close them.
const REMEMBERED_BRACKETS: u16 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Special,
    Newline,
    Indent,
    Dedent,
    /// Opens a string closed by `QUOTES[i]`.
    StringOpen(u8),
    /// Index into `OPENERS` / `CLOSERS`.
    Open(u8),
    Close(u8),
    Colon,
    NeedsMore,
    Other,
}

fn kind_of(token: &str) -> Kind {
    let index = |list: &[&str]| list.iter().position(|t| *t == token).map(|i| i as u8);
    if SPECIALS.contains(&token) {
        Kind::Special
    } else if let Some((_, quote)) = code::string_opening(token) {
        Kind::StringOpen(QUOTES.iter().position(|q| *q == quote).unwrap_or(0) as u8)
    } else if let Some(b) = index(&OPENERS) {
        Kind::Open(b)
    } else if let Some(b) = index(&CLOSERS) {
        Kind::Close(b)
    } else {
        match token {
            NEWLINE => Kind::Newline,
            INDENT => Kind::Indent,
            DEDENT => Kind::Dedent,
            ":" => Kind::Colon,
            _ if NEEDS_MORE.contains(&token) => Kind::NeedsMore,
            _ => Kind::Other,
        }
    }
}

/// What each vocabulary id is to the grammar, built once per vocabulary.
#[derive(Debug)]
pub(crate) struct TokenClasses {
    kinds: Vec<Kind>,
    /// Per id, whether the token may be part of a string body: one character, or with a piece
    /// vocabulary a string piece (specials, layout, slots and continuations never are).
    body: Vec<bool>,
    /// Per id, whether continuation pieces may extend it (a name that is no keyword, a number),
    /// and the ids of the continuation pieces (none without a piece vocabulary).
    starts_word: Vec<bool>,
    continuations: Vec<usize>,
    continues: Vec<bool>,
    /// Per id, whether it is an operand ([`is_operand`]).
    operand: Vec<bool>,
    /// Ids of [`WANTS_OPERAND`] and of [`NO_OPERAND`].
    wants_operand: Vec<usize>,
    no_operand: Vec<usize>,
    /// Ids that open a string, and `{`.
    string_openers: Vec<usize>,
    brace: Option<usize>,
    /// Ids of [`COMPOUND`], and `lambda` (whose `:` is not the header's).
    compound: Vec<usize>,
    lambda: Option<usize>,
    /// Id of each of `QUOTES` as a token.
    quotes: [Option<usize>; 4],
    /// Closing brackets with their index into `CLOSERS`.
    closers: Vec<(usize, u8)>,
    newline: Option<usize>,
    indent: Option<usize>,
    dedent: Option<usize>,
    backslash: Option<usize>,
    /// Characters Python has no token for outside a string (`?`, `$`, a backtick, a lone `!`,
    /// and `\`, which the lexer folds into line joining).
    string_only: Vec<usize>,
}

impl TokenClasses {
    pub(crate) fn new(vocab: &Vocab) -> Self {
        let known = |token: &str| Some(vocab.id(token)).filter(|&id| vocab.token(id) == token);
        let tokens = (0..vocab.len()).map(|id| vocab.token(id));
        let kinds: Vec<Kind> = tokens.clone().map(kind_of).collect();
        let closers = (0..kinds.len()).filter_map(|id| match kinds[id] {
            Kind::Close(b) => Some((id, b)),
            _ => None,
        });
        let pieces = vocab.has_pieces();
        // With pieces, also the string pieces that are no token of Python's own (` number`, `: `).
        let string_only = ["?", "$", "`", "!", "\\"]
            .into_iter()
            .filter_map(known)
            .chain((0..vocab.len()).filter(|&id| {
                let token = vocab.token(id);
                pieces && pieces::is_string_piece(token) && !stands_alone(token)
            }))
            .collect();
        let continues: Vec<bool> = tokens.clone().map(|t| pieces && pieces::is_continuation(t)).collect();
        let string_openers = (0..kinds.len()).filter(|&id| matches!(kinds[id], Kind::StringOpen(_)));
        Self {
            string_only,
            operand: tokens.clone().map(is_operand).collect(),
            wants_operand: WANTS_OPERAND.iter().filter_map(|t| known(t)).collect(),
            no_operand: NO_OPERAND.iter().filter_map(|t| known(t)).collect(),
            string_openers: string_openers.collect(),
            brace: known("{"),
            compound: COMPOUND.iter().filter_map(|t| known(t)).collect(),
            lambda: known("lambda"),
            closers: closers.collect(),
            kinds,
            body: tokens
                .clone()
                .map(|t| t.chars().count() == 1 || (pieces && pieces::is_string_piece(t)))
                .collect(),
            starts_word: tokens.map(|t| pieces && pieces::starts_word(t)).collect(),
            continuations: (0..continues.len()).filter(|&id| continues[id]).collect(),
            continues,
            quotes: QUOTES.map(known),
            newline: known(NEWLINE),
            indent: known(INDENT),
            dedent: known(DEDENT),
            backslash: known("\\"),
        }
    }
}

/// Whether Python's lexer reads `token` as exactly that one token (a name, number or operator).
fn stands_alone(token: &str) -> bool {
    python::lex(token).is_ok_and(|lexed| lexed.first().is_some_and(|t| t.text == token) && lexed.len() <= 2)
}

/// Where a generated code-token sequence stands; `Copy`, so each beam hypothesis keeps its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PyState {
    /// The open string's quote (index into `QUOTES`) and whether its last character is an
    /// escaping backslash.
    string: Option<(u8, bool)>,
    /// Characters of the open string so far.
    string_chars: u16,
    /// Kinds of the open brackets, innermost in the highest used bits.
    brackets: u128,
    bracket_depth: u16,
    indent_depth: u16,
    /// The last token outside strings (a closed string is `Other`); `Special` at the start.
    last: Kind,
    /// The last tokens are `:` `<newline>`: only `<indent>` may follow.
    block_opened: bool,
    /// What the last token outside strings leaves for the next.
    operand: Operand,
    /// The last token outside strings starts a name or number, or continues one: a continuation
    /// piece may follow.
    joinable: bool,
    /// The line is a compound statement's header that has not had its `:` yet.
    header: bool,
}

impl PyState {
    /// Takes in the token `id`. Any id is accepted (a forced prefix need not obey the mask).
    pub(crate) fn advance(&mut self, id: usize, classes: &TokenClasses) {
        if let Some((quote, escaped)) = self.string {
            // As `code::string_end` reads a body: the quote closes unless escaped.
            if !escaped && classes.quotes[usize::from(quote)] == Some(id) {
                self.string = None;
                self.joinable = false;
                self.last = Kind::Other;
                self.operand = Operand::String;
            } else {
                self.string = Some((quote, !escaped && classes.backslash == Some(id)));
                self.string_chars = self.string_chars.saturating_add(1);
            }
            return;
        }
        if classes.continues.get(id).copied().unwrap_or(false) {
            // It extends the word before it, which stays what the state describes.
            return;
        }
        let kind = classes.kinds.get(id).copied().unwrap_or(Kind::Special);
        self.joinable = classes.starts_word.get(id).copied().unwrap_or(false);
        match kind {
            Kind::Special => return,
            Kind::Indent => self.indent_depth = self.indent_depth.saturating_add(1),
            Kind::Dedent => self.indent_depth = self.indent_depth.saturating_sub(1),
            Kind::StringOpen(quote) => {
                self.string = Some((quote, false));
                self.string_chars = 0;
            }
            Kind::Open(b) => {
                if self.bracket_depth < REMEMBERED_BRACKETS {
                    let shift = 2 * self.bracket_depth;
                    self.brackets = (self.brackets & !(3 << shift)) | (u128::from(b) << shift);
                }
                self.bracket_depth = self.bracket_depth.saturating_add(1);
            }
            Kind::Close(_) => self.bracket_depth = self.bracket_depth.saturating_sub(1),
            _ => {}
        }
        self.block_opened = kind == Kind::Newline && self.last == Kind::Colon;
        let line_start = matches!(self.last, Kind::Special | Kind::Newline | Kind::Indent | Kind::Dedent);
        if line_start {
            self.header = classes.compound.contains(&id);
        } else if self.bracket_depth == 0 && (kind == Kind::Colon || classes.lambda == Some(id)) {
            // A lambda outside brackets has a `:` of its own: the rule steps aside for the line.
            self.header = false;
        }
        self.last = kind;
        self.operand = if matches!(kind, Kind::Close(_)) || classes.operand[id] {
            Operand::Complete
        } else if classes.wants_operand.contains(&id) {
            Operand::Wanted
        } else {
            Operand::Open
        };
    }

    /// Sets the scores of tokens that cannot come next to −∞ (`scores`: one row, one entry per
    /// vocabulary id). Never masks every token: `<eos>` then stays allowed.
    pub(crate) fn mask(&self, classes: &TokenClasses, scores: &mut [f32]) {
        let eos = scores.get(EOS_ID).copied();
        self.forbid_invalid(classes, scores);
        if scores.iter().all(|s| *s == f32::NEG_INFINITY)
            && let Some(s) = scores.get_mut(EOS_ID)
        {
            *s = eos.filter(|e| e.is_finite()).unwrap_or(0.0);
        }
    }

    fn forbid_invalid(&self, classes: &TokenClasses, scores: &mut [f32]) {
        if let Some((quote, escaped)) = self.string {
            let close = if escaped { None } else { classes.quotes[usize::from(quote)] };
            if self.string_chars >= MAX_STRING_CHARS && !escaped {
                return forbid_all_but(scores, close, std::iter::repeat(true));
            }
            return forbid_all_but(scores, close, classes.body.iter().map(|body| !body));
        }
        if self.block_opened {
            // Python requires the block that the line's `:` opened.
            return forbid_all_but(scores, classes.indent, std::iter::repeat(true));
        }
        let depth = self.bracket_depth;
        let top = (depth > 0 && depth <= REMEMBERED_BRACKETS)
            .then(|| ((self.brackets >> (2 * (depth - 1))) & 3) as u8);
        let closer_ok = |b: u8| depth > 0 && top.is_none_or(|t| t == b);
        // Python joins lines inside brackets, so the lexer writes no layout there.
        let free = depth == 0;
        let ends_line = free && !self.header && matches!(self.last, Kind::Other | Kind::Close(_));
        let line_start = free && matches!(self.last, Kind::Newline | Kind::Dedent);
        let rules = [
            (Some(PAD_ID), false),
            (Some(BOS_ID), false),
            (Some(UNK_ID), false),
            (classes.newline, ends_line || (free && self.last == Kind::Colon)),
            (classes.indent, false),
            (classes.dedent, line_start && self.indent_depth > 0),
            (Some(EOS_ID), ends_line || line_start || self.last == Kind::Special),
        ];
        let closers = classes.closers.iter().map(|&(id, b)| (Some(id), closer_ok(b)));
        let string_only = classes.string_only.iter().map(|&id| (Some(id), false));
        let continuations = classes.continuations.iter().map(|&id| (Some(id), self.joinable));
        for id in rules
            .into_iter()
            .chain(closers)
            .chain(string_only)
            .chain(continuations)
            .filter_map(|(id, ok)| id.filter(|_| !ok))
        {
            if let Some(s) = scores.get_mut(id) {
                *s = f32::NEG_INFINITY;
            }
        }
        self.forbid_misplaced_operands(classes, scores);
    }

    /// No operand right after an operand (`print x`, `'a' b`, `f(x) 2`), and no operator that
    /// needs a left operand right after one that needs a right one (`x = = 1`, `a + )`).
    fn forbid_misplaced_operands(&self, classes: &TokenClasses, scores: &mut [f32]) {
        let mut forbid = |id: usize| {
            if let Some(s) = scores.get_mut(id) {
                *s = f32::NEG_INFINITY;
            }
        };
        match self.operand {
            Operand::Open => {}
            Operand::Complete | Operand::String => {
                for (id, _) in classes.operand.iter().enumerate().filter(|(_, operand)| **operand) {
                    forbid(id);
                }
                classes.brace.into_iter().for_each(&mut forbid);
                if self.operand == Operand::Complete {
                    classes.string_openers.iter().copied().for_each(&mut forbid);
                }
            }
            Operand::Wanted => {
                classes.no_operand.iter().copied().for_each(&mut forbid);
                classes.closers.iter().map(|&(id, _)| id).for_each(&mut forbid);
            }
        }
    }
}

/// Sets to −∞ the scores that `forbidden` (one flag per id) picks, except that of `keep`.
fn forbid_all_but(scores: &mut [f32], keep: Option<usize>, forbidden: impl Iterator<Item = bool>) {
    let kept = keep.and_then(|id| Some((id, *scores.get(id)?)));
    for (s, forbidden) in scores.iter_mut().zip(forbidden) {
        if forbidden {
            *s = f32::NEG_INFINITY;
        }
    }
    if let Some((id, score)) = kept {
        scores[id] = score;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::metrics::is_valid_python;
    use crate::text::prompt;

    struct Grammar {
        vocab: Vocab,
        classes: TokenClasses,
    }

    impl Grammar {
        fn of(sequences: &[Vec<String>]) -> Self {
            let mut counts: HashMap<String, usize> = HashMap::new();
            sequences.iter().flatten().for_each(|t| *counts.entry(t.clone()).or_default() += 1);
            let vocab = Vocab::build(&counts, 1);
            Self { classes: TokenClasses::new(&vocab), vocab }
        }

        fn small() -> Self {
            let tokens = r#"print x ( ) [ ] ' " ''' f' a \ if : = , <newline> <indent> <dedent>"#;
            Self::of(&[tokens.split(' ').map(String::from).collect()])
        }

        /// A token the test names must be in the vocabulary: an unknown one reads as `<unk>`,
        /// and a check of "x =" would silently check "x <unk>".
        fn id(&self, token: &str) -> usize {
            let id = self.vocab.id(token);
            assert!(
                id != UNK_ID || token == crate::text::vocab::UNK,
                "{token:?} is not in the test's vocabulary"
            );
            id
        }

        fn after<S: AsRef<str>>(&self, tokens: &[S]) -> PyState {
            let mut state = PyState::default();
            tokens.iter().for_each(|t| state.advance(self.id(t.as_ref()), &self.classes));
            state
        }

        fn allowed(&self, state: &PyState, next: &str) -> bool {
            let mut row = vec![0.0; self.vocab.len()];
            state.mask(&self.classes, &mut row);
            row[self.id(next)].is_finite()
        }

        fn allows(&self, tokens: &[&str], next: &str) -> bool {
            self.allowed(&self.after(tokens), next)
        }
    }

    #[test]
    fn inside_a_string_only_characters_and_its_quote() {
        let g = Grammar::small();
        let open = ["print", "(", "f'"];
        for token in [NEWLINE, INDENT, DEDENT, "<eos>", "print", "str_0", "'''"] {
            assert!(!g.allows(&open, token), "{token} inside a string");
        }
        for token in ["a", "(", "\"", "\\", "'"] {
            assert!(g.allows(&open, token), "{token} inside a string");
        }
        let closed = ["print", "(", "f'", "a", "'"];
        assert!(g.allows(&closed, ")") && g.allows(&closed, "'"));
        assert!(!g.allows(&closed, NEWLINE), "the bracket is still open");
        assert!(g.allows(&["'''", "'", "a"], "'''") && g.allows(&["'''", "'", "a"], "'"));
        assert!(!g.allows(&["'''", "\\"], "'''"), "an escaped quote does not close");
        assert!(g.allows(&["'", "\\", "'", "'"], "<eos>"), "\\' then the closing quote");
    }

    #[test]
    fn characters_python_has_no_token_for_only_in_strings() {
        let g = Grammar::of(&[["x", "=", "?", "$", "'", "\\"].map(String::from).to_vec()]);
        for token in ["?", "$", "\\"] {
            assert!(!g.allows(&["x", "="], token), "{token} outside a string");
            assert!(g.allows(&["x", "=", "'"], token), "{token} inside a string");
        }
    }

    /// With a piece vocabulary: continuations only after a name or number that is no keyword,
    /// string pieces inside strings, and those no Python token only there.
    #[test]
    fn pieces_go_where_they_spell_something() {
        let tokens =
            ["print", "x", "for", "1", "(", ")", "'", "=", NEWLINE, "##_str", "##ing", " a", "Enter", "=="];
        let specials = SPECIALS.iter().copied().chain(tokens).map(String::from);
        let vocab = Vocab::from_pieces(specials.collect());
        let g = Grammar { classes: TokenClasses::new(&vocab), vocab };
        assert!(
            g.allows(&["x"], "##_str") && g.allows(&["x", "##_str"], "##ing") && g.allows(&["1"], "##ing")
        );
        for before in [&["for"][..], &["("], &["x", "="], &["print", "(", "'"], &[]] {
            assert!(!g.allows(before, "##ing"), "a continuation after {before:?}");
        }
        let spelled = ["x", "##_str", "##ing"];
        assert!(g.allows(&spelled, "=") && !g.allows(&spelled, "x"), "a spelled name is one operand");
        let string = ["print", "(", "'"];
        for piece in [" a", "Enter", "=="] {
            assert!(g.allows(&string, piece), "{piece} inside a string");
        }
        assert!(!g.allows(&["x", "="], " a") && g.allows(&["x", "="], "Enter"), "` a` is no Python token");
        assert!(g.allows(&["x"], "=="));
        // Without pieces, longer tokens stay out of strings as before.
        assert!(!Grammar::small().allows(&["print", "(", "'"], "print"));
    }

    #[test]
    fn a_string_too_long_must_close() {
        let g = Grammar::small();
        let mut long = vec!["'"];
        long.extend(std::iter::repeat_n("a", usize::from(MAX_STRING_CHARS) - 1));
        assert!(g.allows(&long, "a"));
        long.push("a");
        assert!(!g.allows(&long, "a") && g.allows(&long, "'"));
    }

    #[test]
    fn closing_brackets_must_match() {
        let g = Grammar::small();
        assert!(!g.allows(&[], ")"));
        let square = ["x", "=", "(", "["];
        assert!(!g.allows(&square, ")") && g.allows(&square, "]"));
        assert!(!g.allows(&square, NEWLINE) && !g.allows(&square, "<eos>"));
        assert!(g.allows(&["x", "=", "(", "[", "]"], ")"));
        let deep: Vec<&str> = std::iter::repeat_n("[", 64).chain(["("]).collect();
        assert!(g.allows(&deep[1..], ")") && !g.allows(&deep[1..], "]"));
        assert!(g.allows(&deep, "]"), "past 64 brackets any closer may close");
    }

    #[test]
    fn layout_follows_blocks() {
        let g = Grammar::small();
        assert!([DEDENT, INDENT, NEWLINE].iter().all(|t| !g.allows(&[], t)));
        assert!(!g.allows(&["x", NEWLINE], DEDENT) && !g.allows(&["x", NEWLINE], INDENT));
        let header = ["if", "x", ":", NEWLINE];
        assert!(g.allows(&header, INDENT) && !g.allows(&header, "x") && !g.allows(&header, "<eos>"));
        let body = ["if", "x", ":", NEWLINE, INDENT, "x", NEWLINE];
        assert!(g.allows(&body, DEDENT) && g.allows(&body, "<eos>"));
        assert!(!g.allows(&["if", "x", ":"], "<eos>"));
        assert!(!g.allows(&["x", "="], "<eos>") && !g.allows(&["x", "="], NEWLINE));
        assert!(g.allows(&["x", "=", "x", ","], "<eos>"));
    }

    #[test]
    fn no_operand_after_an_operand_and_no_operator_where_one_is_wanted() {
        let g = Grammar::of(&[r#"print x y 2 ( ) { } ' " = == , : if in not is . str_0 + -"#
            .split(' ')
            .map(String::from)
            .collect()]);
        for (tokens, next) in [
            (&["print"][..], "x"),
            (&["x"][..], "2"),
            (&["print", "(", "x", ")"][..], "y"),
            (&["x", "=", "'", "y", "'"][..], "x"),
            (&["x"][..], "'"),
            (&["x"][..], "{"),
            (&["x", "="][..], "=="),
            (&["x", "="][..], "="),
            (&["(", "x", "+"][..], ")"),
            (&["x", "=="][..], ","),
            (&["x", "is"][..], "in"),
        ] {
            assert!(!g.allows(tokens, next), "{next:?} after {tokens:?}");
        }
        for (tokens, next) in [
            (&["print"][..], "("),
            (&["x"][..], "if"),
            (&["x"][..], "not"),
            (&["x", "not"][..], "in"),
            (&["x", "is"][..], "not"),
            (&["x", "="][..], "-"),
            (&["x", "=", "-"][..], "-"),
            (&["x", "=", "'", "y", "'"][..], "\""),
            (&["x", "=", "str_0"][..], "."),
            (&["x", "(", ")"][..], "("),
            (&["x", "="][..], "{"),
        ] {
            assert!(g.allows(tokens, next), "{next:?} after {tokens:?}");
        }
    }

    #[test]
    fn a_compound_statement_line_ends_only_after_its_colon() {
        let tokens = ["print", "x", "(", ")", "if", "else", ":", "=", NEWLINE];
        let g = Grammar::of(&[tokens.map(String::from).to_vec()]);
        for header in [&["if", "x"][..], &["if", "(", "x", ")"], &["print", NEWLINE, "if", "x"]] {
            assert!(!g.allows(header, NEWLINE) && !g.allows(header, "<eos>"), "{header:?}");
        }
        assert!(
            !g.allows(&["if", "(", "x", ":", "x", ")"], NEWLINE),
            "a colon inside brackets is not the header's"
        );
        assert!(g.allows(&["if", "x", ":"], NEWLINE) && g.allows(&["if", "x", ":", "x"], NEWLINE));
        assert!(g.allows(&["x", "=", "x", "if", "x", "else", "x"], NEWLINE), "if in an expression");
        assert!(g.allows(&["if", "x", ":", "x", NEWLINE, "x"], NEWLINE), "the next line is free");
    }

    #[test]
    fn never_masks_every_token() {
        let g = Grammar::of(&[vec!["f'".into(), "name".into()]]);
        let mut row = vec![-1.5; g.vocab.len()];
        g.after(&["f'"]).mask(&g.classes, &mut row);
        assert_eq!(row.iter().filter(|s| s.is_finite()).count(), 1);
        assert_eq!(row[EOS_ID], -1.5);
    }

    /// Longer programs, the tricky fixtures that print as valid Python, and code with slots.
    fn valid_sequences() -> Vec<Vec<String>> {
        let programs = [
            "def outer(xs):\n    for x in xs:\n        if x:\n            try:\n                y = {'a': 1,\n                     'b': [2, 3]}\n            except KeyError as e:\n                raise\n        else:\n            continue\n    return f\"{xs!r} and {{braces}} {x['k']}\"\n",
            "class A(B):\n    \"\"\"Doc.\"\"\"\n\n    def m(self, s=r'\\d+', t=b\"\\x00\"):\n        q = '''multi\nline 'quoted' \"text\"\\''''\n        return q + \"it's\" + 'say \\\"hi\\\"'\nx = [\n    1,\n    (2, 3),\n]\n",
            "while True:\n    if a: break\n    a, b = b, a\nprint(*args, sep='')\nfrom os import *\ntotal = 0; total += 1;\n",
            "s = 'abc\\\ndef' + \"\"\"x\"\"\"\nt = 1,\n",
        ];
        let mut sequences: Vec<Vec<String>> =
            programs.iter().map(|src| code::tokenize(src).unwrap()).collect();
        assert!(sequences.iter().all(|tokens| is_valid_python(&code::detokenize(tokens))));
        let fixtures =
            include_str!("../../tests/fixtures/tricky_snippets.jsonl").lines().filter_map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                code::tokenize(record["code"].as_str().unwrap()).ok()
            });
        sequences.extend(fixtures.filter(|tokens| is_valid_python(&code::detokenize(tokens))));
        let p = prompt::tokenize("split `text` on ',' then join `parts` with 'x'");
        let code = code::tokenize("y = text.split(',')\nprint('x'.join(parts))").unwrap();
        sequences.push(p.slots.abstract_code(&code));
        sequences
    }

    #[test]
    fn tokenizer_output_is_never_masked() {
        let sequences = valid_sequences();
        assert!(sequences.len() >= 25, "only {} sequences", sequences.len());
        assert!(sequences.last().unwrap().contains(&"str_0".to_string()), "a str slot is checked");
        let g = Grammar::of(&sequences);
        for tokens in &sequences {
            for (i, token) in tokens.iter().enumerate() {
                assert!(g.allowed(&g.after(&tokens[..i]), token), "{token:?} masked at {i} of {tokens:?}");
            }
            assert!(g.allowed(&g.after(tokens), "<eos>"), "<eos> masked at the end of {tokens:?}");
        }
    }

    /// Not a timed assertion: prints what `mask` costs on a 5,000-token vocabulary
    /// (`cargo test --release --lib grammar -- --nocapture`).
    #[test]
    fn mask_cost_on_a_5000_token_vocabulary() {
        let names = (0..4885).map(|i| format!("name{i}"));
        let g = Grammar::of(&[(' '..='~').map(String::from).chain(names).collect()]);
        let mut row = vec![0.0f32; g.vocab.len()];
        for (name, tokens) in [("in a string", &["'", "a"][..]), ("in code", &["x", "=", "("])] {
            let (state, runs) = (g.after(tokens), 20_000);
            let start = std::time::Instant::now();
            for _ in 0..runs {
                row.fill(0.0);
                state.mask(&g.classes, std::hint::black_box(&mut row));
            }
            let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(runs);
            println!("mask {name}, {} tokens: {per:.2} µs a row, refilling it included", g.vocab.len());
        }
        println!("PyState: {} bytes", std::mem::size_of::<PyState>());
    }
}
