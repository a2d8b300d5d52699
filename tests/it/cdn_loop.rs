//! `CDN-Loop` (RFC 8586) on the real binary in front of a real origin:
//! the node appends its pseudonym once to what goes upstream, keeps the
//! client's entries as they came, refuses a request that has passed its
//! tier more than `server.max_hops` times (508, with a reason, the origin
//! never asked), and two tiers of nodes (an edge in front of a shield)
//! each add their own entry and are purged with their own tokens.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

fn node(origin_url: &str, server: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("{server}\n[origin]\nurl = \"{origin_url}\"\n"));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

#[test]
fn the_pseudonym_is_appended_after_the_clients_entries_section_2() {
    let o = Origin::start();
    o.route(
        "/a.js",
        Reply::ok("a").header("cache-control", "max-age=60"),
    );
    let (_f, s) = node(&o.url(), "");
    let r = request(
        s.addr,
        "GET",
        "/a.js",
        &[("CDN-Loop", "foo; v=1, bar"), ("CDN-Loop", "baz")],
    );
    assert_eq!(r.status, 200);
    let seen = &o.requests("/a.js")[0];
    assert_eq!(
        seen.header_all("cdn-loop"),
        ["foo; v=1, bar", "baz", "cdn-edge"]
    );
}

#[test]
fn a_request_that_came_round_too_often_is_refused_with_508() {
    let o = Origin::start();
    o.route(
        "/b.js",
        Reply::ok("b").header("cache-control", "max-age=60"),
    );
    let (_f, s) = node(&o.url(), "");
    // Twice already (the default max_hops = 2): still served.
    let r = request(
        s.addr,
        "GET",
        "/b.js",
        &[("CDN-Loop", "cdn-edge, other, CDN-Edge; x=1")],
    );
    assert_eq!(r.status, 200);
    // A third time: refused before anything is looked up or fetched.
    for lines in [
        vec!["cdn-edge, cdn-edge, cdn-edge"],
        vec!["cdn-edge", "other, cdn-edge", "cdn-edge;p=\"a, b\""],
    ] {
        let headers: Vec<(&str, &str)> = lines.iter().map(|l| ("CDN-Loop", *l)).collect();
        let r = request(s.addr, "GET", "/c.js", &headers);
        assert_eq!(r.status, 508, "{lines:?}");
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            body.contains("loop detected") && body.contains("server.max_hops = 2"),
            "{body}"
        );
        // A hit is refused too: the loop is the request's, not the object's.
        assert_eq!(request(s.addr, "GET", "/b.js", &headers).status, 508);
    }
    assert_eq!(o.count("/c.js"), 0);
    assert_eq!(o.count("/b.js"), 1);
}

#[test]
fn pseudonym_and_max_hops_are_configurable() {
    let o = Origin::start();
    o.route(
        "/d.js",
        Reply::ok("d").header("cache-control", "max-age=60"),
    );
    let (_f, s) = node(&o.url(), "pseudonym = \"edge-eu\"\nmax_hops = 1");
    assert_eq!(
        request(s.addr, "GET", "/d.js", &[("CDN-Loop", "edge-eu")]).status,
        200
    );
    assert_eq!(
        o.requests("/d.js")[0].header_all("cdn-loop"),
        ["edge-eu", "edge-eu"]
    );
    let r = request(
        s.addr,
        "GET",
        "/d.js",
        &[("CDN-Loop", "edge-eu, cdn-edge, edge-eu")],
    );
    assert_eq!(r.status, 508);
}

#[test]
fn an_edge_in_front_of_a_shield_adds_one_entry_per_tier() {
    let o = Origin::start();
    o.route(
        "/e.js",
        Reply::ok("e").header("cache-control", "max-age=60"),
    );
    let (_fs, shield) = node(&o.url(), "pseudonym = \"shield\"");
    let (_fe, edge) = node(&format!("http://{}", shield.addr), "pseudonym = \"edge\"");
    for _ in 0..3 {
        let r = edge.get("/e.js");
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"e");
    }
    // One origin fetch across both tiers, carrying both tiers' entries.
    assert_eq!(o.count("/e.js"), 1);
    assert_eq!(
        o.requests("/e.js")[0].header_all("cdn-loop"),
        ["edge", "shield"]
    );
}

#[test]
fn a_bad_pseudonym_or_max_hops_is_refused_by_check() {
    let f = Fixture::new();
    let cfg = f.parent().join("loop.toml");
    for (text, says) in [
        ("pseudonym = \"two words\"", "server.pseudonym"),
        ("pseudonym = \"\"", "server.pseudonym"),
        ("pseudonym = \"a:b:c\"", "server.pseudonym"),
        ("max_hops = 0", "server.max_hops"),
        ("max_hops = 33", "server.max_hops"),
    ] {
        std::fs::write(&cfg, format!("[server]\nroot = {:?}\n{text}\n", f.root)).unwrap();
        let args = [
            "check".into(),
            "--config".into(),
            cfg.clone().into_os_string(),
        ];
        let (status, _, err) = run_captured(&args, None, &[]);
        assert_eq!(status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
    }
}

#[test]
fn each_tier_is_purged_with_its_own_token_shield_first() {
    let o = Origin::start();
    o.route(
        "/p.js",
        Reply::ok("v1").header("cache-control", "max-age=600"),
    );
    let tier = |origin: &str, name: &str, token: &str| {
        let f = Fixture::new();
        let cfg = config_with(&format!(
            "pseudonym = \"{name}\"\n[origin]\nurl = \"{origin}\"\n[purge]\ntoken = \"{token}\"\n"
        ));
        let s = Server::start(&f.root, &cfg);
        (f, s)
    };
    let (_fs, shield) = tier(&o.url(), "shield", "shield-secret");
    let (_fe, edge) = tier(&format!("http://{}", shield.addr), "edge", "edge-secret");
    let purge = |s: &Server, token: &str| {
        s.req(
            "PURGE",
            "/p.js",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .status
    };
    assert_eq!(edge.get("/p.js").body, b"v1");
    o.route(
        "/p.js",
        Reply::ok("v2").header("cache-control", "max-age=600"),
    );
    // The edge's purge stays at the edge: PURGE is never forwarded, nor
    // its token, so the shield still answers with what it holds.
    assert_eq!(purge(&edge, "edge-secret"), 200);
    assert_eq!(edge.get("/p.js").body, b"v1");
    assert_eq!(
        purge(&shield, "edge-secret"),
        401,
        "each tier has its own token"
    );
    // Shield first, then the edge, each with its own token: the new version.
    assert_eq!(purge(&shield, "shield-secret"), 200);
    assert_eq!(purge(&edge, "edge-secret"), 200);
    assert_eq!(edge.get("/p.js").body, b"v2");
    assert_eq!(
        o.count("/p.js"),
        2,
        "one origin fetch per version across both tiers"
    );
}
