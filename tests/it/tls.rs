//! HTTPS: the `[tls]` listener beside the plain one, ALPN (`h2`,
//! `http/1.1`), certificates by SNI, TLS 1.2 and 1.3 only, session
//! resumption, the redirect from plain HTTP, HSTS, handshake metrics, and
//! bad certificate files refused at start with the key, path and reason.

use crate::common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use common::http2::{test_cert, tls_table, Client, Proto, TestCert};
use common::*;

fn node(cert: &TestCert, tls_extra: &str, extra: &str) -> (Fixture, Server) {
    let f = Fixture::new();
    let cfg = config_with(&format!("{extra}\n{}", tls_table(cert, tls_extra)));
    let s = Server::start(&f.root, &cfg);
    (f, s)
}

/// The value of an unlabelled (or fully labelled) metric line.
fn metric(s: &Server, name: &str) -> u64 {
    let text = s.get("/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[test]
fn https_speaks_http2_and_http1_by_alpn() {
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(&cert, "", "");
    let h2 = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &[("accept-encoding", "br")]);
    let h1 = Client::new(&s, &cert, Proto::H1Tls).get("/app.css", &[("accept-encoding", "br")]);
    for r in [&h2, &h1] {
        assert_eq!(r.status, 200);
        assert_eq!(r.body, app_css_br());
        assert_eq!(r.header("content-encoding"), Some("br"));
    }
    assert_eq!(h1.header("etag"), h2.header("etag"));
    // The plain listener is still there.
    assert_eq!(s.get("/app.css").body, app_css());
    assert_ne!(s.addr, s.tls_addr());
}

/// A rustls client limited to `versions`, trusting `cert`, that sends one
/// HTTP/1.1 request to `addr` as `localhost`. Returns the protocol version
/// and whether the session was resumed, or the handshake error.
fn rustls_get(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> Result<(rustls::ProtocolVersion, bool, String), String> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(b"GET /plain.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let version = conn.protocol_version().ok_or("no version")?;
    let resumed = matches!(conn.handshake_kind(), Some(rustls::HandshakeKind::Resumed));
    Ok((version, resumed, String::from_utf8_lossy(&out).into_owned()))
}

fn client_config(
    cert: &TestCert,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.der.clone()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn tls_12_and_13_with_session_resumption() {
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(&cert, "", "");
    let a = s.tls_addr();
    for v in [&rustls::version::TLS13, &rustls::version::TLS12] {
        // One client config: its session store carries the ticket / id.
        let config = client_config(&cert, &[v]);
        let (got, resumed, body) = rustls_get(a, &config).unwrap();
        assert_eq!(got, v.version);
        assert!(!resumed);
        assert!(
            body.starts_with("HTTP/1.1 200") && body.ends_with("hello plain text\n"),
            "{body}"
        );
        let (_, resumed, _) = rustls_get(a, &config).unwrap();
        assert!(resumed, "{:?}: the second connection resumes", v.version);
    }
    assert!(poll_until(CHANGE_TIMEOUT, || metric(
        &s,
        "cdn_edge_tls_sessions_resumed_total"
    ) == 2));
    assert_eq!(
        metric(&s, "cdn_edge_tls_handshakes_total{result=\"ok\"}"),
        4
    );
}

/// rustls has no TLS 1.0/1.1 client: OpenSSL's `s_client` is one.
#[test]
#[ignore = "needs openssl (a TLS 1.0/1.1 client): run by .ci/run"]
fn tls_10_and_11_are_refused() {
    assert!(
        Command::new("openssl").arg("version").output().is_ok(),
        "this test needs the openssl program"
    );
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(&cert, "", "");
    let connect = format!("{}", s.tls_addr());
    for flag in ["-tls1", "-tls1_1", "-tls1_2"] {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &connect,
                "-servername",
                "localhost",
                flag,
            ])
            .args(["-cipher", "DEFAULT@SECLEVEL=0"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let negotiated = text.contains("Cipher is ") && !text.contains("Cipher is (NONE)");
        assert_eq!(negotiated, flag == "-tls1_2", "{flag}: {text}");
    }
}

#[test]
fn certificates_are_chosen_by_sni() {
    let default = test_cert(&["localhost"]);
    let other = test_cert(&["static.test", "*.assets.test"]);
    let extra = format!(
        "[[tls.certificates]]\ncert = {:?}\nkey = {:?}\n",
        other.cert.display().to_string(),
        other.key.display().to_string()
    );
    let (_f, s) = node(&default, &extra, "");
    let peer = |trust: &TestCert, name: &str| {
        Client::for_name(&s, trust, Proto::H2Tls, name).peer_certificate("/plain.txt")
    };
    assert_eq!(peer(&default, "localhost"), default.der);
    assert_eq!(peer(&other, "static.test"), other.der);
    assert_eq!(peer(&other, "img.assets.test"), other.der);
    // An unknown name gets the default certificate (and so fails to verify).
    let unknown = Client::for_name(&s, &other, Proto::H2Tls, "unknown.test").try_req(
        "GET",
        "/plain.txt",
        &[],
        None,
    );
    assert!(unknown.is_err());
    // SNI picks the certificate, never what is served.
    let r = Client::for_name(&s, &other, Proto::H2Tls, "static.test").get("/plain.txt", &[]);
    assert_eq!(r.body, PLAIN_TXT);
}

#[test]
fn plain_http_redirects_to_https_but_health_and_metrics_stay() {
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(
        &cert,
        "redirect_http = true\nhsts = \"max-age=31536000\"",
        "",
    );
    let port = s.tls_addr().port();
    let raw = send_raw(
        s.addr,
        b"GET /app.css?v=1 HTTP/1.1\r\nHost: static.example.com:8080\r\nConnection: close\r\n\r\n",
    );
    let r = parse_response(&raw, false).unwrap();
    assert_eq!(r.status, 308, "{}", r.summary());
    let want = format!("https://static.example.com:{port}/app.css?v=1");
    assert_eq!(r.header("location"), Some(want.as_str()));
    assert!(
        !r.has("strict-transport-security"),
        "no HSTS over plain HTTP"
    );
    // HTTP/2 with prior knowledge: the host comes from :authority.
    let h2c = Client::new(&s, &cert, Proto::H2c).get("/img.png", &[]);
    assert_eq!(h2c.status, 308);
    let want = format!("https://127.0.0.1:{port}/img.png");
    assert_eq!(h2c.header("location"), Some(want.as_str()));
    for path in ["/healthz", "/metrics"] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.has("strict-transport-security"));
    }
    // Over HTTPS: served, with HSTS, on every answer.
    let c = Client::new(&s, &cert, Proto::H2Tls);
    for (path, status) in [("/app.css", 200), ("/missing", 404)] {
        let r = c.get(path, &[]);
        assert_eq!(r.status, status);
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000")
        );
    }
}

#[test]
fn without_redirect_or_hsts_plain_http_serves_and_https_has_no_hsts() {
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(&cert, "", "");
    assert_eq!(s.get("/app.css").status, 200);
    let r = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &[]);
    assert!(!r.has("strict-transport-security"));
}

#[test]
fn handshakes_are_counted_ok_and_failed() {
    let cert = test_cert(&["localhost"]);
    let (_f, s) = node(&cert, "", "");
    let c = Client::new(&s, &cert, Proto::H2Tls);
    for _ in 0..3 {
        c.get("/plain.txt", &[]);
    }
    // A client that does not trust the certificate aborts the handshake.
    let stranger = test_cert(&["localhost"]);
    assert!(Client::new(&s, &stranger, Proto::H2Tls)
        .try_req("GET", "/plain.txt", &[], None)
        .is_err());
    assert!(poll_until(CHANGE_TIMEOUT, || {
        metric(&s, "cdn_edge_tls_handshakes_total{result=\"failed\"}") == 1
    }));
    assert_eq!(
        metric(&s, "cdn_edge_tls_handshakes_total{result=\"ok\"}"),
        1
    );
    assert_eq!(
        metric(&s, "cdn_edge_http_requests_by_version_total{version=\"2\"}"),
        3
    );
}

#[test]
fn bad_certificate_files_are_refused_at_start_with_path_and_reason() {
    let good = test_cert(&["localhost"]);
    let other = test_cert(&["localhost"]);
    let f = Fixture::new();
    let missing = f.parent().join("nope.pem");
    let garbage = f.parent().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let cases: Vec<(String, String, &str)> = vec![
        (
            missing.display().to_string(),
            good.key.display().to_string(),
            "No such file",
        ),
        (
            garbage.display().to_string(),
            good.key.display().to_string(),
            "no CERTIFICATE block",
        ),
        (
            good.cert.display().to_string(),
            garbage.display().to_string(),
            "no PRIVATE KEY block",
        ),
        (
            good.cert.display().to_string(),
            other.key.display().to_string(),
            "does not match the certificate",
        ),
    ];
    for (cert, key, reason) in cases {
        let cfg = format!("[tls]\nlisten = \"127.0.0.1:0\"\ncert = {cert:?}\nkey = {key:?}\n");
        let (status, stderr) = run_config_expect_exit(&f.root, &cfg);
        assert_eq!(status.code(), Some(2), "{stderr}");
        let lines = nonempty_lines(&stderr);
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.contains(reason), "{reason}: {stderr}");
        let named = if reason.contains("PRIVATE KEY") || reason.contains("does not match") {
            ("tls.key", key)
        } else {
            ("tls.cert", cert)
        };
        assert!(
            last.contains(named.0) && last.contains(&named.1),
            "{stderr}"
        );
    }
    // A key without a listener is a config error too.
    let (status, stderr) =
        run_config_expect_exit(&f.root, "[tls]\ncert = \"a.pem\"\nkey = \"b.pem\"\n");
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("tls.listen"), "{stderr}");
}
