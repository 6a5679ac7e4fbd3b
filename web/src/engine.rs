//! The model in the page: which Burn backend runs it, loading a bundle onto it, and generating
//! with tokens reported as they come.

use std::cell::RefCell;

use burn::tensor::Device;
use nl2py::bundle::{self, BundleInfo};
use nl2py::decode::{GenerateOptions, Generation, Translator, Watch};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// Where the model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's wgpu runtime on the browser's WebGPU adapter.
    WebGpu,
    /// Burn Flex: pure-Rust CPU kernels compiled to wasm.
    Cpu,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::WebGpu => "WebGPU",
            Backend::Cpu => "CPU (wasm)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "webgpu" => Some(Backend::WebGpu),
            "cpu" => Some(Backend::Cpu),
            _ => None,
        }
    }
}

thread_local! {
    /// Burn's wgpu runtime can be initialised once per page; later loads reuse its device.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// Whether the browser exposes WebGPU at all (`navigator.gpu`); an adapter may still be refused.
pub fn webgpu_offered() -> bool {
    let Some(window) = web_sys::window() else { return false };
    js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("gpu")).is_ok_and(|gpu| !gpu.is_undefined())
}

/// The device for a backend. WebGPU is initialised asynchronously on first use (a browser
/// cannot block for an adapter), and fails with a message when no adapter is offered.
pub async fn device(backend: Backend) -> Result<Device, String> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        Backend::WebGpu => {
            if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
                return Ok(device);
            }
            if !webgpu_offered() {
                return Err("this browser does not offer WebGPU".into());
            }
            let device = Device::wgpu_options()
                .init_async()
                .await
                .map_err(|e| format!("WebGPU could not start: {e}"))?;
            WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
            Ok(device)
        }
    }
}

/// A loaded model on one backend.
pub struct Engine {
    pub translator: Translator,
    pub backend: Backend,
    pub info: BundleInfo,
}

impl Engine {
    /// Checks the bundle (format version, checksum) and builds its model on `backend`.
    pub async fn load(bytes: &[u8], backend: Backend) -> Result<Engine, String> {
        let info = bundle::inspect(bytes).map_err(|e| e.to_string())?;
        let device = device(backend).await?;
        let translator = bundle::load(bytes, &device).map_err(|e| e.to_string())?;
        Ok(Engine { translator, backend, info })
    }

    pub async fn generate(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Generation, String> {
        self.translator.generate_watched(prompt, options, watch).await.map_err(|e| e.to_string())
    }
}

/// Milliseconds since the page started (`performance.now()`).
pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Lets the browser run its event loop (paint, clicks) before the next step.
pub async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}
