//! The page's engine in a real browser (headless Chromium through wasm-bindgen-test-runner and
//! chromedriver; `scripts/test.sh` sets them up): a small bundle loads and generates on the CPU
//! backend with attention of the right shape, the CPU decoder's simd128 steps give Burn's logits
//! with float and 8-bit weights, hostile prompts give code or the refusal due to them and never a
//! panic, WebGPU gives the CPU's tokens (with the `webgpu` feature, as scripts/test.sh runs
//! them), the backend trial picks the faster, and the attention views draw what they should,
//! markup as text.
#![cfg(target_arch = "wasm32")]

use nl2py::Error;
use nl2py::decode::{GenerateOptions, Generation, Search};
use nl2py_web::attention_view::{self, Selection, View};
use nl2py_web::engine::{self, Backend, Engine};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

/// Made by the commands in `fixtures/README.md`.
const TINY: &[u8] = include_bytes!("fixtures/tiny.nl2py");

const PROMPTS: &[&str] = &[
    "write a python program to add two numbers",
    "sort list `d` by value",
    "do task 3 with list `xs` and separator ','",
    "write a python function to find the absolute value of a number",
];

fn greedy(max_tokens: usize) -> GenerateOptions {
    GenerateOptions { search: Search::Greedy, max_tokens, attention: true, ..Default::default() }
}

async fn generate(engine: &Engine, prompt: &str, options: &GenerateOptions) -> Result<Generation, String> {
    engine.generate(prompt, options, &mut ()).await
}

fn check_attention(generation: &Generation) {
    let attention = generation.attention.as_ref().expect("attention was asked for");
    assert_eq!(attention.steps(), generation.output_tokens.len());
    assert_eq!(attention.source, generation.prompt_tokens.len());
    assert_eq!(attention.layers, 1);
    assert_eq!(attention.heads, 2);
    for step in 0..attention.steps() {
        let total: f32 = attention.mean(step, None, None).iter().sum();
        assert!((total - 1.0).abs() < 1e-3, "step {step} sums to {total}");
    }
}

#[wasm_bindgen_test]
async fn the_cpu_backend_generates_with_attention() {
    let engine = Engine::load(TINY, Backend::Cpu).await.unwrap();
    for prompt in PROMPTS {
        for search in [Search::Greedy, Search::Beam { width: 3, length_penalty: 1.0 }] {
            let options = GenerateOptions { search, max_tokens: 24, attention: true, ..Default::default() };
            let generation = generate(&engine, prompt, &options).await.unwrap();
            assert!(!generation.ids.is_empty() && generation.ids.len() <= 24, "{prompt}: {generation:?}");
            check_attention(&generation);
        }
    }
}

/// Generation on the CPU backend steps the CPU decoder (simd128 here); it gives the Burn model's
/// logits step by step and so the same answers, with the bundle's float weights and with the
/// same model exported as int8, whose 8-bit blocks the decoder keeps.
#[wasm_bindgen_test]
async fn the_cpu_decoder_steps_as_burns_model_does() {
    use burn::tensor::{Int, Tensor, TensorData};
    use nl2py::bundle::{self, Precision};
    use nl2py::model::EncoderInput;

    let float = Engine::load(TINY, Backend::Cpu).await.unwrap();
    let int8_bytes = bundle::export(&float.translator, Precision::Int8, Default::default()).unwrap();
    let int8 = Engine::load(&int8_bytes, Backend::Cpu).await.unwrap();
    for (engine, is_int8) in [(&float, false), (&int8, true)] {
        let translator = &engine.translator;
        let decoder = translator.cpu_decoder().expect("the CPU backend steps the CPU decoder");
        assert_eq!(decoder.is_int8(), is_int8);
        let (model, device) = (&translator.model, &translator.device);
        let ints = |ids: Vec<i64>, rows: usize| {
            let columns = ids.len() / rows;
            Tensor::<2, Int>::from_data(TensorData::new(ids, [rows, columns]), device)
        };
        let mut state = model.start(model.encode(&EncoderInput::new(ints(vec![5, 6, 7, 8, 9, 0], 2))));
        let mut cpu_state = decoder.start(&state).unwrap();
        for (t, last) in [[1, 1], [4, 9], [12, 12]].into_iter().enumerate() {
            let step = model.step(&mut state, ints(last.map(|id| id as i64).to_vec(), 2));
            let expected: Vec<f32> = step.logits.into_data_async().await.unwrap().try_into_vec().unwrap();
            let (logits, _) = decoder.step(&mut cpu_state, &last, false);
            let largest = logits.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(largest < 1e-4, "int8={is_int8} step {t}: logits differ by up to {largest}");
        }
        let burn = translator.clone().without_cpu_decoder();
        for prompt in PROMPTS {
            for search in [Search::Greedy, Search::Beam { width: 3, length_penalty: 1.0 }] {
                let options = GenerateOptions { search, max_tokens: 24, ..Default::default() };
                let a = translator.generate(prompt, &options).await.unwrap();
                let b = burn.generate(prompt, &options).await.unwrap();
                assert_eq!(a.ids, b.ids, "int8={is_int8} {prompt} ({search:?})");
            }
        }
    }
}

#[wasm_bindgen_test]
async fn hostile_prompts_give_code_or_a_clear_error() {
    let engine = Engine::load(TINY, Backend::Cpu).await.unwrap();
    let long = "add two numbers and ".repeat(500);
    // Each prompt with the refusal it gets; `None`: it gets code.
    let hostile = [
        ("", Some(Error::EmptyPrompt)),
        ("   \n\t ", Some(Error::EmptyPrompt)),
        ("<script>alert('x')</script> add two numbers", None),
        ("🐍🐍🐍 sort `d` 🙂", None),
        ("排序列表 d", Some(Error::UnknownPrompt("排序列表 d".into()))),
        ("\u{0}\u{1}\u{7f} add", None),
        ("```` `` ` ' \" '''", None),
        ("`unclosed backtick and 'quote", None),
        (&long, None),
        ("`a` `b` `c` `d` `e` `f` `g` `h` `i` `j` `k` 'x' 'y'", None),
    ];
    for (prompt, refusal) in hostile {
        match (generate(&engine, prompt, &greedy(16)).await, refusal) {
            (Ok(generation), None) => check_attention(&generation),
            (Err(message), Some(refusal)) => assert_eq!(message, refusal.to_string(), "{prompt:?}"),
            (outcome, refusal) => {
                panic!("{prompt:?}: {:?}, where {refusal:?} was due", outcome.map(|g| g.code))
            }
        }
    }
    assert!(generate(&engine, &long, &greedy(16)).await.unwrap().truncated);
}

#[wasm_bindgen_test]
async fn a_damaged_bundle_is_refused_with_a_reason() {
    let mut bytes = TINY.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let message = Engine::load(&bytes, Backend::Cpu).await.err().expect("a flipped bit is refused");
    assert!(message.contains("checksum"), "{message}");
    let message = Engine::load(b"<html>404</html>", Backend::Cpu).await.err().expect("not a bundle");
    assert!(message.contains("not an nl2py model bundle"), "{message}");
}

/// The model the WebGPU worker builds (`webgpu_worker::serve`, in its own wasm) gives the CPU's
/// tokens and attention; tests/page.rs runs it in the worker through the page.
#[cfg(feature = "webgpu")]
#[wasm_bindgen_test]
async fn webgpu_gives_the_cpu_tokens() {
    assert!(engine::webgpu_offered(), "Chromium must run with --enable-unsafe-webgpu (web/webdriver.json)");
    let cpu = Engine::load(TINY, Backend::Cpu).await.unwrap();
    let device = engine::webgpu_device().await.unwrap();
    let (gpu, _) = nl2py::bundle::load_inspected(TINY, &device).unwrap();
    for prompt in PROMPTS {
        let on_cpu = generate(&cpu, prompt, &greedy(24)).await.unwrap();
        let on_gpu = gpu.generate_watched(prompt, &greedy(24), &mut ()).await.unwrap();
        assert_eq!(on_cpu.ids, on_gpu.ids, "{prompt}");
        check_attention(&on_gpu);
        let (a, b) = (on_cpu.attention.unwrap(), on_gpu.attention.unwrap());
        let largest = a.weights.iter().zip(&b.weights).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(largest < 1e-3, "{prompt}: attention differs by {largest}");
    }
}

/// The trial the page times backends with on a hardware adapter: the faster one wins, and the
/// reason gives both times and how far the answers agree.
#[wasm_bindgen_test]
async fn the_faster_trial_wins() {
    let on_cpu = Engine::load(TINY, Backend::Cpu).await.unwrap().trial().await.unwrap();
    assert!(!on_cpu.ids.is_empty());
    // The winner of each pair is stated, not recomputed with the comparison under test.
    for (ms_per_token, faster) in
        [(on_cpu.ms_per_token / 2.0, Backend::WebGpu), (on_cpu.ms_per_token * 2.0, Backend::Cpu)]
    {
        let on_gpu = engine::Trial { backend: Backend::WebGpu, ms_per_token, ids: on_cpu.ids.clone() };
        let (chosen, reason) = engine::faster(&on_cpu, &on_gpu);
        assert_eq!(chosen, faster, "{reason}");
        assert!(reason.contains(&format!("both chose the same {} tokens", on_cpu.ids.len())), "{reason}");
        for ms in [on_cpu.ms_per_token, ms_per_token] {
            assert!(reason.contains(&format!("{ms:.1} ms")), "{ms:.1} ms missing: {reason}");
        }
    }
    let parted = engine::Trial {
        backend: Backend::WebGpu,
        ids: [&on_cpu.ids[..1], &[0, 0]].concat(),
        ms_per_token: 1e9,
    };
    let (chosen, reason) = engine::faster(&on_cpu, &parted);
    assert_eq!(chosen, Backend::Cpu, "{reason}");
    let all = on_cpu.ids.len().max(3);
    assert!(reason.contains(&format!("the same first 1 of {all} tokens")), "{reason}");
}

/// Headless Chromium's WebGPU adapter is SwiftShader on a machine without a GPU, which draws on
/// the CPU: the page starts on the CPU backend there and says why. On a machine with a GPU the
/// adapter is a hardware one, which the page starts on (and names). Either way, the names of
/// adapters are checked as such: SwiftShader's, llvmpipe's and a fallback adapter are software,
/// a hardware adapter's name is not taken for a software one.
#[wasm_bindgen_test]
async fn a_software_webgpu_adapter_is_not_chosen() {
    let adapter = engine::webgpu_adapter().await.expect("Chromium offers an adapter");
    let (backend, reason) = engine::default_backend().await;
    assert!(reason.contains(&adapter.name()), "{reason}");
    // SwiftShader's name, or a fallback adapter, as this browser reports them: what makes the
    // adapter a software one here, read apart from `is_software`.
    let swiftshader = adapter.name().to_lowercase().contains("swiftshader") || adapter.fallback;
    assert_eq!(adapter.is_software(), swiftshader, "{adapter:?}");
    if swiftshader {
        assert_eq!(backend, Backend::Cpu, "{reason}");
        assert!(reason.contains("draws on the CPU"), "{reason}");
    } else {
        assert_eq!(backend, Backend::WebGpu, "{reason}");
        assert!(!reason.contains("draws on the CPU"), "{reason}");
    }
    let named = |vendor: &str, architecture: &str| engine::AdapterInfo {
        vendor: vendor.into(),
        architecture: architecture.into(),
        ..Default::default()
    };
    assert!(named("google", "swiftshader").is_software());
    assert!(
        engine::AdapterInfo { description: "llvmpipe (LLVM 15.0.6, 256 bits)".into(), ..named("mesa", "") }
            .is_software()
    );
    let hardware = named("nvidia", "hopper");
    assert!(!hardware.is_software());
    assert!(engine::AdapterInfo { fallback: true, ..hardware }.is_software());
}

#[wasm_bindgen_test]
async fn the_attention_views_draw_every_token() {
    let engine = Engine::load(TINY, Backend::Cpu).await.unwrap();
    // The slot's text is one label: markup there would become an element if drawn as markup.
    let markup = "<img src=x onerror=alert(1)>";
    let prompt = format!("sort list `{markup}` by value");
    let generation = generate(&engine, &prompt, &greedy(20)).await.unwrap();
    let document = web_sys::window().unwrap().document().unwrap();
    let (sources, steps) = (generation.prompt_tokens.len(), generation.output_tokens.len());

    let heat = attention_view::draw(
        &document,
        &generation,
        Selection { view: View::HeatMap, layer: None, head: None },
    );
    assert_eq!(heat.query_selector_all("rect.cell").unwrap().length() as usize, sources * steps);
    assert_eq!(heat.query_selector_all("text.token").unwrap().length() as usize, sources + steps);

    let graph = attention_view::draw(
        &document,
        &generation,
        Selection { view: View::Graph, layer: Some(0), head: Some(1) },
    );
    assert_eq!(graph.query_selector_all("text.token").unwrap().length() as usize, sources + steps);
    let weights =
        attention_view::matrix(&generation, Selection { view: View::Graph, layer: Some(0), head: Some(1) });
    let visible = weights.iter().flatten().filter(|&&w| w >= 0.02).count();
    assert_eq!(graph.query_selector_all("line").unwrap().length() as usize, visible);
    // The slot shows what the user wrote, as text.
    assert!(attention_view::prompt_labels(&generation).contains(&markup.to_string()));
    for view in [&heat, &graph] {
        assert_eq!(view.query_selector_all("img").unwrap().length(), 0, "markup became an element");
        assert!(labels(view).iter().any(|label| label == markup), "{:?}", labels(view));
    }
}

/// The text of each token label drawn.
fn labels(view: &Element) -> Vec<String> {
    let nodes = view.query_selector_all("text.token").unwrap();
    (0..nodes.length()).filter_map(|at| nodes.item(at)?.text_content()).collect()
}
