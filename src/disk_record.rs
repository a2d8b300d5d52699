//! The disk record of a pulled object, its codec: what the disk cache
//! keeps of an asset held in memory (its record, naming the encodings and
//! the deltas, and its parts, identity body first: `parts_of`; the same
//! layout without bodies: `layout`), the names its parts go by
//! (`coding_name`, `coding_named`, `delta_name`, `named_parts`: a record
//! names each part after the body, so one written before zstd, or by a
//! newer node with a coding this one does not know, still reads), and the
//! blocking write of it (`put`, failures logged once per interval).
//!
//! Deltas (RFC 9842) are parts named `dcz:<hex SHA-256 of the
//! dictionary>` (or `dcb:`), after the encodings; the node's own
//! `Use-As-Dictionary` is a member of the record. A node from before
//! deltas skips those parts as it skips any name it does not know. The pull engine (`pull::disk`, which
//! reads records back and writes them from the async workers) and the
//! compressor (`compress::job`, which writes an object's encodings over its
//! record) both use it; it uses neither. The record's type is
//! `origin::disk_meta::DiskMeta`; the file format, `store::disk`.

use bytes::Bytes;

use crate::asset::deltas::Hash;
use crate::asset::{Asset, Body, Coding, Representation};
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
/// encodings and deltas) and its parts, identity body first, then each
/// encoding, then each delta. `None` when a body is not in memory.
pub(crate) fn parts_of(
    asset: &Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> Option<(DiskMeta, Vec<Bytes>)> {
    let (record, reps) = layout(asset, meta, path, origin);
    let parts = reps
        .into_iter()
        .map(|r| match &r.body {
            Body::Memory(b) => Some(b.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((record, parts))
}

/// The record of `asset` and the representations its parts hold, in
/// order: identity, the encodings (`Coding::ENCODINGS`' order), the
/// deltas (as the asset holds them). The order is the asset's own, so a
/// record rewritten over parts already on disk lists them as they are.
pub(crate) fn layout<'a>(
    asset: &'a Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> (DiskMeta, Vec<&'a Representation>) {
    let reps = asset.representations();
    let mut record = DiskMeta::of(meta, path, origin);
    let mut out: Vec<&Representation> = reps
        .iter()
        .filter(|r| r.coding == Coding::Identity)
        .take(1)
        .collect();
    for coding in Coding::ENCODINGS {
        if let Some(r) = reps.iter().find(|r| r.coding == coding) {
            out.push(r);
            record.encodings.push(coding_name(coding).to_string());
        }
    }
    if let Some(d) = &asset.deltas {
        record.use_as_dictionary = d
            .use_as
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(Into::into);
        for (hash, r) in d.all() {
            out.push(r);
            record.encodings.push(delta_name(r.coding, hash));
        }
    }
    (record, out)
}

/// The name of a delta's part: its coding and the dictionary's SHA-256 in
/// hex (`dcz:47e4…`).
pub(crate) fn delta_name(coding: Coding, dictionary: &Hash) -> String {
    let hex: String = dictionary.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", coding.token())
}

/// The delta coding and dictionary a part's name gives; `None` for any
/// other name.
fn delta_named(name: &str) -> Option<(Coding, Hash)> {
    let (token, hex) = name.split_once(':')?;
    let coding = Coding::from_token(token).filter(|c| Coding::DELTAS.contains(c))?;
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some((coding, hash))
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

/// The parts of a record read back after the identity body: its
/// encodings, each with the coding its name gives it, and its deltas.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Named<P> {
    /// The encodings (br, zstd, gzip), in the record's order.
    pub encodings: Vec<(Coding, P)>,
    /// The deltas: coding, dictionary, part.
    pub deltas: Vec<(Coding, Hash, P)>,
}

/// The encoded parts of a record read back (those after the identity
/// body), each named by `names`, in order. A part under a name this node
/// does not know (a newer node's) is left out and the others keep their
/// places; a record written before a coding existed (br and gzip only,
/// before zstd; no deltas) simply names fewer.
pub(crate) fn named_parts<P>(names: &[String], parts: impl IntoIterator<Item = P>) -> Named<P> {
    let mut named = Named {
        encodings: Vec::new(),
        deltas: Vec::new(),
    };
    for (name, p) in names.iter().zip(parts) {
        if let Some(c) = coding_named(name) {
            named.encodings.push((c, p));
        } else if let Some((c, hash)) = delta_named(name) {
            named.deltas.push((c, hash, p));
        }
    }
    named
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_record_from_before_zstd_still_reads() {
        let old = named_parts(&names(&["br", "gzip"]), ["BR", "GZ"]).encodings;
        assert_eq!(old, [(Coding::Br, "BR"), (Coding::Gzip, "GZ")]);
        let now = named_parts(&names(&["br", "zstd", "gzip"]), ["BR", "ZST", "GZ"]).encodings;
        assert_eq!(
            now,
            [
                (Coding::Br, "BR"),
                (Coding::Zstd, "ZST"),
                (Coding::Gzip, "GZ")
            ]
        );
        assert_eq!(named_parts(&names(&[]), ["X"]).encodings, []);
    }

    #[test]
    fn an_unknown_coding_is_skipped_and_the_rest_keep_their_places() {
        let got = named_parts(&names(&["br", "xz", "gzip"]), ["BR", "XZ", "GZ"]);
        assert_eq!(got.encodings, [(Coding::Br, "BR"), (Coding::Gzip, "GZ")]);
        let got = named_parts(&names(&["dcz", "zstd"]), ["DCZ", "ZST"]);
        assert_eq!(got.encodings, [(Coding::Zstd, "ZST")]);
        assert_eq!(got.deltas, []);
        let got = named_parts(&names(&["identity"]), ["X"]);
        assert_eq!((got.encodings, got.deltas), (vec![], vec![]));
    }

    #[test]
    fn deltas_are_named_by_coding_and_dictionary() {
        let hash = [0xab; 32];
        let dcz = delta_name(Coding::Dcz, &hash);
        assert_eq!(dcz, format!("dcz:{}", "ab".repeat(32)));
        let dcb = delta_name(Coding::Dcb, &[1; 32]);
        let got = named_parts(&names(&["br", &dcz, "xz", &dcb]), ["BR", "Z", "X", "B"]);
        assert_eq!(got.encodings, [(Coding::Br, "BR")]);
        assert_eq!(
            got.deltas,
            [(Coding::Dcz, hash, "Z"), (Coding::Dcb, [1; 32], "B")]
        );
        for bad in ["dcz:ab", "br:00", "dcz:zz", "gzip:", ":", "dcz"] {
            assert_eq!(delta_named(bad), None, "{bad}");
        }
        let long = format!("dcz:{}", "0".repeat(66));
        assert_eq!(delta_named(&long), None);
    }

    #[test]
    fn names_are_the_tokens() {
        for c in Coding::ENCODINGS {
            assert_eq!(coding_named(coding_name(c)), Some(c));
        }
        assert_eq!(coding_name(Coding::Zstd), "zstd");
    }
}
