//! TLS and HTTP/2 for the integration tests: a certificate made at test time
//! (rcgen), a node started with `[tls]` on 127.0.0.1:0, and a client that
//! speaks h2c with prior knowledge, HTTP/2 over TLS (ALPN `h2`) or HTTP/1.1
//! over TLS, returning the same [`Response`] as the raw HTTP/1.1 client.
//! Every HTTP/2 response is checked for the fields HTTP/2 forbids.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tempfile::TempDir;

use super::{poll_until, Response, Server, START_TIMEOUT};

/// A self-signed certificate and its key, written as PEM files.
pub struct TestCert {
    _dir: TempDir,
    /// The certificate chain (one certificate).
    pub cert: PathBuf,
    /// The private key (PKCS#8).
    pub key: PathBuf,
    /// The certificate, PEM, for a client to trust.
    pub pem: Vec<u8>,
    /// The certificate, DER, to compare with what a server presented.
    pub der: Vec<u8>,
    /// Its SubjectPublicKeyInfo, DER (what a browser pins:
    /// `--ignore-certificate-errors-spki-list` takes its SHA-256).
    pub spki: Vec<u8>,
}

/// A new ECDSA P-256 certificate for these DNS names.
pub fn test_cert(names: &[&str]) -> TestCert {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let c = rcgen::generate_simple_self_signed(names).expect("rcgen");
    let dir = tempfile::tempdir().expect("cert tempdir");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    TestCert {
        _dir: dir,
        cert,
        key,
        pem: c.cert.pem().into_bytes(),
        der: c.cert.der().to_vec(),
        spki: c.key_pair.public_key_der(),
    }
}

/// A `[tls]` table listening on 127.0.0.1:0 with `cert` as the default
/// certificate, plus `extra` lines in the table.
pub fn tls_table(cert: &TestCert, extra: &str) -> String {
    format!(
        "[tls]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n{extra}\n",
        cert.cert.display().to_string(),
        cert.key.display().to_string()
    )
}

impl Server {
    /// The HTTPS address the node reported (`listening on https://ADDR`).
    pub fn tls_addr(&self) -> SocketAddr {
        let mut found = None;
        poll_until(START_TIMEOUT, || {
            found = self.stderr.lock().unwrap().iter().find_map(|l| {
                let rest = &l[l.find("listening on https://")? + "listening on https://".len()..];
                rest.split_whitespace().next()?.parse().ok()
            });
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no https listener: {}", self.stderr_text()))
    }
}

/// How a [`Client`] reaches the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/2 with prior knowledge on the plain listener.
    H2c,
    /// HTTP/2 over TLS, negotiated by ALPN.
    H2Tls,
    /// HTTP/1.1 over TLS.
    H1Tls,
}

/// Both ways to speak HTTP/2 to a node.
pub const HTTP2: [Proto; 2] = [Proto::H2c, Proto::H2Tls];

/// A client for one node over one protocol (one connection, reused).
pub struct Client {
    inner: reqwest::blocking::Client,
    base: String,
    /// The protocol it speaks.
    pub proto: Proto,
}

impl Client {
    /// A client of `s` over `proto`, trusting `cert` (TLS reaches the node
    /// as `localhost`).
    pub fn new(s: &Server, cert: &TestCert, proto: Proto) -> Client {
        Client::for_name(s, cert, proto, "localhost")
    }

    /// A client of `s` that asks for the TLS name `name` (SNI).
    pub fn for_name(s: &Server, cert: &TestCert, proto: Proto, name: &str) -> Client {
        let b = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_info(true)
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&cert.pem).unwrap());
        let (b, base) = match proto {
            Proto::H2c => (b.http2_prior_knowledge(), format!("http://{}", s.addr)),
            Proto::H2Tls => {
                let a = s.tls_addr();
                (b.resolve(name, a), format!("https://{name}:{}", a.port()))
            }
            Proto::H1Tls => {
                let a = s.tls_addr();
                (
                    b.http1_only().resolve(name, a),
                    format!("https://{name}:{}", a.port()),
                )
            }
        };
        Client {
            inner: b.build().expect("reqwest client"),
            base,
            proto,
        }
    }

    /// Sends one request; panics if it fails or comes back over the wrong
    /// HTTP version.
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_req(method, path, headers, None)
            .unwrap_or_else(|e| panic!("{:?} {method} {path}: {e}", self.proto))
    }

    /// `GET path` with headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.req("GET", path, headers)
    }

    /// Sends one request with an optional body.
    pub fn try_req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Response, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut rb = self.inner.request(method, format!("{}{path}", self.base));
        for (n, v) in headers {
            rb = rb.header(*n, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().map_err(|e| format!("{e:?}"))?;
        let want = match self.proto {
            Proto::H2c | Proto::H2Tls => reqwest::Version::HTTP_2,
            Proto::H1Tls => reqwest::Version::HTTP_11,
        };
        if resp.version() != want {
            return Err(format!("answered over {:?}", resp.version()));
        }
        let (status, fields) = (resp.status().as_u16(), resp.headers().clone());
        let body = resp.bytes().map_err(|e| e.to_string())?.to_vec();
        let r = Response::of_head(status, &fields, body);
        if want == reqwest::Version::HTTP_2 {
            r.assert_no_connection_fields("HTTP/2");
        }
        Ok(r)
    }

    /// The DER of the certificate the server presented (TLS only).
    pub fn peer_certificate(&self, path: &str) -> Vec<u8> {
        let resp = self
            .inner
            .get(format!("{}{path}", self.base))
            .send()
            .expect("request");
        resp.extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .expect("TLS info")
            .to_vec()
    }
}
