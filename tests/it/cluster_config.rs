//! `[cluster]` on the real binary: `check` and `serve` refuse a bad table
//! with one line naming the key, `--advertise` and `--peer` complete or
//! override the file, and a node with a valid table serves as before
//! (its local files as before; routing itself is tested in the `cluster` module).

use crate::common;

use common::*;
use std::ffi::OsString;
use std::path::Path;

const TOKEN: &str = "0123456789abcdef0123";

/// `SUBCOMMAND --config FILE --root ROOT --listen 127.0.0.1:0 EXTRA...`,
/// with `toml` in FILE.
fn args(sub: &str, dir: &Path, root: &Path, toml: &str, extra: &[&str]) -> Vec<OsString> {
    let cfg = dir.join("cluster.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut a: Vec<OsString> = vec![sub.into(), "--config".into(), cfg.into()];
    a.extend(["--root".into(), root.as_os_str().to_owned()]);
    a.extend(["--listen".into(), "127.0.0.1:0".into()]);
    a.extend(extra.iter().map(OsString::from));
    a
}

#[test]
fn bad_cluster_tables_are_refused_by_check_and_serve_with_one_line() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let ok = format!("advertise = \"http://127.0.0.1:8080\"\ntoken = \"{TOKEN}\"\n");
    let cases: Vec<(String, &[&str], &str)> = vec![
        (
            format!("token = \"{TOKEN}\"\npeers = [\"http://a:1\"]"),
            &[],
            "cluster.advertise",
        ),
        (
            "advertise = \"http://a:1\"\npeers = [\"http://a:1\"]".into(),
            &[],
            "cluster.token",
        ),
        (ok.clone(), &[], "one source of peers"),
        (format!("{ok}peers = [\"a:1\"]"), &[], "cluster.peers[0]"),
        (
            format!("{ok}peers = [\"http://a:1\"]\npeers_file = \"peers.txt\""),
            &[],
            "only one source of peers",
        ),
        (
            format!("{ok}peers_file = \"absent.txt\""),
            &[],
            "cluster.peers_file",
        ),
        (
            format!("{ok}peers_dns = \"edge\""),
            &[],
            "cluster.peers_dns",
        ),
        (
            format!("{ok}peers = [\"http://a:1\"]\ndown_for = 0"),
            &[],
            "cluster.down_for",
        ),
        (
            format!("{ok}peers = [\"http://a:1\"]"),
            &["--advertise", "10.0.0.1:8080"],
            "cluster.advertise",
        ),
        (
            format!("{ok}peers = [\"http://a:1\"]"),
            &["--peer", "ftp://a"],
            "cluster.peers[0]",
        ),
        (
            String::new(),
            &["--peer", "http://10.0.0.2:8080"],
            "cluster.token",
        ),
    ];
    for (table, extra, names) in &cases {
        let toml = format!("[cluster]\n{table}\n");
        let toml = if table.is_empty() {
            String::new()
        } else {
            toml
        };
        for sub in ["check", "serve"] {
            let (status, err) = run_to_exit(&args(sub, dir.path(), &f.root, &toml, extra), None);
            assert_eq!(status.code(), Some(2), "{sub} {table} {extra:?}: {err}");
            let lines = nonempty_lines(&err);
            assert_eq!(lines.len(), 1, "{sub} {table}: {err}");
            assert!(lines[0].starts_with("cdn-edge: "), "{err}");
            assert!(lines[0].contains(names), "{sub} {table} {extra:?}: {err}");
            assert!(!lines[0].contains(TOKEN), "the token is never shown: {err}");
        }
    }
}

#[test]
fn flags_complete_a_table_that_names_no_address() {
    // The Kubernetes shape: the file has the token and the DNS name, and
    // each pod passes its own address.
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let toml = "[cluster]\ntoken_file = \"token\"\npeers_dns = \"localhost:8080\"\n";
    let a = args("check", dir.path(), &f.root, toml, &[]);
    let (status, err) = run_to_exit(&a, None);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("cluster.advertise") && err.contains("--advertise"),
        "{err}"
    );
    let flag = ["--advertise", "http://10.0.0.7:8080"];
    let (status, err) = run_to_exit(&args("check", dir.path(), &f.root, toml, &flag), None);
    assert_eq!(status.code(), Some(0), "{err}");
    let peers = [
        "--advertise",
        "http://10.0.0.7:9",
        "--peer",
        "http://10.0.0.8:9",
    ];
    let (status, err) = run_to_exit(&args("check", dir.path(), &f.root, toml, &peers), None);
    assert_eq!(status.code(), Some(0), "--peer replaces peers_dns: {err}");
}

#[test]
fn a_node_with_a_cluster_table_serves_as_before() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("peers.txt"), "# none yet\n").unwrap();
    let toml = format!(
        "[cluster]\nadvertise = \"http://127.0.0.1:1\"\ntoken = \"{TOKEN}\"\npeers_file = \"peers.txt\"\n"
    );
    let a = args("serve", dir.path(), &f.root, &toml, &[]);
    let server = Server::spawn(&a, None).unwrap_or_else(|e| panic!("{e}"));
    let r = server.get("/plain.txt");
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn the_peers_are_logged_and_a_changed_table_needs_a_restart() {
    let f = Fixture::new();
    let table = |token: &str| {
        format!(
            "[server]\nroot = {}\n[cluster]\nadvertise = \"http://127.0.0.1:1\"\ntoken = \"{token}\"\npeers = [\"http://127.0.0.1:2\"]\n",
            reload::toml_path(&f.root)
        )
    };
    let node = reload::Node::start(&table(TOKEN));
    let log = node.stderr_text();
    assert!(
        log.contains(
            "cluster peers: http://127.0.0.1:1 http://127.0.0.1:2 (this node: http://127.0.0.1:1)"
        ),
        "{log}"
    );
    assert!(!log.contains("not built yet"), "{log}");
    let other = "another-token-0123456789";
    let lines = node.reload_with(&table(other));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cluster = (a changed table) needs a restart")),
        "{lines:#?}"
    );
    assert!(lines.last().unwrap().contains(": applied"), "{lines:#?}");
    assert!(
        !node.stderr_text().contains(other),
        "the token is never shown"
    );
    assert_eq!(node.get("/plain.txt").status, 200);
}
