//! `/metrics` (path configurable, or disabled) in the Prometheus /
//! OpenMetrics text format, encoded by `prometheus-client`.
//!
//! Per-request counters are plain atomic increments on counters resolved at
//! start (no label lookup per request); cache figures are read from the
//! edge at scrape time.

use std::sync::Arc;

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::edge::Edge;

/// The node's metrics registry and its hot counters.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests by status class, indexed by `status / 100 - 1`.
    by_class: [Counter; 5],
    bytes_sent: Counter,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: String,
}

impl Metrics {
    /// Registers every metric; cache figures are read from `edge`.
    pub fn new(edge: Arc<Edge>) -> Self {
        let mut registry = Registry::with_prefix("cdn_edge");
        let family = Family::<ClassLabel, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by status class",
            family.clone(),
        );
        let by_class = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|c| {
            family
                .get_or_create(&ClassLabel { class: c.into() })
                .clone()
        });
        let bytes_sent = Counter::default();
        registry.register(
            "http_response_body_bytes",
            "Response body bytes sent",
            bytes_sent.clone(),
        );
        registry.register_collector(Box::new(CacheCollector { edge }));
        Self {
            registry,
            by_class,
            bytes_sent,
        }
    }

    /// Counts one response. `head` responses send no body bytes.
    pub fn record(&self, status: StatusCode, body: BodySize, head: bool) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].inc();
        if let (BodySize::Sized(n), false) = (body, head) {
            self.bytes_sent.inc_by(n);
        }
    }

    /// The exposition.
    pub fn respond(&self) -> HttpResponse {
        let mut text = String::with_capacity(4096);
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return super::errors::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics encoding failed\n",
            );
        }
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

/// Reads the memory cache's figures at scrape time.
#[derive(Debug)]
struct CacheCollector {
    edge: Arc<Edge>,
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.edge.cache_stats();
        let counters = [
            (
                "memory_cache_hits",
                "Lookups answered from the memory cache",
                s.hits,
            ),
            (
                "memory_cache_misses",
                "Lookups the memory cache could not answer",
                s.misses,
            ),
            (
                "memory_cache_evictions",
                "Entries evicted to stay under cache.memory_bytes",
                s.evictions,
            ),
        ];
        for (name, help, v) in counters {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges = [
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
        for (name, help, v) in gauges {
            let g = ConstGauge::new(v as i64);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

/// The size of a response body, for [`Metrics::record`].
pub fn body_size(resp: &HttpResponse) -> BodySize {
    resp.body().size()
}
