//! Every `[log]` key applies on SIGHUP, over real HTTP to the real binary:
//! the format and the trusted proxies of lines written after the reload,
//! the target (another file, stdout, off and on again) with no line lost
//! or duplicated, lines still buffered at the reload going to the old
//! target, a response in flight logged once, and a new file that cannot be
//! opened refusing the reload while the old log goes on; and under load,
//! across three reloads, every line once, each file in its one format.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::reload::{toml_path, KeepAlive, Node};
use common::*;

/// A config serving `root` and logging to `access` with `extra` under `[log]`.
fn config(root: &Path, access: &str, extra: &str) -> String {
    format!(
        "[server]\nroot = {}\n[cache]\nmax_object_bytes = 65536\n[log]\naccess = {access}\n{extra}",
        toml_path(root)
    )
}

/// The lines of `path` (none when it does not exist).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The request line's `target` as the log writes it in either format.
fn names(line: &str, target: &str) -> bool {
    line.contains(&format!("\"GET {target} HTTP/1.1\""))
        || line.contains(&format!("\"target\":\"{target}\","))
}

/// How many lines of `lines` log `GET target`.
fn count(lines: &[String], target: &str) -> usize {
    lines.iter().filter(|l| names(l, target)).count()
}

/// Waits until each of `targets` is logged in `path`; returns its lines.
fn wait_logged(path: &Path, targets: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    let ok = poll_until(CHANGE_TIMEOUT, || {
        seen = lines(path);
        targets.iter().all(|t| count(&seen, t) > 0)
    });
    assert!(
        ok,
        "{} lacks some of {targets:?}: {seen:#?}",
        path.display()
    );
    seen
}

fn is_json(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok()
}

fn get_ok(n: &Node, target: &str) {
    let r = n.get(target);
    assert_eq!(r.status, 200, "{target}: {}", r.summary());
}

#[test]
fn the_format_changes_for_lines_after_the_reload_on_connections_kept_open() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let before = config(&f.root, &toml_path(&log), "access_flush_ms = 20\n");
    let n = Node::start(&before);
    let mut kept = KeepAlive::open(n.addr);
    assert_eq!(kept.get("/plain.txt?old", &[]).unwrap().status, 200);
    let old = wait_logged(&log, &["/plain.txt?old".into()]);
    assert!(!is_json(&old[0]), "{}", old[0]);

    n.reload_ok(&before.replace("[log]\n", "[log]\naccess_format = \"json\"\n"));
    // The connection opened before the reload serves on, logged as JSON.
    assert_eq!(kept.get("/plain.txt?new", &[]).unwrap().status, 200);
    let all = wait_logged(&log, &["/plain.txt?new".into()]);
    let new = all.iter().find(|l| names(l, "/plain.txt?new")).unwrap();
    let v: serde_json::Value = serde_json::from_str(new).unwrap_or_else(|e| panic!("{e}: {new}"));
    assert_eq!(
        (v["status"].as_u64(), v["cache"].as_str()),
        (Some(200), Some("local"))
    );
    assert_eq!(count(&all, "/plain.txt?old"), 1, "{all:#?}");
}

#[test]
fn a_new_file_gets_the_lines_after_the_reload_and_the_old_one_keeps_those_before() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    // Lines wait in the workers' buffers for a minute: only the reload
    // hands them over.
    let n = Node::start(&config(
        &f.root,
        &toml_path(&a),
        "access_flush_ms = 60000\n",
    ));
    let before: Vec<String> = (0..20).map(|i| format!("/plain.txt?before-{i}")).collect();
    for t in &before {
        get_ok(&n, t);
    }
    n.reload_ok(&config(&f.root, &toml_path(&b), "access_flush_ms = 20\n"));
    let after: Vec<String> = (0..20).map(|i| format!("/plain.txt?after-{i}")).collect();
    for t in &after {
        get_ok(&n, t);
    }
    let in_a = wait_logged(&a, &before);
    let in_b = wait_logged(&b, &after);
    for t in &before {
        assert_eq!((count(&in_a, t), count(&in_b, t)), (1, 0), "{t}");
    }
    for t in &after {
        assert_eq!((count(&in_a, t), count(&in_b, t)), (0, 1), "{t}");
    }
}

#[test]
fn a_response_sent_across_the_reload_is_logged_once_with_the_new_settings() {
    let f = Fixture::new();
    // Far more than the socket buffers hold: the body cannot be sent
    // before the client reads it.
    const SIZE: usize = 32 << 20;
    f.write("big.bin", &vec![7u8; SIZE]);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let n = Node::start(&config(&f.root, &toml_path(&a), "access_flush_ms = 20\n"));
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&n.addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 64 * 1024];
    stream.read_exact(&mut got).unwrap();
    assert!(got.starts_with(b"HTTP/1.1 200"));

    n.reload_ok(&config(
        &f.root,
        &toml_path(&b),
        "access_flush_ms = 20\naccess_format = \"json\"\n",
    ));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    let body =
        got.len() + rest.len() - (got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    assert_eq!(body, SIZE);
    get_ok(&n, "/plain.txt?after");
    let in_b = wait_logged(&b, &["/big.bin".into(), "/plain.txt?after".into()]);
    let line = in_b.iter().find(|l| names(l, "/big.bin")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["body_bytes"].as_u64(), Some(SIZE as u64), "{line}");
    assert_eq!(count(&in_b, "/big.bin"), 1, "{in_b:#?}");
    assert_eq!(count(&lines(&a), "/big.bin"), 0, "{:#?}", lines(&a));
}

#[test]
fn trusted_proxies_apply_after_the_reload() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let json = "access_flush_ms = 20\naccess_format = \"json\"\n";
    let n = Node::start(&config(&f.root, &toml_path(&log), json));
    let xff = [("X-Forwarded-For", "198.51.100.1, 203.0.113.9")];
    assert_eq!(n.get_h("/plain.txt?untrusted", &xff).status, 200);
    n.reload_ok(&config(
        &f.root,
        &toml_path(&log),
        &format!("{json}trusted_proxies = [\"127.0.0.0/8\"]\n"),
    ));
    assert_eq!(n.get_h("/plain.txt?trusted", &xff).status, 200);
    let all = wait_logged(
        &log,
        &["/plain.txt?untrusted".into(), "/plain.txt?trusted".into()],
    );
    let client = |target: &str| {
        let line = all.iter().find(|l| names(l, target)).unwrap();
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        (v["client"].clone(), v["peer"].clone())
    };
    assert_eq!(
        client("/plain.txt?untrusted"),
        ("127.0.0.1".into(), "127.0.0.1".into())
    );
    assert_eq!(
        client("/plain.txt?trusted"),
        ("203.0.113.9".into(), "127.0.0.1".into())
    );
}

#[test]
fn a_new_file_that_cannot_be_opened_refuses_the_reload_and_the_old_log_goes_on() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let good = format!(
        "{}[cors]\nallow_origins = []\n",
        config(&f.root, &toml_path(&log), "access_flush_ms = 20\n")
    );
    let n = Node::start(&good);
    let missing = dir.path().join("no-such-dir/access.log");
    // A CORS change rides along: refused with the rest.
    let bad = format!(
        "{}[cors]\nallow_origins = [\"https://a.example\"]\n",
        config(
            &f.root,
            &toml_path(&missing),
            "access_flush_ms = 20\naccess_format = \"json\"\n"
        )
    );
    let said = n.reload_with(&bad);
    assert_eq!(said.len(), 1, "{said:#?}");
    assert!(
        said[0].contains("refused")
            && said[0].contains("log.access")
            && said[0].contains(&missing.display().to_string()),
        "{}",
        said[0]
    );
    let r = n.get_h("/plain.txt?still", &[("Origin", "https://a.example")]);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let all = wait_logged(&log, &["/plain.txt?still".into()]);
    assert!(all.iter().all(|l| !is_json(l)), "{all:#?}");
    assert!(!missing.exists());
    assert!(
        n.stderr_text()
            .lines()
            .filter(|l| l.contains("refused"))
            .count()
            == 1
    );
}

#[test]
fn the_log_turns_on_from_off_moves_to_stdout_and_off_again() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let n = Node::start(&config(&f.root, "\"off\"", "access_flush_ms = 20\n"));
    get_ok(&n, "/plain.txt?dark-1");
    n.reload_ok(&config(&f.root, "\"stdout\"", "access_flush_ms = 20\n"));
    get_ok(&n, "/plain.txt?stdout");
    assert!(
        poll_until(CHANGE_TIMEOUT, || count(
            &n.stdout_lines(),
            "/plain.txt?stdout"
        ) == 1),
        "{:#?}",
        n.stdout_lines()
    );
    n.reload_ok(&config(&f.root, "\"off\"", "access_flush_ms = 20\n"));
    get_ok(&n, "/plain.txt?dark-2");
    n.reload_ok(&config(&f.root, &toml_path(&log), "access_flush_ms = 20\n"));
    get_ok(&n, "/plain.txt?file");
    let in_file = wait_logged(&log, &["/plain.txt?file".into()]);
    // What was answered while the log was off is nowhere.
    let stdout = n.stdout_lines();
    for dark in ["/plain.txt?dark-1", "/plain.txt?dark-2"] {
        assert_eq!(count(&stdout, dark) + count(&in_file, dark), 0, "{dark}");
    }
    assert_eq!(count(&stdout, "/plain.txt?file"), 0);
    assert_eq!(in_file.len(), 1, "{in_file:#?}");
    let metrics = n.get("/metrics").text();
    assert!(
        metrics.contains("cdn_edge_access_log_lines_total 2"),
        "{metrics}"
    );
}

#[test]
fn reloads_under_load_move_every_line_once_and_each_file_keeps_one_format() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| dir.path().join(format!("{n}.log")))
        .collect();
    let format = |i: usize| {
        if i.is_multiple_of(2) {
            "combined"
        } else {
            "json"
        }
    };
    let cfg = |i: usize| {
        config(
            &f.root,
            &toml_path(&files[i]),
            &format!("access_flush_ms = 20\naccess_format = \"{}\"\n", format(i)),
        )
    };
    let n = Node::start(&cfg(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (addr, stop) = (n.addr, stop.clone());
            std::thread::spawn(move || {
                let mut sent = Vec::new();
                let mut kept = KeepAlive::open(addr);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || sent.len() < 20 {
                    let t = format!("/plain.txt?c{c}-{}", sent.len());
                    let r = kept.get(&t, &[]).unwrap_or_else(|e| panic!("{t}: {e}"));
                    assert_eq!(r.status, 200, "{t}");
                    sent.push(t);
                }
                sent
            })
        })
        .collect();
    for i in 1..files.len() {
        n.reload_ok(&cfg(i));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let mut logged: Vec<Vec<String>> = Vec::new();
    let all_in = poll_until(CHANGE_TIMEOUT, || {
        logged = files.iter().map(|p| lines(p)).collect();
        logged.iter().map(Vec::len).sum::<usize>() >= sent.len()
    });
    assert!(
        all_in,
        "{} requests, lines: {:?}",
        sent.len(),
        logged.iter().map(Vec::len).collect::<Vec<_>>()
    );
    // Every request's line, once, in one of the files.
    let mut times = std::collections::HashMap::new();
    for line in logged.iter().flatten() {
        let at = line.find("/plain.txt?").expect(line);
        let target = line[at..].split([' ', '"']).next().unwrap();
        *times.entry(target.to_string()).or_insert(0) += 1;
    }
    for t in &sent {
        assert_eq!(times.get(t), Some(&1), "{t}");
    }
    assert_eq!(times.len(), sent.len());
    for (i, l) in logged.iter().enumerate() {
        assert!(
            l.iter().all(|line| is_json(line) == (format(i) == "json")),
            "{}: {l:#?}",
            files[i].display()
        );
    }
    assert!(!logged[files.len() - 1].is_empty());
}
