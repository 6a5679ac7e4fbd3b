//! Test helpers for the built page: a static file server on loopback that serves a folder under
//! a sub-path, can drop off the network, lose the model bundle or serve other bytes for a file, and a W3C WebDriver client for headless Chromium through
//! ChromeDriver (a handful of JSON requests over ureq).
#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The shipped bundle's path in the served folder.
pub const BUNDLE_PATH: &str = "/model/default.nl2py";

/// Serves a folder over HTTP/1.0 at `http://127.0.0.1:{port}{prefix}`. `offline` drops every
/// connection unanswered (the network is gone); `bundle_gone` answers 404 for the model bundle
/// only; `replaced` maps a path in the folder (`/model/manifest.json`) to the bytes served
/// instead of the file's.
#[derive(Clone)]
pub struct StaticServer {
    pub port: u16,
    pub prefix: &'static str,
    pub offline: Arc<AtomicBool>,
    pub bundle_gone: Arc<AtomicBool>,
    pub bundle_requests: Arc<AtomicUsize>,
    pub replaced: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    root: PathBuf,
}

impl StaticServer {
    /// `prefix` starts and ends with `/`.
    pub fn start(root: PathBuf, prefix: &'static str) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = StaticServer {
            port: listener.local_addr().unwrap().port(),
            prefix,
            offline: Arc::default(),
            bundle_gone: Arc::default(),
            bundle_requests: Arc::default(),
            replaced: Arc::default(),
            root,
        };
        let shared = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if shared.offline.load(Ordering::SeqCst) {
                    continue; // dropped: the browser sees a network error
                }
                let server = shared.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        server
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.prefix)
    }

    fn serve(&self, mut stream: TcpStream) {
        let mut request_line = String::new();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
            header.clear();
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let path = path.split(['?', '#']).next().unwrap();
        let path = match path.strip_prefix(self.prefix) {
            Some("") => "/index.html".to_string(),
            Some(inner) if !path.contains("..") => format!("/{inner}"),
            _ => String::new(),
        };
        let response = match self.body(&path) {
            Some(body) => {
                let kind = match Path::new(&path).extension().and_then(|e| e.to_str()) {
                    Some("html") => "text/html; charset=utf-8",
                    Some("js") => "text/javascript",
                    Some("wasm") => "application/wasm",
                    Some("css") => "text/css",
                    Some("json") => "application/json",
                    _ => "application/octet-stream",
                };
                let mut head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                head.extend(body);
                head
            }
            None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        let _ = stream.write_all(&response);
    }

    /// What the server answers for `path` (from the folder's root), `None` for 404.
    fn body(&self, path: &str) -> Option<Vec<u8>> {
        if path.is_empty() {
            return None;
        }
        if path == BUNDLE_PATH {
            self.bundle_requests.fetch_add(1, Ordering::SeqCst);
            if self.bundle_gone.load(Ordering::SeqCst) {
                return None;
            }
        }
        if let Some(bytes) = self.replaced.lock().unwrap().get(path) {
            return Some(bytes.clone());
        }
        std::fs::read(self.root.join(path.trim_start_matches('/'))).ok()
    }
}

/// A WebDriver session on a ChromeDriver child process.
pub struct Browser {
    driver: Child,
    session: String,
    agent: ureq::Agent,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.session).call();
        let _ = self.driver.kill();
    }
}

impl Browser {
    pub fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver not found: run scripts/setup.sh --browser");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--enable-unsafe-webgpu",
            "--enable-features=Vulkan",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1200,900",
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let mut browser = Browser { driver, session: String::new(), agent };
        let created = browser.post(&format!("{base}/session"), capabilities);
        let id = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
        browser.session = format!("{base}/session/{id}");
        browser
    }

    fn post(&self, url: &str, body: Value) -> Value {
        Self::value(url, self.agent.post(url).send_json(&body).unwrap())
    }

    fn value(url: &str, mut response: ureq::http::Response<ureq::Body>) -> Value {
        let value: Value = response.body_mut().read_json().unwrap();
        assert!(value["value"]["error"].is_null(), "WebDriver {url}: {}", value["value"]);
        value["value"].clone()
    }

    fn command(&self, path: &str, body: Value) -> Value {
        self.post(&format!("{}/{path}", self.session), body)
    }

    pub fn open(&self, url: &str) {
        self.command("url", json!({ "url": url }));
    }

    pub fn script(&self, source: &str) -> Value {
        self.command("execute/sync", json!({ "script": source, "args": [] }))
    }

    pub fn element(&self, css: &str) -> String {
        let found = self.command("element", json!({"using": "css selector", "value": css}));
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_string()
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.command(&format!("element/{id}/click"), json!({}));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.command(&format!("element/{id}/clear"), json!({}));
        self.command(&format!("element/{id}/value"), json!({ "text": text }));
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.element(css);
        let url = format!("{}/element/{id}/text", self.session);
        let text = Self::value(&url, self.agent.get(&url).call().unwrap());
        text.as_str().unwrap_or_default().to_string()
    }

    pub fn count(&self, css: &str) -> usize {
        self.command("elements", json!({"using": "css selector", "value": css})).as_array().unwrap().len()
    }

    /// Polls `check` until it gives a value, for at most `seconds`.
    #[track_caller]
    pub fn wait<T>(&self, seconds: u64, what: &str, mut check: impl FnMut(&Browser) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            if started.elapsed() >= Duration::from_secs(seconds) {
                let shown = self.script(
                    "const text = id => document.getElementById(id)?.textContent;
                     return {address: location.href, status: text('status'), notice: text('notice')};",
                );
                panic!("timed out waiting for {what}; the browser shows {shown}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sets the window's size in CSS pixels (headless, the viewport follows it).
    pub fn resize(&self, width: u32, height: u32) {
        self.command("window/rect", json!({ "width": width, "height": height }));
    }

    /// The window as a PNG image (its viewport).
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let url = format!("{}/screenshot", self.session);
        let encoded = Self::value(&url, self.agent.get(&url).call().unwrap());
        base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap()
    }

    /// The status line once the model is loaded; fails when the page did not open.
    #[track_caller]
    pub fn wait_ready(&self) -> String {
        let status = |b: &Browser| b.script("return document.getElementById('status')?.textContent ?? null;");
        let opened = status(self);
        assert!(!opened.is_null(), "no page at {}", self.script("return location.href;"));
        self.wait(180, "the model to load", |b| {
            status(b).as_str().filter(|s| s.starts_with("Ready")).map(str::to_string)
        })
    }

    /// Puts `code` in the page's code view (one `span.line` a line, as the page writes it;
    /// `None` keeps the generated code), `stdin` in its box, clicks Run and returns the page's
    /// `window.nl2pyRun` (outcome, output, line, run_ms, start_ms).
    pub fn run_python(&self, code: Option<&str>, stdin: &str) -> Value {
        if let Some(code) = code {
            self.script(&format!(
                "const view = document.getElementById('code'); view.textContent = '';
                 {}.split('\\n').forEach((text, at) => {{
                     if (at) view.append('\\n');
                     const line = document.createElement('span'); line.className = 'line';
                     line.textContent = text; view.append(line);
                 }});",
                serde_json::to_string(code).unwrap()
            ));
        }
        self.script(&format!(
            "document.getElementById('stdin').value = {};",
            serde_json::to_string(stdin).unwrap()
        ));
        self.script("window.nl2pyRun = null;");
        self.click("#run");
        self.wait(120, "the run", |b| Some(b.script("return window.nl2pyRun;")).filter(|r| !r.is_null()))
    }

    /// The page's last report (`window.nl2py`) once it differs from `before`.
    pub fn generate(&self, prompt: &str, before: &Value) -> Value {
        self.type_into("#prompt", prompt);
        self.click("#generate");
        self.wait(300, "the generation", |b| {
            let report = b.script("return window.nl2py || null;");
            (!report.is_null() && &report != before).then_some(report)
        })
    }
}

pub fn dist() -> PathBuf {
    let dist = std::env::var_os("NL2PY_DIST")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("dist"), PathBuf::from);
    assert!(
        dist.join("index.html").exists(),
        "no page in {}: run `trunk build --release` first",
        dist.display()
    );
    dist
}
