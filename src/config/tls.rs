//! The `[tls]` and `[http2]` tables: the HTTPS listener, its certificates
//! (chosen by SNI) and the HTTP/2 limits. Only the schema and the checks
//! that need no file: reading and validating the PEM files is `tls::load`'s.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::ConfigError;

/// `[tls]`: HTTPS beside the plain `server.listen`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Address of the HTTPS listener (`"0.0.0.0:443"`); empty = no TLS.
    pub listen: String,
    /// PEM certificate chain of the default certificate (leaf first).
    pub cert: PathBuf,
    /// PEM private key of the default certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// More certificates, chosen by the client's SNI name.
    pub certificates: Vec<CertConfig>,
    /// The plain listener answers 308 to `https://` (except the health,
    /// metrics and purge endpoints).
    pub redirect_http: bool,
    /// `Strict-Transport-Security` value sent on HTTPS responses; empty = none.
    pub hsts: String,
    /// Stateless session tickets (TLS 1.2 tickets and TLS 1.3 PSKs).
    pub tickets: bool,
    /// Entries of the server-side session cache (stateful resumption); 0 = none.
    pub session_cache: usize,
    /// Milliseconds a client gets to finish the TLS handshake.
    pub handshake_timeout_ms: u64,
}

/// One `[[tls.certificates]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertConfig {
    /// SNI names it answers (`"static.example.com"`, `"*.example.com"`);
    /// empty = the certificate's own DNS names.
    #[serde(default)]
    pub names: Vec<String>,
    /// PEM certificate chain (leaf first).
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            certificates: Vec::new(),
            redirect_http: false,
            hsts: String::new(),
            tickets: true,
            session_cache: 10_240,
            handshake_timeout_ms: 3_000,
        }
    }
}

/// `[http2]`: HTTP/2 over TLS (ALPN `h2`) and h2c on the plain listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Config {
    /// Accept HTTP/2 with prior knowledge (h2c) on the plain listener.
    pub h2c: bool,
    /// Requests one connection may have in flight; more get 503.
    pub max_concurrent_streams: u32,
    /// Initial flow-control window of each stream, in bytes.
    pub initial_stream_window: u32,
    /// Initial flow-control window of a connection, in bytes.
    pub initial_connection_window: u32,
}

impl Default for Http2Config {
    fn default() -> Self {
        Self {
            h2c: true,
            max_concurrent_streams: 256,
            initial_stream_window: 1 << 20,
            initial_connection_window: 4 << 20,
        }
    }
}

/// The largest flow-control window HTTP/2 allows (RFC 9113 §6.9.1).
const MAX_WINDOW: u32 = (1 << 31) - 1;

impl TlsConfig {
    /// Whether an HTTPS listener is configured.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }

    /// The HTTPS listen address, resolved (`localhost:8443` works).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        resolve(&self.listen)
    }

    /// Makes relative certificate and key paths relative to `base`.
    pub(super) fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.cert);
        join(&mut self.key);
        for c in &mut self.certificates {
            join(&mut c.cert);
            join(&mut c.key);
        }
    }

    /// Checks what can be checked without reading the files.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            super::invalid(origin, key, value, allowed)
        };
        let has_default = !self.cert.as_os_str().is_empty() || !self.key.as_os_str().is_empty();
        if !self.enabled() {
            if has_default || !self.certificates.is_empty() || self.redirect_http {
                return Err(invalid(
                    "tls.listen",
                    &self.listen,
                    "an address like \"0.0.0.0:443\" when certificates or redirect_http are set",
                ));
            }
            return Ok(());
        }
        if self.listen_addr().is_none() {
            return Err(invalid(
                "tls.listen",
                &self.listen,
                "an address like \"0.0.0.0:443\" or \"localhost:8443\"",
            ));
        }
        if self.cert.as_os_str().is_empty() != self.key.as_os_str().is_empty() {
            let (key, value) = if self.cert.as_os_str().is_empty() {
                ("tls.cert", &self.cert)
            } else {
                ("tls.key", &self.key)
            };
            return Err(invalid(
                key,
                value,
                "a PEM file: tls.cert and tls.key go together",
            ));
        }
        if !has_default && self.certificates.is_empty() {
            return Err(invalid(
                "tls.cert",
                &self.cert,
                "a PEM certificate chain (with tls.key), or [[tls.certificates]] entries",
            ));
        }
        for (i, c) in self.certificates.iter().enumerate() {
            for (what, p) in [("cert", &c.cert), ("key", &c.key)] {
                if p.as_os_str().is_empty() {
                    return Err(invalid(
                        &format!("tls.certificates[{i}].{what}"),
                        p,
                        "a PEM file",
                    ));
                }
            }
            for (j, n) in c.names.iter().enumerate() {
                if !valid_sni_name(n) {
                    return Err(invalid(
                        &format!("tls.certificates[{i}].names[{j}]"),
                        n,
                        "a DNS name like \"static.example.com\" or \"*.example.com\"",
                    ));
                }
            }
        }
        if !self.hsts.is_empty() && HeaderValue::from_str(&self.hsts).is_err() {
            return Err(invalid(
                "tls.hsts",
                &self.hsts,
                "a header value like \"max-age=31536000\", or \"\" for none",
            ));
        }
        if self.session_cache > 10_000_000 {
            return Err(invalid(
                "tls.session_cache",
                &self.session_cache,
                "0 to 10000000 entries",
            ));
        }
        if !(1..=600_000).contains(&self.handshake_timeout_ms) {
            return Err(invalid(
                "tls.handshake_timeout_ms",
                &self.handshake_timeout_ms,
                "1 to 600000",
            ));
        }
        Ok(())
    }
}

impl Http2Config {
    /// Checks the limits against what HTTP/2 allows.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Debug, allowed: &str| {
            super::invalid(origin, key, value, allowed)
        };
        if !(1..=100_000).contains(&self.max_concurrent_streams) {
            return Err(invalid(
                "http2.max_concurrent_streams",
                &self.max_concurrent_streams,
                "1 to 100000",
            ));
        }
        for (key, v) in [
            ("http2.initial_stream_window", self.initial_stream_window),
            (
                "http2.initial_connection_window",
                self.initial_connection_window,
            ),
        ] {
            if !(65_535..=MAX_WINDOW).contains(&v) {
                return Err(invalid(key, &v, "65535 to 2147483647 bytes"));
            }
        }
        Ok(())
    }
}

/// `host:port` or `ip:port`, resolved to its first address.
fn resolve(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    s.to_socket_addrs().ok()?.next()
}

/// A DNS name, or one with a leading `*.` wildcard label.
pub fn valid_sni_name(n: &str) -> bool {
    let name = n.strip_prefix("*.").unwrap_or(n);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(), ConfigError> {
        let c = crate::config::Config::parse("t", text)?;
        c.validate("t")
    }

    #[test]
    fn off_by_default_and_keys_checked() {
        assert!(parse("").is_ok());
        let e = parse("[tls]\ncert = \"a.pem\"\nkey = \"k.pem\"\n").unwrap_err();
        assert!(e.to_string().contains("tls.listen"), "{e}");
        let e = parse("[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"a.pem\"\n").unwrap_err();
        assert!(e.to_string().contains("tls.key"), "{e}");
        let e = parse("[tls]\nlisten = \"127.0.0.1:0\"\n").unwrap_err();
        assert!(e.to_string().contains("tls.cert"), "{e}");
        let e = parse("[tls]\nlisten = \"nowhere\"\ncert = \"a\"\nkey = \"b\"\n").unwrap_err();
        assert!(e.to_string().contains("tls.listen"), "{e}");
        let ok = "[tls]\nlisten = \"localhost:0\"\ncert = \"a\"\nkey = \"b\"\n";
        assert!(parse(ok).is_ok());
        let e = parse(&format!("{ok}hsts = \"a\\nb\"\n")).unwrap_err();
        assert!(e.to_string().contains("tls.hsts"), "{e}");
        let e = parse(&format!(
            "{ok}[[tls.certificates]]\nnames = [\"bad name\"]\ncert = \"c\"\nkey = \"k\"\n"
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("tls.certificates[0].names[0]"),
            "{e}"
        );
        let e = parse("[http2]\ninitial_stream_window = 10\n").unwrap_err();
        assert!(e.to_string().contains("http2.initial_stream_window"), "{e}");
        let e = parse("[http2]\nmax_concurrent_streams = 0\n").unwrap_err();
        assert!(
            e.to_string().contains("http2.max_concurrent_streams"),
            "{e}"
        );
    }

    #[test]
    fn sni_names() {
        for ok in ["a.example.com", "*.example.com", "localhost", "x-1.y"] {
            assert!(valid_sni_name(ok), "{ok}");
        }
        for bad in ["", "*.", "a..b", "-a.b", "a b", "*.*.a", "a.*.b"] {
            assert!(!valid_sni_name(bad), "{bad}");
        }
    }
}
