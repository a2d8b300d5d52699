//! What comes back from the disk cache is verified on every read, not only
//! on the first one of a process: bytes overwritten in an entry's file while
//! the node runs are never served (under the original ETag or any other);
//! the entry is dropped, counted in `cdn_edge_disk_bad_entries_total` and
//! the object fetched again. And `Cache-Status` says `stored` only when the
//! response was stored somewhere (RFC 9211 §2.5).

use crate::common;

use std::path::Path;

use common::disk::{counter, dropped_and_fetched_again, tamper_at, TAMPER};
use common::origin::{Origin, Reply};
use common::*;

/// A node whose memory cache holds objects of at most 64 KiB (1 MiB over
/// 16 shards: one 40 KB object per shard), with a disk cache in `dir`.
fn config(origin: &Origin, dir: &Path, memory_bytes: u64) -> String {
    config_with(&format!(
        "[origin]\nurl = \"{}\"\nretries = 0\n[cache]\nmemory_bytes = {memory_bytes}\n\
         max_object_bytes = 65536\nadmission = \"always\"\ndir = \"{}\"\n",
        origin.url(),
        dir.display()
    ))
}

/// A memory bound small enough that 200 objects of 40 KB push one out.
const SMALL: u64 = 1 << 20;

/// Overwrites 17 bytes in the middle of `body` in its entry file.
fn tamper(dir: &Path, body: &[u8]) {
    tamper_at(dir, body, body.len() / 2);
}

fn tampered(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    let mid = b.len() / 2;
    b[mid..mid + TAMPER.len()].copy_from_slice(TAMPER);
    b
}

/// Asks for `path` once the bytes of `body` were tampered with on disk:
/// either the whole, true body (fetched again from the origin) or a
/// response aborted before its end; never the tampered bytes.
fn never_tampered(s: &Server, path: &str, body: &[u8]) {
    match try_request(s.addr, "GET", path, &[]) {
        // Aborted before its end (an object streamed from disk stops at
        // the chunk that does not verify): the client knows it has no
        // whole body, and what came is the object's.
        Ok(r)
            if r.header("content-length")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| r.body.len() < n) =>
        {
            assert!(body.starts_with(&r.body), "not the object: {}", r.summary());
        }
        Ok(r) => {
            assert_eq!(r.status, 200, "{}", r.summary());
            assert!(
                r.body != tampered(body),
                "the tampered bytes were served: {}",
                r.summary()
            );
            assert!(r.body == body, "not the object: {}", r.summary());
        }
        // Aborted before its end: the client knows it has no whole body.
        Err(e) => assert!(!e.contains(std::str::from_utf8(TAMPER).unwrap()), "{e}"),
    }
}

/// The object read from disk on every request (1 MiB: too big for the
/// memory cache), overwritten on disk after a disk hit read it whole and
/// found it good. The bound is 4 MiB: fetches hold bodies whole within half
/// of it (`docs/security.md`), and this one must be held to be stored.
#[test]
fn an_object_read_from_disk_on_every_hit_is_never_served_tampered() {
    let o = Origin::start();
    let big = noise(1, 1 << 20);
    o.route(
        "/big.bin",
        Reply::ok(big.clone())
            .header("cache-control", "max-age=600")
            .header("content-type", "application/octet-stream"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&f.root, &config(&o, dir.path(), 4 * SMALL));
    let r = s.get("/big.bin");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.body == big);
    let hit = s.get("/big.bin");
    assert_eq!(hit.header("cache-status"), Some("cdn-edge; hit"));
    assert!(hit.body == big);
    let etag = hit.header("etag").map(str::to_string);

    tamper(dir.path(), &big);
    never_tampered(&s, "/big.bin", &big);

    let again = s.get("/big.bin");
    assert!(again.body == big, "{}", again.summary());
    assert_eq!(again.header("etag").map(str::to_string), etag);
    dropped_and_fetched_again(&s, &o, "/big.bin", dir.path());
}

/// The object held in memory, then pushed out of it by 200 others (one
/// 40 KB object fits a shard), so that the next hit reads the disk:
/// overwritten there while the node runs.
#[test]
fn an_object_evicted_from_memory_is_never_served_tampered_from_disk() {
    let o = Origin::start();
    let small = noise(2, 40_000);
    o.route(
        "/small.bin",
        Reply::ok(small.clone()).header("cache-control", "max-age=600"),
    );
    let others = 200;
    for i in 0..others {
        o.route(
            &format!("/other{i}.bin"),
            Reply::ok(noise(100 + i, 40_000)).header("cache-control", "max-age=600"),
        );
    }
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&f.root, &config(&o, dir.path(), SMALL));
    assert!(s.get("/small.bin").body == small);
    for i in 0..others {
        assert_eq!(s.get(&format!("/other{i}.bin")).status, 200);
    }

    tamper(dir.path(), &small);
    never_tampered(&s, "/small.bin", &small);

    assert!(s.get("/small.bin").body == small);
    dropped_and_fetched_again(&s, &o, "/small.bin", dir.path());
}

/// Item 12 of issue 18: an object too big for the memory cache whose disk
/// write fails is stored nowhere, and `Cache-Status` must not say `stored`
/// (RFC 9211 §2.5); one the disk did store says it.
#[test]
fn cache_status_says_stored_only_when_something_stored_it() {
    let o = Origin::start();
    for path in ["/a.bin", "/b.bin"] {
        o.route(
            path,
            Reply::ok(noise(3, 200_000)).header("cache-control", "max-age=600"),
        );
    }
    let f = Fixture::new();

    // A disk cache that stores it: `stored`.
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&f.root, &config(&o, dir.path(), SMALL));
    let r = s.get("/a.bin");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    drop(s);

    // Every write fails: each fan-out directory's name is taken by a
    // regular file, so no entry file can be created (counted as `other`).
    let full = tempfile::tempdir().unwrap();
    for i in 0..4096 {
        std::fs::write(full.path().join(format!("{i:03x}")), b"").unwrap();
    }
    let s = Server::start(&f.root, &config(&o, full.path(), SMALL));
    let r = s.get("/b.bin");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.body == noise(3, 200_000));
    assert_eq!(r.header("cache-status"), Some("cdn-edge; fwd=uri-miss"));
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_write_errors_total{kind=\"other\"}"),
        1,
        "{m}"
    );
    // Stored nowhere: the next request goes to the origin again.
    let r = s.get("/b.bin");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; fwd=uri-miss"));
    assert_eq!(o.count("/b.bin"), 2);
}
