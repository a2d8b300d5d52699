//! `cdn-edge check`: a good config exits 0 with one `ok` line on stdout; a
//! bad one exits 2 with one line on stderr, the same line `serve` refuses
//! it with (they share one validation path). Also the bare command, and
//! `--version`.

use crate::common;

use common::*;
use std::ffi::OsString;
use std::path::Path;
use std::process::ExitStatus;

/// Runs the binary, returns status, stdout and stderr (ANSI stripped).
fn run(args: &[OsString]) -> (ExitStatus, String, String) {
    run_captured(args, None, &[])
}

/// `check --config FILE` (with `config_toml` in FILE) and extra args.
fn check(dir: &Path, config_toml: &str, extra: &[&str]) -> (ExitStatus, String, String) {
    let cfg = dir.join("check.toml");
    std::fs::write(&cfg, config_toml).unwrap();
    let mut args: Vec<OsString> = vec!["check".into(), "--config".into(), cfg.into()];
    args.extend(extra.iter().map(OsString::from));
    run(&args)
}

#[test]
fn a_good_config_prints_ok_and_exits_0() {
    let f = Fixture::new();
    let root = f.root.to_str().unwrap();
    let (status, out, err) = check(
        f.parent(),
        &format!("[server]\nroot = \"{root}\"\nlisten = \"127.0.0.1:0\"\n"),
        &[],
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
    let lines = nonempty_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].contains("ok"), "{out}");
    assert!(lines[0].contains("check.toml"), "{out}");
    assert!(lines[0].contains("127.0.0.1:0"), "{out}");
}

#[test]
fn the_embedded_default_checks_with_flags() {
    let f = Fixture::new();
    let (status, out, err) = run(&[
        "check".into(),
        "--root".into(),
        f.root.clone().into(),
        "--listen".into(),
        "localhost:8080".into(),
    ]);
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(out.contains("embedded config.toml: ok"), "{out}");
    assert!(out.contains(":8080"), "{out}");
}

#[test]
fn check_does_not_bind() {
    // A port in use is found by `serve`, not `check` (as `nginx -t`).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let f = Fixture::new();
    let listen = format!("127.0.0.1:{port}");
    let (status, out, err) = check(
        f.parent(),
        "",
        &["--root", f.root.to_str().unwrap(), "--listen", &listen],
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
}

/// Each bad config: what the one line must name. `check` and `serve`
/// must both refuse it, with the same line.
#[test]
fn bad_configs_are_refused_by_check_and_serve_alike() {
    let f = Fixture::new();
    let file = f.parent().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("[server\n".into(), "check.toml"),
        ("[server]\nbogus = 1\n".into(), "bogus"),
        ("[server]\nworkers = 5000\n".into(), "server.workers"),
        ("[server]\nlisten = \"localhost\"\n".into(), "server.listen"),
        ("[[rules]]\nglob = \"a[\"\n".into(), "rules[0].glob"),
        (
            "[[rules]]\nglob = \"*\"\ncache_control = \"a\\nb\"\n".into(),
            "rules[0].cache_control",
        ),
        (
            "[cache_control]\nimmutable = \"\"\n".into(),
            "cache_control.immutable",
        ),
        (
            "[cache_control]\nfingerprint_patterns = ['(']\n".into(),
            "cache_control.fingerprint_patterns[0]",
        ),
        (
            "[cors]\nallow_origins = [\"https://a.*.example.com\"]\n".into(),
            "cors.allow_origins[0]",
        ),
        (
            "[origin]\ndrop_request_headers = [\"bad header\"]\n".into(),
            "origin.drop_request_headers",
        ),
        ("[origin]\nurl = \"ftp://x\"\n".into(), "origin.url"),
        (format!("[cache]\ndir = \"{file}/cache\"\n"), "cache.dir"),
        (
            "[server]\nroot = \"/nonexistent-cdn-edge-root\"\n".into(),
            "nonexistent-cdn-edge-root",
        ),
        (format!("[server]\nroot = \"{file}\"\n"), "not a directory"),
        (
            "[server]\nready_path = \"/healthz\"\n".into(),
            "server.ready_path",
        ),
        (
            "[log]\naccess_format = \"apache\"\n".into(),
            "log.access_format",
        ),
        (
            "[log]\ntrusted_proxies = [\"10.0.0.0/99\"]\n".into(),
            "log.trusted_proxies[0]",
        ),
        (
            format!("[log]\naccess = \"{file}/access.log\"\n"),
            "log.access",
        ),
        // Issue 20's rule keys: file:line, the key, what is allowed.
        (
            "[[rules]]\nglob = \"*\"\n\nquery = \"drop\"\n".into(),
            "check.toml:4: rules[0].query = \"drop\": \"keep\", \"ignore\"",
        ),
        (
            "[[rules]]\nglob = \"*\"\nedge_ttl = \"soon\"\n".into(),
            "rules[0].edge_ttl",
        ),
        (
            "[[rules]]\nglob = \"*\"\nedge_ttl_mode = \"always\"\n".into(),
            "rules[0].edge_ttl_mode",
        ),
        (
            "[[rules]]\nglob = \"*\"\nstale_if_error = 5\n".into(),
            "rules[0].stale_if_error",
        ),
        (
            "[[rules]]\nglob = \"*\"\nfallback = \"index.html\"\n".into(),
            "rules[0].fallback",
        ),
        (
            "[[rules]]\nglob = \"*\"\nerror_pages = { 302 = \"/x.html\" }\n".into(),
            "rules[0].error_pages",
        ),
    ];
    for (toml, names) in &cases {
        let (status, out, err) = check(f.parent(), toml, &["--listen", "127.0.0.1:0"]);
        assert_eq!(status.code(), Some(2), "{toml}: {out}{err}");
        let lines = nonempty_lines(&err);
        assert_eq!(lines.len(), 1, "{toml}: {err}");
        assert!(lines[0].contains(names), "{toml}: {err}");
        assert!(out.is_empty(), "{toml}: {out}");
        // `serve` refuses the same file with the same line.
        let cfg = f.parent().join("check.toml");
        let (status, serve_err) = run_to_exit(
            &[
                "serve".into(),
                "--config".into(),
                cfg.into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
            ],
            None,
        );
        assert_eq!(status.code(), Some(2), "{toml}: {serve_err}");
        assert_eq!(nonempty_lines(&serve_err), lines, "{toml}");
    }
}

#[test]
fn bare_command_prints_usage_and_exits_2() {
    let (status, out, err) = run(&[]);
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(err.contains("Usage: cdn-edge <COMMAND>"), "{err}");
    for sub in ["serve", "check", "build", "purge"] {
        assert!(err.contains(sub), "{err}");
    }
}

#[test]
fn version_names_the_commit() {
    let (status, out, _) = run(&["--version".into()]);
    assert_eq!(status.code(), Some(0));
    let line = out.trim();
    assert!(
        line.starts_with(&format!("cdn-edge {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    let commit = line
        .rsplit("(commit ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{line}"
    );
}

/// `check` runs beside a live node (systemd's ExecReload): it must not
/// scan or clean the disk cache the node is writing into.
#[test]
fn check_leaves_a_live_disk_cache_alone() {
    let f = Fixture::new();
    let root = f.root.to_str().unwrap();
    let cache = f.parent().join("cache");
    std::fs::create_dir_all(cache.join("abc")).unwrap();
    // What a running node has in flight, and a stray file a scan would drop.
    let in_flight = cache.join("abc").join(".abc0.4d2-1.tmp");
    let stray = cache
        .join("abc")
        .join("abc0000000000000000000000000000.obj");
    std::fs::write(&in_flight, b"half written").unwrap();
    std::fs::write(&stray, b"not an entry").unwrap();
    let (status, out, err) = check(
        f.parent(),
        &format!(
            "[server]\nroot = \"{root}\"\nlisten = \"127.0.0.1:0\"\n[origin]\nurl = \"http://127.0.0.1:9\"\n[cache]\ndir = \"{}\"\n",
            cache.display()
        ),
        &[],
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(
        in_flight.exists() && stray.exists(),
        "check touched the cache"
    );
    // Its own write probe is gone too.
    let left: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["abc"], "{left:?}");
}

#[test]
fn explain_says_which_rule_which_header_which_ttl_and_why() {
    let f = Fixture::new();
    let cfg = concat!(
        "[server]\nroot = \"\"\n[origin]\nurl = \"http://127.0.0.1:9\"\n",
        "[[rules]]\nglob = \"*.html\"\ncache_control = \"public, max-age=60\"\n",
        "stale_if_error = \"1d\"\nfallback = \"/index.html\"\n",
        "[[rules]]\nglob = \"assets/*\"\nedge_ttl = \"1h\"\nedge_ttl_mode = \"override\"\n",
        "headers = { X-Asset = \"1\" }\n",
    );
    let explain = |path: &str, origin: &[&str]| {
        let mut extra = vec!["--listen", "127.0.0.1:0", "--explain", path];
        for h in origin {
            extra.extend(["--origin-header", h]);
        }
        check(f.parent(), cfg, &extra)
    };
    let (status, out, err) = explain("/assets/app-LsUxLgqK.js", &["Cache-Control: no-cache"]);
    assert_eq!(status.code(), Some(0), "{out}{err}");
    for says in [
        "rules[1] (glob \"assets/*\")",
        "header added: x-asset: 1 (rules[1])",
        "public, max-age=31536000, immutable",
        "edge_ttl 1h (rules[1], override",
        "fresh here for 3600 s, from the rule's overriding edge_ttl",
    ] {
        assert!(out.contains(says), "{says}: {out}");
    }
    let (_, out, _) = explain(
        "/about.html",
        &["CDN-Cache-Control: max-age=30", "Cache-Control: max-age=5"],
    );
    for says in [
        "\"public, max-age=60\", from rules[0]",
        "fresh here for 30 s, from the origin's targeted field (CDN-Cache-Control)",
        "1day past freshness",
        "fallback: /index.html (rules[0])",
    ] {
        assert!(out.contains(says), "{says}: {out}");
    }
    let (status, out, err) = explain("/x.js", &["no colon"]);
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(nonempty_lines(&err).len(), 1, "{err}");
    assert!(err.contains("--origin-header"), "{err}");
}
