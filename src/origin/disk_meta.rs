//! The record the disk cache keeps of a pulled response besides its body:
//! status, end-to-end headers, request and response times (so `Age` keeps
//! counting across restarts), the request path, the `Vary` names, its tags
//! (which the disk index reads, so a purge by tag finds it after a restart)
//! and the age a soft purge gave it (so it stays stale across a restart).

use std::time::SystemTime;

use actix_web::http::header::HeaderMap;

use super::client::Fetched;
use super::stored::PulledMeta;
use crate::http::cache_key;

/// What the disk cache keeps besides the body: enough to rebuild the
/// metadata and the asset after a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DiskMeta {
    /// Status code.
    pub status: u16,
    /// End-to-end response headers, stored as `[name, value]` pairs of
    /// text (a value that is not visible ASCII is not kept).
    #[serde(with = "pairs")]
    pub headers: HeaderMap,
    /// When the request was sent.
    pub request_time: SystemTime,
    /// When the response arrived.
    pub response_time: SystemTime,
    /// The request path (for the Content-Type guess when there is none).
    pub path: String,
    /// The request headers the response varies on.
    #[serde(default)]
    pub vary: Vec<String>,
    /// The content codings (`br`, `gzip`) of the parts stored after the
    /// body: encodings made once, read back instead of made again.
    #[serde(default)]
    pub encodings: Vec<String>,
    /// The origin it came from ([`OriginClient::identity`]); 0 in records
    /// written before origins were told apart. A record from another
    /// origin is not served.
    ///
    /// [`OriginClient::identity`]: super::client::OriginClient::identity
    #[serde(default)]
    pub origin: u64,
    /// The cache key format it was stored under
    /// ([`cache_key::FORMAT`]); 0 in records written before keys kept path
    /// and query apart. A record of another format is not served: its key
    /// may name another request target (issue 18: `/a.js%3Fv=1` was
    /// stored under the key of `/a.js?v=1`).
    #[serde(default)]
    pub key_format: u32,
    /// Its tags (`origin::tags`): the disk index reads this member
    /// (`store::disk::Tags`) for purges by tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Box<str>>,
    /// The `Age` the node reads it with (seconds): the origin's, or what a
    /// soft purge raised it to; replaces the stored field's when read
    /// back. `None` in records without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u64>,
    /// The `Use-As-Dictionary` the node made for it (RFC 9842: a pulled
    /// object whose name carries a content hash), read back with its
    /// deltas (`disk_record`); an origin's own field is among `headers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_as_dictionary: Option<String>,
}

impl DiskMeta {
    /// The record of a response stored from the origin `origin`.
    pub fn of(meta: &PulledMeta, path: &str, origin: u64) -> Self {
        Self {
            status: meta.status,
            headers: meta.headers.clone(),
            request_time: meta.request_time,
            response_time: meta.response_time,
            path: path.to_string(),
            vary: meta.vary.clone(),
            encodings: Vec::new(),
            origin,
            key_format: cache_key::FORMAT,
            tags: meta.tags.to_vec(),
            age: meta.age_header,
            use_as_dictionary: None,
        }
    }

    /// Whether this record may be served by a node pulling from `origin`:
    /// stored from that origin, under today's key format.
    pub fn servable_for(&self, origin: u64) -> bool {
        self.origin == origin && self.key_format == cache_key::FORMAT
    }

    /// The response as it was fetched, with `body` (the headers move
    /// out of the record).
    pub fn fetched(&mut self, body: bytes::Bytes) -> Fetched {
        Fetched {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }
}

/// The headers as a list of `[name, value]` text pairs, read straight into
/// a header map (unescaped text is borrowed from the record, not copied
/// into a `String` first: this runs on every disk hit).
mod pairs {
    use std::borrow::Cow;

    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(headers: &HeaderMap, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            headers
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))),
        )
    }

    #[derive(serde::Deserialize)]
    struct Pair<'a>(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>);

    struct Pairs;

    impl<'de> Visitor<'de> for Pairs {
        type Value = HeaderMap;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of [name, value] pairs")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderMap, A::Error> {
            let mut headers = HeaderMap::with_capacity(seq.size_hint().unwrap_or(8));
            while let Some(Pair(n, v)) = seq.next_element()? {
                // A pair that is no longer a valid header is skipped, as
                // when it was stored.
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(n.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    headers.append(n, v);
                }
            }
            Ok(headers)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HeaderMap, D::Error> {
        d.deserialize_seq(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_back_as_written_and_from_earlier_records() {
        // A record as earlier versions wrote it (pairs of strings), with an
        // escaped value, a repeated name and a pair that is not a header.
        let json = r#"{"status":200,"headers":[["content-type","text/css"],
            ["link","</a.css>; rel=\"preload\""],["link","</b.js>"],["bad name","x"]],
            "request_time":{"secs_since_epoch":1,"nanos_since_epoch":0},
            "response_time":{"secs_since_epoch":2,"nanos_since_epoch":0},
            "path":"a.css"}"#;
        let mut m: DiskMeta = serde_json::from_str(json).unwrap();
        let links: Vec<_> = m
            .headers
            .get_all("link")
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(links, ["</a.css>; rel=\"preload\"", "</b.js>"]);
        assert_eq!(m.headers.len(), 3, "the invalid pair is skipped");
        let again: DiskMeta = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(again.headers.len(), 3);
        assert_eq!(again.headers.get("content-type").unwrap(), "text/css");
        let f = m.fetched(bytes::Bytes::from_static(b"x"));
        assert_eq!(f.headers.len(), 3);
        assert!(m.headers.is_empty(), "moved out");
    }

    /// Records of the old key format (none recorded) are never served:
    /// their key may name another target.
    #[test]
    fn records_of_another_key_format_are_not_served() {
        let json = r#"{"status":404,"headers":[],
            "request_time":{"secs_since_epoch":1,"nanos_since_epoch":0},
            "response_time":{"secs_since_epoch":2,"nanos_since_epoch":0},
            "path":"app.js?v=1","origin":7}"#;
        let mut m: DiskMeta = serde_json::from_str(json).unwrap();
        assert!(!m.servable_for(7), "format 1");
        m.key_format = cache_key::FORMAT;
        assert!(m.servable_for(7));
        assert!(!m.servable_for(8), "another origin");
        let again: DiskMeta = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(again.servable_for(7));
    }
}
