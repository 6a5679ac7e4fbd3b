//! CoNaLa's JSON array and the JSONL pair files (`intent`, `snippet`, optional `question_id`,
//! and `prob` in CoNaLa's mined file). A record that is not an object with a non-empty prompt
//! and non-empty code is counted as malformed and skipped.

use serde_json::Value;

use super::{RawPair, ReadOutcome};

/// CoNaLa curated JSON: the prompt is `rewritten_intent`, or `intent` where that is null.
pub fn read_conala_json(text: &str) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    let records: Vec<Value> = match serde_json::from_str(text) {
        Ok(records) => records,
        Err(e) => {
            outcome.read = 1;
            outcome.malformed(format!("the file is not a JSON array: {e}"));
            return outcome;
        }
    };
    for (n, record) in records.iter().enumerate() {
        outcome.read += 1;
        let prompt = non_empty(record, "rewritten_intent").or_else(|| non_empty(record, "intent"));
        match (prompt, non_empty(record, "snippet")) {
            (Some(prompt), Some(code)) => {
                let group = question_id(record).unwrap_or_else(|| format!("record {n}"));
                outcome.pairs.push(RawPair { id: format!("q{group}#{n}"), group, prompt, code });
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
                outcome.pairs.push(RawPair { group: id.clone(), id, prompt, code });
            }
            _ => outcome.malformed(format!("line {line_no}: needs a non-empty intent and snippet")),
        }
    }
    outcome
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
