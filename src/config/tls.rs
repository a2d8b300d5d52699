//! The `[tls]` table: the HTTPS listener and its certificates (chosen by
//! SNI). Only the schema and the checks that need no file: reading and
//! validating the PEM files is `tls::load`'s.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, Quoted};

/// `[tls]`: HTTPS beside the plain `server.listen`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Address of the HTTPS listener (`"0.0.0.0:443"`); `None` (`""`):
    /// no TLS.
    #[serde(deserialize_with = "units::non_empty")]
    pub listen: Option<String>,
    /// PEM certificate chain of the default certificate (leaf first).
    #[serde(deserialize_with = "units::non_empty")]
    pub cert: Option<PathBuf>,
    /// PEM private key of the default certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(deserialize_with = "units::non_empty")]
    pub key: Option<PathBuf>,
    /// More certificates, chosen by the client's SNI name.
    pub certificates: Vec<CertConfig>,
    /// The plain listener answers 308 to `https://` (except the health,
    /// metrics and purge endpoints).
    pub redirect_http: bool,
    /// `Strict-Transport-Security` value sent on HTTPS responses; `None`
    /// (`""`): none.
    #[serde(deserialize_with = "units::non_empty")]
    pub hsts: Option<String>,
    /// Stateless session tickets (TLS 1.2 tickets and TLS 1.3 PSKs).
    pub tickets: bool,
    /// Entries of the server-side session cache (stateful resumption); 0 = none.
    pub session_cache: usize,
    /// How long a client gets to finish the TLS handshake.
    #[serde(deserialize_with = "units::duration")]
    pub handshake_timeout: Duration,
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
            listen: None,
            cert: None,
            key: None,
            certificates: Vec::new(),
            redirect_http: false,
            hsts: None,
            tickets: true,
            session_cache: 10_240,
            handshake_timeout: Duration::from_secs(3),
        }
    }
}

impl TlsConfig {
    /// Whether an HTTPS listener is configured.
    pub fn enabled(&self) -> bool {
        self.listen.is_some()
    }

    /// The HTTPS listen address, resolved (`localhost:8443` works).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        resolve(self.listen.as_deref()?)
    }

    /// Makes relative certificate and key paths relative to `base`.
    pub(super) fn rebase(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [&mut self.cert, &mut self.key].into_iter().flatten() {
            join(p);
        }
        for c in &mut self.certificates {
            join(&mut c.cert);
            join(&mut c.key);
        }
    }

    /// Checks what can be checked without reading the files.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        let has_default = self.cert.is_some() || self.key.is_some();
        let Some(listen) = &self.listen else {
            if has_default || !self.certificates.is_empty() || self.redirect_http {
                return Err(invalid(
                    "tls.listen",
                    &"",
                    "an address like \"0.0.0.0:443\" when certificates or redirect_http are set",
                ));
            }
            return Ok(());
        };
        if self.listen_addr().is_none() {
            return Err(invalid(
                "tls.listen",
                listen,
                "an address like \"0.0.0.0:443\" or \"localhost:8443\"",
            ));
        }
        match (&self.cert, &self.key) {
            (Some(_), None) => {
                return Err(invalid(
                    "tls.key",
                    &"",
                    "a PEM file: tls.cert and tls.key go together",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls.cert",
                    &"",
                    "a PEM file: tls.cert and tls.key go together",
                ))
            }
            _ => {}
        }
        if !has_default && self.certificates.is_empty() {
            return Err(invalid(
                "tls.cert",
                &"",
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
        if let Some(hsts) = &self.hsts {
            if HeaderValue::from_str(hsts).is_err() {
                return Err(invalid(
                    "tls.hsts",
                    hsts,
                    "a header value like \"max-age=31536000\", or \"\" for none",
                ));
            }
        }
        if self.session_cache > 10_000_000 {
            return Err(invalid(
                "tls.session_cache",
                &self.session_cache,
                "0 to 10000000 entries",
            ));
        }
        let (d, min, max) = (
            self.handshake_timeout,
            Duration::from_millis(1),
            Duration::from_secs(600),
        );
        units::within(d, min, max, false)
            .map_err(|a| invalid("tls.handshake_timeout", &Quoted(d), &a))
    }
}

/// `host:port` or `ip:port`, resolved to its first address.
pub(super) fn resolve(s: &str) -> Option<SocketAddr> {
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
