//! What the edge forwards to the origin (transparent shared cache): the
//! client's end-to-end request headers pass, hop-by-hop and spoofable
//! routing headers do not, the edge adds `Via` and `X-Forwarded-*`; on a
//! fetch that will be stored the edge answers conditionals and ranges itself,
//! on pass-through it forwards them.

use crate::common;

use common::origin::{Origin, Reply, Seen};
use common::*;

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// Routes `path` to a small storable answer.
fn storable(o: &Origin, path: &str) {
    o.route(
        path,
        Reply::ok("0123456789abcdef").header("cache-control", "max-age=60"),
    );
}

/// The one request the origin saw for `path`.
fn only_request(o: &Origin, path: &str) -> Seen {
    let seen = o.requests(path);
    assert_eq!(seen.len(), 1, "one origin request for {path}: {seen:?}");
    seen.into_iter().next().unwrap()
}

#[test]
fn a_get_miss_forwards_the_clients_end_to_end_headers() {
    let o = Origin::start();
    storable(&o, "/e2e.js");
    let (_f, s) = edge(&o, "");
    let r = s.get_h(
        "/e2e.js",
        &[
            ("User-Agent", "test-agent/1.0"),
            ("Accept-Language", "de-CH, de;q=0.8"),
            ("Referer", "https://site.example/page"),
            ("Origin", "https://site.example"),
            ("Cookie", "session=abc"),
            ("Authorization", "Bearer tok"),
            ("X-Custom-Thing", "custom value"),
            ("X-Multi", "first"),
            ("X-Multi", "second"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let seen = only_request(&o, "/e2e.js");
    assert_eq!(seen.method, "GET");
    for (name, value) in [
        ("user-agent", "test-agent/1.0"),
        ("accept-language", "de-CH, de;q=0.8"),
        ("referer", "https://site.example/page"),
        ("origin", "https://site.example"),
        ("cookie", "session=abc"),
        ("authorization", "Bearer tok"),
        ("x-custom-thing", "custom value"),
    ] {
        assert_eq!(seen.header_all(name), [value], "{name}: {seen:?}");
    }
    assert_eq!(
        seen.header_all("x-multi"),
        ["first", "second"],
        "two lines arrive as two lines, in order: {seen:?}"
    );
}

#[test]
fn hop_by_hop_headers_never_reach_the_origin() {
    let o = Origin::start();
    storable(&o, "/hop.js");
    let (_f, s) = edge(&o, "");
    // The helper already sends `Connection: close`; this adds a second
    // Connection line naming X-Hop.
    let r = s.get_h(
        "/hop.js",
        &[
            ("Connection", "X-Hop"),
            ("X-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Upgrade", "example/1"),
            ("Proxy-Authorization", "Basic dXNlcjpwYXNz"),
            ("X-Kept", "yes"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let seen = only_request(&o, "/hop.js");
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
        "proxy-authorization",
        "x-hop",
    ] {
        assert!(seen.header(name).is_none(), "{name} forwarded: {seen:?}");
    }
    assert_eq!(seen.header("x-kept"), Some("yes"), "{seen:?}");
}

#[test]
fn accept_encoding_to_the_origin_is_identity_whatever_the_client_sent() {
    let o = Origin::start();
    storable(&o, "/ae.js");
    storable(&o, "/none.js");
    let (_f, s) = edge(&o, "");
    s.get_h("/ae.js", &[("Accept-Encoding", "gzip, deflate, br, zstd")]);
    s.get("/none.js");
    for p in ["/ae.js", "/none.js"] {
        let seen = only_request(&o, p);
        assert_eq!(seen.header_all("accept-encoding"), ["identity"], "{p}");
    }
}

#[test]
fn via_is_appended_to_the_clients() {
    let o = Origin::start();
    storable(&o, "/via.js");
    let (_f, s) = edge(&o, "");
    s.get_h("/via.js", &[("Via", "1.0 fred")]);
    let seen = only_request(&o, "/via.js");
    let via = seen.header_all("via").join(", ");
    let fred = via.find("1.0 fred").unwrap_or_else(|| panic!("{via:?}"));
    let ours = via.rfind("cdn-edge").unwrap_or_else(|| panic!("{via:?}"));
    assert!(fred < ours, "the client's Via first, then ours: {via:?}");
    assert!(via.contains("1.1 cdn-edge"), "{via:?}");
}

#[test]
fn x_forwarded_for_and_proto_are_the_edges_own() {
    let o = Origin::start();
    storable(&o, "/xff.js");
    let (_f, s) = edge(&o, "");
    s.get_h("/xff.js", &[("X-Forwarded-For", "10.9.8.7")]);
    let seen = only_request(&o, "/xff.js");
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        ["127.0.0.1"],
        "the client's X-Forwarded-For is dropped by default: {seen:?}"
    );
    assert_eq!(seen.header_all("x-forwarded-proto"), ["http"], "{seen:?}");
}

/// Headers a client could use to steer the origin's routing.
const SPOOFABLE: [(&str, &str); 6] = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Scheme", "https"),
    ("X-Original-URL", "/admin"),
    ("X-Rewrite-URL", "/admin"),
    ("X-HTTP-Method-Override", "DELETE"),
    ("Forwarded", "for=1.2.3.4;host=evil.example;proto=https"),
];

#[test]
fn spoofable_routing_headers_are_not_forwarded() {
    let o = Origin::start();
    storable(&o, "/spoof.js");
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get_h("/spoof.js", &SPOOFABLE).status, 200);
    let seen = only_request(&o, "/spoof.js");
    for (name, _) in SPOOFABLE {
        assert!(seen.header(name).is_none(), "{name} forwarded: {seen:?}");
    }
}

#[test]
fn drop_request_headers_replaces_the_default_list() {
    let o = Origin::start();
    storable(&o, "/cfg.js");
    let (_f, s) = edge(&o, "drop_request_headers = [\"X-Secret\"]\n");
    s.get_h(
        "/cfg.js",
        &[("X-Secret", "s3cret"), ("X-Forwarded-Host", "cdn.example")],
    );
    let seen = only_request(&o, "/cfg.js");
    assert!(seen.header("x-secret").is_none(), "{seen:?}");
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some("cdn.example"),
        "no longer on the drop list: {seen:?}"
    );
}

#[test]
fn on_a_storable_fetch_the_edge_answers_conditionals_and_ranges_itself() {
    let o = Origin::start();
    let body = "0123456789abcdef";
    for p in ["/inm.js", "/range.js"] {
        o.route(
            p,
            Reply::ok(body)
                .header("cache-control", "max-age=60")
                .header("etag", "\"e1\"")
                .header("last-modified", "Tue, 01 Jun 2021 12:00:00 GMT"),
        );
    }
    let (_f, s) = edge(&o, "");

    let r = s.get_h(
        "/inm.js",
        &[
            ("If-None-Match", "\"e1\""),
            ("If-Modified-Since", "Tue, 01 Jun 2021 12:00:00 GMT"),
        ],
    );
    assert_eq!(
        r.status,
        304,
        "the edge compares with what it fetched: {}",
        r.summary()
    );
    assert!(r.body.is_empty());
    let seen = only_request(&o, "/inm.js");
    assert!(seen.header("if-none-match").is_none(), "{seen:?}");
    assert!(seen.header("if-modified-since").is_none(), "{seen:?}");

    let r = s.get_h(
        "/range.js",
        &[("Range", "bytes=2-5"), ("If-Range", "\"e1\"")],
    );
    assert_eq!(r.status, 206, "{}", r.summary());
    assert_eq!(r.body, b"2345");
    assert_eq!(r.header("content-range"), Some("bytes 2-5/16"));
    let seen = only_request(&o, "/range.js");
    assert!(seen.header("range").is_none(), "{seen:?}");
    assert!(seen.header("if-range").is_none(), "{seen:?}");
    // and what was fetched is stored whole
    assert_eq!(s.get("/range.js").body, body.as_bytes());
    assert_eq!(o.count("/range.js"), 1);
}

#[test]
fn on_pass_through_conditionals_and_ranges_are_forwarded() {
    let o = Origin::start();
    o.route(
        "/pass.js",
        Reply::ok("0123456789")
            .header("cache-control", "no-store")
            .header("etag", "\"x\"")
            .etag_304("\"x\""),
    );
    let (_f, s) = edge(&o, "");
    // The first request teaches the edge that the URL is not storable.
    assert_eq!(s.get("/pass.js").status, 200);
    let r = s.get_h(
        "/pass.js",
        &[
            ("If-None-Match", "\"x\""),
            ("If-Modified-Since", "Tue, 01 Jun 2021 12:00:00 GMT"),
        ],
    );
    assert_eq!(
        r.status,
        304,
        "the origin's 304 is passed on: {}",
        r.summary()
    );
    s.get_h("/pass.js", &[("Range", "bytes=0-3"), ("If-Range", "\"x\"")]);
    let seen = o.requests("/pass.js");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[1].header("if-none-match"), Some("\"x\""), "{seen:?}");
    assert_eq!(
        seen[1].header("if-modified-since"),
        Some("Tue, 01 Jun 2021 12:00:00 GMT")
    );
    assert_eq!(seen[2].header("range"), Some("bytes=0-3"), "{seen:?}");
    assert_eq!(seen[2].header("if-range"), Some("\"x\""), "{seen:?}");
}

#[test]
fn post_passes_every_end_to_end_header_and_the_body() {
    let o = Origin::start();
    o.route("/form", Reply::status(201, "created"));
    let (_f, s) = edge(&o, "");
    let body = b"name=value&other=1";
    let r = s.post(
        "/form",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "session=abc"),
            ("Authorization", "Bearer tok"),
            ("Origin", "https://site.example"),
            ("Referer", "https://site.example/form"),
            ("User-Agent", "test-agent/1.0"),
            ("X-Multi", "first"),
            ("X-Multi", "second"),
        ],
        body,
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(r.body, b"created");
    let seen = only_request(&o, "/form");
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, body);
    for (name, value) in [
        ("content-type", "application/x-www-form-urlencoded"),
        ("cookie", "session=abc"),
        ("authorization", "Bearer tok"),
        ("origin", "https://site.example"),
        ("referer", "https://site.example/form"),
        ("user-agent", "test-agent/1.0"),
    ] {
        assert_eq!(seen.header_all(name), [value], "{name}: {seen:?}");
    }
    assert_eq!(seen.header_all("x-multi"), ["first", "second"], "{seen:?}");
}

/// Request fields that change what an origin generates but are not in the
/// cache key (issue 18, item 10; Param Miner's list, "Practical Web Cache
/// Poisoning"): each must be dropped or, for those the node sets itself,
/// replaced, so an origin reflecting it cannot store an attacker's value.
const UNKEYED: [&str; 25] = [
    "X-Host",
    "X-Original-Host",
    "X-HTTP-Host-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    "X-HTTP-Method-Override",
    "X-Forwarded-Host",
    "X-Forwarded-Server",
    "X-Forwarded-Port",
    "X-Forwarded-Scheme",
    "X-Forwarded-Proto",
    "X-Forwarded-Prefix",
    "X-Forwarded-Ssl",
    "X-Forwarded-For",
    "Forwarded",
    "X-Url-Scheme",
    "X-Scheme",
    "Front-End-Https",
    "X-Original-URL",
    "X-Original-URI",
    "X-Rewrite-URL",
    "X-Real-IP",
    "True-Client-IP",
    "Client-IP",
    "X-Cluster-Client-IP",
];

#[test]
fn an_origin_reflecting_an_unkeyed_header_stores_no_attackers_value() {
    let o = Origin::start();
    for (i, name) in UNKEYED.iter().enumerate() {
        o.route(
            &format!("/reflect/{i}.html"),
            Reply::ok("<script src=\"//")
                .echo_header(name)
                .header("cache-control", "max-age=600"),
        );
    }
    let (_f, s) = edge(&o, "");
    for (i, name) in UNKEYED.iter().enumerate() {
        let path = format!("/reflect/{i}.html");
        let attack = s.get_h(&path, &[(name, "evil.example")]);
        assert_eq!(attack.status, 200, "{}", attack.summary());
        let victim = s.get(&path);
        assert!(
            !victim.text().contains("evil"),
            "{name} reached the origin and was stored: {}",
            victim.text()
        );
        let seen = only_request(&o, &path);
        assert!(
            seen.header_all(name).iter().all(|v| !v.contains("evil")),
            "{name}: {seen:?}"
        );
    }
}

#[test]
fn keep_request_headers_lets_chosen_ones_through_and_the_node_still_sets_its_own() {
    let o = Origin::start();
    storable(&o, "/keep.js");
    let (_f, s) = edge(
        &o,
        "keep_request_headers = [\"X-Forwarded-For\", \"X-Host\", \"X-Forwarded-Proto\"]\n",
    );
    s.get_h(
        "/keep.js",
        &[
            ("X-Forwarded-For", "10.9.8.7"),
            ("X-Forwarded-Proto", "https"),
            ("X-Host", "assets.example"),
            ("X-Original-Host", "evil.example"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    );
    let seen = only_request(&o, "/keep.js");
    assert_eq!(
        seen.header_all("x-forwarded-for"),
        ["10.9.8.7, 127.0.0.1"],
        "{seen:?}"
    );
    assert_eq!(
        seen.header_all("x-forwarded-proto"),
        ["http"],
        "the node's own: {seen:?}"
    );
    assert_eq!(seen.header_all("x-host"), ["assets.example"], "{seen:?}");
    assert!(seen.header("x-original-host").is_none(), "{seen:?}");
    assert!(seen.header("x-forwarded-host").is_none(), "{seen:?}");
}
