//! The certificate resolver rustls asks on every ClientHello: it picks by
//! SNI from a [`CertSet`] held in an `ArcSwap`, so [`SniResolver::reload`]
//! swaps every certificate at once, without a lock on the handshake path
//! and without touching connections already established.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{load, CertSet, TlsError, TlsStats};
use crate::config::TlsConfig;

/// Certificates by SNI, replaceable while serving.
#[derive(Debug)]
pub struct SniResolver {
    certs: ArcSwap<CertSet>,
    stats: Arc<TlsStats>,
}

impl SniResolver {
    /// A resolver serving `certs`, counting ClientHellos into `stats`.
    pub fn new(certs: CertSet, stats: Arc<TlsStats>) -> Self {
        Self {
            certs: ArcSwap::from_pointee(certs),
            stats,
        }
    }

    /// Re-reads the certificates `cfg` names and, only if all of them are
    /// good, serves them from the next handshake on. On an error the ones
    /// in use stay. Reads files: call it off the worker threads.
    pub fn reload(&self, cfg: &TlsConfig) -> Result<(), TlsError> {
        self.replace(load(cfg)?);
        Ok(())
    }

    /// Serves `certs` (already loaded and checked by [`load`]) from the
    /// next handshake on.
    pub fn replace(&self, certs: CertSet) {
        self.certs.store(Arc::new(certs));
    }

    /// The certificates in use.
    pub fn current(&self) -> Arc<CertSet> {
        self.certs.load_full()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.stats.hello();
        self.pick(&hello)
    }
}

impl SniResolver {
    /// The certificate for `hello`'s SNI name (uncounted: QUIC handshakes
    /// are counted by the HTTP/3 listener).
    pub fn pick(&self, hello: &ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.certs.load();
        match hello.server_name() {
            Some(n) if n.bytes().any(|b| b.is_ascii_uppercase()) => {
                certs.pick(Some(&n.to_ascii_lowercase()))
            }
            n => certs.pick(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &std::path::Path, stem: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert, c.cert.pem()).unwrap();
        std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn reload_swaps_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = write_pair(dir.path(), "one");
        let mut cfg = TlsConfig {
            listen: Some("127.0.0.1:0".into()),
            cert: Some(cert),
            key: Some(key),
            ..Default::default()
        };
        let r = SniResolver::new(load(&cfg).unwrap(), Arc::default());
        let leaf = |r: &SniResolver| r.current().pick(Some("localhost")).unwrap().cert[0].clone();
        let first = leaf(&r);
        let (cert, key) = write_pair(dir.path(), "two");
        cfg.cert = Some(cert);
        cfg.key = Some(key);
        r.reload(&cfg).unwrap();
        let second = leaf(&r);
        assert_ne!(first, second);
        cfg.key = Some(dir.path().join("missing.key"));
        let e = r.reload(&cfg).unwrap_err().to_string();
        assert!(
            e.starts_with("tls.key ") && e.contains("missing.key"),
            "{e}"
        );
        assert_eq!(leaf(&r), second, "a failed reload keeps what serves");
    }
}
