//! `[http3]`: HTTP/3 on a QUIC (UDP) listener beside the HTTPS one, with
//! `[tls]`'s certificates. Only the schema, defaults and checks; the
//! listener is `server::h3`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::error::{at, ConfigError};
use super::units;

/// `[http3]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http3Config {
    /// UDP address of the QUIC listener (`"0.0.0.0:443"`); `None` (`""`):
    /// no HTTP/3.
    #[serde(deserialize_with = "units::non_empty")]
    pub listen: Option<String>,
    /// `ma` of the `Alt-Svc` field advertising HTTP/3 on HTTPS responses;
    /// 0: not advertised (clients must be told some other way).
    #[serde(deserialize_with = "units::duration")]
    pub alt_svc_max_age: Duration,
    /// Requests one connection may have open at once (QUIC's
    /// `initial_max_streams_bidi`: the client cannot open more).
    pub max_concurrent_streams: u32,
    /// A connection with no packet for this long is closed.
    #[serde(deserialize_with = "units::duration")]
    pub idle_timeout: Duration,
    /// Accept requests in 0-RTT data (TLS early data) from resuming
    /// clients: GET and HEAD only; others wait for the handshake.
    pub early_data: bool,
    /// New clients must prove their address (a Retry round trip) while
    /// more than this many handshakes are in progress; 0: always.
    pub retry_above_handshakes: u32,
}

impl Default for Http3Config {
    fn default() -> Self {
        Self {
            listen: None,
            alt_svc_max_age: Duration::from_secs(86_400),
            max_concurrent_streams: 100,
            idle_timeout: Duration::from_secs(30),
            early_data: false,
            retry_above_handshakes: 64,
        }
    }
}

/// The longest idle timeout QUIC transport parameters carry comfortably.
const MAX_IDLE: Duration = Duration::from_secs(600);

impl Http3Config {
    /// Whether the QUIC listener is configured.
    pub fn enabled(&self) -> bool {
        self.listen.is_some()
    }

    /// The listen address, resolved.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        super::tls::resolve(self.listen.as_deref()?)
    }

    /// Checks the values; `tls` says whether `[tls]` is on (HTTP/3 uses
    /// its certificates).
    pub(super) fn validate(
        &self,
        origin: &str,
        tls: bool,
        session_cache: usize,
    ) -> Result<(), ConfigError> {
        let invalid = at(origin);
        let Some(listen) = &self.listen else {
            return Ok(());
        };
        if self.listen_addr().is_none() {
            return Err(invalid(
                "http3.listen",
                listen,
                "a UDP address like \"0.0.0.0:443\" or \"localhost:8443\"",
            ));
        }
        if !tls {
            return Err(invalid(
                "http3.listen",
                listen,
                "\"\" without [tls]: HTTP/3 serves the certificates of tls.cert or [[tls.certificates]], so set tls.listen too",
            ));
        }
        if self.early_data && session_cache == 0 {
            return Err(invalid(
                "http3.early_data",
                &true,
                "false while tls.session_cache = 0: 0-RTT resumes from the session cache (single use, against replay)",
            ));
        }
        if !(1..=10_000).contains(&self.max_concurrent_streams) {
            return Err(invalid(
                "http3.max_concurrent_streams",
                &self.max_concurrent_streams,
                "1 to 10000",
            ));
        }
        if !(Duration::from_secs(1)..=MAX_IDLE).contains(&self.idle_timeout) {
            return Err(invalid(
                "http3.idle_timeout",
                &units::show_duration(self.idle_timeout),
                "1s to 10m",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn check(text: &str) -> Result<(), String> {
        let c = Config::parse("t", text).map_err(|e| e.to_string())?;
        c.validate("t").map_err(|e| e.to_string())
    }

    const TLS: &str =
        "[server]\nroot = \".\"\n[tls]\nlisten = \"127.0.0.1:0\"\ncert = \"c\"\nkey = \"k\"\n";

    #[test]
    fn http3_needs_tls_and_sane_limits() {
        let e = check("[server]\nroot = \".\"\n[http3]\nlisten = \"127.0.0.1:0\"\n").unwrap_err();
        assert!(e.contains("http3.listen") && e.contains("[tls]"), "{e}");
        check(&format!("{TLS}[http3]\nlisten = \"127.0.0.1:0\"\n")).unwrap();
        let e = check(&format!("{TLS}[http3]\nlisten = \"no port\"\n")).unwrap_err();
        assert!(e.contains("http3.listen"), "{e}");
        let e = check(&format!(
            "{TLS}[http3]\nlisten = \"127.0.0.1:0\"\nmax_concurrent_streams = 0\n"
        ))
        .unwrap_err();
        assert!(e.contains("http3.max_concurrent_streams"), "{e}");
        let e = check(&format!(
            "{TLS}[http3]\nlisten = \"127.0.0.1:0\"\nidle_timeout = \"1h\"\n"
        ))
        .unwrap_err();
        assert!(e.contains("http3.idle_timeout"), "{e}");
        let e = check(&format!(
            "{TLS}session_cache = 0\n[http3]\nlisten = \"127.0.0.1:0\"\nearly_data = true\n"
        ))
        .unwrap_err();
        assert!(e.contains("http3.early_data"), "{e}");
        // Off by default, whatever else is set.
        check("[server]\nroot = \".\"\n[http3]\nidle_timeout = \"5s\"\n").unwrap();
    }
}
