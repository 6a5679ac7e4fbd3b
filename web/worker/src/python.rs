//! Running an answer: the page's end of the Python worker, and the messages both ends share. The
//! interpreter (RustPython, 15.6 MB of wasm, 8.5 MB gzipped) lives in a web worker of its own, `nl2py-python`
//! (web/worker/src/python_main.rs, built with the `python` feature), which the page starts on the first Run:
//! a visit that never runs anything never fetches it. The page bounds each run: past its time
//! limit the worker is terminated (a `while True: pass` cannot freeze the page) and a fresh one
//! starts for the next Run.
//!
//! The messages: the worker says [`FromPython::Ready`]; per run the page sends
//! [`ToPython::Run`], the worker streams [`FromPython::Output`] as the program writes and ends
//! with [`FromPython::Done`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::channel::{self, Inbox, to_js};

/// The worker's start-up script, which trunk writes beside the page (index.html's
/// `data-loader-shim`): it loads `nl2py-python.js` and that loads the interpreter's wasm.
const WORKER_SCRIPT: &str = "./nl2py-python_loader.js";

/// A worker is replaced after this many runs (each with a fresh interpreter). Running the 326
/// English–Python dev answers one after another (examples/python_parity.rs), a worker trapped
/// ("RuntimeError: unreachable") every 20 to 40 runs, on programs that run alone without fault,
/// while its wasm memory stayed under 46 MB: something RustPython keeps across interpreters wears
/// out. A fresh worker costs about 0.2–0.4 s, started while the last run's output is read.
const RUNS_PER_WORKER: usize = 16;

/// How much a run may write, stdout and stderr together: the panel shows this much and the
/// program is stopped there (a loop that prints forever fills no page).
pub const OUTPUT_CAP: usize = 64 * 1024;

/// The name the answer's code runs under: tracebacks say `File "<answer>", line N`.
pub const SOURCE_NAME: &str = "<answer>";

/// What the page asks of the worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToPython {
    /// Run `code` as `__main__`, `stdin` its standard input, stopping it past `output_cap` bytes.
    Run { code: String, stdin: String, output_cap: usize },
}

/// What the worker tells the page.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromPython {
    /// Its wasm runs and it listens.
    Ready,
    /// The running program wrote `text`.
    Output { stream: Stream, text: String },
    /// The run ended; the worker's wasm memory after it, bytes.
    Done { outcome: Outcome, memory_bytes: f64 },
    /// The worker's wasm panicked: it serves no more.
    Panicked(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Ran to its end, or called `sys.exit()` with 0 or nothing.
    Finished,
    /// An exception (a `SyntaxError` included) ended it, or `sys.exit` with another code: the
    /// traceback as Python prints it, and the answer's line it points at last.
    Raised { traceback: String, line: Option<usize> },
    /// It wrote more than the output cap and was stopped there.
    OutputCapped,
    /// The page stopped it at its time limit (milliseconds).
    TimedOut { limit_ms: f64 },
}

/// The line of the answer a traceback points at last (its innermost frame in the answer's code).
pub fn last_answer_line(traceback: &str) -> Option<usize> {
    let marker = format!("File \"{SOURCE_NAME}\", line ");
    traceback
        .lines()
        .rev()
        .filter_map(|line| line.trim_start().strip_prefix(&marker))
        .find_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
}

/// One run as the page saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Ran {
    pub outcome: Outcome,
    /// From Run to the end, milliseconds (a fresh interpreter's start included).
    pub run_ms: f64,
    /// When this run had to start the worker first: fetching and starting it, milliseconds.
    pub start_ms: Option<f64>,
    /// The worker's wasm memory after the run, bytes (0 when it did not say).
    pub memory_bytes: f64,
}

/// A started worker and what has come from it.
struct Started {
    worker: web_sys::Worker,
    inbox: Inbox,
    /// It said Ready (the first run after a start waits for that).
    ready: Cell<bool>,
    /// Runs it was given.
    runs: Cell<usize>,
    began: f64,
}

impl Started {
    fn start() -> Result<Started, String> {
        let worker = web_sys::Worker::new(WORKER_SCRIPT)
            .map_err(|e| format!("the Python worker did not start: {e:?}"))?;
        let inbox = Inbox::listen(&worker, "the Python worker");
        Ok(Started { worker, inbox, ready: Cell::new(false), runs: Cell::new(0), began: js_sys::Date::now() })
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

fn from_js(value: wasm_bindgen::JsValue) -> Result<FromPython, String> {
    channel::from_js(value, "the Python worker")
}

/// The page's end: none of the worker's files are fetched before the first [`PythonWorker::run`].
#[derive(Default)]
pub struct PythonWorker {
    started: RefCell<Option<Rc<Started>>>,
}

impl PythonWorker {
    /// Runs `code` with `stdin` as its input, at most `limit_ms` milliseconds from the moment the
    /// worker takes it; `output` sees each piece it writes as it writes it.
    pub async fn run(
        &self,
        code: &str,
        stdin: &str,
        limit_ms: f64,
        mut output: impl FnMut(Stream, &str),
    ) -> Result<Ran, String> {
        let started = match self.started.borrow().clone() {
            Some(started) => started,
            None => Rc::new(Started::start()?),
        };
        self.started.replace(Some(started.clone()));
        let result = self.run_on(&started, code, stdin, limit_ms, &mut output).await;
        let keep = match &result {
            Ok(ran) => {
                matches!(ran.outcome, Outcome::Finished | Outcome::Raised { .. } | Outcome::OutputCapped)
                    && started.runs.get() < RUNS_PER_WORKER
            }
            Err(_) => false,
        };
        if !keep {
            // Stopped at the limit, broken, or worn: this worker goes, and a fresh one starts
            // loading now so that the next Run does not wait for it.
            self.started.replace(Started::start().ok().map(Rc::new));
        }
        result
    }

    async fn run_on(
        &self,
        started: &Started,
        code: &str,
        stdin: &str,
        limit_ms: f64,
        output: &mut impl FnMut(Stream, &str),
    ) -> Result<Ran, String> {
        let mut start_ms = None;
        if !started.ready.get() {
            match started.inbox.next().await.and_then(from_js)? {
                FromPython::Ready => {}
                FromPython::Panicked(why) => return Err(why),
                other => return Err(format!("the Python worker began with {other:?}")),
            }
            started.ready.set(true);
            start_ms = Some(js_sys::Date::now() - started.began);
        }
        started.runs.set(started.runs.get() + 1);
        let sent = to_js(&ToPython::Run { code: code.into(), stdin: stdin.into(), output_cap: OUTPUT_CAP });
        started.worker.post_message(&sent).map_err(|e| format!("the Python worker is gone: {e:?}"))?;
        let began = js_sys::Date::now();
        loop {
            let left = limit_ms - (js_sys::Date::now() - began);
            let Some(message) = started.inbox.next_within(left).await else {
                return Ok(Ran {
                    outcome: Outcome::TimedOut { limit_ms },
                    run_ms: limit_ms,
                    start_ms,
                    memory_bytes: 0.0,
                });
            };
            match message.and_then(from_js)? {
                FromPython::Output { stream, text } => output(stream, &text),
                FromPython::Done { outcome, memory_bytes } => {
                    return Ok(Ran { outcome, run_ms: js_sys::Date::now() - began, start_ms, memory_bytes });
                }
                FromPython::Panicked(why) => return Err(why),
                FromPython::Ready => return Err("the Python worker said Ready twice".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marked_line_is_the_answers_innermost_frame() {
        let traceback = "Traceback (most recent call last):\n  File \"<answer>\", line 5, in <module>\n    \
                         f(0)\n  File \"<answer>\", line 2, in f\n    return 1 / x\n  File \"lib.py\", line 9\n\
                         ZeroDivisionError: division by zero\n";
        assert_eq!(last_answer_line(traceback), Some(2));
        let syntax =
            "  File \"<answer>\", line 3\n    print(\n         ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(last_answer_line(syntax), Some(3));
        assert_eq!(last_answer_line("MemoryError\n"), None);
    }
}
