//! The WebGPU worker's entry point: trunk builds this binary as a web worker (index.html's
//! `data-type="worker"`), which the page starts where the browser offers a hardware adapter.

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The static constructors, run once here as in `main.rs` (which says why).
    fn __wasm_call_ctors();
}

fn main() {
    // SAFETY: runs the constructors once, before any other code of the module.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors()
    };
    wasm_bindgen_futures::spawn_local(nl2py_web::webgpu_worker::serve());
}
