//! The configuration schema, its defaults and its validation.
//!
//! Every key has a default (the embedded `config.toml` repeats them), so an
//! empty file is a valid config. Unknown keys are refused. Every error names
//! the key, the value and what is allowed, in one line. This module only
//! reads and checks; it builds nothing that serves.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use actix_web::http::header::{HeaderName, HeaderValue};
use serde::Deserialize;

mod log;
use crate::listen::ListenAddr;
pub use log::{AccessFormat, AccessTarget, LogConfig};

mod tls;
pub use tls::{valid_sni_name, CertConfig, Http2Config, TlsConfig};

mod cluster;
pub use cluster::ClusterConfig;

mod limits;
pub use limits::{LimitsConfig, H1_MAX_HEADERS, H1_MAX_HEAD_BYTES};

mod purge;
mod secret;
pub use purge::PurgeConfig;

/// The embedded default configuration (`config.toml` at the repo root).
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: sockets, root, workers.
    pub server: ServerConfig,
    /// `[cache]`: memory bounds.
    pub cache: CacheConfig,
    /// `[cache_control]`: the two default policies.
    pub cache_control: CacheControlConfig,
    /// `[cors]`: cross-origin access.
    pub cors: CorsConfig,
    /// `[[rules]]`: per-glob header overrides, applied in order.
    pub rules: Vec<RuleConfig>,
    /// `[build]`: defaults of the `build` subcommand.
    pub build: BuildConfig,
    /// `[origin]`: where misses are pulled from.
    pub origin: OriginConfig,
    /// `[purge]`: dropping objects on demand.
    pub purge: PurgeConfig,
    /// `[log]`: the access log.
    pub log: LogConfig,
    /// `[tls]`: the HTTPS listener and its certificates.
    pub tls: TlsConfig,
    /// `[http2]`: HTTP/2 over TLS and h2c, and their limits.
    pub http2: Http2Config,
    /// `[limits]`: request sizes, connections and client timeouts.
    pub limits: LimitsConfig,
    /// `[cluster]`: several nodes as one cache; `None` = a lone node.
    pub cluster: Option<ClusterConfig>,
}

/// `[origin]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OriginConfig {
    /// Base URL of the origin (`http://origin.internal:8080`); empty = none.
    pub url: String,
    /// `Host` header sent to the origin; empty = the URL's host.
    pub host: String,
    /// Milliseconds to establish a connection.
    pub connect_timeout_ms: u64,
    /// Milliseconds from sending the request to the response head.
    pub first_byte_timeout_ms: u64,
    /// Milliseconds for the whole exchange, body included.
    pub total_timeout_ms: u64,
    /// Largest body the node will store; larger ones are streamed through.
    pub max_object_bytes: u64,
    /// Largest body the node streams through (too large to store, or
    /// passed on): a longer declared one is refused (502), an undeclared
    /// one is cut there (the client's response aborted).
    pub max_stream_bytes: u64,
    /// Extra attempts after a connection failure (GET/HEAD only).
    pub retries: u32,
    /// Lock age: after this many milliseconds without an answer to the
    /// fetch that requests for a key wait on, one waiting request fetches
    /// too (then one more per further period); the first answer goes to
    /// all of them.
    pub lock_timeout_ms: u64,
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
            url: String::new(),
            host: String::new(),
            connect_timeout_ms: 2_000,
            first_byte_timeout_ms: 10_000,
            total_timeout_ms: 30_000,
            max_object_bytes: 64 << 20,
            max_stream_bytes: 1 << 30,
            retries: 1,
            lock_timeout_ms: 5_000,
            drop_request_headers: crate::http::forward::DEFAULT_DROP
                .iter()
                .map(|s| s.to_string())
                .collect(),
            keep_request_headers: Vec::new(),
        }
    }
}

/// `[build]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// Hex digits of the content hash in fingerprinted names (8..=64).
    pub hash_len: usize,
    /// Precompressed siblings to write: any of "br", "gzip".
    pub encodings: Vec<String>,
    /// Brotli quality (0..=11).
    pub brotli_quality: u32,
    /// Gzip level (1..=9).
    pub gzip_level: u32,
    /// A sibling is kept only when it saves at least this percentage.
    pub min_saving_percent: f64,
    /// Manifests whose files `--prune` keeps.
    pub keep: usize,
    /// Worker threads; 0 = one per core.
    pub jobs: usize,
    /// Missing references fail the build.
    pub strict: bool,
}

impl Default for BuildConfig {
    fn default() -> Self {
        Self {
            hash_len: 10,
            encodings: vec!["br".into(), "gzip".into()],
            brotli_quality: 11,
            gzip_level: 9,
            min_saving_percent: 5.0,
            keep: 3,
            jobs: 0,
            strict: false,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on: `host:port`, a host name resolved at start.
    pub listen: ListenAddr,
    /// The static root.
    pub root: PathBuf,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Path of the health endpoint; empty disables it.
    pub health_path: String,
    /// Path of the Prometheus metrics endpoint; empty disables it.
    pub metrics_path: String,
    /// Path of the readiness endpoint; empty disables it.
    pub ready_path: String,
    /// Readiness also fails while the origin is unreachable.
    pub ready_requires_origin: bool,
    /// Seconds the node keeps serving after SIGTERM, readiness failing,
    /// before it stops accepting connections.
    pub drain_secs: u64,
    /// Seconds in-flight requests get to finish at shutdown.
    pub shutdown_timeout_secs: u64,
    /// How often (milliseconds) a cached file is re-checked on disk.
    pub refresh_ms: u64,
}

/// `[cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Byte bound of the in-memory asset cache.
    pub memory_bytes: u64,
    /// Largest asset (all representations) admitted to the memory cache.
    pub max_object_bytes: u64,
    /// Seconds a pulled 404/410 without explicit freshness is kept.
    pub negative_ttl_secs: u64,
    /// Seconds a pulled response with no freshness information at all (no
    /// Cache-Control, Expires or Last-Modified) is kept; 0 = not kept.
    pub default_ttl_secs: u64,
    /// Cap of the heuristic lifetime (10% of the age since Last-Modified).
    pub heuristic_max_secs: u64,
    /// stale-while-revalidate when the origin says nothing.
    pub stale_while_revalidate_secs: u64,
    /// stale-if-error when the origin says nothing.
    pub stale_if_error_secs: u64,
    /// Honour a client's `Cache-Control: no-cache` / `max-age=0` (reload).
    pub client_no_cache: bool,
    /// A client's reload revalidates an object at most once per this many
    /// milliseconds; reloads in between are answered from the cache.
    pub client_revalidate_interval_ms: u64,
    /// Directory of the disk cache of pulled objects; empty = none.
    pub dir: PathBuf,
    /// Byte bound of the disk cache.
    pub disk_bytes: u64,
    /// A `dir` that cannot be used at start stops the node (true), or is
    /// skipped with a warning and the node serves from memory only (false).
    pub dir_required: bool,
    /// Admission to a full memory cache: "second-hit" or "always".
    pub admission: String,
    /// Store pulled responses that carry Set-Cookie.
    pub store_set_cookie: bool,
    /// Store a response to a request with Cookie without explicit freshness
    /// (heuristic, `negative_ttl_secs`, `default_ttl_secs`).
    pub heuristic_with_cookie: bool,
    /// Most variants (responses that `Vary` on request headers) held per
    /// URL at once (expired and evicted ones free their place); more are
    /// passed through uncached.
    pub max_variants: usize,
    /// Smallest age bound (seconds) a client's `max-age=N` / `min-fresh`
    /// may impose; tighter ones are ignored (0 = honour every client).
    pub min_client_max_age_secs: u64,
    /// Targeted cache-control fields (RFC 9213) this cache obeys before
    /// `Cache-Control`, first match wins.
    pub targeted_fields: Vec<String>,
    /// Send the targeted fields on to clients.
    pub pass_targeted_fields: bool,
    /// Brotli quality of the encodings the node makes (0..=11).
    pub brotli_quality: u32,
    /// Gzip level of the encodings the node makes (1..=9).
    pub gzip_level: u32,
    /// Make br and gzip of local text files that have no `.br` / `.gz`
    /// siblings (kept in memory with the file).
    pub compress_local: bool,
    /// Threads that make encodings; 0 = one per core.
    pub compress_workers: usize,
    /// Objects (pulled or local) waiting for encodings at most; more stay
    /// identity until a later hit offers them again.
    pub compress_queue: usize,
}

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

/// `[cors]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins: `["*"]`, a list of origins, or `[]` to disable CORS.
    pub allow_origins: Vec<String>,
    /// `Access-Control-Max-Age` for preflight answers.
    pub max_age_secs: u64,
}

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
    pub headers: std::collections::BTreeMap<String, String>,
}

/// The TOML value at a dotted path (`server.listen`, `rules[0].glob`), if
/// the text parses as TOML at all.
fn value_at(text: &str, path: &str) -> Option<String> {
    let mut v = toml::Value::Table(text.parse::<toml::Table>().ok()?);
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        v = v.get(name)?.clone();
        if let Some(i) = index {
            v = v.get(i)?.clone();
        }
    }
    Some(v.to_string())
}

/// A [`ConfigError::Invalid`] for `key = value`, with what is allowed.
fn invalid(origin: &str, key: &str, value: &dyn std::fmt::Debug, allowed: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        key: key.to_string(),
        value: format!("{value:?}"),
        allowed: allowed.to_string(),
    }
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

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)).into(),
            root: PathBuf::from("static"),
            workers: 0,
            health_path: "/healthz".into(),
            metrics_path: "/metrics".into(),
            ready_path: "/readyz".into(),
            ready_requires_origin: false,
            drain_secs: 0,
            shutdown_timeout_secs: 30,
            refresh_ms: 1000,
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            max_object_bytes: 16 << 20,
            negative_ttl_secs: 60,
            default_ttl_secs: 0,
            heuristic_max_secs: 86_400,
            stale_while_revalidate_secs: 0,
            stale_if_error_secs: 0,
            client_no_cache: true,
            client_revalidate_interval_ms: 1_000,
            dir: PathBuf::new(),
            disk_bytes: 1 << 30,
            dir_required: true,
            admission: "second-hit".into(),
            store_set_cookie: false,
            heuristic_with_cookie: false,
            max_variants: 16,
            min_client_max_age_secs: 0,
            targeted_fields: vec!["CDN-Cache-Control".into(), "Surrogate-Control".into()],
            pass_targeted_fields: false,
            brotli_quality: 5,
            gzip_level: 6,
            compress_local: true,
            compress_workers: 0,
            compress_queue: 256,
        }
    }
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

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: vec!["*".into()],
            max_age_secs: 86400,
        }
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The TOML is malformed or a value has the wrong type.
    #[error("{origin}: {key}: {message}")]
    Parse {
        origin: String,
        key: String,
        message: String,
    },
    /// A value has the right type but is not allowed.
    #[error("{origin}: {key} = {value}: {allowed}")]
    Invalid {
        origin: String,
        key: String,
        value: String,
        allowed: String,
    },
}

impl Config {
    /// Loads `path`, or the embedded default when `None`. Relative paths in
    /// a file resolve against the file's directory.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (origin, text, base) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Io {
                    path: p.display().to_string(),
                    source,
                })?;
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (p.display().to_string(), text, base)
            }
            None => (
                "embedded config.toml".to_string(),
                DEFAULT_TOML.to_string(),
                PathBuf::new(),
            ),
        };
        let mut config = Self::parse(&origin, &text)?;
        if config.server.root.is_relative() && !base.as_os_str().is_empty() {
            config.server.root = base.join(&config.server.root);
        }
        let dir = &config.cache.dir;
        if !dir.as_os_str().is_empty() && dir.is_relative() && !base.as_os_str().is_empty() {
            config.cache.dir = base.join(dir);
        }
        config.log.resolve(&base);
        if !base.as_os_str().is_empty() {
            config.tls.rebase(&base);
            config.purge.rebase(&base);
            if let Some(c) = &mut config.cluster {
                c.rebase(&base);
            }
        }
        config.validate(&origin)?;
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // toml's own message spans several lines (a source excerpt);
            // keep its first line, and say where and what the value was.
            let message = inner
                .message()
                .lines()
                .next()
                .unwrap_or("invalid")
                .to_string();
            let line = inner
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let origin = match line {
                Some(l) => format!("{origin}:{l}"),
                None => origin.to_string(),
            };
            let key = if path == "." {
                "(top level)".to_string()
            } else {
                match value_at(text, &path) {
                    Some(v) => format!("{path} = {v}"),
                    None => path,
                }
            };
            ConfigError::Parse {
                origin,
                key,
                message,
            }
        })
    }

    /// Checks values that have the right type but may not be allowed.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            invalid(origin, key, value, allowed)
        };
        if self.server.workers > 1024 {
            return Err(invalid(
                "server.workers",
                &self.server.workers,
                "0 (one per core) to 1024",
            ));
        }
        let endpoints = [
            ("server.health_path", &self.server.health_path),
            ("server.metrics_path", &self.server.metrics_path),
            ("server.ready_path", &self.server.ready_path),
        ];
        for (key, p) in endpoints {
            if !p.is_empty() && (!p.starts_with('/') || p.len() < 2 || p.contains(['?', '#', ' ']))
            {
                return Err(invalid(
                    key,
                    p,
                    "an absolute path like \"/healthz\", or \"\" to disable",
                ));
            }
        }
        for (i, (key, p)) in endpoints.iter().enumerate() {
            if let Some((other, _)) = endpoints[..i].iter().find(|(_, q)| !p.is_empty() && q == p) {
                return Err(invalid(key, p, &format!("a path other than {other}")));
            }
        }
        if self.server.drain_secs > 3600 {
            return Err(invalid(
                "server.drain_secs",
                &self.server.drain_secs,
                "0 to 3600",
            ));
        }
        if self.server.refresh_ms == 0 {
            return Err(invalid(
                "server.refresh_ms",
                &self.server.refresh_ms,
                "at least 1",
            ));
        }
        if self.cache.max_object_bytes > self.cache.memory_bytes {
            return Err(invalid(
                "cache.max_object_bytes",
                &self.cache.max_object_bytes,
                "at most cache.memory_bytes",
            ));
        }
        for (key, value) in [
            ("cache_control.immutable", &self.cache_control.immutable),
            ("cache_control.revalidate", &self.cache_control.revalidate),
        ] {
            if HeaderValue::from_str(value).is_err() || value.is_empty() {
                return Err(invalid(
                    key,
                    value,
                    "a non-empty header value of visible ASCII",
                ));
            }
        }
        self.compile_fingerprints(origin)?;
        for (i, o) in self.cors.allow_origins.iter().enumerate() {
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
        if !matches!(self.cache.admission.as_str(), "second-hit" | "always") {
            return Err(invalid(
                "cache.admission",
                &self.cache.admission,
                "\"second-hit\" or \"always\"",
            ));
        }
        self.purge.validate(origin)?;
        let p = &self.purge.path;
        let names_a_path = crate::http::path::key(p).is_ok_and(|k| !k.path().is_empty());
        if !p.starts_with('/') || !names_a_path || p.contains(['?', '#', ' ']) {
            return Err(invalid(
                "purge.path",
                p,
                "an absolute path like \"/_purge\"",
            ));
        }
        for (i, n) in self.purge.nodes.iter().enumerate() {
            if !(n.starts_with("http://") || n.starts_with("https://")) {
                return Err(invalid(
                    &format!("purge.nodes[{i}]"),
                    n,
                    "a base URL like \"http://10.0.0.5:8080\"",
                ));
            }
        }
        let o = &self.origin;
        let has_scheme = o.url.starts_with("http://") || o.url.starts_with("https://");
        if !o.url.is_empty() && !has_scheme {
            return Err(invalid(
                "origin.url",
                &o.url,
                "an http:// or https:// URL, or \"\" for no origin",
            ));
        }
        if !o.url.is_empty()
            && o.url
                .parse::<actix_web::http::Uri>()
                .map(|u| u.host().is_none())
                .unwrap_or(true)
        {
            return Err(invalid(
                "origin.url",
                &o.url,
                "a URL with a host, like \"http://origin.internal:8080\"",
            ));
        }
        if !o.host.is_empty() && HeaderValue::from_str(&o.host).is_err() {
            return Err(invalid(
                "origin.host",
                &o.host,
                "a host name, optionally with :port",
            ));
        }
        for (key, v) in [
            ("origin.connect_timeout_ms", o.connect_timeout_ms),
            ("origin.first_byte_timeout_ms", o.first_byte_timeout_ms),
            ("origin.total_timeout_ms", o.total_timeout_ms),
            ("origin.lock_timeout_ms", o.lock_timeout_ms),
        ] {
            if v == 0 {
                return Err(invalid(key, &v, "at least 1"));
            }
        }
        if o.retries > 10 {
            return Err(invalid("origin.retries", &o.retries, "0 to 10"));
        }
        if o.max_stream_bytes < o.max_object_bytes {
            return Err(invalid(
                "origin.max_stream_bytes",
                &o.max_stream_bytes,
                "at least origin.max_object_bytes",
            ));
        }
        if let Err(bad) = crate::http::forward::DropList::new(&o.drop_request_headers) {
            return Err(invalid(
                "origin.drop_request_headers",
                &bad,
                "header names, optionally ending in * for a prefix (\"X-Forwarded-*\")",
            ));
        }
        // The node's own fields are never forwarded, whatever this says.
        let own = (o.keep_request_headers.iter())
            .find(|p| crate::http::namespace::is_own(p.trim_end_matches('*')))
            .map(|p| format!("{p:?} is the node's own namespace"));
        let kept = crate::http::forward::DropList::default().except(&o.keep_request_headers);
        if let Some(bad) = kept.err().or(own) {
            return Err(invalid(
                "origin.keep_request_headers",
                &bad,
                "header names, optionally ending in * for a prefix, outside X-CDN-Edge-* (\"X-Forwarded-For\")",
            ));
        }
        let c = &self.cache;
        if c.brotli_quality > 11 {
            return Err(invalid(
                "cache.brotli_quality",
                &c.brotli_quality,
                "0 to 11",
            ));
        }
        if !(1..=9).contains(&c.gzip_level) {
            return Err(invalid("cache.gzip_level", &c.gzip_level, "1 to 9"));
        }
        if c.compress_workers > 64 {
            return Err(invalid(
                "cache.compress_workers",
                &c.compress_workers,
                "0 (one per core) to 64",
            ));
        }
        if !(1..=65_536).contains(&c.compress_queue) {
            return Err(invalid(
                "cache.compress_queue",
                &c.compress_queue,
                "1 to 65536",
            ));
        }
        if c.max_variants > 1024 {
            return Err(invalid("cache.max_variants", &c.max_variants, "0 to 1024"));
        }
        for (i, f) in c.targeted_fields.iter().enumerate() {
            if HeaderName::from_bytes(f.as_bytes()).is_err() {
                return Err(invalid(
                    &format!("cache.targeted_fields[{i}]"),
                    f,
                    "a header field name like \"CDN-Cache-Control\"",
                ));
            }
        }
        let b = &self.build;
        if !(8..=64).contains(&b.hash_len) {
            return Err(invalid("build.hash_len", &b.hash_len, "8 to 64"));
        }
        if let Some(e) = b
            .encodings
            .iter()
            .find(|e| !matches!(e.as_str(), "br" | "gzip"))
        {
            return Err(invalid(
                "build.encodings",
                e,
                "a list of \"br\" and \"gzip\" (or [] for none)",
            ));
        }
        if b.brotli_quality > 11 {
            return Err(invalid(
                "build.brotli_quality",
                &b.brotli_quality,
                "0 to 11",
            ));
        }
        if !(1..=9).contains(&b.gzip_level) {
            return Err(invalid("build.gzip_level", &b.gzip_level, "1 to 9"));
        }
        if !(0.0..100.0).contains(&b.min_saving_percent) {
            return Err(invalid(
                "build.min_saving_percent",
                &b.min_saving_percent,
                "0 to less than 100",
            ));
        }
        if b.keep == 0 {
            return Err(invalid("build.keep", &b.keep, "at least 1"));
        }
        self.log.validate(origin)?;
        self.tls.validate(origin)?;
        self.http2.validate(origin)?;
        self.limits.validate(origin)?;
        if let Some(c) = &self.cluster {
            c.validate(origin)?;
        }
        self.compile_rules(origin).map(|_| ())
    }

    /// `cache_control.fingerprint_patterns`, compiled (checked by `validate`).
    pub fn fingerprints(&self) -> Result<crate::fingerprint::Patterns, ConfigError> {
        self.compile_fingerprints("config")
    }

    /// Compiles the fingerprint patterns; errors name `origin`, the pattern
    /// and what is wrong with it.
    fn compile_fingerprints(
        &self,
        origin: &str,
    ) -> Result<crate::fingerprint::Patterns, ConfigError> {
        let list = &self.cache_control.fingerprint_patterns;
        crate::fingerprint::Patterns::new(list).map_err(|e| ConfigError::Invalid {
            origin: origin.to_string(),
            key: format!("cache_control.fingerprint_patterns[{}]", e.index),
            value: format!("{:?}", list[e.index]),
            allowed: format!("a regular expression over file names ({})", e.message),
        })
    }

    /// The `[[rules]]`, compiled (they were checked by `validate`).
    pub fn rules(&self) -> Result<Vec<Rule>, ConfigError> {
        self.compile_rules("config")
    }

    /// Compiles the `[[rules]]`; errors name `origin` and the offending key.
    fn compile_rules(&self, origin: &str) -> Result<Vec<Rule>, ConfigError> {
        let invalid = |key: String, value: &str, allowed: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            key,
            value: format!("{value:?}"),
            allowed: allowed.to_string(),
        };
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let glob = globset::Glob::new(&r.glob)
                    .map_err(|e| {
                        invalid(
                            format!("rules[{i}].glob"),
                            &r.glob,
                            &format!("a glob such as \"*.woff2\" ({})", e.kind()),
                        )
                    })?
                    .compile_matcher();
                let cache_control = match &r.cache_control {
                    Some(cc) => Some(HeaderValue::from_str(cc).map_err(|_| {
                        invalid(
                            format!("rules[{i}].cache_control"),
                            cc,
                            "a header value of visible ASCII",
                        )
                    })?),
                    None => None,
                };
                let headers = r
                    .headers
                    .iter()
                    .map(|(name, value)| {
                        let n = HeaderName::from_str(name).map_err(|_| {
                            invalid(
                                format!("rules[{i}].headers"),
                                name,
                                "a header name (letters, digits, -)",
                            )
                        })?;
                        let v = HeaderValue::from_str(value).map_err(|_| {
                            invalid(
                                format!("rules[{i}].headers.{name}"),
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
            })
            .collect()
    }

    /// The number of worker threads to start.
    pub fn worker_count(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_valid_and_matches_code_defaults() {
        let c = Config::load(None).unwrap();
        let d = Config::default();
        assert_eq!(c.server.listen, d.server.listen);
        assert_eq!(c.server.root, d.server.root);
        assert_eq!(c.cache.memory_bytes, d.cache.memory_bytes);
        assert_eq!(c.cache_control.immutable, d.cache_control.immutable);
        assert_eq!(c.cors.allow_origins, d.cors.allow_origins);
        assert_eq!(c.origin.drop_request_headers, d.origin.drop_request_headers);
        assert_eq!(c.origin.keep_request_headers, d.origin.keep_request_headers);
        assert_eq!(
            c.cache_control.fingerprint_patterns,
            d.cache_control.fingerprint_patterns
        );
    }

    #[test]
    fn keep_request_headers_is_checked() {
        let ok = Config::parse(
            "t",
            "[origin]\nkeep_request_headers = [\"X-Forwarded-For\"]\n",
        )
        .unwrap();
        ok.validate("t").unwrap();
        assert_eq!(ok.origin.keep_request_headers, ["X-Forwarded-For"]);
        for bad in ["\"bad name\"", "\"X-CDN-Edge-Token\"", "\"x-cdn-edge-*\""] {
            let c = Config::parse("t", &format!("[origin]\nkeep_request_headers = [{bad}]\n"));
            let e = c.unwrap().validate("t").unwrap_err().to_string();
            assert!(e.contains("origin.keep_request_headers"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("t", "[server]\nworkers = -1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.workers"), "{e}");
        let e = Config::parse("t", "[server]\nlisten = \"nonsense\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.listen"), "{e}");
        let e = Config::parse("t", "[server]\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let c = Config::parse("t", "[[rules]]\nglob = \"a[\"\n").unwrap();
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("rules[0].glob"), "{e}");
        let c = Config::parse(
            "t",
            "[[rules]]\nglob = \"*\"\nheaders = { \"X-A\" = \"a\\nb\" }\n",
        )
        .unwrap();
        assert!(c
            .validate("t")
            .unwrap_err()
            .to_string()
            .contains("rules[0].headers.X-A"));
        let c = Config::parse("t", "[origin]\nmax_stream_bytes = 1000\n").unwrap();
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("origin.max_stream_bytes"), "{e}");
    }
}
