//! The WebGPU engine in a web worker, both ends of it. Burn's wgpu runtime is more than half of
//! the code, so the page's own wasm leaves it out: where a browser offers a hardware adapter, the
//! page starts this worker (its own wasm, `nl2py-webgpu`, built with the `webgpu` feature) and
//! generates through it.
//!
//! The messages, in order: the worker says [`FromWorker::Ready`]; the page sends the bundle's
//! bytes (a `Uint8Array`, the one message that is not a [`ToWorker`]); the worker answers
//! [`FromWorker::Loaded`] or [`FromWorker::Failed`]. Then per generation: the page sends
//! [`ToWorker::Generate`], and the worker sends a [`FromWorker::Step`] after each decoder step and
//! waits for [`ToWorker::Continue`] (the page shows the code so far and says whether Stop was
//! pressed), and, for "Prefer answers that run", a [`FromWorker::Run`] per answer to run, which
//! the page's Python worker runs and [`ToWorker::Ran`] answers, until [`FromWorker::Done`].

use std::cell::{Cell, RefCell};

use nl2py::decode::{GenerateOptions, Generation, Watch};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use nl2py_worker::channel::{self, Inbox, to_js};

/// The worker's start-up script, which trunk writes beside the page (index.html's
/// `data-loader-shim`): it loads `nl2py-webgpu.js` and that loads the worker's wasm.
const WORKER_SCRIPT: &str = "./nl2py-webgpu_loader.js";

/// What the page asks of the worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    Generate {
        prompt: String,
        options: GenerateOptions,
    },
    /// The answer to a [`FromWorker::Step`]: `false` ends the generation there.
    Continue(bool),
    /// The answer to a [`FromWorker::Run`]: whether the code ran clean (`None`: nothing ran it).
    Ran(Option<bool>),
}

/// What the worker tells the page.
// Natively (where the page's plain tests build) `Done` outweighs the rest; a message is made
// once and serialized at once, so boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// Its wasm runs and it listens.
    Ready,
    /// The model is on the GPU.
    Loaded,
    /// The best output so far, after a decoder step.
    Step(Vec<usize>),
    /// The search asks to run an answer ([`Watch::runs_clean`]): the page's Python worker runs it.
    Run(String),
    Done(Generation),
    /// A load or a generation failed, and why; the worker still serves.
    Failed(String),
    /// The worker's wasm panicked: it serves no more.
    Panicked(String),
}

fn from_js<T: for<'de> Deserialize<'de>>(value: JsValue) -> Result<T, String> {
    channel::from_js(value, "the page or its WebGPU worker")
}

/// The page's end: a worker with the model on WebGPU.
pub struct WebGpuWorker {
    worker: web_sys::Worker,
    inbox: Inbox,
    /// Why the worker serves no more (it panicked), once it does not.
    dead: RefCell<Option<String>>,
    /// A generation is under way: the worker serves one at a time.
    busy: Cell<bool>,
}

impl WebGpuWorker {
    /// Starts the worker and loads the bundle (checked again there) onto its GPU.
    pub async fn start(bundle: &[u8]) -> Result<WebGpuWorker, String> {
        let worker = web_sys::Worker::new(WORKER_SCRIPT)
            .map_err(|e| format!("the WebGPU worker did not start: {e:?}"))?;
        let inbox = Inbox::listen(&worker, "the WebGPU worker");
        let started = WebGpuWorker { worker, inbox, dead: RefCell::new(None), busy: Cell::new(false) };
        match started.receive().await? {
            FromWorker::Ready => {}
            other => return Err(format!("the WebGPU worker began with {other:?}")),
        }
        started
            .worker
            .post_message(&js_sys::Uint8Array::from(bundle))
            .map_err(|e| format!("the model could not be sent to the WebGPU worker: {e:?}"))?;
        match started.receive().await? {
            FromWorker::Loaded => Ok(started),
            FromWorker::Failed(message) => Err(message),
            other => Err(format!("the WebGPU worker answered {other:?} to the model")),
        }
    }

    async fn receive(&self) -> Result<FromWorker, String> {
        if let Some(why) = self.dead.borrow().as_ref() {
            return Err(why.clone());
        }
        let message = match self.inbox.next().await.and_then(from_js) {
            Ok(FromWorker::Panicked(message)) => Err(message),
            other => other,
        };
        if let Err(why) = &message {
            // An error event or a panic: this worker is done with.
            self.worker.terminate();
            *self.dead.borrow_mut() = Some(why.clone());
        }
        message
    }

    fn send(&self, message: &ToWorker) -> Result<(), String> {
        self.worker.post_message(&to_js(message)).map_err(|e| format!("the WebGPU worker is gone: {e:?}"))
    }

    /// Generates on the worker's GPU; `watch` sees each step, as on the CPU.
    pub async fn generate(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Generation, String> {
        if self.busy.replace(true) {
            return Err("the WebGPU worker is busy with another generation".into());
        }
        let result = self.run(prompt, options, watch).await;
        self.busy.set(false);
        result
    }

    async fn run(
        &self,
        prompt: &str,
        options: &GenerateOptions,
        watch: &mut impl Watch,
    ) -> Result<Generation, String> {
        self.send(&ToWorker::Generate { prompt: prompt.into(), options: options.clone() })?;
        loop {
            match self.receive().await? {
                FromWorker::Step(best) => {
                    let go_on = watch.step(&best).await;
                    self.send(&ToWorker::Continue(go_on))?;
                }
                FromWorker::Run(code) => {
                    let clean = watch.runs_clean(&code).await;
                    self.send(&ToWorker::Ran(clean))?;
                }
                FromWorker::Done(generation) => return Ok(generation),
                FromWorker::Failed(message) => return Err(message),
                other => return Err(format!("the WebGPU worker answered {other:?} during a generation")),
            }
        }
    }
}

impl Drop for WebGpuWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

#[cfg(feature = "webgpu")]
pub use serve::serve;

/// The worker's end (its own wasm, `src/webgpu_main.rs`).
#[cfg(feature = "webgpu")]
mod serve {
    use super::*;
    use nl2py::decode::Translator;
    use wasm_bindgen::JsCast;
    use web_sys::DedicatedWorkerGlobalScope;

    fn scope() -> DedicatedWorkerGlobalScope {
        js_sys::global().unchecked_into()
    }

    fn post(message: &FromWorker) {
        let _ = scope().post_message(&to_js(message));
    }

    /// Relays each step to the page and waits for its answer.
    struct Relay<'a> {
        inbox: &'a Inbox,
    }

    impl Watch for Relay<'_> {
        async fn step(&mut self, best: &[usize]) -> bool {
            post(&FromWorker::Step(best.to_vec()));
            matches!(self.inbox.next().await.and_then(from_js), Ok(ToWorker::Continue(true)))
        }

        async fn runs_clean(&mut self, code: &str) -> Option<bool> {
            post(&FromWorker::Run(code.into()));
            match self.inbox.next().await.and_then(from_js) {
                Ok(ToWorker::Ran(clean)) => clean,
                _ => None,
            }
        }
    }

    async fn load(bytes: Vec<u8>) -> Result<Translator, String> {
        let device = crate::engine::webgpu_device().await?;
        let (translator, _) = nl2py::bundle::load_inspected(&bytes, &device).map_err(|e| e.to_string())?;
        Ok(translator)
    }

    /// Serves the page until the page terminates the worker.
    pub async fn serve() {
        std::panic::set_hook(Box::new(|info| {
            post(&FromWorker::Panicked(format!("the WebGPU worker failed: {info}")))
        }));
        let inbox = Inbox::listen(&scope(), "the page");
        post(&FromWorker::Ready);
        let mut translator = None;
        loop {
            let Ok(message) = inbox.next().await else { continue };
            if let Some(bytes) = message.dyn_ref::<js_sys::Uint8Array>() {
                match load(bytes.to_vec()).await {
                    Ok(loaded) => {
                        translator = Some(loaded);
                        post(&FromWorker::Loaded);
                    }
                    Err(message) => post(&FromWorker::Failed(message)),
                }
                continue;
            }
            let reply = match (from_js(message), &translator) {
                (Ok(ToWorker::Generate { prompt, options }), Some(translator)) => {
                    match translator.generate_watched(&prompt, &options, &mut Relay { inbox: &inbox }).await {
                        Ok(generation) => FromWorker::Done(generation),
                        Err(e) => FromWorker::Failed(e.to_string()),
                    }
                }
                (Ok(ToWorker::Generate { .. }), None) => FromWorker::Failed("no model is loaded".into()),
                (Ok(ToWorker::Continue(_) | ToWorker::Ran(_)), _) => continue, // nothing asked for it
                (Err(message), _) => FromWorker::Failed(message),
            };
            post(&reply);
        }
    }
}
