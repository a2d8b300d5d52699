//! Issue 18 items 2 and 3, replayed over real sockets against a malicious
//! origin the test starts (`bounds/evil.rs`): bodies in flight count
//! against `cache.memory_bytes` (cache-busting misses of a large object,
//! large answers to unsafe methods), and clients that take nothing release
//! their origin connections after `limits.send_timeout_secs` (HTTP/1
//! readers with a tiny receive buffer, HTTP/2 streams at a zero window),
//! with at most `limits.max_origin_streams_per_connection` origin streams
//! per client connection, and an endless origin body cut at
//! `origin.max_stream_bytes`. Assertions are on the origin's connection
//! counts and the node's own figures (`/metrics`: bytes reserved, streams,
//! send timeouts, peak resident memory), never on time: the send timeout
//! passes on the test clock.

use crate::common;
mod evil;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::{poll_until, stalled, Fixture, Server};
use evil::{Evil, Mode};

const MIB: usize = 1 << 20;

/// Like `Server::metric`, for figures the test cannot do without.
fn must(s: &Server, name: &str) -> f64 {
    s.metric(name)
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// A node pulling from `origin`, with `extra` config after `[origin]`'s url.
fn node(origin: &Evil, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout_ms = 5000\ntotal_timeout_ms = 20000\n{extra}",
        origin.url()
    );
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// What one client got: status, body bytes read, whether the body ended
/// as its framing says (Content-Length reached, or the last chunk).
#[derive(Debug)]
struct Got {
    status: u16,
    body: usize,
    whole: bool,
    head: String,
}

/// Sends `method path` (with a small body for methods other than GET) and
/// reads the answer to its end or to `cap` body bytes.
fn fetch(addr: SocketAddr, method: &str, path: &str, cap: usize) -> Got {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = if method == "GET" { "" } else { "x=1" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 << 10];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match c.read(&mut chunk) {
            Ok(0) | Err(_) => {
                return Got {
                    status: 0,
                    body: 0,
                    whole: false,
                    head: String::new(),
                }
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap_or(0);
    let declared = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut got = buf.len() - head_end;
    let mut tail = buf[head_end..].to_vec();
    while got < cap {
        match c.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got += n;
                tail.extend_from_slice(&chunk[..n]);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
            }
        }
    }
    let whole = match declared {
        Some(n) => got == n,
        None => tail.ends_with(b"0\r\n\r\n"),
    };
    Got {
        status,
        body: got,
        whole,
        head,
    }
}

/// Moves the node's clock a send timeout (and a sweep) on.
fn let_send_timeout_pass(s: &Server) {
    s.advance(61);
}

#[test]
fn concurrent_large_misses_stay_within_the_memory_bound() {
    // 16 cache-busting misses of an 8 MiB object whose origin sends half
    // and holds the rest: before, each was buffered whole (a node with
    // memory_bytes = 8 MiB grew by 16 x 8 MiB); now bodies being fetched
    // take at most half the bound and the rest stream, each counted.
    let evil = Evil::start(Mode::Held { len: 8 * MIB });
    let dir = tempfile::tempdir().unwrap();
    let (_f, s) = node(
        &evil,
        &format!(
            "[cache]\nmemory_bytes = {}\nmax_object_bytes = 524288\ndir = \"{}\"\n",
            8 * MIB,
            dir.path().display()
        ),
    );
    let peak_before = s.peak_rss();
    let n = 16;
    let addr = s.addr;
    let clients: Vec<_> = (0..n)
        .map(|i| thread::spawn(move || fetch(addr, "GET", &format!("/big.bin?bust={i}"), 64 * MIB)))
        .collect();
    assert!(
        poll_until(Duration::from_secs(30), || {
            evil.accepted() >= n && evil.holding() + (evil.accepted() - evil.open()) >= n
        }),
        "every miss reached the origin ({} of {n})",
        evil.accepted()
    );
    // While every body is half in: what the cache holds and what is
    // reserved beside it (checked below).
    let in_flight = (
        s.metric("cdn_edge_memory_reserved_bytes"),
        s.metric("cdn_edge_memory_cache_bytes"),
        s.metric("cdn_edge_origin_streams"),
    );
    evil.release();
    let got: Vec<Got> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let grew = s.peak_rss() - peak_before;
    eprintln!("peak resident memory grew by {:.1} MiB", grew / MIB as f64);
    assert!(
        grew < (24 * MIB) as f64,
        "peak resident memory grew by {} MiB for 16 misses of 8 MiB (memory_bytes = 8 MiB)",
        grew / MIB as f64
    );
    // The cache and what was reserved beside it stayed within the bound,
    // the streams holding their share of it.
    let (Some(reserved), Some(cached), Some(streams)) = in_flight else {
        panic!("memory figures missing from /metrics: {in_flight:?}");
    };
    assert!(
        reserved + cached <= (8 * MIB) as f64,
        "{reserved} + {cached}"
    );
    assert!(streams >= 1.0, "some misses stream");
    for g in &got {
        match g.status {
            200 => {
                assert!(g.whole, "a 200 arrives whole: {g:?}");
                assert!(
                    g.head.contains("detail=no-room") || g.head.contains("fwd=uri-miss; stored"),
                    "{}",
                    g.head
                );
            }
            503 => assert!(g.head.contains("retry-after"), "{}", g.head),
            _ => panic!("unexpected answer {g:?}"),
        }
    }
    assert!(got.iter().filter(|g| g.status == 200).count() >= 4);
}

#[test]
fn large_answers_to_unsafe_methods_are_streamed_not_buffered() {
    // A POST is forwarded and its answer read whole before (8 concurrent
    // 16 MiB answers: 128 MiB); now it streams, counted per stream.
    let evil = Evil::start(Mode::Sized { len: 16 * MIB });
    let (_f, s) = node(&evil, &format!("[cache]\nmemory_bytes = {}\n", 16 * MIB));
    let peak_before = s.peak_rss();
    let addr = s.addr;
    let clients: Vec<_> = (0..8)
        .map(|i| thread::spawn(move || fetch(addr, "POST", &format!("/form?{i}"), 64 * MIB)))
        .collect();
    let got: Vec<Got> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let grew = s.peak_rss() - peak_before;
    eprintln!("peak resident memory grew by {:.1} MiB", grew / MIB as f64);
    assert!(
        grew < (32 * MIB) as f64,
        "peak resident memory grew by {} MiB for 8 answers of 16 MiB",
        grew / MIB as f64
    );
    for g in got {
        assert_eq!(g.status, 200, "{g:?}");
        assert!(g.whole && g.body == 16 * MIB, "{g:?}");
        assert!(g.head.contains("fwd=method"), "{}", g.head);
    }
}

#[test]
fn stalled_readers_release_their_origin_connections_after_the_send_timeout() {
    // Clients that ask for an endless (too large) body and never read held
    // an origin connection each for as long as they stayed.
    let evil = Evil::start(Mode::Endless);
    let (_f, s) = node(
        &evil,
        &format!(
            "[cache]\nmemory_bytes = {}\nmax_object_bytes = {MIB}\n",
            64 * MIB
        ),
    );
    let n = 6;
    let held: Vec<TcpStream> = (0..n)
        .map(|i| stalled(s.addr, &format!("/endless?{i}")))
        .collect();
    assert!(
        poll_until(Duration::from_secs(20), || evil.open() == n
            && s.metric("cdn_edge_origin_streams") == Some(n as f64)),
        "each stalled client holds an origin stream (origin open: {})",
        evil.open()
    );
    // Counted: the prefix read and the stream's buffer, within the bound.
    let reserved = must(&s, "cdn_edge_memory_reserved_bytes");
    assert!(
        reserved >= (n * MIB) as f64 && reserved <= (64 * MIB) as f64,
        "{reserved}"
    );
    assert!(
        poll_until(Duration::from_secs(20), || {
            let_send_timeout_pass(&s);
            evil.open() == 0 && s.metric("cdn_edge_origin_streams") == Some(0.0)
        }),
        "the send timeout released the origin connections (still open: {})",
        evil.open()
    );
    assert!(must(&s, "cdn_edge_send_timeouts_total") >= n as f64);
    // The node shut the clients' connections too: each reads to its end.
    for mut c in held {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = vec![0u8; 64 << 10];
        let mut ended = false;
        for _ in 0..10_000 {
            match c.read(&mut sink) {
                Ok(0) | Err(_) => {
                    ended = true;
                    break;
                }
                Ok(_) => {}
            }
        }
        assert!(ended, "the node closed the stalled connection");
    }
    assert!(
        poll_until(Duration::from_secs(10), || evil.open() == 0),
        "nothing reopened"
    );
    assert_eq!(must(&s, "cdn_edge_memory_reserved_bytes"), 0.0);
}

#[test]
fn an_endless_origin_body_is_cut_at_max_stream_bytes() {
    let evil = Evil::start(Mode::Endless);
    let (_f, s) = node(
        &evil,
        &format!(
            "max_object_bytes = {MIB}\nmax_stream_bytes = {}\n[cache]\nmax_object_bytes = {MIB}\n",
            4 * MIB
        ),
    );
    let g = fetch(s.addr, "GET", "/endless", 32 * MIB);
    assert_eq!(g.status, 200);
    assert!(!g.whole, "the cut response is aborted, never completed");
    assert!(
        g.body <= 5 * MIB,
        "at most origin.max_stream_bytes (and chunk framing) arrive: {} bytes",
        g.body
    );
    assert!(poll_until(Duration::from_secs(10), || evil.open() == 0));
}

/// An h2c connection whose streams all have a zero flow-control window:
/// the node can send them headers, never data.
struct ZeroWindow {
    rt: tokio::runtime::Runtime,
    send: h2::client::SendRequest<bytes::Bytes>,
    /// Set when the node ended the connection.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ZeroWindow {
    fn connect(addr: SocketAddr) -> ZeroWindow {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let closed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = closed.clone();
        let send = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (send, conn) = h2::client::Builder::new()
                .initial_window_size(0)
                .handshake(tcp)
                .await
                .expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            send.ready().await.expect("ready")
        });
        ZeroWindow { rt, send, closed }
    }

    /// Whether the node ended the connection.
    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Opens a stream for each path and returns their statuses; the
    /// streams stay open (their bodies are never read).
    fn open(&mut self, paths: &[String]) -> Vec<u16> {
        let send = &mut self.send;
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for p in paths {
                *send = send.clone().ready().await.unwrap();
                let req = http::Request::get(format!("http://localhost{p}"))
                    .body(())
                    .unwrap();
                let (resp, _) = send.send_request(req, true).unwrap();
                pending.push(resp);
            }
            let mut statuses = Vec::new();
            for p in pending {
                let resp = tokio::time::timeout(Duration::from_secs(30), p)
                    .await
                    .expect("a response head")
                    .expect("response");
                statuses.push(resp.status().as_u16());
                // Kept open, never read: leaked until the connection ends.
                std::mem::forget(resp);
            }
            statuses
        })
    }
}

#[test]
fn http2_streams_at_a_zero_window_hold_few_origin_connections_and_not_for_long() {
    // 12 streams at a zero window held 12 origin connections for as long
    // as the client kept them; now at most 8 per client connection (the
    // default; the rest are 503), released after the send timeout.
    let evil = Evil::start(Mode::Endless);
    let (_f, s) = node(&evil, &format!("[cache]\nmax_object_bytes = {MIB}\n"));
    let mut c = ZeroWindow::connect(s.addr);
    let paths: Vec<String> = (0..12).map(|i| format!("/endless?{i}")).collect();
    let statuses = c.open(&paths);
    assert!(
        poll_until(Duration::from_secs(20), || evil.accepted() == 12
            && evil.open() <= 8),
        "origin connections: {} open of {} accepted",
        evil.open(),
        evil.accepted()
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        8,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(must(&s, "cdn_edge_origin_streams_refused_total"), 4.0);
    assert!(
        poll_until(Duration::from_secs(20), || {
            let_send_timeout_pass(&s);
            evil.open() == 0 && c.closed()
        }),
        "the send timeout released the origin connections (still open: {}) and dropped the client",
        evil.open()
    );
    assert!(must(&s, "cdn_edge_send_timeouts_total") >= 1.0);
    assert_eq!(must(&s, "cdn_edge_origin_streams"), 0.0);
}

#[test]
fn an_http2_stream_at_a_zero_window_on_a_body_in_memory_is_dropped_too() {
    // No origin connection here (an uncached 512 KiB answer, in memory),
    // but the stream held its body for as long as the client liked.
    let evil = Evil::start(Mode::Sized { len: 512 << 10 });
    let (_f, s) = node(&evil, "");
    let mut c = ZeroWindow::connect(s.addr);
    assert_eq!(c.open(&["/page".to_string()]), [200]);
    assert!(!c.closed());
    assert!(
        poll_until(Duration::from_secs(20), || {
            let_send_timeout_pass(&s);
            c.closed()
        }),
        "the send timeout dropped the client"
    );
}

#[test]
fn an_http3_connection_holds_few_origin_streams_and_not_for_long() {
    // As over HTTP/2: at most 8 origin streams per client connection (the
    // rest are 503), released after the send timeout when the client
    // takes nothing.
    use common::http2::{test_cert, tls_table};
    use common::http3::{h3_table, H3Client};
    let evil = Evil::start(Mode::Endless);
    let cert = test_cert(&["localhost"]);
    let extra = format!(
        "[cache]\nmax_object_bytes = {MIB}\n{}{}",
        tls_table(&cert, ""),
        h3_table("")
    );
    let (_f, s) = node(&evil, &extra);
    let mut c = H3Client::new(&s, &cert);
    let statuses: Vec<u16> = (0..12)
        .map(|i| c.hold(&format!("/endless?{i}")).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        8,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 503).count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(must(&s, "cdn_edge_origin_streams_refused_total"), 4.0);
    assert!(
        poll_until(Duration::from_secs(20), || evil.open() <= 8),
        "origin connections: {} open",
        evil.open()
    );
    assert!(
        poll_until(Duration::from_secs(30), || {
            let_send_timeout_pass(&s);
            evil.open() == 0
        }),
        "the send timeout released the origin connections (still open: {})",
        evil.open()
    );
    assert!(must(&s, "cdn_edge_http3_send_timeouts_total") >= 8.0);
    assert_eq!(must(&s, "cdn_edge_origin_streams"), 0.0);
}
