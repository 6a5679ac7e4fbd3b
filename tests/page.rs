//! The built page end to end in headless Chromium, driven over W3C WebDriver: it serves `dist/`
//! (from `trunk build --release`) on loopback, types a prompt, clicks Generate, waits for the
//! code and the attention SVG, switches the view, then cuts the network and generates again
//! (offline generation); a second visit whose server no longer has the bundle loads it from the
//! browser's Cache Storage; hostile prompts stay text; WebGPU gives the CPU's tokens.
//!
//! Needs `dist/` and Chromium with ChromeDriver (`scripts/setup.sh --browser`), so it is ignored
//! by a plain `cargo test`; `scripts/test.sh` builds the page and runs it with `--ignored`.

mod webdriver;

use std::sync::atomic::Ordering;

use serde_json::Value;
use webdriver::{Browser, StaticServer, dist};

#[test]
#[ignore = "needs `trunk build --release` and Chromium; scripts/test.sh runs it"]
fn the_page_generates_online_offline_and_from_the_cache() {
    let server = StaticServer::start(dist());
    let page = format!("http://127.0.0.1:{}/", server.port);
    let browser = Browser::start();

    // First visit: the bundle is downloaded.
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("CPU") && status.contains("downloaded"), "{status}");
    assert_eq!(server.bundle_requests.load(Ordering::SeqCst), 1);
    browser.click("#search option[value=greedy]");

    let report = browser.generate("sort list `d` by value", &Value::Null);
    let code = browser.text("#code");
    assert!(!code.trim().is_empty(), "no code shown");
    assert_eq!(code.trim(), report["generation"]["code"].as_str().unwrap().trim());
    assert!(report["tokens_per_s"].as_f64().unwrap() > 0.0);
    let steps = report["generation"]["output_tokens"].as_array().unwrap().len();
    let sources = report["generation"]["prompt_tokens"].as_array().unwrap().len();
    assert!(browser.count("#graph svg.graph text.token") == steps + sources);
    assert!(browser.count("#graph svg.graph line") > 0, "the graph has no lines");
    assert!(!browser.text("#badge").is_empty());
    browser.click("#view option[value=heatmap]");
    browser.wait(10, "the heat map", |b| {
        (b.count("#graph svg.heatmap rect.cell") == steps * sources).then_some(())
    });
    browser.click("#layer option[value='0']");
    assert_eq!(browser.count("#graph svg.heatmap rect.cell"), steps * sources);

    // Markup in a quoted span reaches the code and a graph label whole: it must stay text. Empty
    // prompts get a hint, and the page goes on working.
    let markup = "<img src=x onerror=alert(1)>";
    let hostile = browser.generate(&format!("print '{markup}'"), &report);
    let code = hostile["generation"]["code"].as_str().unwrap();
    assert!(code.contains(markup), "the model left the span out of its code, pick another prompt: {code}");
    assert_eq!(browser.count("img"), 0, "markup became an element");
    assert!(browser.text("#code").contains(markup), "the code shows {:?}", browser.text("#code"));
    let labels =
        browser.script("return [...document.querySelectorAll('#graph text.token')].map(t => t.textContent);");
    assert!(labels.as_array().unwrap().iter().any(|label| label == markup), "graph labels: {labels}");
    browser.type_into("#prompt", "   ");
    browser.click("#generate");
    browser.wait(10, "the empty-prompt hint", |b| {
        b.text("#notice").contains("Type what the code should do").then_some(())
    });

    // The network goes away: generation goes on in the page.
    server.offline.store(true, Ordering::SeqCst);
    let offline = browser.generate("reverse string `s`", &hostile);
    assert!(!offline["generation"]["code"].as_str().unwrap().trim().is_empty());
    server.offline.store(false, Ordering::SeqCst);

    // Second visit with the bundle gone from the server: Cache Storage has it.
    server.bundle_gone.store(true, Ordering::SeqCst);
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("from this browser's cache"), "{status}");
    browser.click("#search option[value=greedy]");
    let cached = browser.generate("sort list `d` by value", &Value::Null);
    assert_eq!(cached["bundle_origin"], "cache");
    assert_eq!(cached["generation"]["ids"], report["generation"]["ids"]);

    // WebGPU (SwiftShader here) gives the CPU's tokens.
    browser.open(&format!("{page}?backend=webgpu"));
    let status = browser.wait_ready();
    assert!(status.contains("WebGPU"), "WebGPU did not start: {status}; {}", browser.text("#notice"));
    browser.click("#search option[value=greedy]");
    let on_gpu = browser.generate("sort list `d` by value", &Value::Null);
    assert_eq!(on_gpu["backend"], "webgpu");
    assert_eq!(on_gpu["generation"]["ids"], report["generation"]["ids"]);
}
