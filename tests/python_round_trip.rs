//! The tokenizer's contract, checked against CPython's own `tokenize` as the oracle: for every
//! snippet Python accepts, `detokenize(tokenize(code))` has the same token stream as the code
//! (comments, layout and docstrings aside), and we reject exactly what Python rejects.
//! Runs over the tricky fixtures, and over every snippet of the data sets (the folder
//! `nl2py::data::data_dir` finds), which must be there.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nl2py::data::{SourceKind, data_dir};
use nl2py::text::code;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Default)]
struct Tally {
    snippets: usize,
    python_accepts: usize,
    equal: usize,
    failures: Vec<String>,
}

/// The interpreter whose `tokenize` is the oracle: `python3`, or `NL2PY_ORACLE_PYTHON`, checked
/// to be 3.8 to 3.11. Python 3.12 rewrote `tokenize` on the C tokenizer (PEP 701): f-strings
/// come apart into FSTRING_START/MIDDLE/END and bad input raises instead of giving an
/// ERRORTOKEN, so its verdicts are not the ones the oracle compares against.
fn oracle_python() -> String {
    let python = std::env::var("NL2PY_ORACLE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap_or_else(|e| panic!("{python} is needed as the tokenizer oracle: {e}"));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let minor = version.strip_prefix("3.").and_then(|m| m.parse::<u32>().ok());
    assert!(
        out.status.success() && matches!(minor, Some(8..=11)),
        "the tokenizer oracle needs Python 3.8 to 3.11 (tokenize changed in 3.12), but {python} is \
         {version:?}: set NL2PY_ORACLE_PYTHON to such an interpreter"
    );
    python
}

/// Runs every (id, code) through our tokenizer and printer and through the Python oracle.
fn check(snippets: &[(String, String)]) -> Tally {
    let mut child = Command::new(oracle_python())
        .arg(root().join("tests/oracle/py_tokens.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed as the tokenizer oracle");
    let mut ours = HashMap::new();
    let mut records = Vec::new();
    for (id, src) in snippets {
        let round = code::tokenize(src).ok().map(|tokens| code::detokenize(&tokens));
        assert!(ours.insert(id.clone(), round.is_some()).is_none(), "two snippets are named {id}");
        records.push(json!({"id": id, "original": src, "roundtrip": round}).to_string());
    }
    // Written from a thread: the oracle answers while it reads, and both pipes must keep moving.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for record in records {
            writeln!(stdin, "{record}").unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "the oracle failed");
    let mut tally = Tally { snippets: snippets.len(), ..Default::default() };
    // A snippet the oracle skips, or answers twice, would otherwise leave the tally unmoved.
    let mut answered = BTreeSet::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let id = r["id"].as_str().unwrap().to_string();
        let we_accept = *ours.get(&id).unwrap_or_else(|| panic!("the oracle answered for {id}, never asked"));
        assert!(answered.insert(id.clone()), "the oracle answered twice for {id}");
        let python_accepts = r["python_accepts"].as_bool().unwrap();
        let detail = r["first_difference"].as_str().unwrap_or("").to_string();
        if python_accepts {
            tally.python_accepts += 1;
            if r["equal"].as_bool().unwrap() {
                tally.equal += 1;
            } else if we_accept {
                tally.failures.push(format!("{id}: round trip differs {detail}"));
            } else {
                tally.failures.push(format!("{id}: Python accepts, we reject"));
            }
        } else if we_accept {
            tally.failures.push(format!("{id}: Python rejects ({detail}), we accept"));
        }
    }
    let unanswered: Vec<&String> = ours.keys().filter(|id| !answered.contains(*id)).collect();
    assert!(
        unanswered.is_empty(),
        "no verdict from the oracle for {} snippets, first {:?}",
        unanswered.len(),
        unanswered.first()
    );
    tally
}

fn report(name: &str, tally: &Tally) {
    println!(
        "{name}: {} snippets, Python accepts {}, round trip exact {} ({:.2} %), failures {}",
        tally.snippets,
        tally.python_accepts,
        tally.equal,
        100.0 * tally.equal as f64 / tally.python_accepts.max(1) as f64,
        tally.failures.len()
    );
    for f in tally.failures.iter().take(20) {
        println!("  {f}");
    }
}

#[test]
fn tricky_fixtures_round_trip() {
    let text = std::fs::read_to_string(root().join("tests/fixtures/tricky_snippets.jsonl")).unwrap();
    let snippets: Vec<(String, String)> = text
        .lines()
        .enumerate()
        .map(|(n, l)| {
            (
                format!("fixture {}", n + 1),
                serde_json::from_str::<Value>(l).unwrap()["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let tally = check(&snippets);
    report("fixtures", &tally);
    assert!(tally.python_accepts > 0 && tally.python_accepts < tally.snippets, "fixtures hold both kinds");
    assert!(tally.failures.is_empty(), "{:?}", tally.failures);
}

#[test]
fn every_shared_snippet_round_trips() {
    let dir = data_dir(&root());
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the data folder {} ({e}): fetch the data sets with scripts/fetch-data.py, or set NL2PY_DATA to their folder",
            dir.display()
        )
    });
    let mut names: Vec<String> = entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect();
    names.sort();
    let mut all = Tally::default();
    let mut seen = BTreeSet::new();
    for name in names {
        let Some(kind) = SourceKind::of_file(&name) else { continue };
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let companion = kind.companion(&name).map(|other| std::fs::read_to_string(dir.join(other)).unwrap());
        let snippets: Vec<(String, String)> = kind
            .read(&text, companion.as_deref())
            .pairs
            .into_iter()
            .filter(|p| seen.insert(p.code.clone()))
            .map(|p| (format!("{name} {}", p.id), p.code))
            .collect();
        let tally = check(&snippets);
        report(&name, &tally);
        all.snippets += tally.snippets;
        all.python_accepts += tally.python_accepts;
        all.equal += tally.equal;
        all.failures.extend(tally.failures);
    }
    report("all distinct snippets", &all);
    assert!(all.snippets > 15_000, "expected the whole data set, read {}", all.snippets);
    assert!(all.failures.is_empty(), "{} failures", all.failures.len());
}
