//! Content negotiation between `X`, `X.br` and `X.gz` by Accept-Encoding.

use crate::common;

use common::*;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Rep {
    Identity,
    Br,
    Gzip,
}

/// Asserts a 200 for /app.css carrying exactly the given representation.
fn assert_rep(r: &Response, rep: Rep, ctx: &str) {
    assert_eq!(r.status, 200, "{ctx}: {}", r.summary());
    let (bytes, ce) = match rep {
        Rep::Identity => (app_css(), None),
        Rep::Br => (app_css_br(), Some("br")),
        Rep::Gzip => (app_css_gz(), Some("gzip")),
    };
    assert_eq!(r.header("content-encoding"), ce, "{ctx}: {}", r.summary());
    assert!(r.body == bytes, "{ctx}: body is not the {rep:?} bytes");
    assert_eq!(
        r.header("content-length"),
        Some(bytes.len().to_string().as_str()),
        "{ctx}"
    );
    assert!(
        r.vary_contains("accept-encoding"),
        "{ctx}: no Vary: Accept-Encoding: {}",
        r.summary()
    );
    assert_eq!(
        r.header("content-type"),
        Some("text/css; charset=utf-8"),
        "{ctx}: Content-Type must be the identity's"
    );
}

#[test]
fn no_accept_encoding_gives_identity() {
    let f = Fixture::new();
    let s = start(&f);
    assert_rep(&s.get("/app.css"), Rep::Identity, "no header");
}

#[test]
fn single_codings() {
    let f = Fixture::new();
    let s = start(&f);
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "br")]),
        Rep::Br,
        "br",
    );
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "gzip")]),
        Rep::Gzip,
        "gzip",
    );
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "identity")]),
        Rep::Identity,
        "identity",
    );
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "deflate")]),
        Rep::Identity,
        "deflate (not offered) falls back to identity",
    );
}

#[test]
fn ties_prefer_br_then_gzip_then_identity() {
    let f = Fixture::new();
    let s = start(&f);
    for (ae, rep) in [
        ("gzip, br", Rep::Br),
        ("gzip, deflate, br", Rep::Br),
        ("identity, gzip", Rep::Gzip),
        ("br;q=0.5, gzip;q=0.5, identity;q=0.5", Rep::Br),
        ("gzip;q=0.7, identity;q=0.7", Rep::Gzip),
    ] {
        assert_rep(&s.get_h("/app.css", &[("Accept-Encoding", ae)]), rep, ae);
    }
}

#[test]
fn q_values_decide() {
    let f = Fixture::new();
    let s = start(&f);
    for (ae, rep) in [
        ("br;q=0.5, gzip;q=0.8", Rep::Gzip),
        ("br;q=0.1, gzip", Rep::Gzip),
        ("gzip;q=0.2, identity;q=0.9", Rep::Identity),
        ("br;q=0, gzip", Rep::Gzip),
        ("br;q=0, gzip;q=0", Rep::Identity),
        ("br;q=0.001, gzip;q=0.000", Rep::Br),
        ("gzip;q=1.0, br;q=0.999", Rep::Gzip),
        ("identity;q=0, gzip", Rep::Gzip),
    ] {
        assert_rep(&s.get_h("/app.css", &[("Accept-Encoding", ae)]), rep, ae);
    }
}

#[test]
fn codings_are_case_insensitive() {
    // RFC 9110 §8.4.1 / §12.4.2: coding names and the q parameter ignore case.
    let f = Fixture::new();
    let s = start(&f);
    for (ae, rep) in [("BR;Q=0.2, GZIP;Q=0.1", Rep::Br), ("Gzip", Rep::Gzip)] {
        assert_rep(&s.get_h("/app.css", &[("Accept-Encoding", ae)]), rep, ae);
    }
}

#[test]
fn star_counts() {
    let f = Fixture::new();
    let s = start(&f);
    for (ae, rep) in [
        ("*", Rep::Br),
        ("*;q=0.5, br;q=0", Rep::Gzip),
        ("*;q=0.5, br;q=0, gzip;q=0", Rep::Identity),
        ("gzip;q=0.5, *;q=0.9", Rep::Br),
        ("identity;q=1, *;q=0.5", Rep::Identity),
    ] {
        assert_rep(&s.get_h("/app.css", &[("Accept-Encoding", ae)]), rep, ae);
    }
}

#[test]
fn nothing_acceptable_is_406() {
    let f = Fixture::new();
    let s = start(&f);
    for (p, ae) in [
        ("/app.css", "identity;q=0"),
        ("/app.css", "*;q=0"),
        ("/app.css", "br;q=0, gzip;q=0, identity;q=0"),
        ("/app.css", "deflate, identity;q=0"),
        ("/plain.txt", "identity;q=0"),
        ("/plain.txt", "*;q=0"),
        ("/plain.txt", "br, gzip, identity;q=0"),
    ] {
        let r = s.get_h(p, &[("Accept-Encoding", ae)]);
        assert_eq!(r.status, 406, "{p} {ae}: {}", r.summary());
    }
}

#[test]
fn identity_excluded_but_coding_acceptable_is_served() {
    let f = Fixture::new();
    let s = start(&f);
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "identity;q=0, gzip")]),
        Rep::Gzip,
        "identity;q=0, gzip",
    );
    assert_rep(
        &s.get_h("/app.css", &[("Accept-Encoding", "*;q=0, br")]),
        Rep::Br,
        "*;q=0, br",
    );
}

#[test]
fn each_representation_has_its_own_etag() {
    let f = Fixture::new();
    let s = start(&f);
    let id = s.get("/app.css");
    let br = s.get_h("/app.css", &[("Accept-Encoding", "br")]);
    let gz = s.get_h("/app.css", &[("Accept-Encoding", "gzip")]);
    let (ei, eb, eg) = (
        id.header("etag").expect("identity etag"),
        br.header("etag").expect("br etag"),
        gz.header("etag").expect("gzip etag"),
    );
    for e in [ei, eb, eg] {
        assert!(is_strong_etag(e), "{e}");
    }
    assert_ne!(ei, eb);
    assert_ne!(ei, eg);
    assert_ne!(eb, eg);
    // Stable per representation.
    assert_eq!(
        s.get_h("/app.css", &[("Accept-Encoding", "br, gzip")])
            .header("etag"),
        Some(eb)
    );
}

#[test]
fn head_negotiates_like_get() {
    let f = Fixture::new();
    let s = start(&f);
    let g = s.get_h("/app.css", &[("Accept-Encoding", "br")]);
    let h = s.head_h("/app.css", &[("Accept-Encoding", "br")]);
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty(), "HEAD body: {}", h.summary());
    assert_eq!(h.header("content-encoding"), Some("br"));
    assert_eq!(
        h.header("content-length"),
        Some(app_css_br().len().to_string().as_str())
    );
    assert_eq!(h.header("etag"), g.header("etag"));
    assert!(h.vary_contains("accept-encoding"));
}

#[test]
fn file_without_siblings_has_no_vary_accept_encoding() {
    let f = Fixture::new();
    let s = start(&f);
    for ae in [None, Some("br, gzip")] {
        let h: Vec<(&str, &str)> = ae.map(|v| ("Accept-Encoding", v)).into_iter().collect();
        let r = s.get_h("/plain.txt", &h);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, PLAIN_TXT);
        assert!(r.header("content-encoding").is_none(), "{}", r.summary());
        assert!(
            !r.vary_contains("accept-encoding"),
            "plain.txt has one representation, yet: {}",
            r.summary()
        );
    }
}

/// (method, headers, expected status)
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);

#[test]
fn vary_on_every_response_of_a_negotiated_resource() {
    let f = Fixture::new();
    let s = start(&f);
    let id = s.get("/app.css");
    let etag = id.header("etag").unwrap().to_string();
    let br_etag = s
        .get_h("/app.css", &[("Accept-Encoding", "br")])
        .header("etag")
        .unwrap()
        .to_string();
    let cases: Vec<Case> = vec![
        ("GET", vec![], 200),
        ("HEAD", vec![], 200),
        ("GET", vec![("Accept-Encoding", "gzip")], 200),
        ("GET", vec![("If-None-Match", etag.as_str())], 304),
        (
            "GET",
            vec![
                ("Accept-Encoding", "br"),
                ("If-None-Match", br_etag.as_str()),
            ],
            304,
        ),
        ("GET", vec![("Range", "bytes=0-9")], 206),
        (
            "GET",
            vec![("Range", "bytes=0-9"), ("Accept-Encoding", "br")],
            206,
        ),
    ];
    for (m, h, code) in cases {
        let r = s.req(m, "/app.css", &h);
        assert_eq!(r.status, code, "{m} {h:?}: {}", r.summary());
        assert!(
            r.vary_contains("accept-encoding"),
            "{m} {h:?} -> {code} lacks Vary: Accept-Encoding: {}",
            r.summary()
        );
    }
}

#[test]
fn only_gz_sibling_is_still_negotiated() {
    let f = Fixture::new();
    f.write("lib.js", b"function lib() { return 42; }\n");
    f.write("lib.js.gz", b"\x1f\x8bGZ-of-lib");
    let s = start(&f);
    let r = s.get_h("/lib.js", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.body, b"\x1f\x8bGZ-of-lib");
    assert!(r.vary_contains("accept-encoding"));
    let r = s.get_h("/lib.js", &[("Accept-Encoding", "br")]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-encoding").is_none());
    assert_eq!(r.body, b"function lib() { return 42; }\n");
    assert!(r.vary_contains("accept-encoding"));
}
