//! nl2py's web workers without the model: how the page and its workers talk ([`channel`]), the
//! Python worker's page end and messages ([`python`]) and, with the feature `python`, its
//! interpreter ([`interpreter`], RustPython). The WebGPU worker is the page crate's: it runs the
//! model. Kept apart from the page's crate so that the Python worker's build compiles no Burn.

pub mod channel;
#[cfg(feature = "python")]
pub mod interpreter;
pub mod python;

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The static constructors wasm-ld gathers (cubecl registers hundreds of IR types with
    /// `inventory` in them). A module whose exports never call this one is linked as a
    /// "command": wasm-ld wraps every export to run all constructors first, and the glue calls
    /// an export for every JS value it hands to Rust — so each `window()`, each DOM call, each
    /// number serialized for `window.nl2py` re-ran them (the page spent about 2.8 s after every
    /// answer in `publish` alone). Calling it once, first, makes the module a reactor
    /// (web/post_build.py fails the build otherwise).
    fn __wasm_call_ctors();
}

/// What each binary's `main` does first and only (the page's, the WebGPU worker's, the Python
/// worker's): runs the module's static constructors once, then `task` on the browser's event loop.
pub fn run_main(task: impl Future<Output = ()> + 'static) {
    #[cfg(target_arch = "wasm32")]
    {
        static CONSTRUCTED: std::sync::Once = std::sync::Once::new();
        // SAFETY: once, and from `main` before any other code of the module.
        CONSTRUCTED.call_once(|| unsafe { __wasm_call_ctors() });
    }
    wasm_bindgen_futures::spawn_local(task);
}
