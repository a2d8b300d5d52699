//! TLS handshakes: completed, failed, and resumed sessions.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::tls::TlsStats;

/// Encodes `tls_handshakes_total{result}` and `tls_sessions_resumed_total`.
pub fn encode(tls: &TlsStats, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let c = tls.counts();
    let mut handshakes = encoder.encode_descriptor(
        "tls_handshakes",
        "TLS handshakes: completed (ok), or begun with a ClientHello and not completed (failed)",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (result, n) in [("ok", c.ok), ("failed", c.failed)] {
        ConstCounter::new(n).encode(handshakes.encode_family(&[("result", result)])?)?;
    }
    let resumed = ConstCounter::new(c.resumed);
    resumed.encode(encoder.encode_descriptor(
        "tls_sessions_resumed",
        "Completed TLS handshakes that resumed a session (ticket or cache)",
        None,
        resumed.metric_type(),
    )?)?;
    Ok(())
}
