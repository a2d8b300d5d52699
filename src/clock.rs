//! The node's clock: wall time plus an offset that only tests move.
//!
//! Every time-dependent rule (freshness, `Age`, revalidation damping) takes
//! `now` from here, never from `SystemTime::now()` directly, so integration
//! tests can let time pass without sleeping. In production the offset is
//! always zero: it can only be moved through the `POST /_edge/clock`
//! endpoint, which exists only when the node was started with the
//! environment variable `CDN_EDGE_TEST_CLOCK=1`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Name of the environment variable that enables the test clock endpoint.
pub const TEST_CLOCK_ENV: &str = "CDN_EDGE_TEST_CLOCK";

/// Wall time shifted forward by a settable number of seconds.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicU64,
}

impl Clock {
    /// A clock that reads wall time (offset zero).
    pub fn new() -> Self {
        Self::default()
    }

    /// The current instant as the node sees it.
    pub fn now(&self) -> SystemTime {
        let off = self.offset_secs.load(Ordering::Relaxed);
        let wall = SystemTime::now();
        wall.checked_add(Duration::from_secs(off)).unwrap_or(wall)
    }

    /// A monotonic instant shifted by the same offset, for timeouts that
    /// tests let pass (the send timeout) without sleeping.
    pub fn instant(&self) -> Instant {
        let off = Duration::from_secs(self.offset_secs.load(Ordering::Relaxed));
        let now = Instant::now();
        now.checked_add(off).unwrap_or(now)
    }

    /// Moves the clock forward by `secs` (saturating); returns the total offset.
    pub fn advance(&self, secs: u64) -> u64 {
        let mut cur = self.offset_secs.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(secs);
            match self
                .offset_secs
                .compare_exchange(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Whether this process may move its clock (`CDN_EDGE_TEST_CLOCK=1`).
    pub fn settable() -> bool {
        std::env::var(TEST_CLOCK_ENV).is_ok_and(|v| v == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward() {
        let c = Clock::new();
        let before = c.now();
        assert_eq!(c.advance(100), 100);
        assert_eq!(c.advance(5), 105);
        let d = c.now().duration_since(before).unwrap();
        assert!(d >= Duration::from_secs(105));
        assert_eq!(c.advance(u64::MAX), u64::MAX);
        let _ = c.now(); // an absurd offset never panics
    }
}
