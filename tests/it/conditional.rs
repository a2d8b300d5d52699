//! Conditional requests (RFC 9110 §13): If-Match, If-Unmodified-Since,
//! If-None-Match, If-Modified-Since, in §13.2.2 order.

use crate::common;

use common::*;
use std::time::Duration;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

fn date(t: std::time::SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

fn etag_of(s: &Server, path: &str, ae: Option<&str>) -> String {
    let h: Vec<(&str, &str)> = ae.map(|v| ("Accept-Encoding", v)).into_iter().collect();
    let r = s.get_h(path, &h);
    assert_eq!(r.status, 200, "{}", r.summary());
    r.header("etag").expect("etag").to_string()
}

fn assert_304(r: &Response, etag: &str, ctx: &str) {
    assert_eq!(r.status, 304, "{ctx}: {}", r.summary());
    assert!(r.body.is_empty(), "{ctx}: 304 with a body: {}", r.summary());
    assert_eq!(
        r.header("etag"),
        Some(etag),
        "{ctx}: 304 must carry the ETag"
    );
    assert!(
        r.header("cache-control").is_some(),
        "{ctx}: 304 must carry Cache-Control: {}",
        r.summary()
    );
}

#[test]
fn if_none_match_exact_gives_304() {
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/app.css", None);
    let r = s.get_h("/app.css", &[("If-None-Match", &etag)]);
    assert_304(&r, &etag, "INM exact");
    assert_eq!(r.header("cache-control"), Some("public, no-cache"));
    assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
}

#[test]
fn if_none_match_304_on_head_too() {
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/plain.txt", None);
    let r = s.head_h("/plain.txt", &[("If-None-Match", &etag)]);
    assert_304(&r, &etag, "HEAD INM");
    assert!(!r.vary_contains("accept-encoding"), "{}", r.summary());
}

#[test]
fn if_none_match_weak_compare_lists_and_star() {
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/plain.txt", None);
    let weak = format!("W/{etag}");
    let list = format!("\"aaa\", W/\"bbb\", {etag}");
    let list_nospace = format!("\"aaa\",{etag}");
    for v in [weak.as_str(), list.as_str(), list_nospace.as_str(), "*"] {
        let r = s.get_h("/plain.txt", &[("If-None-Match", v)]);
        assert_304(&r, &etag, v);
    }
    for v in ["\"aaa\"", "\"aaa\", W/\"bbb\""] {
        let r = s.get_h("/plain.txt", &[("If-None-Match", v)]);
        assert_eq!(r.status, 200, "{v}: {}", r.summary());
        assert_eq!(r.body, PLAIN_TXT);
    }
}

#[test]
fn if_none_match_is_per_representation() {
    let f = Fixture::new();
    let s = start(&f);
    let id = etag_of(&s, "/app.css", None);
    let br = etag_of(&s, "/app.css", Some("br"));
    // The identity's ETag does not validate the br representation.
    let r = s.get_h(
        "/app.css",
        &[("Accept-Encoding", "br"), ("If-None-Match", &id)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, app_css_br());
    // The br ETag does.
    let r = s.get_h(
        "/app.css",
        &[("Accept-Encoding", "br"), ("If-None-Match", &br)],
    );
    assert_304(&r, &br, "br INM");
    assert!(r.vary_contains("accept-encoding"));
}

#[test]
fn if_match() {
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/plain.txt", None);
    let list = format!("\"x\", {etag}");
    for v in [etag.as_str(), list.as_str(), "*"] {
        let r = s.get_h("/plain.txt", &[("If-Match", v)]);
        assert_eq!(r.status, 200, "If-Match {v}: {}", r.summary());
        assert_eq!(r.body, PLAIN_TXT);
    }
    // Strong comparison: a weak tag never matches; other tags do not either.
    let weak = format!("W/{etag}");
    for v in [weak.as_str(), "\"nope\"", "\"a\", \"b\""] {
        let r = s.get_h("/plain.txt", &[("If-Match", v)]);
        assert_eq!(r.status, 412, "If-Match {v}: {}", r.summary());
        assert!(
            !r.body.windows(PLAIN_TXT.len()).any(|w| w == PLAIN_TXT),
            "412 must not carry the file"
        );
    }
}

#[test]
fn if_unmodified_since() {
    let f = Fixture::new();
    let s = start(&f);
    let before = date(fixed_mtime() - Duration::from_secs(3600));
    let at = date(fixed_mtime());
    let after = date(fixed_mtime() + Duration::from_secs(3600));
    let r = s.get_h("/plain.txt", &[("If-Unmodified-Since", &before)]);
    assert_eq!(r.status, 412, "IUS before mtime: {}", r.summary());
    for v in [at.as_str(), after.as_str()] {
        let r = s.get_h("/plain.txt", &[("If-Unmodified-Since", v)]);
        assert_eq!(r.status, 200, "IUS {v}: {}", r.summary());
    }
}

#[test]
fn if_match_takes_precedence_over_if_unmodified_since() {
    // §13.2.2 step 2 applies only when If-Match is absent.
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/plain.txt", None);
    let before = date(fixed_mtime() - Duration::from_secs(3600));
    let r = s.get_h(
        "/plain.txt",
        &[("If-Match", &etag), ("If-Unmodified-Since", &before)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    // And a false If-Match wins over a true If-Unmodified-Since.
    let after = date(fixed_mtime() + Duration::from_secs(3600));
    let r = s.get_h(
        "/plain.txt",
        &[("If-Match", "\"nope\""), ("If-Unmodified-Since", &after)],
    );
    assert_eq!(r.status, 412, "{}", r.summary());
}

#[test]
fn precondition_failure_beats_not_modified() {
    // If-Match is evaluated before If-None-Match.
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/plain.txt", None);
    let r = s.get_h(
        "/plain.txt",
        &[("If-Match", "\"nope\""), ("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 412, "{}", r.summary());
}

#[test]
fn if_modified_since() {
    let f = Fixture::new();
    let s = start(&f);
    let etag = etag_of(&s, "/app.css", None);
    let at = date(fixed_mtime());
    let after = date(fixed_mtime() + Duration::from_secs(3600));
    let before = date(fixed_mtime() - Duration::from_secs(1));
    for v in [at.as_str(), after.as_str()] {
        let r = s.get_h("/app.css", &[("If-Modified-Since", v)]);
        assert_304(&r, &etag, v);
        assert!(r.vary_contains("accept-encoding"));
    }
    let r = s.get_h("/app.css", &[("If-Modified-Since", &before)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, app_css());
}

#[test]
fn if_modified_since_ignored_when_if_none_match_present() {
    let f = Fixture::new();
    let s = start(&f);
    let at = date(fixed_mtime());
    // INM does not match -> 200 even though IMS alone would give 304.
    let r = s.get_h(
        "/plain.txt",
        &[("If-None-Match", "\"other\""), ("If-Modified-Since", &at)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, PLAIN_TXT);
    // INM matches -> 304 even though IMS alone would give 200.
    let etag = etag_of(&s, "/plain.txt", None);
    let old = date(fixed_mtime() - Duration::from_secs(86_400));
    let r = s.get_h(
        "/plain.txt",
        &[("If-None-Match", &etag), ("If-Modified-Since", &old)],
    );
    assert_304(&r, &etag, "INM match + old IMS");
}

#[test]
fn garbage_validators_are_ignored() {
    let f = Fixture::new();
    let s = start(&f);
    for (h, v) in [
        ("If-Modified-Since", "yesterday"),
        ("If-Modified-Since", "Tue, 99 Foo 2021 25:61:61 GMT"),
        ("If-Modified-Since", ""),
        ("If-None-Match", "\"unterminated"),
        ("If-None-Match", "W/"),
        ("If-None-Match", ",,,"),
        ("If-None-Match", "no-quotes"),
        ("If-Unmodified-Since", "not a date"),
    ] {
        let r = s.get_h("/plain.txt", &[(h, v)]);
        assert_eq!(r.status, 200, "{h}: {v:?}: {}", r.summary());
        assert_eq!(r.body, PLAIN_TXT, "{h}: {v:?}");
    }
}

#[test]
fn not_modified_then_changed_content_is_200() {
    // Sanity: the 304 decision really uses the current ETag.
    let f = Fixture::new();
    let s = start(&f);
    let a = etag_of(&s, "/plain.txt", None);
    let b = etag_of(&s, "/data.bin", None);
    let r = s.get_h("/data.bin", &[("If-None-Match", &a)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = s.get_h("/data.bin", &[("If-None-Match", &b)]);
    assert_304(&r, &b, "data.bin");
}
