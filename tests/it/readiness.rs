//! `/readyz` over real HTTP: ready while serving, failing from SIGTERM on
//! while the node drains (and still serves), and, when configured, while
//! the origin does not answer. `/healthz` stays 200 throughout.

use crate::common;

use common::origin::{Origin, Reply};
use common::*;

#[test]
fn ready_by_default_and_the_path_is_configurable_or_off() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "");
    let r = s.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "ready\n");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let moved = Server::start(&f.root, "[server]\nready_path = \"/_edge/ready\"\n");
    assert_eq!(moved.get("/_edge/ready").status, 200);
    assert_eq!(moved.get("/readyz").status, 404);
    let off = Server::start(&f.root, "[server]\nready_path = \"\"\n");
    assert_eq!(off.get("/readyz").status, 404);
}

#[test]
fn a_ready_path_equal_to_another_endpoint_is_refused() {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(&f.root, "[server]\nready_path = \"/healthz\"\n");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("server.ready_path"), "{stderr}");
    assert!(stderr.contains("server.health_path"), "{stderr}");
}

#[test]
fn sigterm_fails_readiness_while_the_node_drains_and_still_serves() {
    let f = Fixture::new();
    // A long drain: the test ends it with a second SIGTERM.
    let mut s = Server::start(&f.root, "[server]\ndrain_secs = 600\n");
    assert_eq!(s.get("/readyz").status, 200);
    s.sigterm();
    let mut last = None;
    let draining = poll_until(EXIT_TIMEOUT, || {
        let r = s.get("/readyz");
        let done = r.status == 503;
        last = Some(r);
        done
    });
    let last = last.unwrap();
    assert!(draining, "readiness after SIGTERM: {}", last.summary());
    assert_eq!(last.text(), "draining\n");
    // New connections and requests are still served while draining.
    for _ in 0..3 {
        let r = s.get("/plain.txt");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.body, PLAIN_TXT);
    }
    assert_eq!(s.get("/healthz").status, 200);
    assert!(
        poll_until(std::time::Duration::from_secs(10), || s
            .stderr_text()
            .contains("draining")),
        "{}",
        s.stderr_text()
    );
    // A second SIGTERM cuts the drain short; the exit is clean.
    s.sigterm();
    let status = s
        .wait_exit(EXIT_TIMEOUT)
        .unwrap_or_else(|| panic!("no exit after the second SIGTERM:\n{}", s.stderr_text()));
    assert_eq!(status.code(), Some(0), "{}", s.stderr_text());
}

#[test]
fn without_a_drain_sigterm_still_exits_promptly() {
    let f = Fixture::new();
    let mut s = Server::start(&f.root, "");
    assert_eq!(s.get("/readyz").status, 200);
    s.sigterm();
    let status = s.wait_exit(EXIT_TIMEOUT).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", s.stderr_text());
}

#[test]
fn readiness_can_require_the_origin() {
    let o = Origin::start();
    o.route("/", Reply::status(404, "no index"));
    let f = Fixture::new();
    let origin = format!(
        "[origin]\nurl = \"{}\"\nconnect_timeout_ms = 500\nfirst_byte_timeout_ms = 1000\n",
        o.url()
    );
    let strict = Server::start(
        &f.root,
        &format!("[server]\nready_requires_origin = true\n{origin}"),
    );
    let lax = Server::start(&f.root, &origin);
    // Any HTTP answer counts: the origin is reachable.
    let r = strict.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(o.requests("/").iter().any(|s| s.method == "HEAD"));
    o.shutdown();
    let mut last = None;
    let unready = poll_until(EXIT_TIMEOUT, || {
        let r = strict.get("/readyz");
        let done = r.status == 503;
        last = Some(r);
        done
    });
    let last = last.unwrap();
    assert!(
        unready,
        "readiness with the origin down: {}",
        last.summary()
    );
    assert_eq!(last.text(), "origin unreachable\n");
    assert!(!last.text().contains("127.0.0.1"));
    // Files of the root are still served, and health is not readiness.
    assert_eq!(strict.get("/plain.txt").status, 200);
    assert_eq!(strict.get("/healthz").status, 200);
    // By default the origin does not matter.
    assert_eq!(lax.get("/anything.css").status, 502);
    assert_eq!(lax.get("/readyz").status, 200);
}

#[test]
fn a_reload_moves_the_ready_path_and_turns_the_log_off() {
    use common::reload::{toml_path, Node};
    let f = Fixture::new();
    let root = toml_path(&f.root);
    let node = Node::start(&format!("[server]\nroot = {root}\n"));
    assert_eq!(node.get("/readyz").status, 200);
    let moved = format!("[server]\nroot = {root}\nready_path = \"/_edge/ready\"\n");
    let lines = node.reload_ok(&format!("{moved}[log]\naccess = \"off\"\n"));
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(node.get("/_edge/ready").status, 200);
    assert_eq!(node.get("/readyz").status, 404);
    // Off from the reload on: not logged, unlike what follows it once on.
    assert_eq!(node.get("/plain.txt?while-off").status, 200);
    node.reload_ok(&format!("{moved}[log]\naccess_flush_ms = 20\n"));
    assert_eq!(node.get("/plain.txt?on-again").status, 200);
    let logged = |t: &str| node.stdout_lines().iter().any(|l| l.contains(t));
    assert!(poll_until(CHANGE_TIMEOUT, || logged("/plain.txt?on-again")));
    assert!(logged("/readyz"), "{:#?}", node.stdout_lines());
    assert!(
        !logged("/plain.txt?while-off"),
        "{:#?}",
        node.stdout_lines()
    );
}
