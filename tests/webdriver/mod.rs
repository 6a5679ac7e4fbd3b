//! Test helpers for the built page: a static file server on loopback that can drop off the
//! network or lose the model bundle, and a W3C WebDriver client for headless Chromium through
//! ChromeDriver (a handful of JSON requests over ureq).
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BUNDLE_PATH: &str = "/model/default.nl2py";

/// Serves a folder over HTTP/1.0. `offline` drops every connection unanswered (the network is
/// gone); `bundle_gone` answers 404 for the model bundle only.
pub struct StaticServer {
    pub port: u16,
    pub offline: Arc<AtomicBool>,
    pub bundle_gone: Arc<AtomicBool>,
    pub bundle_requests: Arc<AtomicUsize>,
}

impl StaticServer {
    pub fn start(root: PathBuf) -> StaticServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let offline = Arc::new(AtomicBool::new(false));
        let bundle_gone = Arc::new(AtomicBool::new(false));
        let bundle_requests = Arc::new(AtomicUsize::new(0));
        let (off, gone, count) = (offline.clone(), bundle_gone.clone(), bundle_requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if off.load(Ordering::SeqCst) {
                    continue; // dropped: the browser sees a network error
                }
                let (root, gone, count) = (root.clone(), gone.clone(), count.clone());
                std::thread::spawn(move || serve(stream, &root, &gone, &count));
            }
        });
        StaticServer { port, offline, bundle_gone, bundle_requests }
    }
}

fn serve(mut stream: TcpStream, root: &Path, bundle_gone: &AtomicBool, bundle_requests: &AtomicUsize) {
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
    let path = path.split('?').next().unwrap();
    let path = if path == "/" { "/index.html" } else { path };
    if path == BUNDLE_PATH {
        bundle_requests.fetch_add(1, Ordering::SeqCst);
    }
    let file = root.join(path.trim_start_matches('/'));
    let body = if path == BUNDLE_PATH && bundle_gone.load(Ordering::SeqCst) || path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let response = match body {
        Some(body) => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("wasm") => "application/wasm",
                Some("css") => "text/css",
                _ => "application/octet-stream",
            };
            let mut head =
                format!("HTTP/1.0 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n", body.len())
                    .into_bytes();
            head.extend(body);
            head
        }
        None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response);
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
    pub fn wait<T>(&self, seconds: u64, what: &str, mut check: impl FnMut(&Browser) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "timed out waiting for {what}; status: {:?}, notice: {:?}",
                self.text("#status"),
                self.text("#notice")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn wait_ready(&self) -> String {
        self.wait(180, "the model to load", |b| Some(b.text("#status")).filter(|s| s.starts_with("Ready")))
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
