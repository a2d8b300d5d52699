//! An HTTP/3 client for the integration tests, on the node's own crates
//! (quinn, h3, h3-quinn, rustls): one QUIC connection to a node's
//! `[http3]` listener, trusting a [`TestCert`], returning the same
//! [`Response`] as the other clients. Requests can run one at a time or
//! many at once on the one connection. Every response is checked for
//! the fields HTTP/3 forbids (RFC 9114 §4.2).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use h3::client::SendRequest;

use super::http2::TestCert;
use super::{poll_until, Response, Server, START_TIMEOUT};

impl Server {
    /// The HTTP/3 address the node reported (`listening on https://ADDR
    /// (HTTP/3, UDP)`).
    pub fn h3_addr(&self) -> SocketAddr {
        let mut found = None;
        poll_until(START_TIMEOUT, || {
            found = self.stderr.lock().unwrap().iter().find_map(|l| {
                if !l.contains("(HTTP/3, UDP)") {
                    return None;
                }
                let rest = &l[l.find("listening on https://")? + "listening on https://".len()..];
                rest.split_whitespace().next()?.parse().ok()
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no HTTP/3 listener: {}", self.stderr_text()))
    }
}

/// A `[http3]` table on 127.0.0.1:0, plus `extra` lines.
pub fn h3_table(extra: &str) -> String {
    format!("[http3]\nlisten = \"127.0.0.1:0\"\n{extra}\n")
}

/// How long one request may take before the client gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP/3 connection to a node.
pub struct H3Client {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    held: Vec<h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>>,
    send: SendRequest<h3_quinn::OpenStreams, Bytes>,
    conn: quinn::Connection,
    _endpoint: quinn::Endpoint,
    authority: String,
}

/// A rustls client config for HTTP/3 trusting `cert` only.
pub fn client_tls(cert: &TestCert) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.der.clone()))
        .expect("test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    tls
}

impl H3Client {
    /// A client of `s`'s HTTP/3 listener, trusting `cert` (TLS name
    /// `localhost`).
    pub fn new(s: &Server, cert: &TestCert) -> H3Client {
        H3Client::try_connect(s.h3_addr(), cert).unwrap_or_else(|e| panic!("HTTP/3 connect: {e}"))
    }

    /// Connects to `addr`, or says why not.
    pub fn try_connect(addr: SocketAddr, cert: &TestCert) -> Result<H3Client, String> {
        H3Client::connect_within(addr, cert, TIMEOUT)
    }

    /// Connects to `addr` within `handshake`, or says why not.
    pub fn connect_within(
        addr: SocketAddr,
        cert: &TestCert,
        handshake: Duration,
    ) -> Result<H3Client, String> {
        // One thread of its own: the connection answers (acknowledges,
        // takes flow-controlled data) between the test's calls too.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mut tls = client_tls(cert);
        tls.enable_early_data = true;
        let (send, conn, endpoint) = rt.block_on(async {
            let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
                .map_err(|e| e.to_string())?;
            let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap())
                .map_err(|e| e.to_string())?;
            endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
            let connecting = endpoint
                .connect(addr, "localhost")
                .map_err(|e| e.to_string())?;
            let conn = tokio::time::timeout(handshake, connecting)
                .await
                .map_err(|_| "handshake timed out".to_string())?
                .map_err(|e| e.to_string())?;
            let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(async move {
                let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            });
            Ok::<_, String>((send, conn, endpoint))
        })?;
        Ok(H3Client {
            rt,
            addr,
            held: Vec::new(),
            send,
            conn,
            _endpoint: endpoint,
            authority: format!("localhost:{}", addr.port()),
        })
    }

    /// Sends one request; panics if it fails.
    pub fn req(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_req(method, path, headers, None)
            .unwrap_or_else(|e| panic!("HTTP/3 {method} {path}: {e}"))
    }

    /// `GET path` with headers.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.req("GET", path, headers)
    }

    /// Sends one request with an optional body.
    pub fn try_req(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let r = request(&self.authority, method, path, headers)?;
        let send = self.send.clone();
        self.rt.block_on(exchange(send, r, body))
    }

    /// Sends a request with `body`; the response, and why sending the body
    /// failed if it did (a server that answered early and stopped the
    /// upload: its STOP_SENDING code).
    pub fn upload(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (Result<Response, String>, Option<String>) {
        let r = match request(&self.authority, method, path, headers) {
            Ok(r) => r,
            Err(e) => return (Err(e), None),
        };
        let send = self.send.clone();
        self.rt.block_on(exchange_and_upload(send, r, Some(body)))
    }

    /// `GET` every path at once, each on a stream of its own of the one
    /// connection; the responses in the order of `paths`.
    pub fn get_all(
        &mut self,
        paths: &[String],
        headers: &[(&str, &str)],
    ) -> Vec<Result<Response, String>> {
        let reqs: Vec<_> = paths
            .iter()
            .map(|p| request(&self.authority, "GET", p, headers))
            .collect();
        let send = self.send.clone();
        self.rt.block_on(async move {
            let tasks: Vec<_> = reqs
                .into_iter()
                .map(|r| {
                    let send = send.clone();
                    tokio::spawn(async move { exchange(send, r?, None).await })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
            }
            out
        })
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<String> {
        self.conn.close_reason().map(|e| e.to_string())
    }

    /// Waits up to `within` for the connection to close; its reason.
    pub fn wait_closed(&mut self, within: Duration) -> Option<String> {
        let conn = self.conn.clone();
        self.rt.block_on(async move {
            tokio::time::timeout(within, conn.closed())
                .await
                .ok()
                .map(|e| e.to_string())
        })
    }
}

/// The `http::Request` for a method, path and fields.
fn request(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<http::Request<()>, String> {
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("https://{authority}{path}"));
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(()).map_err(|e| e.to_string())
}

/// One request and its whole response.
async fn exchange(
    send: SendRequest<h3_quinn::OpenStreams, Bytes>,
    req: http::Request<()>,
    body: Option<Vec<u8>>,
) -> Result<Response, String> {
    exchange_and_upload(send, req, body).await.0
}

/// One request and its whole response, and why sending the request's body
/// failed, if it did.
async fn exchange_and_upload(
    mut send: SendRequest<h3_quinn::OpenStreams, Bytes>,
    req: http::Request<()>,
    body: Option<Vec<u8>>,
) -> (Result<Response, String>, Option<String>) {
    let mut sent = Ok(());
    let resp = tokio::time::timeout(TIMEOUT, async {
        let mut stream = send.send_request(req).await.map_err(|e| e.to_string())?;
        // A server may answer before it read the whole body and stop the
        // upload (RFC 9114 §4.1.1: a client must not discard that
        // response): the send's error only counts when no response comes.
        if let Some(b) = body {
            sent = stream.send_data(Bytes::from(b)).await;
        }
        if sent.is_ok() {
            sent = stream.finish().await;
        }
        let resp = match stream.recv_response().await {
            Ok(r) => r,
            Err(e) => {
                return Err(sent.as_ref().err().map_or(e.to_string(), |s| s.to_string()));
            }
        };
        let mut body = Vec::new();
        while let Some(mut chunk) = stream.recv_data().await.map_err(|e| e.to_string())? {
            while chunk.has_remaining() {
                let c = chunk.chunk();
                body.extend_from_slice(c);
                let n = c.len();
                chunk.advance(n);
            }
        }
        let r = Response::of_head(resp.status().as_u16(), resp.headers(), body);
        r.assert_no_connection_fields("HTTP/3");
        Ok(r)
    })
    .await
    .unwrap_or_else(|_| Err("timed out".to_string()));
    (resp, sent.err().map(|e| e.to_string()))
}

/// A port number free on 127.0.0.1 for TCP and for UDP alike just now
/// (both were bound and let go): for an HTTPS listener and a QUIC one on
/// the same number, which a browser's `--origin-to-force-quic-on` needs.
pub fn free_tcp_udp_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `[tls]` on 127.0.0.1:`port` with `cert`, and with `Some(extra)` an
/// `[http3]` table on the same port number (`extra` lines in it).
pub fn same_port_tables(cert: &TestCert, port: u16, h3: Option<&str>) -> String {
    let tls = format!(
        "[tls]\nlisten = \"127.0.0.1:{port}\"\ncert = {:?}\nkey = {:?}\n",
        cert.cert.display().to_string(),
        cert.key.display().to_string()
    );
    match h3 {
        Some(extra) => format!("{tls}[http3]\nlisten = \"127.0.0.1:{port}\"\n{extra}\n"),
        None => tls,
    }
}

/// Starts a node over `root` with `config(port)`, on a port number taken
/// by [`free_tcp_udp_port`], again on a fresh number if another process
/// took it meanwhile. With `h3`, returns once the QUIC listener is up.
pub fn start_on_free_port(
    root: &std::path::Path,
    config: impl Fn(u16) -> String,
    h3: bool,
) -> (Server, u16) {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_tcp_udp_port();
        match start_on_port(root, &config(port), h3) {
            Ok(s) => return (s, port),
            Err(e) => last = e,
        }
    }
    panic!("no node on a shared TCP/UDP port after 5 tries: {last}");
}

/// Starts a node over `root` with `config`; with `h3`, waits for its QUIC
/// listener. `Err` (the node's stderr, the node stopped) when it did not
/// start, or with `h3` logged that it cannot listen: its port was taken.
pub fn start_on_port(root: &std::path::Path, config: &str, h3: bool) -> Result<Server, String> {
    let s = Server::try_start(root, config)?;
    if !h3 {
        return Ok(s);
    }
    let mut up = false;
    poll_until(START_TIMEOUT, || {
        let text = s.stderr_text();
        up = text.contains("(HTTP/3, UDP)");
        up || text.contains("cannot listen")
    });
    if up {
        Ok(s)
    } else {
        Err(s.stderr_text())
    }
}

impl Drop for H3Client {
    /// Closes the connection (the node learns at once, not at its idle
    /// timeout).
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"");
        let endpoint = self._endpoint.clone();
        self.rt.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        });
    }
}

impl H3Client {
    /// The DER of the certificate the node presented.
    pub fn peer_certificate(&self) -> Vec<u8> {
        let id = self.conn.peer_identity().expect("peer identity");
        let chain = id
            .downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
            .expect("rustls certificates");
        chain[0].to_vec()
    }

    /// A new connection from the same endpoint, resuming the TLS session
    /// of the last one with 0-RTT: `GET path` (or another `method`) is
    /// sent in early data, before the handshake completes. The response,
    /// and whether the server accepted the early data.
    pub fn early(&mut self, method: &str, path: &str) -> (Response, bool) {
        let req = request(&self.authority, method, path, &[]).unwrap();
        let (endpoint, addr) = (self._endpoint.clone(), self.addr);
        let (resp, accepted, send, conn) = self.rt.block_on(async move {
            let connecting = endpoint.connect(addr, "localhost").unwrap();
            // No session that allows early data: a full handshake first.
            let (conn, accepted) = match connecting.into_0rtt() {
                Ok((conn, accepted)) => (conn, Some(accepted)),
                Err(connecting) => (connecting.await.expect("handshake"), None),
            };
            let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
                .await
                .expect("h3 over 0-RTT");
            tokio::spawn(async move {
                let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            });
            let resp = exchange(send.clone(), req, None)
                .await
                .expect("0-RTT request");
            let accepted = match accepted {
                Some(a) => a.await,
                None => false,
            };
            (resp, accepted, send, conn)
        });
        self.send = send;
        self.conn = conn;
        (resp, accepted)
    }

    /// Sends `GET path` and reads its head, then holds the stream without
    /// reading its body (a client that stopped reading).
    pub fn hold(&mut self, path: &str) -> Response {
        let req = request(&self.authority, "GET", path, &[]).unwrap();
        let mut send = self.send.clone();
        let (resp, stream) = self.rt.block_on(async move {
            let mut stream = send.send_request(req).await.expect("send");
            stream.finish().await.expect("finish");
            let resp = stream.recv_response().await.expect("head");
            (resp, stream)
        });
        self.held.push(stream);
        Response::of_head(resp.status().as_u16(), resp.headers(), Vec::new())
    }

    /// Reads the held streams' bodies to their end: the bytes each
    /// carried, or why it ended early (a reset).
    pub fn read_held(&mut self) -> Vec<Result<usize, String>> {
        let held = std::mem::take(&mut self.held);
        self.rt.block_on(async move {
            let mut out = Vec::new();
            for mut s in held {
                let mut n = 0;
                let r = tokio::time::timeout(TIMEOUT, async {
                    loop {
                        match s.recv_data().await {
                            Ok(Some(c)) => n += c.remaining(),
                            Ok(None) => return Ok(n),
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                })
                .await
                .unwrap_or_else(|_| Err("timed out".into()));
                out.push(r);
            }
            out
        })
    }
}
