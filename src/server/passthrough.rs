//! Responses that carry what the origin said: the `Age` and `Cache-Status`
//! (RFC 9211) of pulled assets, and uncacheable origin responses passed on
//! as they came (hop-by-hop headers already removed by the client).

use std::time::SystemTime;

use actix_web::body::{BoxBody, SizedStream};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::limits::conns;
use super::relay::Relay;
use super::respond::{self, apply_extra};
use crate::http::freshness::NoStore;
use crate::lookup::{CacheStatus, Served, Trouble};
use crate::origin::client::{Fetched, Streamed};

/// The `Cache-Status` field (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// What the node appends to `Via` on every response it passes on from the
/// origin (RFC 9110 §7.6.3).
const VIA: HeaderValue = HeaderValue::from_static("1.1 cdn-edge");

/// Adds `Age` (RFC 9111 §5.1) at `now` and `Cache-Status` to a pulled
/// asset's response; local files get neither.
pub fn cache_headers(h: &mut HeaderMap, asset: &Served, status: CacheStatus, now: SystemTime) {
    // `stored` only when something stored it (RFC 9211 §2.5): not when the
    // memory cache refused it and the disk write failed.
    let value = match (status, asset.stored()) {
        (CacheStatus::Local, _) => return,
        (CacheStatus::Hit, _) => HeaderValue::from_static("cdn-edge; hit"),
        (CacheStatus::Miss, true) => HeaderValue::from_static("cdn-edge; fwd=uri-miss; stored"),
        (CacheStatus::Miss, false) => HeaderValue::from_static("cdn-edge; fwd=uri-miss"),
        (CacheStatus::Stale, true) => HeaderValue::from_static("cdn-edge; fwd=stale; stored"),
        (CacheStatus::Stale, false) => HeaderValue::from_static("cdn-edge; fwd=stale"),
        (CacheStatus::StaleServed, _) => HeaderValue::from_static("cdn-edge; hit; detail=stale"),
        (CacheStatus::StaleRevalidating, _) => {
            HeaderValue::from_static("cdn-edge; hit; detail=stale-while-revalidate")
        }
        // The node went forward because its copy was stale, the origin
        // failed, and the stale copy answered (RFC 9211 §2.2, §2.3, §2.8).
        (CacheStatus::StaleOnError(t), _) => {
            let value = match t {
                Trouble::Status(s) => {
                    format!("cdn-edge; fwd=stale; fwd-status={s}; detail=stale-if-error")
                }
                t => format!("cdn-edge; fwd=stale; detail=stale-if-error-{}", t.label()),
            };
            HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("cdn-edge"))
        }
    };
    h.insert(CACHE_STATUS, value);
    h.append(header::VIA, VIA);
    if matches!(status, CacheStatus::Miss | CacheStatus::Stale) {
        for (n, v) in asset.fetched_only_headers() {
            h.append(n, v);
        }
    }
    if let Some(age) = asset.age(now) {
        h.insert(header::AGE, HeaderValue::from(age));
    }
}

/// A stored non-200 response (404, 410, 301, ...) replayed with its
/// status, the origin's headers (validators and type included, verbatim)
/// and body; no negotiation, conditionals or ranges. A body left on disk
/// is streamed like a 200's (503 when the memory bound has no room for it
/// now).
pub fn stored_error(req: &HttpRequest, asset: &Served) -> HttpResponse {
    let status = StatusCode::from_u16(asset.status()).unwrap_or(StatusCode::NOT_FOUND);
    let watch = || conns::watch_body(req);
    let sending = respond::Sending {
        head: req.method() == Method::HEAD,
        watch: &watch,
    };
    let body = asset
        .representations()
        .iter()
        .find(|r| !matches!(r.body, crate::asset::Body::File { .. }))
        .map(|r| respond::body(r, None, &sending));
    let len = (asset.representations().iter())
        .find(|r| !matches!(r.body, crate::asset::Body::File { .. }))
        .map(|r| r.len);
    let mut resp = match body {
        Some(Some(b)) if !sending.head => HttpResponse::with_body(status, b),
        Some(None) => return respond::busy(),
        _ if sending.head => HttpResponse::with_body(status, head_body(len)),
        _ => HttpResponse::new(status),
    };
    let h = resp.headers_mut();
    // The stored response's own headers (Location for a redirect, ...);
    // Age and Cache-Status are added after.
    apply_extra(h, &asset.extra_headers);
    resp
}

/// An origin response not stored (`reason`: too large, no room in the
/// memory bound, an unsafe method), streamed to `req`'s client as it
/// arrives (with its Content-Length when the origin declared one), relayed
/// part by part under the send timeout (see `server::relay`); counted
/// among its connection's streams, or answered 503 past their bound
/// (`max`). If the origin's body breaks, the client's response is
/// aborted, never completed with bad bytes.
pub fn streamed(req: &HttpRequest, mut s: Streamed, reason: NoStore, max: usize) -> HttpResponse {
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = if req.method() == Method::HEAD {
        HttpResponse::with_body(status, head_body(s.len))
    } else {
        let body = std::mem::replace(&mut s.body, futures_util::stream::empty().boxed());
        match conns::watch_stream(req, body, max) {
            Some(watch) => {
                HttpResponse::with_body(status, Relay::new(watch, s.len)).map_into_boxed_body()
            }
            None => return too_many_streams(),
        }
    };
    copy_headers(resp.headers_mut(), &s.headers);
    resp.headers_mut().append(header::VIA, VIA);
    resp.headers_mut()
        .insert(CACHE_STATUS, cache_status(reason));
    resp
}

/// The answer to a request that would stream past its connection's
/// `limits.max_origin_streams_per_connection`: 503, retry soon.
fn too_many_streams() -> HttpResponse {
    let mut resp = super::errors::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many streamed responses on this connection\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// Copies end-to-end origin headers (the origin's `Date` included),
/// leaving framing to actix.
fn copy_headers(h: &mut HeaderMap, from: &HeaderMap) {
    for (name, value) in from {
        if name == "content-length" {
            continue;
        }
        h.append(name.clone(), value.clone());
    }
}

/// An uncached origin response, passed on, with why it was not stored.
pub fn respond(f: &Fetched, reason: NoStore, head: bool) -> HttpResponse {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = if head {
        // The body a GET got, or the length the origin declared for it.
        let len = (!f.body.is_empty())
            .then_some(f.body.len() as u64)
            .or_else(|| declared_length(&f.headers));
        HttpResponse::with_body(status, head_body(len))
    } else {
        HttpResponse::with_body(status, f.body.clone()).map_into_boxed_body()
    };
    let h = resp.headers_mut();
    copy_headers(h, &f.headers);
    h.append(header::VIA, VIA);
    h.insert(CACHE_STATUS, cache_status(reason));
    resp
}

/// The body of a response to HEAD: none, but the length a GET's would
/// have, so that `Content-Length` is the GET's (RFC 9110 §8.6, §9.3.2), or
/// absent when it is not known. (An empty body would be sent as
/// `Content-Length: 0`.) It is never read: every listener skips a HEAD's
/// body.
fn head_body(len: Option<u64>) -> BoxBody {
    match len {
        Some(n) => BoxBody::new(SizedStream::new(
            n,
            futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
        )),
        None => BoxBody::new(actix_web::body::None::new()),
    }
}

/// The `Content-Length` an origin declared, if it is one number.
fn declared_length(h: &HeaderMap) -> Option<u64> {
    let mut values = h.get_all(header::CONTENT_LENGTH);
    let v = values.next()?;
    if values.next().is_some() {
        return None;
    }
    v.to_str().ok()?.trim().parse().ok()
}

/// `Cache-Status` (RFC 9211) of an answer passed on uncached for `reason`.
fn cache_status(reason: NoStore) -> HeaderValue {
    let fwd = match reason {
        NoStore::RequestNoStore => "request",
        NoStore::Method => "method",
        _ => "uri-miss",
    };
    let value = format!("cdn-edge; fwd={fwd}; detail={}", reason.as_str());
    // Cannot fail: the tokens are ASCII letters, '-' and '='.
    HeaderValue::from_str(&value).expect("ascii")
}
