//! Origin answers the node must not keep or relay as they came (issue 18,
//! items 8, 11 and 12): a personal page stored by heuristic freshness for a
//! request with `Cookie`; a 101 (or any 1xx) as a final status, over
//! HTTP/1.1 and HTTP/2 and on every path (stored, streamed, unsafe method,
//! peer); an encoding the origin chose, stored per `Accept-Encoding`
//! without saying so in `Vary`.

use crate::common;

use common::http2::{test_cert, Client, Proto};
use common::origin::{Origin, Reply};
use common::*;

const LONG_AGO: &str = "Mon, 01 Jan 2001 00:00:00 GMT";

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout_ms = 3000\n{extra}",
        origin.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// A personalised page with a `Last-Modified` and no `Cache-Control`:
/// heuristically fresh for days (RFC 9111 §4.2.2).
fn personal_page() -> Reply {
    Reply::ok("hello ")
        .header("content-type", "text/html")
        .header("last-modified", LONG_AGO)
        .echo_header("cookie")
}

#[test]
fn a_page_asked_for_with_a_cookie_is_stored_only_with_explicit_freshness() {
    let o = Origin::start();
    o.route("/account", personal_page());
    let (_f, s) = edge(&o, "");
    let victim = s.get_h("/account", &[("cookie", "session=alice")]);
    assert_eq!(victim.text(), "hello session=alice");
    assert_eq!(
        victim.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; detail=cookie-heuristic")
    );
    let anonymous = s.get("/account");
    assert_eq!(anonymous.text(), "hello ", "never the victim's page");
    assert_eq!(o.count("/account"), 2);
    // Asked without a cookie, the heuristic stands (and what is stored
    // then is the anonymous page, for everyone).
    assert_eq!(s.get("/account").text(), "hello ");
    assert_eq!(s.get_h("/account", &[("cookie", "x=1")]).text(), "hello ");
    assert_eq!(o.count("/account"), 2);
    let t = s.get("/metrics").text();
    assert!(
        t.lines()
            .any(|l| l.contains("reason=\"cookie-heuristic\"") && l.ends_with(" 1")),
        "{t}"
    );

    // The origin's explicit word is enough.
    o.route(
        "/shared",
        Reply::ok("same for all").header("cache-control", "max-age=60"),
    );
    assert_eq!(
        s.get_h("/shared", &[("cookie", "session=alice")]).status,
        200
    );
    assert_eq!(
        s.get("/shared").header("cache-status"),
        Some("cdn-edge; hit")
    );
    assert_eq!(o.count("/shared"), 1);
}

#[test]
fn heuristic_with_cookie_can_be_turned_back_on() {
    let o = Origin::start();
    o.route("/account", personal_page());
    let (_f, s) = edge(&o, "[cache]\nheuristic_with_cookie = true\n");
    assert_eq!(
        s.get_h("/account", &[("cookie", "a=1")])
            .header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    assert_eq!(
        s.get("/account").header("cache-status"),
        Some("cdn-edge; hit")
    );
    assert_eq!(o.count("/account"), 1);
}

/// A 101 with the fields an upgrade would carry, and no body.
fn switching() -> Reply {
    Reply::status(101, "")
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
}

fn assert_refused(r: &Response, what: &str) {
    assert_eq!(r.status, 502, "{what}: {}", r.summary());
    assert!(r.text().contains("interim (1xx)"), "{what}: {}", r.text());
    assert!(!r.has("upgrade"), "{what}: {}", r.summary());
}

#[test]
fn an_origin_101_is_a_502_on_every_path() {
    let o = Origin::start();
    o.route("/ws", switching());
    let (_f, s) = edge(&o, "max_object_bytes = 10000\n");
    // Stored path, over HTTP/1.1 and HTTP/2 (where a :status 101 would
    // kill the client's connection, RFC 9113 §8.6).
    assert_refused(&s.get("/ws"), "GET");
    let cert = test_cert(&["localhost"]);
    let h2 = Client::new(&s, &cert, Proto::H2c);
    assert_refused(&h2.get("/ws", &[]), "GET over HTTP/2");
    assert_eq!(h2.get("/ws", &[]).status, 502, "the connection lives on");
    // Unsafe method, forwarded as it came.
    assert_refused(&request_with_body(s.addr, "POST", "/ws", &[], b"x"), "POST");
    // Streamed path: known too large to store, then a 101.
    o.route("/big.bin", Reply::ok(vec![b'z'; 50_000]));
    assert_eq!(s.get("/big.bin").status, 200);
    o.route("/big.bin", switching());
    assert_refused(&s.get("/big.bin"), "streamed GET");
    assert_refused(&h2.get("/big.bin", &[]), "streamed GET over HTTP/2");
    assert_eq!(s.get("/healthz").status, 200);
}

#[test]
fn an_origin_101_through_a_peer_is_a_502() {
    let o = Origin::start();
    o.route("/peer-ws.css", switching());
    let root = tempfile::tempdir().unwrap();
    let nodes = common::cluster::start(2, &o.url(), root.path());
    let other = 1 - common::cluster::owner(&nodes, "/peer-ws.css");
    let r = nodes[other].get("/peer-ws.css");
    assert_eq!(r.status, 502, "{}", r.summary());
    assert!(!r.has("upgrade"), "{}", r.summary());
}

#[test]
fn an_encoding_the_origin_chose_is_announced_in_vary() {
    let o = Origin::start();
    let gz = app_css_gz();
    o.route(
        "/pre.css",
        Reply::ok(gz.clone())
            .header("content-type", "text/css")
            .header("content-encoding", "gzip")
            .header("cache-control", "max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    let ae = [("accept-encoding", "gzip")];
    let miss = s.get_h("/pre.css", &ae);
    let hit = s.get_h("/pre.css", &ae);
    assert_eq!(hit.header("cache-status"), Some("cdn-edge; hit"));
    for r in [&miss, &hit] {
        assert_eq!(r.body, gz);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
    }
    // A 304 describes the same response (RFC 9110 §15.4.5).
    let etag = hit.header("etag").unwrap().to_string();
    let nm = s.get_h("/pre.css", &[ae[0], ("if-none-match", &etag)]);
    assert_eq!(nm.status, 304);
    assert!(nm.vary_contains("accept-encoding"), "{}", nm.summary());
    assert_eq!(o.count("/pre.css"), 1);
}
