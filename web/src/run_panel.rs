//! The Run button and what it shows: runs the code on the page in the Python worker
//! (nl2py_worker::python) with the stdin box as its input and the time limit the user set, streams
//! stdout and stderr into the output panel, and marks the line an exception points at in the
//! code view. The last run is published as `window.nl2pyRun` for scripts (the page test reads it).

use std::cell::Cell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::JsValue;
use web_sys::{Document, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlTextAreaElement};

use crate::page::{by_id, on};
use nl2py_worker::python::{OUTPUT_CAP, Outcome, PythonWorker, Ran, Stream};

/// How long "Prefer answers that run" lets each of the search's answers run, ms (as the CLI's
/// --prefer-running).
pub const PREFER_RUNNING_LIMIT_MS: f64 = 2000.0;
/// The time limit the page offers first, seconds.
pub const DEFAULT_LIMIT_S: f64 = 5.0;
/// The limits the time limit box keeps to, seconds.
const LIMIT_RANGE_S: (f64, f64) = (0.1, 600.0);

pub struct RunPanel {
    document: Document,
    button: HtmlButtonElement,
    stdin: HtmlTextAreaElement,
    limit: HtmlInputElement,
    /// The output and the run's status: hidden until the first Run.
    result: HtmlElement,
    output: HtmlElement,
    status: HtmlElement,
    /// The code view, whose `span.line` elements the panel marks.
    code: HtmlElement,
    worker: PythonWorker,
    running: Cell<bool>,
    /// The page has code to run and is not generating.
    has_code: Cell<bool>,
}

/// What scripts can read as `window.nl2pyRun` after each run.
#[derive(Serialize)]
struct RunReport<'a> {
    /// `finished`, `raised`, `output-capped`, `timed-out` or `failed` (the worker broke).
    outcome: &'static str,
    output: &'a str,
    /// The answer's line an exception pointed at.
    line: Option<usize>,
    run_ms: f64,
    start_ms: Option<f64>,
    /// The worker's wasm memory after the run, bytes.
    memory_bytes: f64,
}

impl RunPanel {
    pub fn bind(document: &Document) -> Rc<RunPanel> {
        let panel = Rc::new(RunPanel {
            document: document.clone(),
            button: by_id(document, "run"),
            stdin: by_id(document, "stdin"),
            limit: by_id(document, "run-limit"),
            result: by_id(document, "run-result"),
            output: by_id(document, "run-output"),
            status: by_id(document, "run-status"),
            code: by_id(document, "code"),
            worker: PythonWorker::default(),
            running: Cell::new(false),
            has_code: Cell::new(false),
        });
        panel.limit.set_value(&DEFAULT_LIMIT_S.to_string());
        let clicked = panel.clone();
        on::<web_sys::Event>(&panel.button, "click", move |_| {
            let panel = clicked.clone();
            wasm_bindgen_futures::spawn_local(async move { panel.run().await });
        });
        panel.set_code(false);
        panel
    }

    /// Whether there is code to run (a generation ended) or not (one is under way); new code
    /// clears the last run's output and mark.
    pub fn set_code(&self, present: bool) {
        self.has_code.set(present);
        self.button.set_disabled(!present || self.running.get());
        if !present {
            self.result.set_hidden(true);
            self.output.set_text_content(None);
            self.status.set_text_content(None);
        }
    }

    fn limit_ms(&self) -> f64 {
        let seconds = self.limit.value().trim().parse::<f64>().ok().filter(|s| s.is_finite());
        let seconds = seconds.unwrap_or(DEFAULT_LIMIT_S).clamp(LIMIT_RANGE_S.0, LIMIT_RANGE_S.1);
        self.limit.set_value(&seconds.to_string());
        seconds * 1000.0
    }

    fn append(&self, stream: Stream, text: &str) {
        let node = self.document.create_element("span").expect("span");
        if stream == Stream::Stderr {
            node.set_class_name("stderr");
        }
        node.set_text_content(Some(text));
        let _ = self.output.append_child(&node);
    }

    /// Marks line `line` (1-based) of the code view, and only it.
    fn mark_line(&self, line: Option<usize>) {
        let Ok(lines) = self.code.query_selector_all("span.line") else { return };
        for at in 0..lines.length() {
            if let Some(element) =
                lines.item(at).and_then(|n| wasm_bindgen::JsCast::dyn_into::<HtmlElement>(n).ok())
            {
                let _ = element.class_list().toggle_with_force("error-line", line == Some(at as usize + 1));
            }
        }
    }

    /// For "Prefer answers that run": runs `code` with no input, its output unseen, and says
    /// whether it ran to its end; `None` while the user's own Run is under way or when the
    /// worker cannot start (the search then stops asking).
    pub async fn runs_clean(&self, code: &str) -> Option<bool> {
        if self.running.replace(true) {
            return None;
        }
        let ran = self.worker.run(code, "", PREFER_RUNNING_LIMIT_MS, |_, _| {}).await;
        self.running.set(false);
        ran.ok().map(|ran| ran.outcome == Outcome::Finished)
    }

    async fn run(self: &Rc<Self>) {
        if self.running.replace(true) || !self.has_code.get() {
            return;
        }
        self.button.set_disabled(true);
        let code = self.code.text_content().unwrap_or_default();
        self.output.set_text_content(None);
        self.result.set_hidden(false);
        self.mark_line(None);
        self.status.set_text_content(Some("Running…"));
        let limit_ms = self.limit_ms();
        let panel = self.clone();
        let ran = self
            .worker
            .run(&code, &self.stdin.value(), limit_ms, move |stream, text| panel.append(stream, text))
            .await;
        let (outcome, line, run_ms, start_ms, memory_bytes) = match &ran {
            Ok(Ran { outcome, run_ms, start_ms, memory_bytes }) => {
                let line = match outcome {
                    Outcome::Raised { traceback, line } => {
                        self.append(Stream::Stderr, traceback);
                        *line
                    }
                    _ => None,
                };
                self.status.set_text_content(Some(&status_text(outcome, *run_ms, *start_ms)));
                (outcome_key(outcome), line, *run_ms, *start_ms, *memory_bytes)
            }
            Err(why) => {
                self.status.set_text_content(Some(&format!("Could not run: {why}")));
                ("failed", None, 0.0, None, 0.0)
            }
        };
        self.mark_line(line);
        let output = self.output.text_content().unwrap_or_default();
        publish(&RunReport { outcome, output: &output, line, run_ms, start_ms, memory_bytes });
        self.running.set(false);
        self.button.set_disabled(!self.has_code.get());
    }
}

fn outcome_key(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Finished => "finished",
        Outcome::Raised { .. } => "raised",
        Outcome::OutputCapped => "output-capped",
        Outcome::TimedOut { .. } => "timed-out",
    }
}

/// The status line after a run, e.g. "Raised NameError on line 3 · 41 ms".
pub fn status_text(outcome: &Outcome, run_ms: f64, start_ms: Option<f64>) -> String {
    let mut text = match outcome {
        Outcome::Finished => format!("Ran to its end in {run_ms:.0} ms"),
        Outcome::Raised { traceback, line } => {
            let last = traceback.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("an exception");
            let name = last.split(':').next().unwrap_or(last).trim();
            match line {
                Some(line) => format!("Raised {name} on line {line} · {run_ms:.0} ms"),
                None => format!("Raised {name} · {run_ms:.0} ms"),
            }
        }
        Outcome::OutputCapped => format!("Stopped: it wrote more than {} KB", OUTPUT_CAP / 1024),
        Outcome::TimedOut { limit_ms } => {
            format!("Stopped at the time limit ({} s); the next Run starts a fresh Python", limit_ms / 1000.0)
        }
    };
    if let Some(start_ms) = start_ms {
        text.push_str(&format!(" · Python loaded in {start_ms:.0} ms"));
    }
    text
}

fn publish(report: &RunReport) {
    let Some(window) = web_sys::window() else { return };
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    if let Ok(value) = serde::Serialize::serialize(report, &serializer) {
        let _ = js_sys::Reflect::set(&window, &JsValue::from_str("nl2pyRun"), &value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_status_names_the_exception_and_its_line() {
        let raised = Outcome::Raised {
            traceback: "Traceback (most recent call last):\n  File \"<answer>\", line 3, in <module>\nNameError: name 'x' is not defined\n".into(),
            line: Some(3),
        };
        assert_eq!(status_text(&raised, 41.2, None), "Raised NameError on line 3 · 41 ms");
        assert_eq!(
            status_text(&Outcome::Finished, 12.0, Some(1500.0)),
            "Ran to its end in 12 ms · Python loaded in 1500 ms"
        );
    }
}
