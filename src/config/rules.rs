//! `[[rules]]`: what the operator says of the paths a glob matches, for
//! local files and pulled objects alike, applied in order (later rules win,
//! key by key), and their compiled form. What a set of rules says of one
//! path is `crate::rule_set`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units;
use crate::http::query;

/// How a rule's `edge_ttl` combines with the origin's freshness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtlMode {
    /// Only when the origin gave no explicit freshness (before the heuristic).
    #[default]
    Default,
    /// Whatever the origin said (`no-store` and `private` still hold).
    Override,
}

/// One `[[rules]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Glob over the path relative to the root (`*` crosses `/`).
    pub glob: String,
    /// Cache-Control toward clients (local files, and pulled objects in
    /// place of the origin's).
    #[serde(default)]
    pub cache_control: Option<String>,
    /// Headers added to matching responses.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long this node keeps a matching pulled object.
    #[serde(default, deserialize_with = "some_duration")]
    pub edge_ttl: Option<Duration>,
    /// Whether `edge_ttl` yields to the origin's freshness.
    #[serde(default)]
    pub edge_ttl_mode: Option<TtlMode>,
    /// How long past its freshness a stored copy may answer when the origin
    /// fails, whatever the origin said.
    #[serde(default, deserialize_with = "some_duration")]
    pub stale_if_error: Option<Duration>,
    /// The document a GET/HEAD for a page that exists nowhere gets (a
    /// single-page app's `/index.html`).
    #[serde(default)]
    pub fallback: Option<String>,
    /// Pages answered, with their status, in place of the node's own
    /// error bodies (`{ 404 = "/404.html" }`).
    #[serde(default)]
    pub error_pages: BTreeMap<String, String>,
    /// Which part of the query names the object: "keep", "ignore", "sort",
    /// `{ allow = [...] }`, `{ deny = [...] }`.
    #[serde(default)]
    pub query: Option<toml::Value>,
    /// Store pulled responses that carry `Set-Cookie` (their cookie then
    /// reaches every client); `cache.store_set_cookie` where unset.
    #[serde(default)]
    pub store_set_cookie: Option<bool>,
}

/// Serde: an optional duration written as [`units::duration`].
fn some_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    units::duration(d).map(Some)
}

/// A rule, compiled. Every key but the glob is optional: a rule says only
/// what it sets, and a later rule's key replaces an earlier one's.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Which paths it applies to.
    pub glob: globset::GlobMatcher,
    /// Cache-Control toward clients.
    pub cache_control: Option<HeaderValue>,
    /// Headers to add.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// This node's lifetime for pulled objects.
    pub edge_ttl: Option<Duration>,
    /// How `edge_ttl` combines with the origin's freshness.
    pub edge_ttl_mode: Option<TtlMode>,
    /// stale-if-error, the operator's.
    pub stale_if_error: Option<Duration>,
    /// The single-page app's document.
    pub fallback: Option<String>,
    /// Error pages by status.
    pub error_pages: Vec<(u16, String)>,
    /// The query policy.
    pub query: Option<query::Policy>,
    /// Store responses with `Set-Cookie`.
    pub store_set_cookie: Option<bool>,
}

/// What a page path (`fallback`, `error_pages`) may be.
const PAGE: &str = "an absolute path of the site, like \"/index.html\" (no query)";

/// What `query` may be.
const QUERY: &str =
    "\"keep\", \"ignore\", \"sort\", { allow = [\"name\", ...] } or { deny = [\"name\", ...] }";

fn page_ok(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains(['?', '#'])
        && crate::http::path::key(p).is_ok_and(|k| !k.path().is_empty())
}

/// A `query` value, read.
fn query_policy(v: &toml::Value) -> Option<query::Policy> {
    let names = |v: &toml::Value| -> Option<Vec<String>> {
        let list = v.as_array()?;
        (list.iter())
            .map(|n| n.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect()
    };
    match v {
        toml::Value::String(s) => match s.as_str() {
            "keep" => Some(query::Policy::Keep),
            "ignore" => Some(query::Policy::Ignore),
            "sort" => Some(query::Policy::Sort),
            _ => None,
        },
        toml::Value::Table(t) if t.len() == 1 => {
            if let Some(list) = t.get("allow") {
                names(list).map(query::Policy::Allow)
            } else {
                t.get("deny").and_then(names).map(query::Policy::Deny)
            }
        }
        _ => None,
    }
}

impl RuleConfig {
    /// This rule (the `i`th), compiled; errors name `origin` and the key.
    pub(super) fn compile(&self, i: usize, origin: &str) -> Result<Rule, ConfigError> {
        let invalid = at(origin);
        let key = |k: &str| format!("rules[{i}].{k}");
        let glob = globset::Glob::new(&self.glob)
            .map_err(|e| {
                invalid(
                    &key("glob"),
                    &self.glob,
                    &format!("a glob such as \"*.woff2\" ({})", e.kind()),
                )
            })?
            .compile_matcher();
        let cache_control = match &self.cache_control {
            Some(cc) => Some(HeaderValue::from_str(cc).map_err(|_| {
                invalid(&key("cache_control"), cc, "a header value of visible ASCII")
            })?),
            None => None,
        };
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let n = HeaderName::from_str(name).map_err(|_| {
                    invalid(&key("headers"), name, "a header name (letters, digits, -)")
                })?;
                let v = HeaderValue::from_str(value).map_err(|_| {
                    invalid(
                        &key(&format!("headers.{name}")),
                        value,
                        "a header value of visible ASCII, no newlines",
                    )
                })?;
                Ok((n, v))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        if let Some(f) = self.fallback.as_ref().filter(|f| !page_ok(f)) {
            return Err(invalid(&key("fallback"), f, PAGE));
        }
        let mut error_pages = Vec::new();
        for (status, page) in &self.error_pages {
            let code = status
                .parse::<u16>()
                .ok()
                .filter(|c| (400..600).contains(c));
            let Some(code) = code else {
                return Err(invalid(
                    &key("error_pages"),
                    status,
                    "a status from 400 to 599 as the key: { 404 = \"/404.html\" }",
                ));
            };
            if !page_ok(page) {
                return Err(invalid(&key(&format!("error_pages.{status}")), page, PAGE));
            }
            error_pages.push((code, page.clone()));
        }
        let query = match &self.query {
            Some(v) => Some(query_policy(v).ok_or_else(|| {
                // A string as written, not quoted twice.
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                invalid(&key("query"), &shown, QUERY)
            })?),
            None => None,
        };
        Ok(Rule {
            glob,
            cache_control,
            headers,
            edge_ttl: self.edge_ttl,
            edge_ttl_mode: self.edge_ttl_mode,
            stale_if_error: self.stale_if_error,
            fallback: self.fallback.clone(),
            error_pages,
            query,
            store_set_cookie: self.store_set_cookie,
        })
    }
}

/// Every rule of `rules`, compiled in order.
pub(super) fn compile(rules: &[RuleConfig], origin: &str) -> Result<Vec<Rule>, ConfigError> {
    (rules.iter().enumerate())
        .map(|(i, r)| r.compile(i, origin))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(toml_text: &str) -> Result<Rule, String> {
        let c: RuleConfig = toml::from_str(&format!("glob = \"*\"\n{toml_text}"))
            .map_err(|e| e.message().to_string())?;
        c.compile(0, "t").map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_reads_and_bad_values_are_named() {
        let r = one(concat!(
            "edge_ttl = \"1h\"\nedge_ttl_mode = \"override\"\nstale_if_error = \"1d\"\n",
            "fallback = \"/index.html\"\nerror_pages = { 404 = \"/404.html\" }\n",
            "query = { allow = [\"v\"] }\nstore_set_cookie = true\n"
        ))
        .unwrap();
        assert_eq!(r.edge_ttl, Some(Duration::from_secs(3600)));
        assert_eq!(r.edge_ttl_mode, Some(TtlMode::Override));
        assert_eq!(r.stale_if_error, Some(Duration::from_secs(86400)));
        assert_eq!(r.error_pages, vec![(404, "/404.html".to_string())]);
        assert_eq!(r.query, Some(query::Policy::Allow(vec!["v".into()])));
        for (text, says) in [
            ("query = \"drop\"", "rules[0].query"),
            (
                "query = { allow = [\"v\"], deny = [\"w\"] }",
                "rules[0].query",
            ),
            ("query = { allow = [1] }", "rules[0].query"),
            ("fallback = \"index.html\"", "rules[0].fallback"),
            (
                "error_pages = { 200 = \"/a.html\" }",
                "rules[0].error_pages",
            ),
            (
                "error_pages = { 404 = \"/a.html?x\" }",
                "rules[0].error_pages.404",
            ),
        ] {
            let e = one(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
        for text in [
            "edge_ttl = \"soon\"",
            "edge_ttl = 60",
            "edge_ttl_mode = \"always\"",
        ] {
            assert!(one(text).is_err(), "{text}");
        }
    }
}
