//! A generation as a link: the prompt, the search settings and the attention view, in the
//! address's fragment, e.g. `#prompt=sort+list+%60d%60+by+value&search=beam&width=4&max=200`.
//! A fragment never reaches the server, so a shared link works from any folder of any static
//! host. Values are kept as the page's controls hold them; the page checks them as it checks
//! what a user types.

use form_urlencoded::{Serializer, parse};

/// The page's settings a link carries besides the prompt, by the keys it writes them under:
/// the search controls, the sampling seed, the code ids the user forced by picking an
/// alternative token (`3,17,5`), whether to prefer answers that run (`run=1`), and the
/// attention view.
pub const SETTINGS: &[&str] =
    &["search", "width", "temperature", "seed", "max", "prefix", "run", "view", "layer", "head"];

/// What a shared link asks the page to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub prompt: String,
    /// `(key, value)` for the keys of [`SETTINGS`] the link has, in that order.
    pub settings: Vec<(&'static str, String)>,
}

impl Link {
    /// Reads a fragment (`#prompt=…&…`, with or without the `#`). `None` when it has no prompt;
    /// unknown keys are ignored and a repeated key keeps its first value.
    pub fn parse(fragment: &str) -> Option<Link> {
        let pairs: Vec<(String, String)> =
            parse(fragment.trim_start_matches('#').as_bytes()).into_owned().collect();
        let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let prompt = value("prompt").filter(|p| !p.trim().is_empty())?;
        let settings = SETTINGS.iter().filter_map(|&key| Some((key, value(key)?))).collect();
        Some(Link { prompt, settings })
    }

    /// The fragment for this link, starting with `#`.
    pub fn fragment(&self) -> String {
        let mut query = Serializer::for_suffix(String::from("#"), 1);
        query.append_pair("prompt", &self.prompt);
        for (key, value) in &self.settings {
            query.append_pair(key, value);
        }
        query.finish()
    }

    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_back_what_it_wrote() {
        let link = Link {
            prompt: "print '<b>&amp;</b>' + `x` # 100% = ok\nnext line".into(),
            settings: vec![
                ("search", "sample".into()),
                ("seed", "123456789".into()),
                ("layer", "mean".into()),
            ],
        };
        let fragment = link.fragment();
        assert!(fragment.starts_with("#prompt="), "{fragment}");
        assert!(!fragment[1..].contains(['#', ' ', '<', '\n']), "not escaped: {fragment}");
        assert_eq!(Link::parse(&fragment), Some(link.clone()));
        assert_eq!(link.setting("seed"), Some("123456789"));
        assert_eq!(link.setting("width"), None);
    }

    #[test]
    fn a_link_without_a_prompt_or_with_strange_keys_is_read_safely() {
        assert_eq!(Link::parse(""), None);
        assert_eq!(Link::parse("#search=beam"), None);
        assert_eq!(Link::parse("#prompt=+++"), None);
        let link = Link::parse("#evil=1&prompt=a%20b&width=4&width=9&prompt=second&%ZZ=%").unwrap();
        assert_eq!(link.prompt, "a b");
        assert_eq!(link.settings, vec![("width", "4".to_string())]);
    }
}
