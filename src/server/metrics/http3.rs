//! The QUIC listener (HTTP/3): whether it is up, its handshakes, its open
//! connections, and the clients it asked to validate their address or
//! refused. Its requests are counted with every other request's
//! (`http_requests_by_version{version="3"}`).

use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::server::h3::Figures;

/// Encodes the `http3_*` families.
pub fn encode(f: &Figures, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut handshakes = encoder.encode_descriptor(
        "http3_handshakes",
        "QUIC handshakes: completed (ok), failed or timed out (failed), answered with a Retry \
         to validate the client's address (retry), refused at limits.max_connections (refused)",
        None,
        MetricType::Counter,
    )?;
    for (result, v) in [
        ("ok", n(&f.handshakes)),
        ("failed", n(&f.failed)),
        ("retry", n(&f.retries)),
        ("refused", n(&f.refused)),
    ] {
        ConstCounter::new(v).encode(handshakes.encode_family(&[("result", result)])?)?;
    }
    let open = ConstGauge::new(f.open.load(Ordering::Relaxed) as i64);
    open.encode(encoder.encode_descriptor(
        "http3_connections",
        "QUIC connections open (handshake done); they count in limits.max_connections",
        None,
        open.metric_type(),
    )?)?;
    let up = ConstGauge::new(i64::from(f.up.load(Ordering::Relaxed)));
    up.encode(encoder.encode_descriptor(
        "http3_up",
        "1 while the QUIC listener serves (and Alt-Svc advertises it), else 0",
        None,
        up.metric_type(),
    )?)?;
    let stalled = ConstCounter::new(n(&f.stalled));
    stalled.encode(encoder.encode_descriptor(
        "http3_send_timeouts",
        "HTTP/3 responses reset because the client took nothing for limits.send_timeout",
        None,
        stalled.metric_type(),
    )?)?;
    Ok(())
}
