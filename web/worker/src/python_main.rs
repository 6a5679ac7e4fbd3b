//! The Python worker's entry point: trunk builds this binary as a web worker (index.html's
//! `data-type="worker"`), which the page starts on the first Run.

fn main() {
    nl2py_worker::run_main(nl2py_worker::interpreter::serve());
}
