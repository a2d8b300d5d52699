//! `server.listen` / `--listen` with a host name: `localhost:0` resolves
//! and binds every loopback address it names, on one port, and serves on
//! each; a malformed address is refused with one line.

use crate::common;

use common::*;
use std::ffi::OsString;
use std::net::{SocketAddr, ToSocketAddrs};

/// Every `listening on http://ADDR` line the server printed.
fn listening(s: &Server) -> Vec<SocketAddr> {
    s.stderr_text()
        .lines()
        .filter_map(|l| l.split("listening on http://").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn serves_on_each_address(s: &Server) {
    // The first line was the server's signal that it listens; wait for the
    // others (or the warnings of addresses this host lacks).
    let resolved = ("localhost", 0).to_socket_addrs().unwrap().count();
    let settled = poll_until(CHANGE_TIMEOUT, || {
        let skipped = s.stderr_text().matches("skipped").count();
        listening(s).len() + skipped >= resolved
    });
    assert!(settled, "{}", s.stderr_text());
    let addrs = listening(s);
    assert!(!addrs.is_empty(), "{}", s.stderr_text());
    for a in &addrs {
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), addrs[0].port(), "one port for all: {addrs:?}");
        let r = request(*a, "GET", "/plain.txt", &[]);
        assert_eq!(r.status, 200, "{a}: {}", r.summary());
        assert_eq!(r.body, PLAIN_TXT);
    }
}

#[test]
fn listen_flag_accepts_localhost() {
    let f = Fixture::new();
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--listen".into(),
        "localhost:0".into(),
        "--root".into(),
        f.root.clone().into(),
    ];
    let s = Server::spawn(&args, None).unwrap_or_else(|e| panic!("{e}"));
    serves_on_each_address(&s);
}

#[test]
fn config_listen_accepts_localhost() {
    let f = Fixture::new();
    let cfg = f.parent().join("listen.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"localhost:0\"\nroot = \"root\"\n",
    )
    .unwrap();
    let args: Vec<OsString> = vec!["serve".into(), "--config".into(), cfg.into()];
    let s = Server::spawn(&args, None).unwrap_or_else(|e| panic!("{e}"));
    serves_on_each_address(&s);
}

#[test]
fn malformed_listen_addresses_are_refused_with_one_line() {
    let f = Fixture::new();
    for (bad, names) in [
        ("localhost", "host:port"),
        ("::1:8080", "brackets"),
        ("bad_host:80", "bad_host"),
        ("localhost:99999", "99999"),
    ] {
        let (status, stderr) =
            run_config_expect_exit(&f.root, &format!("[server]\nlisten = \"{bad}\"\n"));
        // --listen 127.0.0.1:0 overrides the file, but the file is parsed first.
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        let lines = nonempty_lines(&stderr);
        assert_eq!(lines.len(), 1, "{bad}: {stderr}");
        assert!(
            lines[0].contains("server.listen") && lines[0].contains(names),
            "{bad}: {stderr}"
        );
        let (status, stderr) = run_to_exit(
            &[
                "serve".into(),
                "--listen".into(),
                bad.into(),
                "--root".into(),
                f.root.clone().into(),
            ],
            None,
        );
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        // A usage error is clap's whole message: the error, then its tip.
        let lines = nonempty_lines(&stderr);
        assert_eq!(lines.len(), 2, "{bad}: {stderr}");
        assert!(lines[0].contains("--listen"), "{bad}: {stderr}");
        assert_eq!(lines[1], "For more information, try '--help'.");
    }
}
