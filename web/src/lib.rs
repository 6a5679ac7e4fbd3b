//! nl2py's web page, compiled to wasm32: the model runs in the tab on the CPU or, in a worker,
//! on WebGPU; the page generates Python from the prompt box and draws its attention. Built by
//! trunk from `index.html`; no JavaScript of our own.

pub mod attention_view;
pub mod bundle_cache;
pub mod engine;
pub mod highlight;
pub mod model_source;
pub mod page;
#[cfg(feature = "python")]
pub mod python;
pub mod python_worker;
pub mod run_panel;
pub mod share;
pub mod webgpu_worker;
pub mod worker_channel;

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

/// What each binary's `main` does first and only: runs the module's static constructors once,
/// then `task` on the browser's event loop.
pub fn run_main(task: impl Future<Output = ()> + 'static) {
    #[cfg(target_arch = "wasm32")]
    {
        static CONSTRUCTED: std::sync::Once = std::sync::Once::new();
        // SAFETY: once, and from `main` before any other code of the module.
        CONSTRUCTED.call_once(|| unsafe { __wasm_call_ctors() });
    }
    wasm_bindgen_futures::spawn_local(task);
}

// The modules' unit tests use the browser's URL parser: they run in Chromium, as web/tests do.
#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
