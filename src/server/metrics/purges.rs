//! Purges this node carried out (a client's, or a peer's sent on to it),
//! by what they named (`kind`: path, prefix, tag) and how (`mode`: hard
//! drops, soft makes stale), with the objects they named; and the tag
//! indexes' sizes (memory: inside `cache.memory_bytes`; disk: the disk
//! index's tags), read from the edge at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// The `kind` labels, in index order.
pub const KINDS: [&str; 3] = ["path", "prefix", "tag"];

/// The `mode` labels, in index order.
pub const MODES: [&str; 2] = ["hard", "soft"];

/// Purge counts, shared by every worker (purges are rare: atomics).
#[derive(Debug, Default)]
pub struct PurgeStats {
    /// Items purged, by kind then mode.
    items: [[AtomicU64; 2]; 3],
    /// Objects they named, by kind then mode.
    objects: [[AtomicU64; 2]; 3],
}

impl PurgeStats {
    /// Counts one item of `kind` (index in [`KINDS`]) that named
    /// `objects`, soft or not.
    pub fn count(&self, kind: usize, soft: bool, objects: usize) {
        let m = usize::from(soft);
        self.items[kind][m].fetch_add(1, Ordering::Relaxed);
        self.objects[kind][m].fetch_add(objects as u64, Ordering::Relaxed);
    }
}

/// The tag indexes' (entries, bytes): memory's, and the disk's when there
/// is a disk cache.
pub type TagUsage = ((u64, u64), Option<(u64, u64)>);

/// Encodes `purges_total{kind,mode}`, `purged_objects_total{kind,mode}`,
/// `tag_index_entries{store}` and `tag_index_bytes{store}`.
pub fn encode(
    stats: &PurgeStats,
    tags: TagUsage,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    for (name, help, of) in [
        (
            "purges",
            "Purge items (paths, prefixes, tags) carried out on this node, by kind and mode",
            &stats.items,
        ),
        (
            "purged_objects",
            "Objects purge items named on this node (dropped, or made stale when soft)",
            &stats.objects,
        ),
    ] {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for (kind, row) in KINDS.iter().zip(of) {
            for (mode, n) in MODES.iter().zip(row) {
                let n = ConstCounter::new(n.load(Ordering::Relaxed));
                n.encode(family.encode_family(&[("kind", *kind), ("mode", *mode)])?)?;
            }
        }
    }
    let ((memory_n, memory_b), disk) = tags;
    for (name, help, m, d) in [
        (
            "tag_index_entries",
            "(object, tag) pairs the tag index holds: memory, and the disk index",
            memory_n,
            disk.map(|d| d.0),
        ),
        (
            "tag_index_bytes",
            "Bytes the tag index holds: memory (inside cache.memory_bytes), and the disk index",
            memory_b,
            disk.map(|d| d.1),
        ),
    ] {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(m as i64).encode(family.encode_family(&[("store", "memory")])?)?;
        if let Some(d) = d {
            ConstGauge::new(d as i64).encode(family.encode_family(&[("store", "disk")])?)?;
        }
    }
    Ok(())
}
