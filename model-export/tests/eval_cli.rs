//! `nl2py eval` and generated code, end to end with a tiny model trained on the fixture data:
//! nothing runs without `--run`; `--run` without python3 says so; with it, English–Python dev's
//! programs, MBPP's test problems and the held-out functions are run and scored, runs-clean and
//! MBPP's pass@1 counted against a stand-in python3 whose verdicts are known; `generate --run`
//! prints what the answer wrote and how it ended. The sandbox's
//! guards have their own tests, in `src/sandbox.rs`; pass@1 on answers that pass, fail, raise
//! and hang is a unit test of `src/eval.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nl2py-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Prepared fixture data and a one-epoch tiny model, made once for all tests here.
fn prepared_and_model() -> &'static (PathBuf, PathBuf) {
    static MADE: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = temp("model");
        let (data, run) = (dir.join("data"), dir.join("run"));
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data");
        let nl2py =
            |args: &[&str]| ok(Command::new(env!("CARGO_BIN_EXE_nl2py")).args(args).output().unwrap());
        nl2py(&["prepare", "--data", s(&fixtures), "--out", s(&data), "--min-freq", "1"]);
        nl2py(&[
            "train",
            "--data",
            s(&data),
            "--out",
            s(&run),
            "--epochs",
            "1",
            "--d-model",
            "32",
            "--heads",
            "2",
            "--d-ff",
            "64",
            "--encoder-layers",
            "1",
            "--decoder-layers",
            "1",
            "--valid-max-tokens",
            "12",
            "--batch-tokens",
            "400",
            "--warmup-steps",
            "5",
        ]);
        (data, run.join("model.nl2py"))
    })
}

/// `nl2py eval` of the tiny model on the prepared fixtures, with `extra` flags, PATH set to
/// `path` when given and NL2PY_DATA to `data` when given.
fn eval(extra: &[&str], path: Option<&str>, data: Option<&Path>) -> Output {
    eval_on(&prepared_and_model().0, extra, path, data)
}

/// `eval` on another prepared folder.
fn eval_on(prepared: &Path, extra: &[&str], path: Option<&str>, data: Option<&Path>) -> Output {
    let model = &prepared_and_model().1;
    let mut command = Command::new(env!("CARGO_BIN_EXE_nl2py"));
    command.args(["eval", "--model", s(model), "--data", s(prepared), "--max-tokens", "12"]).args(extra);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    match data {
        Some(data) => command.env("NL2PY_DATA", data),
        None => command.env_remove("NL2PY_DATA"),
    };
    command.output().unwrap()
}

fn rows(out: Output) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(out)).unwrap()
}

fn row<'a>(rows: &'a [serde_json::Value], split: &str) -> &'a serde_json::Value {
    rows.iter().find(|r| r["split"] == split).unwrap_or_else(|| panic!("no {split} row in {rows:?}"))
}

/// An MBPP problem as `mbpp-sanitized.json` holds it: "add two numbers", with `tests`.
fn mbpp_problem(task_id: u64, tests: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "source_file": "x", "task_id": task_id, "prompt": "Write a function to add two numbers.",
        "code": "def add(a, b):\n    return a + b", "test_imports": [], "test_list": tests,
    })
}

#[test]
fn without_run_no_python_is_started() {
    // A python3 first on PATH that leaves a mark when anything starts it.
    let bin = temp("spy");
    let mark = bin.join("started");
    let spy = bin.join("python3");
    std::fs::write(&spy, format!("#!/bin/sh\ntouch {}\nexit 1\n", s(&mark))).unwrap();
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());

    let text = ok(eval(&[], Some(&path), None));
    assert!(text.contains("english-python-dev: 1 examples") && text.contains("runs-clean - %"), "{text}");
    let scores = rows(eval(&["--json"], Some(&path), None));
    assert!(
        scores
            .iter()
            .all(|r| r["runs_clean"].is_null() && r["pass_at_1"].is_null() && r["sandbox"].is_null())
    );
    assert!(scores.iter().all(|r| r["split"] != "mbpp-test"), "{scores:?}");
    assert!(!mark.exists(), "eval started python3 without --run");
}

#[test]
fn run_without_python3_says_what_is_missing() {
    let empty = temp("no-python");
    let out = eval(&["--run"], Some(s(&empty)), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("python3 is needed for --run"), "{stderr}");
}

#[test]
fn run_scores_english_python_programs_and_mbpp_problems() {
    // Two test problems and one outside MBPP's test ids (11–510), which is not scored.
    let dir = temp("mbpp");
    let problem = |id| mbpp_problem(id, &["assert add(1, 2) == 3", "assert add(0, 0) == 0"]);
    let mbpp = dir.join("mbpp.json");
    std::fs::write(&mbpp, serde_json::json!([problem(2), problem(11), problem(12)]).to_string()).unwrap();

    let out = eval(&["--run", "--mbpp", s(&mbpp), "--json"], None, None);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains("sandbox: ") && stderr.contains(" -I -S as "), "{stderr}");
    let scores = rows(out);
    let english = row(&scores, "english-python-dev");
    assert!(english["runs_clean"].as_f64().is_some_and(|r| (0.0..=100.0).contains(&r)), "{english}");
    assert!(english["sandbox"].as_str().is_some_and(|s| s.contains("NOT isolated: ")), "{english}");
    let tested = row(&scores, "mbpp-test");
    assert_eq!(tested["examples"], 2, "{tested}");
    assert!(tested["pass_at_1"].as_f64().is_some_and(|p| (0.0..=100.0).contains(&p)), "{tested}");
    assert!(tested["runs_clean"].is_null() && row(&scores, "conala-test")["runs_clean"].is_null());

    let text = ok(eval(&["--run", "--mbpp", s(&mbpp)], None, None));
    assert!(text.contains("mbpp-test: 2 problems, pass@1 "), "{text}");

    // The default file: read from NL2PY_DATA, or skipped with a note when it is not there.
    std::fs::rename(&mbpp, dir.join("mbpp-sanitized.json")).unwrap();
    assert_eq!(row(&rows(eval(&["--run", "--json"], None, Some(&dir))), "mbpp-test")["examples"], 2);
    let empty = temp("no-mbpp");
    let out = eval(&["--run", "--json"], None, Some(&empty));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mbpp-sanitized.json is missing"));
    assert!(rows(out).iter().all(|r| r["split"] != "mbpp-test"));
    // Named explicitly, a missing file is an error.
    let missing = eval(&["--run", "--mbpp", s(&empty.join("nothing.json"))], None, None);
    assert!(!missing.status.success(), "a missing --mbpp file must be an error");
}

#[test]
fn runs_clean_and_pass_at_1_are_the_shares_that_pass() {
    // English–Python dev gets three more examples, whose prompt has no word the model knows:
    // they get no code, an empty program.
    let (prepared, _) = prepared_and_model();
    let data = temp("runs-clean-data");
    for entry in std::fs::read_dir(prepared).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, data.join(from.file_name().unwrap())).unwrap();
    }
    let dev = data.join("dev.jsonl");
    let mut examples = std::fs::read_to_string(&dev).unwrap();
    let mut unknown = examples
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|e| e["source"].as_str().is_some_and(|s| s.starts_with("english_python")))
        .expect("an English–Python dev example");
    unknown["prompt"] = "qqqzzz".into();
    unknown["prompt_tokens"] = serde_json::json!(["qqqzzz"]);
    for n in 1..=3 {
        unknown["id"] = format!("unknown words {n}").into();
        examples += &format!("{unknown}\n");
    }
    std::fs::write(&dev, examples).unwrap();

    // Four MBPP test problems, the asserts of one marked to fail.
    let mbpp = data.join("mbpp.json");
    let problems: Vec<_> = (11..15)
        .map(|id| {
            mbpp_problem(
                id,
                &[if id == 12 {
                    "assert add(1, 2) == 4  # stand-in: fails"
                } else {
                    "assert add(1, 2) == 3"
                }],
            )
        })
        .collect();
    std::fs::write(&mbpp, serde_json::json!(problems).to_string()).unwrap();

    // A python3 that names itself when asked for the interpreter and runs a program clean
    // exactly when it is not empty (the sandbox's probe is `pass`) and not marked to fail.
    let bin = temp("runs-clean-python");
    let python = bin.join("python3");
    let verdicts = "#!/bin/sh\nif [ \"$3\" = -c ]; then echo \"$0\"\n\
                    elif grep -q 'stand-in: fails' \"$3\"; then exit 1\nelse test -s \"$3\"; fi\n";
    std::fs::write(&python, verdicts).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());

    let no_mbpp = temp("runs-clean-no-mbpp");
    let out = eval_on(&data, &["--run", "--mbpp", s(&mbpp), "--json"], Some(&path), Some(&no_mbpp));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(stderr.contains(&format!("sandbox: {} -I -S", s(&python))), "{stderr}");
    let scores = rows(out);
    let english = row(&scores, "english-python-dev");
    assert_eq!(english["examples"], 4, "{english}");
    assert_eq!(english["runs_clean"], 25.0, "the model's program runs, the three empty ones fail: {english}");
    let tested = row(&scores, "mbpp-test");
    assert_eq!(tested["examples"], 4, "{tested}");
    assert_eq!(tested["pass_at_1"], 75.0, "three problems pass, the marked one fails: {tested}");
}

#[test]
fn run_scores_the_held_out_functions_whose_own_code_passes() {
    let data = temp("functions-data");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/functions");
    let prepare = ["prepare", "--data", s(&fixtures), "--out", s(&data), "--min-freq", "1"];
    ok(Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .args(prepare)
        .args(["--functions-fraction", "0.5"])
        .output()
        .unwrap());
    // One more held-out function, whose test its own code fails: it is left out.
    let path = data.join("functions.jsonl");
    let mut functions = std::fs::read_to_string(&path).unwrap();
    let held_out = functions.lines().count();
    assert!(held_out > 0, "the fixtures hold a tested function out");
    let mut wrong: serde_json::Value = serde_json::from_str(functions.lines().next().unwrap()).unwrap();
    wrong["id"] = "maths/wrong.py#wrong".into();
    wrong["tests"] = serde_json::json!(["assert False"]);
    functions += &format!("{wrong}\n");
    std::fs::write(&path, functions).unwrap();

    let scores = rows(eval_on(&data, &["--run", "--split", "functions", "--json"], None, None));
    let scored = row(&scores, "functions");
    assert_eq!(
        (scored["examples"].as_u64(), scored["references_failing"].as_u64()),
        (Some(held_out as u64), Some(1))
    );
    assert!(scored["pass_at_1"].as_f64().is_some_and(|p| (0.0..=100.0).contains(&p)), "{scored}");
    assert!(scored.get("pass_at_k").is_none() && scores.len() == 1, "{scores:?}");
    let out = eval_on(&data, &["--run", "--split", "functions"], None, None);
    let failing = format!("held-out functions: 1 of {} fail their own tests", held_out + 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains(&failing), "{out:?}");
    assert!(ok(out).contains(&format!("functions: {held_out} problems, pass@1 ")));

    // Sampled answers: pass@k for the k up to --samples; sampling must be asked for.
    let sampled = ["--run", "--split", "functions", "--samples", "3", "--temperature", "1", "--json"];
    let scores = rows(eval_on(&data, &sampled, None, None));
    let scored = row(&scores, "functions");
    assert_eq!(scored["pass_at_k"]["1"], scored["pass_at_1"], "{scored}");
    assert!(scored["pass_at_k"].get("10").is_none());
    let out = eval_on(&data, &["--run", "--samples", "3"], None, None);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("give --temperature"));
}

#[test]
fn generate_run_prints_what_the_answer_wrote_and_how_it_ended() {
    // A python3 that names itself when asked for the interpreter, runs the sandbox's probe
    // (`pass`) clean, and otherwise prints the program's first line and exits with status 3.
    let bin = temp("generate-run-python");
    let python = bin.join("python3");
    let script = "#!/bin/sh\nif [ \"$3\" = -c ]; then echo \"$0\"\nelif [ \"$(cat \"$3\")\" = pass ]; then exit 0\n\
                  else echo \"stand-in ran: $(head -n 1 \"$3\")\"; exit 3; fi\n";
    std::fs::write(&python, script).unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", s(&bin), std::env::var("PATH").unwrap_or_default());
    let generate = |extra: &[&str]| {
        let model = &prepared_and_model().1;
        let mut command = Command::new(env!("CARGO_BIN_EXE_nl2py"));
        command.args(["generate", "--model", s(model), "--max-tokens", "12", "sort list `xs`", "--run"]);
        command.args(extra).env("PATH", &path).output().unwrap()
    };
    let text = ok(generate(&[]));
    let (code, ran) = text.split_once("\n--- ran in the sandbox: ").expect(&text);
    let first_line = code.lines().next().unwrap_or_default();
    assert_eq!(ran, format!("failed (exit status 3)\nstand-in ran: {first_line}\n"), "{text}");

    let json: serde_json::Value = serde_json::from_str(&ok(generate(&["--json"]))).unwrap();
    assert_eq!(json["run"]["outcome"], "failed (exit status 3)", "{json}");
    assert_eq!(json["run"]["output"], format!("stand-in ran: {first_line}\n"));
    assert_eq!(json["code"].as_str().unwrap().lines().next().unwrap_or_default(), first_line);

    let no_python = temp("generate-run-no-python");
    let out = Command::new(env!("CARGO_BIN_EXE_nl2py"))
        .args(["generate", "--model", s(&prepared_and_model().1), "sort list `xs`", "--run"])
        .env("PATH", s(&no_python))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("python3 is needed for --run"), "{out:?}");
}
