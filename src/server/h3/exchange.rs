//! The seam between HTTP/3 and the protocol-blind core: an HTTP/3 request
//! becomes the `actix_http::Request` actix-http's own HTTP/2 dispatcher
//! would make of the same request (absolute URI from `:scheme` and
//! `:authority`, the fields as sent, version `HTTP/3`, the peer's
//! address), the app answers it as it answers every listener, and its
//! response goes back on the stream as actix-http writes an HTTP/2 one:
//! `Content-Length` from the body's size, `Date` when the app set none,
//! the HTTP/1-only fields left out (RFC 9114 §4.2), no body for HEAD, 204
//! and 304. So every listener shares one handler, and HTTP/3 answers
//! exactly what HTTP/2 answers.
//!
//! A body is written a chunk at a time, each given `limits.send_timeout`
//! to be taken (QUIC's flow control holds a client that stopped reading):
//! past it the stream is reset and what the body held is let go. As on
//! TCP (`limits::conns`), the timeout is measured on the node's clock and
//! looked at once a second; time spent waiting for the origin's next
//! bytes does not count.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use actix_http::body::{BodySize, MessageBody};
use actix_http::error::PayloadError;
use actix_http::{Payload, Request, Response};
use actix_web::http::{header as ah, Method, Uri, Version};
use bytes::{Buf, Bytes};
use h3::error::Code;
use h3::server::RequestStream;
use http::header::{self, HeaderName, HeaderValue};

use crate::clock::Clock;

/// How often a send that waits is looked at (as the TCP sweep does).
const SWEEP: Duration = Duration::from_secs(1);

/// The actix request for an HTTP/3 request from `peer`; `body` is read only
/// for methods whose handling reads one (see `handler::body_to_read`).
pub fn request(
    req: http::Request<()>,
    peer: std::net::SocketAddr,
    body: Option<actix_http::BoxedPayloadStream>,
) -> Result<Request, &'static str> {
    let (parts, ()) = req.into_parts();
    let mut out = match body {
        Some(payload) => Request::with_payload(Payload::Stream { payload }),
        None => Request::new(),
    };
    let head = out.head_mut();
    head.method = Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| "method")?;
    head.uri = Uri::try_from(parts.uri.to_string()).map_err(|_| "target")?;
    head.version = Version::HTTP_3;
    head.peer_addr = Some(peer);
    let fields = &mut head.headers;
    for (name, value) in &parts.headers {
        let name =
            ah::HeaderName::from_bytes(name.as_str().as_bytes()).map_err(|_| "field name")?;
        let value = ah::HeaderValue::from_bytes(value.as_bytes()).map_err(|_| "field value")?;
        fields.append(name, value);
    }
    Ok(out)
}

/// A request body's receiving side. Dropped before the body's end (the
/// app answered without reading it all: a 413, say), it asks the client
/// to stop sending with H3_NO_ERROR, as RFC 9114 §4.1.1 says (quinn's own
/// code on a dropped stream, 0, is none of HTTP/3's).
struct Reading<S: h3::quic::RecvStream> {
    recv: RequestStream<S, Bytes>,
    ended: bool,
}

impl<S: h3::quic::RecvStream> Drop for Reading<S> {
    fn drop(&mut self) {
        if !self.ended {
            self.recv.stop_sending(Code::H3_NO_ERROR);
        }
    }
}

/// A request body read from its stream, as actix reads a payload.
pub fn payload<S>(recv: RequestStream<S, Bytes>) -> actix_http::BoxedPayloadStream
where
    S: h3::quic::RecvStream + 'static,
{
    let reading = Reading { recv, ended: false };
    Box::pin(futures_util::stream::unfold(
        Some(reading),
        |r| async move {
            let mut r = r?;
            match r.recv.recv_data().await {
                Ok(Some(mut data)) => {
                    let bytes = data.copy_to_bytes(data.remaining());
                    Some((Ok(bytes), Some(r)))
                }
                Ok(None) => {
                    r.ended = true;
                    None
                }
                Err(e) => {
                    r.ended = true;
                    let e = std::io::Error::other(e.to_string());
                    Some((Err(PayloadError::Incomplete(Some(e))), None))
                }
            }
        },
    ))
}

/// Why a response was not sent whole.
#[derive(Debug)]
pub enum SendError {
    /// The stream or connection failed (the client reset or left).
    Stream(h3::error::StreamError),
    /// The client took nothing for `limits.send_timeout`.
    Stalled,
    /// The app's body failed.
    Body,
}

/// `fut`'s output, or `None` when it made no progress for `timeout` on
/// `clock` (looked at every [`SWEEP`]; a future ready at once costs no
/// timer).
async fn within<F: Future>(clock: &Clock, timeout: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    if let Some(v) = ready_now(fut.as_mut()).await {
        return Some(v);
    }
    let since = clock.instant();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + SWEEP, SWEEP);
    loop {
        tokio::select! {
            biased;
            v = &mut fut => return Some(v),
            _ = tick.tick() => {
                if clock.instant().saturating_duration_since(since) > timeout {
                    return None;
                }
            }
        }
    }
}

/// `fut`'s output if it is ready at its first poll: a timer around what is
/// usually ready at once is then never set.
async fn ready_now<F: Future>(mut fut: std::pin::Pin<&mut F>) -> Option<F::Output> {
    match poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// `fut`'s output, or `None` past `timeout` (wall time; a future ready at
/// once costs no timer).
pub async fn soon<F: Future>(timeout: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    if let Some(v) = ready_now(fut.as_mut()).await {
        return Some(v);
    }
    tokio::time::timeout(timeout, fut).await.ok()
}

/// What bounds a response's sending: `limits.send_timeout` on the node's
/// clock.
pub struct SendLimit<'a> {
    /// The node's clock.
    pub clock: &'a Clock,
    /// `limits.send_timeout`.
    pub timeout: Duration,
}

/// Writes `resp` on `stream`: its head, then its body unless `head_only`
/// (HEAD), each part taken within the send timeout.
pub async fn respond<S, B>(
    stream: &mut RequestStream<S, Bytes>,
    resp: Response<B>,
    head_only: bool,
    limit: SendLimit<'_>,
) -> Result<(), SendError>
where
    S: h3::quic::SendStream<Bytes>,
    B: MessageBody,
{
    let (clock, timeout) = (limit.clock, limit.timeout);
    let (resp, body) = resp.into_parts();
    let mut size = body.size();
    let head = head_of(resp.head(), &mut size);
    match within(clock, timeout, stream.send_response(head)).await {
        Some(sent) => sent.map_err(SendError::Stream)?,
        None => return Err(stalled(stream)),
    }
    if !(size.is_eof() || head_only) {
        let mut body = pin!(body);
        while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            let chunk = chunk.map_err(|_| SendError::Body)?;
            if chunk.is_empty() {
                continue;
            }
            match within(clock, timeout, stream.send_data(chunk)).await {
                Some(sent) => sent.map_err(SendError::Stream)?,
                None => return Err(stalled(stream)),
            }
        }
    }
    match within(clock, timeout, stream.finish()).await {
        Some(done) => done.map_err(SendError::Stream),
        None => Err(stalled(stream)),
    }
}

/// Resets a stream whose client took nothing within the send timeout.
fn stalled<S: h3::quic::SendStream<Bytes>>(stream: &mut RequestStream<S, Bytes>) -> SendError {
    stream.stop_stream(Code::H3_REQUEST_CANCELLED);
    SendError::Stalled
}

/// Whether a field may be sent over HTTP/3: connection-specific ones may
/// not (RFC 9114 §4.2), as actix-http leaves them out of HTTP/2.
fn connection_specific(name: &ah::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "transfer-encoding" | "upgrade" | "keep-alive" | "proxy-connection"
    )
}

/// The HTTP/3 head of an actix response with a body of `size` (set to
/// none where the status has no body), as actix-http's HTTP/2 dispatcher
/// makes it.
fn head_of(head: &actix_http::ResponseHead, size: &mut BodySize) -> http::Response<()> {
    let status = head.status.as_u16();
    // No content, so no `Content-Length` of ours: a 304's would have to be
    // the 200's (RFC 9110 §8.6), which only the app may know.
    if matches!(status, 100 | 102 | 204 | 304) {
        *size = BodySize::None;
    }
    let mut out = http::Response::new(());
    *out.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    *out.version_mut() = http::Version::HTTP_3;
    let fields = out.headers_mut();
    let own_length = matches!(size, BodySize::Sized(_));
    if let BodySize::Sized(n) = size {
        fields.insert(header::CONTENT_LENGTH, HeaderValue::from(*n));
    }
    let mut has_date = false;
    for (name, value) in head.headers.iter() {
        if connection_specific(name) || (own_length && name == ah::CONTENT_LENGTH) {
            continue;
        }
        has_date |= name == ah::DATE;
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) else {
            continue;
        };
        fields.append(n, v);
    }
    if !has_date {
        fields.insert(header::DATE, date_now());
    }
    out
}

thread_local! {
    /// This thread's `Date` value, and the second it is for.
    static DATE: std::cell::RefCell<(u64, HeaderValue)> =
        const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// `Date` for now, made at most once a second per thread.
fn date_now() -> HeaderValue {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, value)| {
        if *at != secs {
            *at = secs;
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
        }
        value.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_made_as_for_http2() {
        let mut resp = Response::with_body(actix_http::StatusCode::OK, ());
        let h = resp.headers_mut();
        h.insert(ah::CONNECTION, ah::HeaderValue::from_static("close"));
        h.insert(ah::CONTENT_LENGTH, ah::HeaderValue::from_static("999"));
        h.append(ah::VARY, ah::HeaderValue::from_static("Accept-Encoding"));
        h.append(ah::VARY, ah::HeaderValue::from_static("Origin"));
        let mut size = BodySize::Sized(5);
        let out = head_of(resp.head(), &mut size);
        assert_eq!(out.headers()["content-length"], "5");
        assert!(out.headers().get("connection").is_none());
        assert_eq!(out.headers().get_all("vary").iter().count(), 2);
        assert!(out.headers().contains_key("date"));
        let mut none = BodySize::Sized(0);
        let mut resp = Response::with_body(actix_http::StatusCode::NO_CONTENT, ());
        resp.headers_mut()
            .insert(ah::DATE, ah::HeaderValue::from_static("x"));
        let out = head_of(resp.head(), &mut none);
        assert_eq!(none, BodySize::None);
        assert!(out.headers().get("content-length").is_none());
        assert_eq!(out.headers()["date"], "x");
    }

    #[test]
    fn requests_are_made_as_for_http2() {
        let req = http::Request::get("https://a.example/x?y=1")
            .header("accept-encoding", "br")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let peer = "127.0.0.1:5".parse().unwrap();
        let r = request(req, peer, None).unwrap();
        assert_eq!(r.version(), Version::HTTP_3);
        assert_eq!(r.uri().to_string(), "https://a.example/x?y=1");
        assert_eq!(r.path(), "/x");
        assert_eq!(r.head().headers.get_all(ah::COOKIE).count(), 2);
        assert_eq!(r.peer_addr(), Some(peer));
    }
}
