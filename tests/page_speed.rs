//! The page's speed in headless Chromium on this machine (a benchmark, not a timed test: it
//! prints and checks nothing about speed). Loading the shipped bundle, then generating for
//! `SPEED_PROMPTS` at the page's own token limit (`nl2py bench` times the same natively), greedy
//! and with the page's default search: first-token latency and tokens/s as the page measures them
//! (`window.nl2py`: generated tokens over the whole time). On the CPU backend always; on WebGPU
//! only when the page itself would consider it, that is on a hardware adapter (a software one,
//! SwiftShader here, is CPU emulation whose speed says nothing about a GPU).
//!
//! One JSON object a line, for `scripts/bench.sh`, which prints them beside `nl2py bench`:
//! `trunk build --release && cargo test --release --test page_speed -- --ignored --nocapture`

mod webdriver;

use nl2py::decode::SPEED_PROMPTS;
use serde_json::{Value, json};
use webdriver::{Browser, StaticServer, dist};

#[test]
#[ignore = "benchmark: needs `trunk build --release` and Chromium"]
fn page_speed() {
    let server = StaticServer::start(dist(), "/");
    let browser = Browser::start();
    // Unasked, the page starts on the CPU when WebGPU's adapter is a software one, and says so.
    browser.open(&server.url());
    let unasked = browser.wait_ready();
    let mut backends = vec!["cpu"];
    if unasked.contains("draws on the CPU") {
        println!("{}", json!({ "backend": "webgpu", "not_timed": unasked }));
    } else {
        backends.push("webgpu");
    }
    for backend in backends {
        browser.open(&format!("{}?backend={backend}", server.url()));
        let status = browser.wait_ready();
        // A WebGPU start that fails falls back to the CPU: that is no WebGPU figure.
        let label = if backend == "cpu" { "CPU" } else { "WebGPU" };
        if !status.starts_with(&format!("Ready on {label}")) {
            println!("{}", json!({ "backend": backend, "not_timed": status }));
            continue;
        }
        for search in ["greedy", "beam"] {
            browser.click(&format!("#search option[value={search}]"));
            // One warm-up generation compiles kernels (WebGPU shaders) and fills caches.
            let mut last = browser.generate("add two numbers", &Value::Null);
            let (mut tokens, mut ms, mut first) = (0.0, 0.0, Vec::new());
            for prompt in SPEED_PROMPTS {
                last = browser.generate(prompt, &last);
                tokens += last["tokens"].as_f64().unwrap();
                ms += last["total_ms"].as_f64().unwrap();
                first.push(last["first_token_ms"].as_f64().unwrap());
            }
            first.sort_by(f64::total_cmp);
            let row = json!({
                "backend": backend,
                "search": if search == "greedy" { "greedy" } else { "default (beam 4)" },
                "status": status,
                "load_ms": last["load_ms"],
                "prompts": SPEED_PROMPTS.len(),
                "tokens": tokens,
                "first_token_ms": first[first.len() / 2],
                "tokens_per_s": tokens / (ms / 1000.0),
            });
            println!("{row}");
        }
    }
}
