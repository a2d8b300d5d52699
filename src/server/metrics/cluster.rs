//! The cluster's figures in `/metrics` (only with `[cluster]`): requests
//! this node served for its peers, by where the answer came from (each
//! worker counts its own, see [`answer_of`]); misses it sent to peers,
//! their failures and latency; purges fanned out; and each peer's up/down
//! state at scrape time. The owner hit ratio is
//! `served_for_peers{answer="cache"} / (served_for_peers{answer="cache"} +
//! served_for_peers{answer="origin"})`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::cluster::stats::Stats;
use crate::cluster::Cluster;
use crate::server::cache_outcome::CacheOutcome;

/// The `answer` labels of `cluster_served_for_peers`, in index order.
pub const ANSWERS: [&str; 3] = ["cache", "origin", "other"];

/// Where a peer request's answer came from, as an index of [`ANSWERS`]:
/// this node's cache (or root), the origin (fetched or revalidated now),
/// or neither (passed uncached, failed); `None` for requests no lookup
/// answered (probes, purges, refusals), which are not counted.
pub fn answer_of(cache: CacheOutcome) -> Option<usize> {
    match cache {
        CacheOutcome::None => None,
        CacheOutcome::Local | CacheOutcome::Hit | CacheOutcome::Stale | CacheOutcome::Updating => {
            Some(0)
        }
        CacheOutcome::Miss | CacheOutcome::Revalidated => Some(1),
        CacheOutcome::Pass | CacheOutcome::Error => Some(2),
    }
}

impl super::WorkerCounters {
    /// Counts a request served for a peer, by how the cache took part.
    pub fn served_peer(&self, cache: CacheOutcome) {
        if let Some(i) = answer_of(cache) {
            super::bump(&self.served_peers[i], 1);
        }
    }
}

/// Encodes the cluster's figures; `served` is the workers' sum of
/// requests served for peers, by [`ANSWERS`].
pub fn encode(
    cluster: &Cluster,
    served: [u64; 3],
    encoder: &mut DescriptorEncoder,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "cluster_served_for_peers",
        "Peer requests this node answered, by where the answer came from (cache, origin, other)",
        None,
        MetricType::Counter,
    )?;
    for (answer, n) in ANSWERS.iter().zip(served) {
        ConstCounter::new(n).encode(family.encode_family(&[("answer", *answer)])?)?;
    }
    let s = cluster.stats();
    let counters: [(&str, &str, &AtomicU64); 5] = [
        (
            "cluster_peer_requests",
            "Misses sent to a peer (the key's owner, or the next when it failed)",
            &s.peer_requests,
        ),
        (
            "cluster_peer_failures",
            "Misses sent to a peer that failed (unreachable, timeout, broken answer, refused token)",
            &s.peer_failures,
        ),
        (
            "cluster_purges_sent",
            "Purges sent to a peer that it answered",
            &s.purges_sent,
        ),
        (
            "cluster_purges_failed",
            "Purges sent to a peer that failed (kept for it)",
            &s.purges_failed,
        ),
        (
            "cluster_purges_queued",
            "Purges kept for a peer that was down or failed them",
            &s.purges_queued,
        ),
    ];
    for (name, help, c) in counters {
        let c = ConstCounter::new(Stats::get(c));
        c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
    }
    s.peer_latency.encode(encoder.encode_descriptor(
        "cluster_peer_latency_seconds",
        "Time from sending a miss to a peer to having its whole answer (answered ones)",
        None,
        s.peer_latency.metric_type(),
    )?)?;
    let pending = ConstGauge::new(cluster.pending_purges() as i64);
    pending.encode(encoder.encode_descriptor(
        "cluster_purges_pending",
        "Purge items kept for peers until they are back (a purge of everything counts one)",
        None,
        pending.metric_type(),
    )?)?;
    let mut up = encoder.encode_descriptor(
        "cluster_peer_up",
        "Whether each other peer is up (1) or marked down (0) now",
        None,
        MetricType::Gauge,
    )?;
    for (peer, is_up) in cluster.peer_states() {
        ConstGauge::new(i64::from(is_up)).encode(up.encode_family(&[("peer", peer.url())])?)?;
    }
    Ok(())
}
