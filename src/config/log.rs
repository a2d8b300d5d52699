//! `[log]`: the access log (where, in which format, how often it is
//! flushed) and the proxies whose `X-Forwarded-For` names the client. Only
//! the schema, defaults and checks; the log itself is `server::access_log`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Where access log lines go: `"stdout"`, `"off"`, or a file path
    /// (relative paths resolve against the config file's directory).
    pub access: String,
    /// `"combined"` (nginx's, plus duration, cache status and upstream
    /// time) or `"json"` (one object per line).
    pub access_format: String,
    /// Lines wait in a worker's buffer at most this many milliseconds (or
    /// until 64 KiB gather) before they go to the writer thread.
    pub access_flush_ms: u64,
    /// Peers (CIDRs or addresses) trusted to say who the client is in
    /// `X-Forwarded-For`.
    pub trusted_proxies: Vec<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            access: "stdout".into(),
            access_format: "combined".into(),
            access_flush_ms: 1000,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Where the access log goes, decided from `log.access`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTarget {
    /// No access log.
    Off,
    /// The process's standard output.
    Stdout,
    /// A file, appended to (created if missing) and reopened on SIGUSR1.
    File(PathBuf),
}

/// The access log's line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessFormat {
    /// nginx `combined` plus duration, cache status and upstream time.
    Combined,
    /// One JSON object per line.
    Json,
}

impl LogConfig {
    /// Where the access log goes.
    pub fn target(&self) -> AccessTarget {
        match self.access.as_str() {
            "off" => AccessTarget::Off,
            "stdout" => AccessTarget::Stdout,
            path => AccessTarget::File(PathBuf::from(path)),
        }
    }

    /// The line format (checked by `validate`).
    pub fn format(&self) -> AccessFormat {
        if self.access_format == "json" {
            AccessFormat::Json
        } else {
            AccessFormat::Combined
        }
    }

    /// The trusted proxies as networks (checked by `validate`; a bad entry
    /// is left out).
    pub fn trusted(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|s| network(s))
            .collect()
    }

    /// Makes a relative access log path absolute against `base`.
    pub(super) fn resolve(&mut self, base: &Path) {
        if let AccessTarget::File(p) = self.target() {
            if p.is_relative() && !base.as_os_str().is_empty() {
                self.access = base.join(p).display().to_string();
            }
        }
    }

    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            super::invalid(origin, key, value, allowed)
        };
        if self.access.is_empty() {
            return Err(invalid(
                "log.access",
                &self.access,
                "\"stdout\", \"off\" or a file path",
            ));
        }
        if !matches!(self.access_format.as_str(), "combined" | "json") {
            return Err(invalid(
                "log.access_format",
                &self.access_format,
                "\"combined\" or \"json\"",
            ));
        }
        if !(1..=60_000).contains(&self.access_flush_ms) {
            return Err(invalid(
                "log.access_flush_ms",
                &self.access_flush_ms,
                "1 to 60000",
            ));
        }
        for (i, p) in self.trusted_proxies.iter().enumerate() {
            if network(p).is_none() {
                return Err(invalid(
                    &format!("log.trusted_proxies[{i}]"),
                    p,
                    "a CIDR like \"10.0.0.0/8\" or an address like \"192.0.2.1\"",
                ));
            }
        }
        Ok(())
    }
}

/// A CIDR, or a single address as a one-address network.
fn network(s: &str) -> Option<ipnet::IpNet> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_formats_and_networks() {
        let mut c = LogConfig::default();
        assert_eq!(c.target(), AccessTarget::Stdout);
        assert_eq!(c.format(), AccessFormat::Combined);
        c.access = "off".into();
        assert_eq!(c.target(), AccessTarget::Off);
        c.access = "logs/access.log".into();
        c.resolve(Path::new("/etc/cdn-edge"));
        assert_eq!(
            c.target(),
            AccessTarget::File("/etc/cdn-edge/logs/access.log".into())
        );
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "192.0.2.1".into(), "::1".into()];
        assert_eq!(c.trusted().len(), 3);
        c.validate("t").unwrap();
    }

    #[test]
    fn the_bundled_config_lists_the_defaults() {
        let c = crate::config::Config::load(None).unwrap();
        let d = LogConfig::default();
        assert_eq!(c.log.access, d.access);
        assert_eq!(c.log.access_format, d.access_format);
        assert_eq!(c.log.access_flush_ms, d.access_flush_ms);
        assert_eq!(c.log.trusted_proxies, d.trusted_proxies);
        let s = crate::config::ServerConfig::default();
        assert_eq!(c.server.ready_path, s.ready_path);
        assert_eq!(c.server.ready_requires_origin, s.ready_requires_origin);
        assert_eq!(c.server.drain_secs, s.drain_secs);
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = LogConfig {
            access_format: "apache".into(),
            ..Default::default()
        };
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("log.access_format"), "{e}");
        c.access_format = "json".into();
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.0/99".into()];
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("log.trusted_proxies[1]"), "{e}");
        c.trusted_proxies.clear();
        c.access_flush_ms = 0;
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("log.access_flush_ms"), "{e}");
    }
}
