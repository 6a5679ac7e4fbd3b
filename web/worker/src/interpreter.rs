//! Python run in the page: RustPython's interpreter (its VM, native modules and frozen pure-Python
//! standard library) with the browser's bounds made explicit. A wasm32 build has no files,
//! processes, sockets or clocks of its own; where a program reaches for one it gets an exception
//! that says so instead of a panic that would kill the worker. Each run gets a fresh interpreter
//! so that nothing one answer did (a patched module, a replaced `print`) leaks into the next.
//! The time limit is the page's: it terminates the worker (python.rs). This is the
//! worker's end; its entry point is src/python_main.rs.

use std::cell::Cell;
use std::rc::Rc;

use rustpython_vm::builtins::{PyBaseExceptionRef, PyStrRef};
use rustpython_vm::compiler::Mode;
use rustpython_vm::{AsObject, Interpreter, PyResult, Settings, VirtualMachine};
use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use crate::channel::{Inbox, from_js, to_js};
use crate::python::{FromPython, Outcome, SOURCE_NAME, Stream, ToPython, last_answer_line};

/// The interpreter's set-up, run before each answer in a namespace of its own. `_page_emit`,
/// `_page_urandom` and `_page_stdin` are given by [`run`].
const PRELUDE: &str = r#"
import sys, time, types, builtins, _io

NO_HOST = ("the page's Python runs inside your browser, which gives it no files, processes or "
           "network; run the code with python3 on your computer for that")

def refuse(what):
    def refused(*args, **kwargs):
        raise PermissionError(f"{what}: {NO_HOST}")
    refused.__name__ = what
    return refused

# Without a host environment `_io` has no FileIO, which `io` imports: one that refuses.
class FileIO(_io._RawIOBase):
    def __init__(self, *args, **kwargs):
        raise PermissionError(f"FileIO: {NO_HOST}")
if not hasattr(_io, "FileIO"):
    _io.FileIO = FileIO
import io

class PageStream:
    """sys.stdout and sys.stderr: what is written goes to the page's output panel."""
    encoding = "utf-8"
    errors = "strict"
    def __init__(self, to_stderr):
        self._to_stderr = to_stderr
    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        _page_emit(self._to_stderr, text)
        return len(text)
    def writelines(self, lines):
        for line in lines:
            self.write(line)
    def flush(self):
        pass
    def isatty(self):
        return False
    def writable(self):
        return True
    def readable(self):
        return False

sys.stdout = sys.__stdout__ = PageStream(False)
sys.stderr = sys.__stderr__ = PageStream(True)
sys.stdin = sys.__stdin__ = io.StringIO(_page_stdin)
sys.argv = ["<answer>"]

builtins.open = refuse("open")
io.open = builtins.open

# A stand-in for `os`: names and pure functions work; anything that would touch the machine
# raises. (RustPython's own `os` needs a host environment a browser does not have.)
os = types.ModuleType("os", "The page's os: no files, processes or environment.")
os.name = "posix"
os.sep, os.altsep, os.extsep, os.pathsep = "/", None, ".", ":"
os.curdir, os.pardir, os.linesep, os.devnull = ".", "..", "\n", "/dev/null"
os.environ = {}
os.getenv = lambda key, default=None: default
os.getcwd = lambda: "/"
os.getpid = lambda: 1
os.cpu_count = lambda: 1
os.urandom = _page_urandom
os.fspath = lambda path: path if isinstance(path, (str, bytes)) else path.__fspath__()
os.PathLike = type("PathLike", (), {})
os.error = OSError
os.register_at_fork = lambda **callbacks: None  # random registers one; a page never forks
for name in ("system", "popen", "listdir", "scandir", "walk", "remove", "unlink", "rmdir",
             "mkdir", "makedirs", "rename", "replace", "chdir", "stat", "lstat", "open",
             "startfile", "kill", "fork", "execv", "execvp", "spawnv", "chmod", "chown",
             "symlink", "link", "utime", "truncate", "access", "putenv", "unsetenv"):
    setattr(os, name, refuse(f"os.{name}"))
sys.modules["os"] = os
try:
    import posixpath
    os.path = posixpath
    sys.modules["os.path"] = posixpath
    for name in ("exists", "isfile", "isdir", "islink", "getsize", "getmtime", "realpath", "expanduser"):
        setattr(posixpath, name, refuse(f"os.path.{name}"))
except ImportError:
    pass

# The network, processes and threads that would block: an ImportError that says why.
class NoHost:
    REFUSED = {"socket", "_socket", "ssl", "_ssl", "subprocess", "_posixsubprocess", "select",
               "selectors", "http", "urllib", "ftplib", "smtplib", "telnetlib", "multiprocessing",
               "threading", "_thread", "asyncio", "webbrowser", "shutil", "tempfile", "sqlite3"}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.REFUSED:
            raise ImportError(f"No module named {name!r} here: {NO_HOST}", name=name)
        return None

sys.meta_path.insert(0, NoHost())

# wasm32 has no clock of its own: the monotonic clocks count from the page's wall clock, and
# sleep waits on it (the worker's time limit still stops a long one).
def monotonic():
    return time.time()
def monotonic_ns():
    return int(time.time() * 1e9)
def sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    end = time.time() + seconds
    while time.time() < end:
        pass
time.monotonic = time.perf_counter = time.process_time = monotonic
time.monotonic_ns = time.perf_counter_ns = time.process_time_ns = time.time_ns = monotonic_ns
time.sleep = sleep
# The pure-Python datetime, which reads time.time(), instead of a native one that cannot.
sys.modules["_datetime"] = None
"#;

/// Runs `code` as the `__main__` module with `stdin` as its standard input, handing what it
/// writes to `emit` as it writes it; stops it once it has written more than `output_cap` bytes.
pub fn run(code: &str, stdin: &str, output_cap: usize, emit: impl Fn(Stream, &str) + 'static) -> Outcome {
    let mut settings = Settings::default();
    settings.import_site = false;
    settings.allow_external_library = false;
    settings.install_signal_handlers = false;
    settings.user_site_directory = false;
    let builder = Interpreter::builder(settings);
    let native = rustpython_stdlib::stdlib_module_defs(&builder.ctx);
    let interpreter =
        builder.add_native_modules(&native).add_frozen_modules(rustpython_pylib::FROZEN_STDLIB).build();
    let written = Rc::new(Cell::new(0usize));
    let capped = Rc::new(Cell::new(false));
    let outcome = interpreter.enter(|vm| {
        let emitter = {
            let (written, capped) = (written.clone(), capped.clone());
            vm.new_function(
                "_page_emit",
                move |to_stderr: bool, text: PyStrRef, vm: &VirtualMachine| -> PyResult<()> {
                    let text = text.to_string_lossy();
                    let room = output_cap.saturating_sub(written.get());
                    if capped.get() || text.len() > room {
                        let mut end = room.min(text.len());
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        if !capped.replace(true) && end > 0 {
                            emit(if to_stderr { Stream::Stderr } else { Stream::Stdout }, &text[..end]);
                        }
                        written.set(output_cap);
                        // A BaseException that `except Exception` does not swallow.
                        return Err(vm.new_exception_msg(
                            vm.ctx.exceptions.keyboard_interrupt.to_owned(),
                            format!("the output passed the page's cap of {output_cap} bytes").into(),
                        ));
                    }
                    written.set(written.get() + text.len());
                    emit(if to_stderr { Stream::Stderr } else { Stream::Stdout }, &text);
                    Ok(())
                },
            )
        };
        let urandom =
            vm.new_function("_page_urandom", |size: usize, vm: &VirtualMachine| -> PyResult<Vec<u8>> {
                let mut bytes = vec![0u8; size];
                getrandom::fill(&mut bytes).map_err(|e| vm.new_os_error(format!("no random bytes: {e}")))?;
                Ok(bytes)
            });
        let setup = vm.new_scope_with_builtins();
        let globals = &setup.globals;
        let given = [
            ("_page_emit", emitter.into()),
            ("_page_urandom", urandom.into()),
            ("_page_stdin", vm.ctx.new_str(stdin).into()),
        ];
        for (name, value) in given {
            globals.set_item(name, value, vm).expect("a fresh dict takes a str key");
        }
        if let Err(exc) = vm.run_string(setup, PRELUDE, "<page prelude>".to_owned()) {
            // The prelude is ours: its failure is a bug to report whole, not the answer's.
            let mut text = String::new();
            let _ = vm.write_exception(&mut text, &exc);
            return Outcome::Raised {
                traceback: format!("The page's Python did not start:\n{text}"),
                line: None,
            };
        }
        let result = vm
            .compile(code, Mode::Exec, SOURCE_NAME.to_owned())
            .map_err(|err| vm.new_syntax_error(&err, Some(code)))
            .and_then(|compiled| {
                let scope = vm.new_scope_with_main()?;
                vm.run_code_obj(compiled, scope)
            });
        // What the program left in its streams' buffers (print(..., end="")) is already out:
        // PageStream writes through.
        match result {
            Ok(_) => Outcome::Finished,
            Err(exc) => ended_by(vm, exc),
        }
    });
    if capped.get() { Outcome::OutputCapped } else { outcome }
}

/// How an exception that left the module ends the run: `sys.exit(0)` is a finish, anything else
/// a traceback, written to the program's stderr as Python does and kept for the page.
fn ended_by(vm: &VirtualMachine, exc: PyBaseExceptionRef) -> Outcome {
    if exc.fast_isinstance(vm.ctx.exceptions.system_exit) {
        let code = exc.as_object().get_attr("code", vm).ok();
        let clean =
            code.as_ref().is_none_or(|c| vm.is_none(c) || c.str(vm).is_ok_and(|s| s.as_wtf8() == "0"));
        if clean {
            return Outcome::Finished;
        }
    }
    let mut traceback = String::new();
    let _ = vm.write_exception(&mut traceback, &exc);
    let line = last_answer_line(&traceback);
    Outcome::Raised { traceback, line }
}

fn post(message: &FromPython) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let _ = scope.post_message(&to_js(message));
}

/// Serves the page's runs, one at a time, until the page terminates the worker.
pub async fn serve() {
    std::panic::set_hook(Box::new(|info| {
        post(&FromPython::Panicked(format!("the page's Python failed: {info}")))
    }));
    let inbox = Inbox::listen(&js_sys::global().unchecked_into(), "the page");
    post(&FromPython::Ready);
    loop {
        let Ok(message) = inbox.next().await else { continue };
        let outcome = match from_js::<ToPython>(message, "the page") {
            Ok(ToPython::Run { code, stdin, output_cap }) => {
                run(&code, &stdin, output_cap, |stream, text| {
                    post(&FromPython::Output { stream, text: text.into() })
                })
            }
            Err(why) => Outcome::Raised { traceback: why, line: None },
        };
        let memory = wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>();
        let memory_bytes = memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64;
        post(&FromPython::Done { outcome, memory_bytes });
    }
}
