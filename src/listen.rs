//! Listen addresses as written in the config and on the command line:
//! `host:port`, where host is an IPv4 address, an IPv6 address in brackets
//! or a host name (`localhost:8080`), resolved when the server starts.
//! Binding the resolved addresses is `server::bind`'s job.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use serde::Deserialize;

/// Why a listen address was refused as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAddr {
    /// Not `host:port` at all.
    #[error("expected host:port, such as 127.0.0.1:8080, [::1]:8080 or localhost:8080")]
    Form,
    /// The port is not a number from 0 to 65535.
    #[error("port {0:?} is not a number from 0 to 65535")]
    Port(String),
    /// An IPv6 address that is not in brackets, or not valid in them.
    #[error("{0:?} is not an IPv6 address in brackets, as in [::1]:8080")]
    Ipv6(String),
    /// Neither an IP address nor a host name.
    #[error("{0:?} is not an IP address or a host name; {}", BadAddr::Form)]
    Host(String),
}

/// Why a listen address stands for no socket address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The resolver failed.
    #[error("cannot resolve {name}")]
    Failed {
        /// The host name.
        name: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The name resolves to nothing.
    #[error("{0} resolves to no address")]
    Empty(String),
}

/// `host:port`, checked in form but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr {
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl ListenAddr {
    /// The port (0 = a free one is picked at bind time).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every address it stands for, in the resolver's order, without
    /// repeats: the address itself, or what the name resolves to.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, ResolveError> {
        let name = match &self.host {
            Host::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(name) => name,
        };
        let resolved = (name.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|source| ResolveError::Failed {
                name: name.clone(),
                source,
            })?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for a in resolved {
            if !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        if addrs.is_empty() {
            return Err(ResolveError::Empty(name.clone()));
        }
        Ok(addrs)
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> Self {
        Self {
            host: Host::Ip(a.ip()),
            port: a.port(),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = BadAddr;

    fn from_str(s: &str) -> Result<Self, BadAddr> {
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a.into());
        }
        let (host, port) = s.rsplit_once(':').ok_or(BadAddr::Form)?;
        let port = port
            .parse::<u16>()
            .map_err(|_| BadAddr::Port(port.to_string()))?;
        if host.starts_with('[') || host.contains(':') {
            return Err(BadAddr::Ipv6(host.to_string()));
        }
        if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
            return Err(BadAddr::Host(host.to_string()));
        }
        Ok(Self {
            host: Host::Name(host.to_string()),
            port,
        })
    }
}

impl TryFrom<String> for ListenAddr {
    type Error = BadAddr;

    fn try_from(s: String) -> Result<Self, BadAddr> {
        s.parse()
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => SocketAddr::new(*ip, self.port).fmt(f),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// Whether `s` is a DNS host name: dot-separated labels of letters, digits
/// and `-` (not at either end), 253 characters at most.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_each_form() {
        for s in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::1]:443",
            "[::]:80",
            "localhost:8080",
            "edge-1.example.internal:80",
        ] {
            let a: ListenAddr = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn refuses_what_is_not_host_port() {
        for s in [
            "",
            "8080",
            "localhost",
            "localhost:",
            "localhost:http",
            "localhost:65536",
            ":8080",
            "::1:8080",
            "[::1]",
            "[::1:8080",
            "bad_host:80",
            "-bad:80",
            "a..b:80",
            "http://localhost:80",
        ] {
            assert!(s.parse::<ListenAddr>().is_err(), "{s}");
        }
    }

    #[test]
    fn ip_addresses_resolve_to_themselves() {
        let a: ListenAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(a.resolve().unwrap(), vec!["127.0.0.1:0".parse().unwrap()]);
    }

    #[test]
    fn localhost_resolves_to_loopback_addresses() {
        let a: ListenAddr = "localhost:8080".parse().unwrap();
        let addrs = a.resolve().unwrap();
        assert!(!addrs.is_empty());
        for addr in addrs {
            assert!(addr.ip().is_loopback(), "{addr}");
            assert_eq!(addr.port(), 8080);
        }
    }
}
