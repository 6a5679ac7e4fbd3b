//! Getting the model bundle: from the browser's Cache Storage when an earlier visit stored it
//! (so a second or offline visit needs no network), otherwise fetched with progress and stored.
//! Bytes are checked (format version, checksum) before they are used or stored.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response};

/// Cache Storage bucket; bump the suffix when the bundle format changes.
const CACHE_NAME: &str = "nl2py-bundles-v1";

/// Where the bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Network,
}

fn js_error(context: &str, e: JsValue) -> String {
    let detail = e
        .as_string()
        .or_else(|| Reflect::get(&e, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()));
    format!("{context}: {}", detail.unwrap_or_else(|| format!("{e:?}")))
}

async fn open_cache() -> Option<Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    JsFuture::from(caches.open(CACHE_NAME)).await.ok()?.dyn_into().ok()
}

async fn cached(cache: &Cache, url: &str) -> Option<Vec<u8>> {
    let found = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response: Response = found.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// The bundle at `url`. `progress(received, total)` is called as bytes arrive (`total` is 0 when
/// the server does not say). A cached copy that fails its check is dropped and fetched again.
pub async fn bundle_bytes(url: &str, progress: &dyn Fn(usize, usize)) -> Result<(Vec<u8>, Origin), String> {
    let cache = open_cache().await;
    if let Some(cache) = &cache
        && let Some(bytes) = cached(cache, url).await
    {
        if nl2py::bundle::inspect(&bytes).is_ok() {
            progress(bytes.len(), bytes.len());
            return Ok((bytes, Origin::Cache));
        }
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
    let bytes = download(url, progress).await?;
    nl2py::bundle::inspect(&bytes).map_err(|e| format!("the model file at {url} is unusable: {e}"))?;
    if let Some(cache) = &cache {
        // Stored only once checked; a failure to store (private mode, quota) costs a re-download.
        let copy = Uint8Array::from(bytes.as_slice());
        if let Ok(response) = Response::new_with_opt_buffer_source(Some(&copy)) {
            let _ = JsFuture::from(cache.put_with_str(url, &response)).await;
        }
    }
    Ok((bytes, Origin::Network))
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
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(0);
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
        bytes.extend_from_slice(&Uint8Array::new(&value).to_vec());
        progress(bytes.len(), total);
    }
    Ok(bytes)
}
