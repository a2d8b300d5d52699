//! What the origin client passes on instead of fetching to store: bodies
//! too large to keep (streamed as they arrive) and requests with unsafe
//! methods (forwarded as they came, never retried).

use actix_web::http::header::HeaderMap;
use bytes::Bytes;

use crate::error_chain::chain;

use super::{end_to_end, send, to_wire, FetchError, Fetched, OriginClient};

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
    pub async fn stream(
        &self,
        path_and_query: &str,
        extra: &HeaderMap,
    ) -> Result<Streamed, FetchError> {
        use futures_util::StreamExt;
        let req = self.get_request(&self.base, path_and_query, extra);
        let resp = send(req, self.first_byte).await.map_err(|(e, _)| e)?;
        let status = resp.status().as_u16();
        let len = resp.content_length();
        let headers = end_to_end(resp.headers());
        let body = resp
            .bytes_stream()
            .map(|r| r.map_err(|e| FetchError::Broken(chain(&e))))
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
    /// it came: method, target, the headers the caller chose to forward
    /// (RFC 9110 §7.6.1) and body. Never retried.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Fetched, FetchError> {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let mut h = to_wire(headers);
        if let Some(host) = &self.host {
            h.insert("host", host.clone());
        }
        let url = format!("{}{}", self.base, path_and_query);
        let request_time = self.clock.now();
        let req = self.client.request(method, &url).headers(h).body(body);
        let resp = send(req, self.total).await.map_err(|(e, _)| e)?;
        let response_time = self.clock.now();
        let status = resp.status().as_u16();
        let headers = end_to_end(resp.headers());
        let body = match tokio::time::timeout(self.total, resp.bytes()).await {
            Err(_) => return Err(FetchError::Timeout),
            Ok(Err(e)) => return Err(FetchError::Broken(chain(&e))),
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
