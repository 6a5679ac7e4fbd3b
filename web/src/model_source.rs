//! Which model the page loads, and whether it may: the shipped bundle by default; `?model=URL`
//! from this site; from another site only with `&sha256=HEX`, which the downloaded bytes must
//! match (what `sha256sum` prints for the file). Anything else is refused with a message.

use web_sys::Url;

/// The bundle the page loads unless the address says `?model=URL`.
pub const SHIPPED_MODEL: &str = "model/default.nl2py";
/// Written beside the shipped bundle at build time (web/post_build.py): each bundle's SHA-256,
/// so that the page can tell that its cached copy is out of date.
pub const MANIFEST: &str = "model/manifest.json";

/// A model the page may load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// Absolute URL of the bundle.
    pub url: String,
    /// How the status line names it.
    pub name: String,
    /// The SHA-256 the bytes must have (from `&sha256=`).
    pub pin: Option<[u8; 32]>,
    /// Absolute URL of the manifest that gives the bundle's current SHA-256 (the shipped model).
    pub manifest: Option<String>,
    /// The file name the manifest lists the bundle under.
    pub file_name: String,
    /// Served by another site than the page.
    pub foreign: bool,
}

impl ModelSource {
    /// The model that the page at `page` (its full address) is asked for by its `?model=` and
    /// `&sha256=` values.
    pub fn choose(page: &str, model: Option<&str>, sha256: Option<&str>) -> Result<ModelSource, String> {
        let page_url = Url::new(page).map_err(|_| format!("the page's own address is not a URL: {page}"))?;
        let pin = match sha256 {
            None => None,
            Some(hex_digest) => Some(parse_sha256(hex_digest)?),
        };
        let asked = model.unwrap_or(SHIPPED_MODEL);
        let url = Url::new_with_base(asked, page)
            .map_err(|_| format!("?model={asked} is not a URL the page can fetch"))?;
        if !matches!(url.protocol().as_str(), "http:" | "https:") {
            return Err(format!("?model= must be an http or https address, not {}", url.protocol()));
        }
        let foreign = url.origin() != page_url.origin();
        if foreign && pin.is_none() {
            return Err(format!(
                "the model at {} is on another site ({}); add &sha256= with the SHA-256 of the file to load it",
                url.href(),
                url.origin()
            ));
        }
        let file_name = url.pathname().rsplit('/').next().unwrap_or_default().to_string();
        let manifest =
            model.is_none().then(|| Url::new_with_base(MANIFEST, page).map(|m| m.href()).ok()).flatten();
        let name = match (model, foreign) {
            (None, _) => format!("{file_name} (shipped with this page)"),
            (Some(_), false) => format!("{} (this site)", url.pathname()),
            (Some(_), true) => format!("{} (from {}, SHA-256 checked)", url.href(), url.host()),
        };
        Ok(ModelSource { url: url.href(), name, pin, manifest, file_name, foreign })
    }
}

fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut digest)
        .map_err(|_| format!("&sha256= must be 64 hexadecimal digits, not {text:?}"))?;
    Ok(digest)
}

// In Chromium (`cargo test --target wasm32-unknown-unknown -p nl2py-web`): the addresses are read
// by the browser's own URL parser, as on the page.
#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;

    const PAGE: &str = "https://demo.example/nl2py/?backend=cpu";
    const SUM: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[wasm_bindgen_test]
    fn the_shipped_model_is_found_beside_the_page_with_its_manifest() {
        let source = ModelSource::choose(PAGE, None, None).unwrap();
        assert_eq!(source.url, "https://demo.example/nl2py/model/default.nl2py");
        assert_eq!(source.manifest.as_deref(), Some("https://demo.example/nl2py/model/manifest.json"));
        assert_eq!(source.file_name, "default.nl2py");
        assert!(!source.foreign && source.pin.is_none());
    }

    #[wasm_bindgen_test]
    fn a_model_from_this_site_needs_no_pin() {
        for asked in ["other.nl2py", "/models/other.nl2py", "https://demo.example/x/other.nl2py"] {
            let source = ModelSource::choose(PAGE, Some(asked), None).unwrap();
            assert!(!source.foreign, "{asked}");
            assert_eq!(source.manifest, None, "{asked}");
            assert!(source.name.contains("this site"), "{}", source.name);
        }
    }

    #[wasm_bindgen_test]
    fn a_model_from_another_site_needs_a_valid_pin() {
        for asked in ["https://evil.example/m.nl2py", "//evil.example/m.nl2py", "http://demo.example/m.nl2py"]
        {
            let refused = ModelSource::choose(PAGE, Some(asked), None).unwrap_err();
            assert!(refused.contains("another site") && refused.contains("sha256"), "{asked}: {refused}");
        }
        let pinned = ModelSource::choose(PAGE, Some("https://models.example/m.nl2py"), Some(SUM)).unwrap();
        assert!(pinned.foreign);
        assert_eq!(hex::encode(pinned.pin.unwrap()), SUM);
        assert!(pinned.name.contains("models.example"), "{}", pinned.name);
        for bad in ["", "abc", &SUM[1..], &format!("{SUM}00"), &SUM.replace('a', "g")] {
            let refused = ModelSource::choose(PAGE, Some("https://models.example/m.nl2py"), Some(bad));
            assert!(refused.unwrap_err().contains("64 hexadecimal"), "{bad}");
        }
    }

    #[wasm_bindgen_test]
    fn only_http_addresses_are_fetched() {
        for asked in
            ["data:application/octet-stream;base64,AAAA", "javascript:alert(1)", "file:///etc/passwd"]
        {
            let refused = ModelSource::choose(PAGE, Some(asked), Some(SUM)).unwrap_err();
            assert!(refused.contains("http or https"), "{asked}: {refused}");
        }
    }
}
