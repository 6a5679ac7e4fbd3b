//! The page's Python (RustPython in its worker) against CPython, on the same programs: reads the
//! lines `nl2py eval --run --answers FILE` writes (each answer with how CPython ran it in the
//! sandbox), runs the English–Python dev answers with the built page's Run button in headless
//! Chromium, and prints the share whose output is the same, with the differences counted by kind
//! and a few shown. docs/page.md has the numbers.
//!
//! ```sh
//! nl2py eval --model model/default.nl2py --data prepared-rag --split english-python-dev --run --answers answers.jsonl
//! cargo run --release --features wgpu --example python_parity -- answers.jsonl
//! ```

#[path = "../tests/webdriver/mod.rs"]
mod webdriver;

use std::collections::BTreeMap;

use serde_json::Value;
use webdriver::{Browser, StaticServer, dist};

/// How the two interpreters ended one program, in a few words.
fn kind(cpython: &str, page: &Value) -> String {
    let outcome = page["outcome"].as_str().unwrap_or("failed");
    let exception = |output: &str| {
        let last = output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        last.split(':').next().unwrap_or(last).trim().to_string()
    };
    match (cpython, outcome) {
        ("passed", "raised") => {
            format!("CPython ran clean, the page raised {}", exception(page["output"].as_str().unwrap_or("")))
        }
        ("passed", other) => format!("CPython ran clean, the page {other}"),
        (other, "finished") => format!("CPython {other}, the page ran clean"),
        (other, page) => format!("CPython {other}, the page {page}"),
    }
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: python_parity ANSWERS.jsonl (from nl2py eval --run --answers)");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let answers: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .filter(|a| a["split"] == "english-python-dev" && a["run"].is_object())
        .collect();
    assert!(!answers.is_empty(), "{path} holds no English–Python dev answer that was run (give eval --run)");

    let server = StaticServer::start(dist(), "/");
    let browser = Browser::start();
    browser.open(&format!("{}?backend=cpu", server.url()));
    browser.wait_ready();
    browser.click("#search option[value=greedy]");
    browser.generate("print 'hello'", &Value::Null); // Run needs an answer on the page first

    let (mut same, mut clean, mut same_when_clean) = (0, 0, 0);
    let mut differences: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    let mut most_memory: f64 = 0.0;
    for answer in &answers {
        let code = answer["answer"].as_str().unwrap_or("");
        let cpython = answer["run"]["outcome"].as_str().unwrap_or("failed");
        let cpython_output = answer["run"]["output"].as_str().unwrap_or("");
        let page = browser.run_python(Some(code), "");
        // A run the worker could not finish says why in the status line, not the output.
        let status = browser.text("#run-status");
        let page_output =
            if page["outcome"] == "failed" { status.as_str() } else { page["output"].as_str().unwrap_or("") };
        most_memory = most_memory.max(page["memory_bytes"].as_f64().unwrap_or(0.0));
        let both_clean = cpython == "passed" && page["outcome"] == "finished";
        let agree = if both_clean {
            page_output == cpython_output
        } else {
            cpython != "passed" && page["outcome"] != "finished"
        };
        clean += usize::from(cpython == "passed");
        same += usize::from(agree);
        same_when_clean += usize::from(both_clean && agree);
        if !agree {
            let what =
                if both_clean { "both ran clean, other output".to_string() } else { kind(cpython, &page) };
            *differences.entry(what).or_default() += 1;
            if shown < 5 {
                shown += 1;
                println!(
                    "--- {} ({})\n{}\n--- CPython ({cpython}):\n{}\n--- the page ({}):\n{}",
                    answer["id"].as_str().unwrap_or(""),
                    answer["prompt"].as_str().unwrap_or(""),
                    code.trim_end(),
                    cpython_output.trim_end(),
                    page["outcome"].as_str().unwrap_or(""),
                    page_output.trim_end()
                );
            }
        }
    }
    let n = answers.len();
    let percent = |k: usize, of: usize| 100.0 * k as f64 / of.max(1) as f64;
    println!(
        "\n{n} English–Python dev answers: the page and CPython agree on {same} ({:.1} %: the same output \
         when both ran clean, or both did not); CPython ran {clean} clean, and the page gave the same \
         output for {same_when_clean} of them ({:.1} %)",
        percent(same, n),
        percent(same_when_clean, clean)
    );
    println!("the worker's wasm memory after a run: at most {:.0} MB", most_memory / 1e6);
    let mut counted: Vec<(String, usize)> = differences.into_iter().collect();
    counted.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    for (what, count) in counted {
        println!("  {count:4}  {what}");
    }
}
