//! The built page end to end in headless Chromium, driven over W3C WebDriver: it serves `dist/`
//! (from `trunk build --release`) under a sub-path on loopback, types a prompt, clicks Generate,
//! waits for the code and the attention SVG, switches the view; hostile prompts stay text and an
//! injected script does not run (the Content-Security-Policy); the network goes away and the page
//! still generates, and reloads from its service worker; a shared link reproduces a sampled
//! generation; a second visit whose server no longer has the bundle loads it from the browser's
//! Cache Storage; a new build's bundle (another SHA-256 in the manifest) replaces the cached one;
//! `?model=` loads only what this site serves or a `&sha256=` pins; a visit that runs on the CPU
//! does not fetch the WebGPU worker; WebGPU, in that worker, gives the CPU's tokens and stops
//! when asked; the Run button runs Python in a worker of its own, bounded, and offline.
//!
//! Needs `dist/` and Chromium with ChromeDriver (`scripts/setup.sh --browser`), so it is ignored
//! by a plain `cargo test`; `scripts/test.sh` builds the page and runs it with `--ignored`.

mod bundle_sections;
mod webdriver;

use std::sync::atomic::Ordering;

use bundle_sections::Sections;
use nl2py::decode::{GenerateOptions, PREFER_RUNNING_TRIES};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use webdriver::{BUNDLE_PATH, Browser, StaticServer, dist};

#[test]
#[ignore = "needs `trunk build --release` and Chromium; scripts/test.sh runs it"]
fn the_page_generates_online_offline_and_from_the_cache() {
    // Under a sub-path, as from any folder of a static host.
    let server = StaticServer::start(dist(), "/demo/");
    let page = server.url();
    let browser = Browser::start();

    // First visit: the bundle is downloaded; the service worker keeps the page's files.
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("CPU") && status.contains("downloaded"), "{status}");
    assert!(status.contains("default.nl2py (shipped with this page)"), "{status}");
    assert_eq!(server.bundle_requests.load(Ordering::SeqCst), 1);
    browser.wait(60, "the service worker", |b| {
        b.script("return !!navigator.serviceWorker.controller;").as_bool().filter(|&on| on)
    });
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
    let diagnostics = browser.script("return document.getElementById('diagnostics').textContent;");
    let diagnostics = diagnostics.as_str().unwrap();
    for line in [
        "backend: CPU (wasm) (chosen in the address)",
        "decoder steps: the CPU decoder, 8-bit weights",
        "int8 weights; loaded in",
        "last generation: CPU (wasm) · first token",
    ] {
        assert!(diagnostics.contains(line), "the diagnostics lack {line:?}: {diagnostics}");
    }
    browser.click("#view option[value=heatmap]");
    browser.wait(10, "the heat map", |b| {
        (b.count("#graph svg.heatmap rect.cell") == steps * sources).then_some(())
    });
    browser.click("#layer option[value='0']");
    assert_eq!(browser.count("#graph svg.heatmap rect.cell"), steps * sources);
    // The page fills its controls with the core's defaults.
    let address = browser.script("return location.hash;");
    let max = GenerateOptions::default().max_tokens;
    assert!(
        address.as_str().unwrap().contains(&format!("search=greedy&max={max}&view=heatmap&layer=0")),
        "{address}"
    );

    // Every generated token is a button shaded by how sure the model was of it; clicking one
    // lists what else it offered, and picking one of those generates again from there.
    let tokens = report["generation"]["tokens"].as_array().unwrap();
    let expected: Vec<&str> = tokens
        .iter()
        .map(|token| match token["probability"].as_f64().unwrap() {
            p if p < 0.3 => "token doubtful",
            p if p < 0.6 => "token unsure",
            _ => "token",
        })
        .collect();
    let shading =
        browser.script("return [...document.querySelectorAll('#tokens button')].map(b => b.className);");
    assert_eq!(shading, json!(expected));
    let (at, choice) = tokens
        .iter()
        .enumerate()
        .find_map(|(at, token)| {
            let other = token["alternatives"].as_array()?.iter().find(|a| a["id"] != token["id"])?;
            Some((at, other["id"].clone()))
        })
        .expect("no token with an alternative");
    browser.click(&format!("#tokens button[data-at='{at}']"));
    assert!(browser.count("#alternatives button") > 0, "no alternatives shown");
    let before = browser.script("return window.nl2py;");
    browser.click("#alternatives button");
    let forced = browser.wait(300, "the generation from the alternative", |b| {
        Some(b.script("return window.nl2py;")).filter(|now| now != &before)
    });
    let (old_ids, new_ids) =
        (report["generation"]["ids"].as_array().unwrap(), forced["generation"]["ids"].as_array().unwrap());
    assert_eq!(new_ids[..at], old_ids[..at], "the tokens before the picked one changed");
    assert_eq!(new_ids[at], choice, "the picked token is not in the new code");
    let address = browser.script("return location.hash;");
    assert!(address.as_str().unwrap().contains("prefix="), "{address}");

    // The Content-Security-Policy lets the page run (above) and stops an injected inline script.
    let injected = browser.script(
        "const s = document.createElement('script'); s.textContent = 'window.injected = 1';
         document.head.append(s); return window.injected === 1;",
    );
    assert_eq!(injected, false, "an injected inline script ran");

    // Markup in a quoted span reaches the code and a graph label whole: it must stay text. Empty
    // prompts get a hint, and the page goes on working.
    let markup = "<img src=x onerror=alert(1)>";
    let hostile = browser.generate(&format!("print '{markup}'"), &forced);
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

    // The network goes away: generation goes on in the page, and a reload opens the page from
    // its service worker and the model from Cache Storage.
    server.offline.store(true, Ordering::SeqCst);
    let offline = browser.generate("reverse string `s`", &hostile);
    assert!(!offline["generation"]["code"].as_str().unwrap().trim().is_empty());
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("from this browser's cache"), "{status}");
    browser.click("#search option[value=greedy]");
    let reloaded = browser.generate("sort list `d` by value", &Value::Null);
    assert_eq!(reloaded["generation"]["ids"], report["generation"]["ids"]);
    server.offline.store(false, Ordering::SeqCst);

    // A shared link (the address after a generation) fills the page and generates the same code,
    // sampling with the same seed.
    browser.click("#search option[value=sample]");
    let sampled = browser.generate("write a function to add two numbers", &reloaded);
    let link = browser.script("return location.hash;").as_str().unwrap().to_string();
    assert!(link.contains("search=sample") && link.contains("seed="), "{link}");
    browser.open("about:blank");
    browser.open(&format!("{page}?backend=cpu{link}"));
    let shared = browser.wait(300, "the shared generation", |b| {
        Some(b.script("return window.nl2py || null;")).filter(|report| !report.is_null())
    });
    assert_eq!(shared["generation"]["ids"], sampled["generation"]["ids"]);
    assert_eq!(
        browser.script("return document.querySelector('#prompt').value;"),
        "write a function to add two numbers"
    );

    // Second visit with the bundle gone from the server: Cache Storage has it.
    server.bundle_gone.store(true, Ordering::SeqCst);
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("from this browser's cache"), "{status}");
    browser.click("#search option[value=greedy]");
    let cached = browser.generate("sort list `d` by value", &Value::Null);
    assert_eq!(cached["bundle_origin"], "cache");
    assert_eq!(cached["generation"]["ids"], report["generation"]["ids"]);
    server.bundle_gone.store(false, Ordering::SeqCst);

    // A new build ships another bundle: its manifest's SHA-256 differs from the cached copy's,
    // so the page downloads it and says so; the next visit finds it in the cache.
    let shipped = std::fs::read(dist().join(BUNDLE_PATH.trim_start_matches('/'))).unwrap();
    let mut sections = Sections::of(&shipped);
    sections.header["metadata"]["rebuilt"] = json!("for the page's update test");
    let rebuilt = sections.sealed();
    let digest = hex::encode(Sha256::digest(&rebuilt));
    let manifest = json!({"default.nl2py": {"sha256": digest, "bytes": rebuilt.len()}});
    server.replaced.lock().unwrap().extend([
        (BUNDLE_PATH.to_string(), rebuilt),
        ("/model/manifest.json".to_string(), manifest.to_string().into_bytes()),
    ]);
    let downloads = server.bundle_requests.load(Ordering::SeqCst);
    browser.open(&format!("{page}?backend=cpu"));
    let status = browser.wait_ready();
    assert!(status.contains("model updated"), "{status}");
    assert_eq!(server.bundle_requests.load(Ordering::SeqCst), downloads + 1);
    browser.open(&format!("{page}?backend=cpu&again"));
    assert!(browser.wait_ready().contains("from this browser's cache"));

    // `?model=`: this site's bundle loads, pinned or not; a wrong pin is refused; another site
    // needs a pin, and the Content-Security-Policy allows other sites over https only.
    let refused = |query: &str, expected: &str| {
        browser.open(&format!("{page}?backend=cpu&{query}"));
        // The status first: the page writes it before the notice, in one task.
        let notice = browser.wait(60, "the refusal", |b| {
            (b.text("#status") == "No model loaded.").then(|| b.text("#notice"))
        });
        assert!(notice.contains(expected), "{query}: {notice}");
    };
    let zeros = "0".repeat(64);
    refused(&format!("model=model/default.nl2py&sha256={zeros}"), &format!("the link asks for {zeros}"));
    let elsewhere = format!("http://localhost:{}/demo/model/default.nl2py", server.port);
    refused(&format!("model={elsewhere}"), "is on another site");
    refused(&format!("model={elsewhere}&sha256={digest}"), "cannot download the model");
    browser.open(&format!("{page}?backend=cpu&model=model/default.nl2py&sha256={digest}"));
    let status = browser.wait_ready();
    assert!(status.contains("/demo/model/default.nl2py (this site)"), "{status}");

    // Unasked, the page does not start on SwiftShader's WebGPU, and says why; nor does it fetch
    // the WebGPU worker, whose wasm is more than the page's own. On a machine with a GPU the
    // adapter is a hardware one: the page times WebGPU against the CPU there (the worker's wasm
    // fetched) and says what it measured. Which adapter it is, the browser says, read here apart
    // from the page (WebDriver waits for the promise).
    let adapter = browser.script(
        "return navigator.gpu ? navigator.gpu.requestAdapter().then(a => { if (!a) return 'none'; \
         const i = a.info || {}; return [i.vendor, i.architecture, i.description, \
         a.isFallbackAdapter || i.isFallbackAdapter].join(' '); }) : 'none';",
    );
    let adapter = adapter.as_str().unwrap_or_default().to_lowercase();
    assert!(adapter != "none", "Chromium must offer a WebGPU adapter (--enable-unsafe-webgpu)");
    let software = adapter.contains("swiftshader") || adapter.ends_with("true");
    browser.open(&page);
    let status = browser.wait_ready();
    let fetched = browser.script("return performance.getEntriesByType('resource').map(e => e.name);");
    let fetched: Vec<&str> = fetched.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(fetched.iter().any(|f| f.contains("nl2py-web-")), "{fetched:?}");
    if software {
        assert!(
            status.contains("CPU (wasm) (WebGPU's adapter (") && status.contains("draws on the CPU"),
            "{adapter}: {status}"
        );
        assert!(!fetched.iter().any(|f| f.contains("nl2py-webgpu")), "{fetched:?}");
    } else {
        assert!(
            status.contains("measured here:") && !status.contains("draws on the CPU"),
            "{adapter}: {status}"
        );
        assert!(fetched.iter().any(|f| f.contains("nl2py-webgpu")), "{fetched:?}");
    }

    // WebGPU (SwiftShader here, in the page's worker) gives the CPU's tokens, and stops when
    // asked: the worker waits for the page's word before each next step.
    browser.open(&format!("{page}?backend=webgpu"));
    let status = browser.wait_ready();
    assert!(status.contains("WebGPU"), "WebGPU did not start: {status}; {}", browser.text("#notice"));
    browser.click("#search option[value=greedy]");
    let on_gpu = browser.generate("sort list `d` by value", &Value::Null);
    assert_eq!(on_gpu["backend"], "webgpu");
    assert_eq!(on_gpu["generation"]["ids"], report["generation"]["ids"]);
    browser.type_into("#prompt", "write a python program to find the sum of natural numbers");
    browser.click("#generate");
    browser.click("#stop");
    let stopped = browser.wait(300, "the stopped generation", |b| {
        let report = b.script("return window.nl2py;");
        (report != on_gpu).then_some(report)
    });
    assert_eq!(stopped["stopped"], true, "{stopped}");
    assert!(stopped["tokens"].as_u64().unwrap() < 10, "{}", stopped["tokens"]);
}

/// `scripts/ship.sh`'s site (scripts/test.sh ships a copy of the shipped bundle with
/// examples/pairs.jsonl indexed into `target/own-pairs/site`): under a sub-path, the page loads
/// that bundle and lists the user's pair, with its source and licence, under the answer.
#[test]
#[ignore = "needs scripts/ship.sh's site and Chromium; scripts/test.sh runs it"]
fn a_shipped_site_answers_with_the_users_pairs() {
    let site = std::env::var_os("NL2PY_SHIPPED_SITE").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/own-pairs/site"),
        std::path::PathBuf::from,
    );
    assert!(site.join("index.html").exists(), "no site in {}: run scripts/ship.sh first", site.display());
    let shipped = std::fs::read(site.join("model/default.nl2py")).unwrap();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(site.join("model/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["default.nl2py"]["sha256"],
        hex::encode(Sha256::digest(&shipped)),
        "the manifest names the bundle"
    );

    let server = StaticServer::start(site, "/sub/path/");
    let browser = Browser::start();
    browser.open(&format!("{}?backend=cpu", server.url()));
    let status = browser.wait_ready();
    assert!(status.contains("default.nl2py (shipped with this page)"), "{status}");
    browser.click("#search option[value=greedy]");
    browser.generate("compute the sha256 hash of the file `path`", &Value::Null);
    let listed = browser.text("#retrieved");
    assert!(listed.contains("nl2py examples/pairs.jsonl · CC0-1.0"), "{listed}");
    assert!(listed.contains("digest = hashlib.sha256()"), "{listed}");
}

/// The Run button runs the code view's Python in a worker of its own (RustPython's wasm): a
/// visit that never runs fetches none of it; output streams in; an exception's line is marked;
/// `input()` reads the stdin box; files, sockets and processes are refused with a message; a
/// program past the time limit is stopped and the page goes on; offline, a reloaded page runs
/// from the service worker's copy.
#[test]
#[ignore = "needs `trunk build --release` and Chromium; scripts/test.sh runs it"]
fn the_run_button_runs_python_in_a_worker() {
    let server = StaticServer::start(dist(), "/demo/");
    let page = format!("{}?backend=cpu", server.url());
    let browser = Browser::start();
    browser.open(&page);
    browser.wait_ready();
    browser.wait(60, "the service worker", |b| {
        b.script("return !!navigator.serviceWorker.controller;").as_bool().filter(|&on| on)
    });
    browser.click("#search option[value=greedy]");
    browser.generate("print 'hello'", &Value::Null);
    let python_files = |b: &Browser| {
        let fetched = b.script("return performance.getEntriesByType('resource').map(e => e.name);");
        fetched.as_array().unwrap().iter().filter(|f| f.as_str().unwrap().contains("nl2py-python")).count()
    };
    assert_eq!(python_files(&browser), 0, "the page fetched the interpreter before a Run");

    // The generated answer runs as it is.
    let first = browser.run_python(None, "");
    assert_ne!(first["outcome"], "failed", "{first}");
    assert!(first["start_ms"].as_f64().is_some(), "the first Run started the worker: {first}");
    assert!(python_files(&browser) > 0, "the Run fetched no interpreter");

    let ran = browser.run_python(Some("print(1+1)"), "");
    eprintln!("first Run: fetch and start {} ms; print(1+1): {} ms", first["start_ms"], ran["run_ms"]);
    assert_eq!((ran["outcome"].as_str(), ran["output"].as_str()), (Some("finished"), Some("2\n")), "{ran}");
    assert_eq!(browser.script("return document.getElementById('run-output').textContent;"), "2\n");

    let raised = browser.run_python(Some("x = 1\nprint(y)\nprint(x)"), "");
    assert_eq!((raised["outcome"].as_str(), raised["line"].as_u64()), (Some("raised"), Some(2)), "{raised}");
    assert!(raised["output"].as_str().unwrap().contains("NameError"), "{raised}");
    assert_eq!(browser.text("#code .line.error-line"), "print(y)");
    assert!(browser.text("#run-status").contains("NameError on line 2"), "{}", browser.text("#run-status"));

    let asked = browser.run_python(Some("name = input('Name? ')\nprint('Hello,', name)"), "Ada\n");
    assert!(asked["output"].as_str().unwrap().ends_with("Hello, Ada\n"), "{asked}");
    let past_the_end = browser.run_python(Some("input()\ninput()"), "one line\n");
    assert!(past_the_end["output"].as_str().unwrap().contains("EOFError"), "{past_the_end}");

    for (code, error) in [
        ("open('/etc/passwd').read()", "PermissionError"),
        ("import socket", "ImportError"),
        ("import os\nos.system('ls')", "PermissionError"),
    ] {
        let refused = browser.run_python(Some(code), "");
        let output = refused["output"].as_str().unwrap();
        assert_eq!(refused["outcome"], "raised", "{code}: {refused}");
        assert!(output.contains(error) && output.contains("runs inside your browser"), "{code}: {output}");
    }

    // Past the limit the worker is stopped; the page answers at once, and the next Run works.
    browser.click(".run-options summary");
    browser.type_into("#run-limit", "1");
    let stopped = browser.run_python(Some("while True:\n    pass"), "");
    assert_eq!(stopped["outcome"], "timed-out", "{stopped}");
    assert_eq!(browser.script("return 6 * 7;"), 42);
    let again = browser.run_python(Some("print(3)"), "");
    assert_eq!(again["output"], "3\n", "{again}");

    // "Prefer answers that run": the beam's answers that parse run in the same worker before
    // one is shown, and the link keeps the setting.
    browser.click("#search option[value=beam]");
    browser.click("#prefer-running");
    let before = browser.script("return window.nl2py;");
    let preferred = browser.generate("write a function to add two numbers", &before);
    let runs = preferred["answers_run"].as_u64().unwrap();
    assert!((1..=PREFER_RUNNING_TRIES as u64).contains(&runs), "{}", preferred["answers_run"]);
    assert!(browser.text("#notice").contains("to prefer one that runs"), "{}", browser.text("#notice"));
    assert!(browser.script("return location.hash;").as_str().unwrap().contains("run=1"));
    eprintln!("prefer running: {runs} answers run in {} ms", preferred["running_ms"]);
    browser.click("#prefer-running");

    // Offline, the page reopens from the service worker, and so do the worker and interpreter.
    server.offline.store(true, Ordering::SeqCst);
    browser.open(&page);
    browser.wait_ready();
    browser.click("#search option[value=greedy]");
    browser.generate("print 'hello'", &Value::Null);
    let offline = browser.run_python(Some("print(sum(range(5)))"), "");
    assert_eq!(offline["output"], "10\n", "{offline}");
    server.offline.store(false, Ordering::SeqCst);
}
