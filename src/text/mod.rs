//! Text on both sides of the model: Python code (lexer, cleaning, code tokens, detokenizer),
//! English prompts (words and slots) and the vocabularies that number them.

pub mod code;
pub mod prompt;
pub mod python;
pub mod vocab;
