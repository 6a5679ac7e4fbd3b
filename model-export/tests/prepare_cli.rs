//! `nl2py prepare` end to end: on small fixture data sets with every kind of bad record (the
//! folder sources, TheAlgorithms and 30-seconds-of-python, in a fixture folder of their own), and
//! on the data sets (the folder `nl2py::data::data_dir` finds: `$NL2PY_DATA`, `../shared/data`,
//! `data/sets`), which must be there.

use std::path::{Path, PathBuf};
use std::process::Command;

use nl2py::data::data_dir;
use nl2py::text::vocab::Vocab;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data")
}

/// Fixture folders in TheAlgorithms' and 30-seconds-of-python's formats.
fn function_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functions")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nl2py-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `nl2py prepare --json` and returns the parsed report.
fn prepare(data: &Path, out: &Path) -> Value {
    prepare_with(&[data], out, &[])
}

/// `nl2py prepare --json` on several data folders, with more options.
fn prepare_with(data: &[&Path], out: &Path, options: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nl2py"));
    command.args(["prepare", "--json", "--out"]).arg(out).args(options);
    for folder in data {
        command.arg("--data").arg(folder);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "prepare failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

fn source<'a>(report: &'a Value, file: &str) -> &'a Value {
    report["sources"].as_array().unwrap().iter().find(|s| s["file"] == file).unwrap()
}

fn kept(source: &Value, split: &str) -> u64 {
    source["kept"].get(split).and_then(Value::as_u64).unwrap_or(0)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn fixtures_count_every_record_and_write_every_file() {
    let out = temp_dir("fixtures");
    let report = prepare(&fixtures(), &out);

    let ep = source(&report, "english_python_data.txt");
    assert_eq!(
        (ep["read"].as_u64(), ep["malformed"].as_u64(), ep["rejected"].as_u64(), ep["duplicates"].as_u64()),
        (Some(8), Some(1), Some(1), Some(1)),
        "{ep}"
    );
    assert_eq!(kept(ep, "train") + kept(ep, "dev"), 5);

    let train = source(&report, "conala-train.json");
    assert_eq!(
        (
            train["read"].as_u64(),
            train["malformed"].as_u64(),
            train["rejected"].as_u64(),
            train["overlapping"].as_u64()
        ),
        (Some(63), Some(1), Some(1), Some(1)),
        "{train}"
    );
    assert_eq!(kept(train, "train") + kept(train, "dev"), 60);
    assert!(kept(train, "dev") >= 6, "about 10 % by question goes to dev");

    let test = source(&report, "conala-test.json");
    assert_eq!(
        (test["read"].as_u64(), test["rejected"].as_u64(), kept(test, "test")),
        (Some(6), Some(1), 6),
        "test keeps every record"
    );

    let docs = source(&report, "python-docs.jsonl");
    assert_eq!(
        (
            docs["read"].as_u64(),
            docs["malformed"].as_u64(),
            docs["duplicates"].as_u64(),
            kept(docs, "pretrain")
        ),
        (Some(9), Some(2), Some(1), 6),
        "{docs}"
    );

    for split in ["train", "dev", "test", "pretrain"] {
        assert_eq!(
            lines(&out.join(format!("{split}.jsonl"))).len() as u64,
            report["splits"][split]["examples"].as_u64().unwrap()
        );
    }
    let code_vocab =
        Vocab::from_json(&std::fs::read_to_string(out.join("vocab-code.json")).unwrap()).unwrap();
    assert_eq!(code_vocab.len() as u64, report["code_vocab_size"].as_u64().unwrap());
    assert!(Vocab::from_json(&std::fs::read_to_string(out.join("vocab-prompt.json")).unwrap()).is_ok());

    // Slots: the backticked list and the quoted separator are abstracted in prompt and code.
    let conala: Vec<Value> = ["train", "dev"]
        .iter()
        .flat_map(|s| lines(&out.join(format!("{s}.jsonl"))))
        .filter(|e| e["source"] == "conala-train.json")
        .collect();
    let slotted = conala.iter().find(|e| e["prompt"].as_str().unwrap().contains('`')).unwrap();
    let code: Vec<&str> =
        slotted["code_tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(&code[..6], ["str_0", ".", "join", "(", "var_0", ")"]);
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn the_same_seed_writes_the_same_files() {
    let (a, b) = (temp_dir("seed-a"), temp_dir("seed-b"));
    prepare(&fixtures(), &a);
    prepare(&fixtures(), &b);
    for file in ["train.jsonl", "dev.jsonl", "vocab-code.json", "vocab-prompt.json"] {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{file}");
    }
}

#[test]
fn a_missing_data_folder_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .args(["prepare", "--data", "/nonexistent/nl2py-data", "--out"])
        .arg(temp_dir("missing"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("cannot read the data folder /nonexistent/nl2py-data")
    );
}

#[test]
fn the_shared_data_prepares() {
    let data = data_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    assert!(
        data.join("conala-train.json").exists(),
        "the data sets are not at {}: fetch them with scripts/fetch-data.py, or set NL2PY_DATA to their folder",
        data.display()
    );
    let out = temp_dir("shared");
    let report = prepare(&data, &out);
    assert_eq!(source(&report, "conala-train.json")["read"], 2379);
    assert_eq!(source(&report, "conala-test.json")["read"], 500);
    assert_eq!(report["splits"]["test"]["examples"], 500);
    assert_eq!(source(&report, "thealgorithms-python")["read"], 1385);
    assert_eq!(source(&report, "30-seconds-of-python")["read"], 158);
    let functions = report["splits"]["functions"]["examples"].as_u64().unwrap();
    assert!((150..400).contains(&functions), "held-out functions: {functions}");
    let ep_pairs: u64 = ["english_python_data.txt", "english_python_data_pruned.txt"]
        .iter()
        .map(|f| {
            let s = source(&report, f);
            kept(s, "train") + kept(s, "dev")
        })
        .sum();
    assert!((3000..3600).contains(&ep_pairs), "unique English–Python pairs: {ep_pairs}");
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    std::fs::remove_dir_all(out).unwrap();
}

#[test]
fn mined_pairs_become_pretraining_pairs() {
    // A source tree: one documented function in a subfolder, a file that does not tokenize and
    // a file that is not UTF-8.
    let tree = temp_dir("mine-tree");
    std::fs::create_dir_all(tree.join("pkg")).unwrap();
    std::fs::write(
        tree.join("pkg/strings.py"),
        "def shout(text):\n    \"\"\"Return the text in capital letters.\"\"\"\n    return text.upper()\n",
    )
    .unwrap();
    std::fs::write(tree.join("broken.py"), "def f(:\n").unwrap();
    std::fs::write(tree.join("latin1.py"), b"# caf\xe9\n").unwrap();
    let data = temp_dir("mine-data");
    std::fs::create_dir_all(&data).unwrap();
    let mined = data.join("mined-tree.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .arg("mine")
        .arg(&tree)
        .arg("--out")
        .arg(&mined)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("3 Python files: 1 pairs; 1 files without documented definitions"), "{said}");
    assert!(said.contains("1 not UTF-8"), "{said}");
    let records = lines(&mined);
    assert_eq!(records[0]["intent"], "Return the text in capital letters");
    assert_eq!(records[0]["snippet"], "def shout(text):\n    return text.upper()\n");
    assert_eq!(records[0]["source"], "pkg/strings.py:1");

    // `prepare` reads it as pretraining pairs, beside the data of another folder, and a vocabulary
    // cap holds.
    let out = temp_dir("mine-prepared");
    let report = prepare_with(&[&fixtures(), &data], &out, &["--max-vocab", "40"]);
    assert_eq!(kept(source(&report, "mined-tree.jsonl"), "pretrain"), 1);
    assert_eq!(kept(source(&report, "conala-test.json"), "test"), 6);
    assert_eq!(
        (report["prompt_vocab_size"].as_u64(), report["code_vocab_size"].as_u64()),
        (Some(40), Some(40))
    );
    let code_vocab =
        Vocab::from_json(&std::fs::read_to_string(out.join("vocab-code.json")).unwrap()).unwrap();
    assert_eq!(code_vocab.len(), 40);
}

#[test]
fn without_slots_quoted_spans_stay_words() {
    let out = temp_dir("no-slots");
    let report = prepare_with(&[&fixtures()], &out, &["--no-slots"]);
    assert_eq!(report["config"]["slots"], false);
    let examples: Vec<Value> =
        ["train", "dev", "test"].iter().flat_map(|s| lines(&out.join(format!("{s}.jsonl")))).collect();
    assert!(examples.iter().all(|e| e["slots"].as_array().unwrap().is_empty()));
    let tokens = |e: &Value| {
        e["prompt_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(examples.iter().any(|e| tokens(e).contains(&"`".to_string())), "backticks stay as punctuation");
    assert!(examples.iter().all(|e| !tokens(e).iter().any(|t| t.starts_with("var_"))));
}

#[test]
fn folder_sources_give_tested_functions_and_hold_whole_files_out() {
    let out = temp_dir("functions");
    let report = prepare_with(&[&fixtures(), &function_fixtures()], &out, &["--functions-fraction", "0.5"]);

    // Six Python files: one does not parse, one has no function; seven documented functions
    // stand alone (one reads the file's constant, one has no docstring).
    let algorithms = source(&report, "thealgorithms-python");
    assert_eq!(
        (algorithms["read"].as_u64(), algorithms["malformed"].as_u64()),
        (Some(6), Some(1)),
        "{algorithms}"
    );
    assert!(algorithms["problems"][0].as_str().unwrap().starts_with("maths/broken.py: not Python"));
    let skipped = |s: &Value, reason: &str| s["skipped"][reason].as_u64().unwrap_or(0);
    assert_eq!(skipped(algorithms, "functions that read other definitions of their file"), 1);
    assert_eq!(skipped(algorithms, "doctests that raise"), 1);
    let untested = "untested pairs of files held out for the functions split";
    assert_eq!(kept(algorithms, "train") + kept(algorithms, "functions") + skipped(algorithms, untested), 7);
    // Four snippets: one without code; one whose example result is no literal has no test.
    let snippets = source(&report, "30-seconds-of-python");
    assert_eq!((snippets["read"].as_u64(), snippets["malformed"].as_u64()), (Some(4), Some(1)), "{snippets}");
    assert_eq!(snippets["problems"][0], "snippets/no_code.md: no ```py block");
    assert_eq!(kept(snippets, "train") + kept(snippets, "functions") + skipped(snippets, untested), 3);
    assert!(kept(algorithms, "functions") + kept(snippets, "functions") > 0);

    // Held out: tested pairs only, each with its file in its id; no file of theirs trains.
    let functions = lines(&out.join("functions.jsonl"));
    assert_eq!(functions.len() as u64, report["splits"]["functions"]["examples"].as_u64().unwrap());
    let file = |e: &Value| e["id"].as_str().unwrap().split('#').next().unwrap().to_string();
    for e in &functions {
        let tests = e["tests"].as_array().unwrap();
        assert!(tests.iter().any(|t| t.as_str().unwrap().starts_with("assert ")), "{e}");
        assert!(file(e).ends_with(".py") || file(e).starts_with("snippets/"), "{e}");
    }
    let held_out: Vec<String> = functions.iter().map(file).collect();
    let train = lines(&out.join("train.jsonl"));
    let folders = ["thealgorithms-python", "30-seconds-of-python"];
    let from_folders = || train.iter().filter(|e| folders.iter().any(|f| e["source"] == *f));
    assert!(from_folders().count() > 0 && from_folders().all(|e| !held_out.contains(&file(e))));
    let asserts = |examples: &[Value], source: &str| -> u64 {
        let tests =
            examples.iter().filter(|e| e["source"] == source).flat_map(|e| e["tests"].as_array().cloned());
        tests.flatten().filter(|t| t.as_str().unwrap().starts_with("assert ")).count() as u64
    };
    assert_eq!(
        algorithms["tests"]["functions"].as_u64().unwrap_or(0),
        asserts(&functions, "thealgorithms-python")
    );
    assert_eq!(algorithms["tests"]["train"].as_u64().unwrap_or(0), asserts(&train, "thealgorithms-python"));

    // The tables name the new columns and what was left out.
    let output = Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .args(["prepare", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(function_fixtures())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("┆ functions ┆ tests │") && text.contains("thealgorithms-python — left out:"),
        "{text}"
    );
    std::fs::remove_dir_all(out).unwrap();
}

/// `--string-pieces` writes a piece vocabulary that spells every fixture's code; `--vocabularies`
/// keeps an earlier folder's vocabularies for data that has grown since.
#[test]
fn pieces_spell_the_code_and_earlier_vocabularies_are_kept() {
    let (pieces, grown) = (temp_dir("pieces"), temp_dir("pieces-grown"));
    let report = prepare_with(
        &[&fixtures()],
        &pieces,
        &["--string-pieces", "40", "--max-vocab", "400", "--min-freq", "1"],
    );
    let code = Vocab::from_json(&std::fs::read_to_string(pieces.join("vocab-code.json")).unwrap()).unwrap();
    assert!(code.has_pieces() && code.len() <= 400);
    assert_eq!(report["splits"]["train"]["code_unknown"], 0.0, "learned pieces spell all of train");
    let read =
        |dir: &Path, side: &str| std::fs::read_to_string(dir.join(format!("vocab-{side}.json"))).unwrap();
    let options = ["--vocabularies", pieces.to_str().unwrap()];
    prepare_with(&[&fixtures(), &function_fixtures()], &grown, &options);
    assert_eq!(read(&grown, "code"), read(&pieces, "code"));
    assert_eq!(read(&grown, "prompt"), read(&pieces, "prompt"));
    let bad = Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .args(["prepare", "--out"])
        .arg(temp_dir("pieces-bad"))
        .arg("--data")
        .arg(fixtures())
        .args(["--vocabularies", "Cargo.toml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("neither a prepared folder nor a model bundle"));
    for dir in [pieces, grown] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
