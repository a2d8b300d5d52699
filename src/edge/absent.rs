//! Root misses remembered for `server.refresh_ms`: a pulled object that is
//! not in memory is looked for in the static root first (local files win),
//! and on a disk-cache hit that look-up is most of the work left besides
//! the read. A path the root was found not to hold is trusted to stay
//! absent for one refresh interval, the same interval after which a cached
//! local file is re-checked, so a file added to the root for a pulled path
//! takes over at most `refresh_ms` after the pulled copy left memory (while
//! it is in memory, the root is not looked at at all).
//!
//! A fixed table of atomic slots (no lock, no allocation, a fixed 512 KiB):
//! each slot packs 32 bits of the path's hash with the time of the check in
//! milliseconds (32 bits, compared with wrapping arithmetic, so only
//! intervals under 49 days matter). Two paths share a slot when their
//! hashes share the low 16 bits; the later check replaces the earlier one.
//! Two paths sharing all 48 bits (slot and tag) under a per-process random
//! seed would make the second look absent for at most one interval, the
//! same as a file added during that interval: a chance of 2^-48 per pair,
//! not choosable by clients.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 1 << 16;

/// Recent "the root holds nothing at this path" answers.
pub(super) struct AbsentMemo {
    slots: Box<[AtomicU64]>,
    hasher: foldhash::fast::RandomState,
}

impl AbsentMemo {
    pub(super) fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: Default::default(),
        }
    }

    fn slot_and_tag(&self, path: &str) -> (&AtomicU64, u64) {
        let h = self.hasher.hash_one(path);
        (&self.slots[(h as usize) % SLOTS], h >> 32)
    }

    /// Whether `path` was found absent less than `within_ms` before `now_ms`.
    pub(super) fn recalls(&self, path: &str, now_ms: u64, within_ms: u64) -> bool {
        let (slot, tag) = self.slot_and_tag(path);
        let v = slot.load(Ordering::Relaxed);
        // 0 is an empty slot (a check stores the time plus one).
        v != 0
            && v >> 32 == tag
            && ((now_ms as u32).wrapping_sub((v as u32).wrapping_sub(1)) as u64) < within_ms
    }

    /// Notes that `path` was found absent at `now_ms`.
    pub(super) fn remember(&self, path: &str, now_ms: u64) {
        let (slot, tag) = self.slot_and_tag(path);
        let stamp = (now_ms as u32).wrapping_add(1).max(1);
        slot.store(tag << 32 | stamp as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_for_one_interval_only() {
        let m = AbsentMemo::new();
        assert!(!m.recalls("/a.css", 5, 1000), "never checked");
        m.remember("/a.css", 5);
        assert!(m.recalls("/a.css", 5, 1000));
        assert!(m.recalls("/a.css", 1004, 1000));
        assert!(!m.recalls("/a.css", 1005, 1000), "interval over");
        assert!(!m.recalls("/b.css", 6, 1000), "another path");
    }

    #[test]
    fn survives_the_clock_wrapping_32_bits() {
        let m = AbsentMemo::new();
        let t = u32::MAX as u64 - 10;
        m.remember("/a.css", t);
        assert!(m.recalls("/a.css", t + 20, 1000));
        assert!(!m.recalls("/a.css", t + 2000, 1000));
        // The stamp 0 is never stored (it means "empty").
        m.remember("/z.css", u32::MAX as u64);
        assert!(m.recalls("/z.css", u32::MAX as u64 + 1, 1000));
    }
}
