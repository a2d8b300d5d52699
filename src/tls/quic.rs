//! The rustls config of the QUIC listener (HTTP/3): the same certificates
//! by SNI as the HTTPS listener (the same [`SniResolver`], so a reload
//! swaps both), TLS 1.3 only (RFC 9001 §4.2), ALPN `h3`, and 0-RTT only
//! when `[http3] early_data` asks for it. rustls accepts early data only
//! on stateful resumption (its session cache, where each session can be
//! resumed once: a replay of the same ClientHello to this node finds it
//! gone), so with early data on, QUIC resumes from the cache and issues
//! no stateless tickets.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{SniResolver, TlsError};
use crate::config::TlsConfig;

/// The HTTPS listener's resolver, without its ClientHello count (the
/// TLS handshake figures are TCP's; QUIC's are the HTTP/3 listener's).
#[derive(Debug)]
struct Uncounted(Arc<SniResolver>);

impl ResolvesServerCert for Uncounted {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.pick(&hello)
    }
}

/// No stateless tickets: with early data, sessions resume from the cache.
#[derive(Debug)]
struct NoTickets;

impl rustls::server::ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _plain: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _cipher: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// The rustls server config for QUIC: `resolver`'s certificates, session
/// resumption as `[tls]` sets it, and early data (0-RTT) when `early_data`
/// (then from the session cache only, which `[http3]`'s check requires).
pub fn server_config(
    resolver: &Arc<SniResolver>,
    cfg: &TlsConfig,
    early_data: bool,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Uncounted(resolver.clone())));
    super::resumption(&mut sc, cfg)?;
    if early_data {
        sc.ticketer = Arc::new(NoTickets);
        sc.send_tls13_tickets = 1;
    }
    sc.alpn_protocols = vec![b"h3".to_vec()];
    // quinn takes 0 (no early data) or the whole (RFC 9001 §4.6.1: the
    // limit of QUIC's early data is its flow control, not TLS's).
    sc.max_early_data_size = if early_data { u32::MAX } else { 0 };
    Ok(sc)
}
