//! The cluster's traffic counters, for `/metrics`: misses sent to peers
//! (with their failures and latency) and purges fanned out. Shared by
//! every worker, so plain atomic additions. Requests served *for* peers
//! are counted per worker by the server, with its other request counters;
//! peers' up/down state is read from `health` at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// What this node sent to its peers.
#[derive(Debug)]
pub struct Stats {
    /// Misses sent to a peer (the owner, or the next when it failed).
    pub peer_requests: AtomicU64,
    /// Of those, the ones that failed (unreachable, timeout, broken answer,
    /// refused token); each was then asked of the next peer or the origin.
    pub peer_failures: AtomicU64,
    /// Seconds from sending a miss to a peer to having its whole answer.
    pub peer_latency: Histogram,
    /// Purges sent to a peer that it answered (fan-out and deliveries of
    /// kept purges).
    pub purges_sent: AtomicU64,
    /// Purges sent to a peer that failed (then kept for it).
    pub purges_failed: AtomicU64,
    /// Purges kept for a peer that was down or failed.
    pub purges_queued: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            peer_requests: AtomicU64::new(0),
            peer_failures: AtomicU64::new(0),
            // 1 ms to ~16 s, as the origin's.
            peer_latency: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            purges_sent: AtomicU64::new(0),
            purges_failed: AtomicU64::new(0),
            purges_queued: AtomicU64::new(0),
        }
    }
}

impl Stats {
    /// Counts a miss sent to a peer that took `took` and failed or not.
    pub fn peer_request(&self, took: Duration, failed: bool) {
        self.peer_requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.peer_failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.peer_latency.observe(took.as_secs_f64());
        }
    }

    /// Adds one to a counter.
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
