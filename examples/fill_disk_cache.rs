//! Fills a disk cache directory with N fresh pulled objects through the
//! library's `DiskCache`, as a node would have stored them, for
//! `docs/benchmarks/disk_restart.sh`. Not a benchmark itself and not a test.
//!
//! `fill_disk_cache DIR N [THREADS] [ORIGIN]`: objects `/obj/<i>.css`,
//! bodies of 1,024–4,096 bytes (deterministic), `Cache-Control:
//! max-age=86400`, recorded as pulled from the origin URL `ORIGIN` (a node
//! serves only what came from its own `origin.url`).
//! Prints the seconds taken and the bytes of bodies written.

use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use actix_web::http::header::{HeaderName, HeaderValue};
use cdn_edge::origin::disk_meta::DiskMeta;
use cdn_edge::store::disk::DiskCache;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: fill_disk_cache DIR N [THREADS] [ORIGIN]");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[1]);
    let n: u64 = args[2].parse().expect("N: a count");
    let threads: u64 = args
        .get(3)
        .map_or(8, |t| t.parse().expect("THREADS: a count"));
    let origin = cdn_edge::origin::client::identity(
        args.get(4).map_or("http://127.0.0.1:9", String::as_str),
        "",
    );
    let cache = DiskCache::open(&dir, u64::MAX / 2).expect("open the cache dir");
    let now = SystemTime::now();
    let started = Instant::now();
    let body_bytes: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let cache = &cache;
                s.spawn(move || {
                    let mut total = 0;
                    for i in (t..n).step_by(threads as usize) {
                        let key = format!("obj/{i}.css");
                        let len = 1024 + (i.wrapping_mul(2_654_435_761) % 3073) as usize;
                        let body = vec![b'a' + (i % 26) as u8; len];
                        let meta = DiskMeta {
                            status: 200,
                            headers: [
                                ("cache-control", "max-age=86400".to_string()),
                                ("content-type", "text/css".to_string()),
                                ("etag", format!("\"{i:x}\"")),
                            ]
                            .into_iter()
                            .filter_map(|(n, v)| {
                                Some((HeaderName::from_static(n), HeaderValue::from_str(&v).ok()?))
                            })
                            .collect(),
                            request_time: now,
                            response_time: now,
                            path: key.clone(),
                            vary: vec![],
                            encodings: vec![],
                            origin,
                            key_format: cdn_edge::http::cache_key::FORMAT,
                            tags: vec![],
                            age: None,
                            use_as_dictionary: None,
                        };
                        cache.put(&key, &meta, &[body.as_slice()]).expect("put");
                        total += len as u64;
                    }
                    total
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    println!(
        "filled {n} objects ({body_bytes} body bytes) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
