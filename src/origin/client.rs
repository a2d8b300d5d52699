//! The HTTP client that talks to the origin: one `reqwest` connection pool
//! shared by every worker, the configured timeouts (connect, first byte,
//! total), the `Host` header, retries of connection failures, and a body
//! size limit. It fetches and reports; what to store is decided elsewhere.

use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::OriginConfig;

/// A complete response from the origin.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Status code.
    pub status: u16,
    /// End-to-end headers (hop-by-hop ones removed, RFC 9110 §7.6.1).
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// When the request was sent (RFC 9111 §4.2.3 `request_time`).
    pub request_time: SystemTime,
    /// When the response head arrived (`response_time`).
    pub response_time: SystemTime,
}

/// Why a fetch failed; each maps to a status for the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// No connection could be made, or it broke before a response (502).
    #[error("origin unreachable: {0}")]
    Unreachable(String),
    /// No response head within the first-byte timeout, or the whole
    /// exchange took longer than the total timeout (504).
    #[error("origin timed out")]
    Timeout,
    /// The body ended early or broke (502).
    #[error("origin response broken: {0}")]
    Broken(String),
    /// The body is larger than `origin.max_object_bytes` (502).
    #[error("origin object larger than {0} bytes")]
    TooLarge(u64),
}

impl FetchError {
    /// The status to answer the client with.
    pub fn status(&self) -> u16 {
        match self {
            FetchError::Timeout => 504,
            _ => 502,
        }
    }
}

/// The origin's base URL and a pooled client.
#[derive(Debug, Clone)]
pub struct OriginClient {
    base: String,
    client: reqwest::Client,
    host: Option<HeaderValue>,
    first_byte: Duration,
    total: Duration,
    max_bytes: u64,
    retries: u32,
}

/// Headers that describe a connection, not a message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// Removes hop-by-hop headers, including any the `Connection` field names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for h in HOP_BY_HOP.iter().copied().map(String::from).chain(named) {
        if let Ok(name) = HeaderName::from_bytes(h.as_bytes()) {
            headers.remove(name);
        }
    }
}

impl OriginClient {
    /// A client for `[origin]`; `None` when no origin is configured.
    pub fn new(c: &OriginConfig) -> Result<Option<Self>, String> {
        if c.url.is_empty() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(c.connect_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("origin client: {e}"))?;
        let host = if c.host.is_empty() {
            None
        } else {
            HeaderValue::from_str(&c.host).ok()
        };
        Ok(Some(Self {
            base: c.url.trim_end_matches('/').to_string(),
            client,
            host,
            first_byte: Duration::from_millis(c.first_byte_timeout_ms),
            total: Duration::from_millis(c.total_timeout_ms),
            max_bytes: c.max_object_bytes,
            retries: c.retries,
        }))
    }

    /// GETs `path_and_query` (starting with `/`) with `extra` request
    /// headers (validators when revalidating), asking for identity.
    pub async fn get(
        &self,
        path_and_query: &str,
        extra: &HeaderMap,
    ) -> Result<Fetched, FetchError> {
        match tokio::time::timeout(self.total, self.get_inner(path_and_query, extra)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn get_inner(
        &self,
        path_and_query: &str,
        extra: &HeaderMap,
    ) -> Result<Fetched, FetchError> {
        let mut attempt = 0;
        let (mut resp, request_time) = loop {
            let request_time = SystemTime::now();
            match send(self.get_request(path_and_query, extra), self.first_byte).await {
                Ok(resp) => break (resp, request_time),
                Err((_, true)) if attempt < self.retries => attempt += 1,
                Err((e, _)) => return Err(e),
            }
        };
        let response_time = SystemTime::now();
        if resp.content_length().is_some_and(|n| n > self.max_bytes) {
            return Err(FetchError::TooLarge(self.max_bytes));
        }
        let status = resp.status().as_u16();
        let mut body = BytesMut::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > self.max_bytes {
                        return Err(FetchError::TooLarge(self.max_bytes));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(FetchError::Timeout),
                Err(e) => return Err(FetchError::Broken(short(&e))),
            }
        }
        let mut headers = resp.headers().clone();
        strip_hop_by_hop(&mut headers);
        Ok(Fetched {
            status,
            headers,
            body: body.freeze(),
            request_time,
            response_time,
        })
    }
}

/// A response whose body is passed on as it arrives (too large to store).
pub struct Streamed {
    /// Status code.
    pub status: u16,
    /// End-to-end headers.
    pub headers: HeaderMap,
    /// Body length, when the origin declared it.
    pub len: Option<u64>,
    /// The body.
    pub body: futures_util::stream::BoxStream<'static, Result<Bytes, FetchError>>,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("status", &self.status)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl OriginClient {
    /// GETs `path_and_query` and hands the body over as a stream, for
    /// objects larger than the node stores. A body that breaks ends the
    /// stream with an error, which aborts the client's response.
    pub async fn stream(&self, path_and_query: &str) -> Result<Streamed, FetchError> {
        use futures_util::StreamExt;
        let req = self.get_request(path_and_query, &HeaderMap::new());
        let resp = send(req, self.first_byte).await.map_err(|(e, _)| e)?;
        let status = resp.status().as_u16();
        let len = resp.content_length();
        let mut headers = resp.headers().clone();
        strip_hop_by_hop(&mut headers);
        let body = resp
            .bytes_stream()
            .map(|r| r.map_err(|e| FetchError::Broken(short(&e))))
            .boxed();
        Ok(Streamed {
            status,
            headers,
            len,
            body,
        })
    }
}

impl OriginClient {
    /// Forwards a request with an unsafe method (POST, PUT, DELETE, ...) as
    /// it came: method, target, end-to-end headers and body (RFC 9110
    /// §7.6.1: hop-by-hop headers are not forwarded). Never retried.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Fetched, FetchError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let mut h = headers.clone();
        strip_hop_by_hop(&mut h);
        h.remove("host");
        h.remove("content-length");
        if let Some(host) = &self.host {
            h.insert("host", host.clone());
        }
        h.append("via", HeaderValue::from_static("1.1 cdn-edge"));
        let url = format!("{}{}", self.base, path_and_query);
        let request_time = SystemTime::now();
        let req = self.client.request(method, &url).headers(h).body(body);
        let resp = send(req, self.total).await.map_err(|(e, _)| e)?;
        let response_time = SystemTime::now();
        let status = resp.status().as_u16();
        let mut headers = resp.headers().clone();
        strip_hop_by_hop(&mut headers);
        let body = match tokio::time::timeout(self.total, resp.bytes()).await {
            Err(_) => return Err(FetchError::Timeout),
            Ok(Err(e)) => return Err(FetchError::Broken(short(&e))),
            Ok(Ok(b)) => b,
        };
        Ok(Fetched {
            status,
            headers,
            body,
            request_time,
            response_time,
        })
    }
}

impl OriginClient {
    /// A GET of `path_and_query` asking for identity, with our `Via`, the
    /// configured `Host` and `extra` headers.
    fn get_request(&self, path_and_query: &str, extra: &HeaderMap) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .get(format!("{}{}", self.base, path_and_query))
            .header("accept-encoding", "identity")
            .header("via", "1.1 cdn-edge");
        if let Some(h) = &self.host {
            req = req.header("host", h.clone());
        }
        req.headers(extra.clone())
    }
}

/// Sends a request and waits at most `limit` for the response head. The
/// flag on an error says it was a connection failure (worth a retry).
async fn send(
    req: reqwest::RequestBuilder,
    limit: Duration,
) -> Result<reqwest::Response, (FetchError, bool)> {
    match tokio::time::timeout(limit, req.send()).await {
        Err(_) => Err((FetchError::Timeout, false)),
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) if e.is_timeout() => Err((FetchError::Timeout, false)),
        Ok(Err(e)) => Err((FetchError::Unreachable(short(&e)), e.is_connect())),
    }
}

/// An error's message and its causes, on one line.
fn short(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
