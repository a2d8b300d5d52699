//! Encodings of pulled text: made once per object on a bounded pool; an
//! object the full queue turned away stays identity and is offered again on
//! a later hit; the new `[cache]` compression keys are checked at start.

use crate::common;

use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

/// A compressible stylesheet of a few KB, different per `i`.
fn css(i: usize) -> String {
    format!(".c{i} {{ color: red; margin: 0 auto; padding: 1px; }}\n").repeat(100)
}

#[test]
fn a_full_queue_leaves_identity_then_a_later_hit_gets_encodings() {
    let o = Origin::start();
    for i in 0..20 {
        o.route(
            &format!("/s{i}.css"),
            Reply::ok(css(i))
                .header("Content-Type", "text/css")
                .header("Cache-Control", "public, max-age=600"),
        );
    }
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\n[cache]\ncompress_workers = 1\ncompress_queue = 1\n",
        o.url()
    ));
    let s = Server::start(&f.root, &cfg);
    // Twenty misses at once for a queue of one: most are turned away.
    let addr = s.addr;
    let threads: Vec<_> = (0..20)
        .map(|i| std::thread::spawn(move || request(addr, "GET", &format!("/s{i}.css"), &[])))
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
    }
    // Hits offer what is still identity again, until every object has br.
    let br = [("Accept-Encoding", "br")];
    let all_br = poll_until(Duration::from_secs(20), || {
        (0..20).all(|i| {
            s.get_h(&format!("/s{i}.css"), &br)
                .header("content-encoding")
                == Some("br")
        })
    });
    assert!(all_br, "every object got its br representation");
    for i in 0..20 {
        assert_eq!(
            o.count(&format!("/s{i}.css")),
            1,
            "made once, from the stored copy"
        );
    }
}

#[test]
fn compression_keys_are_checked_at_start() {
    let f = Fixture::new();
    for (cfg, key) in [
        ("[cache]\nbrotli_quality = 12\n", "cache.brotli_quality"),
        ("[cache]\ngzip_level = 0\n", "cache.gzip_level"),
        ("[cache]\nzstd_level = 20\n", "cache.zstd_level"),
        ("[cache]\nzstd_level = 0\n", "cache.zstd_level"),
        ("[cache]\ncompress_queue = 0\n", "cache.compress_queue"),
        ("[cache]\ncompress_workers = 65\n", "cache.compress_workers"),
    ] {
        let (status, stderr) = run_config_expect_exit(&f.root, cfg);
        assert!(!status.success(), "{cfg}");
        assert!(stderr.contains(key), "{cfg}: {stderr}");
    }
}

#[test]
fn encodings_are_kept_on_disk_and_never_made_again_after_a_restart() {
    let o = Origin::start();
    o.route(
        "/kept.css",
        Reply::ok(css(7))
            .header("Content-Type", "text/css")
            .header("Cache-Control", "public, max-age=600")
            .header("ETag", "\"k1\""),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_disk(&o.url(), dir.path());
    let br = [("Accept-Encoding", "br")];
    let etag = {
        let s = Server::start(&f.root, &cfg);
        assert_eq!(s.get("/kept.css").status, 200);
        let first = disk_bytes(dir.path());
        assert!(poll_until(Duration::from_secs(20), || {
            s.get_h("/kept.css", &br).header("content-encoding") == Some("br")
        }));
        // The compression thread writes the encodings beside the object
        // after the swap: the entry grows.
        assert!(poll_until(Duration::from_secs(20), || disk_bytes(
            dir.path()
        ) > first));
        s.get_h("/kept.css", &br).header("etag").map(str::to_string)
    };
    assert_eq!(etag.as_deref(), Some("\"k1-br\""));
    let s = Server::start(&f.root, &cfg);
    // The first answer after the restart is already br: read from disk,
    // not made again (it would be identity while being made).
    let r = s.get_h("/kept.css", &br);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), Some("br"), "{}", r.summary());
    assert_eq!(r.header("etag"), Some("\"k1-br\""));
    assert_eq!(o.count("/kept.css"), 1, "served from disk, not the origin");
}

/// Bytes of every entry file under a disk cache directory.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    disk_entry_files(dir)
        .iter()
        .filter_map(|p| p.metadata().ok())
        .map(|m| m.len())
        .sum()
}
