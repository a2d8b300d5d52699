//! Cache-Control directives (RFC 9111 §5.2): a client's request directives,
//! the origin's response directives, HEAD filled by a GET, and targeted
//! cache control (RFC 9213: `CDN-Cache-Control`, `CDN-Edge-Cache-Control`).

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

/// Client reloads are not damped here (by default the edge revalidates an
/// object for a client at most once a second).
const NO_DAMPING: &str = "[cache]\nclient_revalidate_interval_ms = 0\n";

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// `path` answers `body` with this Cache-Control and a validator the
/// origin answers 304 to.
fn cached(o: &Origin, path: &str, cache_control: &str) {
    o.route(
        path,
        Reply::ok("body")
            .header("Cache-Control", cache_control)
            .header("ETag", "\"t1\"")
            .etag_304("\"t1\""),
    );
}

fn cc(value: &str) -> [(&str, &str); 1] {
    [("Cache-Control", value)]
}

fn assert_hit(r: &Response) {
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"body");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit"),
        "{}",
        r.summary()
    );
}

// --- request directives ---------------------------------------------------

#[test]
fn request_no_store_is_passed_through_with_its_conditionals() {
    let o = Origin::start();
    cached(&o, "/rnsc.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    let r = s.get_h(
        "/rnsc.js",
        &[("Cache-Control", "no-store"), ("If-None-Match", "\"t1\"")],
    );
    assert_eq!(
        r.status, 304,
        "the origin's answer to the client's own conditional"
    );
    let seen = &o.requests("/rnsc.js")[0];
    assert_eq!(seen.header("if-none-match"), Some("\"t1\""));
}

#[test]
fn a_206_to_a_forwarded_range_does_not_evict_the_stored_copy() {
    let o = Origin::start();
    cached(&o, "/part.txt", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    assert_eq!(s.get("/part.txt").body, b"body");
    o.route(
        "/part.txt",
        Reply::status(206, "bo").header("Content-Range", "bytes 0-1/4"),
    );
    let r = s.get_h(
        "/part.txt",
        &[("Cache-Control", "no-cache"), ("Range", "bytes=0-1")],
    );
    assert_eq!(r.status, 206, "{}", r.summary());
    assert_hit(&s.get("/part.txt"));
}

#[test]
fn request_no_store_on_a_miss_is_not_stored() {
    let o = Origin::start();
    cached(&o, "/rns.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    assert_eq!(s.get_h("/rns.js", &cc("no-store")).body, b"body");
    assert_eq!(s.get("/rns.js").body, b"body");
    assert_eq!(
        o.count("/rns.js"),
        2,
        "the plain request reaches the origin"
    );
}

#[test]
fn only_if_cached_on_a_miss_is_504_without_an_origin_request() {
    let o = Origin::start();
    cached(&o, "/oic.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    let r = s.get_h("/oic.js", &cc("only-if-cached"));
    assert_eq!(r.status, 504, "{}", r.summary());
    assert_eq!(o.total(), 0);
}

#[test]
fn only_if_cached_on_a_fresh_object_is_a_hit() {
    let o = Origin::start();
    cached(&o, "/oic.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    s.get("/oic.js");
    assert_hit(&s.get_h("/oic.js", &cc("only-if-cached")));
    assert_eq!(o.count("/oic.js"), 1);
}

#[test]
fn max_stale_serves_a_stale_object_from_the_cache() {
    let o = Origin::start();
    cached(&o, "/ms.js", "max-age=10");
    let (_f, s) = edge(&o, NO_DAMPING);
    s.get("/ms.js");
    advance(&o, &s, 20);
    let r = s.get_h("/ms.js", &cc("max-stale=1000"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"body");
    assert_eq!(o.count("/ms.js"), 1, "no origin request");
}

#[test]
fn min_fresh_beyond_the_remaining_lifetime_revalidates() {
    let o = Origin::start();
    cached(&o, "/mf.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    s.get("/mf.js");
    advance(&o, &s, 20);
    assert_hit(&s.get("/mf.js"));
    assert_eq!(s.get_h("/mf.js", &cc("min-fresh=50")).body, b"body");
    assert_eq!(o.count("/mf.js"), 2, "40 s left < 50 s wanted");
}

#[test]
fn request_max_age_below_the_age_revalidates() {
    let o = Origin::start();
    cached(&o, "/ma.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    s.get("/ma.js");
    advance(&o, &s, 20);
    assert_eq!(s.get_h("/ma.js", &cc("max-age=5")).body, b"body");
    assert_eq!(o.count("/ma.js"), 2, "age 20 > max-age=5");
}

#[test]
fn pragma_no_cache_without_cache_control_revalidates() {
    let o = Origin::start();
    cached(&o, "/pr.js", "max-age=60");
    let (_f, s) = edge(&o, NO_DAMPING);
    s.get("/pr.js");
    assert_eq!(s.get_h("/pr.js", &[("Pragma", "no-cache")]).body, b"body");
    assert_eq!(o.count("/pr.js"), 2);
}

#[test]
fn min_client_max_age_secs_floors_a_clients_max_age() {
    let o = Origin::start();
    cached(&o, "/floor.js", "max-age=60");
    let (_f, s) = edge(
        &o,
        "[cache]\nclient_revalidate_interval_ms = 0\nmin_client_max_age_secs = 30\n",
    );
    s.get("/floor.js");
    advance(&o, &s, 20);
    assert_hit(&s.get_h("/floor.js", &cc("max-age=5")));
    assert_eq!(o.count("/floor.js"), 1, "max-age=5 counts as 30 > age 20");
}

// --- response directives --------------------------------------------------

#[test]
fn no_cache_with_field_names_stores_but_omits_them_on_hits() {
    let o = Origin::start();
    o.route(
        "/ncf.js",
        Reply::ok("body")
            .header("Cache-Control", "max-age=60, no-cache=\"X-Secret\"")
            .header("X-Secret", "s3cret"),
    );
    let (_f, s) = edge(&o, "");
    s.get("/ncf.js");
    let r = s.get("/ncf.js");
    assert_hit(&r);
    assert!(!r.has("x-secret"), "{}", r.summary());
    assert_eq!(o.count("/ncf.js"), 1);
}

#[test]
fn private_with_field_names_stores_but_omits_them_on_hits() {
    let o = Origin::start();
    o.route(
        "/pvf.js",
        Reply::ok("body")
            .header("Cache-Control", "max-age=60, private=\"X-Private\"")
            .header("X-Private", "mine"),
    );
    let (_f, s) = edge(&o, "");
    s.get("/pvf.js");
    let r = s.get("/pvf.js");
    assert_hit(&r);
    assert!(!r.has("x-private"), "{}", r.summary());
    assert_eq!(o.count("/pvf.js"), 1);
}

#[test]
fn plain_private_is_not_stored() {
    let o = Origin::start();
    o.route(
        "/pv.js",
        Reply::ok("body").header("Cache-Control", "private, max-age=60"),
    );
    let (_f, s) = edge(&o, "");
    s.get("/pv.js");
    s.get("/pv.js");
    assert_eq!(o.count("/pv.js"), 2);
}

#[test]
fn no_transform_text_never_gets_a_br_representation() {
    let o = Origin::start();
    let css = ".a { color: red; margin: 0 auto; }\n".repeat(100);
    for (path, cache_control) in [
        ("/nt.css", "max-age=600, no-transform"),
        ("/control.css", "max-age=600"),
    ] {
        o.route(
            path,
            Reply::ok(css.clone())
                .header("Content-Type", "text/css")
                .header("Cache-Control", cache_control),
        );
    }
    let (_f, s) = edge(&o, "");
    let br = [("Accept-Encoding", "br")];
    s.get_h("/nt.css", &br);
    s.get_h("/control.css", &br);
    assert!(
        poll_until(CHANGE_TIMEOUT, || s
            .get_h("/control.css", &br)
            .header("content-encoding")
            == Some("br")),
        "the control object gets br"
    );
    for _ in 0..3 {
        let r = s.get_h("/nt.css", &br);
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(!r.has("content-encoding"), "{}", r.summary());
        assert_eq!(r.body, css.as_bytes());
    }
    assert_eq!(o.count("/nt.css"), 1, "stored, just never transformed");
}

#[test]
fn must_understand_with_an_unknown_status_is_not_stored() {
    let o = Origin::start();
    o.route(
        "/mu.js",
        Reply::status(299, "body").header("Cache-Control", "max-age=60, no-store, must-understand"),
    );
    let (_f, s) = edge(&o, "");
    for _ in 0..2 {
        assert_eq!(s.get("/mu.js").status, 299);
    }
    assert_eq!(o.count("/mu.js"), 2);
}

#[test]
fn s_maxage_wins_over_max_age_zero() {
    let o = Origin::start();
    cached(&o, "/sm.js", "s-maxage=60, max-age=0");
    let (_f, s) = edge(&o, "");
    s.get("/sm.js");
    assert_hit(&s.get("/sm.js"));
    assert_eq!(o.count("/sm.js"), 1);
}

#[test]
fn a_head_miss_is_filled_by_a_get() {
    let o = Origin::start();
    cached(&o, "/hd.js", "max-age=60");
    let (_f, s) = edge(&o, "");
    let r = s.head_h("/hd.js", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-length"), Some("4"));
    let seen = o.requests("/hd.js");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET", "the edge fetched with GET");
    assert_hit(&s.get("/hd.js"));
    assert_eq!(o.count("/hd.js"), 1);
}

// --- targeted cache control (RFC 9213) ------------------------------------

fn targeted(o: &Origin, path: &str) {
    o.route(
        path,
        Reply::ok("body")
            .header("CDN-Cache-Control", "max-age=60")
            .header("Cache-Control", "no-store"),
    );
}

#[test]
fn cdn_cache_control_governs_the_edge_and_is_passed_on_down_the_chain() {
    let o = Origin::start();
    targeted(&o, "/cdn.js");
    let (_f, s) = edge(&o, "");
    let first = s.get("/cdn.js");
    let r = s.get("/cdn.js");
    assert_hit(&r);
    assert_eq!(o.count("/cdn.js"), 1);
    for r in [first, r] {
        assert_eq!(
            r.header_all("cache-control"),
            ["no-store"],
            "{}",
            r.summary()
        );
        // It targets every CDN of a chain (RFC 9213 §3): the next one too.
        assert_eq!(
            r.header_all("cdn-cache-control"),
            ["max-age=60"],
            "{}",
            r.summary()
        );
    }
}

#[test]
fn cdn_edge_cache_control_wins_and_stays_home() {
    let o = Origin::start();
    o.route(
        "/own.js",
        Reply::ok("body")
            .header("CDN-Edge-Cache-Control", "max-age=600")
            .header("CDN-Cache-Control", "no-store")
            .header("Surrogate-Control", "max-age=5")
            .header("Cache-Control", "no-store"),
    );
    let (_f, s) = edge(&o, "");
    let first = s.get("/own.js");
    let r = s.get("/own.js");
    assert_hit(&r);
    assert_eq!(o.count("/own.js"), 1);
    for r in [first, r] {
        assert!(!r.has("cdn-edge-cache-control"), "{}", r.summary());
        assert!(!r.has("surrogate-control"), "{}", r.summary());
        assert_eq!(r.header_all("cdn-cache-control"), ["no-store"]);
    }
}

#[test]
fn a_targeted_field_of_the_wrong_shape_is_ignored_as_a_whole_rfc_9213_2_1() {
    // Each would make the response storable for an hour if half-read; read
    // whole it is invalid, so Cache-Control: no-store applies.
    let o = Origin::start();
    let bad = [
        "max-age=3600, no-store=1",
        "max-age=3600, stale-if-error=x",
        "max-age=3600.0",
        "Max-Age=3600",
        "max-age=3600,",
        "max-age=\"3600\"",
    ];
    for (i, v) in bad.iter().enumerate() {
        o.route(
            &format!("/bad-{i}.js"),
            Reply::ok("body")
                .header("CDN-Cache-Control", v)
                .header("Cache-Control", "no-store"),
        );
    }
    // A valid one with no directive the node knows still replaces
    // Cache-Control (RFC 9213 §3.1's `none`): stored under default_ttl.
    o.route(
        "/none.js",
        Reply::ok("body")
            .header("CDN-Cache-Control", "none")
            .header("Cache-Control", "no-store"),
    );
    let (_f, s) = edge(
        &o,
        "[cache]
default_ttl = \"1h\"\n",
    );
    for (i, v) in bad.iter().enumerate() {
        let path = format!("/bad-{i}.js");
        s.get(&path);
        s.get(&path);
        assert_eq!(o.count(&path), 2, "CDN-Cache-Control: {v} must be ignored");
    }
    s.get("/none.js");
    assert_hit(&s.get("/none.js"));
    assert_eq!(o.count("/none.js"), 1);
}

#[test]
fn targeted_fields_are_taken_in_the_configured_order() {
    let o = Origin::start();
    o.route(
        "/edge.js",
        Reply::ok("body")
            .header("Edge-Cache-Control", "no-store")
            .header("CDN-Cache-Control", "max-age=60")
            .header("Cache-Control", "max-age=60"),
    );
    let (_f, s) = edge(
        &o,
        "[cache]\ntargeted_fields = [\"Edge-Cache-Control\", \"CDN-Cache-Control\"]\n",
    );
    s.get("/edge.js");
    s.get("/edge.js");
    assert_eq!(o.count("/edge.js"), 2, "Edge-Cache-Control: no-store wins");
}

#[test]
fn pass_targeted_fields_shows_them_to_clients() {
    let o = Origin::start();
    o.route(
        "/pass.js",
        Reply::ok("body")
            .header("CDN-Edge-Cache-Control", "max-age=60")
            .header("Cache-Control", "no-store"),
    );
    let (_f, s) = edge(&o, "[cache]\npass_targeted_fields = true\n");
    s.get("/pass.js");
    let r = s.get("/pass.js");
    assert_hit(&r);
    assert_eq!(
        r.header_all("cdn-edge-cache-control"),
        ["max-age=60"],
        "{}",
        r.summary()
    );
}
