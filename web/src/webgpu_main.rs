//! The WebGPU worker's entry point: trunk builds this binary as a web worker (index.html's
//! `data-type="worker"`), which the page starts where the browser offers a hardware adapter.

fn main() {
    nl2py_worker::run_main(nl2py_web::webgpu_worker::serve());
}
