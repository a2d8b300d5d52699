//! The transparent shared cache, response side: the origin's end-to-end
//! headers reach the client as the origin sent them (miss, hit, stale, and
//! refreshed by a 304), its validators are kept (suffixed for the edge's own
//! encodings), and a response not stored says why.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// A compressible text body (> 1 KB, repetitive).
fn css() -> String {
    ".a { color: red; margin: 0 auto; }\n".repeat(100)
}

const LINK: &str = "</next.js>; rel=preload; as=script";
const CSP: &str = "default-src 'self'";
const DISPOSITION: &str = "inline; filename=\"h.js\"";

/// The origin's end-to-end headers on `/h.js`.
fn with_origin_headers(reply: Reply) -> Reply {
    reply
        .header("Link", LINK)
        .header("Content-Security-Policy", CSP)
        .header("Content-Disposition", DISPOSITION)
        .header("Content-Language", "de")
        .header("Timing-Allow-Origin", "*")
        .header("X-Custom", "one")
        .header("X-Custom", "two")
        .header("Access-Control-Allow-Origin", "https://a.example")
        .header("X-Content-Type-Options", "nosniff")
}

fn assert_origin_headers(r: &Response, when: &str) {
    assert_eq!(r.status, 200, "{when}: {}", r.summary());
    for (name, value) in [
        ("link", LINK),
        ("content-security-policy", CSP),
        ("content-disposition", DISPOSITION),
        ("content-language", "de"),
        ("timing-allow-origin", "*"),
        ("access-control-allow-origin", "https://a.example"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(
            r.header_all(name),
            [value],
            "{when}: {name}: {}",
            r.summary()
        );
    }
    assert_eq!(
        r.header_all("x-custom"),
        ["one", "two"],
        "{when}: both lines: {}",
        r.summary()
    );
    assert!(r.has("age"), "{when}: Age: {}", r.summary());
}

#[test]
fn origin_headers_reach_the_client_on_miss_hit_stale_and_refresh() {
    let o = Origin::start();
    let fresh = || {
        with_origin_headers(Reply::ok("h()"))
            .header("Cache-Control", "max-age=10, stale-if-error=600")
            .header("ETag", "\"h1\"")
            .etag_304("\"h1\"")
    };
    o.route("/h.js", fresh());
    let (_f, s) = edge(&o, "");
    let cors = [("Origin", "https://a.example")];

    let r = s.get_h("/h.js", &cors);
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    assert_origin_headers(&r, "miss");
    let r = s.get_h("/h.js", &cors);
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert_origin_headers(&r, "hit");

    advance(&o, &s, 20);
    o.route("/h.js", Reply::status(500, "broken"));
    let r = s.get_h("/h.js", &cors);
    assert_eq!(r.body, b"h()", "{}", r.summary());
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; fwd-status=500; detail=stale-if-error")
    );
    assert_origin_headers(&r, "stale-if-error");

    o.route("/h.js", fresh());
    let r = s.get_h("/h.js", &cors);
    assert_eq!(r.body, b"h()", "{}", r.summary());
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; stored")
    );
    assert_eq!(
        o.requests("/h.js")[2].header("if-none-match"),
        Some("\"h1\"")
    );
    assert_origin_headers(&r, "refreshed by a 304");
    assert_eq!(o.count("/h.js"), 3);
}

#[test]
fn a_scripted_origin_date_is_kept_verbatim_on_hits() {
    let o = Origin::start();
    let date =
        httpdate::fmt_http_date(std::time::SystemTime::now() - std::time::Duration::from_secs(5));
    o.route(
        "/d.js",
        Reply::ok("d")
            .header("Date", &date)
            .header("Cache-Control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    s.get("/d.js");
    for _ in 0..2 {
        let r = s.get("/d.js");
        assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
        assert_eq!(r.header_all("date"), [date.as_str()], "{}", r.summary());
    }
}

#[test]
fn age_is_sent_on_pulled_responses_and_counts_the_clock() {
    let o = Origin::start();
    o.route(
        "/age.js",
        Reply::ok("a").header("Cache-Control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    let age = |r: &Response| -> u64 {
        r.header("age")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("Age: {}", r.summary()))
    };
    assert!(age(&s.get("/age.js")) < 30, "a miss is young");
    advance(&o, &s, 30);
    let r = s.get("/age.js");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert!(age(&r) >= 30, "{}", r.summary());
}

#[test]
fn a_304_refresh_updates_stored_headers_but_not_the_body() {
    let o = Origin::start();
    let body = "stable body";
    o.route(
        "/u.js",
        Reply::ok(body)
            .header("Cache-Control", "max-age=10")
            .header("ETag", "\"u1\"")
            .header("X-Custom", "v1")
            .etag_304("\"u1\""),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/u.js").header_all("x-custom"), ["v1"]);
    advance(&o, &s, 20);
    o.route(
        "/u.js",
        Reply::ok("a different body the edge must never see")
            .header("Cache-Control", "max-age=10")
            .header("ETag", "\"u1\"")
            .header("X-Custom", "v2")
            .etag_304("\"u1\""),
    );
    let r = s.get("/u.js");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; stored")
    );
    assert_eq!(r.header_all("x-custom"), ["v2"], "{}", r.summary());
    for _ in 0..2 {
        let r = s.get("/u.js");
        assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
        assert_eq!(r.header_all("x-custom"), ["v2"], "{}", r.summary());
        assert_eq!(r.body, body.as_bytes());
        assert_eq!(r.header("content-length"), Some("11"));
    }
    assert_eq!(o.count("/u.js"), 2);
}

#[test]
fn compressible_text_varies_on_accept_encoding_from_the_first_response() {
    let o = Origin::start();
    o.route(
        "/a.css",
        Reply::ok(css())
            .header("Content-Type", "text/css")
            .header("Cache-Control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    let first = s.get_h("/a.css", &[("Accept-Encoding", "br")]);
    assert_eq!(first.body, css().as_bytes(), "identity first");
    assert!(!first.has("content-encoding"));
    assert!(
        first.vary_contains("accept-encoding"),
        "{}",
        first.summary()
    );
    let hit = s.get("/a.css");
    assert!(hit.vary_contains("accept-encoding"), "{}", hit.summary());
}

#[test]
fn an_origin_vary_is_merged_with_accept_encoding() {
    let o = Origin::start();
    o.route(
        "/o.css",
        Reply::ok(css())
            .header("Content-Type", "text/css")
            .header("Cache-Control", "max-age=600")
            .header("Vary", "Origin"),
    );
    let (_f, s) = edge(&o, "");
    let cors = [("Origin", "https://a.example")];
    for when in ["miss", "hit"] {
        let r = s.get_h("/o.css", &cors);
        assert_eq!(r.status, 200, "{when}: {}", r.summary());
        let vary: Vec<String> = r
            .tokens("vary")
            .iter()
            .map(|t| t.to_ascii_lowercase())
            .collect();
        assert!(vary.contains(&"origin".to_string()), "{when}: {vary:?}");
        assert!(
            vary.contains(&"accept-encoding".to_string()),
            "{when}: {vary:?}"
        );
    }
    assert_eq!(o.count("/o.css"), 1);
}

/// Requests `path` with `Accept-Encoding: br` until the edge has a br
/// representation; returns it.
fn wait_for_br(s: &Server, path: &str) -> Response {
    let mut last = None;
    let made = poll_until(CHANGE_TIMEOUT, || {
        let r = s.get_h(path, &[("Accept-Encoding", "br")]);
        let done = r.header("content-encoding") == Some("br");
        last = Some(r);
        done
    });
    let r = last.unwrap();
    assert!(made, "no br for {path}: {}", r.summary());
    r
}

#[test]
fn origin_etags_are_kept_and_suffixed_for_the_edges_encodings() {
    let o = Origin::start();
    for (path, tag) in [("/strong.css", "\"abc-123\""), ("/weak.css", "W/\"w1\"")] {
        o.route(
            path,
            Reply::ok(css())
                .header("Content-Type", "text/css")
                .header("Cache-Control", "max-age=600")
                .header("ETag", tag),
        );
    }
    let (_f, s) = edge(&o, "");
    for (path, identity, br) in [
        ("/strong.css", "\"abc-123\"", "\"abc-123-br\""),
        ("/weak.css", "W/\"w1\"", "W/\"w1-br\""),
    ] {
        assert_eq!(s.get(path).header_all("etag"), [identity], "{path} miss");
        assert_eq!(wait_for_br(&s, path).header_all("etag"), [br], "{path}");
        assert_eq!(s.get(path).header_all("etag"), [identity], "{path} hit");
    }
}

#[test]
fn if_none_match_with_the_origin_etag_is_answered_by_the_edge() {
    let o = Origin::start();
    o.route(
        "/inm.js",
        Reply::ok("x")
            .header("Cache-Control", "max-age=600")
            .header("ETag", "\"abc-123\""),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/inm.js").status, 200);
    let r = s.get_h("/inm.js", &[("If-None-Match", "\"abc-123\"")]);
    assert_eq!(r.status, 304, "{}", r.summary());
    assert_eq!(r.header("etag"), Some("\"abc-123\""));
    assert_eq!(o.count("/inm.js"), 1, "no new origin request");
}

#[test]
fn origin_last_modified_is_kept_and_answers_if_modified_since() {
    let o = Origin::start();
    let lm = "Tue, 01 Jun 2021 12:00:00 GMT";
    o.route(
        "/lm.js",
        Reply::ok("x")
            .header("Cache-Control", "max-age=600")
            .header("Last-Modified", lm),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/lm.js").header_all("last-modified"), [lm]);
    let r = s.get_h("/lm.js", &[("If-Modified-Since", lm)]);
    assert_eq!(r.status, 304, "{}", r.summary());
    assert_eq!(o.count("/lm.js"), 1);
}

#[test]
fn without_an_origin_etag_the_edge_makes_a_strong_one() {
    let o = Origin::start();
    o.route(
        "/no-tag.js",
        Reply::ok("x").header("Cache-Control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    for _ in 0..2 {
        let r = s.get("/no-tag.js");
        let tag = r
            .header("etag")
            .unwrap_or_else(|| panic!("{}", r.summary()));
        let hex = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or_else(|| panic!("strong, quoted: {tag:?}"));
        assert_eq!(hex.len(), 32, "{tag:?}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{tag:?}");
    }
}

#[test]
fn cache_status_says_why_a_response_was_not_stored() {
    let o = Origin::start();
    o.route("/ns.js", Reply::ok("n").header("Cache-Control", "no-store"));
    o.route(
        "/st.js",
        Reply::ok("s").header("Cache-Control", "max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(
        s.get("/ns.js").header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; detail=no-store")
    );
    assert_eq!(
        s.get("/st.js").header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    let metrics = s.get("/metrics").text();
    assert!(
        metrics
            .lines()
            .any(|l| l.trim() == "cdn_edge_origin_not_stored_total{reason=\"no-store\"} 1"),
        "{metrics}"
    );
}
