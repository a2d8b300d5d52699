//! The request-duration histogram, by status class and cache outcome, kept
//! per worker as plain counters (bucket counts and a sum in microseconds)
//! and summed into a Prometheus histogram at scrape time. The duration is
//! the time to produce the response (its head ready to send); the access
//! log's duration runs to the last body byte.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::bump;
use crate::server::cache_outcome::CacheOutcome;

/// Upper bounds of the buckets, in microseconds (100 µs to 10 s); one more
/// bucket counts the rest.
const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
const BUCKETS: usize = BOUNDS_US.len() + 1;
const CACHES: usize = CacheOutcome::ALL.len();
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One worker's histogram cells.
#[derive(Debug)]
pub struct Durations {
    /// Per class and cache outcome: requests per bucket (not cumulative).
    buckets: [[[AtomicU64; BUCKETS]; CACHES]; 5],
    /// Per class and cache outcome: the sum of durations in microseconds.
    sums: [[AtomicU64; CACHES]; 5],
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| {
                std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0)))
            }),
            sums: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

impl Durations {
    /// Counts one request of status class index `class` (0 = 1xx).
    pub fn observe(&self, class: usize, cache: CacheOutcome, took: Duration) {
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        let bucket = BOUNDS_US.partition_point(|b| *b < us);
        bump(&self.buckets[class][cache.index()][bucket], 1);
        bump(&self.sums[class][cache.index()], us);
    }
}

/// Encodes the sum over `workers` as `http_request_duration_seconds`; only
/// the label pairs that saw a request appear.
pub fn encode(workers: &[&Durations], encoder: &mut DescriptorEncoder) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(
        "http_request_duration_seconds",
        "Time to produce a response (head ready), by status class and cache outcome",
        None,
        MetricType::Histogram,
    )?;
    for (ci, class) in CLASSES.iter().enumerate() {
        for cache in CacheOutcome::ALL {
            let k = cache.index();
            let counts: Vec<u64> = (0..BUCKETS)
                .map(|b| {
                    workers
                        .iter()
                        .map(|w| w.buckets[ci][k][b].load(Ordering::Relaxed))
                        .sum()
                })
                .collect();
            let count: u64 = counts.iter().sum();
            if count == 0 {
                continue;
            }
            let sum_us: u64 = workers
                .iter()
                .map(|w| w.sums[ci][k].load(Ordering::Relaxed))
                .sum();
            let buckets: Vec<(f64, u64)> = BOUNDS_US
                .iter()
                .map(|b| *b as f64 / 1e6)
                .chain([f64::MAX])
                .zip(counts)
                .collect();
            let labels = [("class", *class), ("cache", cache.as_str())];
            family
                .encode_family(&labels)?
                .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                    sum_us as f64 / 1e6,
                    count,
                    &buckets,
                    None,
                )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_inclusive() {
        let d = Durations::default();
        d.observe(1, CacheOutcome::Hit, Duration::from_micros(100));
        d.observe(1, CacheOutcome::Hit, Duration::from_micros(101));
        d.observe(1, CacheOutcome::Hit, Duration::from_secs(60));
        let h = &d.buckets[1][CacheOutcome::Hit.index()];
        assert_eq!(h[0].load(Ordering::Relaxed), 1);
        assert_eq!(h[1].load(Ordering::Relaxed), 1);
        assert_eq!(h[BUCKETS - 1].load(Ordering::Relaxed), 1);
    }
}
