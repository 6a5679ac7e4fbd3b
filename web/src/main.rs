//! The page's entry point: trunk loads this binary's wasm, which binds `index.html`.

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The static constructors wasm-ld gathers (cubecl registers hundreds of IR types with
    /// `inventory` in them). A module whose exports never call this one is linked as a
    /// "command": wasm-ld wraps every export to run all constructors first, and the glue calls
    /// an export for every JS value it hands to Rust — so each `window()`, each DOM call, each
    /// number serialized for `window.nl2py` re-ran them (the page spent about 2.8 s after every
    /// answer in `publish` alone). Calling it once here, first, makes the module a reactor.
    fn __wasm_call_ctors();
}

fn main() {
    // SAFETY: runs the constructors once, before any other code of the module.
    #[cfg(target_arch = "wasm32")]
    unsafe {
        __wasm_call_ctors()
    };
    wasm_bindgen_futures::spawn_local(nl2py_web::page::start());
}
