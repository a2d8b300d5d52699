//! `[purge]`: the token PURGE and `POST purge.path` require (in the file,
//! in a file of its own, or in the environment), the endpoint's path, and
//! the nodes `cdn-edge purge` calls.

use std::path::{Path, PathBuf};

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units;

/// `[purge]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PurgeConfig {
    /// Bearer token that PURGE and `POST <path>` require; `None` (`""`)
    /// with no `token_file` disables purging (the environment variable
    /// `CDN_EDGE_PURGE_TOKEN` wins).
    #[serde(deserialize_with = "units::non_empty")]
    pub token: Option<String>,
    /// A file holding the token (a Kubernetes Secret); or `token`.
    #[serde(deserialize_with = "units::non_empty")]
    pub token_file: Option<PathBuf>,
    /// Path of the JSON purge endpoint.
    pub path: String,
    /// Nodes `cdn-edge purge` calls (base URLs); empty = this config's
    /// `server.listen`.
    pub nodes: Vec<String>,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            token: None,
            token_file: None,
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
        if let Some(p) = &mut self.token_file {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks the token settings, the path and the nodes.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        self.configured_token(origin)?;
        let p = &self.path;
        let names_a_path = crate::http::path::key(p).is_ok_and(|k| !k.path().is_empty());
        if !p.starts_with('/') || !names_a_path || p.contains(['?', '#', ' ']) {
            return Err(invalid(
                "purge.path",
                p,
                "an absolute path like \"/_purge\"",
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if !(n.starts_with("http://") || n.starts_with("https://")) {
                return Err(invalid(
                    &format!("purge.nodes[{i}]"),
                    n,
                    "a base URL like \"http://10.0.0.5:8080\"",
                ));
            }
        }
        Ok(())
    }

    /// `token`, or the token of `token_file`, which must be one token of
    /// visible ASCII characters.
    fn configured_token(&self, origin: &str) -> Result<Option<String>, ConfigError> {
        let file = self.token_file.as_deref();
        let token = self.token.as_deref();
        let Some(secret) = super::secret::read(origin, "purge", token, file)? else {
            return Ok(None);
        };
        let token = secret.value;
        let bad = token.is_empty() || token.contains(' ') || HeaderValue::from_str(&token).is_err();
        if secret.from_file && bad {
            return Err(super::error::invalid(
                origin,
                "purge.token_file",
                &self.token_file.clone().unwrap_or_default(),
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
            token_file: Some("t".into()),
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
        c.token = Some("inline".into());
        let e = c.validate("config").unwrap_err().to_string();
        assert!(
            e.contains("purge.token_file") && e.contains("not with purge.token"),
            "{e}"
        );
        c.token = None;
        std::fs::write(d.path().join("t"), "two words").unwrap();
        assert!(c.validate("config").is_err());
        c.token_file = Some(d.path().join("missing"));
        let e = c.validate("config").unwrap_err().to_string();
        assert!(e.contains("a readable file"), "{e}");
    }
}
