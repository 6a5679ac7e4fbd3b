//! BLEU exactly as CoNaLa's official scorer (`conala_eval.py`, which calls the TensorFlow NMT
//! `compute_bleu`) computes it: corpus BLEU-4, one reference, no smoothing, corpus-level brevity
//! penalty, on `tokenize_for_bleu_eval` tokens.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// CoNaLa's `tokenize_for_bleu_eval`: spaces around every character outside `[A-Za-z0-9_]`,
/// camelCase split at lower→Upper, whitespace collapsed, both quote kinds become a backtick.
pub fn tokenize_for_bleu_eval(code: &str) -> Vec<String> {
    let mut spaced = String::with_capacity(code.len() * 2);
    for c in code.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            spaced.push(c);
        } else {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        }
    }
    let mut split = String::with_capacity(spaced.len());
    let mut prev = ' ';
    for c in spaced.chars() {
        if prev.is_ascii_lowercase() && c.is_ascii_uppercase() {
            split.push(' ');
        }
        split.push(c);
        prev = c;
    }
    split.replace(['"', '\''], "`").split_whitespace().map(str::to_string).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bleu {
    /// BLEU × 100.
    pub score: f64,
    /// Modified n-gram precisions, n = 1..4.
    pub precisions: [f64; 4],
    pub brevity_penalty: f64,
    pub hypothesis_length: usize,
    pub reference_length: usize,
}

fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    for gram in tokens.windows(n) {
        *counts.entry(gram).or_default() += 1;
    }
    counts
}

/// Corpus BLEU-4 of hypotheses against one reference each (both already tokenized).
pub fn corpus_bleu(pairs: &[(Vec<String>, Vec<String>)]) -> Bleu {
    const MAX_ORDER: usize = 4;
    let mut matches = [0usize; MAX_ORDER];
    let mut possible = [0usize; MAX_ORDER];
    let (mut hypothesis_length, mut reference_length) = (0, 0);
    for (hypothesis, reference) in pairs {
        hypothesis_length += hypothesis.len();
        reference_length += reference.len();
        for n in 1..=MAX_ORDER {
            let reference_counts = ngram_counts(reference, n);
            for (gram, count) in ngram_counts(hypothesis, n) {
                matches[n - 1] += count.min(reference_counts.get(gram).copied().unwrap_or(0));
            }
            possible[n - 1] += hypothesis.len().saturating_sub(n - 1);
        }
    }
    let precisions: [f64; MAX_ORDER] =
        std::array::from_fn(|i| if possible[i] > 0 { matches[i] as f64 / possible[i] as f64 } else { 0.0 });
    let geo_mean = if precisions.iter().all(|&p| p > 0.0) {
        (precisions.iter().map(|p| p.ln()).sum::<f64>() / MAX_ORDER as f64).exp()
    } else {
        0.0
    };
    let ratio = hypothesis_length as f64 / reference_length.max(1) as f64;
    let brevity_penalty = if ratio > 1.0 {
        1.0
    } else if ratio > 0.0 {
        (1.0 - 1.0 / ratio).exp()
    } else {
        0.0
    };
    Bleu {
        score: 100.0 * geo_mean * brevity_penalty,
        precisions,
        brevity_penalty,
        hypothesis_length,
        reference_length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn tokenizes_like_conala() {
        assert_eq!(
            tokenize_for_bleu_eval("df.sortValues(by=\"a_b\")"),
            ["df", ".", "sort", "Values", "(", "by", "=", "`", "a_b", "`", ")"]
        );
        assert_eq!(tokenize_for_bleu_eval("x  =  'HTTPServer'"), ["x", "=", "`", "HTTPServer", "`"]);
    }

    #[test]
    fn identical_corpus_scores_100() {
        let b = corpus_bleu(&[(toks("a b c d e"), toks("a b c d e"))]);
        assert!((b.score - 100.0).abs() < 1e-9);
    }

    #[test]
    fn hand_computed_case() {
        // hyp "a b c d x" vs ref "a b c d e f": p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2;
        // geo mean = (0.8·0.75·0.6667·0.5)^(1/4) = 0.2^(1/4) = 0.66874; ratio 5/6 → BP = e^(1-6/5) = 0.81873.
        let b = corpus_bleu(&[(toks("a b c d x"), toks("a b c d e f"))]);
        assert_eq!(b.precisions, [0.8, 0.75, 2.0 / 3.0, 0.5]);
        assert!((b.brevity_penalty - (-0.2f64).exp()).abs() < 1e-12);
        assert!((b.score - 100.0 * 0.2f64.powf(0.25) * (-0.2f64).exp()).abs() < 1e-9, "{}", b.score);
        assert!((b.score - 54.75).abs() < 0.01);
    }

    #[test]
    fn counts_are_clipped_and_pooled_over_the_corpus() {
        // "the the the" vs "the cat": p1 = 1/3 (clipped), no bigram matches → BLEU 0 without smoothing.
        assert_eq!(corpus_bleu(&[(toks("the the the"), toks("the cat"))]).score, 0.0);
        // Pooled: each pair alone has no 4-gram, together they do not either, but counts add up.
        let b = corpus_bleu(&[(toks("a b c d"), toks("a b c d")), (toks("x y"), toks("x z"))]);
        assert_eq!(b.precisions, [5.0 / 6.0, 3.0 / 4.0, 2.0 / 2.0, 1.0 / 1.0]);
    }

    #[test]
    fn empty_hypotheses_score_zero() {
        assert_eq!(corpus_bleu(&[(vec![], toks("a b"))]).score, 0.0);
        assert_eq!(corpus_bleu(&[]).score, 0.0);
    }
}
