//! Cache keys (issue 18, items 1, 5 and 6): two request targets the origin
//! is asked differently never share an entry (an encoded `?` or `/` is not
//! a query, over HTTP/1.1, HTTP/2, the disk cache, a cluster and purges),
//! a `Vary`ed header is keyed on its raw bytes, and variants that expired
//! give their room back.

use crate::common;

use common::http2::{test_cert, tls_table, Client, HTTP2};
use common::origin::{Origin, Reply};
use common::*;

const TOKEN: &str = "keys-purge-token";

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

fn cacheable(body: &str) -> Reply {
    Reply::ok(body)
        .header("content-type", "application/javascript")
        .header("cache-control", "max-age=600")
}

/// Issue 18 item 1: `GET /app.js%3Fv=123` (the origin is asked for
/// `/app.js%3Fv=123` and answers 404, stored as a negative entry) was then
/// served to everyone asking `/app.js?v=123`; and the other way round.
#[test]
fn an_encoded_question_mark_is_not_a_query() {
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    o.route("/lib.js", cacheable("real lib"));
    o.route("/dir/", cacheable("real dir"));
    let log = tempfile::tempdir().unwrap();
    let access = log.path().join("access.log");
    let (_f, s) = edge(
        &o,
        &format!(
            "[log]\naccess = \"{}\"\naccess_flush_ms = 20\n",
            access.display()
        ),
    );

    // The poisoning request first: a 404 stored for its own target only.
    let r = s.get("/app.js%3Fv=123");
    assert_eq!(r.status, 404, "{}", r.summary());
    assert_eq!(o.requests("/app.js%3Fv=123").len(), 1, "asked as received");
    let r = s.get("/app.js?v=123");
    assert_eq!(r.status, 200, "the 404 of another target: {}", r.summary());
    assert_eq!(r.text(), "real app");
    assert_eq!(o.count("/app.js?v=123"), 1);
    // Each is then a hit of its own.
    assert_eq!(s.get("/app.js?v=123").text(), "real app");
    assert_eq!(s.get("/app.js%3Fv=123").status, 404);
    assert_eq!(o.count("/app.js?v=123"), 1);
    assert_eq!(o.requests("/app.js%3Fv=123").len(), 1);

    // The real object first: the encoded target does not get it.
    assert_eq!(s.get("/lib.js?v=1").text(), "real lib");
    let r = s.get("/lib.js%3fv=1");
    assert_eq!(r.status, 404, "{}", r.summary());

    // An encoded slash and question mark: `/dir%2F%3Fv=1` is asked as
    // `/dir/%3Fv=1`, not the query `v=1` of `/dir/`.
    let r = s.get("/dir%2F%3Fv=1");
    assert_eq!(r.status, 404, "{}", r.summary());
    assert_eq!(o.requests("/dir/%3Fv=1").len(), 1);
    let r = s.get("/dir/?v=1");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "real dir");

    // The access log says what was received, each target as it came.
    let mut lines = String::new();
    let logged = poll_until(std::time::Duration::from_secs(10), || {
        lines = std::fs::read_to_string(&access).unwrap_or_default();
        lines.contains("\"GET /dir/?v=1 HTTP/1.1\" 200")
    });
    assert!(logged, "{lines}");
    assert!(
        lines.contains("\"GET /app.js%3Fv=123 HTTP/1.1\" 404"),
        "{lines}"
    );
    assert!(
        lines.contains("\"GET /app.js?v=123 HTTP/1.1\" 200"),
        "{lines}"
    );
    assert!(
        lines.contains("\"GET /dir%2F%3Fv=1 HTTP/1.1\" 404"),
        "{lines}"
    );
}

/// The same over HTTP/2 (h2c and TLS): one protocol-blind key.
#[test]
fn an_encoded_question_mark_is_not_a_query_over_http2() {
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    let cert = test_cert(&["localhost"]);
    let (_f, s) = edge(&o, &tls_table(&cert, ""));
    for (i, proto) in HTTP2.into_iter().enumerate() {
        let c = Client::new(&s, &cert, proto);
        let poison = format!("/app.js%3Fv={i}");
        let r = c.get(&poison, &[]);
        assert_eq!(r.status, 404, "{proto:?}: {}", r.summary());
        let r = c.get(&format!("/app.js?v={i}"), &[]);
        assert_eq!(r.status, 200, "{proto:?}: {}", r.summary());
        assert_eq!(r.text(), "real app");
    }
}

/// The disk cache uses the same key: after a restart, the encoded target's
/// 404 read back from disk does not answer for the query.
#[test]
fn the_disk_cache_keeps_the_targets_apart() {
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!("[cache]\ndir = \"{}\"\n", dir.path().display());
    let (f, s) = edge(&o, &cfg);
    assert_eq!(s.get("/app.js%3Fv=9").status, 404);
    assert_eq!(s.get("/app.js?v=8").text(), "real app");
    drop(s);
    let s = Server::start(
        &f.root,
        &config_with(&format!("[origin]\nurl = \"{}\"\n{cfg}", o.url())),
    );
    let r = s.get("/app.js?v=9");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "real app");
    // What the disk holds under each key is still served from it.
    let r = s.get("/app.js%3Fv=9");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert_eq!(
        s.get("/app.js?v=8").header("cache-status"),
        Some("cdn-edge; hit")
    );
    assert_eq!(o.requests("/app.js%3Fv=9").len(), 1);
}

/// A disk record written by a version before this key format (none
/// recorded) is never served: under the old format the key `app.js?v=5`
/// may have been written for `GET /app.js%3Fv=5`. One of today's format is.
#[test]
fn disk_records_of_the_old_key_format_are_not_served() {
    use cdn_edge::http::cache_key::FORMAT;
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    let dir = tempfile::tempdir().unwrap();
    {
        let disk = cdn_edge::store::disk::DiskCache::open(dir.path(), 1 << 30).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let record = |status: u16, format: Option<u32>| {
            let mut r = serde_json::json!({
                "status": status,
                "headers": [["cache-control", "max-age=600"]],
                "request_time": {"secs_since_epoch": now, "nanos_since_epoch": 0},
                "response_time": {"secs_since_epoch": now, "nanos_since_epoch": 0},
                "path": "app.js",
                "origin": cdn_edge::origin::client::identity(&o.url(), ""),
            });
            if let Some(f) = format {
                r["key_format"] = f.into();
            }
            r
        };
        let put = |key: &str, meta: serde_json::Value, body: &[u8]| {
            disk.put_versioned(key, &meta, &[body]).unwrap().unwrap();
        };
        put("app.js?v=5", record(404, None), b"poisoned");
        put("app.js?v=6", record(200, Some(FORMAT)), b"from disk");
    }
    let cfg = format!("[cache]\ndir = \"{}\"\n", dir.path().display());
    let (_f, s) = edge(&o, &cfg);
    let r = s.get("/app.js?v=6");
    assert_eq!(r.text(), "from disk", "{}", r.summary());
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    let r = s.get("/app.js?v=5");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "real app");
    assert_eq!(o.count("/app.js?v=5"), 1);
    assert_eq!(o.count("/app.js?v=6"), 0);
}

/// A cluster hashes the same key to pick the owner, and the owner keys
/// what it is asked the same way: the poisoned 404 reaches no node's
/// answer for the query, whichever node is asked.
#[test]
fn a_cluster_keeps_the_targets_apart() {
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    let root = tempfile::tempdir().unwrap();
    let nodes = common::cluster::start(3, &o.url(), root.path());
    for n in &nodes {
        assert_eq!(n.get("/app.js%3Fv=1").status, 404);
    }
    for (i, n) in nodes.iter().enumerate() {
        let r = n.get("/app.js?v=1");
        assert_eq!(r.status, 200, "node {i}: {}", r.summary());
        assert_eq!(r.text(), "real app");
    }
    // One owner per key: each target was asked of the origin once.
    assert_eq!(o.count("/app.js?v=1"), 1);
    assert_eq!(o.requests("/app.js%3Fv=1").len(), 1);
}

fn purge_body(s: &Server, body: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    s.post(
        "/_purge",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
}

/// Purges match keys made by the same function: `PURGE /app.js%3Fv=1`
/// drops that target, not `/app.js?v=1`; a prefix spelt `/a%20b/` or
/// `/a b/` drops the same objects (issue 18 item 9: the encoded one
/// matched nothing).
#[test]
fn purges_match_every_spelling_of_a_path_and_only_it() {
    let o = Origin::start();
    o.route("/app.js", cacheable("real app"));
    o.route("/a%20b/x.css", cacheable("x"));
    let (_f, s) = edge(&o, &format!("[purge]\ntoken = \"{TOKEN}\"\n"));
    assert_eq!(s.get("/app.js?v=1").text(), "real app");
    assert_eq!(s.get("/app.js%3Fv=1").status, 404);
    let auth = format!("Bearer {TOKEN}");
    let r = s.req("PURGE", "/app.js%3Fv=1", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("\"purged\": 1"), "{}", r.text());
    let r = s.get("/app.js?v=1");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit"),
        "not purged"
    );
    assert_eq!(o.count("/app.js?v=1"), 1);
    assert_eq!(s.get("/app.js%3Fv=1").status, 404);
    assert_eq!(o.requests("/app.js%3Fv=1").len(), 2, "purged");

    for (n, prefix) in ["/a%20b/", "/a b/", "/a%20"].into_iter().enumerate() {
        assert_eq!(s.get("/a%20b/x.css").text(), "x");
        assert_eq!(o.count("/a%20b/x.css"), n + 1);
        let r = purge_body(&s, &format!("{{\"prefixes\": [\"{prefix}\"]}}"));
        assert_eq!(r.status, 200, "{prefix}: {}", r.summary());
        assert!(r.text().contains("\"purged\": 1"), "{prefix}: {}", r.text());
    }
    for path in ["/a%20b/x.css", "/a b/x.css"] {
        assert_eq!(s.get("/a%20b/x.css").text(), "x");
        let r = purge_body(&s, &format!("{{\"paths\": [\"{path}\"]}}"));
        assert!(r.text().contains("\"purged\": 1"), "{path}: {}", r.text());
    }
    // A prefix that is no request path is refused, as a path is.
    let r = purge_body(&s, "{\"prefixes\": [\"/a/%2e%2e/\"]}");
    assert_eq!(r.status, 400, "{}", r.summary());
}

/// `path` answers `lang=<the request's Accept-Language>`, varying on it,
/// with this `Cache-Control`.
fn by_language(o: &Origin, path: &str, cache_control: &str) {
    o.route(
        path,
        Reply::ok("lang=")
            .echo_header("accept-language")
            .header("Cache-Control", cache_control)
            .header("Vary", "Accept-Language"),
    );
}

/// A GET of `path` with raw header lines (any bytes).
fn get_raw(s: &Server, path: &str, header_lines: &[u8]) -> Response {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n").into_bytes();
    req.extend_from_slice(header_lines);
    req.extend_from_slice(b"\r\n");
    parse_response(&send_raw(s.addr, &req), false).unwrap()
}

/// Issue 18 item 5: `Accept-Language: evil\xff` was keyed as if absent,
/// while the origin saw the value: a client without the header then got
/// the attacker's variant.
#[test]
fn a_vary_value_that_is_not_text_is_its_own_variant() {
    let o = Origin::start();
    by_language(&o, "/l.html", "max-age=600");
    let (_f, s) = edge(&o, "");
    let r = get_raw(&s, "/l.html", b"Accept-Language: evil\xff\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.body.starts_with(b"lang=evil"), "{}", r.summary());
    let seen = o.requests("/l.html");
    assert!(
        seen[0].header("accept-language").is_some(),
        "the origin saw the value"
    );
    let r = s.get("/l.html");
    assert_eq!(
        r.text(),
        "lang=",
        "not the attacker's variant: {}",
        r.summary()
    );
    assert_eq!(o.count("/l.html"), 2);
    // Each is its own stored variant.
    let r = get_raw(&s, "/l.html", b"Accept-Language: evil\xff\r\n");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert!(r.body.starts_with(b"lang=evil"));
    assert_eq!(
        s.get("/l.html").header("cache-status"),
        Some("cdn-edge; hit")
    );
    // Another byte is another variant; whitespace around it is not.
    let r = get_raw(&s, "/l.html", b"Accept-Language: evil\xfe\r\n");
    assert_ne!(r.header("cache-status"), Some("cdn-edge; hit"));
    let r = get_raw(&s, "/l.html", b"Accept-Language:   evil\xff \t\r\n");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert_eq!(o.count("/l.html"), 3);
}

fn get_lang(s: &Server, path: &str, lang: &str) -> Response {
    let r = s.get_h(path, &[("Accept-Language", lang)]);
    assert_eq!(r.status, 200, "{lang}: {}", r.summary());
    assert_eq!(r.text(), format!("lang={lang}"), "{}", r.summary());
    r
}

fn status(r: &Response) -> &str {
    r.header("cache-status").unwrap_or_default()
}

/// A GET of `path` in `lang` whose answer was stored (room was found).
fn admitted(s: &Server, path: &str, lang: &str) {
    let r = get_lang(s, path, lang);
    let refused = status(&r).contains("too-many-variants");
    assert!(!refused, "{lang}: {}", r.summary());
}

/// A GET of `path` in `lang` passed through for want of room.
fn refused(s: &Server, path: &str, lang: &str) {
    let r = get_lang(s, path, lang);
    let refused = status(&r).contains("detail=too-many-variants");
    assert!(refused, "{lang}: {}", r.summary());
}

/// Issue 18 item 6: 16 junk values filled `cache.max_variants`, and 30 s
/// after every variant expired `en` and `de` were still
/// `detail=too-many-variants`. Expired variants give their room back.
#[test]
fn expired_variants_give_their_room_back() {
    let o = Origin::start();
    by_language(&o, "/v.html", "max-age=10");
    let (_f, s) = edge(&o, "");
    for i in 0..16 {
        admitted(&s, "/v.html", &format!("junk{i}"));
    }
    refused(&s, "/v.html", "en");
    advance(&o, &s, 30);
    for lang in ["en", "de"] {
        admitted(&s, "/v.html", lang);
        let r = get_lang(&s, "/v.html", lang);
        assert_eq!(status(&r), "cdn-edge; hit", "{lang}: {}", r.summary());
    }
    // Room is given back only by what no longer counts: the fresh `en`
    // and `de` stay, 14 new values fill the rest, and the next is refused.
    for i in 0..14 {
        admitted(&s, "/v.html", &format!("new{i}"));
    }
    refused(&s, "/v.html", "fr");
    assert_eq!(status(&get_lang(&s, "/v.html", "en")), "cdn-edge; hit");
}

/// A variant still servable stale (stale-while-revalidate) keeps its room.
#[test]
fn variants_servable_stale_keep_their_room() {
    let o = Origin::start();
    by_language(&o, "/w.html", "max-age=10, stale-while-revalidate=600");
    let (_f, s) = edge(&o, "[cache]\nmax_variants = 2\n");
    admitted(&s, "/w.html", "en");
    admitted(&s, "/w.html", "de");
    advance(&o, &s, 30);
    refused(&s, "/w.html", "fr");
}
