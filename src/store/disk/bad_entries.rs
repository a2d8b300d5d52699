//! Entries found bad when read (a length, header, blake3, key or record
//! check failed): each is deleted and missed by the reader that found it,
//! counted here by reason (`cdn_edge_disk_bad_entries_total{reason}`), and
//! logged at most once per 10 s for the whole cache, the line counting the
//! ones it stands for (a failing disk could otherwise log a line per entry).
//!
//! Not the checks themselves (`format::check`) nor the deletion (`Shared::drop_bad`).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::format::Bad;
use crate::throttle::Throttle;

/// Bad entries found so far, by reason, and the throttle of their log line.
#[derive(Debug)]
pub(super) struct BadEntries {
    counts: [AtomicU64; Bad::REASONS.len()],
    log: Throttle,
}

impl Default for BadEntries {
    fn default() -> Self {
        Self {
            counts: Default::default(),
            log: Throttle::new(Duration::from_secs(10)),
        }
    }
}

impl BadEntries {
    /// Counts a bad entry for `key` at `path`, and logs it when a line is due.
    /// An entry of an older format is not bad: only a debug line.
    pub fn found(&self, path: &Path, key: &str, why: Bad) {
        if why.reason_index().is_none() {
            tracing::debug!(path = %path.display(), key, "disk cache entry of an older format dropped");
            return;
        }
        self.count(why, 1);
        let more = match self.log.due() {
            None => return,
            Some(n) => n,
        };
        tracing::warn!(
            path = %path.display(),
            key,
            problem = why.describe(),
            not_logged = more,
            "disk cache entry dropped (not served; fetched again)"
        );
    }

    /// Counts `n` entries found bad for `why` without a line of their own
    /// (the key pass logs its total).
    pub fn count(&self, why: Bad, n: u64) {
        if let Some(i) = why.reason_index() {
            self.counts[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The counts, indexed as [`Bad::REASONS`].
    pub fn counts(&self) -> [u64; Bad::REASONS.len()] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }
}
