//! The model in the page: which Burn backend runs it, loading a bundle onto it, and generating
//! with tokens reported as they come.

use burn::tensor::Device;
use nl2py::bundle::{self, BundleInfo, Verified};
use nl2py::decode::{GenerateOptions, Generation, Search, Translator, Watch};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::webgpu_worker::WebGpuWorker;

/// Where the model computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's wgpu runtime on the browser's WebGPU adapter, in a worker
    /// ([`crate::webgpu_worker`]).
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

/// Whether the browser exposes WebGPU at all (`navigator.gpu`); an adapter may still be refused.
pub fn webgpu_offered() -> bool {
    navigator_gpu().is_some()
}

/// `navigator.gpu`, when the browser has it.
fn navigator_gpu() -> Option<JsValue> {
    let window = web_sys::window()?;
    js_sys::Reflect::get(&window.navigator(), &JsValue::from_str("gpu"))
        .ok()
        .filter(|gpu| !gpu.is_undefined())
}

/// What the browser says about its WebGPU adapter (`GPUAdapter.info`, `isFallbackAdapter`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    pub fallback: bool,
}

impl AdapterInfo {
    /// Names of adapters that draw on the CPU: SwiftShader (Chromium's), Mesa's llvmpipe and
    /// lavapipe, Windows' basic render driver.
    const SOFTWARE: &[&str] = &["swiftshader", "llvmpipe", "lavapipe", "softpipe", "basic render"];

    /// A software adapter: WebGPU emulated on the CPU, far slower than the CPU backend (a
    /// 5-token answer took 17.8 s on SwiftShader, against tens of milliseconds).
    pub fn is_software(&self) -> bool {
        let names = format!("{} {} {}", self.vendor, self.architecture, self.description).to_lowercase();
        self.fallback || Self::SOFTWARE.iter().any(|name| names.contains(name))
    }

    /// The adapter as a user would recognise it, e.g. "google swiftshader".
    pub fn name(&self) -> String {
        let parts = [&self.vendor, &self.architecture, &self.description];
        let name: Vec<&str> = parts.iter().map(|p| p.as_str()).filter(|p| !p.is_empty()).collect();
        if name.is_empty() { "unnamed adapter".into() } else { name.join(" ") }
    }
}

/// Asks the browser for its WebGPU adapter and reads what it says about it; `Err` says why
/// there is none.
pub async fn webgpu_adapter() -> Result<AdapterInfo, String> {
    let gpu = navigator_gpu().ok_or("this browser does not offer WebGPU")?;
    let request: js_sys::Function = js_sys::Reflect::get(&gpu, &JsValue::from_str("requestAdapter"))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("this browser's WebGPU has no requestAdapter")?;
    let promise: js_sys::Promise =
        request.call0(&gpu).ok().and_then(|p| p.dyn_into().ok()).ok_or("requestAdapter failed")?;
    let adapter = JsFuture::from(promise).await.map_err(|_| "requestAdapter failed".to_string())?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("the browser offers WebGPU but no adapter".into());
    }
    let field = |object: &JsValue, name: &str| js_sys::Reflect::get(object, &JsValue::from_str(name)).ok();
    let text =
        |object: &JsValue, name: &str| field(object, name).and_then(|v| v.as_string()).unwrap_or_default();
    let info = field(&adapter, "info").unwrap_or(JsValue::UNDEFINED);
    // `isFallbackAdapter` moved from the adapter to its info in newer browsers.
    let fallback = [&adapter, &info]
        .iter()
        .any(|o| field(o, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true));
    Ok(AdapterInfo {
        vendor: text(&info, "vendor"),
        architecture: text(&info, "architecture"),
        description: text(&info, "description"),
        fallback,
    })
}

/// The backend to start on when nobody chose one, and why: WebGPU on a hardware adapter, the
/// CPU otherwise.
pub async fn default_backend() -> (Backend, String) {
    match webgpu_adapter().await {
        Ok(adapter) if adapter.is_software() => (
            Backend::Cpu,
            format!("WebGPU's adapter ({}) draws on the CPU, slower than the CPU backend", adapter.name()),
        ),
        Ok(adapter) => (Backend::WebGpu, format!("WebGPU on {}", adapter.name())),
        Err(why) => (Backend::Cpu, why),
    }
}

/// Burn's wgpu runtime on the browser's WebGPU (in the worker), initialised asynchronously on
/// first use (a browser cannot block for an adapter); later calls reuse its device.
#[cfg(feature = "webgpu")]
pub async fn webgpu_device() -> Result<Device, String> {
    thread_local! {
        static WEBGPU: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(device) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device =
        Device::wgpu_options().init_async().await.map_err(|e| format!("WebGPU could not start: {e}"))?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

/// A loaded model on one backend.
pub struct Engine {
    /// The model on the CPU. It tokenizes prompts and names tokens for the page, and generates
    /// when the backend is the CPU.
    pub translator: Translator,
    pub backend: Backend,
    pub info: BundleInfo,
    /// Milliseconds it took to build the model (and start the WebGPU worker with its own).
    pub load_ms: f64,
    /// Generates when the backend is WebGPU.
    webgpu: Option<WebGpuWorker>,
}

impl Engine {
    /// Checks the bundle (format version, checksum) and builds its model on `backend`.
    pub async fn load(bytes: &[u8], backend: Backend) -> Result<Engine, String> {
        let bundle = bundle::verify(bytes.to_vec()).map_err(|e| e.to_string())?;
        Self::load_verified(&bundle, backend).await
    }

    /// [`Engine::load`] from a bundle checked when it was fetched: not hashed again here (the
    /// WebGPU worker checks its copy).
    pub async fn load_verified(bundle: &Verified, backend: Backend) -> Result<Engine, String> {
        if backend == Backend::WebGpu && !webgpu_offered() {
            return Err("this browser does not offer WebGPU".into());
        }
        let started = now_ms();
        let translator = bundle::load_verified(bundle, &Device::flex()).map_err(|e| e.to_string())?;
        let webgpu = match backend {
            Backend::WebGpu => Some(WebGpuWorker::start(bundle.bytes()).await?),
            Backend::Cpu => None,
        };
        let load_ms = now_ms() - started;
        Ok(Engine { translator, backend, info: bundle.info().clone(), load_ms, webgpu })
    }

    pub async fn generate(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Generation, String> {
        match &self.webgpu {
            Some(worker) => worker.generate(prompt, options, watch).await,
            None => self.translator.generate_watched(prompt, options, watch).await.map_err(|e| e.to_string()),
        }
    }
}

/// The prompt the page times each backend on, and compares their answers with.
pub const TRIAL_PROMPT: &str = "sort list `d` by value";

/// Tokens a trial decodes at most: enough steps to time, few enough for a first visit.
const TRIAL_TOKENS: usize = 16;

/// One backend decoding [`TRIAL_PROMPT`] greedily.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub backend: Backend,
    /// The whole generation's time over its tokens, measured after an untimed run (which
    /// compiles WebGPU's shaders and fills caches).
    pub ms_per_token: f64,
    pub ids: Vec<usize>,
}

impl Engine {
    /// Times this engine on [`TRIAL_PROMPT`].
    pub async fn trial(&self) -> Result<Trial, String> {
        let options =
            GenerateOptions { search: Search::Greedy, max_tokens: TRIAL_TOKENS, ..Default::default() };
        self.generate(TRIAL_PROMPT, &options, &mut ()).await?;
        let started = now_ms();
        let generation = self.generate(TRIAL_PROMPT, &options, &mut ()).await?;
        let ms_per_token = (now_ms() - started) / generation.ids.len().max(1) as f64;
        Ok(Trial { backend: self.backend, ms_per_token, ids: generation.ids })
    }
}

/// The faster of two trials' backends, and why, with how far the second's answer agrees with
/// the first's: the tokens both chose before they first differ, of the longer answer (greedy
/// answers that part ways are not compared further).
pub fn faster(first: &Trial, second: &Trial) -> (Backend, String) {
    let winner = if second.ms_per_token < first.ms_per_token { second } else { first };
    let same = first.ids.iter().zip(&second.ids).take_while(|(a, b)| a == b).count();
    let agreement = match (same, first.ids.len().max(second.ids.len())) {
        (same, all) if same == all => format!("both chose the same {all} tokens"),
        (same, all) => format!("they chose the same first {same} of {all} tokens"),
    };
    let reason = format!(
        "measured here: {} {:.1} ms a token, {} {:.1} ms; {agreement} for \"{TRIAL_PROMPT}\"",
        first.backend.label(),
        first.ms_per_token,
        second.backend.label(),
        second.ms_per_token,
    );
    (winner.backend, reason)
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
