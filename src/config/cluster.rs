//! `[cluster]`: this node's address as its peers reach it, the token peer
//! requests carry, and exactly one source of peers (a list, a file, or a
//! DNS name). Only the schema, defaults and checks, and the `--advertise`
//! / `--peer` overrides; the peer set itself is `cluster::Peers`. Without
//! the table there is no cluster and nothing changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::ConfigError;
use crate::cluster::{source, Peer, PeerSource, Settings};
use crate::listen::ListenAddr;

/// The shortest token allowed: a peer request with it may fill the cache.
const MIN_TOKEN_LEN: usize = 16;

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's base URL as its peers reach it (`http://10.0.0.5:8080`).
    pub advertise: String,
    /// The token peer requests carry; or `token_file`.
    pub token: String,
    /// A file holding the token (a Kubernetes Secret); or `token`.
    pub token_file: PathBuf,
    /// A static list of peers' base URLs (this node may be among them).
    pub peers: Vec<String>,
    /// A file of peers' base URLs, one a line, `#` comments; re-read when
    /// it changes.
    pub peers_file: PathBuf,
    /// `name:port` whose every address is a peer (`http://ADDRESS:port`).
    pub peers_dns: String,
    /// How often `peers_dns` is resolved again, seconds.
    pub dns_refresh_secs: u64,
    /// How long a peer that failed is skipped, seconds.
    pub down_secs: u64,
    /// How often peers are probed, milliseconds; 0 = never.
    pub probe_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            advertise: String::new(),
            token: String::new(),
            token_file: PathBuf::new(),
            peers: Vec::new(),
            peers_file: PathBuf::new(),
            peers_dns: String::new(),
            dns_refresh_secs: 5,
            down_secs: 10,
            probe_ms: 1_000,
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
            c.advertise = a.to_string();
        }
        if !peers.is_empty() {
            c.peers = peers.to_vec();
            c.peers_file = PathBuf::new();
            c.peers_dns = String::new();
        }
    }

    /// Makes relative `token_file` and `peers_file` paths relative to `base`.
    pub(super) fn rebase(&mut self, base: &Path) {
        for p in [&mut self.token_file, &mut self.peers_file] {
            if !p.as_os_str().is_empty() && p.is_relative() {
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
            super::invalid(
                origin,
                "cluster.advertise",
                &self.advertise,
                "required with [cluster] (or --advertise): this node's base URL as its peers reach it, like \"http://10.0.0.5:8080\"",
            )
        })?;
        let token = self.token(origin)?;
        let source = self.source(origin, Some(&advertise))?.ok_or_else(|| {
            super::invalid(
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
            down_for: Duration::from_secs(self.down_secs),
            probe_every: (self.probe_ms > 0).then(|| Duration::from_millis(self.probe_ms)),
        })
    }

    /// `advertise`, parsed; `None` when empty.
    fn advertise(&self, origin: &str) -> Result<Option<Peer>, ConfigError> {
        if self.advertise.is_empty() {
            return Ok(None);
        }
        self.advertise.parse().map(Some).map_err(|why| {
            super::invalid(
                origin,
                "cluster.advertise",
                &self.advertise,
                &format!("{why}; this node's base URL as its peers reach it, like \"http://10.0.0.5:8080\""),
            )
        })
    }

    /// The intervals and durations.
    fn numbers(&self, origin: &str) -> Result<(), ConfigError> {
        for (key, v, max) in [
            ("cluster.dns_refresh_secs", self.dns_refresh_secs, 3_600),
            ("cluster.down_secs", self.down_secs, 3_600),
        ] {
            if !(1..=max).contains(&v) {
                return Err(super::invalid(origin, key, &v, &format!("1 to {max}")));
            }
        }
        if self.probe_ms != 0 && !(100..=600_000).contains(&self.probe_ms) {
            return Err(super::invalid(
                origin,
                "cluster.probe_ms",
                &self.probe_ms,
                "0 (no probes) or 100 to 600000",
            ));
        }
        Ok(())
    }

    /// `token`, or the contents of `token_file` less surrounding
    /// whitespace: exactly one, of visible ASCII, long enough.
    fn token(&self, origin: &str) -> Result<String, ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            super::invalid(origin, key, value, allowed)
        };
        let file = &self.token_file;
        let Some(secret) = super::secret::read(origin, "cluster", &self.token, file)? else {
            return Err(invalid(
                "cluster.token",
                &self.token,
                "required with [cluster] (or cluster.token_file): a secret that every node shares",
            ));
        };
        let (key, token) = if secret.from_file {
            ("cluster.token_file", secret.value)
        } else {
            ("cluster.token", secret.value)
        };
        let shown = if key == "cluster.token" {
            "(hidden)".to_string()
        } else {
            file.display().to_string()
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
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            super::invalid(origin, key, value, allowed)
        };
        let set: Vec<&str> = [
            ("cluster.peers", !self.peers.is_empty()),
            (
                "cluster.peers_file",
                !self.peers_file.as_os_str().is_empty(),
            ),
            ("cluster.peers_dns", !self.peers_dns.is_empty()),
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
                let value: &dyn std::fmt::Debug = match *second {
                    "cluster.peers_file" => &self.peers_file,
                    _ => &self.peers_dns,
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
        if !self.peers_file.as_os_str().is_empty() {
            let path = &self.peers_file;
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
        let name: ListenAddr = self
            .peers_dns
            .parse()
            .ok()
            .filter(|n: &ListenAddr| n.port() != 0)
            .ok_or_else(|| {
                invalid(
                    "cluster.peers_dns",
                    &self.peers_dns,
                    "\"name:port\", like \"cdn-edge-peers.default.svc.cluster.local:8080\"",
                )
            })?;
        // DNS names peers `http://ADDRESS:PORT`: this node must be named
        // so too, or it would be in the ring twice.
        if advertise.is_some_and(|a| a.addr().map(|a| a.port()) != Some(name.port())) {
            return Err(invalid(
                "cluster.advertise",
                &self.advertise,
                &format!(
                    "with cluster.peers_dns, http://<this node's IP address>:{} as DNS names the peers (e.g. --advertise http://$POD_IP:{})",
                    name.port(),
                    name.port()
                ),
            ));
        }
        Ok(Some(PeerSource::Dns {
            name,
            every: Duration::from_secs(self.dns_refresh_secs),
        }))
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
