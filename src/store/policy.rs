//! Which `Cache-Control` and extra headers a file gets: immutable for
//! fingerprinted names (a content hash in the name, or listed in the
//! manifest), revalidate for the rest, then `[[rules]]` by glob in order.
//! Decided once when an asset is loaded, never per request.

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::config::Rule;
use crate::fingerprint::is_fingerprinted;

/// The header policy of one static root.
#[derive(Debug, Clone)]
pub struct Policy {
    immutable: HeaderValue,
    revalidate: HeaderValue,
    rules: Vec<Rule>,
}

impl Policy {
    /// Builds a policy from the two default values and the compiled rules.
    pub fn new(immutable: HeaderValue, revalidate: HeaderValue, rules: Vec<Rule>) -> Self {
        Self {
            immutable,
            revalidate,
            rules,
        }
    }

    /// Cache-Control and extra headers for the file at `key` (relative
    /// path); `in_manifest` says the build's manifest lists it as a
    /// fingerprinted file.
    pub fn headers_for(
        &self,
        key: &str,
        in_manifest: bool,
    ) -> (HeaderValue, Vec<(HeaderName, HeaderValue)>) {
        let file_name = key.rsplit('/').next().unwrap_or(key);
        let mut cache_control = if in_manifest || is_fingerprinted(file_name) {
            self.immutable.clone()
        } else {
            self.revalidate.clone()
        };
        let mut extra: Vec<(HeaderName, HeaderValue)> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.glob.is_match(key)) {
            if let Some(cc) = &rule.cache_control {
                cache_control = cc.clone();
            }
            for (n, v) in &rule.headers {
                extra.retain(|(en, _)| en != n);
                extra.push((n.clone(), v.clone()));
            }
        }
        (cache_control, extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_order() {
        let rule = |g: &str, cc: &str| Rule {
            glob: globset::Glob::new(g).unwrap().compile_matcher(),
            cache_control: Some(HeaderValue::from_str(cc).unwrap()),
            headers: vec![(
                HeaderName::from_static("x-r"),
                HeaderValue::from_str(g).unwrap(),
            )],
        };
        let p = Policy::new(
            HeaderValue::from_static("imm"),
            HeaderValue::from_static("rev"),
            vec![rule("*.woff2", "a"), rule("fonts/*", "b")],
        );
        assert_eq!(p.headers_for("x.css", false).0, "rev");
        assert_eq!(p.headers_for("x.0123abcd.css", false).0, "imm");
        assert_eq!(p.headers_for("logo-v2.svg", true).0, "imm");
        assert_eq!(p.headers_for("x/y.woff2", false).0, "a");
        let (cc, extra) = p.headers_for("fonts/y.woff2", false);
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
