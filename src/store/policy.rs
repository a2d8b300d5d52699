//! Which `Cache-Control` and extra headers a file gets: immutable for
//! fingerprinted names (a content hash in the name, or listed in the
//! manifest), revalidate for the rest, then `[[rules]]` by glob in order.
//! Decided once when an asset is loaded, never per request.

use std::collections::HashSet;

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::config::Rule;

/// The header policy of one static root.
#[derive(Debug, Clone)]
pub struct Policy {
    immutable: HeaderValue,
    revalidate: HeaderValue,
    rules: Vec<Rule>,
    manifest_files: HashSet<String>,
}

impl Policy {
    /// Builds a policy from the two default values, the compiled rules and
    /// the fingerprinted file paths listed in the manifest.
    pub fn new(
        immutable: HeaderValue,
        revalidate: HeaderValue,
        rules: Vec<Rule>,
        manifest_files: HashSet<String>,
    ) -> Self {
        Self {
            immutable,
            revalidate,
            rules,
            manifest_files,
        }
    }

    /// Cache-Control and extra headers for the file at `key` (relative path).
    pub fn headers_for(&self, key: &str) -> (HeaderValue, Vec<(HeaderName, HeaderValue)>) {
        let file_name = key.rsplit('/').next().unwrap_or(key);
        let mut cache_control = if self.manifest_files.contains(key) || is_fingerprinted(file_name)
        {
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

/// Whether a file name carries a content hash: a dot-separated part other
/// than the first and the last made of 8 or more hex digits
/// (`app.3f2a9c1b.css`, `vendor.0123456789abcdef.min.js`).
pub fn is_fingerprinted(file_name: &str) -> bool {
    let parts: Vec<&str> = file_name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprinted_names() {
        assert!(is_fingerprinted("app.3f2a9c1b.css"));
        assert!(is_fingerprinted("app.3F2A9C1B7D.css"));
        assert!(is_fingerprinted("vendor.0123456789.min.js"));
        assert!(!is_fingerprinted("app.css"));
        assert!(!is_fingerprinted("app.3f2a9c1.css"));
        assert!(!is_fingerprinted("3f2a9c1b00.css"));
        assert!(!is_fingerprinted("app.css.3f2a9c1b00"));
        assert!(!is_fingerprinted("app.zzzzzzzzzz.css"));
    }

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
            ["logo-v2.svg".to_string()].into_iter().collect(),
        );
        assert_eq!(p.headers_for("x.css").0, "rev");
        assert_eq!(p.headers_for("x.0123abcd.css").0, "imm");
        assert_eq!(p.headers_for("logo-v2.svg").0, "imm");
        assert_eq!(p.headers_for("x/y.woff2").0, "a");
        let (cc, extra) = p.headers_for("fonts/y.woff2");
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
