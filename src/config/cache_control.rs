//! `[cache_control]`: the two default `Cache-Control` policies (for
//! fingerprinted files and for every other file) and the patterns that
//! mark a file name fingerprinted. Only the schema, defaults and checks;
//! the policy is `store::policy`.

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::error::{at, ConfigError};

/// `[cache_control]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheControlConfig {
    /// For fingerprinted files.
    pub immutable: String,
    /// For every other file.
    pub revalidate: String,
    /// Regular expressions over file names that mark them fingerprinted
    /// (see `fingerprint::patterns`); replaces the defaults when set.
    pub fingerprint_patterns: Vec<String>,
}

impl Default for CacheControlConfig {
    fn default() -> Self {
        Self {
            immutable: "public, max-age=31536000, immutable".into(),
            revalidate: "public, no-cache".into(),
            fingerprint_patterns: crate::fingerprint::patterns::DEFAULT
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl CacheControlConfig {
    /// Checks the values (and compiles the patterns); errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        for (key, value) in [
            ("cache_control.immutable", &self.immutable),
            ("cache_control.revalidate", &self.revalidate),
        ] {
            if HeaderValue::from_str(value).is_err() || value.is_empty() {
                return Err(invalid(
                    key,
                    value,
                    "a non-empty header value of visible ASCII",
                ));
            }
        }
        self.fingerprints(origin).map(drop)
    }

    /// The fingerprint patterns, compiled; errors name `origin`, the
    /// pattern and what is wrong with it.
    pub(super) fn fingerprints(
        &self,
        origin: &str,
    ) -> Result<crate::fingerprint::Patterns, ConfigError> {
        let list = &self.fingerprint_patterns;
        crate::fingerprint::Patterns::new(list).map_err(|e| {
            at(origin)(
                &format!("cache_control.fingerprint_patterns[{}]", e.index),
                &list[e.index],
                &format!("a regular expression over file names ({})", e.message),
            )
        })
    }
}
