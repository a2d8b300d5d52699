//! The node's plain counters and gauges, read at scrape time and encoded
//! alike: HTTP/2 streams refused, bytes sent, the memory and disk caches,
//! the access log, the origin (with its not-stored reasons and latency).
//! Not here: the families with labels of their own (`super`, `cluster`,
//! `tls`, `faults`, `bounds`, `latency`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::WorkerCounters;
use crate::edge::CacheStats;
use crate::origin::OriginStats;
use crate::server::access_log::LogStats;

/// One figure: its name, its help text and its value.
type Figure = (&'static str, &'static str, u64);

/// A sum over the workers of one of their counters.
type Sum<'a> = dyn Fn(&dyn Fn(&WorkerCounters) -> &AtomicU64) -> u64 + 'a;

/// The counters and gauges of one scrape, in the order they are encoded.
pub(super) struct Figures {
    counters: Vec<Figure>,
    gauges: Vec<Figure>,
}

impl Figures {
    /// The workers' own figures (`sum` adds one up over them) and the
    /// memory cache's (`s`).
    pub(super) fn of_workers(sum: &Sum<'_>, s: &CacheStats) -> Self {
        let counters = vec![
            (
                "http2_refused_streams",
                "HTTP/2 streams answered 503 past http2.max_concurrent_streams",
                sum(&|w| &w.refused_streams),
            ),
            (
                "http_response_body_bytes",
                "Response body bytes sent",
                sum(&|w| &w.bytes_sent),
            ),
            (
                "memory_cache_hits",
                "Lookups answered from the memory cache",
                sum(&|w| &w.hits),
            ),
            (
                "memory_cache_misses",
                "Lookups the memory cache could not answer",
                sum(&|w| &w.misses),
            ),
            (
                "memory_cache_evictions",
                "Entries evicted to stay under cache.memory_bytes",
                s.evictions,
            ),
        ];
        let gauges = vec![
            (
                "memory_cache_bytes",
                "Bytes held by the memory cache (bodies plus per-entry overhead)",
                s.bytes,
            ),
            (
                "memory_cache_objects",
                "Assets held by the memory cache",
                s.objects,
            ),
        ];
        Self { counters, gauges }
    }

    /// The access log's lines (0 while it has none).
    pub(super) fn add_log(&mut self, log: Option<&LogStats>) {
        let load = |f: fn(&LogStats) -> &AtomicU64| log.map_or(0, |l| f(l).load(Ordering::Relaxed));
        self.counters.extend([
            (
                "access_log_lines",
                "Access log lines written",
                load(|l| &l.written),
            ),
            (
                "access_log_dropped_lines",
                "Access log lines lost: the writer fell behind, or a write failed",
                load(|l| &l.dropped),
            ),
        ]);
    }

    /// The origin's traffic.
    pub(super) fn add_origin(&mut self, o: &OriginStats) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.counters.extend([
            (
                "origin_requests",
                "Requests sent to the origin",
                load(&o.requests),
            ),
            (
                "origin_failures",
                "Origin requests that failed (unreachable, timeout, broken body)",
                load(&o.failures),
            ),
            (
                "origin_revalidated_not_modified",
                "Revalidations the origin answered 304",
                load(&o.revalidated_304),
            ),
            (
                "origin_revalidated_changed",
                "Revalidations the origin answered with a new body",
                load(&o.revalidated_200),
            ),
            (
                "stale_served",
                "Stale copies served (origin failed, or while revalidating in the background)",
                load(&o.stale_served),
            ),
            (
                "coalesced_waiters",
                "Requests that waited for another request's origin fetch",
                load(&o.coalesced_waiters),
            ),
        ]);
    }

    /// The disk cache's size: bytes, objects and evictions.
    pub(super) fn add_disk(&mut self, (bytes, objects, evictions): (u64, u64, u64)) {
        self.counters.push((
            "disk_cache_evictions",
            "Disk cache entries evicted to stay under cache.disk_bytes",
            evictions,
        ));
        self.gauges
            .push(("disk_cache_bytes", "Bytes held by the disk cache", bytes));
        self.gauges.push((
            "disk_cache_objects",
            "Objects held by the disk cache",
            objects,
        ));
    }

    /// Encodes every figure: the counters, then the gauges.
    pub(super) fn encode(self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, v) in self.counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        for (name, help, v) in self.gauges {
            let g = ConstGauge::new(v as i64);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// The origin's responses not stored, by reason, and its latency.
pub(super) fn encode_origin(
    o: &OriginStats,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut not_stored = encoder.encode_descriptor(
        "origin_not_stored",
        "Origin responses not stored, by reason",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (reason, n) in crate::http::freshness::NoStore::ALL
        .iter()
        .zip(o.not_stored.iter())
    {
        let c = ConstCounter::new(n.load(Ordering::Relaxed));
        c.encode(not_stored.encode_family(&[("reason", reason.as_str())])?)?;
    }
    let mut on_error = encoder.encode_descriptor(
        "stale_if_error",
        "Stale copies that answered for a failed origin fetch, by how it failed",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (trouble, n) in crate::lookup::Trouble::LABELS
        .iter()
        .zip(o.stale_on_error.iter())
    {
        let c = ConstCounter::new(n.load(Ordering::Relaxed));
        c.encode(on_error.encode_family(&[("trouble", *trouble)])?)?;
    }
    o.latency.encode(encoder.encode_descriptor(
        "origin_latency_seconds",
        "Time from sending an origin request to having the whole response",
        None,
        o.latency.metric_type(),
    )?)?;
    Ok(())
}
