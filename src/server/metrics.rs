//! `/metrics` (path configurable, or disabled) in the Prometheus /
//! OpenMetrics text format, encoded by `prometheus-client`.
//!
//! Each worker thread counts into its own [`WorkerCounters`] (plain relaxed
//! atomics on a cache line of their own), so the hot path never writes a
//! line another core is writing; a scrape sums the workers and reads the
//! cache's size from the edge. The request-duration histogram is `latency`;
//! `process_*` and build info are `process`. A scrape is encoded on the
//! blocking pool (it reads `/proc`).
//!
//! The families with labels of their own are in files of their own:
//! `tls` (handshakes), `http3` (the QUIC listener), `cluster` (peers), `faults` (what the node survived),
//! `bounds` (the memory bound and the send timeout), `purges` (purges
//! carried out, the tag indexes); the plain counters and gauges are
//! `figures`.

mod bounds;
mod cluster;
mod faults;
mod figures;
mod http3;
mod latency;
mod process;
pub mod purges;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{StatusCode, Version};
use actix_web::HttpResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use arc_swap::ArcSwap;

use super::access_log::LogStats;
use super::cache_outcome::CacheOutcome;
use super::live::Live;
use crate::asset::Coding;
use crate::cluster::Cluster;
use crate::tls::TlsStats;

/// The `version` labels of [`WorkerCounters::version`], in index order.
const VERSIONS: [&str; 4] = ["1.0", "1.1", "2", "3"];

/// The `encoding` labels of the responses' codings: identity, each of
/// `Coding::ENCODINGS` and `Coding::DELTAS` by its token, and `other` (an
/// origin's own coding passed through, or a list of several).
const ENCODING_LABELS: usize = Coding::ENCODINGS.len() + Coding::DELTAS.len() + 2;

/// The codings with a slot of their own, in slot order (slot 0 is identity).
fn coded(i: usize) -> Option<Coding> {
    Coding::ENCODINGS
        .iter()
        .chain(Coding::DELTAS.iter())
        .nth(i.checked_sub(1)?)
        .copied()
}

/// The `encoding` label of slot `i` (see [`encoding_slot`]).
fn encoding_label(i: usize) -> &'static str {
    match i {
        0 => Coding::Identity.token(),
        i => coded(i).map_or("other", Coding::token),
    }
}

/// The slot of a response's `Content-Encoding` in the counters by coding.
fn encoding_slot(value: Option<&HeaderValue>) -> usize {
    let Some(v) = value else { return 0 };
    let coding = v.to_str().ok().and_then(|t| Coding::from_token(t.trim()));
    match coding {
        Some(Coding::Identity) => 0,
        Some(c) => (1..ENCODING_LABELS - 1)
            .find(|&i| coded(i) == Some(c))
            .unwrap_or(ENCODING_LABELS - 1),
        None => ENCODING_LABELS - 1,
    }
}

/// One worker's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerCounters {
    /// Requests by status class, indexed by `status / 100 - 1`.
    by_class: [AtomicU64; 5],
    bytes_sent: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    durations: latency::Durations,
    /// Requests by HTTP version, indexed as [`VERSIONS`].
    by_version: [AtomicU64; 4],
    /// HTTP/2 streams answered 503 past `http2.max_concurrent_streams`.
    refused_streams: AtomicU64,
    /// Requests served for peers, indexed as [`cluster::ANSWERS`].
    served_peers: [AtomicU64; 3],
    /// Responses by the coding they were sent in, indexed as
    /// [`encoding_label`].
    by_encoding: [AtomicU64; ENCODING_LABELS],
    /// Body bytes sent, by the coding of the response.
    bytes_by_encoding: [AtomicU64; ENCODING_LABELS],
}

impl WorkerCounters {
    /// Counts one response that took `took` to produce: by status class,
    /// by its coding (its `Content-Encoding`), and its body bytes. `head`
    /// responses send no body bytes.
    pub fn record(
        &self,
        resp: &HttpResponse,
        head: bool,
        cache: CacheOutcome,
        took: std::time::Duration,
    ) {
        let class = (resp.status().as_u16() / 100).clamp(1, 5) as usize - 1;
        bump(&self.by_class[class], 1);
        let coding = encoding_slot(resp.headers().get(header::CONTENT_ENCODING));
        bump(&self.by_encoding[coding], 1);
        if let (BodySize::Sized(n), false) = (resp.body().size(), head) {
            bump(&self.bytes_sent, n);
            bump(&self.bytes_by_encoding[coding], n);
        }
        self.durations.observe(class, cache, took);
    }

    /// Counts a request by its HTTP version (HTTP/2 and HTTP/3 requests
    /// are streams).
    pub fn version(&self, v: Version) {
        let i = match v {
            Version::HTTP_2 => 2,
            Version::HTTP_3 => 3,
            Version::HTTP_10 | Version::HTTP_09 => 0,
            _ => 1,
        };
        bump(&self.by_version[i], 1);
    }

    /// Counts a stream refused past the connection's concurrency bound.
    pub fn refused_stream(&self) {
        bump(&self.refused_streams, 1);
    }

    /// Counts a lookup answered from (or missing) the memory cache.
    pub fn lookup(&self, from_memory: bool) {
        bump(
            if from_memory {
                &self.hits
            } else {
                &self.misses
            },
            1,
        );
    }
}

/// Only the owning worker writes its counters, so a load and a store are
/// enough (no locked read-modify-write).
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// The node's metrics: every worker's counters and the edge's cache figures.
#[derive(Debug)]
pub struct Metrics {
    registry: Arc<Registry>,
    workers: Arc<Mutex<Vec<Arc<WorkerCounters>>>>,
    faults: Arc<faults::Faults>,
    purges: Arc<purges::PurgeStats>,
}

impl Metrics {
    /// Registers the collectors; cache figures are read from the edge
    /// `live` holds at scrape time, handshake counts from `tls` when there
    /// is an HTTPS listener, the access log's from `log` when it is on,
    /// the cluster's from `cluster` with `[cluster]`, the QUIC listener's
    /// from `http3` with `[http3]`.
    pub fn new(
        live: Arc<ArcSwap<Live>>,
        tls: Option<Arc<TlsStats>>,
        log: Option<Arc<LogStats>>,
        cluster: Option<Arc<Cluster>>,
        http3: Option<Arc<super::h3::Shared>>,
    ) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(process::ProcessCollector));
        let workers = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(faults::Faults::default());
        let purges = Arc::new(purges::PurgeStats::default());
        registry
            .sub_registry_with_prefix("cdn_edge")
            .register_collector(Box::new(NodeCollector {
                live,
                workers: workers.clone(),
                tls,
                log,
                cluster,
                http3,
                faults: faults.clone(),
                purges: purges.clone(),
            }));
        Self {
            registry: Arc::new(registry),
            workers,
            faults,
            purges,
        }
    }

    /// The purge counters.
    pub fn purges(&self) -> &purges::PurgeStats {
        &self.purges
    }

    /// The fault counters (panics caught).
    pub fn faults(&self) -> &faults::Faults {
        &self.faults
    }

    /// Counters for a new worker thread.
    pub fn worker(&self) -> Arc<WorkerCounters> {
        let w = Arc::new(WorkerCounters::default());
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(w.clone());
        w
    }

    /// The exposition, encoded on the blocking pool.
    pub async fn respond(&self) -> HttpResponse {
        let registry = self.registry.clone();
        let encoded = actix_web::web::block(move || {
            let mut text = String::with_capacity(8192);
            prometheus_client::encoding::text::encode(&mut text, &registry).map(|()| text)
        })
        .await;
        let Ok(Ok(text)) = encoded else {
            return super::errors::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics encoding failed\n",
            );
        };
        HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            ))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .body(text)
    }
}

/// Sums the workers' counters and reads the cache at scrape time.
struct NodeCollector {
    live: Arc<ArcSwap<Live>>,
    workers: Arc<Mutex<Vec<Arc<WorkerCounters>>>>,
    tls: Option<Arc<TlsStats>>,
    log: Option<Arc<LogStats>>,
    cluster: Option<Arc<Cluster>>,
    http3: Option<Arc<super::h3::Shared>>,
    faults: Arc<faults::Faults>,
    purges: Arc<purges::PurgeStats>,
}

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCollector").finish_non_exhaustive()
    }
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let workers = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let sum = |f: &dyn Fn(&WorkerCounters) -> &AtomicU64| -> u64 {
            workers.iter().map(|w| f(w).load(Ordering::Relaxed)).sum()
        };

        encode_requests(&workers, &mut encoder)?;
        if let Some(t) = &self.tls {
            tls::encode(t, &mut encoder)?;
        }
        if let Some(h) = &self.http3 {
            http3::encode(&h.figures, &mut encoder)?;
        }
        if let Some(c) = &self.cluster {
            let served = std::array::from_fn(|i| sum(&|w| &w.served_peers[i]));
            cluster::encode(c, served, &mut encoder)?;
        }
        let durations: Vec<&latency::Durations> = workers.iter().map(|w| &w.durations).collect();
        latency::encode(&durations, &mut encoder)?;
        process::encode_build_info(&mut encoder)?;

        // Every other figure: plain counters and gauges, encoded alike.
        let edge = self.live.load().edge.clone();
        let s = edge.cache_stats();
        let origin = edge.origin_stats();
        let mut figures = figures::Figures::of_workers(&sum, &s);
        figures.add_log(self.log.as_deref());
        if let Some(o) = &origin {
            figures.add_origin(o);
        }
        if let Some(usage) = edge.disk_usage() {
            figures.add_disk(usage);
        }
        figures.encode(&mut encoder)?;
        let disk = edge.disk_write_errors().zip(edge.disk_bad_entries()).map(
            |(write_errors, bad_entries)| faults::DiskFaults {
                write_errors,
                bad_entries,
            },
        );
        faults::encode(&self.faults, disk, &mut encoder)?;
        bounds::encode(s.reserved, &mut encoder)?;
        purges::encode(&self.purges, edge.tag_usage(), &mut encoder)?;
        if let Some(o) = &origin {
            figures::encode_origin(o, &mut encoder)?;
        }
        Ok(())
    }
}

/// Requests answered, by status class and by HTTP version, summed over
/// the workers.
fn encode_requests(
    workers: &[Arc<WorkerCounters>],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let sum = |f: &dyn Fn(&WorkerCounters) -> &AtomicU64| -> u64 {
        workers.iter().map(|w| f(w).load(Ordering::Relaxed)).sum()
    };
    let mut requests = encoder.encode_descriptor(
        "http_requests",
        "Requests answered, by status class",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
        let n = sum(&|w| &w.by_class[i]);
        ConstCounter::new(n).encode(requests.encode_family(&[("class", *class)])?)?;
    }
    let mut by_version = encoder.encode_descriptor(
        "http_requests_by_version",
        "Requests answered, by HTTP version (HTTP/2: one per stream)",
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (i, v) in VERSIONS.iter().enumerate() {
        let n = sum(&|w| &w.by_version[i]);
        ConstCounter::new(n).encode(by_version.encode_family(&[("version", *v)])?)?;
    }
    for (name, help, cells) in [
        (
            "http_responses_by_encoding",
            "Responses answered, by the content coding sent (Content-Encoding; identity: none)",
            (|w| &w.by_encoding) as fn(&WorkerCounters) -> &[AtomicU64; ENCODING_LABELS],
        ),
        (
            "http_response_body_bytes_by_encoding",
            "Response body bytes sent, by the content coding of the response",
            |w| &w.bytes_by_encoding,
        ),
    ] {
        let mut family = encoder.encode_descriptor(
            name,
            help,
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for i in 0..ENCODING_LABELS {
            let n = sum(&|w| &cells(w)[i]);
            let label = [("encoding", encoding_label(i))];
            ConstCounter::new(n).encode(family.encode_family(&label)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_coding_has_its_label_and_others_share_one() {
        let slot =
            |v: Option<&'static str>| encoding_slot(v.map(HeaderValue::from_static).as_ref());
        let label = |v| encoding_label(slot(v));
        assert_eq!(label(None), "identity");
        assert_eq!(label(Some("br")), "br");
        assert_eq!(label(Some("zstd")), "zstd");
        assert_eq!(label(Some("gzip")), "gzip");
        assert_eq!(label(Some("identity")), "identity");
        assert_eq!(label(Some("deflate")), "other");
        assert_eq!(label(Some("gzip, br")), "other");
        let labels: std::collections::HashSet<_> =
            (0..ENCODING_LABELS).map(encoding_label).collect();
        assert_eq!(labels.len(), ENCODING_LABELS);
    }
}
