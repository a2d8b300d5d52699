//! Faults the node survived: request panics caught (`caught`) and disk
//! cache writes that failed (the entry was dropped, the node served on).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::store::disk::WriteErrorKind;

/// Counts of faults, shared by every worker (they are rare: one atomic).
#[derive(Debug, Default)]
pub struct Faults {
    panics: AtomicU64,
}

impl Faults {
    /// Counts a request whose handler panicked.
    pub fn panicked(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }
}

/// Encodes `panics_total`, and `disk_write_errors_total{kind}` when there
/// is a disk cache (`disk`: its counts, indexed as [`WriteErrorKind::ALL`]).
pub fn encode(
    faults: &Faults,
    disk: Option<[u64; WriteErrorKind::COUNT]>,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let panics = ConstCounter::new(faults.panics.load(Ordering::Relaxed));
    panics.encode(encoder.encode_descriptor(
        "panics",
        "Requests whose handler panicked (answered 500; the worker served on)",
        None,
        panics.metric_type(),
    )?)?;
    if let Some(counts) = disk {
        let mut family = encoder.encode_descriptor(
            "disk_write_errors",
            "Disk cache writes that failed (entry dropped, served from memory and origin), by error",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in WriteErrorKind::ALL.iter().zip(counts) {
            ConstCounter::new(n).encode(family.encode_family(&[("kind", kind.as_str())])?)?;
        }
    }
    Ok(())
}
