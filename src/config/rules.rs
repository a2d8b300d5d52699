//! `[[rules]]`: per-glob overrides of `Cache-Control` and added headers,
//! applied in order (later rules win), and their compiled form.

use std::collections::BTreeMap;
use std::str::FromStr;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::error::{at, ConfigError};

/// One `[[rules]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Glob over the path relative to the root (`*` crosses `/`).
    pub glob: String,
    /// Cache-Control for matching files.
    #[serde(default)]
    pub cache_control: Option<String>,
    /// Headers added to matching files' responses.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Which paths it applies to.
    pub glob: globset::GlobMatcher,
    /// Cache-Control override.
    pub cache_control: Option<HeaderValue>,
    /// Headers to add.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl RuleConfig {
    /// This rule (the `i`th), compiled; errors name `origin` and the key.
    pub(super) fn compile(&self, i: usize, origin: &str) -> Result<Rule, ConfigError> {
        let invalid = at(origin);
        let glob = globset::Glob::new(&self.glob)
            .map_err(|e| {
                invalid(
                    &format!("rules[{i}].glob"),
                    &self.glob,
                    &format!("a glob such as \"*.woff2\" ({})", e.kind()),
                )
            })?
            .compile_matcher();
        let cache_control = match &self.cache_control {
            Some(cc) => Some(HeaderValue::from_str(cc).map_err(|_| {
                invalid(
                    &format!("rules[{i}].cache_control"),
                    cc,
                    "a header value of visible ASCII",
                )
            })?),
            None => None,
        };
        let headers = self
            .headers
            .iter()
            .map(|(name, value)| {
                let n = HeaderName::from_str(name).map_err(|_| {
                    invalid(
                        &format!("rules[{i}].headers"),
                        name,
                        "a header name (letters, digits, -)",
                    )
                })?;
                let v = HeaderValue::from_str(value).map_err(|_| {
                    invalid(
                        &format!("rules[{i}].headers.{name}"),
                        value,
                        "a header value of visible ASCII, no newlines",
                    )
                })?;
                Ok((n, v))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(Rule {
            glob,
            cache_control,
            headers,
        })
    }
}

/// Every rule of `rules`, compiled in order.
pub(super) fn compile(rules: &[RuleConfig], origin: &str) -> Result<Vec<Rule>, ConfigError> {
    (rules.iter().enumerate())
        .map(|(i, r)| r.compile(i, origin))
        .collect()
}
