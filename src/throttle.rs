//! A log line at most once per interval, for failures that can come with
//! every request (a full disk, a node at its connection limit): the log
//! must not become the bottleneck, and the line says how many it stands
//! for. Metrics count every one; this only decides when to say so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Allows one line per `every`, counting the ones held back.
#[derive(Debug)]
pub struct Throttle {
    every_ms: u64,
    epoch: Instant,
    /// When the next line may be written, in ms since `epoch`.
    next_ms: AtomicU64,
    /// Calls held back since the last line.
    held: AtomicU64,
}

impl Throttle {
    /// At most one line per `every`; the first call may always write.
    pub fn new(every: Duration) -> Self {
        Self {
            every_ms: every.as_millis() as u64,
            epoch: Instant::now(),
            next_ms: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// `Some(held)` when a line is due now (`held`: the calls held back
    /// since the last one), else `None` (this call is held back).
    pub fn due(&self) -> Option<u64> {
        self.due_at(self.epoch.elapsed().as_millis() as u64)
    }

    fn due_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        let won = now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms + self.every_ms,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if won {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let t = Throttle::new(Duration::from_secs(10));
        assert_eq!(t.due_at(0), Some(0));
        assert_eq!(t.due_at(1), None);
        assert_eq!(t.due_at(9_999), None);
        assert_eq!(t.due_at(10_000), Some(2));
        assert_eq!(t.due_at(10_001), None);
        assert_eq!(t.due_at(30_000), Some(1));
    }
}
