//! Which `Cache-Control` and extra headers a file gets: immutable for
//! fingerprinted files (listed as such in the manifest, or a name matching
//! `cache_control.fingerprint_patterns`), revalidate for the rest (and for
//! the plain names the manifest lists, whatever they look like), then
//! `[[rules]]` by glob in order; and whether an HTML entry point announces
//! its preload links (`server.preload_links`). Decided once when an asset is loaded,
//! never per request.

use actix_web::http::header::{HeaderName, HeaderValue};

use super::manifest_index::Listing;
use crate::config::Rule;
use crate::fingerprint::Patterns;

/// The header policy of one static root.
#[derive(Debug, Clone)]
pub struct Policy {
    immutable: HeaderValue,
    revalidate: HeaderValue,
    fingerprints: Patterns,
    rules: Vec<Rule>,
    /// HTML entry points announce their preload links (`server.preload_links`).
    preload: bool,
}

impl Policy {
    /// Builds a policy from the two default values, the fingerprint
    /// patterns and the compiled rules.
    pub fn new(
        immutable: HeaderValue,
        revalidate: HeaderValue,
        fingerprints: Patterns,
        rules: Vec<Rule>,
    ) -> Self {
        Self {
            immutable,
            revalidate,
            fingerprints,
            rules,
            preload: true,
        }
    }

    /// The same policy, HTML entry points announcing their preload links
    /// (`Link`, `103 Early Hints`) or not.
    pub fn with_preload_links(mut self, on: bool) -> Self {
        self.preload = on;
        self
    }

    /// Whether HTML entry points announce their preload links.
    pub fn preload_links(&self) -> bool {
        self.preload
    }

    /// The fingerprint patterns (`cache_control.fingerprint_patterns`).
    pub fn fingerprints(&self) -> &Patterns {
        &self.fingerprints
    }

    /// Cache-Control and extra headers for the file at `key` (relative
    /// path); `listing` is what the build's manifest says of it.
    pub fn headers_for(
        &self,
        key: &str,
        listing: Listing,
    ) -> (HeaderValue, Vec<(HeaderName, HeaderValue)>) {
        let file_name = key.rsplit('/').next().unwrap_or(key);
        let fingerprinted = match listing {
            Listing::Fingerprinted => true,
            Listing::Plain => false,
            Listing::Unlisted => self.fingerprints.matches(file_name),
        };
        let said = crate::rule_set::said(&self.rules, key);
        let cache_control = said.cache_control.unwrap_or_else(|| {
            if fingerprinted {
                self.immutable.clone()
            } else {
                self.revalidate.clone()
            }
        });
        (cache_control, said.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Listing::*;

    #[test]
    fn rules_apply_in_order() {
        let rule = |g: &str, cc: &str| {
            let c: crate::config::RuleConfig = toml::from_str(&format!(
                "glob = {g:?}\ncache_control = {cc:?}\nheaders = {{ x-r = {g:?} }}"
            ))
            .unwrap();
            crate::config::compile_rules(&[c]).unwrap().remove(0)
        };
        let p = Policy::new(
            HeaderValue::from_static("imm"),
            HeaderValue::from_static("rev"),
            Patterns::default(),
            vec![rule("*.woff2", "a"), rule("fonts/*", "b")],
        );
        assert_eq!(p.headers_for("x.css", Unlisted).0, "rev");
        assert_eq!(p.headers_for("x.0123abcd.css", Unlisted).0, "imm");
        assert_eq!(p.headers_for("assets/x-DiwrgTda.js", Unlisted).0, "imm");
        assert_eq!(p.headers_for("logo-v2.svg", Fingerprinted).0, "imm");
        // A plain name the build wrote is never taken for a fingerprint.
        assert_eq!(p.headers_for("assets/x-DiwrgTda.js", Plain).0, "rev");
        assert_eq!(p.headers_for("x/y.woff2", Unlisted).0, "a");
        let (cc, extra) = p.headers_for("fonts/y.woff2", Unlisted);
        assert_eq!(cc, "b");
        assert_eq!(
            extra,
            vec![(
                HeaderName::from_static("x-r"),
                HeaderValue::from_static("fonts/*")
            )]
        );
    }
}
