//! The page's entry point: trunk loads this binary's wasm, which binds `index.html`.

fn main() {
    nl2py_worker::run_main(nl2py_web::page::start());
}
