//! Pull-through from a real origin the test starts: misses are fetched,
//! stored per RFC 9111, served from memory while fresh, revalidated when
//! stale, coalesced under concurrency; origin faults become 502/504.

use crate::common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout_ms = 1500\ntotal_timeout_ms = 3000\nconnect_timeout_ms = 1000\n{extra}",
        origin.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

#[test]
fn a_miss_is_fetched_once_then_served_from_memory() {
    let o = Origin::start();
    o.route(
        "/lib/app.js",
        Reply::ok("console.log(1)")
            .header("cache-control", "public, max-age=60")
            .header("content-type", "text/javascript"),
    );
    let (_f, s) = edge(&o, "");
    let first = s.get("/lib/app.js");
    assert_eq!(first.status, 200);
    assert_eq!(first.body, b"console.log(1)");
    assert_eq!(
        first.header("cache-status"),
        Some("cdn-edge; fwd=uri-miss; stored")
    );
    for _ in 0..3 {
        let r = s.get("/lib/app.js");
        assert_eq!(r.body, b"console.log(1)");
        assert_eq!(r.header("cache-status"), Some("cdn-edge; hit"));
        assert!(r.header("age").is_some_and(|a| a.parse::<u64>().is_ok()));
        assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
        assert_eq!(r.header("content-type"), Some("text/javascript"));
        assert!(r.header("etag").is_some());
    }
    assert_eq!(o.count("/lib/app.js"), 1);
    // The edge asks for identity and announces itself (what it forwards of
    // the client's is tested in the `forward` module).
    let seen = &o.requests("/lib/app.js")[0];
    assert_eq!(seen.header("accept-encoding"), Some("identity"));
    assert!(seen.header("via").is_some_and(|v| v.contains("cdn-edge")));
}

#[test]
fn two_hundred_concurrent_requests_for_a_cold_url_make_one_origin_request() {
    let o = Origin::start();
    o.route(
        "/cold.css",
        Reply::ok("a{}")
            .header("cache-control", "max-age=300")
            .delay(Duration::from_millis(400)),
    );
    let (_f, s) = edge(&o, "");
    let addr = s.addr;
    let ok = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let ok = ok.clone();
            thread::spawn(move || {
                let r = request(addr, "GET", "/cold.css", &[]);
                if r.status == 200 && r.body == b"a{}" {
                    ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ok.load(std::sync::atomic::Ordering::Relaxed), 200);
    assert_eq!(o.count("/cold.css"), 1);
}

#[test]
fn no_store_private_and_set_cookie_are_not_stored() {
    let o = Origin::start();
    o.route("/ns", Reply::ok("x").header("cache-control", "no-store"));
    o.route(
        "/pv",
        Reply::ok("x").header("cache-control", "private, max-age=60"),
    );
    o.route(
        "/ck",
        Reply::ok("x")
            .header("cache-control", "max-age=60")
            .header("set-cookie", "a=b"),
    );
    let (_f, s) = edge(&o, "");
    for p in ["/ns", "/pv", "/ck"] {
        for _ in 0..2 {
            let r = s.get(p);
            assert_eq!(r.status, 200, "{p}");
            let status = r.header("cache-status").unwrap_or_default();
            assert!(
                status.starts_with("cdn-edge; fwd=uri-miss; detail="),
                "{p}: passed through, with the reason: {status:?}"
            );
        }
        assert_eq!(o.count(p), 2, "{p} must reach the origin every time");
    }
}

#[test]
fn server_errors_are_passed_on_and_not_stored() {
    let o = Origin::start();
    o.route(
        "/boom",
        Reply::status(503, "down").header("cache-control", "max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/boom").status, 503);
    assert_eq!(s.get("/boom").status, 503);
    assert_eq!(o.count("/boom"), 2);
}

#[test]
fn unreachable_origin_is_502_and_stalled_origin_is_504() {
    let o = Origin::start();
    o.route("/slow", Reply::ok("late").delay(Duration::from_secs(3)));
    let (_f, s) = edge(&o, "");
    let r = s.get("/slow");
    assert_eq!(r.status, 504, "{}", r.summary());
    assert!(r.text().contains("timed out"));
    o.shutdown();
    let r = s.get("/anything");
    assert_eq!(r.status, 502, "{}", r.summary());
    assert!(r.text().contains("unreachable"));
}

#[test]
fn a_body_cut_short_is_never_stored() {
    let o = Origin::start();
    o.route(
        "/cut.js",
        Reply::ok(vec![b'x'; 10_000])
            .header("cache-control", "max-age=60")
            .cut_after(100),
    );
    let (_f, s) = edge(&o, "");
    let r = s.get("/cut.js");
    assert_eq!(r.status, 502, "{}", r.summary());
    o.route(
        "/cut.js",
        Reply::ok("whole").header("cache-control", "max-age=60"),
    );
    assert_eq!(s.get("/cut.js").body, b"whole");
    assert_eq!(o.count("/cut.js"), 2);
}

#[test]
fn stale_objects_are_revalidated_with_their_validators() {
    let o = Origin::start();
    o.route(
        "/r.css",
        Reply::ok("body{}")
            .header("cache-control", "max-age=1")
            .header("etag", "\"v1\"")
            .etag_304("\"v1\""),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/r.css").body, b"body{}");
    advance(&o, &s, 2);
    let r = s.get("/r.css");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"body{}");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; stored")
    );
    let reqs = o.requests("/r.css");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].header("if-none-match"), Some("\"v1\""));
    // Fresh again after the 304.
    assert_eq!(
        s.get("/r.css").header("cache-status"),
        Some("cdn-edge; hit")
    );
    assert_eq!(o.count("/r.css"), 2);
}

#[test]
fn stale_if_error_serves_the_stale_copy_when_the_origin_fails() {
    let o = Origin::start();
    o.route(
        "/sie.js",
        Reply::ok("old").header("cache-control", "max-age=1, stale-if-error=600"),
    );
    o.route(
        "/strict.js",
        Reply::ok("old").header(
            "cache-control",
            "max-age=1, must-revalidate, stale-if-error=600",
        ),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/sie.js").body, b"old");
    assert_eq!(s.get("/strict.js").body, b"old");
    advance(&o, &s, 2);
    o.shutdown();
    let r = s.get("/sie.js");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"old");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; detail=stale-if-error-unreachable")
    );
    assert_eq!(
        s.get("/strict.js").status,
        502,
        "must-revalidate forbids serving stale"
    );
}

#[test]
fn query_strings_are_separate_objects() {
    let o = Origin::start();
    o.route_with_query(
        "/q.js?v=1",
        Reply::ok("one").header("cache-control", "max-age=60"),
    );
    o.route_with_query(
        "/q.js?v=2",
        Reply::ok("two").header("cache-control", "max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/q.js?v=1").body, b"one");
    assert_eq!(s.get("/q.js?v=2").body, b"two");
    assert_eq!(s.get("/q.js?v=1").body, b"one");
    assert_eq!(o.total(), 2);
}

#[test]
fn local_files_win_over_the_origin() {
    let o = Origin::start();
    o.route("/plain.txt", Reply::ok("from origin"));
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/plain.txt").body, PLAIN_TXT);
    assert_eq!(o.total(), 0);
}

#[test]
fn stale_if_error_covers_an_origin_answering_5xx() {
    let o = Origin::start();
    o.route(
        "/e.js",
        Reply::ok("old").header("cache-control", "max-age=1, stale-if-error=600"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/e.js").body, b"old");
    advance(&o, &s, 2);
    o.route("/e.js", Reply::status(500, "broken"));
    let r = s.get("/e.js");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"old");
}

#[test]
fn not_found_is_cached_for_the_negative_ttl() {
    let o = Origin::start();
    o.route("/gone.css", Reply::status(404, "nope"));
    let (_f, s) = edge(&o, "[cache]\nnegative_ttl_secs = 60\n");
    for _ in 0..3 {
        let r = s.get("/gone.css");
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"nope");
    }
    assert_eq!(o.count("/gone.css"), 1);
    let (_f2, s2) = edge(&o, "[cache]\nnegative_ttl_secs = 0\n");
    s2.get("/gone.css");
    s2.get("/gone.css");
    assert_eq!(
        o.count("/gone.css"),
        3,
        "with a zero negative TTL every request goes to the origin"
    );
}

#[test]
fn freshness_from_heuristics_and_the_default_ttl() {
    let o = Origin::start();
    // Last-Modified a year ago: the heuristic (10%, capped) keeps it.
    o.route(
        "/lm.js",
        Reply::ok("lm").header("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
    );
    // No freshness information at all: not kept unless default_ttl is set.
    o.route("/bare.js", Reply::ok("bare"));
    let (_f, s) = edge(&o, "");
    for _ in 0..2 {
        s.get("/lm.js");
        s.get("/bare.js");
    }
    assert_eq!(o.count("/lm.js"), 1);
    assert_eq!(o.count("/bare.js"), 2);
    let (_f2, s2) = edge(&o, "[cache]\ndefault_ttl_secs = 60\n");
    s2.get("/bare.js");
    s2.get("/bare.js");
    assert_eq!(o.count("/bare.js"), 3);
}

#[test]
fn client_reloads_revalidate_at_most_once_per_interval() {
    let o = Origin::start();
    o.route(
        "/c.css",
        Reply::ok("c")
            .header("cache-control", "max-age=600")
            .header("etag", "\"c1\"")
            .etag_304("\"c1\""),
    );
    let (_f, s) = edge(&o, "[cache]\nclient_revalidate_interval_ms = 60000\n");
    assert_eq!(s.get("/c.css").status, 200);
    for _ in 0..5 {
        let r = s.get_h("/c.css", &[("cache-control", "no-cache")]);
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        o.count("/c.css"),
        1,
        "reloads within the interval are answered from the cache"
    );
    // An interval of 0 never damps: no time needs to pass.
    let (_f2, s2) = edge(&o, "[cache]\nclient_revalidate_interval_ms = 0\n");
    s2.get("/c.css");
    s2.get_h("/c.css", &[("cache-control", "no-cache")]);
    assert_eq!(
        o.count("/c.css"),
        3,
        "past the interval a reload revalidates"
    );
    let (_f3, s3) = edge(
        &o,
        "[cache]\nclient_no_cache = false\nclient_revalidate_interval_ms = 0\n",
    );
    s3.get("/c.css");
    s3.get_h("/c.css", &[("cache-control", "no-cache")]);
    assert_eq!(
        o.count("/c.css"),
        4,
        "client_no_cache = false ignores reloads"
    );
}

/// The value of a sample line in the metrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn metrics_count_origin_traffic() {
    let o = Origin::start();
    o.route(
        "/m.js",
        Reply::ok("m")
            .header("cache-control", "max-age=1")
            .header("etag", "\"m1\"")
            .etag_304("\"m1\"")
            .delay(Duration::from_millis(300)),
    );
    let (_f, s) = edge(&o, "");
    let addr = s.addr;
    let threads: Vec<_> = (0..20)
        .map(|_| thread::spawn(move || request(addr, "GET", "/m.js", &[]).status))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    advance(&o, &s, 2);
    assert_eq!(s.get("/m.js").status, 200);
    let t = s.get("/metrics").text();
    assert_eq!(
        sample(&t, "cdn_edge_origin_requests_total"),
        Some(2.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_coalesced_waiters_total"),
        Some(19.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_origin_revalidated_not_modified_total"),
        Some(1.0),
        "{t}"
    );
    assert_eq!(
        sample(&t, "cdn_edge_origin_latency_seconds_count"),
        Some(2.0),
        "{t}"
    );
}

#[test]
fn pulled_text_gets_br_and_gzip_off_the_request_path() {
    let o = Origin::start();
    let css = "a{color:red}\n".repeat(400);
    o.route(
        "/big.css",
        Reply::ok(css.clone())
            .header("cache-control", "max-age=600")
            .header("content-type", "text/css"),
    );
    let (_f, s) = edge(&o, "");
    let first = s.get_h("/big.css", &[("accept-encoding", "br")]);
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body,
        css.as_bytes(),
        "the first client is answered with identity, not kept waiting for brotli"
    );
    assert!(poll_until(CHANGE_TIMEOUT, || s
        .get_h("/big.css", &[("accept-encoding", "br")])
        .header("content-encoding")
        == Some("br")));
    let br = s.get_h("/big.css", &[("accept-encoding", "br")]);
    assert!(br.body.len() < css.len() / 4);
    assert!(br.vary_contains("accept-encoding"));
    let gz = s.get_h("/big.css", &[("accept-encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(s.get("/big.css").body, css.as_bytes());
    assert_eq!(o.count("/big.css"), 1);
}

#[test]
fn stale_while_revalidate_answers_at_once_and_refreshes_in_the_background() {
    let o = Origin::start();
    o.route(
        "/swr.js",
        Reply::ok("v1").header("cache-control", "max-age=1, stale-while-revalidate=600"),
    );
    let (_f, s) = edge(&o, "");
    assert_eq!(s.get("/swr.js").body, b"v1");
    advance(&o, &s, 2);
    o.route(
        "/swr.js",
        Reply::ok("v2")
            .header("cache-control", "max-age=600")
            .delay(Duration::from_millis(500)),
    );
    let r = s.get("/swr.js");
    assert_eq!(
        r.body, b"v1",
        "the stale copy is served without waiting for the origin"
    );
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit; detail=stale-while-revalidate")
    );
    assert!(poll_until(CHANGE_TIMEOUT, || s.get("/swr.js").body == b"v2"));
    assert_eq!(o.count("/swr.js"), 2, "one background revalidation");
}

#[test]
fn objects_larger_than_the_maximum_are_streamed_through_uncached() {
    let o = Origin::start();
    let big = vec![b'z'; 50_000];
    o.route(
        "/huge.bin",
        Reply::ok(big.clone()).header("cache-control", "max-age=600"),
    );
    o.route(
        "/huge-cut.bin",
        Reply::ok(big.clone())
            .header("cache-control", "max-age=600")
            .cut_after(20_000),
    );
    let (_f, s) = edge(&o, "max_object_bytes = 10000\n");
    for _ in 0..2 {
        let r = s.get("/huge.bin");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, big);
        assert_eq!(r.header("content-length"), Some("50000"));
    }
    assert_eq!(
        o.count("/huge.bin"),
        2,
        "never stored: the first fetch finds it too large and streams what it read and \
         the rest (no second request), then each request streams"
    );
    // Cut short mid-body: the client's response is aborted, never completed.
    if let Ok(r) = try_request(s.addr, "GET", "/huge-cut.bin", &[]) {
        assert!(
            r.status != 200 || r.body.len() < big.len(),
            "a cut body must not arrive whole"
        );
    }
}

#[test]
fn authorized_requests_are_stored_only_when_the_origin_allows_it() {
    let o = Origin::start();
    o.route(
        "/private.json",
        Reply::ok("mine").header("cache-control", "max-age=60"),
    );
    o.route(
        "/shared.json",
        Reply::ok("ours").header("cache-control", "public, max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    let auth = [("authorization", "Bearer abc")];
    for _ in 0..2 {
        assert_eq!(s.get_h("/private.json", &auth).body, b"mine");
        assert_eq!(s.get_h("/shared.json", &auth).body, b"ours");
    }
    assert_eq!(
        o.requests("/private.json")[0].header("authorization"),
        Some("Bearer abc")
    );
    assert_eq!(
        o.count("/private.json"),
        2,
        "max-age alone does not allow storing an authorized response (RFC 9111 §3.5)"
    );
    assert_eq!(o.count("/shared.json"), 1, "public does");
}

#[test]
fn redirects_and_other_cacheable_statuses_are_stored_and_replayed() {
    let o = Origin::start();
    o.route(
        "/old.css",
        Reply::status(301, "moved")
            .header("location", "/new.css")
            .header("cache-control", "max-age=600"),
    );
    o.route(
        "/teapot",
        Reply::status(418, "short and stout").header("cache-control", "max-age=600"),
    );
    let (_f, s) = edge(&o, "");
    for _ in 0..3 {
        let r = s.get("/old.css");
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("/new.css"));
        assert_eq!(r.body, b"moved");
        let t = s.get("/teapot");
        assert_eq!(
            t.status, 418,
            "explicit freshness makes any status storable (RFC 9111 §3)"
        );
    }
    assert_eq!(o.count("/old.css"), 1);
    assert_eq!(o.count("/teapot"), 1);
}

#[test]
fn a_no_cache_response_is_stored_but_revalidated_every_time() {
    let o = Origin::start();
    o.route(
        "/nc.js",
        Reply::ok("nc")
            .header("cache-control", "no-cache")
            .header("etag", "\"n1\"")
            .etag_304("\"n1\""),
    );
    let (_f, s) = edge(&o, "");
    for _ in 0..3 {
        assert_eq!(s.get("/nc.js").body, b"nc");
    }
    let reqs = o.requests("/nc.js");
    assert_eq!(reqs.len(), 3, "every request revalidates");
    assert_eq!(
        reqs[1].header("if-none-match"),
        Some("\"n1\""),
        "with the stored validator"
    );
    assert_eq!(reqs[2].header("if-none-match"), Some("\"n1\""));
}

#[test]
fn set_cookie_responses_are_stored_only_when_configured() {
    let o = Origin::start();
    o.route(
        "/sc.js",
        Reply::ok("sc")
            .header("cache-control", "max-age=600")
            .header("set-cookie", "a=b"),
    );
    let (_f, s) = edge(&o, "[cache]\nstore_set_cookie = true\n");
    s.get("/sc.js");
    s.get("/sc.js");
    assert_eq!(o.count("/sc.js"), 1);
}

#[test]
fn hop_by_hop_headers_are_not_forwarded() {
    let o = Origin::start();
    o.route(
        "/hop.js",
        Reply::ok("hop")
            .header("cache-control", "no-store")
            .header("connection", "x-private-hop")
            .header("x-private-hop", "secret")
            .header("keep-alive", "timeout=5")
            .header("x-end-to-end", "kept"),
    );
    let (_f, s) = edge(&o, "");
    for _ in 0..2 {
        let r = s.get_h(
            "/hop.js",
            &[("connection", "x-client-hop, close"), ("x-client-hop", "1")],
        );
        assert_eq!(r.body, b"hop");
        assert!(!r.has("x-private-hop"), "{}", r.summary());
        assert!(!r.has("keep-alive"), "{}", r.summary());
        assert_eq!(
            r.header("x-end-to-end"),
            Some("kept"),
            "end-to-end headers of a passed-through response are kept"
        );
    }
    let seen = &o.requests("/hop.js")[0];
    assert!(
        seen.header("x-client-hop").is_none(),
        "a client's hop-by-hop header never reaches the origin"
    );
}

#[test]
fn a_root_file_added_for_a_pulled_path_takes_over_from_the_origin() {
    let o = Origin::start();
    o.route(
        "/late.css",
        Reply::ok("from the origin").header("cache-control", "max-age=600"),
    );
    // Too large for memory, no disk: every request looks in the root (or
    // recalls that it was absent, for refresh_ms) and then asks the origin.
    let (f, s) = edge(&o, "[cache]\nmax_object_bytes = 8\n");
    assert_eq!(s.get("/late.css").body, b"from the origin");
    assert_eq!(s.get("/late.css").body, b"from the origin");
    std::fs::write(f.root.join("late.css"), "from the root").unwrap();
    assert!(
        poll_until(CHANGE_TIMEOUT, || s.get("/late.css").body
            == b"from the root"),
        "the root file is found once the absence is older than refresh_ms"
    );
    let asked = o.count("/late.css");
    let r = s.get("/late.css");
    assert_eq!(r.body, b"from the root");
    assert_eq!(r.header("cache-status"), None, "a local file");
    assert_eq!(o.count("/late.css"), asked, "the origin is not asked again");
}
