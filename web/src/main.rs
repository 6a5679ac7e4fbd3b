//! The page's entry point: trunk loads this binary's wasm, which binds `index.html`.

fn main() {
    wasm_bindgen_futures::spawn_local(nl2py_web::page::start());
}
