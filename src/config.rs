//! The configuration schema, its defaults and its validation: one file per
//! table, each with its own checks (`server`, `cache`, `cache_control`,
//! `cors`, `rules`, `origin`, `purge`, `tls`, `http2`, `http3`, `limits`, `log`,
//! `build`, `cluster`), and here what spans tables.
//!
//! Every key has a default (the embedded `config.toml` repeats them), so an
//! empty file is a valid config. Unknown keys are refused. Every error is
//! one line naming the file and line, the key, the value and what is
//! allowed (`error`). Sizes and durations take units (`units`); the old
//! `_secs` / `_ms` names are still read, with a warning (`deprecated`).
//! Reading the text and placing errors at their line is `source`; a token
//! given inline or in a file is a `secret`. This
//! module only reads and checks; it builds nothing that serves.

use std::path::{Path, PathBuf};

use serde::Deserialize;

mod build;
mod cache;
mod cache_control;
mod cluster;
mod cors;
pub mod deprecated;
mod error;
mod http2;
mod http3;
mod limits;
mod log;
mod origin;
mod purge;
mod rules;
mod secret;
mod server;
mod source;
mod tls;
pub mod units;

pub use build::{BuildConfig, Encoding};
pub use cache::{Admission, CacheConfig};
pub use cache_control::CacheControlConfig;
pub use cluster::ClusterConfig;
pub use cors::CorsConfig;
pub use error::ConfigError;
pub use http2::Http2Config;
pub use http3::Http3Config;
pub use limits::{LimitsConfig, H1_MAX_HEADERS, H1_MAX_HEAD_BYTES};
pub use log::{AccessFormat, AccessTarget, LogConfig};
pub use origin::OriginConfig;
pub use purge::PurgeConfig;
pub use rules::{Rule, RuleConfig, TtlMode};
pub use server::ServerConfig;
pub use tls::{valid_sni_name, CertConfig, TlsConfig};

/// The embedded default configuration (`config.toml` at the repo root).
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

/// The name errors give the embedded default.
pub const EMBEDDED: &str = "embedded config.toml";

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
    /// `[http3]`: HTTP/3 on a QUIC listener beside the HTTPS one.
    pub http3: Http3Config,
    /// `[limits]`: request sizes, connections and client timeouts.
    pub limits: LimitsConfig,
    /// `[cluster]`: several nodes as one cache; `None` = a lone node.
    pub cluster: Option<ClusterConfig>,
}

impl Config {
    /// Loads `path`, or the embedded default when `None`, and validates
    /// it. Relative paths in a file resolve against the file's directory.
    /// Each deprecated name the file uses is logged as a warning.
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
                EMBEDDED.to_string(),
                DEFAULT_TOML.to_string(),
                PathBuf::new(),
            ),
        };
        let (mut config, source) = source::Source::read(&origin, &text)?;
        for d in source.deprecated() {
            tracing::warn!("{d}");
        }
        if !base.as_os_str().is_empty() {
            config.rebase(&base);
        }
        config.validate(&origin).map_err(|e| source.place(e))?;
        Ok(config)
    }

    /// Parses TOML text (not validated); `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        source::Source::read(origin, text).map(|(config, _)| config)
    }

    /// The old names `text` uses, each with its new name (see
    /// [`deprecated`]); empty when it uses none or does not parse.
    pub fn deprecated_names(origin: &str, text: &str) -> Vec<deprecated::Deprecated> {
        match source::Source::read(origin, text) {
            Ok((_, source)) => source.deprecated().to_vec(),
            Err(_) => Vec::new(),
        }
    }

    /// Makes the relative paths of a file's config relative to `base`, the
    /// file's directory.
    fn rebase(&mut self, base: &Path) {
        for p in [&mut self.server.root, &mut self.cache.dir]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        self.log.resolve(base);
        self.tls.rebase(base);
        self.purge.rebase(base);
        if let Some(c) = &mut self.cluster {
            c.rebase(base);
        }
    }

    /// Checks values that have the right type but may not be allowed:
    /// each table's own checks, then what spans tables.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        self.server.validate(origin)?;
        self.cache.validate(origin)?;
        self.cache_control.validate(origin)?;
        self.cors.validate(origin)?;
        self.purge.validate(origin)?;
        self.origin.validate(origin)?;
        self.build.validate(origin)?;
        self.log.validate(origin)?;
        self.tls.validate(origin)?;
        self.http2.validate(origin)?;
        self.http3
            .validate(origin, self.tls.enabled(), self.tls.session_cache)?;
        self.limits.validate(origin)?;
        if let Some(c) = &self.cluster {
            c.validate(origin)?;
        }
        rules::compile(&self.rules, origin)?;
        if self.server.root.is_none() && self.origin.url.is_none() {
            return Err(error::invalid(
                origin,
                "server.root",
                &"",
                "a directory to serve, or set origin.url (--origin URL) for origin-only mode",
            ));
        }
        Ok(())
    }

    /// `cache_control.fingerprint_patterns`, compiled (checked by `validate`).
    pub fn fingerprints(&self) -> Result<crate::fingerprint::Patterns, ConfigError> {
        self.cache_control.fingerprints("config")
    }

    /// The `[[rules]]`, compiled (they were checked by `validate`).
    pub fn rules(&self) -> Result<Vec<Rule>, ConfigError> {
        compile_rules(&self.rules)
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
#[path = "config/tests.rs"]
mod tests;

/// `rules`, compiled (errors name `config`).
pub fn compile_rules(rules: &[RuleConfig]) -> Result<Vec<Rule>, ConfigError> {
    rules::compile(rules, "config")
}
