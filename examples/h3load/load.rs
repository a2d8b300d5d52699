//! Load mode: `--connections` QUIC connections, each on its own UDP socket
//! (a server spreading connections over sockets by address sees them as
//! separate clients), `--streams` request loops on each, the paths taken
//! round-robin across all of them, for `--warm-up` + `--duration` seconds.
//!
//! A request counts when it starts after the warm-up and ends before the
//! deadline; one still running at the deadline is abandoned, neither done
//! nor failed. A request fails on any stream or connection error, or when
//! it takes longer than `--timeout`; a 4xx/5xx is done but also counted in
//! `non2xx`. A closed connection is opened again until the deadline.
//! Prints one line: `requests= failed= non2xx= rps= bytes_per_s= mean_ms=
//! secs= br= all= connections= streams=` (`br`: responses with
//! `Content-Encoding: br`; bytes are body bytes; `all`: requests completed
//! in the whole run, warm-up included, to divide a server's CPU time by).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{sleep, timeout_at, Instant};

use crate::args::{secs, Args, Target};
use crate::conn::{self, Conn, Sender};
use crate::Error;

#[derive(Default)]
struct Stats {
    all: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    non2xx: AtomicU64,
    bytes: AtomicU64,
    latency_ns: AtomicU64,
    br: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Stats {
    fn fail(&self, counted: bool, error: String) {
        if counted {
            self.failed.fetch_add(1, Relaxed);
        }
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(error);
    }
}

/// The run's shared, read-only plan.
struct Plan {
    target: Arc<Target>,
    config: quinn::ClientConfig,
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
    streams: usize,
    next: AtomicUsize,
    stats: Stats,
}

/// Runs the load and prints the result line.
pub async fn run(
    target: Arc<Target>,
    config: quinn::ClientConfig,
    args: &Args,
) -> Result<(), Error> {
    let start = Instant::now();
    let measure_from = start + secs(args.warm_up);
    let plan = Arc::new(Plan {
        target,
        config,
        measure_from,
        end: measure_from + secs(args.duration),
        timeout: secs(args.timeout),
        streams: args.streams.max(1),
        next: AtomicUsize::new(0),
        stats: Stats::default(),
    });
    let tasks: Vec<_> = (0..args.connections.max(1))
        .map(|_| tokio::spawn(connection(plan.clone())))
        .collect();
    for t in tasks {
        t.await.map_err(|e| format!("connection task: {e}"))?;
    }
    let measured = Instant::now()
        .min(plan.end)
        .saturating_duration_since(measure_from);
    let s = &plan.stats;
    let (done, failed) = (s.done.load(Relaxed), s.failed.load(Relaxed));
    let t = measured.as_secs_f64().max(1e-9);
    crate::emit(format_args!(
        "requests={done} failed={failed} non2xx={} rps={:.1} bytes_per_s={:.0} mean_ms={:.3} secs={:.3} br={} all={} connections={} streams={}",
        s.non2xx.load(Relaxed),
        done as f64 / t,
        s.bytes.load(Relaxed) as f64 / t,
        if done > 0 { s.latency_ns.load(Relaxed) as f64 / done as f64 / 1e6 } else { 0.0 },
        t,
        s.br.load(Relaxed),
        s.all.load(Relaxed),
        args.connections.max(1),
        plan.streams,
    ))?;
    let first = s
        .first_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match first {
        Some(e) if done == 0 => Err(format!("no request succeeded; first error: {e}")),
        Some(e) => {
            eprintln!("h3load: {failed} failed; first error: {e}");
            Ok(())
        }
        None => Ok(()),
    }
}

/// One connection slot: (re)opens its connection until the deadline.
async fn connection(plan: Arc<Plan>) {
    let endpoint = match conn::endpoint(&plan.target) {
        Ok(e) => e,
        Err(e) => return plan.stats.fail(true, e),
    };
    while Instant::now() < plan.end {
        let limit = (Instant::now() + plan.timeout).min(plan.end);
        let opened = timeout_at(limit, Conn::open(&endpoint, &plan.config, &plan.target)).await;
        let counted = Instant::now() >= plan.measure_from;
        let c = match opened {
            Err(_) if Instant::now() >= plan.end => break,
            Err(_) => {
                plan.stats
                    .fail(counted, format!("connect {}: timed out", plan.target.addr));
                continue;
            }
            Ok(Err(e)) => {
                plan.stats.fail(counted, e);
                // a refused or failed handshake: do not spin
                sleep(Duration::from_millis(100)).await;
                continue;
            }
            Ok(Ok(c)) => c,
        };
        let streams: Vec<_> = (0..plan.streams)
            .map(|_| tokio::spawn(stream(plan.clone(), c.send.clone(), c.quic.clone())))
            .collect();
        for s in streams {
            let _ = s.await;
        }
        drop(c);
    }
    endpoint.close(0u32.into(), b"done");
}

/// One request loop on a connection, until the deadline or the connection closes.
async fn stream(plan: Arc<Plan>, mut send: Sender, quic: quinn::Connection) {
    let uris = &plan.target.uris;
    let s = &plan.stats;
    while Instant::now() < plan.end {
        let uri = &uris[plan.next.fetch_add(1, Relaxed) % uris.len()];
        let started = Instant::now();
        let counted = started >= plan.measure_from;
        let limit = (started + plan.timeout).min(plan.end);
        match timeout_at(
            limit,
            conn::get(&mut send, uri, &plan.target.headers, |_| {}),
        )
        .await
        {
            Err(_) if Instant::now() >= plan.end => break,
            Err(_) => s.fail(counted, format!("{uri}: no answer in {:?}", plan.timeout)),
            Ok(Err(e)) => {
                s.fail(counted, e);
                if quic.close_reason().is_some() {
                    break;
                }
            }
            Ok(Ok(r)) => {
                let finished = Instant::now();
                s.all.fetch_add(1, Relaxed);
                if counted && finished <= plan.end {
                    s.done.fetch_add(1, Relaxed);
                    s.bytes.fetch_add(r.bytes, Relaxed);
                    let ns = u64::try_from((finished - started).as_nanos()).unwrap_or(u64::MAX);
                    s.latency_ns.fetch_add(ns, Relaxed);
                    if !(200..400).contains(&r.status) {
                        s.non2xx.fetch_add(1, Relaxed);
                    }
                    if r.encoding.as_ref().is_some_and(|e| e == "br") {
                        s.br.fetch_add(1, Relaxed);
                    }
                }
            }
        }
    }
}
