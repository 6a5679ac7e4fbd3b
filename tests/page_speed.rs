//! The page's speed in headless Chromium on this machine (a benchmark, not a timed test: it
//! prints and checks nothing about speed). For each backend: loading the shipped bundle, then
//! generating up to 64 tokens for `SPEED_PROMPTS` (`nl2py bench` times the same natively),
//! greedy and with the page's default search: first-token latency and tokens/s as the page
//! measures them (`window.nl2py`: generated tokens over the whole time).
//!
//! `trunk build --release && cargo test --release --test page_speed -- --ignored --nocapture`

mod webdriver;

use nl2py::decode::SPEED_PROMPTS;
use serde_json::Value;
use webdriver::{Browser, StaticServer, dist};

#[test]
#[ignore = "benchmark: needs `trunk build --release` and Chromium"]
fn page_speed() {
    let server = StaticServer::start(dist(), "/");
    let browser = Browser::start();
    for backend in ["cpu", "webgpu"] {
        browser.open(&format!("{}?backend={backend}", server.url()));
        let status = browser.wait_ready();
        if !status.contains(if backend == "cpu" { "CPU" } else { "WebGPU" }) {
            println!("{backend}: did not start ({status})");
            continue;
        }
        browser.type_into("#max-tokens", "64");
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
            println!(
                "{backend}, {search}: model load {:.0} ms ({}); first token median {:.1} ms; {} tokens in {:.0} ms = {:.1} tokens/s (≤ 64 tokens, {} prompts)",
                last["load_ms"].as_f64().unwrap(),
                status,
                first[first.len() / 2],
                tokens,
                ms,
                tokens / (ms / 1000.0),
                SPEED_PROMPTS.len()
            );
        }
    }
}
