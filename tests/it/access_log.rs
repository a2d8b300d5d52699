//! The access log over real HTTP: one line per request once its body is
//! sent, nginx `combined` (plus duration, cache status and upstream time)
//! or JSON, to a file or stdout, the client from `X-Forwarded-For` only
//! behind trusted proxies, reopened on SIGUSR1, and lost lines counted.
//! Also: an origin fault's body names neither the origin nor the OS error.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::origin::{Origin, Reply};
use common::*;

/// A `combined` line, split into its fields.
#[derive(Debug)]
struct Line {
    client: String,
    time: String,
    request: String,
    status: u16,
    bytes: u64,
    referer: String,
    user_agent: String,
    duration_us: u64,
    cache: String,
    upstream: String,
    encoding: String,
}

fn parse(line: &str) -> Line {
    // Quotes inside fields are escaped (\x22), so '"' splits the fields.
    let parts: Vec<&str> = line.split('"').collect();
    assert_eq!(parts.len(), 7, "not a combined line: {line}");
    let head: Vec<&str> = parts[0].splitn(4, ' ').collect();
    assert_eq!(&head[1..3], &["-", "-"], "{line}");
    let time = head[3]
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or_else(|| panic!("time in {line}"));
    let mid: Vec<&str> = parts[2].split_whitespace().collect();
    let tail: Vec<&str> = parts[6].split_whitespace().collect();
    assert_eq!(mid.len(), 2, "{line}");
    assert_eq!(tail.len(), 4, "{line}");
    Line {
        client: head[0].to_string(),
        time: time.to_string(),
        request: parts[1].to_string(),
        status: mid[0].parse().unwrap(),
        bytes: mid[1].parse().unwrap(),
        referer: parts[3].to_string(),
        user_agent: parts[5].to_string(),
        duration_us: tail[0].parse().unwrap(),
        cache: tail[1].to_string(),
        upstream: tail[2].to_string(),
        encoding: tail[3].to_string(),
    }
}

/// Lines of `path` once it holds at least `n` (polled, with a deadline).
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let ok = poll_until(CHANGE_TIMEOUT, || {
        lines = fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        lines.len() >= n
    });
    assert!(
        ok,
        "{} has {} lines, want {n}: {lines:?}",
        path.display(),
        lines.len()
    );
    lines
}

/// The line for `target` among `lines`.
fn line_for<'a>(lines: &'a [String], method: &str, target: &str) -> &'a str {
    let want = format!("\"{method} {target} HTTP/1.1\"");
    lines
        .iter()
        .find(|l| l.contains(&want))
        .unwrap_or_else(|| panic!("no line for {method} {target}: {lines:#?}"))
}

/// A server logging to `<dir>/access.log` with `extra` under `[log]`.
fn logging(f: &Fixture, dir: &Path, extra: &str, more: &str) -> Server {
    let cfg = format!(
        "[server]\nrefresh_ms = 50\n{more}\n[log]\naccess = \"{}\"\naccess_flush_ms = 20\n{extra}",
        dir.join("access.log").display()
    );
    Server::start(&f.root, &cfg)
}

#[test]
fn combined_lines_carry_every_field() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = logging(&f, dir.path(), "", "");
    let plain = s.get_h(
        "/plain.txt?v=1",
        &[
            ("Referer", "https://www.example.com/page"),
            ("User-Agent", "tester \"quoted\"/1.0"),
        ],
    );
    assert_eq!(plain.status, 200);
    assert_eq!(s.head_h("/plain.txt", &[]).status, 200);
    let missing = s.get("/missing.txt");
    assert_eq!(missing.status, 404);
    let lines = wait_lines(&dir.path().join("access.log"), 3);

    let l = parse(line_for(&lines, "GET", "/plain.txt?v=1"));
    assert_eq!(l.client, "127.0.0.1");
    assert_eq!(l.request, "GET /plain.txt?v=1 HTTP/1.1");
    assert_eq!(l.status, 200);
    assert_eq!(l.bytes, plain.body.len() as u64);
    assert_eq!(l.referer, "https://www.example.com/page");
    assert_eq!(l.user_agent, "tester \\x22quoted\\x22/1.0");
    assert_eq!(l.cache, "local");
    assert_eq!(l.upstream, "-");
    assert_eq!(l.encoding, "-", "identity");
    assert!(l.duration_us > 0);
    // [06/Nov/2024:08:49:37 +0000]
    assert_eq!(l.time.len(), 26, "{}", l.time);
    assert!(l.time.ends_with(" +0000"), "{}", l.time);

    let head = parse(line_for(&lines, "HEAD", "/plain.txt"));
    assert_eq!((head.status, head.bytes), (200, 0));
    assert_eq!(
        (head.referer.as_str(), head.user_agent.as_str()),
        ("-", "-")
    );
    let nf = parse(line_for(&lines, "GET", "/missing.txt"));
    assert_eq!((nf.status, nf.bytes), (404, missing.body.len() as u64));
    assert_eq!(nf.cache, "none");
}

#[test]
fn relative_log_path_resolves_against_the_config_dir() {
    let f = Fixture::new();
    let conf = tempfile::tempdir().unwrap();
    let cfg = conf.path().join("config.toml");
    fs::write(
        &cfg,
        "[log]\naccess = \"logs/access.log\"\naccess_flush_ms = 20\n",
    )
    .unwrap();
    fs::create_dir(conf.path().join("logs")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let s = Server::start_config_file(&cfg, &f.root, Some(elsewhere.path()));
    assert_eq!(s.get("/plain.txt").status, 200);
    wait_lines(&conf.path().join("logs/access.log"), 1);
}

#[test]
fn an_unopenable_log_file_is_refused_at_start() {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(
        &f.root,
        "[log]\naccess = \"/nonexistent-cdn-edge-dir/access.log\"\n",
    );
    assert!(!status.success(), "{stderr}");
    let lines = nonempty_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("log.access"), "{stderr}");
    assert!(
        lines[0].contains("/nonexistent-cdn-edge-dir/access.log"),
        "{stderr}"
    );
}

#[test]
fn cache_status_and_upstream_time_of_pulled_objects() {
    let o = Origin::start();
    o.route(
        "/lib/app.js",
        Reply::ok("console.log(1)").header("cache-control", "public, max-age=60"),
    );
    o.route(
        "/private.js",
        Reply::ok("secret").header("cache-control", "no-store"),
    );
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = logging(
        &f,
        dir.path(),
        "",
        &format!("[origin]\nurl = \"{}\"\n", o.url()),
    );
    assert_eq!(s.get("/lib/app.js?a").status, 200);
    assert_eq!(s.get("/lib/app.js?a").status, 200);
    assert_eq!(s.get("/private.js").status, 200);
    // Workers hand over their lines separately: the order across workers
    // is not the order of the requests.
    let lines = wait_lines(&dir.path().join("access.log"), 3);
    let app: Vec<Line> = lines
        .iter()
        .filter(|l| l.contains("/lib/app.js"))
        .map(|l| parse(l))
        .collect();
    let miss = app.iter().find(|l| l.cache == "miss").expect("a miss");
    let hit = app.iter().find(|l| l.cache == "hit").expect("a hit");
    let pass = parse(line_for(&lines, "GET", "/private.js"));
    assert!(miss.upstream.parse::<u64>().is_ok(), "{lines:#?}");
    assert!(miss.upstream.parse::<u64>().unwrap() <= miss.duration_us);
    assert_eq!((hit.cache.as_str(), hit.upstream.as_str()), ("hit", "-"));
    assert_eq!(pass.cache, "pass");
    assert!(pass.upstream.parse::<u64>().is_ok(), "{lines:#?}");
    assert_eq!(pass.bytes, 6);
}

#[test]
fn origin_faults_tell_the_client_only_the_kind_of_fault() {
    let o = Origin::start();
    o.route("/slow", Reply::ok("late").delay(Duration::from_secs(3)));
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let origin_cfg = format!(
        "[origin]\nurl = \"{}\"\nfirst_byte_timeout_ms = 500\ntotal_timeout_ms = 1000\n",
        o.url()
    );
    let s = logging(&f, dir.path(), "", &origin_cfg);
    let port = o.url().rsplit(':').next().unwrap().to_string();
    let timed_out = s.get("/slow");
    assert_eq!(timed_out.status, 504, "{}", timed_out.summary());
    assert_eq!(timed_out.text(), "origin timed out\n");
    o.shutdown();
    for (method, r) in [
        ("GET", s.get("/gone.css")),
        ("POST", s.post("/form", &[], b"a=1")),
    ] {
        assert_eq!(r.status, 502, "{method}: {}", r.summary());
        assert_eq!(r.text(), "origin unreachable\n", "{method}");
        let all = format!("{}{:?}", r.text(), r.headers);
        for secret in ["127.0.0.1", port.as_str(), "refused", "os error", "tcp"] {
            assert!(!all.contains(secret), "{method}: {secret} leaked: {all}");
        }
    }
    // The detail is in the node's log, with the origin's address.
    assert!(poll_until(CHANGE_TIMEOUT, || {
        let err = s.stderr_text();
        err.contains("origin unreachable") && err.contains(&o.url()) && err.contains("/gone.css")
    }));
    let lines = wait_lines(&dir.path().join("access.log"), 3);
    let gone = parse(line_for(&lines, "GET", "/gone.css"));
    assert_eq!((gone.status, gone.cache.as_str()), (502, "error"));
    assert_eq!(parse(line_for(&lines, "GET", "/slow")).cache, "error");
    assert_eq!(parse(line_for(&lines, "POST", "/form")).cache, "error");
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let xff = [("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.1.2.3")];
    let trusting = logging(
        &f,
        dir.path(),
        "trusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\naccess_format = \"json\"\n",
        "",
    );
    assert_eq!(trusting.get_h("/plain.txt", &xff).status, 200);
    let line = &wait_lines(&dir.path().join("access.log"), 1)[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["client"], "203.0.113.9", "{line}");
    assert_eq!(v["peer"], "127.0.0.1", "{line}");

    let dir2 = tempfile::tempdir().unwrap();
    let untrusting = logging(&f, dir2.path(), "trusted_proxies = [\"10.0.0.0/8\"]\n", "");
    assert_eq!(untrusting.get_h("/plain.txt", &xff).status, 200);
    let line = &wait_lines(&dir2.path().join("access.log"), 1)[0];
    assert_eq!(parse(line).client, "127.0.0.1", "{line}");
}

#[test]
fn json_lines_are_valid_objects_with_every_field() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = logging(&f, dir.path(), "access_format = \"json\"\n", "");
    // A user agent with a quote, a backslash and a byte that is not UTF-8.
    let raw = b"GET /plain.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: a\"b\\c\xffd\r\nConnection: close\r\n\r\n";
    let r = parse_response(&send_raw(s.addr, raw), false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/missing.txt").status, 404);
    let lines = wait_lines(&dir.path().join("access.log"), 2);
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in [
            "time",
            "client",
            "peer",
            "method",
            "target",
            "protocol",
            "status",
            "body_bytes",
            "referer",
            "user_agent",
            "duration_us",
            "cache",
            "upstream_us",
            "encoding",
        ] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
        assert!(v["duration_us"].is_u64(), "{line}");
        assert!(v["upstream_us"].is_null(), "{line}");
        assert!(v["encoding"].is_null(), "identity: {line}");
    }
    let ok: serde_json::Value =
        serde_json::from_str(lines.iter().find(|l| l.contains("\"status\":200")).unwrap()).unwrap();
    assert_eq!(ok["user_agent"], "a\"b\\c\u{fffd}d");
    assert_eq!(ok["body_bytes"], r.body.len() as u64);
    assert_eq!(ok["protocol"], "HTTP/1.1");
    assert_eq!(ok["cache"], "local");
    assert!(ok["referer"].is_null());
}

#[test]
fn stdout_is_the_default_and_off_logs_nothing() {
    let f = Fixture::new();
    let s = Server::start(&f.root, "[log]\naccess_flush_ms = 20\n");
    assert_eq!(s.get("/plain.txt?to-stdout").status, 200);
    assert!(
        poll_until(CHANGE_TIMEOUT, || s
            .stdout_lines()
            .iter()
            .any(|l| l.contains("\"GET /plain.txt?to-stdout HTTP/1.1\" 200 "))),
        "{:?}",
        s.stdout_lines()
    );
    let off = Server::start(&f.root, "[log]\naccess = \"off\"\n");
    assert_eq!(off.get("/plain.txt").status, 200);
    let m = off.get("/metrics").text();
    assert!(m.contains("cdn_edge_access_log_lines_total 0"), "{m}");
    assert!(off.stdout_lines().is_empty(), "{:?}", off.stdout_lines());
}

#[test]
fn sigusr1_reopens_the_file_after_logrotate_renamed_it() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let s = logging(&f, dir.path(), "", "");
    let log: PathBuf = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    assert_eq!(s.get("/plain.txt?before").status, 200);
    wait_lines(&log, 1);
    fs::rename(&log, &rotated).unwrap();
    s.signal("USR1");
    // Lines written before the reopen still reach the renamed file; poll
    // until one lands in the new one.
    let mut n = 0;
    let reopened = poll_until(CHANGE_TIMEOUT, || {
        n += 1;
        assert_eq!(s.get(&format!("/plain.txt?after-{n}")).status, 200);
        fs::read_to_string(&log).is_ok_and(|t| t.contains("?after-"))
    });
    assert!(
        reopened,
        "no new access.log after SIGUSR1; stderr:\n{}",
        s.stderr_text()
    );
    let old = fs::read_to_string(&rotated).unwrap();
    let new = fs::read_to_string(&log).unwrap();
    assert!(old.contains("?before"), "{old}");
    assert!(!new.contains("?before"), "{new}");
    // The node is still up, and still logs to the new file.
    assert_eq!(s.get("/plain.txt?later").status, 200);
    assert!(poll_until(CHANGE_TIMEOUT, || fs::read_to_string(&log)
        .is_ok_and(|t| t.contains("?later"))));
}

#[test]
fn lines_that_cannot_be_written_are_counted_as_dropped() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        "[log]\naccess = \"/dev/full\"\naccess_flush_ms = 20\n",
    );
    for _ in 0..5 {
        assert_eq!(s.get("/plain.txt").status, 200);
    }
    let dropped = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("cdn_edge_access_log_dropped_lines_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(
        poll_until(CHANGE_TIMEOUT, || dropped(&s.get("/metrics").text()) >= 5.0),
        "{}",
        s.get("/metrics").text()
    );
}

#[test]
fn lines_still_buffered_at_shutdown_are_written() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    // A flush interval far longer than the test: only the shutdown writes.
    let mut s = Server::start(
        &f.root,
        &format!(
            "[log]\naccess = \"{}\"\naccess_flush_ms = 60000\n",
            log.display()
        ),
    );
    for i in 0..4 {
        assert_eq!(s.get(&format!("/plain.txt?{i}")).status, 200);
    }
    s.sigterm();
    let status = s.wait_exit(EXIT_TIMEOUT).expect("exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", s.stderr_text());
    let text = fs::read_to_string(&log).unwrap();
    for i in 0..4 {
        assert!(text.contains(&format!("/plain.txt?{i} ")), "{text}");
    }
}

#[test]
fn http2_requests_are_logged_with_their_protocol() {
    use common::http2::{test_cert, tls_table, Client, HTTP2};
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cert = test_cert(&["localhost"]);
    let cfg = format!(
        "[log]\naccess = \"{}\"\naccess_flush_ms = 20\n{}",
        dir.path().join("access.log").display(),
        tls_table(&cert, "")
    );
    let s = Server::start(&f.root, &cfg);
    let mut sizes = Vec::new();
    for proto in HTTP2 {
        let r = Client::new(&s, &cert, proto).get(&format!("/plain.txt?{proto:?}"), &[]);
        assert_eq!(r.status, 200);
        sizes.push((format!("{proto:?}"), r.body.len() as u64));
    }
    let lines = wait_lines(&dir.path().join("access.log"), 2);
    for (proto, size) in sizes {
        let line = lines
            .iter()
            .find(|l| l.contains(&format!("\"GET /plain.txt?{proto} HTTP/2.0\"")))
            .unwrap_or_else(|| panic!("no HTTP/2 line for {proto}: {lines:#?}"));
        let l = parse(line);
        assert_eq!((l.status, l.bytes, l.cache.as_str()), (200, size, "local"));
    }
}
