//! Purge everywhere, over real HTTP on loopback: three nodes in front of
//! an origin the test starts (which counts what it is asked). A purge sent
//! to one node drops the object on all three and the answer lists each
//! node; a node that is down at purge time gets the purge once it is back;
//! a client cannot send a peer's purge; a peer's purge is not sent on.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::cluster::{self, owned_by, owner, Node, Setup, TOKEN};
use common::origin::{Origin, Reply};
use common::poll_until;

const PURGE_TOKEN: &str = "purge-token-0123456789";
const BEARER: &str = "Bearer purge-token-0123456789";
const HOP: &str = "x-cdn-edge-hop";
const TOKEN_FIELD: &str = "x-cdn-edge-token";
const WAIT: Duration = Duration::from_secs(20);

fn cacheable(body: &str) -> Reply {
    Reply::ok(body)
        .header("content-type", "text/css")
        .header("cache-control", "max-age=600")
}

fn purge_setup() -> String {
    format!("[purge]\ntoken = \"{PURGE_TOKEN}\"\n")
}

/// Three nodes with purging on in front of `origin`, with these lines in
/// their `[cluster]` table and, with `disk`, a disk cache each.
fn purging_nodes(origin: &Origin, root: &Path, cluster: &str, disk: Option<&Path>) -> Vec<Node> {
    let extra = purge_setup();
    let setup = Setup {
        cluster,
        extra: &extra,
        disk,
    };
    cluster::start_setup(3, &origin.url(), root, &setup)
}

/// The JSON answer of a purge.
fn json(r: &common::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

/// The entry of `node` in a purge answer's `nodes`.
fn entry<'a>(answer: &'a serde_json::Value, node: &Node) -> &'a serde_json::Value {
    answer["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"] == node.url.as_str())
        .unwrap_or_else(|| panic!("{} not in {answer}", node.url))
}

/// Asks `path` through every node: one origin request for the cluster.
fn warm(nodes: &[Node], origin: &Origin, path: &str) {
    for n in nodes {
        let r = n.get(path);
        assert_eq!(r.status, 200, "{path} via {}: {}", n.url, r.summary());
    }
    assert_eq!(origin.count(path), 1, "{path}");
}

#[test]
fn a_purge_on_one_node_is_gone_on_all_three() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = purging_nodes(&origin, root.path(), "", None);
    let path = "/gone.css";
    origin.route(path, cacheable("v1"));
    warm(&nodes, &origin, path);
    // Sent to a node that does not own the key.
    let via = (owner(&nodes, path) + 1) % 3;
    let r = nodes[via].req("PURGE", path, &[("authorization", BEARER)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let answer = json(&r);
    assert_eq!(answer["nodes"].as_array().unwrap().len(), 3, "{answer}");
    assert_eq!(
        answer["nodes"][0]["node"],
        nodes[via].url.as_str(),
        "this node first"
    );
    for n in &nodes {
        assert_eq!(entry(&answer, n)["purged"], 1, "{answer}");
    }
    assert_eq!(answer["purged"], 3, "{answer}");
    // Gone everywhere: no node has v1 to serve any more (the first one
    // asked misses; the owner then holds v2 for the others), and the
    // cluster asks the origin once more.
    origin.route(path, cacheable("v2"));
    for (k, i) in [via, (via + 1) % 3, (via + 2) % 3].into_iter().enumerate() {
        let r = nodes[i].get(path);
        assert_eq!(r.body, b"v2", "node {i}: {}", r.summary());
        if k == 0 {
            let status = r.header("cache-status").unwrap_or_default();
            assert!(status.contains("miss"), "node {i}: {status}");
        }
    }
    assert_eq!(origin.count(path), 2);
    // Idempotent: purging again drops nothing more than what is there.
    let r = nodes[via].req("PURGE", "/never-stored.css", &[("authorization", BEARER)]);
    assert_eq!(json(&r)["purged"], 0, "{}", r.text());

    // POST /_purge with a prefix, sent to another node: same.
    let paths = ["/img/a.css", "/img/b.css"];
    for p in paths {
        origin.route(p, cacheable(p));
        warm(&nodes, &origin, p);
    }
    let body = br#"{"prefixes": ["/img/"]}"#;
    let r = common::request_with_body(
        nodes[2].addr,
        "POST",
        "/_purge",
        &[
            ("authorization", BEARER),
            ("content-type", "application/json"),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let answer = json(&r);
    assert_eq!(answer["purged"], 6, "{answer}");
    for p in paths {
        for n in &nodes {
            n.get(p);
        }
        assert_eq!(origin.count(p), 2, "{p}: fetched again once");
    }
    // A bad purge is refused whole before anything is sent on.
    let r = common::request_with_body(
        nodes[0].addr,
        "POST",
        "/_purge",
        &[("authorization", BEARER)],
        br#"{"paths": ["/ok.css", "/../x"]}"#,
    );
    assert_eq!(r.status, 400, "{}", r.summary());
}

#[test]
fn a_peer_down_at_purge_time_gets_it_when_it_is_back() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    // Only a probe can bring the stopped node back before an hour.
    let cluster = "probe_ms = 100\ndown_secs = 3600";
    let mut nodes = purging_nodes(&origin, root.path(), cluster, Some(disk.path()));
    let b = 1;
    let [gone, kept]: [String; 2] = owned_by(&nodes, b, "/back/", 2).try_into().unwrap();
    for p in [&gone, &kept] {
        origin.route(p, cacheable(p));
        assert_eq!(nodes[b].get(p).status, 200);
        assert_eq!(nodes[0].get(p).status, 200, "a hit on its owner");
        assert_eq!(origin.count(p), 1);
    }
    // Both are on the owner's disk, so they outlive its restart.
    assert!(poll_until(WAIT, || {
        nodes[b].metric("cdn_edge_disk_cache_objects") == Some(2.0)
    }));
    nodes[b].stop();
    let r = nodes[0].req("PURGE", &gone, &[("authorization", BEARER)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let answer = json(&r);
    let missed = entry(&answer, &nodes[b]);
    let why = missed["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"));
    assert!(why.contains("kept until it is back"), "{why}");
    assert_eq!(entry(&answer, &nodes[0])["purged"], 1, "{answer}");
    assert!(entry(&answer, &nodes[2])["purged"].is_u64(), "{answer}");
    let up = format!("cdn_edge_cluster_peer_up{{peer=\"{}\"}}", nodes[b].url);
    assert!(poll_until(WAIT, || nodes[0].metric(&up) == Some(0.0)));
    assert!(nodes[0].metric("cdn_edge_cluster_purges_pending").unwrap() >= 1.0);
    let sent = nodes[0]
        .metric("cdn_edge_cluster_purges_sent_total")
        .unwrap();

    nodes[b].restart();
    // Probed up, and given what it missed.
    assert!(poll_until(WAIT, || nodes[0].metric(&up) == Some(1.0)));
    assert!(poll_until(WAIT, || {
        nodes[0].metric("cdn_edge_cluster_purges_sent_total") == Some(sent + 1.0)
    }));
    assert_eq!(
        nodes[0].metric("cdn_edge_cluster_purges_pending"),
        Some(0.0)
    );
    // The kept object is still on its disk; the purged one is gone.
    assert_eq!(nodes[b].get(&kept).status, 200);
    assert_eq!(origin.count(&kept), 1, "served from the disk it kept");
    assert_eq!(nodes[b].get(&gone).status, 200);
    assert_eq!(origin.count(&gone), 2, "the kept purge reached it");
}

#[test]
fn a_client_cannot_send_a_peers_purge_and_a_peers_purge_stays_there() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let nodes = purging_nodes(&origin, root.path(), "", None);
    let path = "/hop.css";
    origin.route(path, cacheable("hop"));
    warm(&nodes, &origin, path);
    let hop = nodes[1].url.as_str();
    for (method, target) in [("PURGE", path), ("POST", "/_edge/purge")] {
        for token in [None, Some("not-the-cluster-token-0123")] {
            let mut headers = vec![(HOP, hop), ("authorization", BEARER)];
            headers.extend(token.map(|t| (TOKEN_FIELD, t)));
            let r = common::request_with_body(
                nodes[0].addr,
                method,
                target,
                &headers,
                br#"{"paths": ["/hop.css"]}"#,
            );
            assert_eq!(r.status, 403, "{method} {token:?}: {}", r.summary());
            assert!(r.text().contains("cluster token"), "{}", r.text());
        }
    }
    for n in &nodes {
        n.get(path);
    }
    assert_eq!(origin.count(path), 1, "nothing was purged");
    // A peer's purge (the token and the hop field, no purge token) purges
    // that node only: the others still have it.
    for (method, target) in [
        ("POST", "/_edge/purge"),
        ("POST", "/_purge"),
        ("PURGE", path),
    ] {
        let r = common::request_with_body(
            nodes[0].addr,
            method,
            target,
            &[(HOP, hop), (TOKEN_FIELD, TOKEN)],
            br#"{"paths": ["/hop.css"]}"#,
        );
        assert_eq!(r.status, 200, "{method} {target}: {}", r.summary());
        let once = if target == "/_edge/purge" { 1 } else { 0 };
        assert_eq!(
            r.text().trim(),
            format!("{{\"purged\": {once}}}"),
            "{method} {target}"
        );
    }
    for n in &nodes[1..] {
        let r = n.get(path);
        assert_eq!(
            r.header("cache-status"),
            Some("cdn-edge; hit"),
            "{}",
            r.summary()
        );
    }
    assert_eq!(origin.count(path), 1);
    // The client's purge endpoint is still the purge token's.
    let r = nodes[0].req("PURGE", path, &[]);
    assert_eq!(r.status, 401, "{}", r.summary());
}

#[test]
fn the_purge_command_needs_one_node_of_a_cluster() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    let mut nodes = purging_nodes(&origin, root.path(), "probe_ms = 0", None);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("purge.toml");
    std::fs::write(&cfg, purge_setup()).unwrap();
    let purge = |path: &str, via: &[&Node]| {
        let mut args: Vec<std::ffi::OsString> = vec![
            "purge".into(),
            path.into(),
            "--config".into(),
            cfg.clone().into(),
        ];
        for n in via {
            args.extend(["--node".into(), n.url.clone().into()]);
        }
        common::run_to_exit(&args, None)
    };
    let path = "/cli.css";
    origin.route(path, cacheable("cli"));
    warm(&nodes, &origin, path);
    // One node named: all three purged.
    let (status, stderr) = purge(path, &[&nodes[1]]);
    assert!(status.success(), "{stderr}");
    for n in &nodes {
        n.get(path);
    }
    assert_eq!(origin.count(path), 2, "fetched again once");
    // Several named still works: the later ones were purged through the
    // first and are not called again (each node still purged once).
    let (status, stderr) = purge(path, &[&nodes[0], &nodes[1], &nodes[2]]);
    assert!(status.success(), "{stderr}");
    for n in &nodes {
        n.get(path);
    }
    assert_eq!(origin.count(path), 3);
    // A node that is down is named, and the command fails.
    nodes[2].stop();
    let (status, stderr) = purge(path, &[&nodes[0]]);
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("did not reach 1 node(s): {}", nodes[2].url)),
        "{stderr}"
    );
}
