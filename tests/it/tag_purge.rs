//! Purge by tag (surrogate keys) and soft purge, over real HTTP against an
//! origin the test starts: tags come from the origin's `Surrogate-Key`
//! (whitespace) and `Cache-Tag` (commas), are kept from clients unless
//! `purge.pass_tag_headers`, and a purge by tag (`POST /_purge`, `PURGE`
//! with `X-Purge-Tags`, `cdn-edge purge --tag`) drops exactly the tagged
//! objects, in memory and on disk, also after a restart, and on every node
//! of a cluster (a node that is down gets it when it is back). A soft
//! purge makes objects stale: the next request revalidates them, once for
//! a wave of clients.

use crate::common;

use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::cluster::{self, owned_by, Node, Setup};
use common::origin::{Origin, Reply};
use common::*;

const TOKEN: &str = "s3cret-token";
const BEARER: &str = "Bearer s3cret-token";
const WAIT: Duration = Duration::from_secs(20);

fn purging(origin: &Origin, extra: &str) -> String {
    config_with(&format!(
        "[origin]\nurl = \"{}\"\n[purge]\ntoken = \"{TOKEN}\"\n{extra}",
        origin.url()
    ))
}

fn with_disk(origin: &Origin, dir: &Path) -> String {
    // `[cache]` before `[purge]`: each table's keys under its header.
    config_with(&format!(
        "[origin]\nurl = \"{}\"\n[cache]\ndir = \"{}\"\n[purge]\ntoken = \"{TOKEN}\"\n",
        origin.url(),
        dir.display()
    ))
}

/// A cacheable reply carrying `field: tags`.
fn tagged(body: &str, field: &str, tags: &str) -> Reply {
    Reply::ok(body.to_string())
        .header("cache-control", "max-age=600")
        .header("etag", &format!("\"{}\"", body.len()))
        .header(field, tags)
}

/// `POST /_purge` with a JSON body.
fn post_purge(addr: std::net::SocketAddr, body: &str) -> Response {
    request_with_body(
        addr,
        "POST",
        "/_purge",
        &[
            ("authorization", BEARER),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn purged(r: &Response) -> u64 {
    let v: serde_json::Value =
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.summary()));
    v["purged"].as_u64().unwrap()
}

/// The objects of the tests: path, field, tags.
const OBJECTS: [(&str, &str, &str); 4] = [
    ("/a.css", "surrogate-key", "release-42  css"),
    ("/b.js", "cache-tag", "release-42,js"),
    ("/c.png", "surrogate-key", "release-43"),
    ("/d.txt", "x-other", "release-42"),
];

fn route_all(o: &Origin) {
    for (p, field, tags) in OBJECTS {
        o.route(p, tagged(p, field, tags));
    }
}

fn counts(o: &Origin) -> Vec<usize> {
    OBJECTS.iter().map(|(p, _, _)| o.count(p)).collect()
}

#[test]
fn a_tag_purge_drops_exactly_the_tagged_objects_and_clients_never_see_tags() {
    let o = Origin::start();
    route_all(&o);
    let f = Fixture::new();
    let s = Server::start(&f.root, &purging(&o, ""));
    for _ in 0..2 {
        for (p, _, _) in OBJECTS {
            let r = s.get(p);
            assert_eq!(r.status, 200, "{p}: {}", r.summary());
            assert!(
                !r.has("surrogate-key") && !r.has("cache-tag"),
                "{p}: {}",
                r.summary()
            );
        }
    }
    assert_eq!(
        s.get("/d.txt").header("x-other"),
        Some("release-42"),
        "not a tag field"
    );
    assert_eq!(counts(&o), [1, 1, 1, 1]);
    assert_eq!(
        s.metric("cdn_edge_tag_index_entries{store=\"memory\"}"),
        Some(5.0)
    );
    let bytes = s
        .metric("cdn_edge_tag_index_bytes{store=\"memory\"}")
        .unwrap();
    assert!(bytes > 5.0 * 136.0, "{bytes}");

    let r = post_purge(s.addr, r#"{"tags": ["release-42"]}"#);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(purged(&r), 2, "{}", r.text());
    for (p, _, _) in OBJECTS {
        s.get(p);
    }
    assert_eq!(counts(&o), [2, 2, 1, 1], "only the tagged went");
    assert_eq!(
        s.metric("cdn_edge_purges_total{kind=\"tag\",mode=\"hard\"}"),
        Some(1.0)
    );
    assert_eq!(
        s.metric("cdn_edge_purged_objects_total{kind=\"tag\",mode=\"hard\"}"),
        Some(2.0)
    );

    // PURGE with X-Purge-Tags: the listed tags, not the path.
    let r = s.req(
        "PURGE",
        "/d.txt",
        &[
            ("authorization", BEARER),
            ("x-purge-tags", "release-43, js"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(purged(&r), 2, "{}", r.text());
    for (p, _, _) in OBJECTS {
        s.get(p);
    }
    assert_eq!(counts(&o), [2, 3, 2, 1]);
    assert_eq!(
        s.metric("cdn_edge_tag_index_entries{store=\"memory\"}"),
        Some(5.0)
    );
}

#[test]
fn tag_fields_pass_on_when_asked_and_other_fields_can_tag() {
    let o = Origin::start();
    o.route("/x.css", tagged("x", "x-tags", "a, b c"));
    o.route("/y.css", tagged("y", "surrogate-key", "a"));
    let f = Fixture::new();
    let extra = "tag_headers = [\"X-Tags\"]\npass_tag_headers = true\n";
    let s = Server::start(&f.root, &purging(&o, extra));
    for _ in 0..2 {
        let r = s.get("/x.css");
        assert_eq!(
            r.header("x-tags"),
            Some("a, b c"),
            "passed on: {}",
            r.summary()
        );
        let r = s.get("/y.css");
        assert_eq!(r.header("surrogate-key"), Some("a"), "not a tag field here");
    }
    let r = post_purge(s.addr, r#"{"tags": ["c"]}"#);
    assert_eq!(purged(&r), 1, "{}", r.text());
    s.get("/x.css");
    s.get("/y.css");
    assert_eq!((o.count("/x.css"), o.count("/y.css")), (2, 1));
}

#[test]
fn a_tag_purge_after_a_restart_drops_objects_only_on_disk() {
    let o = Origin::start();
    route_all(&o);
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(&f.root, &with_disk(&o, dir.path()));
    for (p, _, _) in OBJECTS {
        assert_eq!(s.get(p).status, 200);
    }
    assert!(poll_until(WAIT, || s.metric("cdn_edge_disk_cache_objects")
        == Some(4.0)));
    s.sigterm();
    assert!(s.wait_exit(WAIT).is_some());

    let s = Server::start(&f.root, &with_disk(&o, dir.path()));
    // Only on disk now; the index learns their tags from the records.
    let r = post_purge(s.addr, r#"{"tags": ["release-42"]}"#);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(purged(&r), 2, "{}", r.text());
    assert!(poll_until(WAIT, || s.metric("cdn_edge_disk_cache_objects")
        == Some(2.0)));
    for (p, _, _) in OBJECTS {
        let r = s.get(p);
        assert!(
            !r.has("surrogate-key") && !r.has("cache-tag"),
            "{p}: {}",
            r.summary()
        );
    }
    assert_eq!(counts(&o), [2, 2, 1, 1], "the others came from disk");
    // c (one tag) and d (none) kept, a and b (two each) stored again.
    assert_eq!(
        s.metric("cdn_edge_tag_index_entries{store=\"disk\"}"),
        Some(5.0)
    );
    // The disk index's tags count inside the memory bound.
    let disk_tags = s
        .metric("cdn_edge_tag_index_bytes{store=\"disk\"}")
        .unwrap();
    assert!(disk_tags > 0.0);
    assert!(s.metric("cdn_edge_memory_reserved_bytes").unwrap() >= disk_tags);
}

/// Sends `n` GETs of `path` at once; their statuses and bodies.
fn wave(addr: std::net::SocketAddr, path: &'static str, n: usize) -> Vec<(u16, Vec<u8>)> {
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let r = request(addr, "GET", path, &[]);
                (r.status, r.body)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn a_soft_purge_revalidates_once_for_a_wave_of_200_clients() {
    let o = Origin::start();
    let reply = tagged("soft body", "surrogate-key", "r1").etag_304("\"9\"");
    o.route("/s.css", reply);
    let f = Fixture::new();
    let s = Server::start(&f.root, &purging(&o, ""));
    assert_eq!(s.get("/s.css").body, b"soft body");
    assert_eq!(
        s.get("/s.css").header("cache-status"),
        Some("cdn-edge; hit")
    );

    let r = post_purge(s.addr, r#"{"paths": ["/s.css"], "soft": true}"#);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(purged(&r), 1, "{}", r.text());
    for (status, body) in wave(s.addr, "/s.css", 200) {
        assert_eq!((status, body.as_slice()), (200, &b"soft body"[..]));
    }
    let seen = o.requests("/s.css");
    assert_eq!(seen.len(), 2, "one revalidation for the wave");
    assert_eq!(seen[1].header("if-none-match"), Some("\"9\""));
    assert_eq!(
        s.get("/s.css").header("cache-status"),
        Some("cdn-edge; hit"),
        "fresh again"
    );
    assert_eq!(
        s.metric("cdn_edge_origin_revalidated_not_modified_total"),
        Some(1.0)
    );

    // By tag, on PURGE: the same.
    let r = s.req(
        "PURGE",
        "/",
        &[
            ("authorization", BEARER),
            ("x-purge-tags", "r1"),
            ("x-purge-soft", "1"),
        ],
    );
    assert_eq!(purged(&r), 1, "{}", r.summary());
    assert_eq!(s.get("/s.css").body, b"soft body");
    assert_eq!(o.count("/s.css"), 3);
    assert_eq!(
        s.metric("cdn_edge_purges_total{kind=\"tag\",mode=\"soft\"}"),
        Some(1.0)
    );
}

#[test]
fn a_soft_purged_object_is_served_stale_while_it_revalidates() {
    let o = Origin::start();
    let reply = Reply::ok("swr")
        .header("cache-control", "max-age=600, stale-while-revalidate=60")
        .header("etag", "\"s\"")
        .header("cache-tag", "t")
        .etag_304("\"s\"");
    o.route("/w.css", reply);
    let f = Fixture::new();
    let s = Server::start(&f.root, &purging(&o, ""));
    s.get("/w.css");
    let r = post_purge(s.addr, r#"{"prefixes": ["/"], "soft": true}"#);
    assert_eq!(purged(&r), 1, "{}", r.text());
    let r = s.get("/w.css");
    assert_eq!(r.body, b"swr");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit; detail=stale-while-revalidate")
    );
    assert!(
        poll_until(WAIT, || o.count("/w.css") == 2),
        "revalidated in the background"
    );
    assert!(poll_until(WAIT, || {
        s.get("/w.css").header("cache-status") == Some("cdn-edge; hit")
    }));
    assert_eq!(o.count("/w.css"), 2);
}

#[test]
fn a_soft_purge_stays_across_a_restart() {
    let o = Origin::start();
    route_all(&o);
    o.route(
        "/a.css",
        tagged("/a.css", "surrogate-key", "release-42").etag_304("\"6\""),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(&f.root, &with_disk(&o, dir.path()));
    for (p, _, _) in OBJECTS {
        s.get(p);
    }
    assert!(poll_until(WAIT, || s.metric("cdn_edge_disk_cache_objects")
        == Some(4.0)));
    let r = post_purge(s.addr, r#"{"tags": ["release-42"], "soft": true}"#);
    assert_eq!(purged(&r), 2, "{}", r.text());
    s.sigterm();
    assert!(s.wait_exit(WAIT).is_some());

    let s = Server::start(&f.root, &with_disk(&o, dir.path()));
    for (p, _, _) in OBJECTS {
        assert_eq!(s.get(p).status, 200);
    }
    assert_eq!(
        counts(&o),
        [2, 2, 1, 1],
        "the soft-purged ones were asked again"
    );
    assert_eq!(
        o.requests("/a.css")[1].header("if-none-match"),
        Some("\"6\"")
    );
    assert_eq!(
        s.get("/a.css").header("cache-status"),
        Some("cdn-edge; hit")
    );
    // The 304 made it fresh again, also on disk.
    assert_eq!(o.count("/a.css"), 2);
}

#[test]
fn bad_purges_and_bad_tag_settings_are_refused() {
    let o = Origin::start();
    let f = Fixture::new();
    let s = Server::start(&f.root, &purging(&o, ""));
    let r = post_purge(s.addr, r#"{"tagz": ["x"]}"#);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown field `tagz`"), "{}", r.text());
    let r = post_purge(s.addr, r#"{"tags": ["a b"]}"#);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("bad purge tag \"a b\""), "{}", r.text());
    let r = post_purge(s.addr, r#"{"tags": "x"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    for (name, value) in [("x-purge-soft", "yes"), ("x-purge-tags", " , ")] {
        let r = s.req("PURGE", "/a", &[("authorization", BEARER), (name, value)]);
        assert_eq!(r.status, 400, "{name}: {value}: {}", r.summary());
    }
    drop(s);
    for (bad, key) in [
        ("tag_headers = [\"bad name\"]", "purge.tag_headers[0]"),
        ("tag_headers = [\"A\", \"a\"]", "purge.tag_headers[1]"),
        ("tag_headers = \"Cache-Tag\"", "purge.tag_headers"),
        ("pass_tag_headers = \"yes\"", "purge.pass_tag_headers"),
    ] {
        let (status, stderr) = run_config_expect_exit(&f.root, &purging(&o, &format!("{bad}\n")));
        assert!(!status.success(), "{bad}");
        assert!(stderr.contains(key), "{bad}: {stderr}");
    }
}

#[test]
fn the_purge_command_purges_by_tag_and_softly() {
    let o = Origin::start();
    route_all(&o);
    o.route(
        "/c.png",
        tagged("/c.png", "surrogate-key", "release-43").etag_304("\"6\""),
    );
    let f = Fixture::new();
    let s = Server::start(&f.root, &purging(&o, ""));
    for (p, _, _) in OBJECTS {
        s.get(p);
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("purge.toml");
    std::fs::write(&cfg, format!("[purge]\ntoken = \"{TOKEN}\"\n")).unwrap();
    let run = |extra: &[&str]| {
        let mut args: Vec<OsString> = vec!["purge".into(), "--config".into(), cfg.clone().into()];
        args.extend(["--node".into(), s.addr.to_string().into()]);
        args.extend(extra.iter().map(OsString::from));
        let (status, stderr) = run_to_exit(&args, None);
        assert!(status.success(), "{extra:?}: {stderr}");
    };
    run(&["--tag", "css", "--tag", "js"]);
    run(&["--tag", "release-43", "--soft"]);
    for (p, _, _) in OBJECTS {
        assert_eq!(s.get(p).status, 200);
    }
    assert_eq!(counts(&o), [2, 2, 2, 1]);
    assert_eq!(
        o.requests("/c.png")[1].header("if-none-match"),
        Some("\"6\""),
        "soft"
    );
}

/// Three purging nodes in front of `origin` (disk caches under `disk`).
fn nodes(origin: &Origin, root: &Path, cluster: &str, disk: &Path) -> Vec<Node> {
    let extra = format!("[purge]\ntoken = \"{TOKEN}\"\n");
    let setup = Setup {
        cluster,
        extra: &extra,
        disk: Some(disk),
    };
    cluster::start_setup(3, &origin.url(), root, &setup)
}

#[test]
fn a_tag_purge_reaches_every_node_and_waits_for_one_that_is_down() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let mut nodes = nodes(
        &origin,
        root.path(),
        "probe_ms = 100\ndown_secs = 3600",
        disk.path(),
    );
    let b = 1;
    let paths = owned_by(&nodes, b, "/t/", 3);
    for (i, p) in paths.iter().enumerate() {
        let tag = if i < 2 { "release-42" } else { "other" };
        origin.route(p, tagged(p, "surrogate-key", tag));
        for n in &nodes {
            let r = n.get(p);
            assert_eq!(r.status, 200, "{p}: {}", r.summary());
            assert!(!r.has("surrogate-key"), "{}", r.summary());
        }
        assert_eq!(origin.count(p), 1, "{p}: fetched once for the cluster");
    }
    // Every node indexed the tags, the owner's peers from its answers.
    for n in &nodes {
        assert_eq!(
            n.metric("cdn_edge_tag_index_entries{store=\"memory\"}"),
            Some(3.0)
        );
    }
    let r = post_purge(nodes[0].addr, r#"{"tags": ["release-42"]}"#);
    assert_eq!(r.status, 200, "{}", r.summary());
    let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(answer["purged"], 6, "two objects on each node: {answer}");
    for n in &nodes {
        assert_eq!(n.get(&paths[2]).status, 200);
    }
    assert_eq!(
        origin.count(&paths[2]),
        1,
        "the untagged one stayed everywhere"
    );
    for (k, n) in [b, 0, 2].into_iter().enumerate() {
        let r = nodes[n].get(&paths[0]);
        assert_eq!(r.status, 200);
        assert_eq!(
            origin.count(&paths[0]),
            2,
            "node {n} (#{k}): gone, fetched once more"
        );
    }

    // A node down at purge time gets the tag purge when it is back: the
    // owner holds the refetched first object and the third on its disk.
    assert!(poll_until(WAIT, || {
        nodes[b].metric("cdn_edge_disk_cache_objects") == Some(2.0)
    }));
    nodes[b].stop();
    let r = post_purge(nodes[2].addr, r#"{"tags": ["other"]}"#);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("kept until it is back"), "{}", r.text());
    assert!(nodes[2].metric("cdn_edge_cluster_purges_pending").unwrap() >= 1.0);
    nodes[b].restart();
    assert!(poll_until(WAIT, || {
        nodes[2].metric("cdn_edge_cluster_purges_pending") == Some(0.0)
    }));
    assert_eq!(nodes[b].get(&paths[0]).status, 200);
    assert_eq!(
        origin.count(&paths[0]),
        2,
        "untouched: served from its disk"
    );
    assert_eq!(nodes[b].get(&paths[2]).status, 200);
    assert_eq!(origin.count(&paths[2]), 2, "the kept tag purge reached it");
}
