//! `[log]`: the access log (where, in which format, how often it is
//! flushed) and the proxies whose `X-Forwarded-For` names the client. Only
//! the schema, defaults and checks; the log itself is `server::access_log`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::error::{at, ConfigError};
use super::units::{self, Quoted};

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Where access log lines go: `"stdout"`, `"off"`, or a file path
    /// (relative paths resolve against the config file's directory).
    pub access: AccessTarget,
    /// The line format: `"combined"` or `"json"`.
    pub access_format: AccessFormat,
    /// Lines wait in a worker's buffer at most this long (or until 64 KiB
    /// gather) before they go to the writer thread.
    #[serde(deserialize_with = "units::duration")]
    pub access_flush: Duration,
    /// Peers (CIDRs or addresses) trusted to say who the client is in
    /// `X-Forwarded-For`.
    pub trusted_proxies: Vec<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            access: AccessTarget::Stdout,
            access_format: AccessFormat::Combined,
            access_flush: Duration::from_secs(1),
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

/// The access log's line format (`log.access_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessFormat {
    /// `"combined"`: nginx `combined` plus duration, cache status and
    /// upstream time.
    Combined,
    /// `"json"`: one JSON object per line.
    Json,
}

impl<'de> Deserialize<'de> for AccessTarget {
    /// `"stdout"`, `"off"`, or a file path (not empty).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "" => {
                return Err(serde::de::Error::custom(
                    "an empty target: write \"stdout\", \"off\" or a file path",
                ))
            }
            "off" => AccessTarget::Off,
            "stdout" => AccessTarget::Stdout,
            path => AccessTarget::File(PathBuf::from(path)),
        })
    }
}

impl LogConfig {
    /// Where the access log goes.
    pub fn target(&self) -> AccessTarget {
        self.access.clone()
    }

    /// The line format.
    pub fn format(&self) -> AccessFormat {
        self.access_format
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
        if let AccessTarget::File(p) = &mut self.access {
            if p.is_relative() && !base.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
    }

    /// Checks the values; errors name the key.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        let (d, min, max) = (
            self.access_flush,
            Duration::from_millis(1),
            Duration::from_secs(60),
        );
        units::within(d, min, max, false)
            .map_err(|a| invalid("log.access_flush", &Quoted(d), &a))?;
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
        c.access = AccessTarget::Off;
        assert_eq!(c.target(), AccessTarget::Off);
        c.access = AccessTarget::File("logs/access.log".into());
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
        assert_eq!(c.log.access_flush, d.access_flush);
        assert_eq!(c.log.trusted_proxies, d.trusted_proxies);
        let s = crate::config::ServerConfig::default();
        assert_eq!(c.server.ready_path, s.ready_path);
        assert_eq!(c.server.ready_requires_origin, s.ready_requires_origin);
        assert_eq!(c.server.drain, s.drain);
    }

    #[test]
    fn bad_values_name_the_key() {
        let parse = |t: &str| crate::config::Config::parse("t", &format!("[log]\n{t}\n"));
        let e = parse("access_format = \"apache\"").unwrap_err().to_string();
        assert!(
            e.contains("log.access_format") && e.contains("`combined`"),
            "{e}"
        );
        let e = parse("access = \"\"").unwrap_err().to_string();
        assert!(e.contains("log.access") && e.contains("\"stdout\""), "{e}");
        let c = parse("access_format = \"json\"").unwrap();
        assert_eq!(c.log.format(), AccessFormat::Json);
        let mut c = c.log;
        c.trusted_proxies = vec!["10.0.0.0/8".into(), "10.0.0.0/99".into()];
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("log.trusted_proxies[1]"), "{e}");
        c.trusted_proxies.clear();
        c.access_flush = Duration::ZERO;
        let e = c.validate("t").unwrap_err().to_string();
        assert!(e.contains("log.access_flush"), "{e}");
    }
}
