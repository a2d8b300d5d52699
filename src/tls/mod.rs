//! TLS for the HTTPS listener, with rustls: reading and checking the
//! `[tls]` certificates and keys ([`load`], usable without binding anything,
//! e.g. by a config check), the SNI certificate resolver that can swap them
//! live ([`SniResolver::reload`]), the rustls `ServerConfig` (TLS 1.2 and
//! 1.3 only, session tickets and a session cache), and the handshake counters.
//!
//! Not here: the listener itself and ALPN (`server::listeners` binds and
//! offers `h2` and `http/1.1`), HSTS and the plain-to-HTTPS redirect
//! (`server::https`).
//!
//! Reading and checking the files is `certs`; the resolver is `resolver`.

mod certs;
pub mod quic;
mod resolver;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache};

pub use certs::{load, CertSet};
pub use resolver::SniResolver;

use crate::config::TlsConfig;

/// A certificate or key that cannot be used: the config key, the file and
/// why, in one line.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file named by the config is missing, unreadable or not usable.
    #[error("{key} {}: {reason}", path.display())]
    File {
        /// The config key naming the file (`tls.cert`, `tls.certificates[1].key`).
        key: String,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("tls")]
    Rustls(#[from] rustls::Error),
}

/// Handshake counters, shared by every worker (one atomic add per
/// handshake, which costs far less than the handshake itself).
#[derive(Debug, Default)]
pub struct TlsStats {
    /// ClientHellos that reached certificate selection.
    hellos: AtomicU64,
    /// Handshakes completed with a full key exchange.
    full: AtomicU64,
    /// Handshakes completed by resuming an earlier session.
    resumed: AtomicU64,
}

/// A snapshot of [`TlsStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeCounts {
    /// Completed handshakes.
    pub ok: u64,
    /// Of those, resumed sessions.
    pub resumed: u64,
    /// Handshakes begun (a ClientHello was read) that did not complete: a
    /// handshake still in flight counts here until it finishes.
    pub failed: u64,
}

impl TlsStats {
    /// Counts a ClientHello.
    fn hello(&self) {
        self.hellos.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a completed handshake.
    pub fn completed(&self, resumed: bool) {
        let c = if resumed { &self.resumed } else { &self.full };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> HandshakeCounts {
        let resumed = self.resumed.load(Ordering::Relaxed);
        let ok = self.full.load(Ordering::Relaxed) + resumed;
        let hellos = self.hellos.load(Ordering::Relaxed);
        HandshakeCounts {
            ok,
            resumed,
            failed: hellos.saturating_sub(ok),
        }
    }
}

/// Session resumption as `[tls]` sets it: the session cache, tickets.
fn resumption(sc: &mut rustls::ServerConfig, cfg: &TlsConfig) -> Result<(), TlsError> {
    sc.session_storage = if cfg.session_cache > 0 {
        ServerSessionMemoryCache::new(cfg.session_cache)
    } else {
        Arc::new(NoServerSessionStorage {})
    };
    if cfg.tickets {
        sc.ticketer = rustls::crypto::ring::Ticketer::new()?;
    }
    // One ticket per TLS 1.3 handshake (rustls sends 2 by default): a
    // browser resumes with one, and each costs an encryption and bytes.
    sc.send_tls13_tickets = usize::from(cfg.tickets || cfg.session_cache > 0);
    Ok(())
}

/// The TLS side of a node: the live certificates and the rustls config
/// built around them.
pub struct Tls {
    /// The certificates, swappable by [`SniResolver::reload`].
    pub resolver: Arc<SniResolver>,
    /// Handshake counters.
    pub stats: Arc<TlsStats>,
    /// The rustls server config handed to the listener.
    pub server_config: rustls::ServerConfig,
}

impl Tls {
    /// Loads the certificates and builds the server config: TLS 1.3 and
    /// 1.2 with rustls' ring provider, certificates by SNI, tickets and the
    /// session cache as configured. ALPN is left to the listener.
    pub fn new(cfg: &TlsConfig) -> Result<Tls, TlsError> {
        let stats = Arc::new(TlsStats::default());
        let resolver = Arc::new(SniResolver::new(load(cfg)?, stats.clone()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut sc = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        resumption(&mut sc, cfg)?;
        Ok(Tls {
            resolver,
            stats,
            server_config: sc,
        })
    }
}
