//! `[cors]`: which origins may read the node's responses cross-origin, and
//! how long a browser keeps a preflight answer. Only the schema, defaults
//! and checks; the headers are made by `server::cors`.

use std::time::Duration;

use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, Quoted};

/// `[cors]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins: `["*"]`, a list of origins, or `[]` to disable CORS.
    pub allow_origins: Vec<String>,
    /// `Access-Control-Max-Age` for preflight answers (whole seconds).
    #[serde(deserialize_with = "units::duration")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: vec!["*".into()],
            max_age: Duration::from_secs(86_400),
        }
    }
}

impl CorsConfig {
    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        for (i, o) in self.allow_origins.iter().enumerate() {
            if o == "*" {
                continue;
            }
            if let Err(why) = crate::http::cors_origin::OriginPattern::parse(o) {
                return Err(invalid(
                    &format!("cors.allow_origins[{i}]"),
                    o,
                    &format!("{why}; allowed: \"*\", an origin like \"https://www.example.com\", or \"https://*.example.com\" (`*` = one label)"),
                ));
            }
        }
        // The header counts whole seconds (Fetch standard).
        units::within(self.max_age, Duration::ZERO, Duration::MAX, true)
            .map_err(|a| invalid("cors.max_age", &Quoted(self.max_age), &a))
    }
}
