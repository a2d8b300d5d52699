//! What the origin client passes on instead of fetching to store: bodies
//! too large to keep, or for which the memory bound has no room (streamed
//! as they arrive, see `body`), and requests with unsafe methods
//! (forwarded as they came, never retried, their answers streamed too).

use actix_web::http::header::HeaderMap;
use bytes::Bytes;

use http_body_util::Full;

use super::transport::{self, send};
use super::{body, headers_of, to_wire, FetchError, OriginClient};

/// A response whose body is passed on as it arrives.
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
    /// stream with an error, which aborts the client's response; so does
    /// one past `origin.max_stream_bytes` or an origin silent for
    /// `origin.total_timeout_ms` between two parts (see `body`).
    pub async fn stream(
        &self,
        path_and_query: &str,
        extra: &HeaderMap,
    ) -> Result<Streamed, FetchError> {
        let req = self.get_request(&self.base, path_and_query, extra)?;
        let resp = send(&self.client, req, self.first_byte)
            .await
            .map_err(|(e, _)| e)?;
        self.streamed(resp, Vec::new())
    }

    /// `resp` as a stream: `read` (the parts read already), then the rest.
    /// A declared length past `origin.max_stream_bytes` is refused.
    pub(super) fn streamed(
        &self,
        resp: transport::Response,
        read: Vec<Bytes>,
    ) -> Result<Streamed, FetchError> {
        let len = transport::content_length(&resp);
        if len.is_some_and(|n| n > self.max_stream) {
            return Err(FetchError::TooLarge(self.max_stream));
        }
        let (head, incoming) = resp.into_parts();
        Ok(Streamed {
            status: head.status.as_u16(),
            headers: headers_of(&head.headers, self.peers),
            len,
            body: body::stream(incoming, read, self.max_stream, self.total),
        })
    }
}

impl OriginClient {
    /// Forwards a request with an unsafe method (POST, PUT, DELETE, ...) as
    /// it came: method, target, the headers the caller chose to forward
    /// (RFC 9110 §7.6.1) and body. Never retried. The answer's body is
    /// streamed as [`OriginClient::stream`]'s is, never read whole.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Streamed, FetchError> {
        let method = http::Method::from_bytes(method.as_bytes())
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let mut h = to_wire(headers);
        if let Some(host) = &self.host {
            h.insert(http::header::HOST, host.clone());
        }
        let uri = transport::uri(&format!("{}{}", self.base, path_and_query))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        *req.headers_mut() = h;
        let resp = send(&self.client, req, self.total)
            .await
            .map_err(|(e, _)| e)?;
        self.streamed(resp, Vec::new())
    }
}
