//! The disk cache of pulled objects: a node restarted (even after SIGKILL)
//! serves what it had completed from disk without the origin, never what
//! it had not, and never a corrupt entry.

use crate::common;

use std::path::Path;
use std::thread;
use std::time::Duration;

use common::disk::entry_files;
use common::origin::{Origin, Reply};
use common::*;

fn config(origin_url: &str, dir: &Path) -> String {
    config_with(&format!(
        "[origin]\nurl = \"{origin_url}\"\nfirst_byte_timeout_ms = 5000\nconnect_timeout_ms = 500\nretries = 0\n[cache]\ndir = \"{}\"\n",
        dir.display()
    ))
}

fn kill9(s: &mut Server) {
    s.signal("KILL");
    assert!(s.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn a_node_killed_mid_fetch_serves_what_it_completed_and_nothing_else() {
    let o = Origin::start();
    o.route(
        "/done.css",
        Reply::ok("done{}")
            .header("cache-control", "max-age=600")
            .header("content-type", "text/css"),
    );
    o.route(
        "/slow.css",
        Reply::ok("slow{}")
            .header("cache-control", "max-age=600")
            .delay(Duration::from_secs(5)),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(&f.root, &config(&o.url(), dir.path()));
    assert_eq!(s.get("/done.css").body, b"done{}");
    let addr = s.addr;
    let pending = thread::spawn(move || try_request(addr, "GET", "/slow.css", &[]));
    assert!(poll_until(Duration::from_secs(5), || o.count("/slow.css") == 1));
    kill9(&mut s);
    let _ = pending.join();
    o.shutdown();

    let s2 = Server::start(&f.root, &config(&o.url(), dir.path()));
    let r = s2.get("/done.css");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"done{}");
    assert_eq!(r.header("content-type"), Some("text/css"));
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert!(r.header("age").is_some());
    let r = s2.get("/slow.css");
    assert_eq!(
        r.status,
        502,
        "an object the node had not completed is not on disk: {}",
        r.summary()
    );
}

#[test]
fn a_corrupt_entry_is_discarded_not_served() {
    let o = Origin::start();
    o.route(
        "/c.js",
        Reply::ok("original-bytes").header("cache-control", "max-age=600"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(&f.root, &config(&o.url(), dir.path()));
    assert_eq!(s.get("/c.js").body, b"original-bytes");
    kill9(&mut s);
    let objs = entry_files(dir.path());
    assert_eq!(objs.len(), 1);
    let mut bytes = std::fs::read(&objs[0]).unwrap();
    let at = bytes.windows(8).position(|w| w == b"original").unwrap();
    bytes[at] = b'X';
    std::fs::write(&objs[0], &bytes).unwrap();
    let s2 = Server::start(&f.root, &config(&o.url(), dir.path()));
    let r = s2.get("/c.js");
    assert_eq!(
        r.body, b"original-bytes",
        "fetched again, not the corrupt copy"
    );
    assert_eq!(o.count("/c.js"), 2);
}

#[test]
fn purge_removes_from_disk_too() {
    let o = Origin::start();
    o.route(
        "/p.css",
        Reply::ok("v1").header("cache-control", "max-age=600"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!("{}[purge]\ntoken = \"t0k\"\n", config(&o.url(), dir.path()));
    let mut s = Server::start(&f.root, &cfg);
    s.get("/p.css");
    assert_eq!(entry_files(dir.path()).len(), 1);
    let r = s.req("PURGE", "/p.css", &[("authorization", "Bearer t0k")]);
    assert_eq!(r.status, 200);
    assert_eq!(entry_files(dir.path()).len(), 0);
    kill9(&mut s);
    o.route(
        "/p.css",
        Reply::ok("v2").header("cache-control", "max-age=600"),
    );
    let s2 = Server::start(&f.root, &cfg);
    assert_eq!(s2.get("/p.css").body, b"v2");
}

#[test]
fn disk_figures_are_in_the_metrics() {
    let o = Origin::start();
    o.route(
        "/m.css",
        Reply::ok("m".repeat(1000)).header("cache-control", "max-age=600"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&f.root, &config(&o.url(), dir.path()));
    s.get("/m.css");
    let t = s.get("/metrics").text();
    assert!(t.contains("cdn_edge_disk_cache_objects 1"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.starts_with("cdn_edge_disk_cache_bytes ")
                && l != "cdn_edge_disk_cache_bytes 0"),
        "{t}"
    );
}

/// An origin URL with nothing listening (a port just bound and released).
fn dead_origin() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// Fills `dir` with `n` fresh objects `/f/<i>.css` (body `body <i>`) from
/// the origin `origin` through the library, as a node would.
fn fill(dir: &Path, n: usize, origin: &str) {
    use actix_web::http::header::{HeaderName, HeaderValue};
    use cdn_edge::origin::disk_meta::DiskMeta;
    use cdn_edge::store::disk::DiskCache;
    let c = DiskCache::open(dir, 1 << 30).unwrap();
    let now = std::time::SystemTime::now();
    for i in 0..n {
        let meta = DiskMeta {
            status: 200,
            headers: [
                ("cache-control", "max-age=600"),
                ("content-type", "text/css"),
            ]
            .into_iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect(),
            request_time: now,
            response_time: now,
            path: format!("f/{i}.css"),
            vary: vec![],
            encodings: vec![],
            origin: cdn_edge::origin::client::identity(origin, ""),
            key_format: cdn_edge::http::cache_key::FORMAT,
            tags: vec![],
            age: None,
            use_as_dictionary: None,
        };
        let body = format!("body {i}");
        c.put(&format!("f/{i}.css"), &meta, &[body.as_bytes()])
            .unwrap();
    }
}

fn disk_objects(s: &Server) -> Option<u64> {
    let t = s.get("/metrics").text();
    t.lines()
        .find_map(|l| l.strip_prefix("cdn_edge_disk_cache_objects "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_restarted_node_serves_from_disk_at_once_and_completes_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dead_origin();
    fill(dir.path(), 3000, &origin);
    // An entry of the old layout (version 1): deleted, never served.
    let v1 = dir.path().join("ab/cd");
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::write(v1.join(format!("{}.obj", "ab".repeat(32))), b"v1").unwrap();
    let f = Fixture::new();
    let s = Server::start(&f.root, &config(&origin, dir.path()));
    let r = s.get("/f/2999.css");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"body 2999");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert!(
        poll_until(Duration::from_secs(30), || disk_objects(&s) == Some(3000)),
        "index never complete: {:?}",
        disk_objects(&s)
    );
    assert_eq!(s.get("/f/0.css").body, b"body 0");
    assert!(poll_until(Duration::from_secs(30), || !dir
        .path()
        .join("ab")
        .exists()));
}

#[test]
fn objects_sit_in_one_level_of_fan_out() {
    let o = Origin::start();
    o.route(
        "/l.css",
        Reply::ok("l{}").header("cache-control", "max-age=600"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&f.root, &config(&o.url(), dir.path()));
    s.get("/l.css");
    let objs = entry_files(dir.path());
    assert_eq!(objs.len(), 1);
    let rel = objs[0].strip_prefix(dir.path()).unwrap();
    let parts: Vec<_> = rel.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(parts.len(), 2, "{rel:?}");
    assert_eq!(parts[0].len(), 3);
    assert!(parts[1].starts_with(parts[0]) && parts[1].len() == 32 + 4);
}

#[test]
fn a_purge_right_after_a_restart_stays_purged() {
    let o = Origin::start();
    for p in ["/p/a.css", "/p/b.css", "/q.css"] {
        o.route(p, Reply::ok(p).header("cache-control", "max-age=600"));
    }
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!("{}[purge]\ntoken = \"t0k\"\n", config(&o.url(), dir.path()));
    let mut s = Server::start(&f.root, &cfg);
    for p in ["/p/a.css", "/p/b.css", "/q.css"] {
        assert_eq!(s.get(p).status, 200);
    }
    kill9(&mut s);
    // Purged while the new node may still be rebuilding its index.
    let mut s2 = Server::start(&f.root, &cfg);
    let body = r#"{"prefixes": ["/p/"]}"#;
    let raw = send_raw(
        s2.addr,
        format!(
            "POST /_purge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200, "{}", r.summary());
    kill9(&mut s2);
    // The same origin, down: what the disk holds of it is all there is.
    o.shutdown();
    let s3 = Server::start(&f.root, &config(&o.url(), dir.path()));
    assert_eq!(s3.get("/q.css").status, 200);
    for p in ["/p/a.css", "/p/b.css"] {
        let r = s3.get(p);
        assert_ne!(r.status, 200, "{p} came back: {}", r.summary());
    }
}

/// The headers of a response that do not depend on when it was sent.
fn timeless(r: &Response) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| !matches!(n.as_str(), "date" | "age"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    h.sort();
    h
}

#[test]
fn every_disk_hit_of_a_version_answers_alike() {
    // A memory cache too small to admit the object: every request after
    // the first is a disk hit (the first decodes the record, later ones
    // reuse what it decoded).
    let o = Origin::start();
    let body = ".a { color: red; margin: 0 auto; }\n".repeat(120);
    o.route(
        "/x.css",
        Reply::ok(body.as_str())
            .header("cache-control", "max-age=600")
            .header("content-type", "text/css")
            .header("etag", "\"v1\"")
            .header("link", "</y.css>; rel=preload")
            .header("x-origin-thing", "kept"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "{}memory_bytes = 32768\nmax_object_bytes = 32768\n",
        config(&o.url(), dir.path())
    );
    let s = Server::start(&f.root, &cfg);
    assert_eq!(s.get("/x.css").status, 200);
    // The encodings are made once and written beside the object on disk.
    let br = [("accept-encoding", "br")];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.get_h("/x.css", &br).header("content-encoding") != Some("br") {
        assert!(std::time::Instant::now() < deadline, "br never made");
        thread::sleep(Duration::from_millis(20));
    }
    for headers in [&br[..], &[("accept-encoding", "gzip")][..], &[][..]] {
        let first = s.get_h("/x.css", headers);
        assert_eq!(first.header("cache-status"), Some("cdn-edge; hit"));
        for _ in 0..3 {
            let again = s.get_h("/x.css", headers);
            assert_eq!(again.body, first.body);
            assert_eq!(timeless(&again), timeless(&first));
        }
    }
    let plain = s.get("/x.css");
    assert_eq!(plain.body, body.as_bytes());
    assert_eq!(plain.header("x-origin-thing"), Some("kept"));
    assert_eq!(plain.header("etag"), Some("\"v1\""));
    assert_eq!(o.count("/x.css"), 1, "never fetched again");
}
