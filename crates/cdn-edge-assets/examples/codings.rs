//! The node's own encoders (`precompress`: the brotli crate, libzstd
//! through the zstd crate, flate2) over a corpus of files, one file after
//! another on one thread, as the compression pool and the build make them:
//! the bytes each setting writes and its speed. Run by
//! `docs/benchmarks/compress_codings.sh`.
//!
//! ```text
//! codings ROUNDS LIST_FILE SETTING...
//! ```
//!
//! `LIST_FILE` names the corpus, one path a line. Each `SETTING` is
//! `br:Q` (brotli quality Q, the pool's 4 MiB window), `zstd:L` or
//! `gzip:L`. For each setting, prints one tab-separated line: the
//! setting, the input bytes, the output bytes, and the MB/s of each round
//! (input megabytes, 10^6, per second of the thread's CPU time). A round
//! compresses the whole corpus as many times as fit in a second (once at
//! least). CPU time, from the kernel's count of the thread's time on a
//! core (`/proc/thread-self/schedstat`), is what the encoder costs
//! whatever else the machine runs; wall time is the fallback.

use std::time::{Duration, Instant};

use cdn_edge_assets::precompress;

/// The brotli window of the node's compression pool (`server::live`).
const POOL_BROTLI_WINDOW: u32 = 22;

/// A round lasts at least this long.
const ROUND: Duration = Duration::from_secs(1);

/// The time this thread has run on a core, when the kernel says.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(rounds), Some(list)) = (args.first(), args.get(1)) else {
        eprintln!("usage: codings ROUNDS LIST_FILE br:Q|zstd:L|gzip:L...");
        std::process::exit(2);
    };
    let rounds: usize = rounds.parse().expect("ROUNDS is a number");
    let files: Vec<Vec<u8>> = std::fs::read_to_string(list)
        .expect("the list file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let input: usize = files.iter().map(Vec::len).sum();
    for setting in &args[2..] {
        let (codec, level) = setting.split_once(':').expect("CODEC:LEVEL");
        let level: u32 = level.parse().expect("a level");
        let encode = |data: &[u8]| match codec {
            "br" => precompress::brotli(data, level, POOL_BROTLI_WINDOW),
            "zstd" => precompress::zstd(data, level),
            "gzip" => precompress::gzip(data, level),
            other => panic!("unknown codec {other}"),
        };
        let mut output = 0;
        let mut speeds = Vec::new();
        for _ in 0..rounds {
            let (wall, cpu) = (Instant::now(), cpu_time());
            let mut passes = 0;
            while passes == 0 || wall.elapsed() < ROUND {
                output = files.iter().map(|f| encode(f).len()).sum::<usize>();
                passes += 1;
            }
            let took = match (cpu, cpu_time()) {
                (Some(a), Some(b)) if b > a => b - a,
                _ => wall.elapsed(),
            };
            let mb = (passes * input) as f64 / 1e6;
            speeds.push(format!("{:.1}", mb / took.as_secs_f64()));
        }
        println!("{setting}\t{input}\t{output}\t{}", speeds.join("\t"));
    }
}
