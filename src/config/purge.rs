//! `[purge]`: the token PURGE and `POST purge.path` require (in the file,
//! in a file of its own, or in the environment), the endpoint's path, the
//! nodes `cdn-edge purge` calls, and the origin's fields that tag objects
//! for purges by tag (`tag_headers`, kept from clients unless
//! `pass_tag_headers`).

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
    /// Origin response fields whose values tag an object for purges by
    /// tag: `Surrogate-Key` splits on whitespace, any other on commas and
    /// whitespace (see `origin::tags`); `[]` = no tags.
    pub tag_headers: Vec<String>,
    /// Send the tag fields on to clients (by default they are removed
    /// from every response, and kept in the stored object).
    pub pass_tag_headers: bool,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self {
            token: None,
            token_file: None,
            path: "/_purge".into(),
            nodes: Vec::new(),
            tag_headers: vec!["Surrogate-Key".into(), "Cache-Tag".into()],
            pass_tag_headers: false,
        }
    }
}

/// The node's own header namespace, never read from an origin.
const OWN_PREFIX: &str = "cdn-edge-";

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
        for (i, n) in self.tag_headers.iter().enumerate() {
            let name = actix_web::http::header::HeaderName::from_bytes(n.as_bytes());
            if name.is_err() || n.to_ascii_lowercase().starts_with(OWN_PREFIX) {
                return Err(invalid(
                    &format!("purge.tag_headers[{i}]"),
                    n,
                    "a response field name like \"Surrogate-Key\" or \"Cache-Tag\" (not one of the node's own cdn-edge-* fields)",
                ));
            }
            if self.tag_headers[..i]
                .iter()
                .any(|m| m.eq_ignore_ascii_case(n))
            {
                return Err(invalid(
                    &format!("purge.tag_headers[{i}]"),
                    n,
                    "each field name once",
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

    #[test]
    fn tag_headers_are_field_names_each_once() {
        let with = |names: &[&str]| PurgeConfig {
            tag_headers: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        with(&["Surrogate-Key", "Cache-Tag", "X-Tags"])
            .validate("config")
            .unwrap();
        with(&[]).validate("config").unwrap();
        for bad in [
            &["bad name"][..],
            &["Cache-Tag", "cache-tag"],
            &["CDN-Edge-Tags"],
        ] {
            let e = with(bad).validate("config").unwrap_err().to_string();
            assert!(e.contains("purge.tag_headers["), "{e}");
        }
    }
}
