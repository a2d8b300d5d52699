//! The request as a lookup sees it.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;

use crate::headers::list_field;
use crate::http::cache_control::CacheControl;
use crate::http::freshness;
use crate::origin::timing::UpstreamTime;

/// The request, as far as a lookup needs it.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The query string, sent to the origin and part of a pulled object's
    /// key: the client's as received, until `Edge::lookup` replaces it
    /// with the one the rules and `No-Vary-Search` key it on.
    pub query: Option<&'a str>,
    /// The client's request headers: forwarded to the origin (less
    /// hop-by-hop and dropped ones), and the values `Vary` selects on.
    pub headers: &'a HeaderMap,
    /// The client's address, for `X-Forwarded-For`.
    pub peer: Option<IpAddr>,
    /// The request's cache directives (`Cache-Control`, or `Pragma:
    /// no-cache` without it, RFC 9111 §5.4).
    pub directives: &'a CacheControl,
    /// Where the time of origin exchanges made for this request adds up
    /// (for the access log); `None` for the node's own background fetches.
    pub upstream: Option<&'a UpstreamTime>,
    /// The host the client asked for: HTTP/2's `:authority`, else `Host`.
    pub authority: Option<&'a str>,
    /// Whether the client came over TLS (`X-Forwarded-Proto: https`).
    pub secure: bool,
    /// A peer of the cluster sent it (token checked): it is answered from
    /// this node's cache or the origin, never routed again, and its
    /// forwarded headers are passed on as the peer made them.
    pub from_peer: bool,
    /// The `Via` entry the origin request carries: the version the client's
    /// request came in (`headers::via_for`).
    pub via: &'static str,
}

impl Ask<'_> {
    /// Records an origin exchange of `d` made for this request.
    pub fn spent_upstream(&self, d: std::time::Duration) {
        if let Some(t) = self.upstream {
            t.add(d);
        }
    }

    /// The directives of a request with these headers.
    pub fn directives_of(headers: &HeaderMap) -> CacheControl {
        let cc = list_field(headers, "cache-control");
        let pragma = headers.get("pragma").and_then(|v| v.to_str().ok());
        freshness::request_directives(cc.as_deref(), pragma)
    }
}
