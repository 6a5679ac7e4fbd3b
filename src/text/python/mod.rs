//! Python source text: a lexer that follows CPython's `tokenize` rules, the docstring cleaner
//! that works on its tokens, and the PEP 8 printer that turns tokens back into source.

mod docstrings;
mod lexer;
mod printer;

pub use docstrings::strip_docstrings;
pub(crate) use lexer::is_word_char;
pub use lexer::{PyToken, PyTokenKind, is_keyword, lex};
pub use printer::print;
