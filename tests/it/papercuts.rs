//! The papercuts of issue 19, each replayed on the real binary: usage
//! errors name what is missing; config errors name the right line and key
//! (and units, enums and deprecated names read as documented); origin-only
//! mode needs no directory, and a missing default root says what to do;
//! `purge --node host:port` works; `check` lists every listener; fonts get
//! their RFC 8081 types; nodes started together log no probe warning.

use crate::common;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use common::http2::{test_cert, tls_table};
use common::origin::{Origin, Reply};
use common::*;

/// Runs the binary to its exit in `cwd` (if given), without a purge token
/// in the environment: status, stdout and stderr.
fn run_in(args: &[&str], cwd: Option<&Path>) -> (ExitStatus, String, String) {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    run_captured(&args, cwd, &[("CDN_EDGE_PURGE_TOKEN", "")])
}

fn run(args: &[&str]) -> (ExitStatus, String, String) {
    run_in(args, None)
}

/// `check --config DIR/bad.toml` with `text` in it: status, stdout, stderr.
fn check(dir: &Path, text: &str) -> (ExitStatus, String, String) {
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, text).unwrap();
    run(&["check", "--config", cfg.to_str().unwrap()])
}

#[test]
fn a_usage_error_names_the_missing_argument_and_shows_the_usage() {
    for (args, missing, usage) in [
        (
            &["build", "plain"][..],
            "--out <DIR>",
            "Usage: cdn-edge build --out <DIR> <SRC>",
        ),
        (&["purge"][..], "<PATH>...", "Usage: cdn-edge purge"),
    ] {
        let (status, out, err) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
        let lines = nonempty_lines(&err);
        assert_eq!(
            lines[0], "cdn-edge: the following required arguments were not provided:",
            "{err}"
        );
        assert_eq!(lines[1].trim(), missing, "{err}");
        assert!(lines[2].starts_with(usage), "{err}");
    }
}

#[test]
fn config_errors_name_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let cases = [
        (
            format!("[server]\nroot = {root:?}\nlisten = \"127.0.0.1:0\"\n\n# more\nworkers = 1\n\nworkerz = 4\n"),
            "bad.toml:8: server.workerz = 4: unknown field `workerz`, expected one of",
        ),
        (
            "[server]\nworkers = 1\n\n[server]\nworkers = 2\n".to_string(),
            "bad.toml:4: [server]: a duplicate table",
        ),
        (
            format!("[server]\nroot = {root:?}\n[cache]\nmemory_bytes = 1000\n"),
            "bad.toml:4: cache.memory_bytes = 1000: at least cache.max_object_bytes (16 MiB)",
        ),
        (
            "[cache]\nadmission = \"lru\"\n".to_string(),
            "bad.toml:2: cache.admission = \"lru\": unknown variant `lru`, expected `second-hit` or `always`",
        ),
        (
            "[cache]\nmemory_bytes = \"256 XB\"\n".to_string(),
            "bad.toml:2: cache.memory_bytes = \"256 XB\": \"256 XB\" is not a size",
        ),
        (
            "[origin]\n\nfirst_byte_timeout = 10\n".to_string(),
            "bad.toml:3: origin.first_byte_timeout = 10: 10 has no unit",
        ),
        (
            "[limits]\nsend_timeout_secs = 5\nsend_timeout = \"5s\"\n".to_string(),
            "bad.toml:2: limits.send_timeout_secs = 5: not with limits.send_timeout",
        ),
        (
            "[log]\naccess_format = \"apache\"\n".to_string(),
            "bad.toml:2: log.access_format = \"apache\": unknown variant `apache`, expected `combined` or `json`",
        ),
    ];
    for (text, want) in cases {
        let (status, _, err) = check(dir.path(), &text);
        assert_eq!(status.code(), Some(2), "{text}: {err}");
        let lines = nonempty_lines(&err);
        assert_eq!(lines.len(), 1, "{text}: {err}");
        let line = lines[0].strip_prefix("cdn-edge: ").unwrap_or(lines[0]);
        let line = line.rsplit_once('/').map_or(line, |(_, l)| l);
        assert!(line.starts_with(want), "{text}\nwant: {want}\ngot:  {line}");
    }
}

#[test]
fn units_and_deprecated_names_are_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    let (status, out, err) = check(
        dir.path(),
        &format!(
            "[server]\nroot = {root:?}\nlisten = \"127.0.0.1:0\"\ndrain_secs = 5\n\
             [cache]\nmemory_bytes = \"64MiB\"\nmax_object_bytes = \"1 MiB\"\n"
        ),
    );
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(out.contains(": ok ("), "{out}");
    let warnings: Vec<&str> = nonempty_lines(&err);
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("WARN")
            && warnings[0].ends_with(
                "bad.toml:4: server.drain_secs is deprecated: write drain = \"5s\" (server.drain)"
            ),
        "{err}"
    );
}

#[test]
fn origin_only_mode_needs_no_directory() {
    let origin = Origin::start();
    origin.route(
        "/app.css",
        Reply::ok("from the origin").header("content-type", "text/css"),
    );
    // Elsewhere than the repository: no ./static.
    let cwd = tempfile::tempdir().unwrap();
    let url = origin.url();
    let flags: [&[&str]; 2] = [&["--origin", &url], &["--origin", &url, "--root", ""]];
    for extra in flags {
        let mut args: Vec<OsString> = vec!["serve".into(), "--listen".into(), "127.0.0.1:0".into()];
        args.extend(extra.iter().map(OsString::from));
        let s = Server::spawn(&args, Some(cwd.path())).unwrap_or_else(|e| panic!("{e}"));
        let r = s.get("/app.css");
        assert_eq!(r.status, 200, "{extra:?}: {}", r.summary());
        assert_eq!(r.text(), "from the origin");
        assert!(
            s.stderr_text().contains("root=\"(none: origin only)\""),
            "{}",
            s.stderr_text()
        );
    }
    // The same with a config file: `root = ""`.
    let cfg = cwd.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!("[server]\nroot = \"\"\n[origin]\nurl = {url:?}\n"),
    )
    .unwrap();
    let (status, out, err) = run(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(out.contains("root (none: origin only)"), "{out}");
    // No root and no origin: nothing to serve.
    std::fs::write(&cfg, "[server]\nroot = \"\"\n").unwrap();
    let (status, _, err) = run(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("server.root = \"\": a directory to serve, or set origin.url"),
        "{err}"
    );
}

#[test]
fn a_missing_default_root_says_what_to_do() {
    let cwd = tempfile::tempdir().unwrap();
    for sub in ["check", "serve"] {
        let (status, _, err) = run_in(&[sub, "--listen", "127.0.0.1:0"], Some(cwd.path()));
        assert_eq!(status.code(), Some(2), "{sub}: {err}");
        let lines = nonempty_lines(&err);
        assert_eq!(lines.len(), 1, "{err}");
        for says in [
            "server.root = \"static\"",
            "--root DIR",
            "repository",
            "--origin URL",
        ] {
            assert!(lines[0].contains(says), "{sub}: {says}: {err}");
        }
    }
    // A config file whose root is not there: the same advice, in the
    // config's words.
    let cfg = cwd.path().join("edge.toml");
    std::fs::write(&cfg, "[server]\nroot = \"nowhere\"\n").unwrap();
    let (status, _, err) = run(&["check", "--config", cfg.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{err}");
    for says in ["nowhere", "No such file", "--root", "origin.url"] {
        assert!(err.contains(says), "{says}: {err}");
    }
}

#[test]
fn purge_takes_a_node_without_a_scheme() {
    let f = Fixture::new();
    let token = "papercut-token-0123456789";
    let cfg = f.parent().join("purge.toml");
    std::fs::write(&cfg, format!("[purge]\ntoken = {token:?}\n")).unwrap();
    let s = Server::start_config_file(&cfg, &f.root, None);
    let node = s.addr.to_string();
    let cfg = cfg.to_str().unwrap();
    let (status, out, err) = run(&["purge", "/app.css", "--config", cfg, "--node", &node]);
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with(&format!("http://{node}: ")), "{out}");
    assert!(out.contains("\"purged\""), "{out}");
    let (status, _, err) = run(&[
        "purge",
        "/app.css",
        "--config",
        cfg,
        "--node",
        "ftp://127.0.0.1:1",
    ]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("--node ftp://127.0.0.1:1: a node's base URL, like http://127.0.0.1:8080"),
        "{err}"
    );
}

#[test]
fn check_lists_every_listener() {
    let f = Fixture::new();
    let cert = test_cert(&["localhost"]);
    let cfg = f.parent().join("tls.toml");
    std::fs::write(&cfg, tls_table(&cert, "")).unwrap();
    let (status, out, err) = run(&[
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--root",
        f.root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        out.contains("listen http://127.0.0.1:0, https://127.0.0.1:0)"),
        "{out}"
    );
}

#[test]
fn fonts_have_their_rfc_8081_types_from_files_builds_and_origins() {
    let fonts = [
        ("a.woff", "font/woff"),
        ("a.woff2", "font/woff2"),
        ("a.otf", "font/otf"),
        ("a.ttf", "font/ttf"),
        ("a.ttc", "font/collection"),
        ("a.eot", "application/vnd.ms-fontobject"),
    ];
    // Local files.
    let f = Fixture::new();
    for (name, _) in fonts {
        f.write(name, &noise(1, 300));
    }
    let s = Server::start(&f.root, "");
    for (name, want) in fonts {
        let r = s.get(&format!("/{name}"));
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(r.header("content-type"), Some(want), "{name}");
    }
    // The build's manifest.
    let out = f.parent().join("dist");
    let (status, _, err) = run(&[
        "build",
        "-q",
        "--out",
        out.to_str().unwrap(),
        f.root.to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(0), "{err}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    for (name, want) in fonts {
        assert_eq!(manifest["assets"][name]["type"], want, "{name}: {manifest}");
    }
    // Pulled objects the origin sent without a Content-Type.
    let origin = Origin::start();
    for (name, _) in fonts {
        origin.route(
            &format!("/pulled/{name}"),
            Reply::ok(noise(2, 300)).header("cache-control", "max-age=60"),
        );
    }
    let empty = tempfile::tempdir().unwrap();
    let s = Server::start(
        empty.path(),
        &format!("[origin]\nurl = {:?}\n", origin.url()),
    );
    for (name, want) in fonts {
        let r = s.get(&format!("/pulled/{name}"));
        assert_eq!(r.status, 200, "{name}: {}", r.summary());
        assert_eq!(r.header("content-type"), Some(want), "{name}");
    }
}

#[test]
fn peers_starting_together_log_no_probe_warning_but_one_that_stays_down_does() {
    let f = Fixture::new();
    // A peer that never starts: a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = format!("http://127.0.0.1:{port}");
    let s = Server::start(
        &f.root,
        &format!(
            "[cluster]\nadvertise = \"http://127.0.0.1:9\"\ntoken = \"0123456789abcdef0123\"\n\
             peers = [{peer:?}]\nprobe_interval = \"100ms\"\ndown_for = \"10s\"\n"
        ),
    );
    // Probed and found down...
    let gauge = format!("cdn_edge_cluster_peer_up{{peer=\"{peer}\"}} 0");
    assert!(
        poll_until(Duration::from_secs(20), || s
            .get("/metrics")
            .text()
            .contains(&gauge)),
        "{}",
        s.get("/metrics").text()
    );
    // ... without a warning while it may be starting.
    assert!(!s.stderr_text().contains("WARN"), "{}", s.stderr_text());
    // Once one down_for has passed, a peer still silent is reported, once.
    s.advance(10);
    let said = "cluster peer has not answered since this node started";
    assert!(
        poll_until(Duration::from_secs(20), || s.stderr_text().contains(said)),
        "{}",
        s.stderr_text()
    );
    let text = s.stderr_text();
    assert_eq!(text.matches(said).count(), 1, "{text}");
    assert!(!text.contains("failed its probe"), "{text}");
}
