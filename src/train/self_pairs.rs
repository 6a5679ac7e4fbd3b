//! Expert iteration's data: a model's own answers to training prompts that earned a reward (the
//! CLI runs them in its sandbox: same output as the reference) become training pairs beside the
//! references. Fine-tuning on
//! them is one policy-improvement step with a 0/1 reward, taken offline: sample, keep what is
//! rewarded, train on it.

use std::collections::HashSet;

use crate::data::prepare::Example;
use crate::decode::Generation;

/// What the data file of a pair made from a model's answer starts with, before its prompt's
/// source (`--repeat self=N` weighs them, and `english_python` no longer matches them).
pub const SELF_SOURCE: &str = "self-";

/// The answers to `example`'s prompt worth running: each new program once (not the reference,
/// not an answer seen before), and not empty.
pub fn worth_running<'a>(example: &Example, answers: &'a [Generation]) -> Vec<&'a Generation> {
    let mut seen = HashSet::from([example.code_tokens.as_slice()]);
    answers
        .iter()
        .filter(|answer| !answer.code.trim().is_empty() && seen.insert(answer.output_tokens.as_slice()))
        .collect()
}

/// A training pair of `example`'s prompt (its tokens, slots and retrieved neighbours as they
/// are) and the model's `answer`; `n` tells an example's answers apart. It stays in its
/// example's group, so that it never retrieves its own prompt's pairs.
pub fn self_pair(example: &Example, answer: &Generation, n: usize) -> Example {
    Example {
        source: format!("{SELF_SOURCE}{}", example.source),
        id: format!("{}#self{n}", example.id),
        prompt: example.prompt.clone(),
        snippet: answer.code.clone(),
        prompt_tokens: example.prompt_tokens.clone(),
        code_tokens: answer.output_tokens.clone(),
        slots: example.slots.clone(),
        retrieved: example.retrieved.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::prompt::Slots;

    fn tokens(text: &str) -> Vec<String> {
        text.split(' ').map(String::from).collect()
    }

    fn example() -> Example {
        Example {
            source: "english_python_data.txt".into(),
            id: "line 8".into(),
            prompt: "write a function to add two numbers".into(),
            snippet: "def add(a, b):\n    return a + b\n".into(),
            prompt_tokens: tokens("write a function to add two numbers"),
            code_tokens: tokens("def add ( a , b ) : <newline> <indent> return a + b"),
            slots: Slots::default(),
            retrieved: vec![7, 3],
        }
    }

    fn answer(code: &str, output_tokens: &str) -> Generation {
        Generation {
            code: code.into(),
            prompt_tokens: Vec::new(),
            slots: Slots::default(),
            output_tokens: tokens(output_tokens),
            ids: Vec::new(),
            tokens: Vec::new(),
            score: 0.0,
            truncated: false,
            cut_to_parse: false,
            attention: None,
            examples: Vec::new(),
        }
    }

    #[test]
    fn only_new_answers_are_worth_running() {
        let answers = [
            // The reference itself.
            answer(
                "def add(a, b):\n    return a + b\n",
                "def add ( a , b ) : <newline> <indent> return a + b",
            ),
            answer(
                "def add(x, y):\n    return x + y\n",
                "def add ( x , y ) : <newline> <indent> return x + y",
            ),
            // The same answer again.
            answer(
                "def add(x, y):\n    return x + y\n",
                "def add ( x , y ) : <newline> <indent> return x + y",
            ),
            answer("print(add(1, 2))\n", "print ( add ( 1 , 2 ) )"),
            answer("  \n", ""),
        ];
        let kept: Vec<&str> = worth_running(&example(), &answers).iter().map(|a| a.code.as_str()).collect();
        assert_eq!(kept, ["def add(x, y):\n    return x + y\n", "print(add(1, 2))\n"]);
    }

    #[test]
    fn a_self_pair_keeps_its_prompt_and_neighbours_under_its_own_source() {
        let pair =
            self_pair(&example(), &answer("def add(x, y):\n    return x + y\n", "def add ( x , y )"), 2);
        assert_eq!(pair.source, "self-english_python_data.txt");
        assert_eq!(pair.id, "line 8#self2");
        assert_eq!(pair.code_tokens, tokens("def add ( x , y )"));
        assert_eq!(pair.snippet, "def add(x, y):\n    return x + y\n");
        assert_eq!((pair.prompt_tokens, pair.retrieved), (example().prompt_tokens, example().retrieved));
        let weights = crate::train::TrainingConfig::new(crate::model::Seq2SeqConfig::new(10, 10))
            .with_repeat(vec![("english_python".into(), 2), ("self".into(), 3)]);
        assert_eq!(weights.repeats(&pair.source), 3);
    }
}
