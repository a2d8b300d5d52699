//! The `[limits]` table: how much of a client's request, connections and
//! patience the node takes before it refuses (431, 414, 413, 408, or a
//! closed connection). Only the schema and its checks; the server applies
//! them (`server::limits`).

use std::time::Duration;

use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units::{self, Quoted};

/// The most header fields actix-http's HTTP/1 parser takes; a request with
/// more is answered 431 (without a reason body) by the parser itself.
pub const H1_MAX_HEADERS: usize = 96;

/// The largest request head actix-http's HTTP/1 parser buffers; a larger
/// one is answered 431 (without a reason body) by the parser itself.
pub const H1_MAX_HEAD_BYTES: usize = 128 << 10;

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request head (request line and header fields): 431 beyond.
    #[serde(deserialize_with = "units::size")]
    pub max_head_bytes: usize,
    /// Longest request target (path and query): 414 beyond.
    #[serde(deserialize_with = "units::size")]
    pub max_uri_bytes: usize,
    /// Most header fields in one request: 431 beyond.
    pub max_headers: usize,
    /// Largest request body passed on to the origin: 413 beyond.
    #[serde(deserialize_with = "units::size")]
    pub max_body_bytes: u64,
    /// How long a request body may pause between two reads: 408 beyond.
    #[serde(deserialize_with = "units::duration")]
    pub body_timeout: Duration,
    /// Client connections the node holds at once (all workers, both
    /// listeners); more are closed as they arrive (HTTP/1: after a 503).
    pub max_connections: usize,
    /// How long an idle keep-alive connection is kept open (zero: no
    /// keep-alive).
    #[serde(deserialize_with = "units::duration")]
    pub keep_alive: Duration,
    /// How long a client gets to send a complete request head (after
    /// connecting, or after its keep-alive idle time): 408 or a close.
    #[serde(deserialize_with = "units::duration")]
    pub header_timeout: Duration,
    /// How long a response may wait on a client that accepts none of it
    /// (like nginx's `send_timeout`): then the client's connection is
    /// closed (HTTP/1, or an HTTP/2 connection whose socket stalled) and
    /// a streamed response's origin connection released.
    #[serde(deserialize_with = "units::duration")]
    pub send_timeout: Duration,
    /// Streamed responses (each holding an origin connection) one client
    /// connection may have in progress at once; more are answered 503.
    pub max_origin_streams_per_connection: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 << 10,
            max_uri_bytes: 8 << 10,
            max_headers: 64,
            max_body_bytes: 1 << 20,
            body_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            keep_alive: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            max_origin_streams_per_connection: 8,
        }
    }
}

impl LimitsConfig {
    /// Checks each limit against what the server can enforce.
    pub(super) fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = at(origin);
        if !(1024..=H1_MAX_HEAD_BYTES).contains(&self.max_head_bytes) {
            return Err(invalid(
                "limits.max_head_bytes",
                &self.max_head_bytes,
                "1024 to 131072 (the HTTP/1 parser's own bound)",
            ));
        }
        if !(64..=H1_MAX_HEAD_BYTES).contains(&self.max_uri_bytes) {
            return Err(invalid(
                "limits.max_uri_bytes",
                &self.max_uri_bytes,
                "64 to 131072",
            ));
        }
        if !(8..=H1_MAX_HEADERS).contains(&self.max_headers) {
            return Err(invalid(
                "limits.max_headers",
                &self.max_headers,
                "8 to 96 (the HTTP/1 parser's own bound)",
            ));
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err(invalid(
                "limits.max_connections",
                &self.max_connections,
                "1 to 1000000",
            ));
        }
        let (second, hour) = (Duration::from_secs(1), Duration::from_secs(3600));
        for (key, d, min) in [
            ("limits.body_timeout", self.body_timeout, second),
            ("limits.header_timeout", self.header_timeout, second),
            ("limits.send_timeout", self.send_timeout, second),
            ("limits.keep_alive", self.keep_alive, Duration::ZERO),
        ] {
            units::within(d, min, hour, false).map_err(|a| invalid(key, &Quoted(d), &a))?;
        }
        if !(1..=1024).contains(&self.max_origin_streams_per_connection) {
            return Err(invalid(
                "limits.max_origin_streams_per_connection",
                &self.max_origin_streams_per_connection,
                "1 to 1024",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    fn check(text: &str) -> Result<(), String> {
        let c = crate::config::Config::parse("t", text).map_err(|e| e.to_string())?;
        c.validate("t").map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_pass_and_bad_values_name_their_key() {
        assert!(check("").is_ok());
        assert!(
            check("[limits]\nmax_headers = 96\nkeep_alive = 0\nmax_head_bytes = \"32 KiB\"\n")
                .is_ok()
        );
        for (text, key) in [
            ("max_head_bytes = 200000", "limits.max_head_bytes"),
            ("max_uri_bytes = 200000", "limits.max_uri_bytes"),
            ("max_headers = 97", "limits.max_headers"),
            ("max_connections = 0", "limits.max_connections"),
            ("body_timeout = \"0s\"", "limits.body_timeout"),
            ("header_timeout = \"500ms\"", "limits.header_timeout"),
            ("send_timeout = \"2h\"", "limits.send_timeout"),
            ("send_timeout_secs = 0", "limits.send_timeout"),
            (
                "max_origin_streams_per_connection = 0",
                "limits.max_origin_streams_per_connection",
            ),
            ("keep_alive = \"4000s\"", "limits.keep_alive"),
        ] {
            let e = check(&format!("[limits]\n{text}\n")).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }
}
