//! Vary (RFC 9111 §4.1): one stored variant per value of the request
//! headers the origin names, a bound on variants per URL, `Vary: *`, and an
//! origin that answers with its own content coding.

use crate::common;

use std::io::Write;

use common::origin::{Origin, Reply};
use common::*;

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// `path` answers `lang=<the request's Accept-Language>`, varying on it.
fn by_language(o: &Origin, path: &str) {
    o.route(
        path,
        Reply::ok("lang=")
            .echo_header("accept-language")
            .header("Cache-Control", "max-age=60")
            .header("Vary", "Accept-Language"),
    );
}

fn get_lang(s: &Server, path: &str, lang: &str) -> Response {
    let r = s.get_h(path, &[("Accept-Language", lang)]);
    assert_eq!(r.status, 200, "{lang}: {}", r.summary());
    assert_eq!(r.text(), format!("lang={lang}"), "{}", r.summary());
    assert!(r.vary_contains("accept-language"), "{}", r.summary());
    r
}

#[test]
fn one_variant_is_stored_per_accept_language() {
    let o = Origin::start();
    by_language(&o, "/l.html");
    let (_f, s) = edge(&o, "");
    get_lang(&s, "/l.html", "en");
    get_lang(&s, "/l.html", "de");
    let r = get_lang(&s, "/l.html", "en");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    let r = get_lang(&s, "/l.html", "de");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    assert_eq!(o.count("/l.html"), 2);
}

#[test]
fn a_request_without_the_varied_header_is_its_own_variant() {
    let o = Origin::start();
    by_language(&o, "/n.html");
    let (_f, s) = edge(&o, "");
    get_lang(&s, "/n.html", "en");
    let r = s.get("/n.html");
    assert_eq!(r.text(), "lang=", "not the en variant: {}", r.summary());
    assert_eq!(o.count("/n.html"), 2);
    let r = s.get("/n.html");
    assert_eq!(r.text(), "lang=");
    assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
    get_lang(&s, "/n.html", "en");
    assert_eq!(o.count("/n.html"), 2);
}

#[test]
fn variants_beyond_max_variants_are_passed_through() {
    let o = Origin::start();
    by_language(&o, "/m.html");
    let (_f, s) = edge(&o, "[cache]\nmax_variants = 2\n");
    get_lang(&s, "/m.html", "en");
    get_lang(&s, "/m.html", "de");
    for n in 3..=4 {
        let r = get_lang(&s, "/m.html", "fr");
        let status = r.header("cache-status").unwrap_or_default();
        assert!(
            status.contains("detail=too-many-variants"),
            "{status:?}: {}",
            r.summary()
        );
        assert_eq!(o.count("/m.html"), n, "fr reaches the origin every time");
    }
    // the two stored variants stay
    for lang in ["en", "de"] {
        let r = get_lang(&s, "/m.html", lang);
        assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"), "{lang}");
    }
    assert_eq!(o.count("/m.html"), 4);
}

#[test]
fn vary_star_always_reaches_the_origin() {
    let o = Origin::start();
    o.route(
        "/star.js",
        Reply::ok("s")
            .header("Cache-Control", "max-age=60")
            .header("Vary", "*"),
    );
    let (_f, s) = edge(&o, "");
    for n in 1..=3 {
        let r = s.get("/star.js");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.body, b"s");
        assert_eq!(o.count("/star.js"), n);
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn an_origin_answering_gzip_despite_identity_is_stored_as_sent() {
    let o = Origin::start();
    let gz = gzip(
        "console.log('gzipped by the origin');\n"
            .repeat(50)
            .as_bytes(),
    );
    o.route(
        "/gz.js",
        Reply::ok(gz.clone())
            .header("Content-Type", "text/javascript")
            .header("Content-Encoding", "gzip")
            .header("Vary", "Accept-Encoding")
            .header("Cache-Control", "max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    let ae = [("Accept-Encoding", "gzip")];
    let first = s.get_h("/gz.js", &ae);
    assert_eq!(first.status, 200, "{}", first.summary());
    assert_eq!(first.header("content-encoding"), Some("gzip"));
    assert_eq!(first.body, gz);
    let r = s.get_h("/gz.js", &ae);
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit"),
        "{}",
        r.summary()
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, gz, "the same bytes");
    assert_eq!(o.count("/gz.js"), 1);
}
