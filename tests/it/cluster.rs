//! Three nodes as one cache, over real HTTP on loopback, in front of an
//! origin the test starts (which counts what it is asked): a miss on a
//! node that does not own the key goes to the owner, and only the owner
//! asks the origin; a client cannot pose as a peer; a dead owner fails no
//! request; revalidation and `Age` pass through a peer unchanged.

use crate::common;

use common::cluster::{self, owned_by, owner, ranked, TOKEN};
use common::origin::{Origin, Reply};

const HOP: &str = "x-cdn-edge-hop";
const TOKEN_FIELD: &str = "x-cdn-edge-token";

fn cacheable(body: &str) -> Reply {
    Reply::ok(body)
        .header("content-type", "text/css")
        .header("cache-control", "max-age=600")
}

#[test]
fn a_cold_object_asked_of_every_node_is_fetched_from_the_origin_once() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = cluster::start(3, &origin.url(), root.path());
    for (i, path) in ["/a.css", "/b.css", "/c.css", "/d.css"].iter().enumerate() {
        origin.route(path, cacheable(&format!("body {i}")).header("age", "100"));
        // Through every node, starting with a different one each time.
        for k in 0..3 {
            let n = &nodes[(i + k) % 3];
            let r = n.get(path);
            assert_eq!(
                r.status,
                200,
                "{path} via node {}: {}",
                (i + k) % 3,
                r.summary()
            );
            assert_eq!(r.body, format!("body {i}").as_bytes());
            // The origin's Age counts through the owner (RFC 9111 §4.2.3).
            let age: u64 = r.header("age").unwrap().parse().unwrap();
            assert!(age >= 100, "{path}: Age {age}");
        }
        assert_eq!(
            origin.count(path),
            1,
            "{path}: one origin request per cluster"
        );
        // The origin saw the client, not the peer, and no internal field.
        let seen = &origin.requests(path)[0];
        assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
        assert!(seen.header(HOP).is_none() && seen.header(TOKEN_FIELD).is_none());
        // One tier, one CDN-Loop entry, whichever node fetched (RFC 8586).
        assert_eq!(seen.header_all("cdn-loop"), ["cdn-edge"], "{path}");
    }
    // Asked again anywhere: hits, still one origin request each.
    for n in &nodes {
        assert_eq!(n.get("/a.css").status, 200);
    }
    assert_eq!(origin.count("/a.css"), 1);
}

#[test]
fn a_client_posing_as_a_peer_is_refused() {
    let origin = Origin::start();
    origin.route("/p.css", cacheable("p"));
    let root = tempfile::tempdir().unwrap();
    let nodes = cluster::start(3, &origin.url(), root.path());
    let n = &nodes[0];
    for headers in [
        vec![(HOP, "http://127.0.0.1:1")],
        vec![
            (HOP, "http://127.0.0.1:1"),
            (TOKEN_FIELD, "not-the-cluster-token"),
        ],
    ] {
        let r = n.req("GET", "/p.css", &headers);
        assert_eq!(r.status, 403, "{}", r.summary());
        assert!(r.text().contains("cluster token"), "{}", r.text());
        // Marked, so a node with another token takes it as a failed peer.
        assert_eq!(r.header("x-cdn-edge-refused"), Some("token"));
    }
    assert_eq!(origin.count("/p.css"), 0);
    // A token without the hop field is ignored, and never forwarded.
    let r = n.req("GET", "/p.css", &[(TOKEN_FIELD, TOKEN)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(origin.requests("/p.css")[0].header(TOKEN_FIELD).is_none());
    // The right token with the hop field: a peer request, answered here.
    let r = nodes[1].req(
        "GET",
        "/p.css",
        &[(HOP, &nodes[0].url), (TOKEN_FIELD, TOKEN)],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn a_dead_owner_fails_no_request_and_its_keys_are_fetched_once() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = cluster::start(3, &origin.url(), root.path());
    let dead = 1;
    let paths = owned_by(&nodes, dead, "/dead/", 6);
    for p in &paths {
        origin.route(p, cacheable(p));
    }
    nodes[dead].stop();
    for p in &paths {
        for n in [0, 2] {
            let r = nodes[n].get(p);
            assert_eq!(r.status, 200, "{p} via node {n}: {}", r.summary());
            assert_eq!(r.body, p.as_bytes());
        }
        // The next peer in the key's order stands in for the owner: still
        // one origin request.
        assert_eq!(origin.count(p), 1, "{p}");
    }
}

#[test]
fn revalidation_through_a_non_owner_keeps_validators_and_304() {
    let origin = Origin::start();
    let path = "/r.css";
    origin.route(
        path,
        Reply::ok("revalidated")
            .header("content-type", "text/css")
            .header("cache-control", "no-cache")
            .header("etag", "\"v1\"")
            .etag_304("\"v1\""),
    );
    let root = tempfile::tempdir().unwrap();
    let nodes = cluster::start(3, &origin.url(), root.path());
    let n = &nodes[(owner(&nodes, path) + 1) % 3];
    let r = n.get(path);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("etag"), Some("\"v1\""));
    // no-cache: every use revalidates, the non-owner with the owner, the
    // owner with the origin (one conditional request, answered 304).
    let r = n.get(path);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"revalidated");
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; stored")
    );
    let seen = origin.requests(path);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
    // The client's own conditional is answered from what was revalidated.
    let r = n.req("GET", path, &[("if-none-match", "\"v1\"")]);
    assert_eq!(r.status, 304, "{}", r.summary());
    assert_eq!(r.header("etag"), Some("\"v1\""));
}

#[test]
fn a_peers_5xx_is_an_origin_fault_for_stale_if_error() {
    let origin = Origin::start();
    let path = "/sie.css";
    let stale_ok = |body: &str| {
        Reply::ok(body)
            .header("content-type", "text/css")
            .header("cache-control", "max-age=0, stale-if-error=600")
    };
    origin.route(path, stale_ok("first"));
    let root = tempfile::tempdir().unwrap();
    let mut nodes = cluster::start(3, &origin.url(), root.path());
    // The node that asks the owner, then the other peer, then no one.
    let order = ranked(&nodes, path);
    let (owner, next, last) = (order[0], order[1], order[2]);
    assert_eq!(nodes[last].get(path).body, b"first");
    assert_eq!(origin.count(path), 1);
    // The owner dies and the origin fails: the next peer fetches, gets a
    // 500 and passes it on; the node that has a stale copy serves it.
    nodes[owner].stop();
    origin.route(path, Reply::status(500, "down"));
    let r = nodes[last].get(path);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"first");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; fwd=stale; fwd-status=500; detail=stale-if-error")
    );
    assert_eq!(origin.count(path), 2, "asked once more, by the next peer");
    // That peer has no copy to stand in: its client gets the 500.
    assert_eq!(nodes[next].get(path).status, 500);
}

#[test]
fn a_peer_with_another_token_is_skipped_not_answered_with() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = cluster::start_with_tokens(
        &[TOKEN, TOKEN, "a-token-of-another-cluster-0123"],
        &origin.url(),
        root.path(),
    );
    // Keys owned by a node whose token the third node does not share.
    let paths = owned_by(&nodes, 0, "/tok/", 3);
    for p in &paths {
        origin.route(p, cacheable(p));
        let r = nodes[2].get(p);
        assert_eq!(r.status, 200, "{p}: {}", r.summary());
        assert_eq!(r.body, p.as_bytes());
    }
    // Each key was fetched once, by the third node itself: the peers that
    // refused its token are marked down, never taken for an answer.
    for p in &paths {
        assert_eq!(origin.count(p), 1, "{p}");
    }
}

#[test]
fn a_peer_is_answered_with_what_the_origin_said_not_what_clients_are_told() {
    let origin = Origin::start();
    origin.route(
        "/t.css",
        Reply::ok("t")
            .header("cache-control", "max-age=1")
            .header("cdn-edge-cache-control", "max-age=600"),
    );
    let root = tempfile::tempdir().unwrap();
    // Clients are told no-cache; the node keeps it by its targeted field.
    let setup = cluster::Setup {
        extra: "[[rules]]\nglob = \"*.css\"\ncache_control = \"no-cache\"\n",
        ..Default::default()
    };
    let nodes = cluster::start_setup(2, &origin.url(), root.path(), &setup);
    let o = owner(&nodes, "/t.css");
    let other = 1 - o;
    let r = nodes[other].get("/t.css");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("cdn-edge-cache-control").is_none());
    // What the owner gives a peer: the origin's fields, its own targeted
    // field included (RFC 9213: the peer is this node's tier).
    let r = nodes[o].req(
        "GET",
        "/t.css",
        &[(HOP, &nodes[other].url), (TOKEN_FIELD, TOKEN)],
    );
    assert_eq!(
        r.header("cache-control"),
        Some("max-age=1"),
        "{}",
        r.summary()
    );
    assert_eq!(r.header("cdn-edge-cache-control"), Some("max-age=600"));
    // So the node that asked judged it as the owner did: a hit, not a
    // revalidation per request (it would be, read as no-cache).
    let r = nodes[other].get("/t.css");
    assert_eq!(
        r.header("cache-status"),
        Some("cdn-edge; hit"),
        "{}",
        r.summary()
    );
    assert_eq!(origin.count("/t.css"), 1);
}
