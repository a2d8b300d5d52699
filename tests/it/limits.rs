//! `[limits]`: oversized requests get 414 / 431 / 413 with a reason, a
//! stalled head or body gets 408 or a closed connection, and connections
//! past `limits.max_connections` are refused while the node keeps serving.
//! Every test talks raw HTTP/1.1 to the real binary.

use crate::common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::origin::{Origin, Reply};
use common::*;

/// How long a timeout-driven close may take to show (the limits in these
/// tests are 1 to 2 seconds; the node sweeps once a second).
const CLOSE_DEADLINE: Duration = Duration::from_secs(15);

fn node(extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with(&format!("[log]\naccess = \"off\"\n{extra}")),
    );
    (f, s)
}

/// Connects with a read timeout of `CLOSE_DEADLINE`.
fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(CLOSE_DEADLINE)).unwrap();
    c
}

/// Reads until EOF, a reset, or the read timeout; what was read, and
/// whether the connection ended (rather than timed out).
fn read_to_end(c: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        match c.read(&mut chunk) {
            Ok(0) => return (buf, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (buf, true),
            Err(_) => return (buf, false),
        }
    }
}

fn status_of(raw: &[u8]) -> Option<u16> {
    let line = raw.split(|b| *b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn an_over_long_uri_is_414_with_a_reason() {
    let (_f, s) = node("[limits]\nmax_uri_bytes = 1024\n");
    let r = s.get(&format!("/{}", "a".repeat(1100)));
    assert_eq!(r.status, 414, "{}", r.summary());
    assert!(r.text().contains("URI too long"), "{}", r.text());
    assert_eq!(r.text().lines().count(), 1);
    // Under the limit: an ordinary 404.
    assert_eq!(s.get(&format!("/{}", "a".repeat(900))).status, 404);
    // The default is 8 KiB.
    let (_f, s) = node("");
    assert_eq!(s.get(&format!("/{}", "a".repeat(8200))).status, 414);
    assert_eq!(s.get(&format!("/{}", "a".repeat(8000))).status, 404);
}

#[test]
fn too_many_header_fields_are_431_with_a_reason() {
    let (_f, s) = node("[limits]\nmax_headers = 20\n");
    let names: Vec<String> = (0..25).map(|i| format!("X-H{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = s.get_h("/app.css", &many);
    assert_eq!(r.status, 431, "{}", r.summary());
    assert!(r.text().contains("fields, at most 20"), "{}", r.text());
    assert_eq!(s.get_h("/app.css", &many[..10]).status, 200);
    // Past the HTTP/1 parser's own 96: still 431, the node still serves.
    let names: Vec<String> = (0..120).map(|i| format!("X-H{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    assert_eq!(s.get_h("/app.css", &many).status, 431);
    assert_eq!(s.get("/app.css").status, 200);
}

#[test]
fn a_70_kb_header_is_431_and_a_1_mb_one_is_not_buffered() {
    let (_f, s) = node("");
    let big = "b".repeat(70_000);
    let r = s.get_h("/app.css", &[("X-Big", &big)]);
    assert_eq!(r.status, 431, "{}", r.summary());
    assert!(r.text().contains("at most 16384"), "{}", r.text());
    // Just under the default 16 KiB: served.
    let ok = "b".repeat(15_000);
    assert_eq!(s.get_h("/app.css", &[("X-Big", &ok)]).status, 200);

    // 1 MB: the parser stops buffering at 128 KiB, answers 431 and closes
    // without reading the rest (so the write may fail half-way).
    let mut c = connect(s.addr);
    let mut w = c.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let head = format!(
            "GET /app.css HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "b".repeat(1 << 20)
        );
        let _ = w.write_all(head.as_bytes());
    });
    let (raw, ended) = read_to_end(&mut c);
    assert!(ended, "the connection was not closed");
    assert_eq!(
        status_of(&raw),
        Some(431),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    writer.join().unwrap();
    assert_eq!(s.get("/app.css").status, 200);
}

#[test]
fn the_head_limit_is_configurable_and_reloadable() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[limits]\nmax_head_bytes = 4096\n").unwrap();
    let s = Server::start_config_file(&cfg, &f.root, None);
    let h = "v".repeat(5000);
    assert_eq!(s.get_h("/app.css", &[("X-A", &h)]).status, 431);
    std::fs::write(&cfg, "[limits]\nmax_head_bytes = 8192\n").unwrap();
    s.sighup();
    assert!(
        poll_until(CHANGE_TIMEOUT, || s
            .get_h("/app.css", &[("X-A", &h)])
            .status
            == 200),
        "the new limit did not apply"
    );
}

fn edge_with_origin(extra: &str) -> (Origin, Fixture, Server) {
    let o = Origin::start();
    o.route("/form", Reply::status(201, "created"));
    let f = Fixture::new();
    let cfg = config_with(&format!(
        "[log]\naccess = \"off\"\n[origin]\nurl = \"{}\"\n{extra}",
        o.url()
    ));
    let s = Server::start(&f.root, &cfg);
    (o, f, s)
}

#[test]
fn a_passed_on_body_past_the_limit_is_413() {
    let (_o, _f, s) = edge_with_origin("[limits]\nmax_body_bytes = 1000\n");
    assert_eq!(s.post("/form", &[], &[b'x'; 1000]).status, 201);
    // Declared too large: refused before any of it is read.
    let r = s.post("/form", &[], &[b'x'; 1001]);
    assert_eq!(r.status, 413, "{}", r.summary());
    assert!(r.text().contains("at most 1000 bytes"), "{}", r.text());
    // Chunked, no length declared: refused once past the limit.
    let mut raw = b"POST /form HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(b"258\r\n");
        raw.extend_from_slice(&[b'y'; 600]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let got = send_raw(s.addr, &raw);
    assert_eq!(
        status_of(&got),
        Some(413),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn a_stalled_body_is_408() {
    let (_o, _f, s) = edge_with_origin("[limits]\nbody_timeout_secs = 1\n");
    let mut c = connect(s.addr);
    c.write_all(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part")
        .unwrap();
    let (raw, _) = read_to_end(&mut c);
    assert_eq!(
        status_of(&raw),
        Some(408),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(String::from_utf8_lossy(&raw).contains("request body timed out"));
}

#[test]
fn a_late_first_head_is_408() {
    let (_f, s) = node("[limits]\nheader_timeout_secs = 1\n");
    let mut c = connect(s.addr);
    c.write_all(b"GET /app.css HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let (raw, ended) = read_to_end(&mut c);
    assert!(ended, "still open after {:?}", started.elapsed());
    assert_eq!(
        status_of(&raw),
        Some(408),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    // With h2c on (the default) the node first looks for the h2c preface;
    // a client that never sends a byte is dropped all the same.
    let (_f, s) = node("[limits]\nheader_timeout_secs = 1\n");
    let mut c = connect(s.addr);
    let (raw, ended) = read_to_end(&mut c);
    assert!(ended, "an idle new connection is still open");
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    // An h2c preface cut in two still reads as HTTP/2.
    let mut h2 = connect(s.addr);
    h2.set_nodelay(true).unwrap();
    h2.write_all(b"PRI * HT").unwrap();
    // Not to let time pass: so that the halves arrive as two segments and
    // the node sees the first alone.
    std::thread::sleep(std::time::Duration::from_millis(50));
    h2.write_all(b"TP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let mut head = [0u8; 9];
    std::io::Read::read_exact(&mut h2, &mut head).unwrap();
    assert_eq!(
        head[3], 4,
        "the server's first frame is its SETTINGS: {head:?}"
    );
}

#[test]
fn a_slow_head_after_keep_alive_is_closed() {
    // actix-http times only a connection's first head: the node's sweep
    // closes one that trickles a later head.
    let (_f, s) = node("[limits]\nkeep_alive_secs = 1\nheader_timeout_secs = 1\n");
    let mut c = connect(s.addr);
    c.write_all(b"GET /app.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 512];
    let n = c.read(&mut first).unwrap();
    assert_eq!(status_of(&first[..n]), Some(200));
    // Drain the rest of the first response (small, so one more read at most).
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = c.read(&mut [0u8; 16 << 10]);
    c.set_read_timeout(Some(CLOSE_DEADLINE)).unwrap();
    // One byte of the next head, then one more every 300 ms, while the
    // connection stays open (at most until the deadline).
    let started = Instant::now();
    let mut head = b"GET /app.css HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle();
    let mut closed = false;
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while started.elapsed() < CLOSE_DEADLINE {
        if c.write_all(&[*head.next().unwrap()]).is_err() {
            closed = true;
            break;
        }
        match c.read(&mut [0u8; 1024]) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "a trickling head kept its connection open");
    assert_eq!(s.get("/app.css").status, 200);
}

#[test]
fn connections_past_the_limit_are_refused_and_the_node_recovers() {
    let (_f, s) = node("[limits]\nmax_connections = 3\n");
    // Three connections, each counted once its first bytes arrive.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = connect(s.addr);
            c.write_all(b"HEAD /app.css HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 8192];
            let n = c.read(&mut buf).unwrap();
            assert_eq!(status_of(&buf[..n]), Some(200));
            c
        })
        .collect();
    // A fourth is told why and closed, before its request is served.
    let mut c = connect(s.addr);
    c.write_all(b"GET /app.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (raw, ended) = read_to_end(&mut c);
    assert!(ended);
    assert_eq!(
        status_of(&raw),
        Some(503),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    assert!(String::from_utf8_lossy(&raw).contains("too many connections"));
    // A held connection still works.
    held[0]
        .write_all(b"HEAD /app.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 8192];
    let n = held[0].read(&mut buf).unwrap();
    assert_eq!(status_of(&buf[..n]), Some(200));
    // Once one closes, a new connection is served again.
    held.pop();
    assert!(
        poll_until(CLOSE_DEADLINE, || {
            try_request(s.addr, "GET", "/app.css", &[]).is_ok_and(|r| r.status == 200)
        }),
        "no connection was served after one closed"
    );
    // The warning reaches the node's stderr, read by a thread of the test:
    // waited for, not assumed there already.
    assert!(
        poll_until(CLOSE_DEADLINE, || s
            .stderr_text()
            .contains("limits.max_connections = 3 reached")),
        "{}",
        s.stderr_text()
    );
}
