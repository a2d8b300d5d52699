//! The encodings the node makes of pulled text: br and gzip, made on the
//! blocking pool after the first client was answered with identity, and
//! swapped in only over the version they were made from. Each gets an ETag
//! derived from the identity representation's (the origin's own, when it
//! sent one), so every representation keeps a distinct validator.

use std::sync::Arc;

use super::{Entry, Memory, Source};
use crate::asset::{derived_etag, Asset, Body, Coding, Representation};
use crate::origin::pull::PulledMeta;
use crate::precompress;

/// Bodies shorter than this are not compressed: the saving is a few bytes,
/// and each encoding costs a `Vary: Accept-Encoding` and a second copy.
pub const MIN_BYTES: usize = 256;

/// Whether the node should make encodings of a pulled 200 of `len` bytes:
/// text by its path's extension or by its Content-Type, at least
/// [`MIN_BYTES`], sent in identity, and not marked `no-transform` (RFC 9111
/// §5.2.2.6: compression is a transformation).
pub fn wanted(path: &str, meta: &PulledMeta, content_type: &str, len: usize) -> bool {
    if meta.status != 200 || len < MIN_BYTES || meta.headers.contains_key("content-encoding") {
        return false;
    }
    let no_transform = meta
        .headers
        .get_all("cache-control")
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        });
    if no_transform || meta.headers.contains_key("content-range") {
        return false;
    }
    precompress::is_compressible(path)
        || content_type.starts_with("text/")
        || ["javascript", "json", "xml", "svg"]
            .iter()
            .any(|t| content_type.contains(t))
}

/// Makes br and gzip representations of a stored pulled asset on the
/// blocking pool, so the first client never waits for brotli, and swaps
/// them in if the entry is still the one stored (never over a newer one).
pub fn later(memory: Memory, key: String, entry: Arc<Entry>) {
    tokio::task::spawn_blocking(move || {
        let Some(identity) = entry
            .asset
            .representations()
            .iter()
            .find(|r| r.coding == Coding::Identity)
        else {
            return;
        };
        let Body::Memory(bytes) = &identity.body else {
            return;
        };
        let c = precompress::compress(bytes, &precompress::Settings::default(), true, true);
        if c.br.is_none() && c.gzip.is_none() {
            return;
        }
        let made = |coding, b: Vec<u8>| {
            Representation::with_etag(coding, b.into(), derived_etag(&identity.etag, coding))
        };
        let mut reps = vec![identity.clone()];
        reps.extend(c.br.map(|b| made(Coding::Br, b)));
        reps.extend(c.gzip.map(|g| made(Coding::Gzip, g)));
        let a = &entry.asset;
        let asset = Asset::new(
            reps,
            a.content_type.clone(),
            a.last_modified,
            a.cache_control.clone(),
            a.extra_headers.clone(),
        )
        .with_last_modified_value(a.last_modified_value.clone())
        .expecting_encodings(true);
        let Source::Pulled(meta) = &entry.source else {
            return;
        };
        let new = Arc::new(Entry {
            asset,
            source: Source::Pulled(meta.clone()),
        });
        memory.replace_if(&key, |cur| Arc::ptr_eq(cur, &entry), new);
    });
}
