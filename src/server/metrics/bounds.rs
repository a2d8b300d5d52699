//! The memory bound and the send timeout as figures: bytes reserved outside
//! the memory cache (bodies in flight and being sent, streams' buffers,
//! encodings being made), streamed responses holding an origin body, and
//! what the send timeout and the per-connection stream bound cut.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::server::limits::send::STATS;

/// Encodes the figures; `reserved`: the memory cache's reserved bytes.
pub fn encode(reserved: u64, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let gauges = [
        (
            "memory_reserved_bytes",
            "Bytes of cache.memory_bytes held outside the cache: bodies in flight or being sent, streams' buffers, encodings being made",
            reserved as i64,
        ),
        (
            "origin_streams",
            "Streamed responses holding an origin body now",
            STATS.streams.load(Ordering::Relaxed) as i64,
        ),
    ];
    for (name, help, v) in gauges {
        let g = ConstGauge::new(v);
        g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
    }
    let counters = [
        (
            "send_timeouts",
            "Connections shut and streamed origin bodies dropped after limits.send_timeout without the client taking any",
            STATS.timeouts.load(Ordering::Relaxed),
        ),
        (
            "origin_streams_refused",
            "Requests answered 503 past limits.max_origin_streams_per_connection",
            STATS.refused.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        let c = ConstCounter::new(v);
        c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
    }
    Ok(())
}
