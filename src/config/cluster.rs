//! `[cluster]`: this node's address as its peers reach it, the token peer
//! requests carry, and exactly one source of peers (a list, a file, or a
//! DNS name). Only the schema, defaults and checks, and the `--advertise`
//! / `--peer` overrides; the peer set itself is `cluster::Peers`. Without
//! the table there is no cluster and nothing changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::error::ConfigError;
use super::units::{self, Quoted};
use crate::cluster::{source, Peer, PeerSource, Settings};
use crate::listen::ListenAddr;

/// The shortest token allowed: a peer request with it may fill the cache.
const MIN_TOKEN_LEN: usize = 16;

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's base URL as its peers reach it (`http://10.0.0.5:8080`);
    /// required (here or `--advertise`).
    #[serde(deserialize_with = "units::non_empty")]
    pub advertise: Option<String>,
    /// The token peer requests carry; or `token_file`.
    #[serde(deserialize_with = "units::non_empty")]
    pub token: Option<String>,
    /// A file holding the token (a Kubernetes Secret); or `token`.
    #[serde(deserialize_with = "units::non_empty")]
    pub token_file: Option<PathBuf>,
    /// A static list of peers' base URLs (this node may be among them).
    pub peers: Vec<String>,
    /// A file of peers' base URLs, one a line, `#` comments; re-read when
    /// it changes.
    #[serde(deserialize_with = "units::non_empty")]
    pub peers_file: Option<PathBuf>,
    /// `name:port` whose every address is a peer (`http://ADDRESS:port`).
    #[serde(deserialize_with = "units::non_empty")]
    pub peers_dns: Option<String>,
    /// How often `peers_dns` is resolved again.
    #[serde(deserialize_with = "units::duration")]
    pub dns_refresh: Duration,
    /// How long a peer that failed is skipped.
    #[serde(deserialize_with = "units::duration")]
    pub down_for: Duration,
    /// How often peers are probed; `None` (`"off"` or 0): never.
    #[serde(deserialize_with = "units::duration_or_off")]
    pub probe_interval: Option<Duration>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            advertise: None,
            token: None,
            token_file: None,
            peers: Vec::new(),
            peers_file: None,
            peers_dns: None,
            dns_refresh: Duration::from_secs(5),
            down_for: Duration::from_secs(10),
            probe_interval: Some(Duration::from_secs(1)),
        }
    }
}

impl ClusterConfig {
    /// Applies `serve --advertise URL` and `--peer URL...`: they set
    /// `advertise` and replace the source of peers with the list, and
    /// create the table when the file has none.
    pub fn apply_flags(table: &mut Option<Self>, advertise: Option<&str>, peers: &[String]) {
        if advertise.is_none() && peers.is_empty() {
            return;
        }
        let c = table.get_or_insert_with(Self::default);
        if let Some(a) = advertise {
            c.advertise = Some(a.to_string());
        }
        if !peers.is_empty() {
            c.peers = peers.to_vec();
            c.peers_file = None;
            c.peers_dns = None;
        }
    }

    /// Makes relative `token_file` and `peers_file` paths relative to `base`.
    pub(super) fn rebase(&mut self, base: &Path) {
        for p in [&mut self.token_file, &mut self.peers_file]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks what the table sets. `advertise` and a source of peers may
    /// still come from `--advertise` and `--peer`: [`ClusterConfig::settings`]
    /// requires them, once the flags are applied.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let advertise = self.advertise(origin)?;
        self.token(origin)?;
        self.source(origin, advertise.as_ref())?;
        self.numbers(origin)
    }

    /// The checked settings: everything [`ClusterConfig::validate`] checks,
    /// and `advertise` and a source of peers are required. Reads
    /// `token_file`, and `peers_file` to check it. Errors name `origin`,
    /// the key, the value and what is allowed.
    pub fn settings(&self, origin: &str) -> Result<Settings, ConfigError> {
        let advertise = self.advertise(origin)?.ok_or_else(|| {
            super::error::invalid(
                origin,
                "cluster.advertise",
                &"",
                "required with [cluster] (or --advertise): this node's base URL as its peers reach it, like \"http://10.0.0.5:8080\"",
            )
        })?;
        let token = self.token(origin)?;
        let source = self.source(origin, Some(&advertise))?.ok_or_else(|| {
            super::error::invalid(
                origin,
                "cluster.peers",
                &self.peers,
                "one source of peers is required with [cluster]: cluster.peers (base URLs) or --peer, cluster.peers_file, or cluster.peers_dns (\"name:port\")",
            )
        })?;
        self.numbers(origin)?;
        Ok(Settings {
            advertise,
            token,
            source,
            down_for: self.down_for,
            probe_every: self.probe_interval,
        })
    }

    /// `advertise`, parsed; `None` when empty.
    fn advertise(&self, origin: &str) -> Result<Option<Peer>, ConfigError> {
        let Some(advertise) = &self.advertise else {
            return Ok(None);
        };
        advertise.parse().map(Some).map_err(|why| {
            super::error::invalid(
                origin,
                "cluster.advertise",
                advertise,
                &format!("{why}; this node's base URL as its peers reach it, like \"http://10.0.0.5:8080\""),
            )
        })
    }

    /// The intervals and durations.
    fn numbers(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = super::error::at(origin);
        let (second, hour) = (Duration::from_secs(1), Duration::from_secs(3600));
        for (key, d) in [
            ("cluster.dns_refresh", self.dns_refresh),
            ("cluster.down_for", self.down_for),
        ] {
            units::within(d, second, hour, false).map_err(|a| invalid(key, &Quoted(d), &a))?;
        }
        if let Some(d) = self.probe_interval {
            let (min, max) = (Duration::from_millis(100), Duration::from_secs(600));
            units::within(d, min, max, false).map_err(|a| {
                invalid(
                    "cluster.probe_interval",
                    &Quoted(d),
                    &format!("{a}, or \"off\" (no probes)"),
                )
            })?;
        }
        Ok(())
    }

    /// `token`, or the contents of `token_file` less surrounding
    /// whitespace: exactly one, of visible ASCII, long enough.
    fn token(&self, origin: &str) -> Result<String, ConfigError> {
        let invalid = super::error::at(origin);
        let file = self.token_file.as_deref();
        let token = self.token.as_deref();
        let Some(secret) = super::secret::read(origin, "cluster", token, file)? else {
            return Err(invalid(
                "cluster.token",
                &"",
                "required with [cluster] (or cluster.token_file): a secret that every node shares",
            ));
        };
        let (key, token) = if secret.from_file {
            ("cluster.token_file", secret.value)
        } else {
            ("cluster.token", secret.value)
        };
        let shown = match file {
            Some(file) if key == "cluster.token_file" => file.display().to_string(),
            _ => "(hidden)".to_string(),
        };
        if token.len() < MIN_TOKEN_LEN
            || token.contains(' ')
            || HeaderValue::from_str(&token).is_err()
        {
            return Err(invalid(
                key,
                &shown,
                &format!("a token of at least {MIN_TOKEN_LEN} visible ASCII characters, no spaces"),
            ));
        }
        Ok(token)
    }

    /// The one source of peers; `None` when none is set. With DNS, checks
    /// that `advertise` (when known) is spelled as DNS names peers.
    fn source(
        &self,
        origin: &str,
        advertise: Option<&Peer>,
    ) -> Result<Option<PeerSource>, ConfigError> {
        let invalid = super::error::at(origin);
        let set: Vec<&str> = [
            ("cluster.peers", !self.peers.is_empty()),
            ("cluster.peers_file", self.peers_file.is_some()),
            ("cluster.peers_dns", self.peers_dns.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| *key)
        .collect();
        match set.as_slice() {
            [] => return Ok(None),
            [_] => Ok(()),
            [first, second, ..] => {
                // `peers` comes first, so the second is one of these.
                let value: &dyn std::fmt::Debug = match (*second, &self.peers_file) {
                    ("cluster.peers_file", Some(file)) => file,
                    _ => &self.peers_dns.as_deref().unwrap_or_default(),
                };
                Err(invalid(
                    second,
                    value,
                    &format!("only one source of peers: not with {first}"),
                ))
            }
        }?;
        if !self.peers.is_empty() {
            let mut list = Vec::new();
            for (i, url) in self.peers.iter().enumerate() {
                let peer = url.parse::<Peer>().map_err(|why| {
                    invalid(
                        &format!("cluster.peers[{i}]"),
                        url,
                        &format!("{why}; a base URL like \"http://10.0.0.5:8080\""),
                    )
                })?;
                list.push(peer);
            }
            return Ok(Some(PeerSource::Static(list)));
        }
        if let Some(path) = &self.peers_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    "cluster.peers_file",
                    path,
                    &format!("a readable file ({e})"),
                )
            })?;
            source::parse_list(&text).map_err(|why| {
                invalid(
                    "cluster.peers_file",
                    path,
                    &format!("one base URL a line, # comments ({why})"),
                )
            })?;
            return Ok(Some(PeerSource::File {
                path: path.clone(),
                every: source::FILE_POLL,
            }));
        }
        let dns = self.peers_dns.as_deref().unwrap_or_default();
        let name: ListenAddr = dns
            .parse()
            .ok()
            .filter(|n: &ListenAddr| n.port() != 0)
            .ok_or_else(|| {
                invalid(
                    "cluster.peers_dns",
                    &dns,
                    "\"name:port\", like \"cdn-edge-peers.default.svc.cluster.local:8080\"",
                )
            })?;
        // DNS names peers `http://ADDRESS:PORT`: this node must be named
        // so too, or it would be in the ring twice.
        if advertise.is_some_and(|a| a.addr().map(|a| a.port()) != Some(name.port())) {
            return Err(invalid(
                "cluster.advertise",
                &self.advertise.as_deref().unwrap_or_default(),
                &format!(
                    "with cluster.peers_dns, http://<this node's IP address>:{} as DNS names the peers (e.g. --advertise http://$POD_IP:{})",
                    name.port(),
                    name.port()
                ),
            ));
        }
        Ok(Some(PeerSource::Dns {
            name,
            every: self.dns_refresh,
        }))
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
