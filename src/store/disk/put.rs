//! Writing entries: a whole new version ([`DiskCache::put`] and its
//! variants), or an older version's parts under a new record
//! ([`DiskCache::put_record_over`], after a revalidation), each written to
//! a temp file, fsynced and renamed into place (see the module docs).

use std::fs::{self, File};
use std::io;

use super::chunks;
use super::format::{self, at, id_of, unlink, Data};
use super::head::{self, Head, Parts, Shape, HASH_LEN, LENGTHS_MAX, MAX_PARTS};
use super::read::{self, Miss};
use super::shared::Shared;
use super::tagged::{self, Tags};
use super::{DiskCache, Meta};

impl DiskCache {
    /// Stores `meta` and `parts` (the body first, then e.g. its encodings) under `key` atomically, replacing any previous entry.
    ///
    /// `Ok(false)`, storing nothing, if the entry's file would be charged
    /// more than `max_bytes`; that also removes the previous entry (the
    /// caller has a newer version, and the old one must not be served in
    /// its place). One file holds key, meta and parts (see the module docs),
    /// written to a temp file, fsynced and renamed into place; LRU entries
    /// are then evicted so that indexed entries stay within the bound.
    pub fn put<M: Meta>(&self, key: &str, meta: &M, parts: &[&[u8]]) -> io::Result<bool> {
        Ok(self.put_as(key, meta, parts, None)?.is_some())
    }

    /// [`put`](Self::put), returning the entry's generation (which changes
    /// with every put of the key), `None` when nothing was stored.
    pub fn put_versioned<M: Meta>(
        &self,
        key: &str,
        meta: &M,
        parts: &[&[u8]],
    ) -> io::Result<Option<u64>> {
        self.put_as(key, meta, parts, None)
    }

    /// [`put`](Self::put) only over the entry of `generation`: `Ok(None)`,
    /// storing nothing, when the key now holds another (newer) version or
    /// none. For work done on a version read earlier (its encodings).
    pub fn put_over<M: Meta>(
        &self,
        key: &str,
        generation: u64,
        meta: &M,
        parts: &[&[u8]],
    ) -> io::Result<Option<u64>> {
        self.put_as(key, meta, parts, Some(generation))
    }

    fn put_as<M: Meta>(
        &self,
        key: &str,
        meta: &M,
        parts: &[&[u8]],
        over: Option<u64>,
    ) -> io::Result<Option<u64>> {
        let s = &*self.shared;
        let path = s.path(id_of(key));
        let meta = serde_json::to_vec(meta).map_err(|e| at(&path, e.into()))?;
        if parts.len() > MAX_PARTS {
            return Err(invalid(&path, "too many parts"));
        }
        let parts_of = Parts::hash(parts, chunks::SHIFT);
        let len = parts_of
            .file_len(key, &meta)
            .ok_or_else(|| invalid(&path, "entry too large"))?;
        if format::charged(len) > s.max_bytes {
            if over.is_none() {
                self.remove(key)?;
            }
            return Ok(None);
        }
        if !self.same(key, over) {
            return Ok(None);
        }
        let head =
            head::encode(key, &meta, &parts_of).ok_or_else(|| invalid(&path, "entry too large"))?;
        let tags = tagged::of_meta(&meta);
        self.write(key, &head, Data::Parts(parts), len, over, tags)
    }

    /// Writes the parts of the entry of `generation` for `key` again, as
    /// they are, under a new record `meta` (a revalidation changed the
    /// headers of a version whose parts are not in memory): `Ok(None)`,
    /// storing nothing, when the key now holds another version or none, or
    /// its parts are not `lens` long. The parts are copied, not verified:
    /// their chunk table comes with them, so a chunk changed on disk is
    /// still found when it is read.
    pub fn put_record_over<M: Meta>(
        &self,
        key: &str,
        generation: u64,
        meta: &M,
        lens: &[u64],
    ) -> io::Result<Option<u64>> {
        let s = &*self.shared;
        let path = s.path(id_of(key));
        if !self.same(key, Some(generation)) {
            return Ok(None);
        }
        let meta = serde_json::to_vec(meta).map_err(|e| at(&path, e.into()))?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(at(&path, e)),
        };
        let old_len = file.metadata().map_err(|e| at(&path, e))?.len();
        let Some(old) = old_head(&file, old_len, key).map_err(|e| at(&path, e))? else {
            return Ok(None); // bad: the next read drops it
        };
        if !old.parts.iter().map(|p| p.len).eq(lens.iter().copied()) {
            return Ok(None);
        }
        let parts_of = Parts::of(&old);
        let len = parts_of
            .file_len(key, &meta)
            .ok_or_else(|| invalid(&path, "entry too large"))?;
        if format::charged(len) > s.max_bytes {
            return Ok(None);
        }
        let head =
            head::encode(key, &meta, &parts_of).ok_or_else(|| invalid(&path, "entry too large"))?;
        let data = Data::Copy {
            from: &file,
            offset: old.len,
            len: old_len - old.len,
        };
        let tags = tagged::of_meta(&meta);
        self.write(key, &head, data, len, Some(generation), tags)
    }

    /// Whether a put over `over` (any version: `None`) may go ahead.
    fn same(&self, key: &str, over: Option<u64>) -> bool {
        over.is_none() || self.shared.lock().live(id_of(key)).map(|e| e.generation) == over
    }

    /// Writes `head` and `data` (`len` bytes in all) as the entry of
    /// `key`, over `over` only when given; its generation, `None` when
    /// the key holds another version meanwhile.
    fn write(
        &self,
        key: &str,
        head: &[u8],
        data: Data<'_>,
        len: u64,
        over: Option<u64>,
        tags: Tags,
    ) -> io::Result<Option<u64>> {
        let s: &Shared = &self.shared;
        let id = id_of(key);
        let path = s.path(id);
        let tmp = match format::write_temp(&path, &s.tag, head, data) {
            Ok(tmp) => tmp,
            Err(e) => {
                // Nothing of it is left (`write_temp` removed its temp
                // file); the previous version must not be served in place
                // of the new one (and its space is welcome).
                s.write_errors.count(&e);
                if over.is_none() {
                    let _ = self.remove(key);
                }
                return Err(e);
            }
        };

        let (victims, generation) = {
            let _stripe = s.stripe(id);
            // Checked again under the stripe: no put or removal of `id` can
            // come between this and the rename.
            if !self.same(key, over) {
                let _ = fs::remove_file(&tmp);
                return Ok(None);
            }
            if let Err(e) = fs::rename(&tmp, &path) {
                s.write_errors.count(&e);
                let _ = fs::remove_file(&tmp);
                // The old entry must not be served in place of the new one.
                let gone = unlink(&path);
                if gone.is_ok() {
                    s.lock().forget(id);
                    s.close_dropped();
                }
                return Err(at(&path, e));
            }
            let mut ix = s.lock();
            let stamp = ix.now_stamp();
            let generation = ix.insert(id, len, stamp, Some(key.into()), Some(tags));
            (ix.evict(s.max_bytes), generation)
        };
        // Also closes the descriptor of the version replaced.
        s.unlink_victims(victims);
        Ok(Some(generation))
    }
}

/// The verified head of `file` (`len` bytes) for `key`; `None` if bad.
fn old_head(file: &File, len: u64, key: &str) -> io::Result<Option<Head>> {
    let mut b = vec![0u8; len.min(LENGTHS_MAX as u64) as usize];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut b, 0)?;
    let Some(head_len) = Shape::decode(&b).ok().and_then(|s| s.head_len()) else {
        return Ok(None);
    };
    if head_len > len || head_len < HASH_LEN as u64 {
        return Ok(None);
    }
    let b = match read::Source::read_at(file, 0, head_len) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(Miss::Io(e)) => return Err(e),
        Err(Miss::Wait) => return Ok(None),
    };
    Ok(Head::verify(&b.into(), len, key).ok())
}

/// An `InvalidInput` error naming `path`.
fn invalid(path: &std::path::Path, what: &str) -> io::Error {
    at(path, io::Error::new(io::ErrorKind::InvalidInput, what))
}
