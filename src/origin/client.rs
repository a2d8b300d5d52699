//! The HTTP client that talks to the origin: one connection pool shared
//! by every worker (`transport`: hyper-util's pooled client, why not
//! reqwest is said there), the configured timeouts (connect, first byte,
//! total), the `Host` header, retries of connection failures, and a body
//! size limit. It fetches and reports; what to store is decided elsewhere,
//! and which request headers to send is decided by the caller (see
//! `http::forward`). The origin's `103 Early Hints` go to the request that
//! leads the fetch, when it asked for them (`interim`).
//!
//! A body is held in memory only as far as the caller's [`Room`] allows,
//! asked before each part is kept: where it says no (too large to keep,
//! or no room in the memory bound now), the answer becomes a stream of
//! what was read and the rest as it arrives (`passing`), never a buffer
//! grown on faith.
//!
//! This is the one place where hyper's header types (http 1) meet the
//! crate's own (actix-web's, http 0.2): requests are converted on the way
//! out and responses on the way in, so nothing else sees hyper's types.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::{Bytes, BytesMut};
use http_body_util::Full;

use crate::clock::Clock;
use crate::config::OriginConfig;
use crate::http::forward::{connection_named, HOP_BY_HOP};
use crate::http::namespace;

mod body;
pub mod interim;
mod passing;
mod transport;
pub use passing::Streamed;

/// Where a body being fetched may be held while it arrives (the memory
/// bound, for the edge): asked before the part held grows.
pub trait Room {
    /// Whether `total` bytes of the body may be held; if not, why (the
    /// body is then streamed instead).
    fn grow(&mut self, total: u64) -> Result<(), Overflow>;

    /// The body held, once all of it (or all that will be held) is in: a
    /// `Bytes` that may carry what accounts for it.
    fn seal(&mut self, body: BytesMut) -> Bytes {
        body.freeze()
    }
}

/// Why a body is streamed rather than held whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Larger than the node keeps (or than `origin.max_object_bytes`).
    TooLarge,
    /// The memory bound has no room for it now.
    NoRoom,
}

/// An origin answer: whole, or streamed (and why).
#[derive(Debug)]
pub enum Got {
    /// The whole response, its body held.
    Whole(Fetched),
    /// The head, and the body as a stream of what was read and the rest.
    Streamed(Streamed, Overflow),
}

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
    /// The body is larger than the node passes on (502).
    #[error("origin object larger than {0} bytes")]
    TooLarge(u64),
    /// A 1xx as the final answer (see `origin::filter`) (502).
    #[error("origin answered {0}, an interim status, as its final response")]
    Interim(u16),
    /// A server error the origin gave the request this one waited for,
    /// told without the origin's own response (answered with its status).
    #[error("origin answered {0} to the request this one waited for")]
    ServerError(u16),
    /// The memory bound has no room for another response in progress (503).
    #[error("no room in cache.memory_bytes for another response in progress")]
    NoRoom,
}

impl FetchError {
    /// The status to answer the client with.
    pub fn status(&self) -> u16 {
        match self {
            FetchError::Timeout => 504,
            FetchError::ServerError(s) if (500..600).contains(s) => *s,
            FetchError::NoRoom => 503,
            _ => 502,
        }
    }

    /// What the client is told: the kind of fault, never the origin's
    /// address or the OS error (those go to the log).
    pub fn public_reason(&self) -> &'static str {
        match self {
            FetchError::Unreachable(_) => "origin unreachable",
            FetchError::Timeout => "origin timed out",
            FetchError::Broken(_) => "origin response broken",
            FetchError::TooLarge(_) => "origin object too large",
            FetchError::Interim(_) => "origin sent an interim (1xx) status as its answer",
            FetchError::ServerError(_) => "origin server error",
            FetchError::NoRoom => "node busy: memory bound reached, retry soon",
        }
    }
}

/// Which origin `origin.url` and `origin.host` reach, as a number that
/// stays the same across restarts (a hash of the two): what is stored from
/// one origin is never served for another. Never 0 (the mark of records
/// written before origins were told apart).
pub fn identity(url: &str, host: &str) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(url.trim_end_matches('/').as_bytes());
    h.update(b"\n");
    h.update(host.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first).max(1)
}

/// The origin's base URL and a pooled client.
#[derive(Debug, Clone)]
pub struct OriginClient {
    base: String,
    client: transport::Http,
    host: Option<http::HeaderValue>,
    clock: Arc<Clock>,
    first_byte: Duration,
    total: Duration,
    max_bytes: u64,
    max_stream: u64,
    retries: u32,
    /// Answers come from peers (see [`OriginClient::for_peers`]): the
    /// node's own fields are kept for the cluster to read.
    peers: bool,
}

/// The end-to-end headers of an origin response, in the crate's header
/// type: hop-by-hop headers, including any the `Connection` field names,
/// are left out (RFC 9110 §7.6.1), and so is the node's own namespace
/// (`X-CDN-Edge-*`): an origin never speaks for the node, on any path its
/// answer takes (stored, passed, streamed, forwarded, merged from a 304).
/// Order within a name and multiplicity are kept.
pub fn end_to_end(wire: &http::HeaderMap) -> HeaderMap {
    headers_of(wire, false)
}

/// [`end_to_end`], keeping the node's own fields when `keep_own` (a peer's
/// answer to this node's token-carrying request: `pull::route` reads them,
/// then strips them).
pub(super) fn headers_of(wire: &http::HeaderMap, keep_own: bool) -> HeaderMap {
    let named = connection_named(
        wire.get_all("connection")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let mut out = HeaderMap::with_capacity(wire.len());
    for (name, value) in wire {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        if !keep_own && namespace::is_own(n) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

/// The request headers to send, in hyper's type.
fn to_wire(headers: &HeaderMap) -> http::HeaderMap {
    let mut out = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            out.append(n, v);
        }
    }
    out
}

impl OriginClient {
    /// A client for `[origin]`, stamping request and response times from
    /// `clock`; `None` when no origin is configured.
    pub fn new(c: &OriginConfig, clock: Arc<Clock>) -> Result<Option<Self>, rustls::Error> {
        let Some(url) = &c.url else {
            return Ok(None);
        };
        let client = transport::client(c.connect_timeout)?;
        let host = (c.host.as_deref()).and_then(|h| http::HeaderValue::from_str(h).ok());
        Ok(Some(Self {
            base: url.trim_end_matches('/').to_string(),
            client,
            host,
            clock,
            first_byte: c.first_byte_timeout,
            total: c.total_timeout,
            max_bytes: c.max_object_bytes,
            max_stream: c.max_stream_bytes,
            retries: c.retries,
            peers: false,
        }))
    }

    /// The origin's base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Which origin this client reaches (see [`identity`]).
    pub fn identity(&self) -> u64 {
        let host = self.host.as_ref().and_then(|v| v.to_str().ok());
        identity(&self.base, host.unwrap_or_default())
    }

    /// GETs `path_and_query` (starting with `/`) with `extra` request
    /// headers (the client's forwarded ones, validators when revalidating),
    /// asking for identity; the body is held as far as `room` allows.
    pub async fn get(
        &self,
        path_and_query: &str,
        extra: &HeaderMap,
        room: &mut dyn Room,
    ) -> Result<Got, FetchError> {
        self.get_from(&self.base, path_and_query, extra, room).await
    }

    /// GETs `path_and_query` from `base` (a peer's URL for a client made
    /// by [`OriginClient::for_peers`]) as [`OriginClient::get`] does. The
    /// total timeout covers the whole exchange of a body held whole; a
    /// streamed one is bounded as [`OriginClient::stream`] says.
    pub async fn get_from(
        &self,
        base: &str,
        path_and_query: &str,
        extra: &HeaderMap,
        room: &mut dyn Room,
    ) -> Result<Got, FetchError> {
        let fetch = self.get_inner(base, path_and_query, extra, room);
        match tokio::time::timeout(self.total, fetch).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    /// A client for the cluster's peers, sharing this one's connection
    /// pool: no `Host` of the origin's, and timeouts long enough for a peer
    /// that is itself waiting for the origin (`wait`: how long it may wait
    /// for another request's fetch), so a slow origin never makes a live
    /// peer look dead. The base URL is given with each request. Its
    /// answers keep the node's own `X-CDN-Edge-*` fields, for the caller
    /// to read and strip (`pull::route`).
    pub fn for_peers(&self, wait: Duration) -> Self {
        let first_byte = wait + self.total + Duration::from_secs(1);
        Self {
            base: String::new(),
            host: None,
            first_byte,
            total: first_byte + self.total,
            peers: true,
            ..self.clone()
        }
    }

    /// Asks the origin for `HEAD /` and reports whether any HTTP answer
    /// came back within `limit` (the readiness probe).
    pub async fn probe(&self, limit: Duration) -> Result<u16, FetchError> {
        let mut req = hyper::Request::head(transport::uri(&format!("{}/", self.base))?)
            .body(Full::default())
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        if let Some(host) = &self.host {
            req.headers_mut().insert(http::header::HOST, host.clone());
        }
        transport::send(&self.client, req, limit)
            .await
            .map(|r| r.status().as_u16())
            .map_err(|(e, _)| e)
    }

    async fn get_inner(
        &self,
        base: &str,
        path_and_query: &str,
        extra: &HeaderMap,
        room: &mut dyn Room,
    ) -> Result<Got, FetchError> {
        let mut attempt = 0;
        let (mut resp, request_time) = loop {
            let request_time = self.clock.now();
            let req = self.get_request(base, path_and_query, extra)?;
            match transport::send(&self.client, req, self.first_byte).await {
                Ok(resp) => break (resp, request_time),
                Err((_, true)) if attempt < self.retries => attempt += 1,
                Err((e, _)) => return Err(e),
            }
        };
        let response_time = self.clock.now();
        // A declared length is held (or refused) at once.
        let declared = transport::content_length(&resp);
        let first = match declared {
            Some(n) if n > self.max_bytes => Err(Overflow::TooLarge),
            Some(n) => room.grow(n),
            None => Ok(()),
        };
        if let Err(why) = first {
            return self
                .streamed(resp, Vec::new())
                .map(|s| Got::Streamed(s, why));
        }
        let status = resp.status().as_u16();
        let mut body = transport::body_buffer(declared);
        while let Some(chunk) = transport::chunk(resp.body_mut()).await? {
            let total = (body.len() + chunk.len()) as u64;
            let fits = if total > self.max_bytes {
                Err(Overflow::TooLarge)
            } else {
                room.grow(total)
            };
            if let Err(why) = fits {
                // What was read goes first, then the rest as it comes.
                let read = vec![room.seal(body), chunk];
                return self.streamed(resp, read).map(|s| Got::Streamed(s, why));
            }
            body.extend_from_slice(&chunk);
        }
        let headers = headers_of(resp.headers(), self.peers);
        Ok(Got::Whole(Fetched {
            status,
            headers,
            body: room.seal(body),
            request_time,
            response_time,
        }))
    }
}

impl OriginClient {
    /// A GET of `base` + `path_and_query` with the `extra` headers, asking
    /// for identity (the node makes its own encodings), with the
    /// configured `Host`; the running task's interim relay, if any, gets
    /// its 1xx (`interim`).
    fn get_request(
        &self,
        base: &str,
        path_and_query: &str,
        extra: &HeaderMap,
    ) -> Result<transport::Request, FetchError> {
        let mut h = to_wire(extra);
        h.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        if let Some(host) = &self.host {
            h.insert(http::header::HOST, host.clone());
        }
        let uri = transport::uri(&format!("{base}{path_and_query}"))?;
        let mut req = hyper::Request::get(uri)
            .body(Full::default())
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        *req.headers_mut() = h;
        interim::register(&mut req);
        Ok(req)
    }
}
