//! Getting the model bundle: from the browser's Cache Storage when an earlier visit stored it
//! (so a second or offline visit needs no network), otherwise downloaded with progress and
//! stored. A cached copy is used only while it still has the SHA-256 the page expects: the one
//! pinned by `&sha256=`, or for the shipped model the one in its manifest (when the manifest can
//! be fetched: offline, the cached copy is used as it is). Bytes are checked (format version,
//! checksum, bounds) before they are used or stored.

use js_sys::{Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, RequestCache, RequestInit, Response};

use nl2py::bundle::Verified;

use crate::model_source::ModelSource;

/// Cache Storage bucket; bump the suffix when the bundle format changes.
const CACHE_NAME: &str = "nl2py-bundles-v1";
/// A download larger than this is refused, whatever its `Content-Length` says: far more than any
/// model a page can run (the shipped one is about 19.5 MB).
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;

/// Where the bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Network,
    /// Downloaded because the cached copy's SHA-256 differed from the manifest's.
    Updated,
}

impl Origin {
    pub fn key(self) -> &'static str {
        match self {
            Origin::Cache => "cache",
            Origin::Network => "network",
            Origin::Updated => "updated",
        }
    }
}

/// A bundle and what the page should tell the user about it.
pub struct Fetched {
    pub bundle: Verified,
    pub origin: Origin,
    /// Why the bundle could not be kept for the next visit (private mode, quota), if it could not.
    pub not_stored: Option<String>,
}

fn js_error(context: &str, e: JsValue) -> String {
    let detail = e
        .as_string()
        .or_else(|| Reflect::get(&e, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()));
    format!("{context}: {}", detail.unwrap_or_else(|| format!("{e:?}")))
}

async fn open_cache() -> Result<Cache, String> {
    let window = web_sys::window().ok_or("no window")?;
    let caches = window.caches().map_err(|e| js_error("this browser offers no Cache Storage here", e))?;
    let cache =
        JsFuture::from(caches.open(CACHE_NAME)).await.map_err(|e| js_error("Cache Storage refused", e))?;
    cache.dyn_into().map_err(|_| "Cache Storage returned something else".into())
}

async fn cached(cache: &Cache, url: &str) -> Option<Vec<u8>> {
    let found = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response: Response = found.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// `{"default.nl2py": {"sha256": "…", "bytes": 7180118}}`, written by web/post_build.py.
#[derive(Deserialize)]
struct ManifestEntry {
    sha256: String,
}

/// The SHA-256 the manifest gives `file_name`, fetched past every cache; `None` when it cannot
/// be fetched or read (offline, an older page without one).
async fn manifest_sha256(manifest: &str, file_name: &str) -> Option<[u8; 32]> {
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoStore);
    let window = web_sys::window()?;
    let response: Response =
        JsFuture::from(window.fetch_with_str_and_init(manifest, &init)).await.ok()?.dyn_into().ok()?;
    if !response.ok() {
        return None;
    }
    let text = JsFuture::from(response.text().ok()?).await.ok()?.as_string()?;
    let mut entries: std::collections::HashMap<String, ManifestEntry> = serde_json::from_str(&text).ok()?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(entries.remove(file_name)?.sha256, &mut digest).ok()?;
    Some(digest)
}

/// The bundle `source` names. `progress(received, total)` is called as bytes arrive (`total`
/// is 0 when the server does not say).
pub async fn bundle_bytes(source: &ModelSource, progress: &dyn Fn(usize, usize)) -> Result<Fetched, String> {
    let url = source.url.as_str();
    let expected = match (&source.pin, &source.manifest) {
        (Some(pin), _) => Some(*pin),
        (None, Some(manifest)) => manifest_sha256(manifest, &source.file_name).await,
        (None, None) => None,
    };
    let cache = open_cache().await;
    let mut outdated = false;
    if let Ok(cache) = &cache
        && let Some(bytes) = cached(cache, url).await
    {
        match nl2py::bundle::verify(bytes) {
            Err(_) => {
                let _ = JsFuture::from(cache.delete_with_str(url)).await;
            }
            // The check reads the file's SHA-256 on its way: one pass over the bytes, not two.
            Ok(bundle) if expected.is_none_or(|sum| bundle.info().file_sha256 == hex::encode(sum)) => {
                let size = bundle.bytes().len();
                progress(size, size);
                return Ok(Fetched { bundle, origin: Origin::Cache, not_stored: None });
            }
            // Out of date (or not what a link pins): kept until a download replaces it.
            Ok(_) => outdated = source.pin.is_none(),
        }
    }
    let bytes = download(url, progress).await?;
    if let Some(pin) = &source.pin {
        let sha256 = nl2py::bundle::sha256(&bytes);
        if sha256 != *pin {
            return Err(format!(
                "the model at {url} was refused: its SHA-256 is {}, the link asks for {}",
                hex::encode(sha256),
                hex::encode(pin)
            ));
        }
    }
    let bundle =
        nl2py::bundle::verify(bytes).map_err(|e| format!("the model file at {url} is unusable: {e}"))?;
    let not_stored = match &cache {
        Ok(cache) => store(cache, url, bundle.bytes()).await.err(),
        Err(e) => Some(e.clone()),
    }
    .map(|why| {
        format!(
            "The model could not be stored in this browser ({why}); it will be downloaded again next time."
        )
    });
    let origin = if outdated { Origin::Updated } else { Origin::Network };
    Ok(Fetched { bundle, origin, not_stored })
}

/// Keeps checked bytes for the next visit.
async fn store(cache: &Cache, url: &str, bytes: &[u8]) -> Result<(), String> {
    let copy = Uint8Array::from(bytes);
    let response = Response::new_with_opt_buffer_source(Some(&copy))
        .map_err(|e| js_error("cannot wrap the bytes", e))?;
    JsFuture::from(cache.put_with_str(url, &response))
        .await
        .map_err(|e| js_error("Cache Storage refused", e))?;
    Ok(())
}

async fn download(url: &str, progress: &dyn Fn(usize, usize)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| js_error(&format!("cannot download the model ({url})"), e))?
        .dyn_into()
        .map_err(|_| "fetch did not return a response")?;
    if !response.ok() {
        return Err(format!(
            "cannot download the model ({url}): HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let too_big = || format!("the model at {url} is larger than {} MB: refused", MAX_BUNDLE_BYTES >> 20);
    // An unreadable or missing length is unknown (0); a stated one over the limit is refused.
    let total =
        response.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<u64>().ok());
    if total.is_some_and(|n| n > MAX_BUNDLE_BYTES as u64) {
        return Err(too_big());
    }
    let total = total.unwrap_or(0) as usize;
    let body = response.body().ok_or("the model download has no body")?;
    let reader: ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|_| "cannot read the model download")?;
    let mut bytes = Vec::with_capacity(total);
    loop {
        let chunk =
            JsFuture::from(reader.read()).await.map_err(|e| js_error("the model download broke off", e))?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done")).ok().and_then(|d| d.as_bool());
        if done != Some(false) {
            break;
        }
        let value =
            Reflect::get(&chunk, &JsValue::from_str("value")).map_err(|e| js_error("bad chunk", e))?;
        let value = Uint8Array::new(&value);
        if bytes.len() + value.length() as usize > MAX_BUNDLE_BYTES {
            let _ = reader.cancel();
            return Err(too_big());
        }
        bytes.extend_from_slice(&value.to_vec());
        progress(bytes.len(), total);
    }
    Ok(bytes)
}
