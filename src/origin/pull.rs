//! One pulled object: what the node remembers about an origin response to
//! judge its freshness later (RFC 9111 §4.2), the validators to revalidate
//! it with (§4.3.1), how a 304 updates it (§4.3.4), and the `Asset` built
//! from its body. Pure: the fetching is `client`'s, the storing the edge's.

use std::time::SystemTime;

use actix_web::http::header::HeaderValue;
use reqwest::header::HeaderMap;

use super::client::Fetched;
use crate::asset::{self, Asset, Coding, Representation};
use crate::http::cache_control::{self, CacheControl};
use crate::http::date;
use crate::http::freshness::Stored;

/// What is kept of an origin response besides its body.
#[derive(Debug, Clone)]
pub struct PulledMeta {
    /// Status code (200 for everything stored as an asset).
    pub status: u16,
    /// The response's Cache-Control, parsed.
    pub cache_control: CacheControl,
    /// `Date`.
    pub date: Option<SystemTime>,
    /// `Expires`, raw (an invalid value means "already expired").
    pub expires: Option<String>,
    /// `Last-Modified`.
    pub last_modified: Option<SystemTime>,
    /// `Age` as received.
    pub age_header: Option<u64>,
    /// When the request that got it was sent.
    pub request_time: SystemTime,
    /// When the response arrived.
    pub response_time: SystemTime,
    /// The origin's own `ETag`, for revalidation.
    pub origin_etag: Option<HeaderValue>,
    /// The origin's `Last-Modified`, raw, for revalidation.
    pub origin_last_modified: Option<HeaderValue>,
    /// The stored response's end-to-end headers, as last updated.
    pub headers: HeaderMap,
}

/// What the disk cache keeps besides the body: enough to rebuild the
/// metadata and the asset after a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DiskMeta {
    /// Status code.
    pub status: u16,
    /// End-to-end response headers (name, value), values as Latin-1-safe text.
    pub headers: Vec<(String, String)>,
    /// When the request was sent.
    pub request_time: SystemTime,
    /// When the response arrived.
    pub response_time: SystemTime,
    /// The request path (for the Content-Type guess when there is none).
    pub path: String,
}

impl DiskMeta {
    /// The record of a stored response.
    pub fn of(meta: &PulledMeta, path: &str) -> Self {
        Self {
            status: meta.status,
            headers: meta
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (n.as_str().to_string(), v.to_string()))
                })
                .collect(),
            request_time: meta.request_time,
            response_time: meta.response_time,
            path: path.to_string(),
        }
    }

    /// The response as it was fetched, with `body`.
    pub fn fetched(&self, body: bytes::Bytes) -> Fetched {
        let mut headers = HeaderMap::new();
        for (n, v) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(n.as_bytes()),
                reqwest::header::HeaderValue::from_str(v),
            ) {
                headers.append(n, v);
            }
        }
        Fetched {
            status: self.status,
            headers,
            body,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn value(h: &HeaderMap, name: &str) -> Option<HeaderValue> {
    h.get(name)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
}

impl PulledMeta {
    /// The metadata of a fetched response.
    pub fn of(f: &Fetched) -> Self {
        let h = &f.headers;
        Self {
            status: f.status,
            cache_control: cache_control::parse(
                h.get_all("cache-control")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            ),
            date: header(h, "date").and_then(date::parse),
            expires: header(h, "expires").map(str::to_string),
            last_modified: header(h, "last-modified").and_then(date::parse),
            age_header: header(h, "age").and_then(|a| a.trim().parse().ok()),
            request_time: f.request_time,
            response_time: f.response_time,
            origin_etag: value(h, "etag"),
            origin_last_modified: value(h, "last-modified"),
            headers: h.clone(),
        }
    }

    /// The view the freshness rules judge.
    pub fn stored(&self) -> Stored<'_> {
        Stored {
            status: self.status,
            cache_control: &self.cache_control,
            date: self.date,
            expires: self.expires.as_deref(),
            last_modified: self.last_modified,
            age_header: self.age_header,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }

    /// Request headers that revalidate this response (§4.3.1): the stored
    /// ETag, else the stored Last-Modified.
    pub fn revalidation_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(e) = self
            .origin_etag
            .as_ref()
            .and_then(|v| reqwest::header::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            h.insert("if-none-match", e);
        } else if let Some(lm) = self
            .origin_last_modified
            .as_ref()
            .and_then(|v| reqwest::header::HeaderValue::from_bytes(v.as_bytes()).ok())
        {
            h.insert("if-modified-since", lm);
        }
        h
    }

    /// The metadata after a 304 (§4.3.4): every header the 304 carries
    /// replaces the stored one of that name; request and response times
    /// become the 304's.
    pub fn refreshed_by(&self, not_modified: &Fetched) -> Self {
        let mut headers = self.headers.clone();
        for name in not_modified.headers.keys() {
            if name == "content-length" {
                continue;
            }
            headers.remove(name);
            for v in not_modified.headers.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        Self::of(&Fetched {
            status: self.status,
            headers,
            body: bytes::Bytes::new(),
            request_time: not_modified.request_time,
            response_time: not_modified.response_time,
        })
    }
}

/// The asset served for a stored 200: the body as the identity
/// representation, the origin's Content-Type (else guessed from the path),
/// Last-Modified, and Cache-Control (else `default_cc`), passed on to
/// clients as the origin set them.
pub fn asset_of(f: &Fetched, path: &str, default_cc: &HeaderValue) -> Asset {
    let h = &f.headers;
    let content_type = value(h, "content-type").unwrap_or_else(|| asset::content_type(path));
    let cache_control = value(h, "cache-control").unwrap_or_else(|| default_cc.clone());
    let last_modified = header(h, "last-modified").and_then(date::parse);
    let reps = vec![Representation::new(Coding::Identity, f.body.clone())];
    Asset::new(reps, content_type, last_modified, cache_control, Vec::new())
}
