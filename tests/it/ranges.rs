//! Byte ranges (RFC 9110 §14): 206, 416, If-Range, ignored multi/malformed
//! ranges, ranges over the negotiated representation.

use crate::common;

use common::*;
use std::time::Duration;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

fn assert_206(r: &Response, full: &[u8], a: usize, b: usize, ctx: &str) {
    assert_eq!(r.status, 206, "{ctx}: {}", r.summary());
    let expected_cr = format!("bytes {a}-{b}/{}", full.len());
    assert_eq!(
        r.header("content-range"),
        Some(expected_cr.as_str()),
        "{ctx}"
    );
    assert_eq!(
        r.header("content-length"),
        Some((b - a + 1).to_string().as_str()),
        "{ctx}"
    );
    assert!(r.body == full[a..=b], "{ctx}: wrong bytes");
}

fn assert_full(r: &Response, full: &[u8], ctx: &str) {
    assert_eq!(r.status, 200, "{ctx}: {}", r.summary());
    assert!(
        r.header("content-range").is_none(),
        "{ctx}: {}",
        r.summary()
    );
    assert!(r.body == full, "{ctx}: body is not the whole file");
}

#[test]
fn first_bytes() {
    let f = Fixture::new();
    let s = start(&f);
    let d = data_bin();
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=0-99")]),
        &d,
        0,
        99,
        "0-99",
    );
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=0-0")]),
        &d,
        0,
        0,
        "0-0",
    );
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=999-999")]),
        &d,
        999,
        999,
        "999-999",
    );
}

#[test]
fn open_ended_and_suffix() {
    let f = Fixture::new();
    let s = start(&f);
    let d = data_bin();
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=100-")]),
        &d,
        100,
        999,
        "100-",
    );
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=-500")]),
        &d,
        500,
        999,
        "-500",
    );
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=-1")]),
        &d,
        999,
        999,
        "-1",
    );
}

#[test]
fn last_pos_and_suffix_are_clamped() {
    let f = Fixture::new();
    let s = start(&f);
    let d = data_bin();
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=990-5000")]),
        &d,
        990,
        999,
        "990-5000",
    );
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=-5000")]),
        &d,
        0,
        999,
        "-5000",
    );
}

#[test]
fn range_response_keeps_entity_headers() {
    let f = Fixture::new();
    let s = start(&f);
    let full = s.get("/data.bin");
    let r = s.get_h("/data.bin", &[("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("etag"), full.header("etag"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("last-modified"), full.header("last-modified"));
    assert_eq!(r.header("cache-control"), full.header("cache-control"));
}

#[test]
fn unsatisfiable_is_416_with_star_content_range() {
    let f = Fixture::new();
    let s = start(&f);
    for v in ["bytes=1000-", "bytes=1000-2000", "bytes=5000-6000"] {
        let r = s.get_h("/data.bin", &[("Range", v)]);
        assert_eq!(r.status, 416, "{v}: {}", r.summary());
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{v}");
        assert!(
            !r.body.windows(50).any(|w| w == &data_bin()[..50]),
            "{v}: 416 carried file bytes"
        );
    }
}

#[test]
fn multiple_ranges_give_whole_representation() {
    let f = Fixture::new();
    let s = start(&f);
    for v in ["bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=-1,0-0"] {
        assert_full(&s.get_h("/data.bin", &[("Range", v)]), &data_bin(), v);
    }
}

#[test]
fn malformed_ranges_are_ignored() {
    let f = Fixture::new();
    let s = start(&f);
    for v in [
        "bytes=5-1",
        "items=0-1",
        "bytes=",
        "bytes=-",
        "bytes=abc-def",
        "bytes 0-1",
        "bytes=0-1-2",
        "bytes=--1",
        "bytes=1.5-2",
    ] {
        assert_full(&s.get_h("/data.bin", &[("Range", v)]), &data_bin(), v);
    }
}

#[test]
fn huge_numbers_never_500() {
    let f = Fixture::new();
    let s = start(&f);
    for v in [
        "bytes=99999999999999999999999-",
        "bytes=0-99999999999999999999999",
        "bytes=-99999999999999999999999",
        "bytes=18446744073709551615-18446744073709551615",
        "bytes=0-18446744073709551615",
        "bytes=-0",
    ] {
        let r = s.get_h("/data.bin", &[("Range", v)]);
        assert!([200, 206, 416].contains(&r.status), "{v}: {}", r.summary());
    }
}

#[test]
fn range_on_head_is_ignored() {
    let f = Fixture::new();
    let s = start(&f);
    let r = s.head_h("/data.bin", &[("Range", "bytes=0-99")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.header("content-range").is_none(), "{}", r.summary());
    assert_eq!(r.header("content-length"), Some("1000"));
    assert!(r.body.is_empty());
}

#[test]
fn if_range_etag() {
    let f = Fixture::new();
    let s = start(&f);
    let d = data_bin();
    let etag = s.get("/data.bin").header("etag").unwrap().to_string();
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=0-9"), ("If-Range", &etag)]),
        &d,
        0,
        9,
        "If-Range matching etag",
    );
    assert_full(
        &s.get_h(
            "/data.bin",
            &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
        ),
        &d,
        "If-Range other etag",
    );
    let weak = format!("W/{etag}");
    assert_full(
        &s.get_h("/data.bin", &[("Range", "bytes=0-9"), ("If-Range", &weak)]),
        &d,
        "If-Range weak etag (strong comparison required)",
    );
}

#[test]
fn if_range_date() {
    let f = Fixture::new();
    let s = start(&f);
    let d = data_bin();
    let lm = httpdate::fmt_http_date(fixed_mtime());
    assert_206(
        &s.get_h("/data.bin", &[("Range", "bytes=0-9"), ("If-Range", &lm)]),
        &d,
        0,
        9,
        "If-Range = Last-Modified",
    );
    let earlier = httpdate::fmt_http_date(fixed_mtime() - Duration::from_secs(60));
    assert_full(
        &s.get_h(
            "/data.bin",
            &[("Range", "bytes=0-9"), ("If-Range", &earlier)],
        ),
        &d,
        "If-Range earlier date",
    );
}

#[test]
fn if_range_garbage_never_500() {
    let f = Fixture::new();
    let s = start(&f);
    for v in ["garbage", "W/", "\"unterminated", ""] {
        let r = s.get_h("/data.bin", &[("Range", "bytes=0-9"), ("If-Range", v)]);
        assert!([200, 206].contains(&r.status), "{v:?}: {}", r.summary());
        if r.status == 200 {
            assert_eq!(r.body, data_bin());
        }
    }
}

#[test]
fn range_applies_to_selected_representation() {
    let f = Fixture::new();
    let s = start(&f);
    let br = app_css_br();
    let full = s.get_h("/app.css", &[("Accept-Encoding", "br")]);
    let r = s.get_h(
        "/app.css",
        &[("Accept-Encoding", "br"), ("Range", "bytes=5-24")],
    );
    assert_206(&r, &br, 5, 24, "br range");
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("etag"), full.header("etag"));
    assert!(r.vary_contains("accept-encoding"));

    let gz = app_css_gz();
    let r = s.get_h(
        "/app.css",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=-10")],
    );
    let n = gz.len();
    assert_206(&r, &gz, n - 10, n - 1, "gzip suffix range");
    assert_eq!(r.header("content-encoding"), Some("gzip"));

    let css = app_css();
    let r = s.get_h("/app.css", &[("Range", "bytes=0-99")]);
    assert_206(&r, &css, 0, 99, "identity range");
    assert!(r.header("content-encoding").is_none());

    // Unsatisfiable against the br length, though satisfiable for identity.
    let r = s.get_h(
        "/app.css",
        &[
            ("Accept-Encoding", "br"),
            ("Range", &format!("bytes={}-", br.len())),
        ],
    );
    assert_eq!(r.status, 416, "{}", r.summary());
    let cr = format!("bytes */{}", br.len());
    assert_eq!(r.header("content-range"), Some(cr.as_str()));
}

#[test]
fn if_range_uses_selected_representation_etag() {
    let f = Fixture::new();
    let s = start(&f);
    let id = s.get("/app.css").header("etag").unwrap().to_string();
    let br = s
        .get_h("/app.css", &[("Accept-Encoding", "br")])
        .header("etag")
        .unwrap()
        .to_string();
    let r = s.get_h(
        "/app.css",
        &[
            ("Accept-Encoding", "br"),
            ("Range", "bytes=0-3"),
            ("If-Range", &br),
        ],
    );
    assert_206(&r, &app_css_br(), 0, 3, "br If-Range br etag");
    let r = s.get_h(
        "/app.css",
        &[
            ("Accept-Encoding", "br"),
            ("Range", "bytes=0-3"),
            ("If-Range", &id),
        ],
    );
    assert_full(&r, &app_css_br(), "br If-Range identity etag");
}
