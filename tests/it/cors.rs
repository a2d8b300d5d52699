//! CORS: `*` by default, echoing a listed Origin (with Vary: Origin),
//! disabled by `[]`, preflight and plain OPTIONS.

use crate::common;

use common::*;

const ORIGIN: &str = "https://app.example.com";

fn start_with_list(f: &Fixture) -> Server {
    Server::start(
        &f.root,
        &config_with(&format!(
            "[cors]\nallow_origins = [\"{ORIGIN}\", \"https://other.example.com\"]\n"
        )),
    )
}

#[test]
fn default_allows_any_origin() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    for h in [vec![], vec![("Origin", ORIGIN)]] {
        let r = s.get_h("/plain.txt", &h);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("*"),
            "{h:?}: {}",
            r.summary()
        );
    }
    let r = s.head_h("/app.css", &[("Origin", ORIGIN)]);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = s.get_h("/data.bin", &[("Origin", ORIGIN), ("Range", "bytes=0-1")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn default_cors_on_304() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    let etag = s.get("/plain.txt").header("etag").unwrap().to_string();
    let r = s.get_h(
        "/plain.txt",
        &[("Origin", ORIGIN), ("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn explicit_star_config_allows_any_origin() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with("[cors]\nallow_origins = [\"*\"]\n"));
    let r = s.get_h("/plain.txt", &[("Origin", "https://whatever.test")]);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn listed_origin_is_echoed_with_vary_origin() {
    let f = Fixture::new();
    let s = start_with_list(&f);
    for o in [ORIGIN, "https://other.example.com"] {
        let r = s.get_h("/plain.txt", &[("Origin", o)]);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_all("access-control-allow-origin"),
            vec![o],
            "{}",
            r.summary()
        );
        assert!(r.vary_contains("origin"), "{}", r.summary());
    }
}

#[test]
fn unlisted_origin_gets_no_acao_but_vary_origin() {
    let f = Fixture::new();
    let s = start_with_list(&f);
    for o in [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "http://app.example.com",
        "null",
    ] {
        assert_denied(&s, o);
    }
}

/// A request from `o` gets no `Access-Control-Allow-Origin`, but the
/// answer still says `Vary: Origin`.
fn assert_denied(s: &Server, o: &str) {
    let r = s.get_h("/plain.txt", &[("Origin", o)]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{o}: {}",
        r.summary()
    );
    assert!(r.vary_contains("origin"), "{o}: {}", r.summary());
}

#[test]
fn listed_origins_response_without_origin_still_varies_on_origin() {
    // The response depends on Origin, so a cache must key on it even when
    // the request had none.
    let f = Fixture::new();
    let s = start_with_list(&f);
    let r = s.get("/plain.txt");
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.vary_contains("origin"), "{}", r.summary());
}

#[test]
fn vary_combines_accept_encoding_and_origin() {
    let f = Fixture::new();
    let s = start_with_list(&f);
    let r = s.get_h("/app.css", &[("Origin", ORIGIN), ("Accept-Encoding", "br")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert!(r.vary_contains("origin"), "{}", r.summary());
    assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    let etag = r.header("etag").unwrap().to_string();
    let r = s.get_h(
        "/app.css",
        &[
            ("Origin", ORIGIN),
            ("Accept-Encoding", "br"),
            ("If-None-Match", &etag),
        ],
    );
    assert_eq!(r.status, 304);
    assert!(r.vary_contains("origin"), "{}", r.summary());
    assert!(r.vary_contains("accept-encoding"), "{}", r.summary());
}

#[test]
fn empty_list_disables_cors() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with("[cors]\nallow_origins = []\n"));
    let r = s.get_h("/plain.txt", &[("Origin", ORIGIN)]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{}",
        r.summary()
    );
    let r = s.req(
        "OPTIONS",
        "/plain.txt",
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
    );
    assert!(r.status < 500);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{}",
        r.summary()
    );
}

#[test]
fn preflight_default() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    let r = s.req(
        "OPTIONS",
        "/app.css",
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
    );
    assert_eq!(r.status, 204, "{}", r.summary());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let methods: Vec<String> = r
        .tokens("access-control-allow-methods")
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    assert!(methods.contains(&"GET".to_string()), "{}", r.summary());
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    assert!(r.body.is_empty(), "204 with body: {}", r.summary());
}

#[test]
fn preflight_configured_max_age_and_listed_origin() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(&format!(
            "[cors]\nallow_origins = [\"{ORIGIN}\"]\nmax_age_secs = 600\n"
        )),
    );
    let r = s.req(
        "OPTIONS",
        "/plain.txt",
        &[("Origin", ORIGIN), ("Access-Control-Request-Method", "GET")],
    );
    assert_eq!(r.status, 204, "{}", r.summary());
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(r
        .tokens("access-control-allow-methods")
        .iter()
        .any(|m| m.eq_ignore_ascii_case("GET")));
    assert!(r.vary_contains("origin"), "{}", r.summary());

    let r = s.req(
        "OPTIONS",
        "/plain.txt",
        &[
            ("Origin", "https://evil.example.com"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert!(r.status < 500);
    assert!(
        r.header("access-control-allow-origin").is_none(),
        "{}",
        r.summary()
    );
}

#[test]
fn plain_options_gives_allow() {
    let f = Fixture::new();
    let s = Server::start(&f.root, &config_with(""));
    for p in ["/plain.txt", "/app.css", "/"] {
        let r = s.req("OPTIONS", p, &[]);
        assert_eq!(r.status, 204, "{p}: {}", r.summary());
        assert_eq!(allow_set(&r), vec!["GET", "HEAD", "OPTIONS"], "{p}");
        assert!(r.body.is_empty(), "{p}: {}", r.summary());
    }
}

#[test]
fn a_wildcard_origin_allows_exactly_one_label() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with("[cors]\nallow_origins = [\"https://*.example.com\"]\n"),
    );
    for o in ["https://a.example.com", "https://cdn-2.example.com"] {
        let r = s.get_h("/plain.txt", &[("Origin", o)]);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header_all("access-control-allow-origin"),
            vec![o],
            "{o}: {}",
            r.summary()
        );
        assert!(r.vary_contains("origin"), "{}", r.summary());
        let r = s.req(
            "OPTIONS",
            "/plain.txt",
            &[("Origin", o), ("Access-Control-Request-Method", "GET")],
        );
        assert_eq!(r.status, 204, "{}", r.summary());
        assert_eq!(r.header("access-control-allow-origin"), Some(o));
        assert!(r.has("access-control-allow-methods"), "{}", r.summary());
    }
    for o in [
        "https://a.b.example.com",
        "https://example.com",
        "http://a.example.com",
        "https://a.example.com:8443",
        "https://a.example.com.evil.com",
        "https://evilexample.com",
        "null",
    ] {
        assert_denied(&s, o);
        let r = s.req(
            "OPTIONS",
            "/plain.txt",
            &[("Origin", o), ("Access-Control-Request-Method", "GET")],
        );
        assert!(
            !r.has("access-control-allow-origin"),
            "{o}: {}",
            r.summary()
        );
        assert!(
            !r.has("access-control-allow-methods"),
            "{o}: {}",
            r.summary()
        );
    }
}

#[test]
fn wildcards_and_exact_origins_mix() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(&format!(
            "[cors]\nallow_origins = [\"https://*.cdn.test\", \"{ORIGIN}\"]\n"
        )),
    );
    for o in ["https://eu.cdn.test", ORIGIN] {
        let r = s.get_h("/plain.txt", &[("Origin", o)]);
        assert_eq!(r.header("access-control-allow-origin"), Some(o));
    }
    let r = s.get_h("/plain.txt", &[("Origin", "https://x.app.example.com")]);
    assert!(!r.has("access-control-allow-origin"), "{}", r.summary());
}

#[test]
fn malformed_origin_patterns_are_refused_at_start() {
    let f = Fixture::new();
    for bad in [
        "https://*example.com",
        "https://a.*.example.com",
        "https://**.example.com",
        "https://*.com",
        "*.example.com",
        "https://*.example.com/",
        "https://www.example.com/app",
    ] {
        let (status, stderr) = run_config_expect_exit(
            &f.root,
            &format!("[cors]\nallow_origins = [\"https://ok.example.com\", \"{bad}\"]\n"),
        );
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        let lines = nonempty_lines(&stderr);
        assert_eq!(lines.len(), 1, "{bad}: {stderr}");
        assert!(
            lines[0].contains("cors.allow_origins[1]") && lines[0].contains(bad),
            "{bad}: {stderr}"
        );
    }
}
