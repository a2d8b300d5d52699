//! The origin, as the pull engine (`crate::pull`) talks to it: the HTTP
//! client (`client`, on hyper-util's pooled client, converting to the
//! crate's header types at its boundary) and the rules the engine applies to its answers, each a pure
//! function: `request` (what is forwarded), `filter` (a final status the
//! node never relays becomes an error), `stored` (a stored response's
//! metadata and the 304 merge), `say` (what the operator's rules say of a
//! pulled object), `decision` (store, or a `NoStore` reason),
//! `disk_meta` (the disk record's metadata), `tags` (an object's tags, for
//! purges by tag); `reachability` (the origin's
//! last word, for readiness) and `timing` (upstream time per request).
//! What may be stored and for how long is `http::freshness`'s; coalescing,
//! storing and the phases are the engine's. The map of the whole is
//! docs/architecture.md.

pub mod client;
pub(crate) mod decision;
pub mod disk_meta;
pub(crate) mod filter;
pub(crate) mod reachability;
pub(crate) mod request;
pub(crate) mod say;
pub(crate) mod stored;
pub mod tags;
pub(crate) mod timing;

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::http::freshness::NoStore;

/// Counters of the node's traffic with its origin, for `/metrics`.
#[derive(Debug)]
pub struct OriginStats {
    /// Requests sent to the origin.
    pub requests: AtomicU64,
    /// Requests that failed (unreachable, timeout, broken body).
    pub failures: AtomicU64,
    /// Revalidations answered 304 (stored copy still good).
    pub revalidated_304: AtomicU64,
    /// Revalidations answered with a new body.
    pub revalidated_200: AtomicU64,
    /// Stale copies served (the origin failed, the client's max-stale, or
    /// while revalidating).
    pub stale_served: AtomicU64,
    /// Stale copies that stood in for a failed fetch, by how it failed
    /// (in the order of `lookup::Trouble::LABELS`).
    pub stale_on_error: [AtomicU64; 4],
    /// Requests that waited for another request's fetch instead of fetching.
    pub coalesced_waiters: AtomicU64,
    /// Seconds from sending a request to having the whole response.
    pub latency: Histogram,
    /// Origin responses not stored, by reason (in the order of `NoStore::ALL`).
    pub not_stored: [AtomicU64; NoStore::ALL.len()],
    /// Whether the origin answered lately, for readiness.
    pub reach: reachability::Reachability,
}

impl Default for OriginStats {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            revalidated_304: AtomicU64::new(0),
            revalidated_200: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            stale_on_error: std::array::from_fn(|_| AtomicU64::new(0)),
            coalesced_waiters: AtomicU64::new(0),
            // 1 ms to ~16 s.
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            not_stored: std::array::from_fn(|_| AtomicU64::new(0)),
            reach: Default::default(),
        }
    }
}

impl OriginStats {
    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl OriginStats {
    /// Counts a response not stored for `reason`.
    pub fn not_stored(&self, reason: NoStore) {
        if let Some(i) = NoStore::ALL.iter().position(|r| *r == reason) {
            Self::bump(&self.not_stored[i]);
        }
    }
}
