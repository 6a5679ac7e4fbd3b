//! How generated code is scored against a reference, the way the field scores it: CoNaLa's BLEU
//! and exact match on its own tokenization, and ROUGE-L F1 on the same tokens; and how often
//! output degenerates (loops, special tokens written out).

mod bleu;
mod repetition;
mod rouge;
mod syntax;

pub use bleu::{Bleu, corpus_bleu, tokenize_for_bleu_eval};
pub use repetition::{REPEATED_NGRAM, has_repeated_ngram, is_repetitive, leaks_special_token};
pub use rouge::rouge_l_f1;
pub use syntax::is_valid_python;
pub(crate) use syntax::visit_all_arguments;

/// Whether two snippets are equal on CoNaLa's evaluation tokens.
pub fn exact_match(hypothesis: &str, reference: &str) -> bool {
    tokenize_for_bleu_eval(hypothesis) == tokenize_for_bleu_eval(reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_ignores_spacing_and_quote_style() {
        assert!(exact_match("f(x,y)", "f( x , y )"));
        assert!(exact_match("d[\"k\"]", "d['k']"));
        assert!(!exact_match("f(x)", "f(y)"));
    }
}
