//! Purging (PURGE, POST /_purge, `cdn-edge purge`) guarded by a bearer
//! token, and unsafe methods passed to the origin, invalidating what they
//! touch (RFC 9111 §4.4).

use crate::common;

use std::ffi::OsString;

use common::origin::{Origin, Reply};
use common::*;

const TOKEN: &str = "s3cret-token";

fn edge(origin: &Origin, purge: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{purge}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

fn cached(o: &Origin, path: &str, body: &str) {
    o.route(
        path,
        Reply::ok(body.to_string()).header("cache-control", "max-age=600"),
    );
}

#[test]
fn purge_method_drops_one_object_and_needs_the_token() {
    let o = Origin::start();
    cached(&o, "/a.css", "a");
    let (_f, s) = edge(&o, &format!("[purge]\ntoken = \"{TOKEN}\"\n"));
    s.get("/a.css");
    s.get("/a.css");
    assert_eq!(o.count("/a.css"), 1);
    let r = s.req("PURGE", "/a.css", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        s.req("PURGE", "/a.css", &[("authorization", "Bearer wrong")])
            .status,
        401
    );
    let auth = format!("Bearer {TOKEN}");
    let r = s.req("PURGE", "/a.css", &[("authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("\"purged\": 1"), "{}", r.text());
    s.get("/a.css");
    assert_eq!(o.count("/a.css"), 2, "purged object is fetched again");
}

#[test]
fn purge_is_disabled_without_a_token() {
    let o = Origin::start();
    cached(&o, "/a.css", "a");
    let (_f, s) = edge(&o, "");
    s.get("/a.css");
    let r = s.req("PURGE", "/a.css", &[("authorization", "Bearer anything")]);
    assert_eq!(
        r.status,
        405,
        "without a token PURGE is 405: {}",
        r.summary()
    );
    s.get("/a.css");
    assert_eq!(o.count("/a.css"), 1, "still cached");
}

#[test]
fn batch_purge_by_paths_and_prefixes() {
    let o = Origin::start();
    for p in ["/img/a.png", "/img/b.png", "/imgx.png", "/c.css"] {
        cached(&o, p, p);
    }
    let (_f, s) = edge(&o, &format!("[purge]\ntoken = \"{TOKEN}\"\n"));
    for p in ["/img/a.png", "/img/b.png", "/imgx.png", "/c.css"] {
        s.get(p);
    }
    let auth = format!("Bearer {TOKEN}");
    let body = br#"{"paths": ["/c.css"], "prefixes": ["/img/"]}"#;
    let raw = send_raw(
        s.addr,
        format!(
            "POST /_purge HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        )
        .as_bytes(),
    );
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("\"purged\": 3"), "{}", r.text());
    for p in ["/img/a.png", "/img/b.png", "/imgx.png", "/c.css"] {
        s.get(p);
    }
    assert_eq!(o.count("/imgx.png"), 1, "outside the prefix");
    assert_eq!(o.count("/img/a.png"), 2);
    assert_eq!(o.count("/c.css"), 2);
    let bad = send_raw(
        s.addr,
        format!("POST /_purge HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!").as_bytes(),
    );
    assert_eq!(parse_response(&bad, false).unwrap().status, 400);
}

#[test]
fn the_purge_command_calls_every_node() {
    let o = Origin::start();
    cached(&o, "/p.js", "p");
    let (_f1, s1) = edge(&o, &format!("[purge]\ntoken = \"{TOKEN}\"\n"));
    let (_f2, s2) = edge(&o, &format!("[purge]\ntoken = \"{TOKEN}\"\n"));
    s1.get("/p.js");
    s2.get("/p.js");
    assert_eq!(o.count("/p.js"), 2);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("purge.toml");
    std::fs::write(
        &cfg,
        format!(
            "[purge]\ntoken = \"{TOKEN}\"\nnodes = [\"http://{}\", \"http://{}\"]\n",
            s1.addr, s2.addr
        ),
    )
    .unwrap();
    let args: Vec<OsString> = vec![
        "purge".into(),
        "/p.js".into(),
        "--config".into(),
        cfg.into_os_string(),
    ];
    let (status, stderr) = run_to_exit(&args, None);
    assert!(status.success(), "{stderr}");
    s1.get("/p.js");
    s2.get("/p.js");
    assert_eq!(o.count("/p.js"), 4, "both nodes fetched again");
}

#[test]
fn unsafe_methods_go_to_the_origin_and_invalidate() {
    let o = Origin::start();
    cached(&o, "/doc.json", "v1");
    cached(&o, "/other.json", "o1");
    o.route(
        "/doc.json",
        Reply::ok("v1").header("cache-control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/doc.json").body, b"v1");
    assert_eq!(s.get("/other.json").body, b"o1");
    // A POST is forwarded with its body; the origin's answer comes back.
    o.route(
        "/doc.json",
        Reply::status(201, "created").header("location", "/other.json"),
    );
    let raw = send_raw(
        s.addr,
        b"POST /doc.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{\"a\":1}",
    );
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(r.body, b"created");
    let posted = o
        .requests("/doc.json")
        .into_iter()
        .find(|q| q.method == "POST")
        .expect("POST reached the origin");
    assert_eq!(posted.body, b"{\"a\":1}");
    assert_eq!(posted.header("content-type"), Some("application/json"));
    // Both the URL and its Location were invalidated.
    o.route(
        "/doc.json",
        Reply::ok("v2").header("cache-control", "max-age=600"),
    );
    cached(&o, "/other.json", "o2");
    assert_eq!(s.get("/doc.json").body, b"v2");
    assert_eq!(s.get("/other.json").body, b"o2");
}

#[test]
fn without_an_origin_unsafe_methods_are_405() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    let r = s.req("DELETE", "/plain.txt", &[]);
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());
}
