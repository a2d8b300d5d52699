//! Disk-cache entries too large for the memory cache are streamed from
//! their file a chunk at a time, each chunk verified against the blake3
//! recorded for it when the entry was written, before any byte of it is
//! sent. Replayed over real sockets while the node runs: a chunk
//! overwritten in the middle of an entry aborts the response before its end
//! (HTTP/1.1: short of its Content-Length; HTTP/2: the stream is reset),
//! never completes it, and the entry is dropped and fetched again; a
//! tampered head (record, lengths, chunk table) is never answered; a range
//! over chunks nobody touched is served (each byte verified), one over the
//! tampered chunk is aborted; concurrent large disk hits (stalled, or read
//! to their end) hold a chunk or two each against `cache.memory_bytes`, not
//! the whole object, the send timeout releases them, and those the bound
//! has no room for are refused (503), not held.

use crate::common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use common::disk::{counter, dropped_and_fetched_again, entry_of, tamper_at, TAMPER};
use common::http2::{test_cert, Client, Proto};
use common::origin::{Origin, Reply};
use common::*;

const MIB: usize = 1 << 20;
/// The chunk size the node writes (64 KiB).
const CHUNK: usize = 64 << 10;

/// A node with a disk cache in `dir` whose memory cache keeps objects of at
/// most 64 KiB, so that every hit of a larger object reads the disk;
/// `memory_bytes` leaves room to fetch the object whole (at most half the
/// bound), which it must to store it.
fn node(o: &Origin, dir: &Path, memory_bytes: usize) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nretries = 0\n[cache]\nmemory_bytes = {memory_bytes}\n\
         max_object_bytes = 65536\nadmission = \"always\"\ndir = \"{}\"\n",
        o.url(),
        dir.display()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// An origin serving `len` bytes of noise at `path`, fresh for 10 minutes.
fn origin_with(path: &str, body: &[u8]) -> Origin {
    let o = Origin::start();
    o.route(
        path,
        Reply::ok(body.to_vec())
            .header("cache-control", "max-age=600")
            .header("content-type", "application/octet-stream"),
    );
    o
}

/// Fetched once (a miss, stored on disk), then once from disk, whole.
fn stored(s: &Server, path: &str, body: &[u8]) {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    let hit = s.get(path);
    assert_eq!(hit.header("cache-status"), Some("cdn-edge; hit"));
    assert!(hit.body == body, "{}", hit.summary());
}

/// A node (`memory_bytes = bound`) over a fresh disk cache, which stored
/// `len` bytes of noise at `/big.bin` and answered a hit of it from disk.
struct Big {
    s: Server,
    _f: Fixture,
    o: Origin,
    dir: tempfile::TempDir,
    body: Vec<u8>,
}

fn stored_big(seed: u64, len: usize, bound: usize) -> Big {
    let body = noise(seed, len);
    let o = origin_with("/big.bin", &body);
    let dir = tempfile::tempdir().unwrap();
    let (_f, s) = node(&o, dir.path(), bound);
    stored(&s, "/big.bin", &body);
    Big {
        s,
        _f,
        o,
        dir,
        body,
    }
}

/// Overwrites the first `from` in the head of the entry holding `body`
/// with `to` (same length).
fn tamper_head(dir: &Path, body: &[u8], from: &[u8], to: &[u8]) {
    let (path, at) = entry_of(dir, body).expect("the object is on disk");
    let bytes = std::fs::read(&path).unwrap();
    let i = bytes[..at]
        .windows(from.len())
        .position(|w| w == from)
        .expect("in the head");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(to, i as u64).unwrap();
}

/// A response read to its end (the node closes: `Connection: close`):
/// status, declared length, body.
struct Raw {
    status: u16,
    length: Option<usize>,
    body: Vec<u8>,
}

impl Raw {
    /// The body stopped short of its Content-Length.
    fn aborted(&self) -> bool {
        self.length.is_some_and(|n| self.body.len() < n)
    }
}

fn get_raw(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Raw {
    let r = try_request(addr, "GET", path, headers).expect("a response head");
    Raw {
        status: r.status,
        length: r.header("content-length").and_then(|v| v.parse().ok()),
        body: r.body,
    }
}

/// What a request for `path` gets after a chunk of `body` was tampered
/// with: a response aborted before its end, whose bytes are the true
/// body's first ones (never the tampered bytes).
fn aborted_before_the_tampered_bytes(s: &Server, path: &str, body: &[u8]) -> Raw {
    let r = get_raw(s.addr, path, &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.length, Some(body.len()));
    assert!(
        r.aborted(),
        "the tampered entry was answered whole ({} bytes)",
        r.body.len()
    );
    assert!(
        body.starts_with(&r.body),
        "bytes other than the object's were sent"
    );
    assert!(!r.body.windows(TAMPER.len()).any(|w| w == TAMPER));
    r
}

/// The entry is gone (see `dropped_and_fetched_again`), and the next
/// request is whole and correct, fetched again from the origin.
fn whole_again(s: &Server, o: &Origin, path: &str, dir: &Path, body: &[u8]) {
    let again = s.get(path);
    assert_eq!(again.status, 200);
    assert!(again.body == body, "{}", again.summary());
    dropped_and_fetched_again(s, o, path, dir);
}

#[test]
fn a_tampered_chunk_aborts_the_response_before_its_end() {
    let Big {
        s,
        _f,
        o,
        dir,
        body: big,
    } = stored_big(1, 4 * MIB, 32 * MIB);
    let etag = s.get("/big.bin").header("etag").map(str::to_string);

    // In the middle of chunk 40 of 64.
    tamper_at(dir.path(), &big, 40 * CHUNK + 1000);
    let r = aborted_before_the_tampered_bytes(&s, "/big.bin", &big);
    eprintln!("aborted after {} of {} bytes", r.body.len(), big.len());
    assert!(
        r.body.len() <= 40 * CHUNK,
        "nothing of the tampered chunk was sent"
    );

    whole_again(&s, &o, "/big.bin", dir.path(), &big);
    assert_eq!(s.get("/big.bin").header("etag").map(str::to_string), etag);
}

#[test]
fn over_http2_a_tampered_chunk_resets_the_stream() {
    let big = noise(2, 2 * MIB);
    let o = origin_with("/big.bin", &big);
    let dir = tempfile::tempdir().unwrap();
    let (_f, s) = node(&o, dir.path(), 32 * MIB);
    let c = Client::new(&s, &test_cert(&["localhost"]), Proto::H2c);
    assert!(c.get("/big.bin", &[]).body == big);
    let hit = c.get("/big.bin", &[]);
    assert_eq!(hit.header("cache-status"), Some("cdn-edge; hit"));
    assert!(hit.body == big);

    tamper_at(dir.path(), &big, big.len() / 2);
    // The stream is reset before its end: the client sees an error, never
    // a whole body.
    match c.try_req("GET", "/big.bin", &[], None) {
        Err(e) => eprintln!("the stream ended in an error: {e}"),
        Ok(r) => panic!("completed: {}", r.summary()),
    }
    let again = c.get("/big.bin", &[]);
    assert!(again.body == big, "{}", again.summary());
    assert_eq!(o.count("/big.bin"), 2);
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_bad_entries_total{reason=\"hash\"}"),
        1
    );
}

/// The head (lengths, key, record, chunk table) is verified by its own
/// blake3 before a byte is answered: a record changed on disk (here its
/// Cache-Control) is never served, under any status.
#[test]
fn a_tampered_head_is_never_answered() {
    let Big {
        s,
        _f,
        o,
        dir,
        body: big,
    } = stored_big(3, MIB, 32 * MIB);

    tamper_head(dir.path(), &big, b"max-age=600", b"max-age=999");
    let r = s.get("/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=600"),
        "{}",
        r.summary()
    );
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    assert!(r.body == big);
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_bad_entries_total{reason=\"hash\"}"),
        1,
        "{m}"
    );
    assert_eq!(o.count("/big.bin"), 2);
}

/// A range reads and verifies only the chunks it covers. Over chunks
/// nobody touched it is served, even from an entry with a tampered chunk
/// elsewhere: every byte sent was verified against the hash recorded when
/// it was written, so it is the object's (refusing would mean hashing the
/// whole entry for each range, the cost streaming avoids). A range over the
/// tampered chunk is aborted, and the entry dropped.
#[test]
fn a_range_is_served_from_verified_chunks_only() {
    let Big {
        s,
        _f,
        o,
        dir,
        body: big,
    } = stored_big(4, 4 * MIB, 32 * MIB);
    tamper_at(dir.path(), &big, 40 * CHUNK + 1000);

    // Inside chunk 1, and across chunks 2 to 4.
    for (first, last) in [(CHUNK + 10, CHUNK + 99), (2 * CHUNK - 5, 4 * CHUNK + 5)] {
        let range = format!("bytes={first}-{last}");
        let r = get_raw(s.addr, "/big.bin", &[("range", &range)]);
        assert_eq!(r.status, 206);
        assert!(r.body == big[first..=last], "{range}");
    }
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_bad_entries_total{reason=\"hash\"}"),
        0
    );
    assert_eq!(o.count("/big.bin"), 1, "served from disk");

    let range = format!("bytes={}-{}", 40 * CHUNK, 41 * CHUNK - 1);
    let r = get_raw(s.addr, "/big.bin", &[("range", &range)]);
    assert_eq!(r.status, 206);
    assert!(r.aborted(), "the tampered chunk was answered");
    assert!(!r.body.windows(TAMPER.len()).any(|w| w == TAMPER));
    let again = get_raw(s.addr, "/big.bin", &[("range", &range)]);
    assert_eq!(again.status, 206);
    assert!(again.body == big[40 * CHUNK..41 * CHUNK]);
    whole_again(&s, &o, "/big.bin", dir.path(), &big);
}

/// A figure of the node's `/metrics` the test cannot do without.
fn metric(s: &Server, name: &str) -> f64 {
    s.metric(name)
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

const RESERVED: &str = "cdn_edge_memory_reserved_bytes";

/// What the node reserves and caches now is within `bound`.
fn within_the_bound(s: &Server, bound: usize) {
    let reserved = metric(s, RESERVED);
    let cached = metric(s, "cdn_edge_memory_cache_bytes");
    assert!(
        reserved + cached <= bound as f64,
        "reserved {reserved} + cached {cached} over the bound"
    );
}

/// The node's peak RSS grew by less than 16 MiB since it was `before`
/// (for `what`).
fn peak_grew_little(s: &Server, before: f64, what: &str) {
    let grew = (s.peak_rss() - before) / MIB as f64;
    eprintln!("peak resident memory grew by {grew:.1} MiB");
    assert!(
        grew < 16.0,
        "peak resident memory grew by {grew:.1} MiB for {what}"
    );
}

/// Nothing is left reserved, soon; with `send_timeout`, once the node's
/// clock is moved past the send timeout (moved in each poll: a sweep must
/// see a stall before the time passes, and one after).
fn all_given_back(s: &Server, send_timeout: bool) {
    assert!(
        poll_until(Duration::from_secs(30), || {
            if send_timeout {
                s.advance(61);
            }
            metric(s, RESERVED) == 0.0
        }),
        "still reserved: {}",
        metric(s, RESERVED)
    );
}

/// 16 clients that read nothing hold a 24 MiB disk object each: before,
/// each hit read it whole (the node grew by 16 × 24 MiB, counted but never
/// refused); now each holds a chunk or two (128 KiB counted against the
/// bound), and the send timeout shuts them down and gives all of it back.
#[test]
fn concurrent_large_disk_hits_stay_within_the_memory_bound() {
    let bound = 64 * MIB;
    let Big {
        s,
        _f,
        o: _o,
        dir: _dir,
        body: big,
    } = stored_big(5, 24 * MIB, bound);
    let before = s.peak_rss();

    let n = 16;
    let clients: Vec<TcpStream> = (0..n).map(|_| stalled(s.addr, "/big.bin")).collect();
    // Each response is under way: its chunks in flight are reserved.
    let in_flight = (n * 2 * CHUNK) as f64;
    assert!(
        poll_until(Duration::from_secs(30), || metric(&s, RESERVED)
            >= in_flight),
        "reserved {} of {in_flight}",
        metric(&s, RESERVED)
    );
    within_the_bound(&s, bound);
    peak_grew_little(&s, before, &format!("{n} hits of 24 MiB"));

    // Past the send timeout the node shuts them down, and everything they
    // held (chunks, reservations, the file) is given back.
    all_given_back(&s, true);
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut sink = vec![0u8; 1 << 20];
        let mut got = 0;
        loop {
            match c.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(k) => got += k,
            }
        }
        assert!(got < big.len(), "the stalled response was never completed");
    }
    let r = s.get("/big.bin");
    assert!(r.body == big, "{}", r.summary());
}

/// 24 clients read a 16 MiB disk object at once, to its end: each gets the
/// true body, and the node holds a chunk or two per response, not the
/// object (before, each hit read it whole: 24 × 16 MiB counted against a
/// 64 MiB bound, never refused). When they are done nothing is left
/// reserved, nothing was counted bad and the origin was asked once.
#[test]
fn many_concurrent_readers_of_a_large_disk_object_stay_within_the_memory_bound() {
    let bound = 64 * MIB;
    let Big {
        s,
        _f,
        o,
        dir: _dir,
        body,
    } = stored_big(6, 16 * MIB, bound);
    let big = std::sync::Arc::new(body);
    let before = s.peak_rss();

    let n = 24;
    let addr = s.addr;
    let readers: Vec<_> = (0..n)
        .map(|_| {
            let big = big.clone();
            std::thread::spawn(move || {
                let r = get_raw(addr, "/big.bin", &[]);
                assert_eq!(r.status, 200);
                r.body == big[..]
            })
        })
        .collect();
    let whole = readers.into_iter().map(|r| r.join().unwrap());
    assert_eq!(
        whole.filter(|ok| *ok).count(),
        n,
        "every reader got the whole, true body"
    );

    peak_grew_little(&s, before, &format!("{n} hits of 16 MiB"));
    all_given_back(&s, false);
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_bad_entries_total{reason=\"hash\"}"),
        0
    );
    assert_eq!(o.count("/big.bin"), 1, "every hit from disk");
}

/// The status line of a response to a client that reads nothing else.
fn status_of(c: &mut TcpStream) -> String {
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = [0u8; 12];
    c.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head).into_owned()
}

/// A node whose memory bound has room for a few responses' chunks only
/// (restarted over the same disk cache with `memory_bytes = 1 MiB`): the
/// responses it has no room for are refused (503, `Retry-After`), not
/// started, so what it holds stays within the bound however many clients
/// ask; once the stalled ones are shut down, the object is served again.
#[test]
fn disk_hits_beyond_the_memory_bound_are_refused_not_held() {
    let big = noise(7, 8 * MIB);
    let o = origin_with("/big.bin", &big);
    let dir = tempfile::tempdir().unwrap();
    {
        let (_f, s) = node(&o, dir.path(), 64 * MIB);
        stored(&s, "/big.bin", &big);
    }
    let bound = MIB;
    let (_f, s) = node(&o, dir.path(), bound);
    let n = 16;
    let mut clients: Vec<TcpStream> = (0..n).map(|_| stalled(s.addr, "/big.bin")).collect();
    let statuses: Vec<String> = clients.iter_mut().map(status_of).collect();
    let served = statuses.iter().filter(|l| l.ends_with("200")).count();
    let refused = statuses.iter().filter(|l| l.ends_with("503")).count();
    eprintln!("{served} streamed, {refused} refused");
    assert_eq!(served + refused, n, "{statuses:?}");
    assert!(served >= 1, "none streamed: {statuses:?}");
    assert!(refused >= 1, "none refused: {statuses:?}");
    within_the_bound(&s, bound);
    let busy = s.get("/big.bin");
    if busy.status == 503 {
        assert_eq!(busy.header("retry-after"), Some("1"));
    }
    assert_eq!(o.count("/big.bin"), 1, "every hit from disk");
    all_given_back(&s, true);
    drop(clients);
    let r = s.get("/big.bin");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.body == big);
}
