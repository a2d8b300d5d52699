//! The disk record of a pulled object, its codec: what the disk cache
//! keeps of an asset held in memory (its record, naming the encodings, and
//! its parts, identity body first: `parts_of`), the names its codings go by
//! (`coding_name`, `coding_named`, `named_parts`: a record names each part
//! after the body, so one written before zstd, or by a newer node with a
//! coding this one does not know, still reads), and the blocking write of
//! it (`put`,
//! failures logged once per interval). The pull engine (`pull::disk`, which
//! reads records back and writes them from the async workers) and the
//! compressor (`compress::job`, which writes an object's encodings over its
//! record) both use it; it uses neither. The record's type is
//! `origin::disk_meta::DiskMeta`; the file format, `store::disk`.

use bytes::Bytes;

use crate::asset::{Asset, Body, Coding};
use crate::origin::disk_meta::DiskMeta;
use crate::origin::stored::PulledMeta;
use crate::store::disk::DiskCache;
use crate::throttle::Throttle;

/// Writes a stored response to the disk cache, blocking (on the blocking
/// pool or the compression threads); with `over` not 0, only over that
/// generation of the entry. The entry's generation (0 if not stored);
/// failures are logged.
pub(crate) fn put(
    disk: &DiskCache,
    key: &str,
    record: &DiskMeta,
    parts: &[Bytes],
    over: u64,
) -> u64 {
    let slices: Vec<&[u8]> = parts.iter().map(|b| b.as_ref()).collect();
    let stored = match over {
        0 => disk.put_versioned(key, record, &slices),
        g => disk.put_over(key, g, record, &slices),
    };
    stored
        .unwrap_or_else(|e| {
            warn_write(key, &e);
            None
        })
        .unwrap_or(0)
}

/// Logs a failed write, at most one line per 10 s for the whole process
/// (a full disk under load fails every write): the line counts the
/// failures it stands for; `cdn_edge_disk_write_errors_total` counts them
/// all, by kind.
pub(crate) fn warn_write(key: &str, e: &std::io::Error) {
    static LOG: std::sync::LazyLock<Throttle> =
        std::sync::LazyLock::new(|| Throttle::new(std::time::Duration::from_secs(10)));
    match LOG.due() {
        None => {}
        Some(0) => tracing::warn!("disk cache write {key}: {e}"),
        Some(n) => tracing::warn!(
            "disk cache write {key}: {e} (and {n} more failed writes not logged since the last line)"
        ),
    }
}

/// What the disk keeps of an asset held in memory: its record (naming the
/// encodings) and its parts, identity body first, then each encoding.
/// `None` when the body is not in memory.
pub(crate) fn parts_of(
    asset: &Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> Option<(DiskMeta, Vec<Bytes>)> {
    let body = |coding| {
        asset
            .representations()
            .iter()
            .find_map(|r| match (&r.body, r.coding == coding) {
                (Body::Memory(b), true) => Some(b.clone()),
                _ => None,
            })
    };
    let mut parts = vec![body(Coding::Identity)?];
    let mut record = DiskMeta::of(meta, path, origin);
    for coding in Coding::ENCODINGS {
        if let Some(b) = body(coding) {
            parts.push(b);
            record.encodings.push(coding_name(coding).to_string());
        }
    }
    Some((record, parts))
}

/// The name a stored part's coding goes by in its record: its token
/// (`br`, `zstd`, `gzip`).
pub(crate) fn coding_name(coding: Coding) -> &'static str {
    coding.token()
}

/// The encoding a stored part is named by; `None` for a name this node
/// does not know (a record written by a newer one: that part is skipped,
/// the others still read), or identity (never a named part).
pub(crate) fn coding_named(name: &str) -> Option<Coding> {
    // Only the encodings the pool makes: a delta (dcz, dcb) belongs to a
    // dictionary, which a record's part does not name.
    Coding::from_token(name).filter(|c| Coding::ENCODINGS.contains(c))
}

/// The encoded parts of a record read back (those after the identity body),
/// each with the coding `names` gives it, in order. A part under a name
/// this node does not know (a newer node's) is left out and the others
/// keep their places; a record written before a coding existed (br and
/// gzip only, before zstd) simply names fewer.
pub(crate) fn named_parts<P>(
    names: &[String],
    parts: impl IntoIterator<Item = P>,
) -> Vec<(Coding, P)> {
    names
        .iter()
        .zip(parts)
        .filter_map(|(name, p)| coding_named(name).map(|c| (c, p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_record_from_before_zstd_still_reads() {
        let old = named_parts(&names(&["br", "gzip"]), ["BR", "GZ"]);
        assert_eq!(old, [(Coding::Br, "BR"), (Coding::Gzip, "GZ")]);
        let now = named_parts(&names(&["br", "zstd", "gzip"]), ["BR", "ZST", "GZ"]);
        assert_eq!(
            now,
            [
                (Coding::Br, "BR"),
                (Coding::Zstd, "ZST"),
                (Coding::Gzip, "GZ")
            ]
        );
        assert_eq!(named_parts(&names(&[]), ["X"]), []);
    }

    #[test]
    fn an_unknown_coding_is_skipped_and_the_rest_keep_their_places() {
        let got = named_parts(&names(&["br", "xz", "gzip"]), ["BR", "XZ", "GZ"]);
        assert_eq!(got, [(Coding::Br, "BR"), (Coding::Gzip, "GZ")]);
        let got = named_parts(&names(&["dcz", "zstd"]), ["DCZ", "ZST"]);
        assert_eq!(got, [(Coding::Zstd, "ZST")]);
        assert_eq!(named_parts(&names(&["identity"]), ["X"]), []);
    }

    #[test]
    fn names_are_the_tokens() {
        for c in Coding::ENCODINGS {
            assert_eq!(coding_named(coding_name(c)), Some(c));
        }
        assert_eq!(coding_name(Coding::Zstd), "zstd");
    }
}
