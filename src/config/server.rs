//! `[server]`: the plain listener, the static root, the worker threads, the
//! health, metrics and readiness endpoints, and the shutdown timings. Only
//! the schema, defaults and checks; the server itself is `server::`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, Quoted};
use crate::listen::ListenAddr;

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on: `host:port`, a host name resolved at start.
    pub listen: ListenAddr,
    /// The static root; `None` (`""`): none, every request goes to the
    /// cache and the origin (origin-only mode).
    #[serde(deserialize_with = "units::non_empty")]
    pub root: Option<PathBuf>,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Path of the health endpoint; `None` (`""`) disables it.
    #[serde(deserialize_with = "units::non_empty")]
    pub health_path: Option<String>,
    /// Path of the Prometheus metrics endpoint; `None` (`""`) disables it.
    #[serde(deserialize_with = "units::non_empty")]
    pub metrics_path: Option<String>,
    /// Path of the readiness endpoint; `None` (`""`) disables it.
    #[serde(deserialize_with = "units::non_empty")]
    pub ready_path: Option<String>,
    /// Readiness also fails while the origin is unreachable.
    pub ready_requires_origin: bool,
    /// How long the node keeps serving after SIGTERM, readiness failing,
    /// before it stops accepting connections.
    #[serde(deserialize_with = "units::duration")]
    pub drain: Duration,
    /// How long in-flight requests get to finish at shutdown.
    #[serde(deserialize_with = "units::duration")]
    pub shutdown_timeout: Duration,
    /// How often a cached file is re-checked on disk.
    #[serde(deserialize_with = "units::duration")]
    pub refresh: Duration,
    /// This node's `cdn-id` in `CDN-Loop` (RFC 8586), the same on every
    /// node of one tier.
    pub pseudonym: String,
    /// A request that already carries `pseudonym` more than this many
    /// times in `CDN-Loop` is refused (508): it has come round in a loop.
    pub max_hops: usize,
    /// An HTML entry point of the root that the manifest knows announces
    /// the stylesheets and module scripts it needs: `Link` preload fields
    /// on its `200`, and a `103 Early Hints` with them to HTTP/1.1 clients.
    pub preload_links: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)).into(),
            root: Some(PathBuf::from("static")),
            workers: 0,
            health_path: Some("/healthz".into()),
            metrics_path: Some("/metrics".into()),
            ready_path: Some("/readyz".into()),
            ready_requires_origin: false,
            drain: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            refresh: Duration::from_secs(1),
            pseudonym: "cdn-edge".into(),
            max_hops: 2,
            preload_links: true,
        }
    }
}

/// The longest drain and shutdown timeout.
const HOUR: Duration = Duration::from_secs(3600);

impl ServerConfig {
    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        if self.workers > 1024 {
            return Err(invalid(
                "server.workers",
                &self.workers,
                "0 (one per core) to 1024",
            ));
        }
        let endpoints: Vec<(&str, &str)> = [
            ("server.health_path", &self.health_path),
            ("server.metrics_path", &self.metrics_path),
            ("server.ready_path", &self.ready_path),
        ]
        .into_iter()
        .filter_map(|(key, p)| Some((key, p.as_deref()?)))
        .collect();
        for (i, &(key, p)) in endpoints.iter().enumerate() {
            if !p.starts_with('/') || p.len() < 2 || p.contains(['?', '#', ' ']) {
                return Err(invalid(
                    key,
                    &p,
                    "an absolute path like \"/healthz\", or \"\" to disable",
                ));
            }
            if let Some((other, _)) = endpoints[..i].iter().find(|(_, q)| *q == p) {
                return Err(invalid(key, &p, &format!("a path other than {other}")));
            }
        }
        let id = &self.pseudonym;
        if id.matches(':').count() > 1 || !id.split(':').all(crate::http::syntax::is_token) {
            return Err(invalid(
                "server.pseudonym",
                &self.pseudonym,
                "a pseudonym such as \"cdn-edge\" (letters, digits, -._~!#$%&'*+^`|) or host[:port]",
            ));
        }
        if !(1..=32).contains(&self.max_hops) {
            return Err(invalid("server.max_hops", &self.max_hops, "1 to 32"));
        }
        for (key, d, min, max, whole) in [
            ("server.drain", self.drain, Duration::ZERO, HOUR, false),
            (
                "server.shutdown_timeout",
                self.shutdown_timeout,
                Duration::ZERO,
                HOUR,
                true,
            ),
            (
                "server.refresh",
                self.refresh,
                Duration::from_millis(1),
                Duration::MAX,
                false,
            ),
        ] {
            units::within(d, min, max, whole).map_err(|a| invalid(key, &Quoted(d), &a))?;
        }
        Ok(())
    }
}
