//! `[origin]`: where misses are pulled from, how long the node waits for
//! it, how large a body it stores or streams, and which client headers
//! never reach it. Only the schema, defaults and checks; the client is
//! `origin::client`.

use std::time::Duration;

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, show_size, Quoted};

/// `[origin]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginConfig {
    /// Base URL of the origin (`http://origin.internal:8080`); `None`
    /// (`""`): no origin, misses are 404.
    #[serde(deserialize_with = "units::non_empty")]
    pub url: Option<String>,
    /// `Host` header sent to the origin; `None` (`""`): the URL's host.
    #[serde(deserialize_with = "units::non_empty")]
    pub host: Option<String>,
    /// How long establishing a connection may take.
    #[serde(deserialize_with = "units::duration")]
    pub connect_timeout: Duration,
    /// From sending the request to the response head.
    #[serde(deserialize_with = "units::duration")]
    pub first_byte_timeout: Duration,
    /// The whole exchange, body included.
    #[serde(deserialize_with = "units::duration")]
    pub total_timeout: Duration,
    /// Largest body the node will store; larger ones are streamed through.
    #[serde(deserialize_with = "units::size")]
    pub max_object_bytes: u64,
    /// Largest body the node streams through (too large to store, or
    /// passed on): a longer declared one is refused (502), an undeclared
    /// one is cut there (the client's response aborted).
    #[serde(deserialize_with = "units::size")]
    pub max_stream_bytes: u64,
    /// Extra attempts after a connection failure (GET/HEAD only).
    pub retries: u32,
    /// Lock age: after this long without an answer to the fetch that
    /// requests for a key wait on, one waiting request fetches too (then
    /// one more per further period); the first answer goes to all of them.
    #[serde(deserialize_with = "units::duration")]
    pub lock_timeout: Duration,
    /// Client request headers never forwarded (names, `X-Foo-*` prefixes):
    /// by default the unkeyed inputs known to poison shared caches.
    pub drop_request_headers: Vec<String>,
    /// Client request headers forwarded although `drop_request_headers`
    /// matches them (names, `X-Foo-*` prefixes), e.g. `X-Forwarded-For`
    /// behind a load balancer that sets it.
    pub keep_request_headers: Vec<String>,
}

impl Default for OriginConfig {
    fn default() -> Self {
        Self {
            url: None,
            host: None,
            connect_timeout: Duration::from_secs(2),
            first_byte_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_object_bytes: 64 << 20,
            max_stream_bytes: 1 << 30,
            retries: 1,
            lock_timeout: Duration::from_secs(5),
            drop_request_headers: crate::http::forward::DEFAULT_DROP
                .iter()
                .map(|s| s.to_string())
                .collect(),
            keep_request_headers: Vec::new(),
        }
    }
}

impl OriginConfig {
    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        if let Some(url) = &self.url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(
                    "origin.url",
                    url,
                    "an http:// or https:// URL, or \"\" for no origin",
                ));
            }
            let no_host = (url.parse::<actix_web::http::Uri>())
                .map(|u| u.host().is_none())
                .unwrap_or(true);
            if no_host {
                return Err(invalid(
                    "origin.url",
                    url,
                    "a URL with a host, like \"http://origin.internal:8080\"",
                ));
            }
        }
        if let Some(host) = &self.host {
            if HeaderValue::from_str(host).is_err() {
                return Err(invalid(
                    "origin.host",
                    host,
                    "a host name, optionally with :port",
                ));
            }
        }
        for (key, d) in [
            ("origin.connect_timeout", self.connect_timeout),
            ("origin.first_byte_timeout", self.first_byte_timeout),
            ("origin.total_timeout", self.total_timeout),
            ("origin.lock_timeout", self.lock_timeout),
        ] {
            units::within(d, Duration::from_millis(1), Duration::MAX, false)
                .map_err(|a| invalid(key, &Quoted(d), &a))?;
        }
        if self.retries > 10 {
            return Err(invalid("origin.retries", &self.retries, "0 to 10"));
        }
        if self.max_stream_bytes < self.max_object_bytes {
            return Err(invalid(
                "origin.max_stream_bytes",
                &self.max_stream_bytes,
                &format!(
                    "at least origin.max_object_bytes ({})",
                    show_size(self.max_object_bytes)
                ),
            ));
        }
        if let Err(bad) = crate::http::forward::DropList::new(&self.drop_request_headers) {
            return Err(invalid(
                "origin.drop_request_headers",
                &bad.to_string(),
                "header names, optionally ending in * for a prefix (\"X-Forwarded-*\")",
            ));
        }
        // The node's own fields are never forwarded, whatever this says.
        let own = (self.keep_request_headers.iter())
            .find(|p| crate::http::namespace::is_own(p.trim_end_matches('*')))
            .map(|p| format!("{p:?} is the node's own namespace"));
        let kept = crate::http::forward::DropList::default().except(&self.keep_request_headers);
        if let Some(bad) = kept.err().map(|e| e.to_string()).or(own) {
            return Err(invalid(
                "origin.keep_request_headers",
                &bad,
                "header names, optionally ending in * for a prefix, outside X-CDN-Edge-* (\"X-Forwarded-For\")",
            ));
        }
        Ok(())
    }
}
