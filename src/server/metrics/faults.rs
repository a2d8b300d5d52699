//! Faults the node survived: request panics caught (`caught`), disk cache
//! writes that failed (the entry was dropped, the node served on) and disk
//! cache entries found bad when read (dropped, never served).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;

use crate::store::disk::{WriteErrorKind, BAD_REASONS};

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

/// What the disk cache counts of its faults.
#[derive(Debug, Clone, Copy)]
pub struct DiskFaults {
    /// Failed writes, indexed as [`WriteErrorKind::ALL`].
    pub write_errors: [u64; WriteErrorKind::COUNT],
    /// Entries found bad when read, by reason label.
    pub bad_entries: [(&'static str, u64); BAD_REASONS],
}

/// Encodes `panics_total`, and when there is a disk cache
/// `disk_write_errors_total{kind}` and `disk_bad_entries_total{reason}`.
pub fn encode(
    faults: &Faults,
    disk: Option<DiskFaults>,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let panics = ConstCounter::new(faults.panics.load(Ordering::Relaxed));
    panics.encode(encoder.encode_descriptor(
        "panics",
        "Requests whose handler panicked (answered 500; the worker served on)",
        None,
        panics.metric_type(),
    )?)?;
    if let Some(disk) = disk {
        let mut family = encoder.encode_descriptor(
            "disk_write_errors",
            "Disk cache writes that failed (entry dropped, served from memory and origin), by error",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in WriteErrorKind::ALL.iter().zip(disk.write_errors) {
            ConstCounter::new(n).encode(family.encode_family(&[("kind", kind.as_str())])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "disk_bad_entries",
            "Disk cache entries found bad when read (length, header, blake3, key or record), dropped and never served, by reason",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in disk.bad_entries {
            ConstCounter::new(n).encode(family.encode_family(&[("reason", reason)])?)?;
        }
    }
    Ok(())
}
