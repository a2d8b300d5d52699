//! The QUIC settings of the listener: its TLS (`tls::quic`), transport
//! limits from `[http3]`, and address validation. One config is built at
//! start and shared by every worker's endpoint, so a Retry token or a
//! stateless reset made by one worker is good at every other.

use std::sync::Arc;

use quinn::crypto::rustls::QuicServerConfig;
use quinn::{EndpointConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt};

use crate::config::Http3Config;

/// Unidirectional streams a client may open: HTTP/3 needs three (control,
/// QPACK encoder and decoder, RFC 9114 §6.2); the rest is for reserved
/// (grease) stream types clients send.
const UNI_STREAMS: u32 = 8;
/// Flow-control window of one request body (what the client may send
/// before the node reads it).
const STREAM_WINDOW: u32 = 256 << 10;
/// Flow-control window of all of a connection's request bodies.
const CONNECTION_WINDOW: u32 = 1 << 20;
/// Response bytes a connection may have unacknowledged or queued in quinn:
/// what it holds of bodies in flight, beside the cache (see
/// docs/operations/http3.md).
pub const SEND_WINDOW: u64 = 1 << 20;
/// A Retry token is good for this long.
const RETRY_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15);

/// The endpoint and server configs for `cfg`, with `tls` (built by
/// `tls::quic::server_config`).
pub fn configs(
    cfg: &Http3Config,
    tls: rustls::ServerConfig,
) -> Result<(EndpointConfig, ServerConfig), String> {
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut transport = TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(cfg.max_concurrent_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(UNI_STREAMS))
        .max_idle_timeout(Some(
            IdleTimeout::try_from(cfg.idle_timeout).map_err(|e| e.to_string())?,
        ))
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .receive_window(VarInt::from_u32(CONNECTION_WINDOW))
        .send_window(SEND_WINDOW)
        // The client keeps its connection alive if it wants to; the node
        // does not spend packets on idle clients.
        .keep_alive_interval(None);
    let mut server = ServerConfig::with_crypto(Arc::new(crypto));
    server
        .transport_config(Arc::new(transport))
        .retry_token_lifetime(RETRY_TOKEN_LIFETIME)
        // A client that moves to a new address may reach another worker's
        // socket (`socket`), which does not know its connection: it must
        // not try (RFC 9000 §18.2 `disable_active_migration`).
        .migration(false);
    Ok((EndpointConfig::default(), server))
}
