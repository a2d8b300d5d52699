//! The same behaviour over HTTP/2 as over HTTP/1.1: negotiation,
//! validators, HEAD, ranges, pull-through and purge, each spoken as h2c with
//! prior knowledge on the plain listener and as HTTP/2 over TLS (ALPN), to
//! the real binary. Then the HTTP/2 limits: a connection's concurrent
//! requests, and a flood of reset streams that the node survives.

use crate::common;

use std::time::{Duration, Instant};

use common::http2::{test_cert, tls_table, Client, Proto, TestCert, HTTP2};
use common::origin::{Origin, Reply};
use common::*;

const TOKEN: &str = "h2-token";

/// A node over the fixture with TLS, an origin and a purge token.
fn node(origin: Option<&Origin>, extra: &str) -> (Fixture, TestCert, Server) {
    let f = Fixture::new();
    let cert = test_cert(&["localhost"]);
    let origin = origin.map_or(String::new(), |o| {
        format!("[origin]\nurl = \"{}\"\n", o.url())
    });
    let cfg = config_with(&format!(
        "{origin}[purge]\ntoken = \"{TOKEN}\"\n{extra}\n{}",
        tls_table(&cert, "")
    ));
    let s = Server::start(&f.root, &cfg);
    (f, cert, s)
}

#[test]
fn h1_and_h2c_share_the_plain_port() {
    let (_f, cert, s) = node(None, "");
    let h1 = s.get("/plain.txt");
    assert_eq!(h1.status, 200);
    assert_eq!(h1.body, PLAIN_TXT);
    let h2 = Client::new(&s, &cert, Proto::H2c).get("/plain.txt", &[]);
    assert_eq!(h2.status, 200);
    assert_eq!(h2.body, PLAIN_TXT);
    assert_eq!(h1.header("etag"), h2.header("etag"));
}

#[test]
fn h2c_can_be_turned_off() {
    let (_f, cert, s) = node(None, "[http2]\nh2c = false\n");
    assert_eq!(s.get("/plain.txt").status, 200);
    let e = Client::new(&s, &cert, Proto::H2c)
        .try_req("GET", "/plain.txt", &[], None)
        .unwrap_err();
    assert!(!e.is_empty());
    // HTTP/2 over TLS stays.
    let r = Client::new(&s, &cert, Proto::H2Tls).get("/plain.txt", &[]);
    assert_eq!(r.status, 200);
}

#[test]
fn negotiation_over_http2() {
    let (_f, cert, s) = node(None, "");
    for proto in HTTP2 {
        let c = Client::new(&s, &cert, proto);
        let br = c.get("/app.css", &[("accept-encoding", "br, gzip")]);
        assert_eq!(br.status, 200, "{proto:?}");
        assert_eq!(br.header("content-encoding"), Some("br"), "{proto:?}");
        assert_eq!(br.body, app_css_br(), "{proto:?}");
        assert!(br.vary_contains("accept-encoding"), "{proto:?}");
        let len = app_css_br().len().to_string();
        assert_eq!(br.header("content-length"), Some(len.as_str()));
        let gz = c.get("/app.css", &[("accept-encoding", "gzip")]);
        assert_eq!(gz.header("content-encoding"), Some("gzip"), "{proto:?}");
        assert_eq!(gz.body, app_css_gz());
        let id = c.get("/app.css", &[]);
        assert_eq!(id.header("content-encoding"), None, "{proto:?}");
        assert_eq!(id.body, app_css());
        let none = c.get("/app.css", &[("accept-encoding", "identity;q=0")]);
        assert_eq!(none.status, 406, "{proto:?}");
        // The same representation, the same validator, whatever the protocol.
        let h1 = s.get_h("/app.css", &[("accept-encoding", "br")]);
        assert_eq!(br.header("etag"), h1.header("etag"), "{proto:?}");
    }
}

#[test]
fn validators_over_http2() {
    let (_f, cert, s) = node(None, "");
    for proto in HTTP2 {
        let c = Client::new(&s, &cert, proto);
        let first = c.get("/app.css", &[]);
        let etag = first.header("etag").unwrap().to_string();
        let lm = first.header("last-modified").unwrap().to_string();
        let r = c.get("/app.css", &[("if-none-match", &etag)]);
        assert_eq!(r.status, 304, "{proto:?}");
        assert!(r.body.is_empty(), "{proto:?}: 304 with a body");
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.header("cache-control").is_some());
        let r = c.get("/app.css", &[("if-modified-since", &lm)]);
        assert_eq!(r.status, 304, "{proto:?}");
        let r = c.get("/app.css", &[("if-match", "\"other\"")]);
        assert_eq!(r.status, 412, "{proto:?}");
        let r = c.get("/app.css", &[("if-none-match", "\"other\"")]);
        assert_eq!(r.status, 200, "{proto:?}");
        assert_eq!(r.body, app_css());
    }
}

#[test]
fn head_over_http2_has_length_and_no_body() {
    let (_f, cert, s) = node(None, "");
    for proto in HTTP2 {
        let c = Client::new(&s, &cert, proto);
        let r = c.req("HEAD", "/data.bin", &[]);
        assert_eq!(r.status, 200, "{proto:?}");
        assert!(r.body.is_empty(), "{proto:?}");
        assert_eq!(r.header("content-length"), Some("1000"), "{proto:?}");
        let r = c.req("HEAD", "/missing.txt", &[]);
        assert_eq!(r.status, 404, "{proto:?}");
        assert!(r.body.is_empty(), "{proto:?}");
    }
}

#[test]
fn ranges_over_http2() {
    let (_f, cert, s) = node(None, "");
    let data = data_bin();
    for proto in HTTP2 {
        let c = Client::new(&s, &cert, proto);
        let r = c.get("/data.bin", &[("range", "bytes=10-19")]);
        assert_eq!(r.status, 206, "{proto:?}");
        assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"));
        assert_eq!(r.header("content-length"), Some("10"));
        assert_eq!(r.body, &data[10..20]);
        let r = c.get("/data.bin", &[("range", "bytes=-5")]);
        assert_eq!(r.body, &data[995..], "{proto:?}");
        let r = c.get("/data.bin", &[("range", "bytes=5000-")]);
        assert_eq!(r.status, 416, "{proto:?}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"));
        let etag = c.get("/data.bin", &[]).header("etag").unwrap().to_string();
        let r = c.get("/data.bin", &[("range", "bytes=0-0"), ("if-range", &etag)]);
        assert_eq!(r.status, 206, "{proto:?}");
        let r = c.get(
            "/data.bin",
            &[("range", "bytes=0-0"), ("if-range", "\"old\"")],
        );
        assert_eq!(r.status, 200, "{proto:?}");
        assert_eq!(r.body, data);
    }
}

#[test]
fn pull_through_over_http2_sends_the_origin_a_host() {
    let o = Origin::start();
    let (_f, cert, s) = node(Some(&o), "");
    for (i, proto) in HTTP2.into_iter().enumerate() {
        let path = format!("/lib/{i}.js");
        o.route(
            &path,
            Reply::ok(format!("code {i}"))
                .header("cache-control", "public, max-age=600")
                .header("content-type", "text/javascript")
                // Hop-by-hop fields from the origin never reach an h2 client.
                .header("connection", "keep-alive")
                .header("keep-alive", "timeout=5"),
        );
        let c = Client::new(&s, &cert, proto);
        let miss = c.get(&path, &[]);
        assert_eq!(miss.status, 200, "{proto:?}: {}", miss.summary());
        assert_eq!(miss.body, format!("code {i}").as_bytes());
        assert_eq!(
            miss.header("cache-status"),
            Some("cdn-edge; fwd=uri-miss; stored")
        );
        let hit = c.get(&path, &[]);
        assert_eq!(
            hit.header("cache-status"),
            Some("cdn-edge; hit"),
            "{proto:?}"
        );
        assert_eq!(o.count(&path), 1);
        let seen = &o.requests(&path)[0];
        let origin_host = o.addr.to_string();
        assert_eq!(seen.header("host"), Some(origin_host.as_str()), "{proto:?}");
        let scheme = if proto == Proto::H2c { "http" } else { "https" };
        assert_eq!(seen.header("x-forwarded-proto"), Some(scheme), "{proto:?}");
        // RFC 9110 §7.6.3: Via names the version the request was received in.
        assert_eq!(seen.header("via"), Some("2 cdn-edge"), "{proto:?}");
        assert!(seen.header(":authority").is_none());
    }
}

#[test]
fn uncacheable_and_chunked_origin_answers_pass_over_http2() {
    let o = Origin::start();
    o.route(
        "/stream.txt",
        Reply::ok(vec![b'x'; 100_000])
            .header("cache-control", "no-store")
            .chunked(),
    );
    let (_f, cert, s) = node(Some(&o), "");
    for proto in HTTP2 {
        let r = Client::new(&s, &cert, proto).get("/stream.txt", &[]);
        assert_eq!(r.status, 200, "{proto:?}");
        assert_eq!(r.body.len(), 100_000, "{proto:?}");
    }
}

#[test]
fn purge_over_http2() {
    let o = Origin::start();
    o.route(
        "/a.css",
        Reply::ok("a{}").header("cache-control", "max-age=600"),
    );
    let (_f, cert, s) = node(Some(&o), "");
    let auth = format!("Bearer {TOKEN}");
    let mut expected = 1;
    for proto in HTTP2 {
        let c = Client::new(&s, &cert, proto);
        assert_eq!(c.get("/a.css", &[]).status, 200);
        assert_eq!(
            c.get("/a.css", &[]).header("cache-status"),
            Some("cdn-edge; hit")
        );
        assert_eq!(o.count("/a.css"), expected);
        let r = c.req("PURGE", "/a.css", &[]);
        assert_eq!(r.status, 401, "{proto:?}");
        let r = c.req("PURGE", "/a.css", &[("authorization", &auth)]);
        assert_eq!(r.status, 200, "{proto:?}: {}", r.summary());
        assert_eq!(c.get("/a.css", &[]).status, 200);
        expected += 1;
        assert_eq!(
            o.count("/a.css"),
            expected,
            "{proto:?}: purged, so fetched again"
        );
        let body = br#"{"paths":["/a.css"]}"#.to_vec();
        let r = c
            .try_req(
                "POST",
                "/_purge",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                Some(body),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{proto:?}: {}", r.summary());
        c.get("/a.css", &[]);
        expected += 1;
        assert_eq!(o.count("/a.css"), expected, "{proto:?}");
    }
}

/// An h2c connection driven by the `h2` crate (for what reqwest hides:
/// many streams at once, resets).
struct RawH2 {
    rt: tokio::runtime::Runtime,
    send: h2::client::SendRequest<bytes::Bytes>,
}

impl RawH2 {
    fn connect(addr: std::net::SocketAddr) -> RawH2 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let send = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            send.ready().await.expect("ready")
        });
        RawH2 { rt, send }
    }

    fn request(path: &str) -> http::Request<()> {
        http::Request::get(format!("http://localhost{path}"))
            .body(())
            .unwrap()
    }

    /// Opens `n` streams for `path` at once and returns their statuses.
    fn concurrent(&mut self, path: &str, n: usize) -> Vec<u16> {
        let send = &mut self.send;
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for _ in 0..n {
                *send = send.clone().ready().await.unwrap();
                let (resp, _) = send.send_request(Self::request(path), true).unwrap();
                pending.push(resp);
            }
            let mut statuses = Vec::new();
            for p in pending {
                let resp = p.await.expect("response");
                statuses.push(resp.status().as_u16());
            }
            statuses
        })
    }

    /// Opens `n` streams for `path` at once and returns their bodies,
    /// read concurrently (the server's writes of them interleave).
    fn concurrent_bodies(&mut self, path: &str, n: usize) -> Vec<Vec<u8>> {
        let send = &mut self.send;
        self.rt.block_on(async {
            let mut pending = Vec::new();
            for _ in 0..n {
                *send = send.clone().ready().await.unwrap();
                let (resp, _) = send.send_request(Self::request(path), true).unwrap();
                pending.push(tokio::spawn(async move {
                    let mut body = resp.await.expect("response").into_body();
                    let mut got = Vec::new();
                    while let Some(chunk) = body.data().await {
                        let chunk = chunk.expect("data");
                        got.extend_from_slice(&chunk);
                        let _ = body.flow_control().release_capacity(chunk.len());
                    }
                    got
                }));
            }
            let all = async {
                let mut bodies = Vec::new();
                for p in pending {
                    bodies.push(p.await.unwrap());
                }
                bodies
            };
            // Held-back writes never sent would hang here: fail instead.
            tokio::time::timeout(Duration::from_secs(60), all)
                .await
                .expect("every body within 60 s")
        })
    }

    /// Opens `n` streams and resets each at once (CVE-2023-44487's
    /// pattern). Returns how many were sent before the server stopped the
    /// connection, if it did.
    fn reset_flood(&mut self, path: &str, n: usize) -> usize {
        let send = &mut self.send;
        self.rt.block_on(async {
            for i in 0..n {
                match send.clone().ready().await {
                    Ok(s) => *send = s,
                    Err(_) => return i,
                }
                let Ok((_, mut stream)) = send.send_request(Self::request(path), false) else {
                    return i;
                };
                stream.send_reset(h2::Reason::CANCEL);
            }
            n
        })
    }
}

impl RawH2 {
    /// Opens a GET stream for `path` without ending it, then sends up to `n`
    /// empty DATA frames on it (the RUSTSEC-2026-0258 pattern: they carry
    /// no flow-controlled bytes). Returns how many went out.
    fn empty_data_flood(&mut self, path: &str, n: usize) -> usize {
        let send = &mut self.send;
        self.rt.block_on(async {
            *send = send.clone().ready().await.unwrap();
            let (_resp, mut stream) = send.send_request(Self::request(path), false).unwrap();
            for i in 0..n {
                if stream.send_data(bytes::Bytes::new(), false).is_err() {
                    return i;
                }
                if i % 10_000 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            // Let the connection task write what is queued.
            for _ in 0..1000 {
                tokio::task::yield_now().await;
            }
            n
        })
    }
}

/// The resident memory of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn empty_data_frames_on_a_get_are_dropped_not_queued() {
    let o = Origin::start();
    o.route(
        "/slow.js",
        Reply::ok("slow")
            .header("cache-control", "max-age=600")
            .delay(Duration::from_secs(3)),
    );
    let (_f, _cert, s) = node(Some(&o), "");
    let before = rss_kib(s.pid());
    let mut c = RawH2::connect(s.addr);
    // While the request waits for the origin, its stream gets a flood.
    let sent = c.empty_data_flood("/slow.js", 200_000);
    assert!(sent > 50_000, "{sent}");
    // The node read them all (it answers this connection after them).
    assert_eq!(c.concurrent("/plain.txt", 1), vec![200]);
    let grown = rss_kib(s.pid()).saturating_sub(before);
    // Queued, 200 000 frames held ~45 MiB; dropped, nothing is kept.
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB");
}

/// The node coalesces an HTTP/2 connection's writes (up to 64 KB at a
/// time): the responses of many streams at once, each larger than that,
/// still arrive whole and in order, over h2c and over TLS.
#[test]
fn many_streams_of_large_responses_arrive_whole() {
    let (f, cert, s) = node(None, "");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(f.root.join("big.bin"), &big).unwrap();
    let mut c = RawH2::connect(s.addr);
    let bodies = c.concurrent_bodies("/big.bin", 24);
    assert_eq!(bodies.len(), 24);
    for b in &bodies {
        assert!(b == &big, "a body of {} bytes differs", b.len());
    }
    // Small ones, many at once, and over TLS through reqwest.
    assert!(c.concurrent("/plain.txt", 100).iter().all(|&st| st == 200));
    let r = Client::new(&s, &cert, Proto::H2Tls).get("/big.bin", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body == big);
}

#[test]
fn one_connection_gets_at_most_max_concurrent_streams_at_once() {
    let o = Origin::start();
    o.route(
        "/slow.js",
        Reply::ok("slow")
            .header("cache-control", "max-age=600")
            .delay(Duration::from_secs(2)),
    );
    let (_f, _cert, s) = node(Some(&o), "[http2]\nmax_concurrent_streams = 4\n");
    let mut c = RawH2::connect(s.addr);
    let statuses = c.concurrent("/slow.js", 10);
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let refused = statuses.iter().filter(|&&s| s == 503).count();
    assert_eq!((ok, refused), (4, 6), "{statuses:?}");
    // Once they are done the connection takes new ones (now hits).
    assert_eq!(c.concurrent("/slow.js", 4), vec![200; 4]);
    let m = s.get("/metrics").text();
    assert!(m.contains("cdn_edge_http2_refused_streams_total 6"), "{m}");
    assert!(m.contains("cdn_edge_http_requests_by_version_total{version=\"2\"} 14"));
}

#[test]
fn a_reset_flood_leaves_the_node_serving() {
    let o = Origin::start();
    o.route(
        "/slow.js",
        Reply::ok("slow")
            .header("cache-control", "max-age=600")
            .delay(Duration::from_secs(1)),
    );
    let (_f, cert, s) = node(Some(&o), "[http2]\nmax_concurrent_streams = 8\n");
    let started = Instant::now();
    let mut flood = RawH2::connect(s.addr);
    let sent = flood.reset_flood("/slow.js", 20_000);
    let mut flood2 = RawH2::connect(s.addr);
    flood2.reset_flood("/plain.txt", 20_000);
    eprintln!("flood: {sent} streams opened and reset");
    // Whether or not the node cut the flooding connections short
    // (ENHANCE_YOUR_CALM), others are served, over both HTTP versions.
    assert!(sent > 0);
    let c = Client::new(&s, &cert, Proto::H2Tls);
    assert_eq!(c.get("/plain.txt", &[]).status, 200);
    assert_eq!(s.get("/plain.txt").status, 200);
    let mut fresh = RawH2::connect(s.addr);
    assert_eq!(fresh.concurrent("/plain.txt", 8), vec![200; 8]);
    // The origin saw at most one fetch per key: reset streams did not
    // each start their own.
    assert!(o.count("/slow.js") <= 1, "{}", o.count("/slow.js"));
    assert!(started.elapsed() < Duration::from_secs(60));
}
