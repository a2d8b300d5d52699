//! Process lifecycle: health endpoint, flags over file over defaults,
//! refusing bad configuration with one line, graceful SIGTERM.

use crate::common;

use common::*;
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn healthz_is_200() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "");
    let r = s.get("/healthz");
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = s.head_h("/healthz", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn empty_config_file_serves_with_defaults() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "");
    let r = s.get("/plain.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, PLAIN_TXT);
    assert_eq!(r.header("cache-control"), Some("public, no-cache"));
    assert_eq!(
        s.get("/app.3f2a9c1b7d.js").header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn health_path_is_configurable() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "[server]\nhealth_path = \"/ready\"\n");
    assert_eq!(s.get("/ready").status, 200);
    assert_eq!(s.get("/healthz").status, 404);
}

#[test]
fn empty_health_path_disables_it() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "[server]\nhealth_path = \"\"\n");
    assert_eq!(s.get("/healthz").status, 404);
    assert_eq!(s.get("/plain.txt").status, 200);
}

#[test]
fn flags_override_config_file() {
    let f = Fixture::new();
    // The file names a root that does not exist and a fixed port; the flags
    // (`--root`, `--listen 127.0.0.1:0`) must win.
    let s = Server::start(
        &f.root,
        "[server]\nroot = \"/nonexistent-cdn-edge-root\"\nlisten = \"127.0.0.1:1\"\n",
    );
    assert_ne!(s.addr.port(), 1);
    assert_eq!(s.get("/plain.txt").body, PLAIN_TXT);
}

#[test]
fn relative_root_resolves_against_config_dir() {
    let f = Fixture::new();
    // <parent>/conf/config.toml with root = "../root"; run from another cwd.
    let conf_dir = f.parent().join("conf");
    fs::create_dir_all(&conf_dir).unwrap();
    let cfg = conf_dir.join("config.toml");
    fs::write(&cfg, "[server]\nroot = \"../root\"\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let args: Vec<OsString> = vec![
        "serve".into(),
        "--config".into(),
        cfg.into_os_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let s = Server::spawn(&args, Some(elsewhere.path())).unwrap_or_else(|e| panic!("{e}"));
    let r = s.get("/plain.txt");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, PLAIN_TXT);
}

#[test]
fn workers_setting_is_accepted() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "[server]\nworkers = 2\n");
    assert_eq!(s.get("/plain.txt").status, 200);
}

/// Asserts a refused start: non-zero exit and exactly one non-empty stderr
/// line containing every `needle` (case-insensitive).
fn assert_refused(status: std::process::ExitStatus, stderr: &str, needles: &[&str], ctx: &str) {
    assert!(
        !status.success(),
        "{ctx}: exited successfully; stderr:\n{stderr}"
    );
    let lines = nonempty_lines(stderr);
    assert_eq!(
        lines.len(),
        1,
        "{ctx}: expected ONE stderr line, got {}:\n{stderr}",
        lines.len()
    );
    let line = lines[0].to_ascii_lowercase();
    for n in needles {
        assert!(
            line.contains(&n.to_ascii_lowercase()),
            "{ctx}: stderr line does not name {n:?}: {}",
            lines[0]
        );
    }
}

fn refuse_config(config: &str, needles: &[&str]) {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(&f.root, config);
    assert_refused(status, &stderr, needles, config);
}

#[test]
fn unknown_key_is_refused() {
    refuse_config("[server]\nbogus_key = 1\n", &["bogus_key"]);
}

#[test]
fn unknown_section_is_refused() {
    refuse_config("[bogus_section]\nx = 1\n", &["bogus_section"]);
}

#[test]
fn negative_workers_is_refused() {
    refuse_config("[server]\nworkers = -1\n", &["server.workers", "-1"]);
}

#[test]
fn nonsense_listen_is_refused() {
    refuse_config(
        "[server]\nlisten = \"nonsense\"\n",
        &["server.listen", "nonsense"],
    );
}

#[test]
fn wrong_type_is_refused() {
    refuse_config(
        "[cache]\nmemory_bytes = \"lots\"\n",
        &["cache.memory_bytes", "lots"],
    );
}

#[test]
fn bad_glob_is_refused() {
    refuse_config("[[rules]]\nglob = \"a[b\"\n", &["glob", "a[b"]);
}

#[test]
fn header_value_with_newline_is_refused() {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(
        &f.root,
        "[[rules]]\nglob = \"*\"\nheaders = { \"X-Test\" = \"a\\nInjected: b\" }\n",
    );
    assert_refused(status, &stderr, &[], "header newline");
    let line = nonempty_lines(&stderr)[0].to_ascii_lowercase();
    assert!(
        line.contains("x-test") || line.contains("headers"),
        "does not name the header key: {stderr}"
    );
}

#[test]
fn invalid_header_name_is_refused() {
    refuse_config(
        "[[rules]]\nglob = \"*\"\nheaders = { \"Bad Name\" = \"v\" }\n",
        &["bad name"],
    );
}

#[test]
fn unparsable_toml_is_refused() {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(&f.root, "[server\nlisten = \n");
    assert!(!status.success(), "stderr:\n{stderr}");
    assert_eq!(nonempty_lines(&stderr).len(), 1, "stderr:\n{stderr}");
}

#[test]
fn missing_config_file_is_refused() {
    let f = Fixture::new();
    let (status, stderr) = run_to_exit(
        &[
            "serve".into(),
            "--config".into(),
            f.parent().join("no-such-config.toml").into_os_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ],
        None,
    );
    assert!(!status.success(), "stderr:\n{stderr}");
    assert_eq!(nonempty_lines(&stderr).len(), 1, "stderr:\n{stderr}");
    assert!(stderr.contains("no-such-config.toml"), "stderr:\n{stderr}");
}

#[test]
fn bad_listen_flag_is_refused() {
    let f = Fixture::new();
    let (status, stderr) = run_to_exit(
        &[
            "serve".into(),
            "--listen".into(),
            "nonsense".into(),
            "--root".into(),
            f.root.clone().into_os_string(),
        ],
        None,
    );
    // A usage error is clap's whole message: the error, then its tip.
    let stderr = stderr.replace("For more information, try '--help'.", "");
    assert_refused(
        status,
        &stderr,
        &["listen", "nonsense"],
        "--listen nonsense",
    );
}

#[test]
fn sigterm_exits_zero() {
    let f = Fixture::new();
    let mut s = Server::start(&f.root, "");
    assert_eq!(s.get("/plain.txt").status, 200);
    s.sigterm();
    let status = s
        .wait_exit(EXIT_TIMEOUT)
        .unwrap_or_else(|| panic!("no exit after SIGTERM; stderr:\n{}", s.stderr_text()));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; stderr:\n{}",
        s.stderr_text()
    );
}

#[test]
fn in_flight_request_finishes_across_sigterm() {
    let f = Fixture::new();
    // 24 MiB: more than loopback socket buffers hold, so the response is
    // still being written when SIGTERM arrives.
    let big: Vec<u8> = (0..24 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    f.write("big.bin", &big);
    let mut s = Server::start(
        &f.root,
        "[server]\nshutdown_timeout_secs = 30\n[cache]\nmax_object_bytes = 67108864\n",
    );
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // Read the head and a little of the body, then signal.
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the head");
        raw.extend_from_slice(&chunk[..n]);
    }
    s.sigterm();
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read failed after SIGTERM ({e}) at {} bytes", raw.len()),
        }
    }
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body.len(),
        big.len(),
        "response was cut short by shutdown"
    );
    assert!(r.body == big);
    let status = s.wait_exit(EXIT_TIMEOUT).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", s.stderr_text());
}
