//! HTTP/3 (`[http3]`): the QUIC listener answers as the HTTPS one does,
//! is advertised only while it is up, counts in the node's connection
//! bound, validates addresses, takes 0-RTT only when asked and then only
//! for GET and HEAD, drops clients that stop reading, stops with GOAWAY,
//! follows certificate reloads, and shows in the log and the metrics.
//! Field-by-field parity with HTTP/2 is `http3_parity`; a real browser is
//! `http3_browser`.

use std::ffi::OsString;
use std::time::Duration;

use crate::common::http2::{test_cert, tls_table, Client, Proto, TestCert};
use crate::common::http3::{h3_table, H3Client};
use crate::common::origin::{Origin, Reply};
use crate::common::{poll_until, run_captured, Server};

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.css"),
        "body { color: red }\n".repeat(100),
    )
    .unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 3 << 20]).unwrap();
    dir
}

/// A node with `[tls]` and `[http3]` (plus `extra` TOML).
fn node(root: &std::path::Path, cert: &TestCert, h3_extra: &str, extra: &str) -> Server {
    Server::start(root, &(tls_table(cert, "") + &h3_table(h3_extra) + extra))
}

/// `cdn_edge_http3_handshakes_total{result="…"}`.
fn handshakes(s: &Server, result: &str) -> f64 {
    let name = format!("cdn_edge_http3_handshakes_total{{result=\"{result}\"}}");
    s.metric(&name).unwrap_or(-1.0)
}

#[test]
fn a_request_over_http3_is_answered_advertised_logged_and_counted() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = node(root.path(), &cert, "", "[log]\naccess = \"stdout\"\n");
    crate::common::wait_for_encoding(&s, "/app.css", "br");
    let mut c = H3Client::new(&s, &cert);
    let r = c.get("/app.css", &[("accept-encoding", "br")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), Some("br"));
    let port = s.h3_addr().port();
    let alt = format!("h3=\":{port}\"; ma=86400");
    assert_eq!(r.header("alt-svc"), Some(alt.as_str()));
    assert_eq!(r.header("via"), None, "a local file names no proxy");
    // Over HTTP/2 and HTTP/1.1 on TLS too; never over plain HTTP.
    for proto in [Proto::H2Tls, Proto::H1Tls] {
        let r = Client::new(&s, &cert, proto).get("/app.css", &[]);
        assert_eq!(r.header("alt-svc"), Some(alt.as_str()), "{proto:?}");
    }
    assert_eq!(s.get("/app.css").header("alt-svc"), None);
    // A large body, whole.
    let big = c.get("/big.bin", &[]);
    assert_eq!(big.body, vec![7u8; 3 << 20]);
    // The access log names the protocol; the metrics count the version
    // and the handshake.
    let logged = poll_until(Duration::from_secs(10), || {
        s.stdout_lines()
            .iter()
            .any(|l| l.contains("\"GET /big.bin HTTP/3.0\" 200"))
    });
    assert!(logged, "{:?}", s.stdout_lines());
    let by_version = "cdn_edge_http_requests_by_version_total{version=\"3\"}";
    assert_eq!(s.metric(by_version), Some(2.0));
    assert_eq!(handshakes(&s, "ok"), 1.0);
    assert_eq!(s.metric("cdn_edge_http3_connections"), Some(1.0));
    assert_eq!(s.metric("cdn_edge_http3_up"), Some(1.0));
}

#[test]
fn without_http3_or_its_socket_no_alt_svc_is_sent() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let plain = Server::start(root.path(), &tls_table(&cert, ""));
    let r = Client::new(&plain, &cert, Proto::H2Tls).get("/app.css", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("alt-svc"), None);
    // The UDP port is taken (without SO_REUSEPORT): the node serves TCP,
    // says why, and does not advertise what it cannot serve.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let toml = tls_table(&cert, "") + &format!("[http3]\nlisten = \"127.0.0.1:{port}\"\n");
    let s = Server::start(root.path(), &toml);
    let r = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("alt-svc"), None, "{}", r.summary());
    assert!(
        s.stderr_text().contains("serving without HTTP/3"),
        "{}",
        s.stderr_text()
    );
    drop(taken);
}

#[test]
fn alt_svc_max_age_is_configurable_and_zero_advertises_nothing() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = node(root.path(), &cert, "alt_svc_max_age = \"1h\"", "");
    let mut c = H3Client::new(&s, &cert);
    let want = format!("h3=\":{}\"; ma=3600", s.h3_addr().port());
    assert_eq!(
        c.get("/app.css", &[]).header("alt-svc"),
        Some(want.as_str())
    );
    let s = node(root.path(), &cert, "alt_svc_max_age = \"0s\"", "");
    let mut c = H3Client::new(&s, &cert);
    // Served over HTTP/3 all the same; just not advertised.
    let r = c.get("/app.css", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("alt-svc"), None);
}

#[test]
fn quic_connections_count_in_the_node_connection_bound() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = node(root.path(), &cert, "", "[limits]\nmax_connections = 2\n");
    let mut a = H3Client::new(&s, &cert);
    let mut b = H3Client::new(&s, &cert);
    assert_eq!(a.get("/app.css", &[]).status, 200);
    assert_eq!(b.get("/app.css", &[]).status, 200);
    // A third QUIC connection is refused at its first packet.
    let third = H3Client::try_connect(s.h3_addr(), &cert);
    let why = third
        .err()
        .expect("a third connection past max_connections = 2");
    assert!(why.to_lowercase().contains("refused"), "{why}");
    // And so is a TCP one: the bound is the node's, over every listener.
    let tcp = crate::common::try_request(s.addr, "GET", "/app.css", &[]);
    assert!(tcp.map_or(true, |r| r.status == 503), "TCP got through");
    // One QUIC connection closing makes room.
    drop(a);
    let mut c = None;
    let made = poll_until(Duration::from_secs(10), || {
        c = H3Client::try_connect(s.h3_addr(), &cert).ok();
        c.is_some()
    });
    assert!(made, "no room after a connection closed");
    let mut c = c.unwrap();
    assert_eq!(c.get("/app.css", &[]).status, 200);
    drop((b, c));
    poll_until(Duration::from_secs(10), || {
        s.metric("cdn_edge_http3_connections") == Some(0.0)
    });
    assert!(handshakes(&s, "refused") >= 1.0);
}

#[test]
fn retry_validates_client_addresses_when_asked() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    // 0: every new client is sent a Retry first; the handshake completes
    // after it.
    let s = node(root.path(), &cert, "retry_above_handshakes = 0", "");
    let mut c = H3Client::new(&s, &cert);
    assert_eq!(c.get("/app.css", &[]).status, 200);
    assert_eq!(handshakes(&s, "retry"), 1.0);
    assert_eq!(handshakes(&s, "ok"), 1.0);
    // The default asks no Retry of a lone client.
    let s = node(root.path(), &cert, "", "");
    let mut c = H3Client::new(&s, &cert);
    assert_eq!(c.get("/app.css", &[]).status, 200);
    assert_eq!(handshakes(&s, "retry"), 0.0);
}

/// A node pulling from `origin`, with `early` for `[http3] early_data`.
fn pulling(origin: &Origin, cert: &TestCert, early: bool) -> (tempfile::TempDir, Server) {
    let root = tempfile::tempdir().unwrap();
    let toml = format!(
        "{}{}[server]\nroot = \"\"\n[origin]\nurl = \"{}\"\n",
        tls_table(cert, ""),
        h3_table(&format!("early_data = {early}")),
        origin.url()
    );
    let s = Server::start(root.path(), &toml);
    (root, s)
}

/// An origin with `/a.js` and `/b.js`, cacheable.
fn two_scripts() -> Origin {
    let origin = Origin::start();
    for (path, body) in [("/a.js", "a"), ("/b.js", "b")] {
        origin.route(path, Reply::ok(body).header("cache-control", "max-age=60"));
    }
    origin
}

#[test]
fn early_data_is_refused_by_default() {
    let origin = two_scripts();
    let cert = test_cert(&["localhost"]);
    let (_root, s) = pulling(&origin, &cert, false);
    let mut c = H3Client::new(&s, &cert);
    assert_eq!(c.get("/a.js", &[]).status, 200);
    // The client resumes and tries 0-RTT; the node takes none, so the
    // request goes again after the handshake.
    let (r, accepted) = c.early("GET", "/b.js");
    assert!(!accepted);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"b");
    assert_eq!(origin.requests("/b.js")[0].header("early-data"), None);
}

#[test]
fn early_data_when_on_serves_get_at_once_and_makes_the_rest_wait() {
    let origin = two_scripts();
    origin.route("/form", Reply::ok("posted"));
    let cert = test_cert(&["localhost"]);
    let (_root, s) = pulling(&origin, &cert, true);
    let mut c = H3Client::new(&s, &cert);
    assert_eq!(c.get("/a.js", &[]).status, 200);
    let (r, accepted) = c.early("GET", "/b.js");
    assert!(accepted, "0-RTT not accepted");
    assert_eq!(r.body, b"b");
    // A request the node takes before the handshake completes reaches the
    // origin marked (RFC 8470 §5.1); one taken after it is not early any
    // more. On loopback the handshake often wins the race, so resume until
    // one is taken first (each resumption uses its session once).
    let marked = (0..30).any(|i| {
        let path = format!("/early{i}.js");
        origin.route(&path, Reply::ok("e"));
        let (r, _) = c.early("GET", &path);
        assert_eq!(r.status, 200, "{}", r.summary());
        origin.requests(&path)[0].header("early-data") == Some("1")
    });
    assert!(marked, "no request was taken in early data");
    // A POST in early data is answered only once the handshake is done:
    // it reaches the origin without the mark. (A resumption may find no
    // session yet when the last connection's ticket is still on its way:
    // then the POST goes after a full handshake; try again.)
    let sent_early = (0..10).any(|_| {
        let (r, accepted) = c.early("POST", "/form");
        assert_eq!(r.status, 200, "{}", r.summary());
        accepted
    });
    assert!(sent_early, "no POST went in early data");
    // Handshakes confirmed after their early data are counted too.
    assert!(handshakes(&s, "ok") >= 3.0, "{}", handshakes(&s, "ok"));
    for seen in origin.requests("/form") {
        assert_eq!(seen.header("early-data"), None);
    }
}

#[test]
fn a_field_section_past_the_head_limit_gets_431() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = node(
        root.path(),
        &cert,
        "",
        "[limits]\nmax_head_bytes = \"4 KiB\"\n",
    );
    let mut c = H3Client::new(&s, &cert);
    // Past the node's limit: refused with the reason HTTP/2 gets.
    let long = "x".repeat(5 << 10);
    let r = c.get("/app.css", &[("x-long", long.as_str())]);
    assert_eq!(r.status, 431, "{}", r.summary());
    let h2 = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &[("x-long", long.as_str())]);
    // (reqwest adds `accept: */*`: the sizes differ by that field.)
    for r in [&r, &h2] {
        assert_eq!(r.status, 431);
        assert!(
            r.text()
                .starts_with("request header fields too large: a 51"),
            "{}",
            r.text()
        );
        assert!(
            r.text().ends_with("-byte head, at most 4096\n"),
            "{}",
            r.text()
        );
    }
    // Past the field section size the node announces in its SETTINGS: a
    // client that follows them does not even send it (one that does not
    // gets a bare 431 from h3).
    let long = "x".repeat(16 << 10);
    let refused = c.try_req("GET", "/app.css", &[("x-long", long.as_str())], None);
    let why = refused.expect_err("a head past SETTINGS_MAX_FIELD_SECTION_SIZE was sent");
    assert!(why.contains("max size: 6272"), "{why}");
    // The connection goes on.
    assert_eq!(c.get("/app.css", &[]).status, 200);
}

#[test]
fn a_client_that_stops_reading_is_reset_after_the_send_timeout() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("huge.bin"), vec![1u8; 24 << 20]).unwrap();
    let cert = test_cert(&["localhost"]);
    let s = node(
        root.path(),
        &cert,
        "",
        "[limits]\nsend_timeout = \"10s\"\n[cache]\nmemory_bytes = \"256 MiB\"\n",
    );
    let mut c = H3Client::new(&s, &cert);
    assert_eq!(c.hold("/huge.bin").status, 200);
    // Time passes on the node's clock until it gives the stream up.
    let reset = poll_until(Duration::from_secs(20), || {
        s.advance(11);
        s.metric("cdn_edge_http3_send_timeouts_total") == Some(1.0)
    });
    assert!(reset, "the stalled stream was not reset");
    let read = c.read_held();
    assert!(read[0].is_err(), "the held body ended normally: {read:?}");
    // The connection itself is fine.
    assert_eq!(c.get("/app.css", &[]).status, 404);
}

#[test]
fn sigterm_sends_goaway_and_finishes_the_requests_in_flight() {
    let origin = Origin::start();
    origin.route(
        "/slow",
        Reply::ok("done").delay(Duration::from_millis(1500)),
    );
    let cert = test_cert(&["localhost"]);
    let (_root, mut s) = pulling(&origin, &cert, false);
    let mut c = H3Client::new(&s, &cert);
    let h3 = s.h3_addr();
    let resp = std::thread::scope(|scope| {
        let t = scope.spawn(|| c.try_req("GET", "/slow", &[], None));
        assert!(poll_until(Duration::from_secs(10), || origin
            .count("/slow")
            == 1));
        s.sigterm();
        t.join().unwrap()
    });
    let r = resp.unwrap_or_else(|e| panic!("{e}: {}", s.stderr_text()));
    assert_eq!((r.status, r.body.as_slice()), (200, b"done".as_slice()));
    // The node closed the connection without an error code, and exits.
    let why = c.wait_closed(Duration::from_secs(10)).unwrap_or_default();
    assert!(
        why.contains("H3_NO_ERROR") || why.contains("closed"),
        "{why}"
    );
    assert!(
        s.wait_exit(Duration::from_secs(15)).is_some(),
        "still running"
    );
    assert!(H3Client::connect_within(h3, &cert, Duration::from_secs(2)).is_err());
}

#[test]
fn a_certificate_reload_reaches_http3_too() {
    let root = site();
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (test_cert(&["localhost"]), test_cert(&["localhost"]));
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let toml = format!(
        "[tls]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n{}",
        cert.display().to_string(),
        key.display().to_string(),
        h3_table("")
    );
    let s = Server::start(root.path(), &toml);
    assert_eq!(H3Client::new(&s, &first).peer_certificate(), first.der);
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    s.sighup();
    let swapped = poll_until(Duration::from_secs(10), || {
        H3Client::try_connect(s.h3_addr(), &second)
            .is_ok_and(|c| c.peer_certificate() == second.der)
    });
    assert!(swapped, "HTTP/3 still presents the old certificate");
}

#[test]
fn check_validates_the_http3_table() {
    let root = site();
    let dir = tempfile::tempdir().unwrap();
    let cert = test_cert(&["localhost"]);
    let run = |toml: &str| {
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, toml).unwrap();
        let args: Vec<OsString> = vec![
            "check".into(),
            "--config".into(),
            cfg.into(),
            "--root".into(),
            root.path().into(),
        ];
        run_captured(&args, None, &[])
    };
    let (status, out, err) = run("[http3]\nlisten = \"127.0.0.1:8443\"\n");
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("http3.listen") && err.contains("[tls]"),
        "{err}"
    );
    let (status, out, err) =
        run(&(tls_table(&cert, "") + "[http3]\nlisten = \"127.0.0.1:8443\"\n"));
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("https://127.0.0.1:8443 (HTTP/3, UDP)"),
        "{out}"
    );
    let (status, _, err) = run(&(tls_table(&cert, "") + &h3_table("max_concurrent_streams = 0")));
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("http3.max_concurrent_streams"), "{err}");
}

#[test]
fn a_304_carries_no_content_length_over_any_protocol() {
    // RFC 9110 §8.6: a 304 may carry Content-Length only if it is the
    // 200's; actix-http's HTTP/2 wrote `content-length: 0` for an empty
    // body, so the 304's body is none, not empty.
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = node(root.path(), &cert, "", "");
    let etag = s.get("/app.css").header("etag").unwrap().to_string();
    let cond = [("if-none-match", etag.as_str())];
    let h3 = H3Client::new(&s, &cert).get("/app.css", &cond);
    let h2 = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &cond);
    let h1 = s.get_h("/app.css", &cond);
    for (name, r) in [("HTTP/3", &h3), ("HTTP/2", &h2), ("HTTP/1.1", &h1)] {
        assert_eq!(r.status, 304, "{name}: {}", r.summary());
        assert_eq!(r.header("content-length"), None, "{name}: {}", r.summary());
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{name}");
    }
}

#[test]
fn a_head_of_an_uncacheable_answer_carries_the_get_length() {
    // RFC 9110 §8.6, §9.3.2: a HEAD's Content-Length is the GET's. An
    // answer passed on unstored was sent as `Content-Length: 0`.
    let origin = Origin::start();
    origin.route(
        "/fixed",
        Reply::ok(vec![b'x'; 1000]).header("cache-control", "no-store"),
    );
    origin.route(
        "/chunked",
        Reply::ok(vec![b'y'; 1000])
            .header("cache-control", "no-store")
            .chunked(),
    );
    let cert = test_cert(&["localhost"]);
    let (_root, s) = pulling(&origin, &cert, false);
    let mut h3 = H3Client::new(&s, &cert);
    let h2 = Client::new(&s, &cert, Proto::H2Tls);
    for path in ["/fixed", "/chunked"] {
        let get = s.get(path);
        assert_eq!(get.body.len(), 1000, "{path}");
        // The node read the chunked body whole before passing it on, so its
        // GET declares the length too.
        let want = get.header("content-length");
        assert_eq!(want, Some("1000"), "{path}");
        let answers = [
            ("HTTP/1.1", s.head_h(path, &[])),
            ("HTTP/2", h2.req("HEAD", path, &[])),
            ("HTTP/3", h3.req("HEAD", path, &[])),
        ];
        for (proto, r) in answers {
            assert_eq!(r.status, 200, "{proto} {path}");
            assert_eq!(
                r.header("content-length"),
                want,
                "{proto} HEAD {path}: {}",
                r.summary()
            );
            assert!(r.body.is_empty(), "{proto} {path}");
        }
    }
}

#[test]
fn a_request_over_http3_is_routed_to_the_object_owner_in_a_cluster() {
    use crate::common::cluster::{owner, start_setup, Setup};
    let origin = Origin::start();
    let cert = test_cert(&["localhost"]);
    let extra = tls_table(&cert, "") + &h3_table("");
    let root = tempfile::tempdir().unwrap();
    let nodes = start_setup(
        2,
        &origin.url(),
        root.path(),
        &Setup {
            extra: &extra,
            ..Default::default()
        },
    );
    // A path the second node owns, asked of the first over HTTP/3.
    let path = (0..100)
        .map(|i| format!("/owned{i}.js"))
        .find(|p| owner(&nodes, p) == 1)
        .unwrap();
    origin.route(
        &path,
        Reply::ok("owned").header("cache-control", "max-age=600"),
    );
    let h3 = nodes[0].h3.expect("the first node's HTTP/3 address");
    let mut c = H3Client::try_connect(h3, &cert).unwrap();
    let r = c.get(&path, &[]);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"owned".as_slice()),
        "{}",
        r.summary()
    );
    // The owner fetched it (the origin saw one request, from the owner)
    // and holds it: asked directly, it is a hit.
    assert_eq!(origin.count(&path), 1);
    let hit = nodes[1].get(&path);
    assert!(
        hit.header("cache-status")
            .is_some_and(|s| s.contains("hit")),
        "{}",
        hit.summary()
    );
    assert_eq!(origin.count(&path), 1);
}
