//! Writes the README's picture of the page (`docs/screenshot.png`, or the path given): the built
//! `dist/` served on loopback and opened in headless Chromium on the CPU backend, one prompt
//! generated with the default search, its answer, token strip, retrieved examples and attention
//! graph in a window tall enough to hold them. `scripts/screenshot.sh` builds the page when needed and runs it.

#[path = "../tests/webdriver/mod.rs"]
mod webdriver;

use serde_json::Value;
use webdriver::{Browser, StaticServer, dist};

/// The prompt the picture shows: a one-liner the shipped model gets right (README).
const PROMPT: &str = "sort list `d` by value";

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "docs/screenshot.png".into());
    let server = StaticServer::start(dist(), "/");
    let browser = Browser::start();
    browser.open(&format!("{}?backend=cpu", server.url()));
    browser.wait_ready();
    let report = browser.generate(PROMPT, &Value::Null);
    browser.wait(60, "the attention graph", |b| (b.count("#graph svg.graph line") > 0).then_some(()));
    // Tall enough for everything down to the attention graph's last line.
    let bottom =
        browser.script("return Math.ceil(document.getElementById('graph').getBoundingClientRect().bottom);");
    browser.resize(1200, bottom.as_u64().unwrap_or(900).clamp(900, 2400) as u32 + 240);
    let png = browser.screenshot();
    std::fs::write(&out, &png).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    println!(
        "{out}: {} bytes; {PROMPT:?} → {}",
        png.len(),
        report["generation"]["code"].as_str().unwrap_or_default().trim()
    );
}
