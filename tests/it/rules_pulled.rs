//! `[[rules]]` and the fingerprint policy applied to pulled objects
//! (issue 20 items 1, 2 and the Set-Cookie knob of 7): what clients are
//! told (`cache_control`, `headers`), how long this node keeps an object
//! (`edge_ttl`, `edge_ttl_mode`, in the documented precedence), and the
//! operator's `stale_if_error`, over real sockets against a real origin.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

const DAY: u64 = 86_400;

fn edge(origin: &Origin, rules: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout = \"1500ms\"\ntotal_timeout = \"3s\"\nconnect_timeout = \"1s\"\n{rules}",
        origin.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

#[test]
fn a_pulled_fingerprinted_name_is_immutable_to_clients_and_kept_a_year() {
    let o = Origin::start();
    o.route("/raw/index-LsUxLgqK.js", Reply::ok("bundle()"));
    o.route(
        "/raw/said-LsUxLgqK.js",
        Reply::ok("said()").header("cache-control", "public, max-age=60"),
    );
    o.route("/raw/plain.js", Reply::ok("plain()"));
    let (_f, s) = edge(&o, "");
    let r = s.get("/raw/index-LsUxLgqK.js");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // The origin's own word stands toward clients (and here).
    let r = s.get("/raw/said-LsUxLgqK.js");
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    // A plain name the origin said nothing of: nothing is invented.
    assert_eq!(s.get("/raw/plain.js").header("cache-control"), None);
    advance(&o, &s, 300 * DAY);
    let r = s.get("/raw/index-LsUxLgqK.js");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit"),
        "{}",
        r.summary()
    );
    assert_eq!(o.count("/raw/index-LsUxLgqK.js"), 1, "kept a year here");
    s.get("/raw/said-LsUxLgqK.js");
    assert_eq!(
        o.count("/raw/said-LsUxLgqK.js"),
        2,
        "max-age=60 is long past"
    );
    advance(&o, &s, 70 * DAY);
    s.get("/raw/index-LsUxLgqK.js");
    assert_eq!(
        o.count("/raw/index-LsUxLgqK.js"),
        2,
        "after a year, asked again"
    );
}

#[test]
fn a_rules_cache_control_and_headers_reach_clients_not_the_node() {
    let o = Origin::start();
    o.route(
        "/raw/page.html",
        Reply::ok("<p>")
            .header("cache-control", "no-cache")
            .header("etag", "\"p1\"")
            .header("x-frame-options", "SAMEORIGIN")
            .etag_304("\"p1\""),
    );
    let rules = concat!(
        "[[rules]]\nglob = \"raw/*.html\"\ncache_control = \"public, max-age=60\"\n",
        "headers = { X-Rule = \"yes\", X-Frame-Options = \"DENY\" }\n",
    );
    let (_f, s) = edge(&o, rules);
    for _ in 0..3 {
        let r = s.get("/raw/page.html");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
        assert_eq!(r.header("x-rule"), Some("yes"));
        assert_eq!(r.header_all("x-frame-options"), ["DENY"]);
    }
    // The node still obeys the origin's no-cache: every request revalidates.
    assert_eq!(o.count("/raw/page.html"), 3);
    // A 404 keeps the origin's word: a rule must not make clients keep it.
    o.route("/raw/gone.html", Reply::status(404, "no"));
    let r = s.get("/raw/gone.html");
    assert_eq!(r.status, 404);
    assert_ne!(r.header("cache-control"), Some("public, max-age=60"));
}

#[test]
fn edge_ttl_defaults_yield_to_the_origin_and_overrides_do_not() {
    let o = Origin::start();
    let lm = "Sat, 01 Jan 2000 00:00:00 GMT";
    // default mode: the origin's max-age wins; without one, the rule's TTL
    // beats the heuristic (10% of a very old Last-Modified, capped a day).
    o.route(
        "/d/said.css",
        Reply::ok("a").header("cache-control", "max-age=10"),
    );
    o.route("/d/silent.css", Reply::ok("b").header("last-modified", lm));
    o.route(
        "/d/cdn.css",
        Reply::ok("c").header("cdn-cache-control", "max-age=5"),
    );
    // override mode: whatever the origin said, no-cache included.
    o.route(
        "/o/said.css",
        Reply::ok("d").header("cache-control", "max-age=10, no-cache"),
    );
    o.route(
        "/o/cdn.css",
        Reply::ok("e").header("cdn-cache-control", "max-age=5"),
    );
    o.route("/o/missing.css", Reply::status(404, "nope"));
    let rules = concat!(
        "[[rules]]\nglob = \"d/*\"\nedge_ttl = \"2d\"\n",
        "[[rules]]\nglob = \"o/*\"\nedge_ttl = \"2d\"\nedge_ttl_mode = \"override\"\n",
    );
    let (_f, s) = edge(&o, rules);
    for p in [
        "/d/said.css",
        "/d/silent.css",
        "/d/cdn.css",
        "/o/said.css",
        "/o/cdn.css",
    ] {
        assert_eq!(s.get(p).status, 200, "{p}");
    }
    s.get("/o/missing.css");
    advance(&o, &s, DAY + 3600);
    for p in [
        "/d/said.css",
        "/d/silent.css",
        "/d/cdn.css",
        "/o/said.css",
        "/o/cdn.css",
    ] {
        s.get(p);
    }
    s.get("/o/missing.css");
    assert_eq!(o.count("/d/said.css"), 2, "the origin's max-age=10 wins");
    assert_eq!(
        o.count("/d/silent.css"),
        1,
        "the rule beats the heuristic's day"
    );
    assert_eq!(
        o.count("/d/cdn.css"),
        2,
        "CDN-Cache-Control beats a default"
    );
    assert_eq!(
        o.count("/o/said.css"),
        1,
        "an override beats no-cache, max-age"
    );
    assert_eq!(
        o.count("/o/cdn.css"),
        1,
        "an override beats CDN-Cache-Control"
    );
    assert_eq!(o.count("/o/missing.css"), 2, "a 404 keeps negative_ttl");
    // Clients are still told what the origin said.
    let r = s.get("/o/said.css");
    assert_eq!(r.header("cache-control"), Some("max-age=10, no-cache"));
    advance(&o, &s, DAY);
    s.get("/o/said.css");
    s.get("/d/silent.css");
    assert_eq!(o.count("/o/said.css"), 2, "two days on, asked again");
    assert_eq!(o.count("/d/silent.css"), 2);
}

#[test]
fn a_rules_stale_if_error_keeps_a_no_cache_page_up_while_the_origin_is_down() {
    let o = Origin::start();
    let page = || {
        Reply::ok("<app>")
            .header("cache-control", "no-cache")
            .header("etag", "\"v1\"")
    };
    o.route("/app/index.html", page());
    o.route("/strict.html", page());
    o.route(
        "/must.css",
        Reply::ok("m").header("cache-control", "max-age=5, must-revalidate"),
    );
    let rules = "[[rules]]\nglob = \"{app/index.html,*.css}\"\nstale_if_error = \"1d\"\n";
    let (_f, s) = edge(&o, rules);
    for p in ["/app/index.html", "/strict.html", "/must.css"] {
        assert_eq!(s.get(p).status, 200);
    }
    // The origin answers 503: the rule's copy stands in, the other does not.
    o.route("/app/index.html", Reply::status(503, "busy"));
    o.route("/strict.html", Reply::status(503, "busy"));
    let r = s.get("/app/index.html");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"<app>"[..]),
        "{}",
        r.summary()
    );
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; fwd-status=503; detail=stale-if-error")
    );
    assert_eq!(
        s.get("/strict.html").status,
        503,
        "no rule: the origin's word"
    );
    // The origin goes away: a minute later the site is still up.
    o.shutdown();
    advance(&o, &s, 60);
    let r = s.get("/app/index.html");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; detail=stale-if-error-unreachable")
    );
    let r = s.get("/must.css");
    assert_eq!(
        r.status,
        200,
        "must-revalidate, overridden: {}",
        r.summary()
    );
    assert_eq!(s.get("/strict.html").status, 502);
    assert_eq!(
        s.metric("cdn_edge_stale_if_error_total{trouble=\"unreachable\"}"),
        Some(2.0)
    );
    assert_eq!(
        s.metric("cdn_edge_stale_if_error_total{trouble=\"5xx\"}"),
        Some(1.0)
    );
    // Past the window the copy no longer stands in.
    advance(&o, &s, DAY + 60);
    assert_eq!(s.get("/app/index.html").status, 502);
}

#[test]
fn set_cookie_responses_are_stored_only_where_a_rule_says_so() {
    let o = Origin::start();
    let reply = || {
        Reply::ok("c")
            .header("cache-control", "max-age=600")
            .header("set-cookie", "id=1")
    };
    o.route("/a/cookie.js", reply());
    o.route("/b/cookie.js", reply());
    let (_f, s) = edge(&o, "[[rules]]\nglob = \"b/*\"\nstore_set_cookie = true\n");
    for _ in 0..2 {
        s.get("/a/cookie.js");
        assert_eq!(s.get("/b/cookie.js").header("set-cookie"), Some("id=1"));
    }
    assert_eq!(o.count("/a/cookie.js"), 2, "off by default");
    assert_eq!(o.count("/b/cookie.js"), 1, "stored where the rule says so");
}

#[test]
fn rules_apply_to_objects_read_back_from_disk_and_after_a_reload() {
    let o = Origin::start();
    o.route(
        "/r/app.js",
        Reply::ok("x").header("cache-control", "max-age=600"),
    );
    let f = Fixture::new();
    let dir = f.parent().join("cache");
    let cfg = |rule: &str| {
        config_with(&format!(
            "[cache]\ndir = \"{}\"\n[origin]\nurl = \"{}\"\n{rule}",
            dir.display(),
            o.url()
        ))
    };
    let cfg_path = f.parent().join("edge.toml");
    std::fs::write(&cfg_path, cfg("")).unwrap();
    let s = Server::start_config_file(&cfg_path, &f.root, None);
    assert_eq!(s.get("/r/app.js").header("x-rule"), None);
    std::fs::write(
        &cfg_path,
        cfg("[[rules]]\nglob = \"r/*\"\nheaders = { X-Rule = \"1\" }\n"),
    )
    .unwrap();
    s.sighup();
    assert!(poll_until(CHANGE_TIMEOUT, || s
        .get("/r/app.js")
        .header("x-rule")
        == Some("1")));
    assert_eq!(o.count("/r/app.js"), 1, "read back from disk, not fetched");
    drop(s);
    std::fs::write(
        &cfg_path,
        cfg("[[rules]]\nglob = \"r/*\"\nheaders = { X-Rule = \"2\" }\n"),
    )
    .unwrap();
    let s = Server::start_config_file(&cfg_path, &f.root, None);
    assert_eq!(s.get("/r/app.js").header("x-rule"), Some("2"));
    assert_eq!(o.count("/r/app.js"), 1);
}
