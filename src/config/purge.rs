//! `[purge]`: the token PURGE and `POST purge.path` require (in the file,
//! in a file of its own, or in the environment), the endpoint's path, and
//! the nodes `cdn-edge purge` calls.

use std::path::{Path, PathBuf};

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::ConfigError;

/// `[purge]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    /// Bearer token that PURGE and `POST <path>` require; empty disables
    /// purging (the environment variable `CDN_EDGE_PURGE_TOKEN` wins).
    pub token: String,
    /// A file holding the token (a Kubernetes Secret); or `token`.
    pub token_file: PathBuf,
    /// Path of the JSON purge endpoint.
    pub path: String,
    /// Nodes `cdn-edge purge` calls (base URLs); empty = this config's
    /// `server.listen`.
    pub nodes: Vec<String>,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            token: String::new(),
            token_file: PathBuf::new(),
            path: "/_purge".into(),
            nodes: Vec::new(),
        }
    }
}

/// The environment variable whose token wins over the config's.
const TOKEN_ENV: &str = "CDN_EDGE_PURGE_TOKEN";

impl PurgeConfig {
    /// The token in force: `CDN_EDGE_PURGE_TOKEN` if set, else `token`,
    /// else the contents of `token_file` less surrounding whitespace (read
    /// now: a reload picks up a rotated secret). `None`: purging is off.
    pub fn effective_token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(t) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
            return Ok(Some(t));
        }
        self.configured_token("config")
    }

    /// Makes a relative `token_file` relative to `base`.
    pub(super) fn rebase(&mut self, base: &Path) {
        let p = &mut self.token_file;
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = base.join(&*p);
        }
    }

    /// Checks the token settings (the path and nodes are checked with the
    /// rest of the config).
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.configured_token(origin).map(drop)
    }

    /// `token`, or the token of `token_file`, which must be one token of
    /// visible ASCII characters.
    fn configured_token(&self, origin: &str) -> Result<Option<String>, ConfigError> {
        let file = &self.token_file;
        let Some(secret) = super::secret::read(origin, "purge", &self.token, file)? else {
            return Ok(None);
        };
        let token = secret.value;
        let bad = token.is_empty() || token.contains(' ') || HeaderValue::from_str(&token).is_err();
        if secret.from_file && bad {
            return Err(super::invalid(
                origin,
                "purge.token_file",
                file,
                "a file holding one token of visible ASCII characters, no spaces",
            ));
        }
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_a_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("t"), "  s3cret-token\n").unwrap();
        let mut c = PurgeConfig {
            token_file: "t".into(),
            ..Default::default()
        };
        c.rebase(d.path());
        c.validate("config").unwrap();
        if std::env::var(TOKEN_ENV).is_err() {
            assert_eq!(
                c.effective_token().unwrap().as_deref(),
                Some("s3cret-token")
            );
        }
        c.token = "inline".into();
        let e = c.validate("config").unwrap_err().to_string();
        assert!(
            e.contains("purge.token_file") && e.contains("not with purge.token"),
            "{e}"
        );
        c.token.clear();
        std::fs::write(d.path().join("t"), "two words").unwrap();
        assert!(c.validate("config").is_err());
        c.token_file = d.path().join("missing");
        let e = c.validate("config").unwrap_err().to_string();
        assert!(e.contains("a readable file"), "{e}");
    }
}
