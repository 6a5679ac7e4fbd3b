//! nl2py's web page, compiled to wasm32: the model runs in the tab on the CPU or, in a worker,
//! on WebGPU; the page generates Python from the prompt box and draws its attention. Built by
//! trunk from `index.html`; no JavaScript of our own. The workers' messaging and the Python
//! worker are the crate `nl2py-worker` (web/worker).

pub mod attention_view;
pub mod bundle_cache;
pub mod engine;
pub mod highlight;
pub mod model_source;
pub mod page;
pub mod run_panel;
pub mod share;
pub mod webgpu_worker;

// model_source's unit tests use the browser's URL parser: they run in Chromium, as web/tests do;
// the others are plain tests, run natively.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
