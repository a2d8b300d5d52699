//! One pulled object: what the node remembers about an origin response to
//! judge its freshness later (RFC 9111 §4.2), the validators to revalidate
//! it with (§4.3.1), how a 304 updates it (§4.3.4), and the `Asset` built
//! from its body, which carries the origin's headers and validators to
//! every client. Pure: the fetching is `client`'s, the storing the pull
//! engine's (`crate::pull`).

use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use std::sync::Arc;

use super::client::Fetched;
pub use super::disk_meta::DiskMeta;
use super::say::Say;
use crate::asset::{self, Asset, Coding, Representation};
use crate::http::cache_control::{self, CacheControl};
use crate::http::freshness::Stored;
use crate::http::{date, targeted, vary};

/// How the node reads an origin's caching fields (from `[cache]`).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// Targeted cache-control fields (RFC 9213) in precedence order; the
    /// first valid one present replaces `Cache-Control` for this cache.
    pub targeted: Vec<String>,
    /// The targeted fields meant for this node alone, removed from what
    /// clients get; the others (`CDN-Cache-Control`: every CDN of a chain)
    /// pass on, like any field the node does not own. The tag fields too,
    /// unless `purge.pass_tag_headers`.
    pub strip: Vec<String>,
    /// The fields whose values tag an object (`purge.tag_headers`, see
    /// `origin::tags`).
    pub tags: Vec<String>,
}

impl Reading {
    /// The directives this cache obeys (RFC 9213 §2.1): the first valid
    /// targeted field, else `Cache-Control`.
    pub fn directives(&self, h: &HeaderMap) -> CacheControl {
        self.read(h).0
    }

    /// The directives this cache obeys, and whether they came from a
    /// targeted field — in which case `Expires` is ignored too (RFC 9213
    /// §2.1: the targeted field replaces all other freshness fields).
    pub fn read(&self, h: &HeaderMap) -> (CacheControl, bool) {
        match targeted::select(&self.targeted, |name| lines(h, name)) {
            Some(cc) => (cc, true),
            None => (cache_control::parse(lines(h, "cache-control")), false),
        }
    }

    fn is_stripped(&self, name: &str) -> bool {
        self.strip.iter().any(|t| t.eq_ignore_ascii_case(name))
    }

    /// Removes the fields meant for this node alone (and the tag fields,
    /// see `strip`) from headers going to clients.
    pub fn strip_targeted(&self, h: &mut HeaderMap) {
        for t in &self.strip {
            h.remove(t.as_str());
        }
    }

    /// An uncached response as clients get it (this node's own targeted
    /// fields and the tag fields stripped, see `strip`).
    pub fn for_clients(&self, mut f: Fetched) -> Fetched {
        self.strip_targeted(&mut f.headers);
        f
    }
}

/// Every field line of `name` that is text.
pub fn lines<'a>(h: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    h.get_all(name).filter_map(|v| v.to_str().ok()).collect()
}

/// What is kept of an origin response besides its body.
#[derive(Debug, Clone)]
pub struct PulledMeta {
    /// Status code (200 for everything stored as an asset).
    pub status: u16,
    /// The directives this cache obeys (targeted field or Cache-Control).
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
    /// The stored response's end-to-end headers, as last updated (fields a
    /// `private="…"` names are never kept, RFC 9111 §5.2.2.7).
    pub headers: HeaderMap,
    /// Its tags, for purges by tag (read from `headers` as `reading.tags`
    /// says, see `origin::tags`).
    pub tags: Box<[Box<str>]>,
    /// The request headers this response varies on (lower-case, sorted),
    /// `Accept-Encoding` only when the origin sent its own coding.
    pub vary: Vec<String>,
    /// What the operator's rules say of it (resolved when it was stored,
    /// or read back from disk; kept across a 304).
    pub say: Arc<Say>,
}

/// The `Age` field (RFC 9111 §5.1): "a cache encountering a message with
/// a list-based Age field value SHOULD use the first member of the field
/// value, discarding subsequent ones", and if that member "is invalid
/// (e.g., it contains something other than a non-negative integer), a
/// cache SHOULD ignore the field". Several field lines are one list
/// (RFC 9110 §5.3), so the first member of the first line counts. Digits
/// too many for the counter are the largest delta (RFC 9111 §1.2.2).
fn age(h: &HeaderMap) -> Option<u64> {
    let first = h.get_all("age").next()?.to_str().ok()?;
    let member = first.split(',').next()?.trim_matches([' ', '\t']);
    if member.is_empty() || !member.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(member.parse().unwrap_or(cache_control::MAX_DELTA))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

impl PulledMeta {
    /// The metadata of a fetched response, read as `reading` says, varying
    /// on `vary`.
    pub fn of(f: &Fetched, reading: &Reading, vary: Vec<String>) -> Self {
        Self::with_headers(f.headers.clone(), f, reading, vary)
    }

    /// The same, taking the headers out of `f` instead of copying them.
    pub fn taken_from(f: &mut Fetched, reading: &Reading, vary: Vec<String>) -> Self {
        Self::with_headers(std::mem::take(&mut f.headers), f, reading, vary)
    }

    fn with_headers(
        mut headers: HeaderMap,
        f: &Fetched,
        reading: &Reading,
        vary: Vec<String>,
    ) -> Self {
        let (cc, targeted) = reading.read(&headers);
        // §5.2.2.7: a shared cache must not store the fields `private` names.
        for name in &cc.private_fields {
            headers.remove(name.as_str());
        }
        Self {
            status: f.status,
            date: header(&headers, "date").and_then(date::parse),
            expires: header(&headers, "expires")
                .filter(|_| !targeted)
                .map(str::to_string),
            last_modified: header(&headers, "last-modified").and_then(date::parse),
            age_header: age(&headers),
            request_time: f.request_time,
            response_time: f.response_time,
            cache_control: cc,
            tags: super::tags::of(&headers, &reading.tags),
            headers,
            vary,
            say: Arc::default(),
        }
    }

    /// The same metadata under the operator's word `say`.
    pub fn said(self, say: Arc<Say>) -> Self {
        Self { say, ..self }
    }

    /// Heap bytes this metadata holds (stored headers, parsed directives,
    /// `Vary` names), for the memory cache's byte bound.
    pub fn heap_bytes(&self) -> usize {
        /// The struct, the header map's table and the allocator's share.
        const META: usize = 512;
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| 64 + n.as_str().len() + v.len())
            .sum();
        let names = |v: &[String]| v.iter().map(|s| 32 + s.len()).sum::<usize>();
        // Each tag's own allocation (at least a 32-byte chunk) and its box.
        let tags: usize = self.tags.iter().map(|t| 48 + t.len()).sum();
        META + headers
            + tags
            + self.expires.as_ref().map_or(0, |e| e.len())
            + names(&self.vary)
            + names(&self.cache_control.no_cache_fields)
            + names(&self.cache_control.private_fields)
            + self.say.heap_bytes()
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
            operator: self.say.operator,
        }
    }

    /// Request headers that revalidate this response (§4.3.1): the stored
    /// ETag, else the stored Last-Modified.
    pub fn revalidation_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        if let Some(e) = self.headers.get("etag") {
            vec![(HeaderName::from_static("if-none-match"), e.clone())]
        } else if let Some(lm) = self.headers.get("last-modified") {
            vec![(HeaderName::from_static("if-modified-since"), lm.clone())]
        } else {
            Vec::new()
        }
    }

    /// The metadata after a 304 (§4.3.4, §3.2): every header the 304
    /// carries replaces the stored one of that name, except those that
    /// describe the stored body itself (its length, coding, digest, range
    /// and entity tag); request and response times become the 304's.
    pub fn refreshed_by(&self, not_modified: &Fetched, reading: &Reading) -> Self {
        let mut headers = self.headers.clone();
        for name in not_modified.headers.keys() {
            let of_body = matches!(
                name.as_str(),
                "content-length" | "content-encoding" | "content-md5" | "content-range" | "etag"
            );
            if of_body {
                continue;
            }
            headers.remove(name);
            for v in not_modified.headers.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        Self::of(
            &Fetched {
                status: self.status,
                headers,
                body: bytes::Bytes::new(),
                request_time: not_modified.request_time,
                response_time: not_modified.response_time,
            },
            reading,
            self.vary.clone(),
        )
        .said(self.say.clone())
    }

    /// The headers a client is sent from this stored response: every
    /// stored end-to-end field except those the node computes itself
    /// (framing, `Age`, and, for an asset, the validators and type it
    /// rebuilds per representation), targeted fields and tag fields unless
    /// passed on (RFC 9213, `purge.pass_tag_headers`), and fields a `no-cache="…"` names, which may not be
    /// reused without revalidation (RFC 9111 §5.2.2.4). A response kept
    /// per `Accept-Encoding` (the origin sent its own coding) says so with
    /// `Vary: Accept-Encoding` when the origin did not (RFC 9110 §12.5.5).
    pub fn client_headers(
        &self,
        reading: &Reading,
        as_asset: bool,
    ) -> Vec<(HeaderName, HeaderValue)> {
        let no_cache = &self.cache_control.no_cache_fields;
        let mut out: Vec<_> = self
            .headers
            .iter()
            .filter(|(n, _)| {
                let n = n.as_str();
                let own = matches!(n, "content-length" | "age" | "transfer-encoding")
                    || (as_asset && matches!(n, "etag" | "last-modified" | "content-type"));
                !own && !reading.is_stripped(n) && !no_cache.iter().any(|f| f == n)
            })
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        // An error keeps the origin's word: a rule for `*.js` must not
        // make clients keep a 404 for a year.
        if self.status < 400 {
            self.say.apply(&mut out);
        }
        if self.vary.iter().any(|n| n == "accept-encoding") {
            let said = vary::parse(lines(&self.headers, "vary"));
            if !said.star && !said.names.iter().any(|n| n == "accept-encoding") {
                out.push((
                    HeaderName::from_static("vary"),
                    HeaderValue::from_static("Accept-Encoding"),
                ));
            }
        }
        out
    }
}

/// The asset served for a stored response: for a 200, the body as the identity
/// representation under the origin's `ETag` (else the node's blake3 tag),
/// the origin's `Content-Type` (else guessed from the path) and
/// `Last-Modified` verbatim, and every other end-to-end header the origin
/// sent (see `PulledMeta::client_headers`); for any other status, the body
/// and every stored header as they came, replayed as they are.
/// `encodings_follow` announces `Vary: Accept-Encoding` from the first
/// response on.
pub fn asset_of(
    body: &bytes::Bytes,
    meta: &PulledMeta,
    path: &str,
    reading: &Reading,
    encodings_follow: bool,
) -> Asset {
    let h = &meta.headers;
    let content_type = h
        .get("content-type")
        .cloned()
        .unwrap_or_else(|| asset::content_type(path));
    let identity = match h.get("etag") {
        Some(tag) => Representation::with_etag(Coding::Identity, body.clone(), tag.clone()),
        None => Representation::new(Coding::Identity, body.clone()),
    };
    Asset::new(
        vec![identity],
        content_type,
        meta.last_modified,
        None,
        meta.client_headers(reading, meta.status == 200),
    )
    .with_last_modified_value(h.get("last-modified").cloned())
    .with_modified_fallback(Some(meta.date.unwrap_or(meta.response_time)))
    .expecting_encodings(encodings_follow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn fetched(pairs: &[(&str, &str)]) -> Fetched {
        let headers = crate::test_support::header_map(pairs);
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        Fetched {
            status: 200,
            headers,
            body: bytes::Bytes::from_static(b"body"),
            request_time: t,
            response_time: t,
        }
    }

    fn names(v: &[(HeaderName, HeaderValue)]) -> Vec<String> {
        v.iter()
            .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn origin_headers_reach_clients_with_multiplicity() {
        let f = fetched(&[
            ("link", "</a.css>; rel=preload"),
            ("x-custom", "1"),
            ("x-custom", "2"),
            ("etag", "\"abc\""),
            ("content-length", "4"),
            ("age", "3"),
            ("cache-control", "max-age=60"),
        ]);
        let r = Reading::default();
        let meta = PulledMeta::of(&f, &r, vec![]);
        let h = names(&meta.client_headers(&r, true));
        assert!(h.contains(&"link: </a.css>; rel=preload".to_string()));
        assert!(h.contains(&"cache-control: max-age=60".to_string()));
        let custom: Vec<_> = h.iter().filter(|l| l.starts_with("x-custom")).collect();
        assert_eq!(custom, ["x-custom: 1", "x-custom: 2"]);
        assert!(!h
            .iter()
            .any(|l| l.starts_with("etag") || l.starts_with("age")));
        assert!(!h.iter().any(|l| l.starts_with("content-length")));
        let a = asset_of(&f.body, &meta, "/x.js", &r, true);
        assert_eq!(a.representations()[0].etag, "\"abc\"");
        assert!(a.varies_by_encoding());
        assert!(a.cache_control.is_none());
    }

    #[test]
    fn targeted_fields_rule_and_only_this_nodes_own_stay_home_rfc_9213() {
        let f = fetched(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=60"),
            ("cdn-edge-cache-control", "max-age=30"),
        ]);
        let r = Reading {
            targeted: vec!["CDN-Edge-Cache-Control".into(), "CDN-Cache-Control".into()],
            strip: vec!["CDN-Edge-Cache-Control".into()],
            ..Default::default()
        };
        let meta = PulledMeta::of(&f, &r, vec![]);
        assert_eq!(meta.cache_control.max_age, Some(30));
        assert!(!meta.cache_control.no_store);
        // CDN-Cache-Control targets every CDN of a chain: it passes on.
        // (A HeaderMap's order across names is its own: sorted here.)
        let mut h = names(&meta.client_headers(&r, true));
        h.sort();
        assert_eq!(
            h,
            ["cache-control: no-store", "cdn-cache-control: max-age=60"]
        );
        let pass = Reading { strip: vec![], ..r };
        assert_eq!(meta.client_headers(&pass, true).len(), 3);
    }

    #[test]
    fn private_fields_are_not_stored_and_no_cache_fields_not_served() {
        let f = fetched(&[
            (
                "cache-control",
                "max-age=60, private=\"x-private\", no-cache=\"x-secret\"",
            ),
            ("x-private", "p"),
            ("x-secret", "s"),
            ("x-public", "ok"),
        ]);
        let r = Reading::default();
        let meta = PulledMeta::of(&f, &r, vec![]);
        assert!(!meta.headers.contains_key("x-private"));
        assert!(meta.headers.contains_key("x-secret"));
        let h = names(&meta.client_headers(&r, true));
        assert!(h.contains(&"x-public: ok".to_string()));
        assert!(!h
            .iter()
            .any(|l| l.starts_with("x-secret") || l.starts_with("x-private")));
    }

    #[test]
    fn a_response_kept_per_accept_encoding_says_so_rfc_9110_12_5_5() {
        let r = Reading::default();
        let ae = || vec!["accept-encoding".to_string()];
        let vary_of = |pairs: &[(&str, &str)], keyed: Vec<String>| {
            let meta = PulledMeta::of(&fetched(pairs), &r, keyed);
            names(&meta.client_headers(&r, true))
                .into_iter()
                .filter(|l| l.starts_with("vary"))
                .collect::<Vec<_>>()
        };
        let gz = ("content-encoding", "gzip");
        assert_eq!(vary_of(&[gz], ae()), ["vary: Accept-Encoding"]);
        assert_eq!(
            vary_of(&[gz, ("vary", "Origin")], ae()),
            ["vary: Origin", "vary: Accept-Encoding"]
        );
        assert_eq!(
            vary_of(&[gz, ("vary", "accept-encoding")], ae()),
            ["vary: accept-encoding"],
            "said once"
        );
        assert_eq!(vary_of(&[gz, ("vary", "*")], ae()), ["vary: *"]);
        assert!(
            vary_of(&[], vec![]).is_empty(),
            "the node's own encodings say it elsewhere"
        );
    }

    #[test]
    fn age_uses_the_first_member_and_ignores_an_invalid_one_section_5_1() {
        let r = Reading::default();
        let with = |pairs: &[(&str, &str)]| PulledMeta::of(&fetched(pairs), &r, vec![]).age_header;
        assert_eq!(with(&[("age", " 30 ")]), Some(30));
        assert_eq!(with(&[]), None);
        // A list: the first member counts, the rest is discarded.
        assert_eq!(with(&[("age", "7200,0")]), Some(7200));
        assert_eq!(with(&[("age", "0, 7200")]), Some(0));
        assert_eq!(with(&[("age", "0"), ("age", "7200")]), Some(0));
        // Too large for the counter: the largest delta, not an error.
        assert_eq!(
            with(&[("age", "99999999999999999999999")]),
            Some(cache_control::MAX_DELTA)
        );
        // Invalid: the field is ignored (the response is not made stale).
        for bad in [
            "abc",
            "-7200",
            "7200.0",
            "7200;foo=bar",
            "",
            "0x10",
            "+5",
            "1 2",
        ] {
            assert_eq!(with(&[("age", bad)]), None, "{bad}");
        }
    }

    #[test]
    fn a_304_updates_stored_headers_but_not_length_or_coding_section_4_3_4() {
        let r = Reading::default();
        let stored = PulledMeta::of(
            &fetched(&[
                ("x-custom", "v1"),
                ("etag", "\"a\""),
                ("content-length", "4"),
            ]),
            &r,
            vec![],
        );
        let mut nm = fetched(&[
            ("x-custom", "v2"),
            ("content-length", "0"),
            ("content-encoding", "gzip"),
        ]);
        nm.status = 304;
        nm.response_time += Duration::from_secs(100);
        let new = stored.refreshed_by(&nm, &r);
        assert_eq!(new.headers.get("x-custom").unwrap(), "v2");
        assert_eq!(new.headers.get("content-length").unwrap(), "4");
        assert!(!new.headers.contains_key("content-encoding"));
        assert_eq!(new.headers.get("etag").unwrap(), "\"a\"");
        assert_eq!(new.status, 200);
        assert_eq!(new.response_time, nm.response_time);
        assert_eq!(names(&new.revalidation_headers()), ["if-none-match: \"a\""]);
    }
}
