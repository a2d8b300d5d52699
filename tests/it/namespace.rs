//! The purge endpoint and the node's own header namespace (issue 18, item
//! 9), over real sockets: nothing addressed to the purge endpoint (any
//! method, any spelling of its path) nor the purge token reaches the
//! origin; the Bearer scheme is matched in any case; an origin's
//! `X-CDN-Edge-*` response fields reach no client on any path (stored,
//! passed, streamed, revalidated, forwarded) and cannot make a node mark
//! a healthy peer down; a client's `X-CDN-Edge-*` request fields never
//! reach the origin.

use crate::common;

use common::cluster::{self, owned_by, Setup};
use common::origin::{Origin, Reply};
use common::*;

const TOKEN: &str = "s3cret-purge-token";

fn edge(origin: &Origin, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n{extra}", origin.url()));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

fn with_token() -> String {
    format!("[purge]\ntoken = \"{TOKEN}\"\n")
}

/// What the origin received, one line per request (for messages).
fn received(o: &Origin) -> Vec<String> {
    (o.all_requests().iter())
        .map(|r| {
            format!(
                "{} {} auth={:?}",
                r.method,
                r.target,
                r.header("authorization")
            )
        })
        .collect()
}

/// Spellings of the purge endpoint's path that normalise to `/_purge`.
const SPELLINGS: [&str; 7] = [
    "/_purge",
    "//_purge",
    "/_purge/",
    "/%5Fpurge",
    "/%5fpurge",
    "///_purge//",
    "/_purge%2F",
];

#[test]
fn nothing_addressed_to_the_purge_endpoint_reaches_the_origin() {
    let o = Origin::start();
    let (_f, s) = edge(&o, &with_token());
    let bearer = format!("Bearer {TOKEN}");
    for path in SPELLINGS {
        for method in ["GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"] {
            let r = s.req(method, path, &[("authorization", &bearer)]);
            assert_eq!(r.status, 405, "{method} {path}: {}", r.summary());
            assert_eq!(r.header("allow"), Some("POST"), "{method} {path}");
        }
        let r = s.post(path, &[("authorization", &bearer)], b"{}");
        assert_eq!(r.status, 200, "POST {path}: {}", r.summary());
        assert!(r.text().contains("\"purged\": 0"), "{}", r.text());
        for auth in [&[][..], &[("authorization", "Bearer wrong")][..]] {
            let r = s.post(path, auth, b"{}");
            assert_eq!(r.status, 401, "POST {path} {auth:?}: {}", r.summary());
        }
    }
    // The token sent anywhere else is refused, not passed on with the request.
    for (method, path) in [
        ("POST", "/_PURGE"),
        ("PUT", "/purge"),
        ("GET", "/app.js"),
        ("POST", "/_edge/purge"),
    ] {
        let r = s.req(
            method,
            path,
            &[("authorization", &format!("bearer {TOKEN}"))],
        );
        assert_eq!(r.status, 403, "{method} {path}: {}", r.summary());
    }
    assert_eq!(o.total(), 0, "the origin was asked: {:?}", received(&o));
}

#[test]
fn with_purging_off_the_endpoint_is_still_never_forwarded() {
    let o = Origin::start();
    o.route(
        "/other",
        Reply::ok("other").header("cache-control", "no-store"),
    );
    let (_f, s) = edge(&o, "");
    for path in SPELLINGS {
        for method in ["GET", "POST", "PUT"] {
            let r = s.req(method, path, &[("authorization", "Bearer anything")]);
            assert_eq!(r.status, 404, "{method} {path}: {}", r.summary());
        }
    }
    let r = s.req("PURGE", "/other", &[("authorization", "Bearer anything")]);
    assert_eq!(r.status, 405, "{}", r.summary());
    assert_eq!(o.total(), 0, "the origin was asked: {:?}", received(&o));
    // Any other path still goes to the origin, its Authorization with it.
    let r = s.get_h("/other", &[("authorization", "Bearer for-the-origin")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        o.requests("/other")[0].header("authorization"),
        Some("Bearer for-the-origin")
    );
}

#[test]
fn the_bearer_scheme_is_matched_in_any_case_section_11_1() {
    let o = Origin::start();
    o.route(
        "/a.css",
        Reply::ok("a").header("cache-control", "max-age=600"),
    );
    let (_f, s) = edge(&o, &with_token());
    let mut fetched = 0;
    for auth in [
        format!("bearer {TOKEN}"),
        format!("BEARER {TOKEN}"),
        format!("Bearer   {TOKEN}"),
        format!("bEaReR\t{TOKEN} "),
    ] {
        s.get("/a.css");
        fetched += 1;
        assert_eq!(o.count("/a.css"), fetched);
        let r = s.req("PURGE", "/a.css", &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{auth:?}: {}", r.summary());
        assert!(r.text().contains("\"purged\": 1"), "{auth:?}: {}", r.text());
        let r = s.post(
            "/_purge",
            &[("authorization", &auth)],
            br#"{"paths": ["/a.css"]}"#,
        );
        assert_eq!(r.status, 200, "{auth:?}: {}", r.summary());
    }
    for wrong in [
        format!("Basic {TOKEN}"),
        format!("Bearer{TOKEN}"),
        format!("Bearer {TOKEN}x"),
    ] {
        let r = s.req("PURGE", "/a.css", &[("authorization", &wrong)]);
        assert_eq!(r.status, 401, "{wrong:?}: {}", r.summary());
    }
}

/// The node's own fields, as a malicious origin sends them.
const OWN: [(&str, &str); 4] = [
    ("X-CDN-Edge-Refused", "token"),
    ("X-CDN-Edge-Hop", "http://evil.example"),
    ("x-cdn-edge-token", "forged"),
    ("X-Cdn-Edge-Debug", "1"),
];

fn with_own(mut reply: Reply) -> Reply {
    for (n, v) in OWN {
        reply = reply.header(n, v);
    }
    reply
}

fn assert_none_of_ours(r: &Response, what: &str) {
    let ours: Vec<_> = (r.headers.iter())
        .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-cdn-edge-"))
        .collect();
    assert!(ours.is_empty(), "{what}: {ours:?} in {}", r.summary());
}

#[test]
fn an_origins_x_cdn_edge_fields_reach_no_client_on_any_path() {
    let o = Origin::start();
    o.route(
        "/stored.js",
        with_own(Reply::ok("s()").header("cache-control", "max-age=600")),
    );
    o.route(
        "/passed.js",
        with_own(Reply::ok("p()").header("cache-control", "no-store")),
    );
    o.route(
        "/big.bin",
        with_own(Reply::ok(noise(1, 8192)).header("cache-control", "max-age=600")),
    );
    o.route("/refused", with_own(Reply::status(403, "no")));
    o.route("/form", with_own(Reply::status(201, "created")));
    o.route(
        "/reval.js",
        Reply::ok("r()")
            .header("cache-control", "max-age=1")
            .header("etag", "\"r1\""),
    );
    let (_f, s) = edge(&o, "max_object_bytes = 4096\n");
    for (path, status) in [
        ("/stored.js", 200),
        ("/stored.js", 200),
        ("/passed.js", 200),
        ("/big.bin", 200),
        ("/big.bin", 200),
        ("/refused", 403),
        ("/refused", 403),
    ] {
        for r in [s.get(path), s.head_h(path, &[])] {
            assert_eq!(r.status, status, "{path}: {}", r.summary());
            assert_none_of_ours(&r, path);
        }
    }
    assert_eq!(o.count("/stored.js"), 1, "stored");
    assert!(o.count("/big.bin") >= 2, "streamed each time");
    assert_eq!(s.get("/big.bin").body, noise(1, 8192));
    let r = s.post("/form", &[], b"x=1");
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_none_of_ours(&r, "forwarded POST");
    // A revalidation whose 304 carries them: merged into what is stored,
    // never.
    assert_eq!(s.get("/reval.js").status, 200);
    o.route(
        "/reval.js",
        with_own(
            Reply::ok("r()")
                .header("cache-control", "max-age=1")
                .header("etag", "\"r1\""),
        )
        .etag_304("\"r1\""),
    );
    advance(&o, &s, 5);
    for _ in 0..2 {
        let r = s.get("/reval.js");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_none_of_ours(&r, "after a 304");
    }
    assert_eq!(o.count("/reval.js"), 2, "revalidated once");
}

#[test]
fn a_clients_x_cdn_edge_fields_never_reach_the_origin() {
    let o = Origin::start();
    o.route(
        "/c.js",
        Reply::ok("c()").header("cache-control", "max-age=600"),
    );
    o.route("/c-post", Reply::status(204, ""));
    let (_f, s) = edge(&o, "");
    let sent = [
        ("X-CDN-Edge-Token", "guess"),
        ("X-CDN-Edge-Debug", "1"),
        ("x-cdn-edge-refused", "token"),
    ];
    assert_eq!(s.get_h("/c.js", &sent).status, 200);
    assert_eq!(s.req("POST", "/c-post", &sent).status, 204);
    for seen in o.all_requests() {
        for (n, _) in &seen.headers {
            assert!(
                !n.starts_with("x-cdn-edge-"),
                "{n} reached the origin: {seen:?}"
            );
        }
    }
    assert_eq!(o.total(), 2);
}

#[test]
fn an_origin_403_marked_refused_does_not_take_a_healthy_owner_down() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    // No probes and a long down time: only a failed ask could mark the
    // owner down, and nothing would bring it back during the test.
    let setup = Setup {
        cluster: "probe_ms = 0\ndown_secs = 3600",
        ..Setup::default()
    };
    let nodes = cluster::start_setup(2, &origin.url(), root.path(), &setup);
    let paths = owned_by(&nodes, 1, "/owned/", 2);
    origin.route(&paths[0], with_own(Reply::status(403, "forbidden here")));
    origin.route(
        &paths[1],
        Reply::ok("fine").header("cache-control", "max-age=600"),
    );
    // A client of node 0 asks for a key node 1 owns, with namespace fields
    // of its own: node 1 fetches it and answers the origin's 403.
    let r = nodes[0].req("GET", &paths[0], &[("X-CDN-Edge-Token", "guess")]);
    assert_eq!(r.status, 403, "{}", r.summary());
    assert_eq!(r.text(), "forbidden here");
    let up = format!("cdn_edge_cluster_peer_up{{peer=\"{}\"}}", nodes[1].url);
    assert_eq!(nodes[0].metric(&up), Some(1.0), "{}", nodes[0].metrics());
    assert_eq!(
        origin.count(&paths[0]),
        1,
        "only the owner asked the origin: node 0 took the answer as its own"
    );
    assert_none_of_ours(&r, "the owner's relayed 403");
    // The owner still gets the next key of its own.
    assert_eq!(nodes[0].get(&paths[1]).text(), "fine");
    assert_eq!(nodes[1].get(&paths[1]).text(), "fine");
    assert_eq!(origin.count(&paths[1]), 1, "fetched once, by the owner");
    for seen in origin.all_requests() {
        for (n, _) in &seen.headers {
            assert!(!n.starts_with("x-cdn-edge-"), "{n} reached the origin");
        }
    }
}
