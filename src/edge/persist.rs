//! The disk cache behind the memory cache, for pulled objects: read back on
//! a memory miss (after an eviction or a restart), written before a stored
//! response's first client is answered, dropped on purge. File work runs on
//! the blocking pool, except reads the kernel answers without waiting
//! (`DiskRead::cached`, see `store::nowait`).

use std::sync::Arc;

use bytes::Bytes;

use super::pull::Origin;
use super::storing::Built;
use super::template::Template;
use super::{Entry, Memory};
use crate::asset::{Asset, Body, Coding};
use crate::origin::pull::{DiskMeta, PulledMeta};
use crate::store::disk::DiskCache;
use crate::throttle::Throttle;

/// What a lookup already read from the disk cache for the key it misses,
/// so the fetch that follows does not read it again.
pub(crate) enum DiskRead {
    /// Not read: the fetch reads it.
    Unread,
    /// Read: the disk does not hold the key (or holds it damaged).
    Absent,
    /// Read: the record, its parts and the entry's generation.
    Found(Record, Vec<Bytes>, u64),
}

/// A disk entry's record, decoded or still as stored (the fast path leaves
/// it to the reader, who may hold it decoded already: `template`).
pub(crate) enum Record {
    /// Decoded.
    Decoded(DiskMeta),
    /// The stored JSON.
    Json(Bytes),
}

impl Record {
    fn decoded(self) -> Option<DiskMeta> {
        match self {
            Record::Decoded(r) => Some(r),
            Record::Json(j) => serde_json::from_slice(&j).ok(),
        }
    }
}

impl DiskRead {
    /// Reads `memory_key` (blocking: on the blocking pool only).
    pub(super) fn of(disk: &DiskCache, memory_key: &str) -> DiskRead {
        match disk.get_versioned(memory_key) {
            Some((record, parts, generation)) => {
                DiskRead::Found(Record::Decoded(record), parts, generation)
            }
            None => DiskRead::Absent,
        }
    }

    /// Reads `memory_key` without waiting for the disk (on a worker);
    /// `None` when that would take I/O: then `of` on the blocking pool.
    pub(super) fn cached(disk: &DiskCache, memory_key: &str) -> Option<DiskRead> {
        Some(match disk.get_cached_raw(memory_key)? {
            Some((json, parts, generation)) => {
                DiskRead::Found(Record::Json(json), parts, generation)
            }
            None => DiskRead::Absent,
        })
    }
}

impl Origin {
    /// The disk cache, when there is one.
    pub(super) fn disk(&self) -> Option<&Arc<DiskCache>> {
        self.disk.as_ref()
    }

    /// Reads `memory_key` from the disk cache (unless `read` already did)
    /// and puts it back in memory, with the encodings stored beside it
    /// (never made again); an object stored before its encodings were made
    /// gets them in the background.
    pub(super) async fn read_disk(
        &self,
        memory: &Memory,
        memory_key: &str,
        read: DiskRead,
    ) -> Option<Arc<Entry>> {
        let read = match read {
            DiskRead::Unread => {
                let disk = self.disk.clone()?;
                let key = memory_key.to_string();
                match tokio::task::spawn_blocking(move || DiskRead::of(&disk, &key)).await {
                    Ok(read) => read,
                    Err(e) => {
                        super::joined::log_join("disk cache read", e);
                        return None;
                    }
                }
            }
            read => read,
        };
        let DiskRead::Found(record, parts, generation) = read else {
            return None;
        };
        // This very version read before: its decoded record and headers.
        if let Some(t) = self.templates.get(memory_key, generation) {
            if let Some(asset) = t.asset_over(&parts) {
                let built = Built {
                    asset,
                    meta: t.meta.clone(),
                    path: t.path.clone(),
                    wanted: t.wanted,
                    made: t.made,
                };
                return Some(self.hold(memory, memory_key, built, generation).0);
            }
        }
        let mut record = record.decoded()?;
        // Stored from another origin (the config named another since), or
        // under another key format (whose key may name another target): a
        // miss, and the fetch that follows writes over it.
        if !record.servable_for(self.identity) {
            return None;
        }
        let mut codings = vec![Coding::Identity];
        let mut parts = parts.into_iter();
        let body = parts.next()?;
        let encodings: Vec<(Coding, bytes::Bytes)> = record
            .encodings
            .iter()
            .zip(parts)
            .filter_map(|(name, b)| coding_named(name).map(|c| (c, b)))
            .inspect(|(c, _)| codings.push(*c))
            .collect();
        let mut fetched = record.fetched(body);
        let vary = std::mem::take(&mut record.vary);
        let meta = PulledMeta::taken_from(&mut fetched, self.reading(), vary);
        let built = self.build(&record.path, &fetched.body, meta, encodings);
        if codings.len() == record.encodings.len() + 1 {
            if let Some(empty) = built.asset.with_bodies(|_| Some(Bytes::new())) {
                let template = Template {
                    meta: built.meta.clone(),
                    asset: empty,
                    parts: codings,
                    path: built.path.clone(),
                    wanted: built.wanted,
                    made: built.made,
                };
                self.templates.put(memory_key, generation, template);
            }
        }
        Some(self.hold(memory, memory_key, built, generation).0)
    }

    /// Drops `memory_key` (and, with `prefix`, everything under it) from
    /// the disk cache.
    pub(super) async fn forget_on_disk(&self, memory_key: &str, prefix: bool) -> usize {
        let Some(disk) = self.disk.clone() else {
            return 0;
        };
        let key = memory_key.to_string();
        tokio::task::spawn_blocking(move || {
            if prefix {
                disk.remove_prefix(&key).unwrap_or(0)
            } else {
                disk.remove(&key).map(usize::from).unwrap_or(0)
            }
        })
        .await
        .unwrap_or_else(|e| {
            super::joined::log_join("disk cache purge", e);
            0
        })
    }

    /// The disk cache's (bytes, objects, evictions), when there is one.
    pub fn disk_usage(&self) -> Option<(u64, u64, u64)> {
        self.disk.as_ref().map(|d| {
            let (b, n) = d.usage();
            (b, n, d.evictions())
        })
    }
}

impl super::Edge {
    /// The disk cache's failed writes by kind (see
    /// [`DiskCache::write_errors`]), when there is one.
    pub fn disk_write_errors(&self) -> Option<[u64; crate::store::disk::WriteErrorKind::COUNT]> {
        Some(self.origin.as_ref()?.disk()?.write_errors())
    }

    /// The disk cache's bad entries found by reason (see
    /// [`DiskCache::bad_entries`]), when there is one.
    pub fn disk_bad_entries(
        &self,
    ) -> Option<[(&'static str, u64); crate::store::disk::BAD_REASONS]> {
        Some(self.origin.as_ref()?.disk()?.bad_entries())
    }
}

/// Writes a stored response to the disk cache (atomic; awaited, so an
/// object a client received survives a restart); returns the entry's
/// generation (0 if not stored). Failures are logged.
pub(super) async fn write(
    disk: &Arc<DiskCache>,
    key: &str,
    record: DiskMeta,
    parts: Vec<Bytes>,
) -> u64 {
    let (disk, owned) = (disk.clone(), key.to_string());
    tokio::task::spawn_blocking(move || put(&disk, &owned, &record, &parts, 0))
        .await
        .unwrap_or_else(|e| {
            super::joined::log_join("disk cache write", e);
            0
        })
}

/// The same, blocking (for the compression threads); with `over` not 0,
/// only over that generation of the entry. Failures are logged.
pub(super) fn put(
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
fn warn_write(key: &str, e: &std::io::Error) {
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
pub(super) fn parts_of(
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
    for coding in [Coding::Br, Coding::Gzip] {
        if let Some(b) = body(coding) {
            parts.push(b);
            record.encodings.push(coding_name(coding).to_string());
        }
    }
    Some((record, parts))
}

/// The name a stored part's coding goes by in its record.
pub(super) fn coding_name(coding: Coding) -> &'static str {
    match coding {
        Coding::Br => "br",
        Coding::Gzip => "gzip",
        Coding::Identity => "identity",
    }
}

/// The coding a stored part is named by.
fn coding_named(name: &str) -> Option<Coding> {
    match name {
        "br" => Some(Coding::Br),
        "gzip" => Some(Coding::Gzip),
        _ => None,
    }
}
