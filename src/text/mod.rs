//! Text on both sides of the model: Python code (lexer, cleaning, code tokens, detokenizer),
//! English prompts (words and slots), the vocabularies that number them and the subword pieces
//! a code vocabulary may spell with.

pub mod code;
pub mod pieces;
pub mod prompt;
pub mod python;
pub mod vocab;
