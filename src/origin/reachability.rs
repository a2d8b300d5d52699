//! Whether the origin answers, for the readiness endpoint: every GET the
//! node sends records whether an HTTP answer came back (any status) or the
//! exchange failed for want of one (connection refused or broken, timeout).
//! When the last word is older than a second, the readiness check asks
//! again itself with a cheap probe (see `Edge::origin_ready`), so a node
//! that no traffic reaches still finds out, and at most one probe runs at a
//! time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The origin's last known state.
#[derive(Debug)]
pub struct Reachability {
    epoch: Instant,
    /// Milliseconds since `epoch` (plus one; 0 = never) of the last answer.
    last_ok: AtomicU64,
    /// Likewise, of the last failure to get an answer.
    last_fail: AtomicU64,
    probing: AtomicBool,
}

impl Default for Reachability {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            last_ok: AtomicU64::new(0),
            last_fail: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }
}

impl Reachability {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// The origin answered.
    pub fn answered(&self) {
        self.last_ok.store(self.now(), Ordering::Relaxed);
    }

    /// The origin could not be reached or did not answer in time.
    pub fn failed(&self) {
        self.last_fail.store(self.now(), Ordering::Relaxed);
    }

    /// The last word: whether the origin answered, and how long ago; `None`
    /// when it was never asked.
    pub fn last(&self) -> Option<(bool, Duration)> {
        let ok = self.last_ok.load(Ordering::Relaxed);
        let fail = self.last_fail.load(Ordering::Relaxed);
        let at = ok.max(fail);
        (at > 0).then(|| {
            (
                ok >= fail,
                Duration::from_millis(self.now().saturating_sub(at)),
            )
        })
    }

    /// Claims the right to probe; `false` while another probe runs.
    pub fn start_probe(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    /// Releases the claim taken by `start_probe`.
    pub fn end_probe(&self) {
        self.probing.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_word_wins_and_probes_are_single_flight() {
        let r = Reachability::default();
        assert_eq!(r.last(), None);
        r.failed();
        assert!(!r.last().unwrap().0);
        r.answered();
        assert!(r.last().unwrap().0);
        assert!(r.start_probe());
        assert!(!r.start_probe());
        r.end_probe();
        assert!(r.start_probe());
    }
}
