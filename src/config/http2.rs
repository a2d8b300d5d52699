//! `[http2]`: HTTP/2 over TLS (ALPN `h2`) and h2c on the plain listener,
//! and their limits. Only the schema, defaults and checks; the connections
//! are actix-http's, set up by `server::listeners`.

use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units;

/// `[http2]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Config {
    /// Accept HTTP/2 with prior knowledge (h2c) on the plain listener.
    pub h2c: bool,
    /// Requests one connection may have in flight; more get 503.
    pub max_concurrent_streams: u32,
    /// Initial flow-control window of each stream, in bytes.
    #[serde(deserialize_with = "units::size")]
    pub initial_stream_window: u32,
    /// Initial flow-control window of a connection, in bytes.
    #[serde(deserialize_with = "units::size")]
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

impl Http2Config {
    /// Checks the limits against what HTTP/2 allows.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
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
                return Err(invalid(
                    key,
                    &v,
                    "65535 to 2147483647 bytes (64 KiB - 1 to 2 GiB - 1)",
                ));
            }
        }
        Ok(())
    }
}
