//! Tests of the scriptable origin in `common/origin.rs` itself, over
//! real sockets: routing and counting, stalls, faults, 304, chunked framing,
//! keep-alive, shutdown and drop.

use crate::common;

use common::origin::{Origin, Reply};
use common::{parse_response, poll_until, request, send_raw, try_request, Response};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Opens a connection with generous timeouts.
fn connect(o: &Origin) -> TcpStream {
    let s = TcpStream::connect(o.addr).expect("connect to origin");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one Content-Length-framed response (or a head only, for HEAD) off a
/// kept-alive connection.
fn read_one(s: &mut TcpStream, head_only: bool) -> Response {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read head");
        assert_eq!(n, 1, "EOF inside head: {:?}", String::from_utf8_lossy(&raw));
        raw.push(byte[0]);
    }
    let mut r = parse_response(&raw, head_only).expect("parse head");
    if !head_only {
        let len: usize = r
            .header("content-length")
            .expect("content-length")
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).expect("read body");
        r.body = body;
    }
    r
}

fn header_names(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    v.sort();
    v
}

#[test]
fn route_count_and_exact_headers() {
    let o = Origin::start();
    assert!(o.addr.ip().is_loopback());
    assert_eq!(o.url(), format!("http://{}", o.addr));
    o.route(
        "/a.css",
        Reply::ok("body!").header("Cache-Control", "max-age=60"),
    );

    let r = request(o.addr, "GET", "/a.css", &[("X-Test", "1")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"body!");
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert_eq!(r.header("content-length"), Some("5"));
    let date = r.header("date").expect("Date");
    httpdate::parse_http_date(date).expect("Date is an HTTP-date");
    assert_eq!(
        header_names(&r),
        ["cache-control", "content-length", "date"],
        "no unscripted headers: {}",
        r.summary()
    );

    // the query is ignored for routing and counting
    let r = request(o.addr, "POST", "/a.css?v=2", &[("Content-Length", "0")]);
    assert_eq!(r.status, 200);
    assert_eq!(o.count("/a.css"), 2);
    assert_eq!(o.count("/a.css?v=2"), 1);

    // no route: 404 "no route", still recorded
    let r = request(o.addr, "GET", "/missing", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"no route");
    assert_eq!(header_names(&r), ["content-length", "date"]);
    assert_eq!(o.count("/missing"), 1);
    assert_eq!(o.total(), 3);

    let seen = o.requests("/a.css");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/a.css");
    assert_eq!(seen[0].header("X-TEST"), Some("1"));
    assert!(seen[0].headers.iter().any(|(n, _)| n == "x-test"));
    assert_eq!(seen[0].header("host"), Some(o.addr.to_string().as_str()));
    assert_eq!(seen[1].method, "POST");
    assert_eq!(seen[1].target, "/a.css?v=2");

    // a route replaced later answers from then on
    o.route("/a.css", Reply::status(503, "down"));
    assert_eq!(request(o.addr, "GET", "/a.css", &[]).status, 503);
}

#[test]
fn route_with_query_takes_precedence() {
    let o = Origin::start();
    o.route("/q", Reply::ok("plain"));
    o.route_with_query("/q?x=1", Reply::ok("with query"));
    assert_eq!(request(o.addr, "GET", "/q?x=1", &[]).text(), "with query");
    assert_eq!(request(o.addr, "GET", "/q?x=2", &[]).text(), "plain");
    assert_eq!(request(o.addr, "GET", "/q", &[]).text(), "plain");
    assert_eq!(o.count("/q"), 3);
    assert_eq!(o.count("/q?x=1"), 1);
}

#[test]
fn request_bodies_are_recorded() {
    let o = Origin::start();
    o.route("/up", Reply::status(201, ""));
    let mut s = connect(&o);
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          PUT /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_one(&mut s, false).status, 201);
    assert_eq!(read_one(&mut s, false).status, 201);
    let seen = o.requests("/up");
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, b"hello");
    assert_eq!(seen[1].method, "PUT");
    assert_eq!(seen[1].body, b"abcde");
}

#[test]
fn delay_stalls_but_records_first() {
    let o = Origin::start();
    o.route("/slow", Reply::ok("late").delay(Duration::from_millis(700)));
    let addr = o.addr;
    let t0 = Instant::now();
    let client = thread::spawn(move || request(addr, "GET", "/slow", &[]));
    assert!(
        poll_until(Duration::from_millis(500), || o.count("/slow") == 1),
        "request recorded while stalled"
    );
    assert!(!client.is_finished(), "answered before the delay");
    let r = client.join().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(700));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"late");
}

#[test]
fn cut_after_sends_a_short_body_then_closes() {
    let o = Origin::start();
    let body: Vec<u8> = (0..100u8).collect();
    o.route("/cut", Reply::ok(body.clone()).cut_after(10));
    let raw = send_raw(
        o.addr,
        b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n", // keep-alive asked: closed anyway
    );
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100"));
    assert_eq!(r.body, &body[..10]);

    // chunked: 10 bytes of chunks, never the last-chunk
    o.route("/cutc", Reply::ok(body.clone()).chunked().cut_after(10));
    let raw = send_raw(o.addr, b"GET /cutc HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Transfer-Encoding: chunked"), "{text:?}");
    assert!(raw.ends_with(b"a\r\n\0\x01\x02\x03\x04\x05\x06\x07\x08\x09\r\n"));
    assert!(
        parse_response(&raw, false).is_err(),
        "truncated chunked body"
    );
}

#[test]
fn hang_up_closes_without_answering() {
    let o = Origin::start();
    o.route("/gone", Reply::hang_up());
    let raw = send_raw(o.addr, b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(raw.is_empty(), "{:?}", String::from_utf8_lossy(&raw));
    assert!(try_request(o.addr, "GET", "/gone", &[]).is_err());
    assert_eq!(o.count("/gone"), 2);
}

#[test]
fn etag_304_and_ims_304() {
    let o = Origin::start();
    o.route(
        "/e",
        Reply::ok("v1 body")
            .header("ETag", "\"v1\"")
            .header("Cache-Control", "max-age=0")
            .etag_304("\"v1\""),
    );
    let r = request(o.addr, "GET", "/e", &[("If-None-Match", "\"v1\"")]);
    assert_eq!(r.status, 304, "{}", r.summary());
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some("\"v1\""));
    assert_eq!(r.header("cache-control"), Some("max-age=0"));
    assert!(!r.has("content-length"));
    assert!(r.has("date"));
    // weak comparison, lists
    let r = request(o.addr, "GET", "/e", &[("If-None-Match", "\"x\", W/\"v1\"")]);
    assert_eq!(r.status, 304);
    let r = request(o.addr, "GET", "/e", &[("If-None-Match", "\"v2\"")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"v1 body");
    let r = request(o.addr, "GET", "/e", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(o.count("/e"), 4);
    assert_eq!(o.requests("/e")[0].header("if-none-match"), Some("\"v1\""));

    o.route("/m", Reply::ok("m").not_modified_if_ims());
    let ims = ("If-Modified-Since", "Tue, 01 Jun 2021 12:00:00 GMT");
    assert_eq!(request(o.addr, "GET", "/m", &[ims]).status, 304);
    assert_eq!(request(o.addr, "GET", "/m", &[]).status, 200);
}

#[test]
fn chunked_body() {
    let o = Origin::start();
    let body: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    o.route("/c", Reply::ok(body.clone()).chunked());
    let r = request(o.addr, "GET", "/c", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(!r.has("content-length"));
    assert_eq!(r.body, body, "de-chunked body");
}

#[test]
fn keep_alive_and_head() {
    let o = Origin::start();
    o.route("/k", Reply::ok("kept"));
    let mut s = connect(&o);
    for _ in 0..2 {
        s.write_all(b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let r = read_one(&mut s, false);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"kept");
    }
    // HEAD: Content-Length of the full body, no body bytes (the next
    // response on the connection parses cleanly)
    s.write_all(b"HEAD /k HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_one(&mut s, true);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("4"));
    s.write_all(b"GET /k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_one(&mut s, false);
    assert_eq!(r.body, b"kept");
    // Connection: close was honoured
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(o.count("/k"), 4);
    assert_eq!(o.requests("/k")[2].method, "HEAD");
}

#[test]
fn shutdown_refuses_connections() {
    let o = Origin::start();
    o.route("/x", Reply::ok("x"));
    assert_eq!(request(o.addr, "GET", "/x", &[]).status, 200);
    o.shutdown();
    let err = TcpStream::connect(o.addr).expect_err("port closed after shutdown");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(o.threads(), 0);
    assert_eq!(o.count("/x"), 1, "records survive shutdown");
    o.shutdown(); // idempotent
}

#[test]
fn drop_stops_every_thread() {
    let o = Origin::start();
    o.route("/idle", Reply::ok("i"));
    o.route("/stall", Reply::ok("s").delay(Duration::from_secs(60)));
    // an idle kept-alive connection
    let mut idle = connect(&o);
    idle.write_all(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_one(&mut idle, false).status, 200);
    // a connection stalled in a 60 s delay
    let mut stalled = connect(&o);
    stalled
        .write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(poll_until(Duration::from_secs(5), || o.count("/stall") == 1));
    assert_eq!(o.threads(), 3, "acceptor + two connections");

    let addr = o.addr;
    let t0 = Instant::now();
    drop(o);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "drop waited for the stall: {:?}",
        t0.elapsed()
    );
    let err = TcpStream::connect(addr).expect_err("port closed after drop");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // both connections were closed by the origin
    for s in [&mut idle, &mut stalled] {
        let mut rest = Vec::new();
        match s.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty()),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        }
    }
}

#[test]
fn echo_header_makes_the_body_depend_on_the_request() {
    let o = Origin::start();
    o.route(
        "/l",
        Reply::ok("lang=")
            .header("Vary", "Accept-Language")
            .echo_header("accept-language"),
    );
    let r = request(o.addr, "GET", "/l", &[("Accept-Language", "de")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"lang=de");
    assert_eq!(r.header("content-length"), Some("7"), "framed for the echo");
    assert_eq!(r.header("vary"), Some("Accept-Language"));
    // the header name is matched case-insensitively; every line is echoed
    let r = request(
        o.addr,
        "GET",
        "/l",
        &[("ACCEPT-LANGUAGE", "en"), ("accept-language", "fr;q=0.5")],
    );
    assert_eq!(r.body, b"lang=en, fr;q=0.5");
    // absent: the scripted body alone
    let r = request(o.addr, "GET", "/l", &[]);
    assert_eq!(r.body, b"lang=");
    assert_eq!(r.header("content-length"), Some("5"));
    // chunked framing carries the echoed body too
    o.route("/c", Reply::ok("x:").echo_header("x-v").chunked());
    let r = request(o.addr, "GET", "/c", &[("X-V", "42")]);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body, b"x:42");
    assert_eq!(o.count("/l"), 3);
}

#[test]
fn advance_clock_moves_only_the_generated_date() {
    let o = Origin::start();
    o.route("/d", Reply::ok("d"));
    let scripted = "Tue, 01 Jun 2021 12:00:00 GMT";
    o.route("/s", Reply::ok("s").header("Date", scripted));
    let date = |path: &str| {
        let r = request(o.addr, "GET", path, &[]);
        assert_eq!(r.header_all("date").len(), 1, "{}", r.summary());
        httpdate::parse_http_date(r.header("date").unwrap()).expect("an HTTP-date")
    };
    let before = SystemTime::now() - Duration::from_secs(1);
    let d0 = date("/d");
    assert!(d0 >= before && d0 <= SystemTime::now() + Duration::from_secs(1));

    o.advance_clock(3600);
    o.advance_clock(60); // cumulative
    let d1 = date("/d");
    let ahead = d1.duration_since(SystemTime::now()).expect("Date is ahead");
    assert!(
        ahead >= Duration::from_secs(3658) && ahead <= Duration::from_secs(3661),
        "{ahead:?}"
    );
    // a scripted Date is sent as scripted
    let r = request(o.addr, "GET", "/s", &[]);
    assert_eq!(r.header_all("date"), [scripted]);
    assert_eq!(r.body, b"s", "nothing else changes");
}
