//! Active probes and the cluster's metrics, over real HTTP on loopback:
//! three nodes in front of an origin the test starts. Probes mark a
//! stopped peer down and the same peer started again up, long before
//! `down_secs` end (seen through the `cdn_edge_cluster_peer_up` gauge);
//! the counters of requests served for peers, sent to peers, and purges
//! fanned out move as the traffic does.

use crate::common;

use std::time::Duration;

use common::cluster::{self, owned_by, ranked, Node, Setup};
use common::origin::{Origin, Reply};
use common::poll_until;

const WAIT: Duration = Duration::from_secs(20);

fn cacheable(body: &str) -> Reply {
    Reply::ok(body)
        .header("content-type", "text/css")
        .header("cache-control", "max-age=600")
}

fn up_gauge(peer: &Node) -> String {
    format!("cdn_edge_cluster_peer_up{{peer=\"{}\"}}", peer.url)
}

fn served(node: &Node, answer: &str) -> f64 {
    let sample = format!("cdn_edge_cluster_served_for_peers_total{{answer=\"{answer}\"}}");
    node.metric(&sample)
        .unwrap_or_else(|| panic!("no {sample}"))
}

fn counter(node: &Node, name: &str) -> f64 {
    node.metric(name).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn probes_mark_a_stopped_peer_down_and_the_restarted_one_up_at_once() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    // Only a probe can bring a peer back before an hour.
    let setup = Setup {
        cluster: "probe_ms = 100\ndown_secs = 3600",
        ..Setup::default()
    };
    let mut nodes = cluster::start_setup(3, &origin.url(), root.path(), &setup);
    let gauge = up_gauge(&nodes[2]);
    for n in &nodes[..2] {
        assert!(poll_until(WAIT, || n.metric(&gauge) == Some(1.0)));
        // This node is not among its own peers.
        assert!(n.metric(&up_gauge(n)).is_none(), "{}", n.metrics());
    }
    nodes[2].stop();
    for n in &nodes[..2] {
        assert!(poll_until(WAIT, || n.metric(&gauge) == Some(0.0)));
    }
    // Its keys are served by the others meanwhile.
    let paths = owned_by(&nodes, 2, "/probe/", 2);
    origin.route(&paths[0], cacheable("p0"));
    assert_eq!(nodes[0].get(&paths[0]).status, 200);
    assert_eq!(
        counter(&nodes[0], "cdn_edge_cluster_peer_failures_total"),
        0.0,
        "a peer marked down by a probe is not asked"
    );

    nodes[2].restart();
    for n in &nodes[..2] {
        assert!(poll_until(WAIT, || n.metric(&gauge) == Some(1.0)));
    }
    // And used again: a miss of one of its keys goes to it.
    origin.route(&paths[1], cacheable("p1"));
    assert_eq!(nodes[0].get(&paths[1]).status, 200);
    assert_eq!(served(&nodes[2], "origin"), 1.0);
    assert_eq!(origin.count(&paths[1]), 1);
}

#[test]
fn metrics_count_what_peers_ask_and_what_is_sent_to_them() {
    let origin = Origin::start();
    let root = tempfile::tempdir().unwrap();
    // No probes: every figure below comes from the requests made here.
    let setup = Setup {
        cluster: "probe_ms = 0",
        extra: "[purge]\ntoken = \"purge-token-0123456789\"\n",
        ..Setup::default()
    };
    let mut nodes = cluster::start_setup(3, &origin.url(), root.path(), &setup);
    let [a, b]: [String; 2] = owned_by(&nodes, 0, "/m/", 2).try_into().unwrap();
    origin.route(&a, cacheable("a"));
    origin.route(&b, cacheable("b"));
    // A miss on node 1 goes to the owner, which fetches; one on node 2
    // is answered from the owner's cache.
    assert_eq!(nodes[1].get(&a).status, 200);
    assert_eq!(nodes[2].get(&a).status, 200);
    assert_eq!(served(&nodes[0], "origin"), 1.0);
    assert_eq!(served(&nodes[0], "cache"), 1.0, "owner hit ratio 1/2");
    assert_eq!(served(&nodes[0], "other"), 0.0);
    for n in &nodes[1..] {
        assert_eq!(counter(n, "cdn_edge_cluster_peer_requests_total"), 1.0);
        assert_eq!(counter(n, "cdn_edge_cluster_peer_failures_total"), 0.0);
        assert_eq!(
            counter(n, "cdn_edge_cluster_peer_latency_seconds_count"),
            1.0
        );
        assert_eq!(served(n, "origin") + served(n, "cache"), 0.0);
        assert_eq!(n.metric(&up_gauge(&nodes[0])), Some(1.0));
    }

    // The owner dies: node 1 fails over (one failure), marks it down,
    // and asks node 2 next if it comes before itself in the key's order.
    nodes[0].stop();
    assert_eq!(nodes[1].get(&b).status, 200);
    let next_asked = f64::from(u8::from(ranked(&nodes, &b)[1] == 2));
    assert_eq!(
        counter(&nodes[1], "cdn_edge_cluster_peer_requests_total"),
        2.0 + next_asked
    );
    assert_eq!(
        counter(&nodes[1], "cdn_edge_cluster_peer_failures_total"),
        1.0
    );
    assert_eq!(nodes[1].metric(&up_gauge(&nodes[0])), Some(0.0));

    // Purges from node 1: node 0 is down (kept), node 2 answers.
    let bearer = [("authorization", "Bearer purge-token-0123456789")];
    assert_eq!(nodes[1].req("PURGE", &a, &bearer).status, 200);
    let purges = |n: &Node| {
        [
            "cdn_edge_cluster_purges_sent_total",
            "cdn_edge_cluster_purges_failed_total",
            "cdn_edge_cluster_purges_queued_total",
            "cdn_edge_cluster_purges_pending",
        ]
        .map(|m| counter(n, m))
    };
    assert_eq!(purges(&nodes[1]), [1.0, 0.0, 1.0, 1.0]);
    // Node 2 dies unseen (no probes, no traffic): its purge fails.
    nodes[2].stop();
    assert_eq!(nodes[1].req("PURGE", &b, &bearer).status, 200);
    // Node 0 keeps /a and /b, node 2 keeps /b.
    assert_eq!(purges(&nodes[1]), [1.0, 1.0, 3.0, 3.0]);
}
