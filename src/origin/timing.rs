//! Upstream time of one client request, for the access log: the time of
//! each origin exchange made on behalf of the request (retries and
//! revalidations included; to the response head for a body streamed
//! through) is added to the request's [`UpstreamTime`], which the request
//! carries to the origin path in `lookup::Ask`. Requests that waited for
//! another request's fetch, and background revalidations, add nothing:
//! they sent nothing upstream themselves.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upstream time of one request, in microseconds plus one (0 = none).
#[derive(Debug, Default)]
pub struct UpstreamTime(AtomicU64);

impl UpstreamTime {
    /// Adds one exchange of `d`.
    pub fn add(&self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128 / 2) as u64;
        let was = self.0.load(Ordering::Relaxed);
        self.0.store(was.max(1) + us, Ordering::Relaxed);
    }

    /// The total, `None` when nothing was sent upstream.
    pub fn total(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_micros(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exchanges_and_tells_none_from_zero() {
        let t = UpstreamTime::default();
        assert_eq!(t.total(), None);
        t.add(Duration::ZERO);
        assert_eq!(t.total(), Some(Duration::ZERO));
        t.add(Duration::from_micros(250));
        t.add(Duration::from_millis(2));
        assert_eq!(t.total(), Some(Duration::from_micros(2250)));
    }
}
