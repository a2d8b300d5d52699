//! The disk cache of pulled objects: a node restarted (even after SIGKILL)
//! serves what it had completed from disk without the origin, never what
//! it had not, and never a corrupt entry.

mod common;

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

fn config(origin_url: &str, dir: &Path) -> String {
    config_with(&format!(
        "[origin]\nurl = \"{origin_url}\"\nfirst_byte_timeout_ms = 5000\nconnect_timeout_ms = 500\nretries = 0\n[cache]\ndir = \"{}\"\n",
        dir.display()
    ))
}

fn kill9(s: &mut Server) {
    let st = Command::new("kill")
        .arg("-KILL")
        .arg(s.pid().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(s.wait_exit(Duration::from_secs(10)).is_some());
}

fn objects(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "obj") {
                out.push(p);
            }
        }
    }
    out
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
    let objs = objects(dir.path());
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
    assert_eq!(objects(dir.path()).len(), 1);
    let r = s.req("PURGE", "/p.css", &[("authorization", "Bearer t0k")]);
    assert_eq!(r.status, 200);
    assert_eq!(objects(dir.path()).len(), 0);
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
