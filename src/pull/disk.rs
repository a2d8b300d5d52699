//! The disk cache behind the memory cache, for pulled objects: read back on
//! a memory miss (after an eviction or a restart), written before a stored
//! response's first client is answered, dropped on purge. File work runs on
//! the blocking pool, except reads the kernel answers without waiting
//! (`DiskRead::cached`, see `store::nowait`).
//!
//! What a read takes into memory: an entry the memory cache could keep
//! (its file at most `cache.max_object_bytes`, as the cache applies it) is
//! read whole, verified, and kept in memory as any other object. A larger
//! one has its head and small parts read and verified, and its large parts
//! left on disk (`on_disk`): each response streams the part it sends from
//! the file, a verified chunk at a time. Such an asset holds the file open
//! and is never kept in the memory cache: every request reads (and
//! verifies) the entry's head again.

use std::sync::Arc;

use bytes::Bytes;

use super::on_disk::OnDisk;
use super::storing::Built;
use super::template::Template;
use super::Puller;
use crate::asset::deltas::{etag as delta_etag, Deltas, Hash};
use crate::asset::{etag_value, Asset, Body, Coding, Representation};
use crate::blocking::log_join;
use crate::compress;
use crate::disk_record::{layout, named_parts, put, warn_write, Named};
use crate::lookup::{Entry, Memory};
use crate::origin::stored::{asset_of, DiskMeta, PulledMeta};
use crate::store::disk::{DiskCache, Part};

/// What a lookup already read from the disk cache for the key it misses,
/// so the fetch that follows does not read it again.
pub(crate) enum DiskRead {
    /// Not read: the fetch reads it.
    Unread,
    /// Read: the disk does not hold the key (or holds it damaged).
    Absent,
    /// Read: the record, its parts and the entry's generation.
    Found(Record, Vec<Part>, u64),
}

/// A disk entry's record, decoded or still as stored (the fast path leaves
/// it to the reader, who may hold it decoded already: `template`).
pub(crate) enum Record {
    /// Decoded (boxed: a record is large beside the other variants).
    Decoded(Box<DiskMeta>),
    /// The stored JSON.
    Json(Bytes),
}

impl Record {
    fn decoded(self) -> Option<DiskMeta> {
        match self {
            Record::Decoded(r) => Some(*r),
            Record::Json(j) => serde_json::from_slice(&j).ok(),
        }
    }
}

impl DiskRead {
    /// Reads `memory_key` (blocking: on the blocking pool only), whole if
    /// its file is at most `whole_up_to` bytes (see the module docs).
    pub(crate) fn of(disk: &DiskCache, memory_key: &str, whole_up_to: u64) -> DiskRead {
        match disk.get_parts(memory_key, whole_up_to) {
            Some((record, parts, generation)) => {
                DiskRead::Found(Record::Decoded(Box::new(record)), parts, generation)
            }
            None => DiskRead::Absent,
        }
    }

    /// Reads `memory_key` without waiting for the disk (on a worker);
    /// `None` when that would take I/O: then `of` on the blocking pool.
    pub(crate) fn cached(disk: &DiskCache, memory_key: &str, whole_up_to: u64) -> Option<DiskRead> {
        Some(match disk.get_cached_parts(memory_key, whole_up_to)? {
            Some((json, parts, generation)) => {
                DiskRead::Found(Record::Json(json), parts, generation)
            }
            None => DiskRead::Absent,
        })
    }
}

/// The largest entry file a read takes whole: what `memory` could keep.
pub(crate) fn whole_up_to(memory: &Memory) -> u64 {
    memory.max_object_bytes() as u64
}

impl Puller {
    /// The disk cache, when there is one.
    pub(crate) fn disk(&self) -> Option<&Arc<DiskCache>> {
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
                let whole = whole_up_to(memory);
                match tokio::task::spawn_blocking(move || DiskRead::of(&disk, &key, whole)).await {
                    Ok(read) => read,
                    Err(e) => {
                        log_join("disk cache read", e);
                        return None;
                    }
                }
            }
            read => read,
        };
        let DiskRead::Found(record, parts, generation) = read else {
            return None;
        };
        // Parts left on disk are streamed, counted against the memory bound.
        let body = |part: Part| match part {
            Part::Whole(b) => Body::Memory(b),
            Part::Stored(p) => Body::Stored(Arc::new(OnDisk::new(p, memory.clone()))),
        };
        // This very version read before: its decoded record and headers.
        if let Some(t) = self.templates.get(memory_key, generation) {
            if let Some(asset) = t.asset_over(parts.iter().cloned().map(body).collect()) {
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
        let mut parts = parts.into_iter();
        let identity = parts.next()?;
        let parts = named_parts(&record.encodings, parts);
        let codings: Vec<Coding> = std::iter::once(Coding::Identity)
            .chain(parts.encodings.iter().map(|(c, _)| *c))
            .collect();
        let built = self.build_read(&mut record, identity, parts, &body)?;
        // Every part is an identity or an encoding the node knows (a
        // record with deltas, or a part of a newer node's, has no template).
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

    /// The asset of a disk record read (`identity`, and the encodings and
    /// deltas in `named`), its bodies given by `body`: in memory, or left
    /// on disk. Headers and ETags are those the object had when fetched:
    /// the origin's ETag, or the blake3 of the identity body (recorded with
    /// a part left on disk, never read for it); a delta's, derived from it
    /// as when it was made.
    fn build_read(
        &self,
        record: &mut DiskMeta,
        identity: Part,
        named: Named<Part>,
        body: &dyn Fn(Part) -> Body,
    ) -> Option<Built> {
        let Named {
            encodings: parts,
            deltas,
        } = named;
        let (in_memory, stored_hash) = match &identity {
            Part::Whole(b) => (b.clone(), None),
            Part::Stored(p) => (Bytes::new(), Some(p.hash())),
        };
        let len = identity.size();
        let mut fetched = record.fetched(in_memory);
        let vary = std::mem::take(&mut record.vary);
        // The rules in force now, not those of when it was written.
        let mut meta =
            PulledMeta::taken_from(&mut fetched, self.reading(), vary).said(self.say(&record.path));
        // A soft purge's age (see `soft`), kept across a restart.
        if record.age.is_some() {
            meta.age_header = record.age;
        }
        // Encodings are placed as empty bodies first (their ETags derive
        // from the identity's), then every body is put in.
        let placeholders: Vec<_> = parts.iter().map(|(c, _)| (*c, Bytes::new())).collect();
        let mut built = match stored_hash {
            None => self.build(&record.path, &fetched.body, meta, placeholders),
            Some(hash) => {
                let wanted = compress::wanted(&record.path, &meta, len as usize);
                let mut asset =
                    asset_of(&Bytes::new(), &meta, &record.path, self.reading(), wanted);
                if !meta.headers.contains_key("etag") {
                    let hex = blake3::Hash::from(hash).to_hex();
                    asset = asset.with_identity_etag(etag_value(Coding::Identity, &hex));
                }
                let made = !placeholders.is_empty();
                if made {
                    asset =
                        compress::with_encodings_owned(asset, placeholders, compress::Tag::Derived);
                }
                Built {
                    asset,
                    meta: Arc::new(meta),
                    path: record.path.clone(),
                    wanted,
                    made,
                }
            }
        };
        let mut bodies: Vec<(Coding, Option<Part>)> = vec![(Coding::Identity, Some(identity))];
        bodies.extend(parts.into_iter().map(|(c, p)| (c, Some(p))));
        built.asset = built.asset.with_stored_bodies(|coding| {
            let slot = bodies.iter_mut().find(|(c, _)| *c == coding)?;
            slot.1.take().map(body)
        })?;
        if deltas.is_empty() && record.use_as_dictionary.is_none() {
            return Some(built);
        }
        let use_as = record
            .use_as_dictionary
            .as_deref()
            .and_then(|v| actix_web::http::header::HeaderValue::from_str(v).ok());
        let identity_etag = built
            .asset
            .representations()
            .iter()
            .find(|r| r.coding == Coding::Identity)?
            .etag
            .clone();
        let mut by_dictionary: Vec<(Hash, Vec<Representation>)> = Vec::new();
        for (coding, hash, part) in deltas {
            let etag = delta_etag(&identity_etag, coding, &hash);
            let rep = Representation::of_body(coding, body(part), etag)?;
            match by_dictionary.iter_mut().find(|(h, _)| *h == hash) {
                Some((_, reps)) => reps.push(rep),
                None => by_dictionary.push((hash, vec![rep])),
            }
        }
        built.asset = built.asset.with_deltas(Deltas::new(use_as, by_dictionary));
        Some(built)
    }

    /// Drops `memory_key` (and, with `prefix`, everything under it) from
    /// the disk cache.
    pub(crate) async fn forget_on_disk(&self, memory_key: &str, prefix: bool) -> usize {
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
            log_join("disk cache purge", e);
            0
        })
    }

    /// Drops what `selected` names from the disk cache; how many.
    pub(crate) async fn forget_selected(&self, selected: super::soft::Selected) -> usize {
        let Some(disk) = self.disk.clone() else {
            return 0;
        };
        tokio::task::spawn_blocking(move || disk.remove_selected(selected.as_select()).unwrap_or(0))
            .await
            .unwrap_or_else(|e| {
                log_join("disk cache purge", e);
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
            log_join("disk cache write", e);
            0
        })
}

/// Writes the record of a stored response revalidated (`meta`) over the
/// disk entry of `generation`, whose parts are left on disk (`asset` names
/// them): they are copied as they are (see `DiskCache::put_record_over`);
/// returns the new generation (0 if not stored: another version is there
/// now, or none). Failures are logged.
pub(super) async fn rewrite(
    disk: &Arc<DiskCache>,
    key: &str,
    generation: u64,
    asset: &Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> u64 {
    if generation == 0 {
        return 0;
    }
    let (record, reps) = layout(asset, meta, path, origin);
    let lens: Vec<u64> = reps.iter().map(|r| r.len).collect();
    let (disk, owned) = (disk.clone(), key.to_string());
    let put = move || disk.put_record_over(&owned, generation, &record, &lens);
    match tokio::task::spawn_blocking(put).await {
        Ok(Ok(g)) => g.unwrap_or(0),
        Ok(Err(e)) => {
            warn_write(key, &e);
            0
        }
        Err(e) => {
            log_join("disk cache write", e);
            0
        }
    }
}
