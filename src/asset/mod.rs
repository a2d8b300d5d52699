//! `Asset` and `Representation`: everything a response needs, computed once
//! when an asset enters the node and never per request.
//!
//! An asset holds one representation per content coding (identity always,
//! br, zstd and gzip when present), each with its bytes and its strong ETag, plus
//! prebuilt header values. The serving path only picks a representation,
//! compares validators and clones `Bytes`. Where the bytes come from (disk,
//! origin) is not this module's business.

pub mod deltas;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;

pub use crate::http::accept_encoding::Coding;
use crate::http::{accept_encoding, date};
use crate::media_type;

/// Where a representation's bytes are.
#[derive(Debug, Clone)]
pub enum Body {
    /// In memory: served by cloning the `Bytes`.
    Memory(Bytes),
    /// In a file too large to keep in memory: streamed from disk on each
    /// request. `modified` and the representation's length identify the
    /// version that was hashed, so a file changed since is never served
    /// under the old ETag.
    File {
        /// The file's real path.
        path: Arc<PathBuf>,
        /// Its mtime when hashed.
        modified: Option<SystemTime>,
    },
    /// Left in a store that verifies it as it is read (a disk cache entry
    /// too large to hold in memory): streamed on each request, a chunk at
    /// a time, each chunk verified before any byte of it is sent.
    Stored(Arc<dyn Stored>),
}

/// The bytes of a representation as they are read, a part at a time.
pub type ByteStream = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// Bytes of a representation left in a store, read and verified a chunk at
/// a time as they are sent (see [`Body::Stored`]).
pub trait Stored: Send + Sync + std::fmt::Debug {
    /// Its length in bytes.
    fn size(&self) -> u64;

    /// Bytes it holds in memory (what describes it: its chunk hashes).
    fn heap_bytes(&self) -> usize;

    /// Bytes `offset..offset + len` of it, as they are read: each chunk is
    /// verified before any of it is yielded, and an error ends the stream
    /// (its response must then be aborted, never completed). `None` when
    /// the node has no room in its memory bound for the chunks in flight
    /// now (the request is refused, to be retried).
    fn stream(&self, offset: u64, len: u64) -> Option<ByteStream>;
}

/// One content coding of an asset: its bytes and its strong ETag.
#[derive(Debug, Clone)]
pub struct Representation {
    /// The content coding of the body.
    pub coding: Coding,
    /// The bytes sent on the wire, or where to read them.
    pub body: Body,
    /// Length of the body in bytes.
    pub len: u64,
    /// Strong ETag in wire form: `"<blake3 prefix>"`, with `-br` / `-zst` /
    /// `-gz` marking encoded representations (`Coding::etag_suffix`).
    pub etag: HeaderValue,
}

impl Representation {
    /// Builds an in-memory representation, hashing `body` for its ETag.
    pub fn new(coding: Coding, body: Bytes) -> Self {
        let hash = blake3::hash(&body);
        Self::with_hash(coding, body, &hash.to_hex())
    }

    /// Builds an in-memory representation whose blake3 hex digest is
    /// already known (for example from a build manifest).
    pub fn with_hash(coding: Coding, body: Bytes, hex: &str) -> Self {
        let etag = etag_value(coding, hex);
        Self {
            coding,
            len: body.len() as u64,
            body: Body::Memory(body),
            etag,
        }
    }

    /// Builds a representation streamed from a file of `len` bytes whose
    /// content hashes to `hex`.
    pub fn on_disk(
        coding: Coding,
        path: PathBuf,
        modified: Option<SystemTime>,
        len: u64,
        hex: &str,
    ) -> Self {
        let etag = etag_value(coding, hex);
        Self {
            coding,
            body: Body::File {
                path: Arc::new(path),
                modified,
            },
            len,
            etag,
        }
    }

    /// Builds an in-memory representation with a given ETag (a pulled
    /// object keeps its origin's validator, RFC 9111 §4.3.1).
    pub fn with_etag(coding: Coding, body: Bytes, etag: HeaderValue) -> Self {
        Self {
            coding,
            len: body.len() as u64,
            body: Body::Memory(body),
            etag,
        }
    }

    /// Builds a representation of `body` (in memory or left in a store;
    /// `None` for a file body) under `etag`.
    pub fn of_body(coding: Coding, body: Body, etag: HeaderValue) -> Option<Self> {
        match body {
            Body::Memory(b) => Some(Self::with_etag(coding, b, etag)),
            Body::Stored(s) => Some(Self::stored(coding, s, etag)),
            Body::File { .. } => None,
        }
    }

    /// Builds a representation left in a store (see [`Body::Stored`]).
    pub fn stored(coding: Coding, body: Arc<dyn Stored>, etag: HeaderValue) -> Self {
        Self {
            coding,
            len: body.size(),
            body: Body::Stored(body),
            etag,
        }
    }

    /// Bytes of this representation held in memory.
    pub fn memory_bytes(&self) -> usize {
        match &self.body {
            Body::Memory(b) => b.len(),
            Body::File { .. } => 0,
            Body::Stored(s) => s.heap_bytes(),
        }
    }

    /// The ETag as `&str` (always ASCII: built from hex digits).
    pub fn etag_str(&self) -> &str {
        self.etag.to_str().unwrap_or_default()
    }
}

/// The strong ETag for a representation whose bytes hash to `hex`.
/// 128 bits of blake3 are plenty to tell versions apart.
pub fn etag_value(coding: Coding, hex: &str) -> HeaderValue {
    let suffix = coding.etag_suffix();
    // Hashes come from blake3 or a checked manifest entry; anything else
    // (never expected) is hashed again rather than trusted or panicked on.
    let short = match hex.get(..32) {
        Some(s) if s.bytes().all(|b| b.is_ascii_hexdigit()) => s.to_string(),
        _ => blake3::hash(hex.as_bytes()).to_hex()[..32].to_string(),
    };
    HeaderValue::from_str(&format!("\"{short}{suffix}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"invalid-etag\""))
}

/// The ETag of an encoding the node made of a representation whose ETag is
/// `identity`: the same opaque tag with `-br` / `-zst` / `-gz` appended
/// inside the quotes, weak staying weak (`"abc"` → `"abc-br"`, `W/"x"` → `W/"x-br"`).
/// It can never equal the ETag of other bytes: the origin's tag names one
/// identity body, and the suffix names the coding made from it. A tag that
/// is not quoted is quoted first.
pub fn derived_etag(identity: &HeaderValue, coding: Coding) -> HeaderValue {
    if coding == Coding::Identity {
        return identity.clone();
    }
    let suffix = coding.etag_suffix();
    let raw = String::from_utf8_lossy(identity.as_bytes());
    let raw = raw.trim();
    let (weak, opaque) = match raw.strip_prefix("W/") {
        Some(rest) => ("W/", rest),
        None => ("", raw),
    };
    let inner = opaque
        .strip_prefix('"')
        .and_then(|o| o.strip_suffix('"'))
        .unwrap_or(opaque)
        .replace('"', "");
    HeaderValue::from_str(&format!("{weak}\"{inner}{suffix}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"invalid-etag\""))
}

/// A servable resource with all its representations and prebuilt headers.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Representations in the fixed order of `Coding::ENCODINGS` (br, zstd,
    /// gzip), identity last.
    representations: Vec<Representation>,
    /// The codings of `representations` in the order they are offered to
    /// negotiation: ties go to the smaller (`accept_encoding::offer_order`).
    codings: Vec<Coding>,
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// Last-Modified truncated to whole seconds, if known.
    pub last_modified: Option<SystemTime>,
    /// `Last-Modified` as a header value.
    pub last_modified_value: Option<HeaderValue>,
    /// `Cache-Control` the node sets; `None` for a pulled object (its
    /// origin's own field, if any, is among `extra_headers`).
    pub cache_control: Option<HeaderValue>,
    /// Headers added by configuration rules, or a pulled object's origin
    /// headers. Each name here replaces whatever the node would set under
    /// it, and its values are sent in order (repeated names repeat).
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// Compared with `If-Modified-Since` when there is no Last-Modified (a
    /// pulled object's `Date`, RFC 9111 §4.3.2); never sent.
    pub modified_fallback: Option<SystemTime>,
    /// The preload `Link` fields of a local HTML entry point (shared with
    /// the manifest's index): sent on its full responses and in a `103`
    /// before them. `None` for everything else, pulled pages included.
    pub preload: Option<Arc<HeaderMap>>,
    /// Responses vary by `Accept-Encoding` even while there is one
    /// representation (a pulled object whose encodings are being made).
    vary_encoding: bool,
    /// Deltas against earlier versions and `Use-As-Dictionary` (RFC 9842);
    /// `None` for most assets.
    pub deltas: Option<Arc<deltas::Deltas>>,
}

impl Asset {
    /// Assembles an asset. `representations` must contain identity; they are
    /// sorted into preference order here.
    pub fn new(
        mut representations: Vec<Representation>,
        content_type: HeaderValue,
        last_modified: Option<SystemTime>,
        cache_control: Option<HeaderValue>,
        extra_headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Self {
        representations.sort_by_key(|r| preference(r.coding));
        let codings = offer_order(&representations);
        let last_modified = last_modified.map(date::truncate);
        let last_modified_value =
            last_modified.and_then(|t| HeaderValue::from_str(&date::format(t)).ok());
        Self {
            representations,
            codings,
            content_type,
            last_modified,
            last_modified_value,
            cache_control,
            extra_headers,
            modified_fallback: None,
            preload: None,
            vary_encoding: false,
            deltas: None,
        }
    }

    /// The same asset with its deltas and `Use-As-Dictionary` (none when
    /// `deltas` adds nothing).
    pub fn with_deltas(mut self, deltas: deltas::Deltas) -> Self {
        self.deltas = (!deltas.is_empty()).then(|| Arc::new(deltas));
        self
    }

    /// Whether responses vary by `Available-Dictionary` (it has deltas).
    pub fn varies_by_dictionary(&self) -> bool {
        self.deltas.as_ref().is_some_and(|d| d.varies())
    }

    /// The same asset, announcing `preload` (see [`Asset::preload`]).
    pub fn with_preload(mut self, preload: Option<Arc<HeaderMap>>) -> Self {
        self.preload = preload;
        self
    }

    /// The same asset, answering `If-Modified-Since` from `date` when it
    /// has no Last-Modified.
    pub fn with_modified_fallback(mut self, date: Option<SystemTime>) -> Self {
        self.modified_fallback = date.map(date::truncate);
        self
    }

    /// The same asset, announcing `Vary: Accept-Encoding` from its first
    /// response on, because encodings of it will follow (RFC 9110 §12.5.5:
    /// every response of a resource that varies says so).
    pub fn expecting_encodings(mut self, yes: bool) -> Self {
        self.vary_encoding = yes;
        self
    }

    /// The same asset with `Last-Modified` sent as `raw` (a pulled object's
    /// origin value, verbatim), `last_modified` still comparing dates.
    pub fn with_last_modified_value(mut self, raw: Option<HeaderValue>) -> Self {
        if raw.is_some() {
            self.last_modified_value = raw;
        }
        self
    }

    /// Whether responses vary by `Accept-Encoding` (more than one
    /// representation, or more to come).
    pub fn varies_by_encoding(&self) -> bool {
        self.vary_encoding || self.representations.len() > 1
    }

    /// Whether encodings of it are expected (see `expecting_encodings`).
    pub fn expects_encodings(&self) -> bool {
        self.vary_encoding
    }

    /// The representation to send for an `Accept-Encoding` value, or `None`
    /// when the client accepts none of them (406).
    pub fn select(&self, accept_encoding: Option<&str>) -> Option<&Representation> {
        let coding = accept_encoding::negotiate(accept_encoding, &self.codings)?;
        self.representations.iter().find(|r| r.coding == coding)
    }

    /// [`Asset::select`] for a client that holds the dictionary
    /// `dictionary` (its `Available-Dictionary`): the deltas against it,
    /// when there are any, compete with the other representations by
    /// weight, then size (RFC 9842 §6.1: the server picks; a delta is only
    /// ever sent against the dictionary the client named).
    pub fn select_for(
        &self,
        accept_encoding: Option<&str>,
        dictionary: Option<&deltas::Hash>,
    ) -> Option<&Representation> {
        let against = match (&self.deltas, dictionary) {
            (Some(d), Some(h)) => d.against(h),
            _ => &[],
        };
        if against.is_empty() {
            return self.select(accept_encoding);
        }
        let all = || self.representations.iter().chain(against);
        let order = accept_encoding::offer_order(all().map(|r| (r.coding, r.len)));
        let coding = accept_encoding::negotiate(accept_encoding, &order)?;
        all().find(|r| r.coding == coding)
    }

    /// The same asset with each representation's body replaced by
    /// `body(coding)`, in memory (headers and ETags kept); `None` when
    /// `body` has none for one of them.
    pub fn with_bodies(&self, mut body: impl FnMut(Coding) -> Option<Bytes>) -> Option<Asset> {
        let representations = self
            .representations
            .iter()
            .map(|r| {
                let b = body(r.coding)?;
                Some(Representation {
                    coding: r.coding,
                    len: b.len() as u64,
                    body: Body::Memory(b),
                    etag: r.etag.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Asset {
            codings: offer_order(&representations),
            representations,
            content_type: self.content_type.clone(),
            last_modified: self.last_modified,
            last_modified_value: self.last_modified_value.clone(),
            cache_control: self.cache_control.clone(),
            extra_headers: self.extra_headers.clone(),
            modified_fallback: self.modified_fallback,
            preload: self.preload.clone(),
            vary_encoding: self.vary_encoding,
            deltas: self.deltas.clone(),
        })
    }

    /// The same asset with each representation's body replaced by
    /// `body(coding)` (its length with it), headers and ETags kept; `None`
    /// when `body` has none for one of them.
    pub fn with_stored_bodies(
        &self,
        mut body: impl FnMut(Coding) -> Option<Body>,
    ) -> Option<Asset> {
        let mut asset = self.with_bodies(|_| Some(Bytes::new()))?;
        for r in &mut asset.representations {
            let b = body(r.coding)?;
            r.len = match &b {
                Body::Memory(m) => m.len() as u64,
                Body::Stored(s) => s.size(),
                Body::File { .. } => return None,
            };
            r.body = b;
        }
        asset.codings = offer_order(&asset.representations);
        Some(asset)
    }

    /// Whether some representation is left in a store (streamed from it
    /// on each request): such an asset holds the store's file open and is
    /// never kept in the memory cache.
    pub fn streams_from_store(&self) -> bool {
        self.representations
            .iter()
            .any(|r| matches!(r.body, Body::Stored(_)))
    }

    /// The same asset with the identity representation's ETag set to
    /// `etag` (it was not known from bytes that are left in a store).
    pub fn with_identity_etag(mut self, etag: HeaderValue) -> Self {
        for r in &mut self.representations {
            if r.coding == Coding::Identity {
                r.etag = etag.clone();
            }
        }
        self
    }

    /// All representations, in preference order.
    pub fn representations(&self) -> &[Representation] {
        &self.representations
    }

    /// Bytes this asset holds in memory, for the memory cache's byte bound:
    /// bodies, header values and validators, plus what each allocation
    /// costs beyond its payload. The fixed parts were measured
    /// (`docs/benchmarks/memory_static.sh`: RSS against the count over 250k small
    /// files) and rounded up.
    pub fn weight(&self) -> usize {
        /// The struct, its two vectors and the allocator's share of them.
        const ASSET: usize = 384;
        /// A representation: the struct, its ETag's and body's allocations.
        const REPRESENTATION: usize = 160;
        /// A header (name, value) pair of `extra_headers`.
        const HEADER: usize = 96;
        let value_len = |v: &HeaderValue| v.len();
        ASSET
            + value_len(&self.content_type)
            + self.last_modified_value.as_ref().map_or(0, value_len)
            + self.cache_control.as_ref().map_or(0, value_len)
            + self
                .extra_headers
                .iter()
                .map(|(n, v)| HEADER + n.as_str().len() + v.len())
                .sum::<usize>()
            + self.preload.as_ref().map_or(0, |p| {
                p.iter().map(|(_, v)| HEADER + v.len()).sum::<usize>()
            })
            + self
                .representations
                .iter()
                .map(|r| REPRESENTATION + r.memory_bytes() + r.etag.len())
                .sum::<usize>()
            + self.deltas.as_ref().map_or(0, |d| d.memory_bytes())
    }
}

/// A representation's place in [`Asset::representations`]: the order of
/// `Coding::ENCODINGS`, identity last.
fn preference(c: Coding) -> usize {
    Coding::ENCODINGS
        .iter()
        .position(|e| *e == c)
        .unwrap_or(Coding::ENCODINGS.len())
}

/// The order `representations` are offered to negotiation in: by size
/// (see `accept_encoding::offer_order`).
fn offer_order(representations: &[Representation]) -> Vec<Coding> {
    accept_encoding::offer_order(representations.iter().map(|r| (r.coding, r.len)))
}

/// The `Content-Type` for a file name, from its extension (the rule is
/// [`media_type::of`], shared with the build's manifest).
pub fn content_type(file_name: &str) -> HeaderValue {
    HeaderValue::from_str(&media_type::of(file_name))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_coding_and_content() {
        let a = Representation::new(Coding::Identity, Bytes::from_static(b"x"));
        let b = Representation::new(Coding::Br, Bytes::from_static(b"x"));
        let c = Representation::new(Coding::Identity, Bytes::from_static(b"y"));
        assert_ne!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert_eq!(
            a.etag,
            Representation::new(Coding::Identity, Bytes::from_static(b"x")).etag
        );
        assert!(a.etag_str().starts_with('"') && a.etag_str().len() == 34);
    }

    #[test]
    fn derived_etags_keep_the_origin_tag_and_its_strength() {
        let e = |s: &'static str, c| derived_etag(&HeaderValue::from_static(s), c);
        assert_eq!(e("\"abc-123\"", Coding::Br), "\"abc-123-br\"");
        assert_eq!(e("\"abc-123\"", Coding::Gzip), "\"abc-123-gz\"");
        assert_eq!(e("\"abc-123\"", Coding::Zstd), "\"abc-123-zst\"");
        assert_eq!(e("W/\"w1\"", Coding::Zstd), "W/\"w1-zst\"");
        assert_eq!(e("W/\"w1\"", Coding::Br), "W/\"w1-br\"");
        assert_eq!(e("\"abc\"", Coding::Identity), "\"abc\"");
        assert_eq!(e("bare", Coding::Br), "\"bare-br\"");
        assert_eq!(e("\"\"", Coding::Gzip), "\"-gz\"");
    }

    #[test]
    fn selects_by_preference() {
        let reps = vec![
            Representation::new(Coding::Identity, Bytes::from_static(b"plain")),
            Representation::new(Coding::Gzip, Bytes::from_static(b"gz")),
            Representation::new(Coding::Br, Bytes::from_static(b"br")),
        ];
        let a = Asset::new(
            reps,
            content_type("a.css"),
            None,
            Some(HeaderValue::from_static("no-cache")),
            vec![],
        );
        assert!(a.varies_by_encoding());
        assert_eq!(a.select(Some("gzip, br")).unwrap().coding, Coding::Br);
        assert_eq!(a.select(None).unwrap().coding, Coding::Identity);
        assert!(a.select(Some("identity;q=0, br;q=0, gzip;q=0")).is_none());
    }

    fn sized(coding: Coding, len: usize) -> Representation {
        Representation::new(coding, Bytes::from(vec![b'x'; len]))
    }

    #[test]
    fn a_tie_goes_to_the_smaller_representation_and_follows_new_bodies() {
        let a = Asset::new(
            vec![
                sized(Coding::Identity, 1000),
                sized(Coding::Zstd, 230),
                sized(Coding::Gzip, 260),
                sized(Coding::Br, 210),
            ],
            content_type("a.js"),
            None,
            None,
            vec![],
        );
        let order: Vec<_> = a.representations().iter().map(|r| r.coding).collect();
        assert_eq!(
            order,
            Coding::ENCODINGS
                .iter()
                .copied()
                .chain([Coding::Identity])
                .collect::<Vec<_>>()
        );
        let pick = |a: &Asset, ae| a.select(Some(ae)).unwrap().coding;
        assert_eq!(pick(&a, "gzip, deflate, br, zstd"), Coding::Br);
        assert_eq!(pick(&a, "zstd, gzip"), Coding::Zstd);
        assert_eq!(pick(&a, "br;q=0.9, zstd"), Coding::Zstd);
        // Bodies of other sizes (a disk version's parts placed in a
        // template): the order follows them.
        let b = a
            .with_bodies(|c| {
                Some(Bytes::from(vec![
                    b'y';
                    if c == Coding::Zstd { 200 } else { 300 }
                ]))
            })
            .unwrap();
        assert_eq!(pick(&b, "gzip, deflate, br, zstd"), Coding::Zstd);
        let c = b
            .with_stored_bodies(|c| {
                Some(Body::Memory(Bytes::from(vec![
                    b'z';
                    if c == Coding::Br {
                        100
                    } else {
                        300
                    }
                ])))
            })
            .unwrap();
        assert_eq!(pick(&c, "gzip, deflate, br, zstd"), Coding::Br);
    }
}
