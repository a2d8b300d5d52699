//! A peer: one node of the cluster, named by the base URL its peers reach
//! it at. The URL is normalised (scheme and host in lowercase, the port
//! always written, no trailing `/`) so that every node spells a peer the
//! same way, which the hash ring needs: `http://Edge-1` and
//! `http://edge-1:80/` are one peer. Not here: reaching the peer (HTTP),
//! its health (`health`), its place in the ring (`ring`).

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use actix_web::http::Uri;

/// A node of the cluster: its normalised base URL (`http://10.0.0.5:8080`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    url: Arc<str>,
}

impl Peer {
    /// The normalised base URL, without a trailing `/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its address, when it is named as DNS sources name peers:
    /// `http://` and an IP address (`http://10.0.0.5:8080`).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.url.strip_prefix("http://")?.parse().ok()
    }

    /// The peer that a resolved address stands for (`http://IP:PORT`), as
    /// DNS sources name them.
    pub fn from_addr(addr: SocketAddr) -> Self {
        Self {
            url: format!("http://{addr}").into(),
        }
    }
}

/// Why a peer's base URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadPeer {
    /// Not a URL at all.
    #[error("not a URL")]
    NotUrl,
    /// Another scheme, or none.
    #[error("not an http:// or https:// URL")]
    Scheme,
    /// No host.
    #[error("no host")]
    NoHost,
    /// `user@host`.
    #[error("user information is not allowed")]
    UserInfo,
    /// A bracketed host that is not an IPv6 address.
    #[error("not an IPv6 address in brackets")]
    Ipv6,
    /// More than a base URL.
    #[error("a base URL has no path, query or fragment")]
    NotBase,
    /// Port 0.
    #[error("port 0 cannot be reached")]
    PortZero,
}

impl FromStr for Peer {
    type Err = BadPeer;

    /// Parses a base URL: `http://` or `https://`, a host, an optional port,
    /// nothing after but an optional `/`. The error says what is wrong.
    fn from_str(s: &str) -> Result<Self, BadPeer> {
        let uri: Uri = s.trim().parse().map_err(|_| BadPeer::NotUrl)?;
        let scheme = match uri.scheme_str().map(str::to_ascii_lowercase) {
            Some(s) if s == "http" || s == "https" => s,
            _ => return Err(BadPeer::Scheme),
        };
        let authority = uri.authority().ok_or(BadPeer::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(BadPeer::UserInfo);
        }
        let host = match authority.host().strip_prefix('[') {
            // One spelling per IPv6 address: `[FD00:0::1]` is `[fd00::1]`.
            Some(v6) => match v6.trim_end_matches(']').parse::<std::net::Ipv6Addr>() {
                Ok(ip) => format!("[{ip}]"),
                Err(_) => return Err(BadPeer::Ipv6),
            },
            None => authority.host().to_ascii_lowercase(),
        };
        if host.is_empty() {
            return Err(BadPeer::NoHost);
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() || s.contains('#') {
            return Err(BadPeer::NotBase);
        }
        let port = match authority.port_u16() {
            Some(0) => return Err(BadPeer::PortZero),
            Some(p) => p,
            None if scheme == "https" => 443,
            None => 80,
        };
        Ok(Self {
            url: format!("{scheme}://{host}:{port}").into(),
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> Result<String, BadPeer> {
        s.parse::<Peer>().map(|p| p.url().to_string())
    }

    #[test]
    fn spellings_of_one_node_normalise_to_one_peer() {
        for s in [
            "http://edge-1:80",
            "http://edge-1",
            "HTTP://Edge-1/",
            " http://edge-1:80/ ",
        ] {
            assert_eq!(peer(s).unwrap(), "http://edge-1:80", "{s}");
        }
        assert_eq!(peer("https://a.example").unwrap(), "https://a.example:443");
        assert_eq!(peer("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(
            peer("http://10.0.0.5:8080").unwrap(),
            "http://10.0.0.5:8080"
        );
    }

    #[test]
    fn addresses_become_http_peers() {
        let v4 = Peer::from_addr("10.1.2.3:8080".parse().unwrap());
        assert_eq!(v4.url(), "http://10.1.2.3:8080");
        let v6 = Peer::from_addr("[fd00::1]:8080".parse().unwrap());
        assert_eq!(v6, "http://[FD00:0::1]:8080".parse().unwrap());
        assert_eq!(v6.addr(), Some("[fd00::1]:8080".parse().unwrap()));
        let named: Peer = "http://edge-1:8080".parse().unwrap();
        assert_eq!(named.addr(), None);
        let tls: Peer = "https://10.1.2.3:8443".parse().unwrap();
        assert_eq!(tls.addr(), None);
    }

    #[test]
    fn what_is_not_a_base_url_is_refused_with_a_reason() {
        for (s, why) in [
            ("", "not a URL"),
            ("edge-1:8080", "http"),
            ("ftp://edge-1", "http"),
            ("http://edge-1:8080/cache", "no path"),
            ("http://edge-1:8080/?a=1", "no path"),
            ("http://edge-1:8080/#x", "no path"),
            ("http://user@edge-1:8080", "user"),
            ("http://edge-1:0", "port 0"),
            ("http://edge 1:80", "not a URL"),
        ] {
            let e = peer(s).unwrap_err().to_string();
            assert!(e.contains(why), "{s}: {e}");
        }
    }
}
