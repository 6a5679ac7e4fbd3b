//! A user's own pairs end to end (`examples/pairs.jsonl`): `prepare --pairs` names every bad
//! record and drops a pair equal to a test pair; `nl2py index` adds them to a copy of the
//! shipped bundle and `generate --show-examples` retrieves one with its source and licence;
//! truncated, binary, huge-line and empty files get named errors, never a panic; a fine-tune
//! from a model keeps its shape and vocabularies. The page side (scripts/ship.sh under a
//! sub-path) is in tests/page.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn nl2py(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nl2py")).args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = nl2py(args);
    assert!(out.status.success(), "nl2py {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A refusal: exit status 1 (an error, not a panic's 101) and stderr, which must say `what`.
fn refused(args: &[&str], what: &str) -> String {
    let out = nl2py(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "nl2py {args:?}: {stderr}");
    assert!(stderr.contains(what), "nl2py {args:?} does not say {what:?}: {stderr}");
    stderr
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nl2py-pairs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example_pairs() -> String {
    std::fs::read_to_string(repo().join("examples/pairs.jsonl")).unwrap()
}

const TEST_PAIR: &str = r#"{"prompt": "test task 0", "code": "g(0)"}"#;

#[test]
fn prepare_names_every_bad_record_and_drops_test_pairs() {
    let dir = temp("prepare");
    // Two bad records between the examples, and one equal to a CoNaLa test pair of the fixtures.
    let mut lines: Vec<String> = example_pairs().lines().map(String::from).collect();
    lines.insert(2, "{\"prompt\": \"half a record".into());
    lines.insert(10, r#"{"prompt": "no code here"}"#.into());
    lines.push(TEST_PAIR.into());
    let pairs = dir.join("mine.jsonl");
    std::fs::write(&pairs, lines.join("\n") + "\n").unwrap();
    let fixtures = repo().join("model-export/tests/fixtures/data");
    let out = dir.join("prepared");
    let text = ok(&["prepare", "--data", s(&fixtures), "--pairs", s(&pairs), "--out", s(&out), "--json"]);
    let report: Value = serde_json::from_str(&text).unwrap();
    let mine = report["sources"].as_array().unwrap().iter().find(|s| s["file"] == "mine.jsonl").unwrap();
    assert_eq!(mine["kind"], "pairs-json-lines");
    assert_eq!((mine["read"].as_u64(), mine["malformed"].as_u64()), (Some(53), Some(2)));
    assert_eq!(mine["overlapping"], 1, "the pair equal to a test pair is dropped and counted");
    let problems: Vec<&str> =
        mine["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(problems[0].starts_with("line 3: not JSON"), "{problems:?}");
    assert!(problems[1].starts_with("line 11: no `code`"), "{problems:?}");
    let kept: u64 = mine["kept"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(kept, 50);
    let retrieval = &report["retrieval"];
    assert_eq!(
        retrieval["by_source"]["mine.jsonl"], mine["kept"]["train"],
        "each licensed train pair is indexed"
    );
    assert_eq!(retrieval["unlicensed"], 0);
    // The tables name every problem too.
    let tables = ok(&["prepare", "--data", s(&fixtures), "--pairs", s(&pairs), "--out", s(&out)]);
    assert!(tables.contains("mine.jsonl — problems:\n  line 3: not JSON"), "{tables}");

    // Alone, and without licences: trained on, not indexed, and said so.
    let unlicensed = dir.join("unlicensed.jsonl");
    let bare: Vec<String> = example_pairs()
        .lines()
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).unwrap();
            record.as_object_mut().unwrap().remove("licence");
            record.to_string()
        })
        .collect();
    std::fs::write(&unlicensed, bare.join("\n")).unwrap();
    let tables = ok(&["prepare", "--only-pairs", "--pairs", s(&unlicensed), "--out", s(&dir.join("alone"))]);
    assert!(tables.contains("of your pairs are not indexed: their records name no licence"), "{tables}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("alone/report.json")).unwrap()).unwrap();
    assert_eq!(report["sources"].as_array().unwrap().len(), 1, "--only-pairs reads no data set");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn indexed_pairs_are_retrieved_with_their_source_and_licence() {
    let dir = temp("index");
    let shipped = repo().join("model/default.nl2py");
    let bundle = dir.join("mine.nl2py");
    let pairs = repo().join("examples/pairs.jsonl");
    let text = ok(&["index", "--model", s(&shipped), "--pairs", s(&pairs), "--out", s(&bundle)]);
    assert!(text.contains("pairs.jsonl: 50 records, 50 indexed"), "{text}");
    let prompt = "compute the sha256 hash of the file `path`";
    let shown = ok(&["generate", "--model", s(&bundle), "--show-examples", "--greedy", prompt]);
    let first = shown.split("\nexample 1 ").nth(1).expect("an example is shown");
    assert!(first.contains("nl2py examples/pairs.jsonl, CC0-1.0"), "{shown}");
    assert!(first.contains("digest = hashlib.sha256()"), "{shown}");
    // Again into the result: nothing new, and the shipped bundle is unchanged.
    let again =
        ok(&["index", "--model", s(&bundle), "--pairs", s(&pairs), "--out", s(&dir.join("again.nl2py"))]);
    assert!(again.contains("0 indexed, 50 already in the index"), "{again}");
    let info = ok(&["export", "--inspect", "--model", s(&dir.join("again.nl2py"))]);
    assert!(info.contains("50 from pairs.jsonl by `nl2py index`"), "{info}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_pairs_files_get_named_errors() {
    let dir = temp("fuzz");
    let whole = example_pairs();
    let truncated = dir.join("truncated.jsonl");
    std::fs::write(&truncated, &whole.as_bytes()[..whole.len() / 2]).unwrap();
    let binary = dir.join("binary.jsonl");
    std::fs::write(
        &binary,
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let huge = dir.join("huge.jsonl");
    std::fs::write(&huge, format!("{{\"prompt\": \"p\", \"code\": \"x = '{}'\"}}\n", "a".repeat(3 << 20)))
        .unwrap();
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let out = dir.join("prepared");
    // A cut file keeps its whole records and names the cut one.
    fn prepare<'a>(file: &'a Path, out: &'a Path) -> [&'a str; 6] {
        ["prepare", "--only-pairs", "--pairs", s(file), "--out", s(out)]
    }
    let text = ok(&prepare(&truncated, &out));
    assert!(text.contains("truncated.jsonl — problems:") && text.contains("not JSON"), "{text}");
    std::fs::remove_dir_all(&out).unwrap();
    let stderr = refused(&prepare(&binary, &out), "none of its");
    assert!(stderr.contains("line 1:"), "{stderr}");
    refused(&prepare(&huge, &out), "a record may hold");
    refused(&prepare(&empty, &out), "no CSV header row");
    refused(&prepare(&dir, &out), "a folder, not a pairs file");
    refused(&prepare(&dir.join("missing.jsonl"), &out), "missing.jsonl");
    assert!(!out.exists(), "a refused file writes nothing");

    let shipped = repo().join("model/default.nl2py");
    let bundle = dir.join("b.nl2py");
    let index = |file: &Path| {
        refused(&["index", "--model", s(&shipped), "--pairs", s(file), "--out", s(&bundle)], "none of its")
    };
    index(&binary);
    index(&huge);
    assert!(!bundle.exists(), "a refused file writes no bundle");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fine_tune_keeps_the_shape_and_vocabularies_of_its_start() {
    let dir = temp("tune");
    let pairs = repo().join("examples/pairs.jsonl");
    let first = dir.join("first");
    ok(&["prepare", "--only-pairs", "--pairs", s(&pairs), "--out", s(&first), "--min-freq", "1"]);
    let tiny =
        ["--d-model", "32", "--heads", "2", "--d-ff", "64", "--encoder-layers", "1", "--decoder-layers", "1"];
    let short = ["--epochs", "1", "--valid-max-tokens", "8", "--batch-tokens", "600", "--warmup-steps", "2"];
    let start = dir.join("start");
    let mut args = vec!["train", "--data", s(&first), "--out", s(&start)];
    args.extend(tiny);
    args.extend(short);
    ok(&args);

    // New pairs prepared with the start's vocabularies, then a fine-tune that names no shape.
    let more = dir.join("more.jsonl");
    std::fs::write(&more, example_pairs().replace("\"prompt\": \"", "\"prompt\": \"please ")).unwrap();
    let second = dir.join("second");
    let text = ok(&[
        "prepare",
        "--only-pairs",
        "--pairs",
        s(&more),
        "--out",
        s(&second),
        "--vocabularies",
        s(&first),
    ]);
    // Dev's code was never counted into the first vocabularies: its tokens seen nowhere else are
    // unknown, and said so.
    assert!(
        text.contains("more.jsonl: 37 of its 1803 code tokens are unknown to the code vocabulary"),
        "{text}"
    );
    let tuned = dir.join("tuned");
    let mut args = vec!["train", "--data", s(&second), "--out", s(&tuned), "--init-from", s(&start)];
    args.extend(short);
    ok(&args);
    let model = |run: &Path| -> Value {
        let run: Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
        run["training"]["model"].clone()
    };
    assert_eq!(model(&tuned), model(&start), "every part of the shape, vocabularies included");

    // Another width is refused by name, before any weight is copied.
    let wider = dir.join("wider");
    let mut args =
        vec!["train", "--data", s(&second), "--out", s(&wider), "--init-from", s(&start), "--d-model", "64"];
    args.extend(short);
    refused(&args, "leave those flags out to keep the model's");

    // Data prepared with vocabularies of its own is refused, with the way out.
    let (third, refused_run) = (dir.join("third"), dir.join("refused"));
    ok(&["prepare", "--only-pairs", "--pairs", s(&more), "--out", s(&third), "--min-freq", "1"]);
    let mut args = vec!["train", "--data", s(&third), "--out", s(&refused_run)];
    args.extend(["--init-from", s(&start)]);
    args.extend(short);
    refused(&args, "prepare the data with `nl2py prepare --vocabularies");
    let _ = std::fs::remove_dir_all(&dir);
}
