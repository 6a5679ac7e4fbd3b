//! ROUGE-L F1 (β = 1) from the longest common subsequence of two token lists.

/// ROUGE-L F1 of one hypothesis against one reference, in [0, 1].
pub fn rouge_l_f1(hypothesis: &[String], reference: &[String]) -> f64 {
    if hypothesis.is_empty() || reference.is_empty() {
        return 0.0;
    }
    // One row of the LCS table at a time: prev[j] = LCS(hyp[..i], ref[..j]).
    let mut prev = vec![0usize; reference.len() + 1];
    for h in hypothesis {
        let mut row = vec![0usize; reference.len() + 1];
        for (j, r) in reference.iter().enumerate() {
            row[j + 1] = if h == r { prev[j] + 1 } else { row[j].max(prev[j + 1]) };
        }
        prev = row;
    }
    let lcs = prev[reference.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (precision, recall) = (lcs / hypothesis.len() as f64, lcs / reference.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn hand_computed_cases() {
        assert_eq!(rouge_l_f1(&toks("a b c"), &toks("a b c")), 1.0);
        // LCS("a x b y", "a b c") = "a b" = 2; P = 2/4, R = 2/3, F = 2·(1/2)(2/3)/(1/2 + 2/3) = 4/7.
        assert!((rouge_l_f1(&toks("a x b y"), &toks("a b c")) - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(rouge_l_f1(&toks("x"), &toks("a")), 0.0);
        assert_eq!(rouge_l_f1(&[], &toks("a")), 0.0);
    }
}
