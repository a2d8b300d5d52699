//! No panic reachable from input, and what a node keeps to itself: a
//! malformed manifest entry is skipped, a file or directory the node may
//! not read answers 403 with a reason, a panic inside a request is caught
//! (500, counted, logged, the worker serves on), the purge token can live
//! in a file, and `Proxy-Authorization` never reaches the origin.

use crate::common;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

/// The value of an unlabelled counter in a `/metrics` text.
fn counter(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_panic_inside_a_request_is_a_500_and_the_worker_serves_on() {
    let f = Fixture::new();
    // One worker: the one that panicked must be the one that answers next.
    let s = Server::start(&f.root, &config_with("workers = 1\n"));
    let before = s.get("/metrics").text();
    assert_eq!(
        counter(&before, "cdn_edge_panics_total"),
        Some(0),
        "{before}"
    );
    for _ in 0..3 {
        let r = s.get("/_edge/panic");
        assert_eq!(r.status, 500, "{}", r.summary());
        assert!(r.text().contains("internal error"), "{}", r.text());
        assert_eq!(s.get("/app.css").status, 200);
    }
    let m = s.get("/metrics").text();
    assert_eq!(counter(&m, "cdn_edge_panics_total"), Some(3), "{m}");
    assert!(
        m.contains("cdn_edge_http_requests_total{class=\"5xx\"} 3"),
        "{m}"
    );
    assert!(poll_until(Duration::from_secs(5), || s
        .stderr_text()
        .contains(
            "request handler panicked: panic requested at /_edge/panic"
        )));
}

#[test]
fn the_panic_seam_exists_only_with_the_test_clock() {
    let f = Fixture::new();
    f.write("_edge/panic", b"a site's own file\n");
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        f.root.clone().into(),
    ];
    let s = Server::spawn_with(&args, None, |c| {
        c.env_remove(TEST_CLOCK_ENV);
    })
    .unwrap();
    assert_eq!(s.get("/_edge/panic").body, b"a site's own file\n");
}

#[test]
fn a_malformed_manifest_entry_is_logged_and_skipped() {
    let f = Fixture::new();
    f.write("site.css", b"body{color:red}");
    // The right length (64 bytes) but not hex: once a panic in the ETag.
    let bad = "é".repeat(32);
    let manifest = format!(
        r#"{{"/site.css": {{"file": "site.css", "size": 15, "blake3": "{bad}"}},
            "/app.css": {{"file": "app.css", "size": 3, "blake3": "{}"}}}}"#,
        "\\u0001".repeat(64)
    );
    f.write("manifest.json", manifest.as_bytes());
    let s = Server::start(&f.root, &config_with(""));
    let r = s.get("/site.css");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"body{color:red}");
    assert!(is_strong_etag(r.header("etag").unwrap()), "{}", r.summary());
    assert_eq!(s.get("/app.css").status, 200);
    assert!(poll_until(Duration::from_secs(5), || {
        let e = s.stderr_text();
        e.contains("manifest.json") && e.contains("entry skipped") && e.contains("/site.css")
    }));
}

/// Where permissions do not bite (root), starts the node without the
/// capabilities that override them; `None` (with a message) when that
/// cannot be done here.
fn start_unprivileged(root: &std::path::Path) -> Option<Server> {
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--root".into(),
        root.into(),
    ];
    let is_root = unsafe { libc::geteuid() } == 0;
    let started = Server::spawn_with(&args, None, |c| {
        if is_root {
            // SAFETY: only async-signal-safe calls (prctl) in the child.
            unsafe {
                c.pre_exec(|| {
                    // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h).
                    for cap in [1 as libc::c_ulong, 2] {
                        if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
    });
    match started {
        Ok(s) => Some(s),
        Err(e) if is_root => {
            eprintln!("skipped: cannot drop CAP_DAC_OVERRIDE here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_path_the_node_may_not_read_is_403_with_a_reason() {
    let f = Fixture::new();
    f.write("locked.css", b"secret{}");
    f.write("closed/a.css", b"a{}");
    f.write("closed/index.html", b"<p>");
    let mode = |p: &str, m: u32| {
        std::fs::set_permissions(f.path(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode("locked.css", 0o000);
    mode("closed", 0o000);
    let Some(s) = start_unprivileged(&f.root) else {
        mode("closed", 0o755);
        return;
    };
    for path in ["/locked.css", "/closed/a.css", "/closed/"] {
        let r = s.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.summary());
        assert!(
            r.text().contains("permission denied"),
            "{path}: {}",
            r.text()
        );
    }
    assert_eq!(s.get("/app.css").status, 200);
    let m = s.get("/metrics").text();
    assert!(
        m.contains("cdn_edge_http_requests_total{class=\"5xx\"} 0"),
        "{m}"
    );
    mode("closed", 0o755);
}

#[test]
fn the_purge_token_can_come_from_a_file() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("purge.token"), "file-token-123\n").unwrap();
    let cfg = dir.path().join("config.toml");
    // Relative to the config file.
    std::fs::write(&cfg, config_with("[purge]\ntoken_file = \"purge.token\"\n")).unwrap();
    let s = Server::start_config_file(&cfg, &f.root, None);
    let ok = s.req(
        "PURGE",
        "/app.css",
        &[("authorization", "Bearer file-token-123")],
    );
    assert_eq!(ok.status, 200, "{}", ok.summary());
    for wrong in ["Bearer file-token-12", "Bearer file-token-1234", "Bearer x"] {
        let r = s.req("PURGE", "/app.css", &[("authorization", wrong)]);
        assert_eq!(r.status, 401, "{wrong}: {}", r.summary());
    }
    // Both ways at once: refused at start with the key.
    std::fs::write(
        &cfg,
        config_with("[purge]\ntoken = \"inline-token\"\ntoken_file = \"purge.token\"\n"),
    )
    .unwrap();
    let args: Vec<OsString> = vec!["check".into(), "--config".into(), cfg.into()];
    let (status, err) = run_to_exit(&args, None);
    assert!(!status.success());
    assert!(err.contains("purge.token_file"), "{err}");
}

#[test]
fn proxy_authorization_never_reaches_the_origin() {
    let o = Origin::start();
    o.route(
        "/p.js",
        Reply::ok("p()").header("cache-control", "max-age=60"),
    );
    o.route(
        "/pass.js",
        Reply::ok("pass()").header("cache-control", "no-store"),
    );
    let f = Fixture::new();
    let cfg = config_with(&format!("[origin]\nurl = \"{}\"\n", o.url()));
    let s = Server::start(&f.root, &cfg);
    let creds = [
        ("proxy-authorization", "Basic dXNlcjpwYXNz"),
        ("authorization", "Bearer for-the-origin"),
    ];
    for path in ["/p.js", "/pass.js"] {
        assert_eq!(s.get_h(path, &creds).status, 200);
        let seen = o.requests(path);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("proxy-authorization"), None, "{path}");
        assert_eq!(
            seen[0].header("authorization"),
            Some("Bearer for-the-origin")
        );
    }
    let r = s.req("POST", "/pass.js", &creds);
    assert_eq!(r.status, 200, "{}", r.summary());
    let posted = o.requests("/pass.js");
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].header("proxy-authorization"), None);
}
