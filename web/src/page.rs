//! The page: binds the elements of `index.html`, loads the model, and runs generations from the
//! prompt box. Everything the user typed or the model wrote goes into the page as text nodes,
//! never as markup. The last generation and its timings are published as `window.nl2py` for
//! scripts (the end-to-end test and the browser benchmark read it). The address's fragment always
//! holds the last generation as a link (`share`), and a link opened fills the page and generates.
//! A service worker (`sw.js`, written by web/post_build.py) keeps the page's files for offline use.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use nl2py::bundle::Verified;
use nl2py::decode::{GenerateOptions, Generation, RetrievedExample, Search, TokenChoice, Watch};
use nl2py::metrics::is_valid_python;
use nl2py::text::prompt;
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{
    Document, HtmlButtonElement, HtmlElement, HtmlInputElement, HtmlProgressElement, HtmlSelectElement,
    HtmlTextAreaElement, KeyboardEvent,
};

use crate::attention_view::{self, Selection, View};
use crate::bundle_cache::{self, Origin};
use crate::engine::{self, Backend, Engine};
use crate::highlight;
use crate::model_source::ModelSource;
use crate::run_panel::RunPanel;
use crate::share::Link;

/// The service worker beside `index.html` that makes the page open offline.
const SERVICE_WORKER: &str = "sw.js";
/// Longer prompts are cut (the model reads far fewer tokens than this anyway).
pub const MAX_PROMPT_CHARS: usize = 2000;
/// While generating, the page redraws and handles clicks this often, milliseconds (10 a second)...
const YIELD_EVERY_MS: f64 = 100.0;
/// ... or less often when a yield itself takes long: the page then computes this many times as
/// long as the last yield took before the next. Where the browser draws on the CPU (headless
/// Chromium here: SwiftShader), a redraw costs 8–30 ms and its drawing threads compete with the
/// decoder for the cores; yielding every 30 ms cut greedy decoding from 1,100 to 350 tokens/s.
const COMPUTE_PER_YIELD: f64 = 9.0;
/// The sampling temperature the page offers first.
const TEMPERATURE: f64 = 0.8;

const EXAMPLES: &[&str] = &[
    "sort list `d` by value",
    "reverse string `s`",
    "convert string `x` to integer",
    "remove duplicates from list `items`",
    "check if key `k` is in dictionary `d`",
    "read file 'data.txt' line by line",
    "get the current date and time",
    "write a function to add two numbers",
    "write a python program to find the factorial of a number",
];

/// The page's elements, looked up once by id.
struct Ui {
    document: Document,
    backend: HtmlSelectElement,
    progress: HtmlProgressElement,
    status: HtmlElement,
    prompt: HtmlTextAreaElement,
    generate: HtmlButtonElement,
    stop: HtmlButtonElement,
    search: HtmlSelectElement,
    beam_width: HtmlInputElement,
    temperature: HtmlInputElement,
    max_tokens: HtmlInputElement,
    /// "Prefer answers that run": the search runs its answers in the Python worker.
    prefer_running: HtmlInputElement,
    examples: HtmlElement,
    notice: HtmlElement,
    code: HtmlElement,
    /// The generated tokens shaded by probability, and the alternatives of the clicked one.
    tokens: HtmlElement,
    alternatives: HtmlElement,
    /// The retrieved training pairs the model read, under the code.
    retrieved: HtmlElement,
    badge: HtmlElement,
    copy: HtmlButtonElement,
    /// Copies the address, whose fragment holds the last generation.
    share: HtmlButtonElement,
    timing: HtmlElement,
    /// What runs the model and how fast, as text for a bug report, with its Copy button.
    diagnostics: HtmlElement,
    copy_diagnostics: HtmlButtonElement,
    view: HtmlSelectElement,
    layer: HtmlSelectElement,
    head: HtmlSelectElement,
    graph: HtmlElement,
}

pub(crate) fn by_id<T: JsCast>(document: &Document, id: &str) -> T {
    document
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("index.html lacks #{id}"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} has the wrong element type"))
}

impl Ui {
    fn bind(document: Document) -> Ui {
        let ui = Ui {
            backend: by_id(&document, "backend"),
            progress: by_id(&document, "progress"),
            status: by_id(&document, "status"),
            prompt: by_id(&document, "prompt"),
            generate: by_id(&document, "generate"),
            stop: by_id(&document, "stop"),
            search: by_id(&document, "search"),
            beam_width: by_id(&document, "beam-width"),
            temperature: by_id(&document, "temperature"),
            max_tokens: by_id(&document, "max-tokens"),
            prefer_running: by_id(&document, "prefer-running"),
            examples: by_id(&document, "examples"),
            notice: by_id(&document, "notice"),
            code: by_id(&document, "code"),
            tokens: by_id(&document, "tokens"),
            alternatives: by_id(&document, "alternatives"),
            retrieved: by_id(&document, "retrieved"),
            badge: by_id(&document, "badge"),
            copy: by_id(&document, "copy"),
            share: by_id(&document, "share"),
            timing: by_id(&document, "timing"),
            diagnostics: by_id(&document, "diagnostics"),
            copy_diagnostics: by_id(&document, "copy-diagnostics"),
            view: by_id(&document, "view"),
            layer: by_id(&document, "layer"),
            head: by_id(&document, "head"),
            graph: by_id(&document, "graph"),
            document,
        };
        ui.show_defaults();
        ui
    }

    /// Fills the search controls with the core's defaults (index.html repeats none of them).
    fn show_defaults(&self) {
        self.max_tokens.set_value_as_number(GenerateOptions::default().max_tokens as f64);
        if let Search::Beam { width, .. } = Search::DEFAULT {
            self.beam_width.set_value_as_number(width as f64);
        }
        self.temperature.set_value_as_number(TEMPERATURE);
    }

    fn notice(&self, text: &str, error: bool) {
        self.notice.set_text_content(Some(text));
        let _ = self.notice.class_list().toggle_with_force("error", error);
    }

    /// The core's default options (MODEL.md's headline search) with what the controls change;
    /// sampling draws with `seed`.
    fn options(&self, seed: u64) -> GenerateOptions {
        let number = |input: &HtmlInputElement, default: f64| {
            let value = input.value_as_number();
            if value.is_finite() { value } else { default }
        };
        let defaults = GenerateOptions::default();
        let max_tokens = number(&self.max_tokens, defaults.max_tokens as f64).clamp(1.0, 1000.0) as usize;
        let search = match (self.search.value().as_str(), Search::DEFAULT) {
            ("greedy", _) => Search::Greedy,
            ("sample", _) => Search::Sample {
                temperature: number(&self.temperature, TEMPERATURE).clamp(0.05, 5.0) as f32,
                top_k: 0,
                top_p: 0.95,
                seed,
            },
            (_, Search::Beam { width, length_penalty }) => Search::Beam {
                width: number(&self.beam_width, width as f64).clamp(1.0, 16.0) as usize,
                length_penalty,
            },
            (_, other) => other,
        };
        let prefer_running = self.prefer_running.checked();
        GenerateOptions { search, max_tokens, attention: true, prefer_running, ..defaults }
    }

    /// Shows code with highlighting, text only: a `span.line` per line (the Run panel marks the
    /// line an exception points at), in it one span per token, the lines joined by `\n`.
    fn show_code(&self, code: &str) {
        self.code.set_text_content(None);
        for (at, spans) in highlight::lines(code).into_iter().enumerate() {
            if at > 0 {
                let _ = self.code.append_child(&self.document.create_text_node("\n"));
            }
            let line = self.document.create_element("span").expect("span");
            line.set_class_name("line");
            for (class, text) in spans {
                let node = self.document.create_element("span").expect("span");
                if let Some(class) = class {
                    node.set_class_name(class);
                }
                node.set_text_content(Some(text));
                let _ = line.append_child(&node);
            }
            let _ = self.code.append_child(&line);
        }
    }

    /// One button per generated token, shaded when the model was unsure of it.
    fn show_tokens(&self, tokens: &[TokenChoice]) {
        self.tokens.set_text_content(None);
        self.alternatives.set_text_content(None);
        self.alternatives.set_hidden(true);
        for (at, choice) in tokens.iter().enumerate() {
            let node = self.document.create_element("button").expect("button");
            let class = match choice.probability {
                p if p < 0.3 => "token doubtful",
                p if p < 0.6 => "token unsure",
                _ => "token",
            };
            node.set_class_name(class);
            node.set_attribute("data-at", &at.to_string()).expect("attribute");
            node.set_attribute("title", &format!("{:.0} %", 100.0 * choice.probability)).expect("attribute");
            node.set_text_content(Some(&token_label(&choice.token)));
            let _ = self.tokens.append_child(&node);
        }
    }

    /// Lists the retrieved examples (prompt, code, source and licence), text only.
    fn show_examples(&self, examples: &[RetrievedExample]) {
        self.retrieved.set_text_content(None);
        if examples.is_empty() {
            return;
        }
        let element = |tag: &str, class: &str, text: &str| {
            let node = self.document.create_element(tag).expect("element");
            node.set_class_name(class);
            node.set_text_content(Some(text));
            node
        };
        let _ = self.retrieved.append_child(&element("h3", "", "Retrieved examples the model read"));
        for example in examples {
            let item = element("div", "example", "");
            let _ = item.append_child(&element("p", "example-prompt", &example.prompt));
            let _ = item.append_child(&element("pre", "example-code", &example.code));
            let source = format!("{} · {}", example.source, example.licence);
            let _ = item.append_child(&element("p", "example-source", &source));
            let _ = self.retrieved.append_child(&item);
        }
    }

    fn selection(&self) -> Selection {
        let pick = |select: &HtmlSelectElement| select.value().parse::<usize>().ok();
        let view = if self.view.value() == "heatmap" { View::HeatMap } else { View::Graph };
        Selection { view, layer: pick(&self.layer), head: pick(&self.head) }
    }

    /// The controls a link carries, by their [`crate::share::SETTINGS`] keys (`seed` is not a
    /// control).
    fn setting(&self, key: &str) -> Option<Setting<'_>> {
        Some(match key {
            "search" => Setting::Select(&self.search),
            "width" => Setting::Input(&self.beam_width),
            "temperature" => Setting::Input(&self.temperature),
            "max" => Setting::Input(&self.max_tokens),
            "run" => Setting::Check(&self.prefer_running),
            "view" => Setting::Select(&self.view),
            "layer" => Setting::Select(&self.layer),
            "head" => Setting::Select(&self.head),
            _ => return None,
        })
    }

    fn fill_choices(select: &HtmlSelectElement, count: usize, name: &str, document: &Document) {
        select.set_text_content(None);
        let mean = document.create_element("option").expect("option");
        mean.set_attribute("value", "mean").expect("attribute");
        mean.set_text_content(Some("mean"));
        let _ = select.append_child(&mean);
        for i in 0..count {
            let option = document.create_element("option").expect("option");
            option.set_attribute("value", &i.to_string()).expect("attribute");
            option.set_text_content(Some(&format!("{name} {}", i + 1)));
            let _ = select.append_child(&option);
        }
    }
}

/// A control whose value a link carries.
enum Setting<'a> {
    Select(&'a HtmlSelectElement),
    Input(&'a HtmlInputElement),
    /// A checkbox, as `1` or `0`.
    Check(&'a HtmlInputElement),
}

impl Setting<'_> {
    fn value(&self) -> String {
        match self {
            Setting::Select(select) => select.value(),
            Setting::Input(input) => input.value(),
            Setting::Check(check) => if check.checked() { "1" } else { "0" }.into(),
        }
    }

    /// Sets a value from a link; one the control does not offer leaves it as it was.
    fn set_value(&self, value: &str) {
        match self {
            Setting::Select(select) => {
                let before = select.value();
                select.set_value(value);
                if select.value() != value {
                    select.set_value(&before);
                }
            }
            Setting::Input(input) => {
                let before = input.value();
                input.set_value(value);
                if !input.value_as_number().is_finite() {
                    input.set_value(&before);
                }
            }
            Setting::Check(check) => match value {
                "1" => check.set_checked(true),
                "0" => check.set_checked(false),
                _ => {}
            },
        }
    }
}

/// What scripts can read as `window.nl2py` after each generation.
#[derive(Serialize)]
struct Report<'a> {
    backend: &'static str,
    load_ms: f64,
    /// The model as the status line names it.
    model: &'a str,
    /// `cache`, `network` or `updated` (the cached copy was out of date).
    bundle_origin: &'static str,
    first_token_ms: f64,
    total_ms: f64,
    tokens: usize,
    tokens_per_s: f64,
    valid_python: bool,
    stopped: bool,
    /// Answers the search ran for "Prefer answers that run", and how long that took (ms, in
    /// `total_ms`).
    answers_run: usize,
    running_ms: f64,
    generation: &'a Generation,
}

struct App {
    ui: Ui,
    /// The model the address asks for, or why the page refuses it.
    source: Result<ModelSource, String>,
    bundle: RefCell<Option<Rc<Verified>>>,
    bundle_origin: Cell<Option<Origin>>,
    engine: RefCell<Option<Rc<Engine>>>,
    /// The faster engine of the backend trial, which the first load takes instead of building
    /// the model (and starting the WebGPU worker) again.
    tried: RefCell<Option<Engine>>,
    last: RefCell<Option<Generation>>,
    load_ms: Cell<f64>,
    /// Why the model runs on its backend (the status line says it).
    backend_reason: RefCell<String>,
    busy: Cell<bool>,
    stop: Rc<Cell<bool>>,
    /// The Run button and its output (Python in a worker of its own).
    run: Rc<RunPanel>,
    /// The seed and forced prefix of the last generation, for its link.
    seed: Cell<u64>,
    prefix: RefCell<Vec<usize>>,
}

/// Streams a generation into the page: shows the code so far, yields to the browser now and
/// then, and stops when the Stop button was pressed.
struct PageWatch<'a> {
    app: &'a App,
    slots: prompt::Slots,
    started: f64,
    first_token_ms: Option<f64>,
    /// When the last yield ended, and the time to compute before the next.
    last_yield: f64,
    yield_every_ms: f64,
    /// Answers run for "Prefer answers that run", and the time that took.
    runs: usize,
    running_ms: f64,
}

impl Watch for PageWatch<'_> {
    async fn step(&mut self, best: &[usize]) -> bool {
        let now = engine::now_ms();
        self.first_token_ms.get_or_insert(now - self.started);
        if now - self.last_yield >= self.yield_every_ms {
            let engine = self.app.engine.borrow().clone();
            if let Some(engine) = engine {
                let tokens = engine.translator.code_vocab.decode(best);
                self.app.ui.show_code(&nl2py::decode::code_from_tokens(&tokens, &self.slots));
            }
            engine::yield_to_browser().await;
            self.last_yield = engine::now_ms();
            self.yield_every_ms = YIELD_EVERY_MS.max(COMPUTE_PER_YIELD * (self.last_yield - now));
        }
        !self.app.stop.get()
    }

    async fn runs_clean(&mut self, code: &str) -> Option<bool> {
        let started = engine::now_ms();
        let clean = self.app.run.runs_clean(code).await;
        self.runs += 1;
        self.running_ms += engine::now_ms() - started;
        clean
    }
}

impl App {
    fn set_busy(&self, busy: bool) {
        self.busy.set(busy);
        let ready = self.engine.borrow().is_some();
        self.ui.generate.set_disabled(busy || !ready);
        self.ui.stop.set_disabled(!busy);
        self.ui.backend.set_disabled(busy);
        if busy {
            self.run.set_code(false);
        }
    }

    /// Fills the diagnostics panel: backend and why, what steps the decoder, the model and its
    /// load time, the last generation's timings, the browser.
    fn show_diagnostics(&self) {
        let mut lines = Vec::new();
        match self.engine.borrow().as_ref() {
            Some(engine) => {
                lines.push(format!("backend: {} ({})", engine.backend.label(), self.backend_reason.borrow()));
                lines.push(format!(
                    "decoder steps: {}",
                    match (engine.backend, engine.translator.cpu_decoder()) {
                        (Backend::WebGpu, _) => "Burn's model on WebGPU, in a worker",
                        (Backend::Cpu, Some(decoder)) if decoder.is_int8() => {
                            "the CPU decoder, 8-bit weights (simd128)"
                        }
                        (Backend::Cpu, Some(_)) => "the CPU decoder, float weights (simd128)",
                        (Backend::Cpu, None) => "Burn's model on the CPU",
                    }
                ));
                lines.push(format!(
                    "model: {}, {:.1} MB, format {}, {} weights; loaded in {:.0} ms",
                    self.source.as_ref().map_or("", |source| source.name.as_str()),
                    engine.info.weights_bytes as f64 / 1e6,
                    engine.info.format_version,
                    format!("{:?}", engine.info.precision).to_lowercase(),
                    self.load_ms.get()
                ));
                lines.push(match &engine.info.reverse {
                    Some(reverse) => format!(
                        "reranking: a reverse model ({} + {} layers, d{}), weight {}",
                        reverse.config.encoder_layers,
                        reverse.config.decoder_layers,
                        reverse.config.d_model,
                        reverse.weight
                    ),
                    None => "reranking: by parsing only (no reverse model)".into(),
                });
            }
            None => lines.push("no model loaded".into()),
        }
        let timing = self.ui.timing.text_content().unwrap_or_default();
        lines.push(format!("last generation: {}", if timing.is_empty() { "none yet" } else { &timing }));
        let agent = web_sys::window().and_then(|w| w.navigator().user_agent().ok()).unwrap_or_default();
        lines.push(format!("browser: {agent}"));
        self.ui.diagnostics.set_text_content(Some(&lines.join("\n")));
    }

    /// Gets the bundle (cache or network) and builds the model on the chosen backend; a failing
    /// WebGPU start falls back to the CPU and says so.
    async fn load(self: &Rc<Self>, backend: Backend) {
        self.set_busy(true);
        self.engine.replace(None);
        let started = engine::now_ms();
        let bundle = match self.bundle().await {
            Ok(bundle) => bundle,
            Err(message) => {
                self.ui.status.set_text_content(Some("No model loaded."));
                self.ui.notice(&message, true);
                self.set_busy(false);
                return;
            }
        };
        self.ui.status.set_text_content(Some(&format!("Starting the model on {}…", backend.label())));
        let tried = self.tried.take().filter(|engine| engine.backend == backend);
        // The trial's engine was built earlier: its build time counts as this load's.
        let built_before = tried.as_ref().map_or(0.0, |engine| engine.load_ms);
        let mut loaded = match tried {
            Some(engine) => Ok(engine),
            None => Engine::load_verified(&bundle, backend).await,
        };
        if let (Err(message), Backend::WebGpu) = (&loaded, backend) {
            self.ui.notice(&format!("{message}; running on the CPU instead."), false);
            self.ui.backend.set_value(Backend::Cpu.key());
            self.backend_reason.replace(format!("WebGPU failed to start ({message})"));
            loaded = Engine::load_verified(&bundle, Backend::Cpu).await;
        }
        match loaded {
            Ok(engine) => {
                let load_ms = engine::now_ms() - started + built_before;
                self.load_ms.set(load_ms);
                let origin = match self.bundle_origin.get() {
                    Some(Origin::Cache) => "from this browser's cache",
                    Some(Origin::Updated) => "model updated, downloaded",
                    _ => "downloaded",
                };
                let name = self.source.as_ref().map_or("", |source| source.name.as_str());
                self.ui.status.set_text_content(Some(&format!(
                    "Ready on {} ({}): {name}, {:.1} MB, {origin}, loaded in {:.0} ms.",
                    engine.backend.label(),
                    self.backend_reason.borrow(),
                    bundle.bytes().len() as f64 / 1e6,
                    load_ms
                )));
                Ui::fill_choices(
                    &self.ui.layer,
                    engine.info.config.decoder_layers,
                    "layer",
                    &self.ui.document,
                );
                Ui::fill_choices(&self.ui.head, engine.info.config.heads, "head", &self.ui.document);
                self.engine.replace(Some(Rc::new(engine)));
                self.show_diagnostics();
            }
            Err(message) => {
                self.ui.status.set_text_content(Some("No model loaded."));
                self.ui.notice(&message, true);
            }
        }
        self.set_busy(false);
    }

    /// The bundle, fetched on first use.
    async fn bundle(&self) -> Result<Rc<Verified>, String> {
        let fetched = self.bundle.borrow().clone();
        match fetched {
            Some(bundle) => Ok(bundle),
            None => self.fetch_bundle().await,
        }
    }

    /// The backend to start on when nobody chose one: on a hardware WebGPU adapter, whichever of
    /// WebGPU and the CPU decodes the trial prompt faster here (remembered, so a later visit
    /// starts at once); the CPU elsewhere. Says why.
    async fn choose_backend(&self) -> (Backend, String) {
        let (backend, reason) = engine::default_backend().await;
        if backend != Backend::WebGpu {
            return (backend, reason);
        }
        let Ok(bundle) = self.bundle().await else { return (backend, reason) };
        self.ui.status.set_text_content(Some(&format!("Timing {reason} against the CPU…")));
        let (mut trials, mut engines) = (Vec::new(), Vec::new());
        for backend in [Backend::Cpu, Backend::WebGpu] {
            let trial = match Engine::load_verified(&bundle, backend).await {
                Ok(engine) => engine.trial().await.map(|trial| (trial, engine)),
                Err(message) => Err(message),
            };
            match trial {
                Ok((trial, engine)) => {
                    trials.push(trial);
                    engines.push(engine);
                }
                Err(message) => {
                    return (Backend::Cpu, format!("{} failed its trial ({message})", backend.label()));
                }
            }
        }
        let (backend, reason) = engine::faster(&trials[0], &trials[1]);
        remember_measurement(backend, &reason);
        self.tried.replace(engines.into_iter().find(|engine| engine.backend == backend));
        (backend, reason)
    }

    /// Gets the bundle the address asks for (cache or network), showing progress.
    async fn fetch_bundle(&self) -> Result<Rc<Verified>, String> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        self.ui.status.set_text_content(Some(&format!("Getting the model: {}…", source.name)));
        let progress = self.ui.progress.clone();
        let status = self.ui.status.clone();
        let report = move |received: usize, total: usize| {
            if total > 0 {
                progress.set_max(total as f64);
                progress.set_value(received as f64);
            }
            status.set_text_content(Some(&format!(
                "Downloading the model: {:.1} / {:.1} MB",
                received as f64 / 1e6,
                total as f64 / 1e6
            )));
        };
        let fetched = bundle_cache::bundle_bytes(source, &report).await?;
        if let Some(message) = &fetched.not_stored {
            self.ui.notice(message, false);
        }
        self.bundle_origin.set(Some(fetched.origin));
        let bundle = Rc::new(fetched.bundle);
        self.bundle.replace(Some(bundle.clone()));
        Ok(bundle)
    }

    async fn generate(self: &Rc<Self>) {
        self.generate_from(Vec::new(), js_sys::Math::random().to_bits()).await
    }

    /// Generates for the prompt box; the output starts with `prefix` (code ids), and sampling
    /// draws with `seed`.
    async fn generate_from(self: &Rc<Self>, prefix: Vec<usize>, seed: u64) {
        if self.busy.get() {
            return;
        }
        let Some(engine) = self.engine.borrow().clone() else {
            self.ui.notice("The model is not loaded yet.", true);
            return;
        };
        let mut text = self.ui.prompt.value();
        if text.trim().is_empty() {
            self.ui.notice("Type what the code should do, for example: sort list `d` by value", false);
            return;
        }
        let mut notice = String::new();
        if text.chars().count() > MAX_PROMPT_CHARS {
            text = text.chars().take(MAX_PROMPT_CHARS).collect();
            notice = format!("The prompt was cut to its first {MAX_PROMPT_CHARS} characters. ");
        }
        self.ui.notice(&notice, false);
        self.stop.set(false);
        self.set_busy(true);
        self.ui.code.set_text_content(None);
        self.ui.retrieved.set_text_content(None);
        self.ui.tokens.set_text_content(None);
        self.ui.alternatives.set_hidden(true);
        self.ui.badge.set_text_content(None);
        self.ui.graph.set_text_content(None);
        let started = engine::now_ms();
        let mut watch = PageWatch {
            app: self,
            slots: engine.translator.tokenize_prompt(&text).slots,
            started,
            first_token_ms: None,
            last_yield: started,
            yield_every_ms: YIELD_EVERY_MS,
            runs: 0,
            running_ms: 0.0,
        };
        self.seed.set(seed);
        self.prefix.replace(prefix.clone());
        let options = GenerateOptions { prefix, ..self.ui.options(seed) };
        let result = engine.generate(&text, &options, &mut watch).await;
        let total_ms = engine::now_ms() - started;
        let first_token_ms = watch.first_token_ms.unwrap_or(total_ms);
        match result {
            Ok(generation) => {
                if generation.truncated {
                    notice.push_str("The model read only the start of this prompt. ");
                }
                if generation.cut_to_parse {
                    notice.push_str("No answer parsed whole: these are the lines of the best one that do. ");
                }
                if let Some((n, example)) =
                    generation.copied_from.and_then(|n| Some((n, generation.examples.get(n)?)))
                {
                    notice.push_str(&format!(
                        "This is retrieved example {} as it is ({}, {}). ",
                        n + 1,
                        example.source,
                        example.licence
                    ));
                }
                if self.stop.get() {
                    notice.push_str("Stopped. ");
                }
                if watch.runs > 0 {
                    notice.push_str(&format!(
                        "Ran {} of the search's answers to prefer one that runs ({:.0} ms). ",
                        watch.runs, watch.running_ms
                    ));
                }
                self.ui.notice(notice.trim(), false);
                self.ui.show_code(&generation.code);
                self.ui.show_tokens(&generation.tokens);
                self.ui.show_examples(&generation.examples);
                let valid = is_valid_python(&generation.code);
                self.ui.badge.set_text_content(Some(if valid {
                    "parses as Python"
                } else {
                    "does not parse"
                }));
                self.ui.badge.set_class_name(if valid { "badge valid" } else { "badge invalid" });
                self.ui.copy.set_disabled(false);
                self.ui.share.set_disabled(false);
                self.run.set_code(true);
                let tokens = generation.ids.len();
                let tokens_per_s = tokens as f64 / (total_ms / 1000.0).max(1e-3);
                self.ui.timing.set_text_content(Some(&format!(
                    "{} · first token {first_token_ms:.0} ms · {tokens} tokens in {total_ms:.0} ms ({tokens_per_s:.0} tok/s) · model loaded in {:.0} ms",
                    engine.backend.label(),
                    self.load_ms.get()
                )));
                self.show_diagnostics();
                let report = Report {
                    backend: engine.backend.key(),
                    load_ms: self.load_ms.get(),
                    model: self.source.as_ref().map_or("", |source| source.name.as_str()),
                    bundle_origin: self.bundle_origin.get().map_or("", Origin::key),
                    first_token_ms,
                    total_ms,
                    tokens,
                    tokens_per_s,
                    valid_python: valid,
                    stopped: self.stop.get(),
                    answers_run: watch.runs,
                    running_ms: watch.running_ms,
                    generation: &generation,
                };
                publish(&report);
                self.last.replace(Some(generation));
                self.draw_attention();
                self.update_link();
            }
            Err(message) => self.ui.notice(&format!("No code for this prompt: {message}"), true),
        }
        self.set_busy(false);
    }

    /// Shows what the model offered at token `at`; choosing one regenerates from there.
    fn show_alternatives(self: &Rc<Self>, at: usize) {
        let Some(generation) = self.last.borrow().clone() else { return };
        let Some(choice) = generation.tokens.get(at) else { return };
        let ui = &self.ui;
        ui.alternatives.set_text_content(None);
        let label = ui.document.create_element("span").expect("span");
        label.set_text_content(Some(&format!(
            "Token {} ({:.0} %). Continue instead with:",
            at + 1,
            100.0 * choice.probability
        )));
        let _ = ui.alternatives.append_child(&label);
        for alternative in choice.alternatives.iter().filter(|a| a.id != choice.id) {
            let button = ui.document.create_element("button").expect("button");
            button.set_text_content(Some(&format!(
                "{} {:.0} %",
                token_label(&alternative.token),
                100.0 * alternative.probability
            )));
            let mut prefix = generation.ids[..at].to_vec();
            prefix.push(alternative.id);
            let app = self.clone();
            on::<web_sys::Event>(&button, "click", move |_| {
                let (app, prefix) = (app.clone(), prefix.clone());
                let seed = app.seed.get();
                wasm_bindgen_futures::spawn_local(async move { app.generate_from(prefix, seed).await });
            });
            let _ = ui.alternatives.append_child(&button);
        }
        ui.alternatives.set_hidden(false);
    }

    fn draw_attention(&self) {
        self.ui.graph.set_text_content(None);
        if let Some(generation) = self.last.borrow().as_ref() {
            if generation.output_tokens.is_empty() {
                return;
            }
            let drawing = attention_view::draw(&self.ui.document, generation, self.ui.selection());
            let _ = self.ui.graph.append_child(&drawing);
        }
    }

    /// Writes the last generation into the address's fragment, so that the address (and the
    /// Copy link button) shares it.
    fn update_link(&self) {
        if self.last.borrow().is_none() {
            return;
        }
        let search = self.ui.search.value();
        let prefix = self.prefix.borrow().iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let settings = crate::share::SETTINGS.iter().filter_map(|&key| {
            let value = match key {
                "width" if search != "beam" => return None,
                "temperature" if search != "sample" => return None,
                "seed" if search != "sample" => return None,
                "seed" => self.seed.get().to_string(),
                "prefix" if prefix.is_empty() => return None,
                "prefix" => prefix.clone(),
                "run" if !self.ui.prefer_running.checked() => return None,
                _ => self.ui.setting(key)?.value(),
            };
            Some((key, value))
        });
        let link = Link { prompt: self.ui.prompt.value(), settings: settings.collect() };
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&link.fragment()));
        }
    }

    /// Fills the page from a shared link in the address, if it has one, and generates.
    async fn open_link(self: &Rc<Self>) {
        let fragment = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
        let Some(link) = Link::parse(&fragment) else { return };
        if self.engine.borrow().is_none() {
            return; // the notice says why no model loaded
        }
        self.ui.prompt.set_value(&link.prompt);
        for (key, value) in &link.settings {
            if let Some(setting) = self.ui.setting(key) {
                setting.set_value(value);
            }
        }
        let seed = link
            .setting("seed")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| js_sys::Math::random().to_bits());
        let prefix = link
            .setting("prefix")
            .map_or_else(Vec::new, |ids| ids.split(',').map_while(|id| id.trim().parse().ok()).collect());
        self.generate_from(prefix, seed).await;
    }
}

/// Asks the browser to keep the page's files for offline visits (the service worker caches them
/// as it installs). Where service workers are unavailable (an insecure origin, some private
/// modes) the page works as before, online.
fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let container = window.navigator().service_worker();
    let registering = container.register(SERVICE_WORKER);
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = wasm_bindgen_futures::JsFuture::from(registering).await {
            web_sys::console::warn_2(&JsValue::from_str("nl2py: no offline copy of the page:"), &e);
        }
    });
}

/// A code token as the token strip shows it: layout as symbols, a space visible.
fn token_label(token: &str) -> String {
    match token {
        "<newline>" => "⏎".into(),
        "<indent>" => "→|".into(),
        "<dedent>" => "|←".into(),
        " " => "␣".into(),
        other => other.into(),
    }
}

/// Where the page remembers the backend its user picked (`localStorage`).
const BACKEND_KEY: &str = "nl2py-backend";
/// Where it remembers the backend it measured faster, and why: `<key>\t<reason>`.
const MEASURED_KEY: &str = "nl2py-backend-measured";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn remember_backend(backend: Backend) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(BACKEND_KEY, backend.key());
    }
}

fn remembered_backend() -> Option<Backend> {
    Backend::from_key(&storage()?.get_item(BACKEND_KEY).ok()??)
}

fn remember_measurement(backend: Backend, reason: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(MEASURED_KEY, &format!("{}\t{reason}", backend.key()));
    }
}

fn remembered_measurement() -> Option<(Backend, String)> {
    let value = storage()?.get_item(MEASURED_KEY).ok()??;
    let (key, reason) = value.split_once('\t')?;
    Some((Backend::from_key(key)?, reason.to_string()))
}

/// `key`'s value in a `?a=b&c=d` query, percent-decoded (as written when it does not decode).
fn query_value(search: &str, key: &str) -> Option<String> {
    search.trim_start_matches('?').split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key)
            .then(|| js_sys::decode_uri_component(v).ok().and_then(|v| v.as_string()).unwrap_or(v.into()))
    })
}

fn publish(report: &Report) {
    let Some(window) = web_sys::window() else { return };
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    if let Ok(value) = report.serialize(&serializer) {
        let _ = js_sys::Reflect::set(&window, &JsValue::from_str("nl2py"), &value);
    }
}

pub(crate) fn on<E: wasm_bindgen::convert::FromWasmAbi + 'static>(
    target: &web_sys::EventTarget,
    event: &str,
    handler: impl FnMut(E) + 'static,
) {
    let closure = Closure::<dyn FnMut(E)>::new(handler);
    target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref()).expect("listener");
    closure.forget(); // the page's handlers live as long as the page
}

/// Shows panics on the page (and the console) instead of leaving a silently dead page.
fn report_panics(notice: HtmlElement) {
    std::panic::set_hook(Box::new(move |info| {
        let message = format!("Internal error, please reload the page: {info}");
        web_sys::console::error_1(&JsValue::from_str(&message));
        notice.set_text_content(Some(&message));
        let _ = notice.class_list().add_1("error");
    }));
}

/// Binds the page and loads the model.
pub async fn start() {
    let document = web_sys::window().and_then(|w| w.document()).expect("a page");
    let run = RunPanel::bind(&document);
    let ui = Ui::bind(document);
    report_panics(ui.notice.clone());
    let location = web_sys::window().map(|w| w.location());
    let href = location.as_ref().and_then(|l| l.href().ok()).unwrap_or_default();
    let search = location.as_ref().and_then(|l| l.search().ok()).unwrap_or_default();
    let source = ModelSource::choose(
        &href,
        query_value(&search, "model").as_deref(),
        query_value(&search, "sha256").as_deref(),
    );
    let app = Rc::new(App {
        ui,
        source,
        bundle: RefCell::new(None),
        bundle_origin: Cell::new(None),
        engine: RefCell::new(None),
        tried: RefCell::new(None),
        last: RefCell::new(None),
        load_ms: Cell::new(0.0),
        backend_reason: RefCell::new(String::new()),
        busy: Cell::new(false),
        stop: Rc::new(Cell::new(false)),
        run,
        seed: Cell::new(0),
        prefix: RefCell::new(Vec::new()),
    });
    register_service_worker();
    for example in EXAMPLES {
        let button = app.ui.document.create_element("button").expect("button");
        button.set_text_content(Some(example));
        let (prompt, app_ref) = (app.ui.prompt.clone(), app.clone());
        on::<web_sys::Event>(&button, "click", move |_| {
            prompt.set_value(example);
            let app = app_ref.clone();
            wasm_bindgen_futures::spawn_local(async move { app.generate().await });
        });
        let _ = app.ui.examples.append_child(&button);
    }
    let app_ref = app.clone();
    on::<web_sys::Event>(&app.ui.generate, "click", move |_| {
        let app = app_ref.clone();
        wasm_bindgen_futures::spawn_local(async move { app.generate().await });
    });
    let app_ref = app.clone();
    on::<KeyboardEvent>(&app.ui.prompt, "keydown", move |event| {
        if event.key() == "Enter" && (event.ctrl_key() || event.meta_key()) {
            event.prevent_default();
            let app = app_ref.clone();
            wasm_bindgen_futures::spawn_local(async move { app.generate().await });
        }
    });
    let stop = app.stop.clone();
    on::<web_sys::Event>(&app.ui.stop, "click", move |_| stop.set(true));
    let code = app.ui.code.clone();
    on::<web_sys::Event>(&app.ui.copy, "click", move |_| {
        if let (Some(window), Some(text)) = (web_sys::window(), code.text_content()) {
            let _ = window.navigator().clipboard().write_text(&text);
        }
    });
    let app_ref = app.clone();
    on::<web_sys::Event>(&app.ui.tokens, "click", move |event| {
        let at = event
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.get_attribute("data-at"))
            .and_then(|at| at.parse().ok());
        if let Some(at) = at {
            app_ref.show_alternatives(at);
        }
    });
    for select in [&app.ui.view, &app.ui.layer, &app.ui.head] {
        let app_ref = app.clone();
        on::<web_sys::Event>(select, "change", move |_| {
            app_ref.draw_attention();
            app_ref.update_link();
        });
    }
    on::<web_sys::Event>(&app.ui.share, "click", move |_| {
        if let Some(window) = web_sys::window()
            && let Ok(href) = window.location().href()
        {
            let _ = window.navigator().clipboard().write_text(&href);
        }
    });
    let app_ref = app.clone();
    on::<web_sys::Event>(&app.ui.copy_diagnostics, "click", move |_| {
        let text = app_ref.ui.diagnostics.text_content().unwrap_or_default();
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
        }
    });
    let app_ref = app.clone();
    on::<web_sys::Event>(&app.ui.backend, "change", move |_| {
        let app = app_ref.clone();
        let backend = Backend::from_key(&app.ui.backend.value()).unwrap_or(Backend::Cpu);
        remember_backend(backend);
        app.backend_reason.replace("chosen here".into());
        wasm_bindgen_futures::spawn_local(async move { app.load(backend).await });
    });

    // The address's choice, else the one made here before, else the one measured here before,
    // else the faster here on a hardware WebGPU adapter (measured now), else the CPU.
    let (backend, reason) = match query_value(&search, "backend").and_then(|b| Backend::from_key(&b)) {
        Some(backend) => (backend, "chosen in the address".to_string()),
        None => match (remembered_backend(), remembered_measurement()) {
            (Some(backend), _) => (backend, "chosen here before".to_string()),
            (None, Some(measured)) => measured,
            (None, None) => app.choose_backend().await,
        },
    };
    app.backend_reason.replace(reason);
    app.ui.backend.set_value(backend.key());
    app.load(backend).await;
    app.open_link().await;
}
