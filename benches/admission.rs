//! Does second-hit admission keep one-hit wonders from evicting hot assets?
//! A deterministic simulation over the real `MemoryCache`: 200 hot assets
//! requested with a Zipf(0.9) popularity, mixed with a share of requests for
//! keys never seen again (a crawler, a cache-busting query string), against
//! a cache that holds about half the hot set. Prints hit ratios of the hot
//! requests under plain LRU and under second-hit admission.
//! Run with `cargo bench --bench admission`.

use cdn_edge::store::memory::{Admission, MemoryCache, Weigh};

#[derive(Clone)]
struct Blob(usize);

impl Weigh for Blob {
    fn weight(&self) -> usize {
        self.0
    }
}

const HOT: usize = 200;
const SIZE: usize = 10_000;
const REQUESTS: usize = 400_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn run(admission: Admission, scan_share: f64) -> f64 {
    let cache = MemoryCache::new(HOT * SIZE / 2, SIZE * 2).with_admission(admission);
    let weights: Vec<f64> = (1..=HOT).map(|i| 1.0 / (i as f64).powf(0.9)).collect();
    let total: f64 = weights.iter().sum();
    let cdf: Vec<f64> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();
    let mut rng = Rng(0x2545F4914F6CDD1D);
    let (mut hot, mut hits) = (0usize, 0usize);
    for n in 0..REQUESTS {
        let key = if rng.next() < scan_share {
            format!("once/{n}")
        } else {
            let u = rng.next();
            format!("hot/{}", cdf.partition_point(|c| *c < u))
        };
        let is_hot = key.starts_with("hot/");
        let hit = cache.get(&key).is_some();
        if !hit {
            cache.insert(key, Blob(SIZE));
        }
        if is_hot && n > REQUESTS / 10 {
            hot += 1;
            hits += usize::from(hit);
        }
    }
    hits as f64 / hot as f64
}

fn main() {
    println!("| one-hit-wonder share | LRU hot hit ratio | second-hit hot hit ratio |");
    println!("|---:|---:|---:|");
    for share in [0.0, 0.2, 0.5, 0.8] {
        let lru = run(Admission::Always, share);
        let second = run(Admission::SecondHit, share);
        println!(
            "| {:.0} % | {:.1} % | {:.1} % |",
            share * 100.0,
            lru * 100.0,
            second * 100.0
        );
    }
}
