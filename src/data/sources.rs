//! CoNaLa's JSON array, the JSONL pair files (`intent`, `snippet`, optional `question_id`, and
//! `prob` in CoNaLa's mined file), Django's line-aligned `.anno`/`.code` pair and sanitized
//! MBPP's JSON array. A record that is not an object with a non-empty prompt and non-empty code
//! is counted as malformed and skipped.

use serde_json::Value;

use super::{RawPair, ReadOutcome};

/// CoNaLa curated JSON: the prompt is `rewritten_intent`, or `intent` where that is null.
pub fn read_conala_json(text: &str) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    let Some(records) = json_array(text, &mut outcome) else { return outcome };
    for (n, record) in records.iter().enumerate() {
        outcome.read += 1;
        let prompt = non_empty(record, "rewritten_intent").or_else(|| non_empty(record, "intent"));
        match (prompt, non_empty(record, "snippet")) {
            (Some(prompt), Some(code)) => {
                let group = question_id(record).unwrap_or_else(|| format!("record {n}"));
                outcome.pairs.push(RawPair {
                    id: format!("q{group}#{n}"),
                    group,
                    prompt,
                    code,
                    tests: Vec::new(),
                    attribution: None,
                });
            }
            _ => outcome.malformed(format!("record {n}: needs a non-empty intent and snippet")),
        }
    }
    outcome
}

/// One JSON object a line with `intent` and `snippet`; blank lines are skipped.
pub fn read_jsonl(text: &str) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        outcome.read += 1;
        let line_no = n + 1;
        let record: Value = match serde_json::from_str(line) {
            Ok(record) => record,
            Err(e) => {
                outcome.malformed(format!("line {line_no}: bad JSON ({e})"));
                continue;
            }
        };
        match (non_empty(&record, "intent"), non_empty(&record, "snippet")) {
            (Some(prompt), Some(code)) => {
                let id = question_id(&record).map_or_else(|| format!("line {line_no}"), |q| format!("q{q}"));
                outcome.pairs.push(RawPair::alone(id, prompt, code));
            }
            _ => outcome.malformed(format!("line {line_no}: needs a non-empty intent and snippet")),
        }
    }
    outcome
}

/// Django (Oda et al. 2015): line `n` of the English file describes line `n` of the code file.
/// Code lines are often fragments (`else:`, a line inside a bracket); the tokenizer decides.
pub fn read_django(anno: &str, code: &str) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    let mut code_lines = code.lines();
    for (n, prompt) in anno.lines().enumerate() {
        outcome.read += 1;
        match (prompt.trim(), code_lines.next().map(str::trim)) {
            (_, None) => outcome.malformed(format!("line {}: the code file has fewer lines", n + 1)),
            (prompt, Some(code)) if !prompt.is_empty() && !code.is_empty() => {
                let id = format!("line {}", n + 1);
                outcome.pairs.push(RawPair::alone(id, prompt.into(), code.into()));
            }
            _ => outcome.malformed(format!("line {}: an empty prompt or code line", n + 1)),
        }
    }
    let extra = code_lines.count();
    if extra > 0 {
        outcome.read += extra;
        outcome.malformed(format!("the code file has {extra} more lines than the English file"));
        outcome.malformed += extra - 1;
    }
    outcome
}

/// MBPP's test problems (task ids 11–510) are never trained on: they are not read here.
pub const MBPP_TEST_IDS: std::ops::RangeInclusive<u64> = 11..=510;

/// Sanitized MBPP (`task_id`, `prompt`, `code`): the problems outside [`MBPP_TEST_IDS`].
pub fn read_mbpp(text: &str) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    let Some(records) = json_array(text, &mut outcome) else { return outcome };
    for (n, record) in records.iter().enumerate() {
        let task = record.get("task_id").and_then(Value::as_u64);
        if task.is_some_and(|t| MBPP_TEST_IDS.contains(&t)) {
            continue;
        }
        outcome.read += 1;
        match (task, non_empty(record, "prompt"), non_empty(record, "code")) {
            (Some(task), Some(prompt), Some(code)) => {
                let id = format!("task {task}");
                outcome.pairs.push(RawPair::alone(id, prompt, code));
            }
            _ => outcome.malformed(format!("record {n}: needs a task_id, a prompt and code")),
        }
    }
    outcome
}

/// The records of a file that holds one JSON array; a file that does not is one malformed record.
fn json_array(text: &str, outcome: &mut ReadOutcome) -> Option<Vec<Value>> {
    match serde_json::from_str(text) {
        Ok(records) => Some(records),
        Err(e) => {
            outcome.read = 1;
            outcome.malformed(format!("the file is not a JSON array: {e}"));
            None
        }
    }
}

fn non_empty(record: &Value, field: &str) -> Option<String> {
    record.get(field)?.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string)
}

fn question_id(record: &Value) -> Option<String> {
    match record.get("question_id")? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conala_prefers_the_rewritten_intent() {
        let text = r#"[
            {"intent": "raw", "rewritten_intent": "better", "snippet": "x", "question_id": 7},
            {"intent": "only raw", "rewritten_intent": null, "snippet": "y", "question_id": 7},
            {"intent": "no code", "rewritten_intent": null, "snippet": ""},
            "not an object"
        ]"#;
        let out = read_conala_json(text);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (4, 2, 2));
        assert_eq!(out.pairs[0].prompt, "better");
        assert_eq!(out.pairs[1].prompt, "only raw");
        assert_eq!(out.pairs[1].group, "7");
    }

    #[test]
    fn django_pairs_lines_and_counts_the_odd_ones() {
        let out = read_django("import module os.\n\nelse.\nextra\n", " import os\nx = 1\n else :\n");
        assert_eq!((out.read, out.malformed, out.pairs.len()), (4, 2, 2));
        assert_eq!((out.pairs[1].prompt.as_str(), out.pairs[1].code.as_str()), ("else.", "else :"));
        assert_eq!(read_django("a\n", "x\ny\nz\n").malformed, 2);
    }

    #[test]
    fn mbpp_test_problems_are_never_read() {
        let text = r#"[{"task_id": 2, "prompt": "p", "code": "c"}, {"task_id": 11, "prompt": "t", "code": "c"},
            {"task_id": 510, "prompt": "t", "code": "c"}, {"task_id": 601, "prompt": "q", "code": "d"}, {"task_id": 700}]"#;
        let out = read_mbpp(text);
        assert_eq!((out.read, out.malformed), (3, 1));
        assert_eq!(out.pairs.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["task 2", "task 601"]);
    }

    #[test]
    fn a_broken_json_file_is_one_malformed_record() {
        let out = read_conala_json("[{\"intent\": ");
        assert_eq!((out.read, out.malformed, out.pairs.len()), (1, 1, 0));
        assert!(out.problems[0].contains("not a JSON array"));
    }

    #[test]
    fn jsonl_counts_bad_lines_and_keeps_going() {
        let text = "{\"intent\": \"a\", \"snippet\": \"b\", \"question_id\": 3}\n\n{oops\n{\"intent\": \"c\"}\n{\"intent\": \"d\", \"snippet\": \"e\", \"prob\": 0.5}\n";
        let out = read_jsonl(text);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (4, 2, 2));
        assert_eq!(out.pairs[0].id, "q3");
        assert_eq!(out.pairs[1].id, "line 5");
        assert!(out.problems[0].starts_with("line 3: bad JSON"));
    }
}
