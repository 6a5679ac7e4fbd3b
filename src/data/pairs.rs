//! A user's own prompt–code pairs (`nl2py prepare --pairs FILE`, `nl2py index --pairs FILE`):
//! JSON Lines, one object a line, or CSV with a header row, both with the fields
//!
//! - `prompt` and `code` (required, non-empty strings);
//! - `source` and `licence` (optional strings: where the pair comes from and under which licence
//!   it may be shown beside an answer; `license` is read too);
//! - `tests` (optional): Python statements run after the code (setup and `assert` lines) as one
//!   string or a list of strings, or doctest text (`>>> f(2)` then `4`), which becomes
//!   `assert f(2) == 4` as TheAlgorithms' doctests do.
//!
//! Other fields are ignored. Every record that cannot be a pair is counted and named with its
//! line and reason (no limit on how many are named): not JSON or not CSV, a missing field,
//! a field of the wrong type, tests that are not Python, code that Python's tokenizer rejects,
//! and a prompt or code longer than a model of the default shape reads or writes. Ids are
//! `line N` (the record's first line), each its own group.
//!
//! [`index_pairs`] adds them to a bundle's retrieval index without training (`nl2py index`).

use rustpython_ast::Ranged;
use rustpython_parser::{Mode, ast, parse};
use serde_json::Value;

use std::collections::HashSet;

use super::functions::{doctest_statement, doctests};
use super::{Attribution, RawPair, ReadOutcome};
use crate::retrieve::{Index, IndexSource, NewEntry};
use crate::text::vocab::{UNK_ID, Vocab};
use crate::text::{code, prompt};

/// The file formats of [`read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

/// Most prompt tokens a model of the default shape reads (`Seq2SeqConfig::max_prompt_len`).
pub const MAX_PROMPT_TOKENS: usize = 96;
/// Most code tokens a model of the default shape writes: its `max_code_len` less the `<eos>`.
/// Counted in Python's tokens: a vocabulary of subword pieces spells a long name or string in
/// several ids, and training leaves out (and counts) a pair whose ids are still too many.
pub const MAX_CODE_TOKENS: usize = 255;
/// A record longer than this is refused before it is parsed (a file that is no pairs file, or
/// one line holding a whole data set).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Reads a pairs file's text in `format`.
pub fn read(text: &str, format: Format) -> ReadOutcome {
    let mut outcome = ReadOutcome::default();
    // Editors on Windows open a UTF-8 file with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::JsonLines => read_json_lines(text, &mut outcome),
        Format::Csv => read_csv(text, &mut outcome),
    }
    outcome
}

/// Names a bad record; unlike the data sets' readers, every one is named.
fn bad(outcome: &mut ReadOutcome, line: usize, why: impl std::fmt::Display) {
    outcome.malformed += 1;
    outcome.problems.push(format!("line {line}: {why}"));
}

fn read_json_lines(text: &str, outcome: &mut ReadOutcome) {
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        outcome.read += 1;
        let line_no = n + 1;
        if line.len() > MAX_RECORD_BYTES {
            bad(
                outcome,
                line_no,
                format!("{} bytes, over the {MAX_RECORD_BYTES} a record may hold", line.len()),
            );
            continue;
        }
        let record = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(record)) => record,
            Ok(_) => {
                bad(outcome, line_no, "not a JSON object (expected {\"prompt\": …, \"code\": …})");
                continue;
            }
            Err(e) => {
                bad(outcome, line_no, format!("not JSON ({e})"));
                continue;
            }
        };
        let string = |name: &str| -> Result<Option<String>, String> {
            match record.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) => Ok(Some(text.clone())),
                Some(_) => Err(format!("`{name}` must be a string")),
            }
        };
        let tests = || -> Result<Vec<String>, String> {
            let wrong = || "`tests` must be a string or a list of strings".to_string();
            match record.get("tests") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(text)) => Ok(vec![text.clone()]),
                Some(Value::Array(items)) => {
                    items.iter().map(|item| item.as_str().map(str::to_string).ok_or_else(wrong)).collect()
                }
                Some(_) => Err(wrong()),
            }
        };
        let fields = (|| {
            Ok::<_, String>(Fields {
                prompt: string("prompt")?,
                code: string("code")?,
                source: string("source")?,
                licence: match string("licence")? {
                    Some(licence) => Some(licence),
                    None => string("license")?,
                },
                tests: tests()?,
            })
        })();
        match fields.and_then(|fields| fields.into_pair(line_no)) {
            Ok(pair) => outcome.pairs.push(pair),
            Err(why) => bad(outcome, line_no, why),
        }
    }
}

fn read_csv(text: &str, outcome: &mut ReadOutcome) {
    if text.trim().is_empty() {
        outcome.read = 1;
        bad(outcome, 1, "an empty file: no CSV header row");
        return;
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = match reader.headers() {
        Ok(header) => header.clone(),
        Err(e) => {
            outcome.read = 1;
            bad(outcome, 1, format!("not a CSV header ({e})"));
            return;
        }
    };
    let column = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(prompt_at), Some(code_at)) = (column("prompt"), column("code")) else {
        outcome.read = 1;
        let names: Vec<&str> = header.iter().collect();
        bad(outcome, 1, format!("the header must name a `prompt` and a `code` column; it names {names:?}"));
        return;
    };
    let (source_at, tests_at) = (column("source"), column("tests"));
    let licence_at = column("licence").or_else(|| column("license"));
    for record in reader.records() {
        outcome.read += 1;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(1, |p| line_at(text, p.byte() as usize));
                bad(outcome, line, format!("not CSV ({e})"));
                continue;
            }
        };
        let line_no = record.position().map_or(1, |p| line_at(text, p.byte() as usize));
        if record.as_byte_record().as_slice().len() > MAX_RECORD_BYTES {
            bad(outcome, line_no, format!("over the {MAX_RECORD_BYTES} bytes a record may hold"));
            continue;
        }
        if record.len() != header.len() {
            bad(outcome, line_no, format!("{} fields where the header names {}", record.len(), header.len()));
            continue;
        }
        let cell = |at: Option<usize>| at.and_then(|at| record.get(at)).map(str::to_string);
        let fields = Fields {
            prompt: cell(Some(prompt_at)),
            code: cell(Some(code_at)),
            source: cell(source_at),
            licence: cell(licence_at),
            tests: cell(tests_at).into_iter().collect(),
        };
        match fields.into_pair(line_no) {
            Ok(pair) => outcome.pairs.push(pair),
            Err(why) => bad(outcome, line_no, why),
        }
    }
}

/// The line of `text` on which the record at byte `at` starts: counted here, because the csv
/// crate's own line numbers run one short in files with `\r\n` line ends and give a record
/// after a blank line the blank line's number. Line ends at `at` are skipped first.
fn line_at(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = at.min(bytes.len());
    while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
        at += 1;
    }
    1 + bytes[..at].iter().filter(|&&b| b == b'\n').count()
}

/// A record's fields, before they are checked.
struct Fields {
    prompt: Option<String>,
    code: Option<String>,
    source: Option<String>,
    licence: Option<String>,
    /// The `tests` field's texts: one for a string, one an item for a list.
    tests: Vec<String>,
}

impl Fields {
    /// The pair of the record on `line`, or why the record is none.
    fn into_pair(self, line: usize) -> Result<RawPair, String> {
        let non_empty = |text: Option<String>, name: &str| match text {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(format!("no `{name}` (a non-empty string)")),
        };
        let prompt = non_empty(self.prompt, "prompt")?;
        let code = non_empty(self.code, "code")?;
        let tokens =
            code::tokenize(&code).map_err(|e| format!("Python's tokenizer rejects the code ({e})"))?;
        if tokens.is_empty() {
            return Err("no code once comments are left out".into());
        }
        if tokens.len() > MAX_CODE_TOKENS {
            return Err(format!(
                "the code has {} Python tokens, over the {MAX_CODE_TOKENS} a model writes",
                tokens.len()
            ));
        }
        let words = prompt::tokenize(&prompt).tokens.len();
        if words > MAX_PROMPT_TOKENS {
            return Err(format!("the prompt has {words} tokens, over the {MAX_PROMPT_TOKENS} a model reads"));
        }
        let mut tests = Vec::new();
        for text in &self.tests {
            tests.extend(tests_of(text)?);
        }
        let present = |text: Option<String>| text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        let attribution = Attribution { source: present(self.source), licence: present(self.licence) };
        Ok(RawPair {
            tests,
            attribution: Some(attribution),
            ..RawPair::alone(format!("line {line}"), prompt, code)
        })
    }
}

/// A `tests` text as test statements: doctests when it holds a `>>>` line, else Python
/// statements, one a top-level statement.
fn tests_of(text: &str) -> Result<Vec<String>, String> {
    if text.lines().any(|line| line.trim_start().starts_with(">>>")) {
        // Doctests alone: a statement before the first `>>>` would be skipped by the doctest
        // reader, and a `>>>` without its space is no doctest.
        let first = text.lines().find(|line| !line.trim().is_empty()).unwrap_or_default().trim_start();
        let found = doctests(text);
        if !(first.starts_with(">>> ") || first == ">>>") || found.is_empty() {
            return Err("`tests` mixes doctests with other lines: write every statement as `>>> statement` \
                        (a space after `>>>`), each followed by its expected output, if any"
                .into());
        }
        let mut tests = Vec::new();
        for doctest in &found {
            let statement = doctest_statement(doctest, false)
                .map_err(|why| format!("`tests`: {why} ({:?})", doctest.source))?;
            tests.extend(statements(&statement)?);
        }
        return Ok(tests);
    }
    statements(text)
}

/// Python text as its top-level statements.
fn statements(text: &str) -> Result<Vec<String>, String> {
    let module = parse(text, Mode::Module, "<tests>").map_err(|e| format!("`tests` is not Python ({e})"))?;
    let ast::Mod::Module(module) = module else { return Err("`tests` is not a module".into()) };
    Ok(module
        .body
        .iter()
        .map(|statement| {
            let range = statement.range();
            text[usize::from(range.start())..usize::from(range.end())].to_string()
        })
        .collect())
}

/// What [`index_pairs`] did with a file's pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indexed {
    pub added: usize,
    /// Pairs whose prompt and code the index already held.
    pub already: usize,
    /// Ids of the pairs left out for want of a licence.
    pub unlicensed: Vec<String>,
    /// Code ids of the added pairs, and how many of them are `<unk>` (tokens the model's
    /// vocabulary lacks: the model reads them as unknown, the page shows the code as written).
    pub code_ids: usize,
    pub unknown_ids: usize,
}

/// Adds a file's pairs to `index` as `nl2py prepare` would have indexed them: the prompt
/// tokenized as the model reads prompts (`tokenize_prompt`), the code as code-vocabulary ids
/// with the prompt's slots abstracted. Each pair is shown with its record's source (else
/// `file`) and licence (else `licence`); a pair with neither licence is left out and named.
pub fn index_pairs(
    index: &mut Index,
    pairs: &[RawPair],
    file: &str,
    licence: Option<&str>,
    tokenize_prompt: impl Fn(&str) -> prompt::Prompt,
    code_vocab: &Vocab,
) -> Indexed {
    let mut indexed = Indexed::default();
    let mut held: HashSet<(String, String)> =
        (0..index.len()).map(|at| index.entry(at)).map(|e| (e.prompt.clone(), e.code.clone())).collect();
    for pair in pairs {
        let own = pair.attribution.clone().unwrap_or_default();
        let Some(licence) = own.licence.as_deref().or(licence) else {
            indexed.unlicensed.push(pair.id.clone());
            continue;
        };
        if !held.insert((pair.prompt.clone(), pair.code.clone())) {
            indexed.already += 1;
            continue;
        }
        let name = own.source.as_deref().unwrap_or(file);
        let source = match index.sources.iter().position(|s| s.name == name && s.licence == licence) {
            Some(at) => at,
            None => {
                index.sources.push(IndexSource { name: name.to_string(), licence: licence.to_string() });
                index.sources.len() - 1
            }
        };
        let prompt = tokenize_prompt(&pair.prompt);
        // The reader checked that the code tokenizes.
        let tokens = code::tokenize(&pair.code).unwrap_or_default();
        let code_ids: Vec<u32> = code_vocab
            .encode_code(&prompt.slots.abstract_code(&tokens))
            .into_iter()
            .map(|id| id as u32)
            .collect();
        indexed.code_ids += code_ids.len();
        indexed.unknown_ids += code_ids.iter().filter(|&&id| id as usize == UNK_ID).count();
        index.push(NewEntry {
            source,
            prompt: &pair.prompt,
            code: &pair.code,
            prompt_tokens: &prompt.tokens,
            code_ids,
        });
        indexed.added += 1;
    }
    indexed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::count_asserts;

    #[test]
    fn json_lines_become_pairs_and_every_bad_line_is_named() {
        let text = [
            r#"{"prompt": "add one", "code": "def inc(x):\n    return x + 1\n", "licence": "CC0-1.0", "tests": ">>> inc(1)\n2"}"#,
            "",
            r#"{"prompt": "no code"}"#,
            r#"{"prompt": "bad", "code": "x = (1"}"#,
            "not json at all",
            r#"["a", "b"]"#,
            r#"{"prompt": "p", "code": "x = 1", "tests": 3}"#,
            r#"{"prompt": "p", "code": "x = 1", "tests": "assert x ==", "source": "wiki"}"#,
            r#"{"prompt": 7, "code": "x = 1"}"#,
            r#"{"prompt": "two", "code": "y = 2", "tests": ["z = y", "assert z == 2"], "source": "wiki"}"#,
            r#"{"prompt": "truncated", "code": "x ="#,
        ]
        .join("\n");
        let out = read(&text, Format::JsonLines);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (10, 8, 2));
        let lines: Vec<&str> = out.problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(lines, ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 11"]);
        assert!(out.problems[0].contains("no `code`"), "{}", out.problems[0]);
        assert!(out.problems[1].contains("tokenizer rejects"), "{}", out.problems[1]);
        assert!(out.problems[2].contains("not JSON"), "{}", out.problems[2]);
        assert!(out.problems[3].contains("not a JSON object"), "{}", out.problems[3]);
        assert!(out.problems[4].contains("`tests` must be"), "{}", out.problems[4]);
        assert!(out.problems[5].contains("not Python"), "{}", out.problems[5]);
        assert!(out.problems[6].contains("`prompt` must be a string"), "{}", out.problems[6]);
        let first = &out.pairs[0];
        assert_eq!((first.id.as_str(), first.group.as_str()), ("line 1", "line 1"));
        assert_eq!(first.tests, ["assert inc(1) == 2"]);
        assert_eq!(first.attribution, Some(Attribution { source: None, licence: Some("CC0-1.0".into()) }));
        let second = &out.pairs[1];
        assert_eq!(second.id, "line 10");
        assert_eq!(second.tests, ["z = y", "assert z == 2"]);
        assert_eq!(count_asserts(&second.tests), 1);
        assert_eq!(second.attribution.as_ref().unwrap().source.as_deref(), Some("wiki"));
    }

    #[test]
    fn csv_reads_by_header_with_quoted_lines() {
        let text = "prompt,code,license,tests\n\
                    \"square a number\",\"def sq(x):\n    return x * x\n\",MIT,\"assert sq(3) == 9\"\n\
                    only one field\n\
                    ,x = 1,MIT,\n\
                    \"p\",\"y = 2\",,\n";
        let out = read(text, Format::Csv);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (4, 2, 2), "{:?}", out.problems);
        assert_eq!(out.pairs[0].code, "def sq(x):\n    return x * x\n");
        assert_eq!(out.pairs[0].tests, ["assert sq(3) == 9"]);
        assert_eq!(out.pairs[0].attribution.as_ref().unwrap().licence.as_deref(), Some("MIT"));
        assert_eq!(out.pairs[1].id, "line 7", "a record's line counts the lines inside its quotes");
        assert_eq!(out.pairs[1].attribution, Some(Attribution::default()));
        assert!(out.problems[0].starts_with("line 5: 1 fields"), "{}", out.problems[0]);
        assert!(out.problems[1].starts_with("line 6: no `prompt`"), "{}", out.problems[1]);

        let out = read("question,answer\na,b\n", Format::Csv);
        assert_eq!((out.read, out.malformed, out.pairs.len()), (1, 1, 0));
        assert!(out.problems[0].contains("must name a `prompt` and a `code` column"), "{}", out.problems[0]);
    }

    #[test]
    fn crlf_csv_and_a_byte_order_mark_keep_their_line_numbers() {
        let text = "\u{feff}prompt,code\r\n\r\n\"p\",\"x = 1\"\r\nbad\r\n\"q\",\"y = (\"\r\n";
        let out = read(text, Format::Csv);
        assert_eq!(out.pairs.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["line 3"]);
        let lines: Vec<&str> = out.problems.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(lines, ["line 4", "line 5"], "{:?}", out.problems);

        let out = read("\u{feff}{\"prompt\": \"p\", \"code\": \"x = 1\"}\n", Format::JsonLines);
        assert_eq!((out.pairs.len(), out.malformed), (1, 0), "{:?}", out.problems);
    }

    #[test]
    fn doctests_alone_or_statements_alone() {
        let record = |tests: &str| serde_json::json!({"prompt": "p", "code": "def f(x):\n    return x\n", "tests": tests});
        let read_one = |tests: &str| read(&record(tests).to_string(), Format::JsonLines);
        let out = read_one(">>> y = f(2)\n>>> f(y)\n2\n");
        assert_eq!(out.pairs[0].tests, ["y = f(2)", "assert f(y) == 2"]);
        for mixed in ["import os\n>>> f(1)\n1", ">>>f(1)\n1", ">>> f(1\n1"] {
            let out = read_one(mixed);
            assert_eq!(out.malformed, 1, "{mixed:?} is refused");
            assert!(out.problems[0].contains("`tests`"), "{}", out.problems[0]);
        }
    }

    #[test]
    fn lengths_past_the_model_are_named_and_huge_lines_refused_unparsed() {
        let long_code = format!("x = [{}]", vec!["1"; 200].join(", "));
        let long_prompt = vec!["word"; 100].join(" ");
        let huge = format!("{{\"prompt\": \"p\", \"code\": \"{}\"}}", "a".repeat(MAX_RECORD_BYTES));
        let text = [
            serde_json::json!({"prompt": "p", "code": long_code}).to_string(),
            serde_json::json!({"prompt": long_prompt, "code": "x = 1"}).to_string(),
            huge,
        ]
        .join("\n");
        let out = read(&text, Format::JsonLines);
        assert_eq!(out.malformed, 3);
        assert!(out.problems[0].contains("over the 255 a model writes"), "{}", out.problems[0]);
        assert!(out.problems[1].contains("over the 96 a model reads"), "{}", out.problems[1]);
        assert!(out.problems[2].contains("a record may hold"), "{}", out.problems[2]);
    }

    #[test]
    fn the_limits_are_the_default_models() {
        let config = crate::model::Seq2SeqConfig::new(1, 1);
        assert_eq!(MAX_PROMPT_TOKENS, config.max_prompt_len);
        assert_eq!(MAX_CODE_TOKENS, config.max_code_len - 1);
    }

    #[test]
    fn pairs_are_indexed_once_with_their_licence_and_found() {
        let text = [
            r#"{"prompt": "zip the folder `src` into an archive", "code": "import shutil\nshutil.make_archive('out', 'zip', src)\n", "source": "team wiki"}"#,
            r#"{"prompt": "read a gzip file", "code": "import gzip\ndata = gzip.open('a.gz').read()\n", "licence": "MIT"}"#,
        ]
        .join("\n");
        let pairs = read(&text, Format::JsonLines).pairs;
        let code_vocab =
            Vocab::build(&[("import".to_string(), 3), ("shutil".to_string(), 3)].into_iter().collect(), 1);
        let mut index = Index::new(Vec::new(), 2, 64);
        let tokenize = |text: &str| prompt::tokenize(text);
        let indexed = index_pairs(&mut index, &pairs, "mine.jsonl", None, tokenize, &code_vocab);
        assert_eq!((indexed.added, indexed.unlicensed.as_slice()), (1, &["line 1".to_string()][..]));
        let indexed = index_pairs(&mut index, &pairs, "mine.jsonl", Some("CC0-1.0"), tokenize, &code_vocab);
        assert_eq!((indexed.added, indexed.already), (1, 1), "the gzip pair was indexed before");
        assert!(indexed.unknown_ids > 0 && indexed.unknown_ids < indexed.code_ids);
        let names: Vec<(&str, &str)> =
            index.sources.iter().map(|s| (s.name.as_str(), s.licence.as_str())).collect();
        assert_eq!(names, [("mine.jsonl", "MIT"), ("team wiki", "CC0-1.0")]);
        let hits = index.search(&prompt::tokenize("zip the folder `build`").tokens, 1, |_| false);
        assert_eq!(index.entry(hits[0].entry).prompt, "zip the folder `src` into an archive");
        let var = prompt::tokenize("zip the folder `src` into an archive").slots.0[0].token.clone();
        let ids = &index.entry(hits[0].entry).code_ids;
        assert!(ids.contains(&(code_vocab.id(&var) as u32)), "the slot's name is abstracted");
    }

    #[test]
    fn a_doctest_that_raises_names_its_record() {
        let text = r#"{"prompt": "p", "code": "def f(x):\n    return 1 / x\n", "tests": ">>> f(0)\nTraceback (most recent call last):\nZeroDivisionError"}"#;
        let out = read(text, Format::JsonLines);
        assert_eq!(out.malformed, 1);
        assert!(out.problems[0].starts_with("line 1: `tests`: doctests that raise"), "{}", out.problems[0]);
    }
}
