//! The disk cache: objects pulled from an origin, kept on local disk so that a
//! restarted node serves them without asking the origin again. Bounded in
//! bytes, evicting least-recently-used entries; every read is checked
//! against the lengths and blake3 recorded at write time, so a corrupt,
//! truncated or tampered file is deleted and reported as a miss, never
//! served. An entry is a key, the caller's metadata and one or more parts
//! (the body, then e.g. its encodings, made once and kept).
//!
//! What it is not: not HTTP caching policy (freshness, validators, `Vary`
//! live in the caller's metadata `M`, opaque here); not shared between
//! processes (one `DiskCache` per directory); not a durable database (a power
//! loss may forget recent puts, but never yields a torn entry). I/O is
//! blocking `std::fs`; callers run it on a blocking pool.
//!
//! # Layout
//!
//! An entry for `key` lives at `dir/abc/<hex>.obj`, where `<hex>` is 32 hex
//! digits (128 bits) of `blake3(key)` and `abc` its first three: one level of
//! 4096 directories, created as needed. 100k entries make ~25 files per
//! directory and 1e9 make ~250k, within what ext4/xfs hashed directories
//! handle; the directories themselves cost at most 4096 blocks (16 MiB). A
//! collision of names is harmless: the file holds its key, and a file holding
//! another key is bad (deleted, missed). Entries of the version 1 layout
//! (`dir/ab/cd/<64 hex>.obj`) are not migrated: the rebuild deletes them
//! after it finishes (the objects are fetched again from the origin).
//!
//! # File format (one file per entry, version 2)
//!
//! ```text
//! magic "cdnedisk" (8) | version u32 LE (4) | key_len u32 LE (4) |
//! meta_len u32 LE (4) | part count n u32 LE (4) | n × part_len u64 LE |
//! key | meta JSON | part 0 | … | part n-1 | blake3 of every byte before it (32)
//! ```
//!
//! Every read checks everything, before the caller gets a byte: length
//! against the index, the header's lengths against the file's, the
//! trailing blake3 (covering key, record and all parts) and the key. No
//! file is trusted for having been written or checked before by this
//! process: anything may write over it meanwhile, and a changed byte must
//! never be served under the ETag of the original. Every read is whole (an
//! entry is at most the size of one stored response), so the check comes
//! before the answer, never after a part of it was sent. A bad entry is
//! deleted, missed, counted by reason and logged (`bad_entries`).
//! `get_cached_raw` reads without waiting for the disk (`store::nowait`),
//! for the worker threads.
//! The byte bound counts each file as its length rounded up to whole 4 KiB
//! blocks, which is what it occupies on disk (directories excepted).
//!
//! # Start-up: the index is rebuilt in the background
//!
//! `open` only creates the directory and starts a thread that lists each
//! fan-out directory and stats each file (no file is opened), indexing it
//! with its length and its mtime as recency, and deletes leftover temp files
//! of earlier processes. Headers are not read: the first `get` of an entry
//! verifies it anyway. [`DiskCache::ready`] tells when the index is complete.
//! While the rebuild runs:
//!
//! - `get` of a key not indexed yet reads its file directly (its path is a
//!   function of the key), checks it fully and indexes it;
//! - `put`, `remove` and eviction leave a *tombstone* for the id in the
//!   index (a `put` leaves the live entry itself). The rebuild indexes a
//!   file only if its id has no slot at all, checked under the lock at the
//!   moment of indexing, so a removed or replaced entry never comes back
//!   when the rebuild reaches its file, and a direct `get` never brings
//!   back an evicted one. Tombstones are dropped when the rebuild ends;
//! - `remove_prefix` removes the matching indexed entries, and records the
//!   prefix: from then on the rebuild reads the key of each file it indexes
//!   (one open + small read each) and deletes the matching ones, and a
//!   direct `get` of a matching key deletes and misses;
//! - eviction sees only indexed entries: the bound is enforced over what is
//!   indexed, and fully once the rebuild ends (it evicts down to the bound).
//!   `usage()` counts indexed entries.
//!
//! Entries found by the rebuild have no key in memory until it is read.
//! Once the index is complete, the same thread reads the key of each entry
//! from its header (one open + small read each: what the old start-up scan
//! did, now after the node is serving), so that purges work from memory and
//! bad headers are found early. A `remove_prefix` before that pass ends
//! reads the keys still unknown itself (and keeps them): about the cost of
//! the old start-up scan, on that purge.
//!
//! # Locking
//!
//! The index lock is never held across a file-system call: decisions are
//! taken under it, files are renamed and unlinked after unlocking (eviction
//! collects its victims, then unlinks them). The file of one entry is only
//! renamed or unlinked under that entry's *stripe* lock (one of 64, by id),
//! which also covers the index update that goes with it, so that index and
//! disk agree entry by entry: an eviction victim is unlinked only if no
//! `put` has indexed it again meanwhile. Reads take no stripe (renames are
//! atomic). `usage()` and `evictions()` read atomics. The index never holds
//! more than the bound; the disk may briefly hold more, by the temp files
//! of puts in progress and the victims they have not unlinked yet.
//!
//! # Crash safety
//!
//! Key, metadata and parts are one file, so they can't disagree. `put`
//! writes `.<name>.<tag>.<n>.tmp` beside the target (the tag is unique to
//! this `DiskCache`), fsyncs it, and renames it over the target: rename is
//! atomic, so a reader (or a restart after SIGKILL) sees the previous entry
//! or the new one, never a mix. The rebuild deletes every temp file without
//! this cache's tag; a bad `.obj` is deleted by the `get` that finds it (or
//! by the key pass, if its header is bad). The
//! directory is not fsynced after the rename: a power loss may lose the
//! rename, which leaves the previous entry or none, as above.
//!
//! # Recency after a restart
//!
//! The LRU order is by file mtime, oldest = least recently used. `put` sets
//! mtime by writing; `get` bumps it when it is older than [`TOUCH_EVERY`], so
//! restart order matches use to within that interval without a metadata
//! write on every hit.

mod bad_entries;
mod format;
#[cfg(test)]
#[path = "../../../fuzz/targets/disk.rs"]
mod fuzz;
mod index;
mod open_files;
mod scan;
mod shared;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_open;
#[cfg(test)]
mod tests_rebuild;
#[cfg(test)]
mod tests_write_faults;
mod write_errors;

pub use write_errors::WriteErrorKind;

/// How many `reason` labels bad entries are counted under (see
/// [`DiskCache::bad_entries`]).
pub const BAD_REASONS: usize = Bad::REASONS.len();

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use format::{at, id_of, unlink, unlink_found, Bad, Header};
use index::Slot;
use shared::Shared;

use crate::store::nowait;

/// Metadata stored with each object (opaque to this module beyond serde): the caller's response metadata.
pub trait Meta: serde::Serialize + serde::de::DeserializeOwned + Clone {}
impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone> Meta for T {}

/// How stale a file's mtime may get before a hit refreshes it.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Stripe locks (see the module docs).
pub(super) const STRIPES: usize = 64;

/// A disk cache under `dir`, bounded by `max_bytes` (whole blocks of its files), least-recently-used eviction.
pub struct DiskCache {
    shared: Arc<Shared>,
    rebuild: Option<JoinHandle<()>>,
}

/// How `get` found the key.
#[derive(Clone, Copy)]
pub(super) enum Found {
    /// In the index, as this generation.
    Indexed(u64),
    /// Not indexed, rebuild running: read the file directly.
    Direct,
}

impl DiskCache {
    /// Opens (creating) `dir` and starts rebuilding the index in the background; returns at once.
    ///
    /// See the module docs for what works during the rebuild. Files and
    /// directories that are not ours are left alone.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<DiskCache> {
        Self::open_dir(dir, max_bytes)
    }

    /// What `open` checks of `dir` (created if missing, listable,
    /// writable), and nothing more: no index, no scan, so nothing in a
    /// directory a running node uses is touched (`cdn-edge check`).
    pub fn check_dir(dir: &Path) -> io::Result<()> {
        Shared::new(dir, 0).map(drop)
    }

    fn open_dir(dir: &Path, max_bytes: u64) -> io::Result<DiskCache> {
        let shared = Arc::new(Shared::new(dir, max_bytes)?);
        let s = Arc::clone(&shared);
        let rebuild = std::thread::Builder::new()
            .name("disk-cache-index".into())
            .spawn(move || scan::run(&s))
            .map_err(|e| at(dir, e))?;
        Ok(DiskCache {
            shared,
            rebuild: Some(rebuild),
        })
    }

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
        let id = id_of(key);
        let path = s.path(id);
        let meta = serde_json::to_vec(meta).map_err(|e| at(&path, e.into()))?;
        let invalid = |what: &str| at(&path, io::Error::new(io::ErrorKind::InvalidInput, what));
        if parts.len() > format::MAX_PARTS {
            return Err(invalid("too many parts"));
        }
        let header = Header {
            key_len: u32::try_from(key.len()).map_err(|_| invalid("key over 4 GiB"))?,
            meta_len: u32::try_from(meta.len()).map_err(|_| invalid("meta over 4 GiB"))?,
            parts: parts.iter().map(|p| p.len() as u64).collect(),
        };
        let len = header
            .file_len()
            .ok_or_else(|| invalid("entry too large"))?;
        let same = |s: &Shared| over.is_none() || s.lock().live(id).map(|e| e.generation) == over;
        if format::charged(len) > s.max_bytes {
            if over.is_none() {
                self.remove(key)?;
            }
            return Ok(None);
        }
        if !same(s) {
            return Ok(None);
        }
        let head = header.encode();
        let mut chunks: Vec<&[u8]> = vec![&head, key.as_bytes(), &meta];
        chunks.extend_from_slice(parts);
        let tmp = match format::write_temp(&path, &s.tag, &chunks) {
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
            if !same(s) {
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
            let generation = ix.insert(id, len, stamp, Some(key.into()));
            (ix.evict(s.max_bytes), generation)
        };
        // Also closes the descriptor of the version replaced.
        s.unlink_victims(victims);
        Ok(Some(generation))
    }

    /// The object under `key` (metadata, and the parts as put), if present and intact; marks it recently used.
    ///
    /// Lengths and blake3 are checked against the file's record; a bad entry
    /// (corrupt, truncated, tampered) is deleted and missed, never served.
    /// So is one whose metadata does not decode as `M` (say, after a change
    /// of the caller's metadata type).
    pub fn get<M: Meta>(&self, key: &str) -> Option<(M, Vec<Bytes>)> {
        self.get_versioned(key).map(|(m, parts, _)| (m, parts))
    }

    /// [`get`](Self::get), with the entry's generation (see
    /// [`put_over`](Self::put_over)); 0 when the entry was read but is no
    /// longer indexed.
    pub fn get_versioned<M: Meta>(&self, key: &str) -> Option<(M, Vec<Bytes>, u64)> {
        let s = &*self.shared;
        let id = id_of(key);
        let (found, expect) = {
            let ix = s.lock();
            match ix.slot(id) {
                Some(Slot::Live(e)) => (Found::Indexed(e.generation), Some(e.len)),
                Some(Slot::Gone) => return None,
                None if !ix.rebuilding => return None,
                None if ix.purged_match(key) => {
                    drop(ix);
                    // Predates the purge: its file must go.
                    let _ = s.unlink_if_dead(id);
                    return None;
                }
                None => (Found::Direct, None),
            }
        };
        let path = s.path(id);
        let problem = match format::read_entry(&path, key, expect, s.max_bytes, TOUCH_EVERY) {
            Ok(Ok(good)) => match serde_json::from_slice(&good.meta) {
                Ok(meta) => {
                    let generation = s.found_good(id, key, found, good.len);
                    return Some((meta, good.parts, generation.unwrap_or(0)));
                }
                Err(_) => Bad::Record,
            },
            Ok(Err(why)) => why,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Found::Indexed(generation) = found {
                    let mut ix = s.lock();
                    if ix.live(id).is_some_and(|e| e.generation == generation) {
                        ix.forget(id);
                    }
                    drop(ix);
                    s.close_dropped();
                }
                return None;
            }
            Err(e) => {
                // Maybe transient (EMFILE, EIO): miss, but keep the entry.
                tracing::warn!(error = %e, "disk cache read failed");
                return None;
            }
        };
        s.bad_entries.found(&path, key, problem);
        s.drop_bad(id, found);
        None
    }

    /// [`get_cached_raw`](Self::get_cached_raw) with the metadata decoded
    /// (the tests' view of it).
    #[cfg(test)]
    pub fn get_cached<M: Meta>(&self, key: &str) -> Option<Option<(M, Vec<Bytes>, u64)>> {
        match self.get_cached_raw(key)? {
            None => Some(None),
            Some((meta, parts, generation)) => Some(Some((
                serde_json::from_slice(&meta).ok()?,
                parts,
                generation,
            ))),
        }
    }

    /// [`get_versioned`](Self::get_versioned) without waiting for the
    /// disk, for worker threads (see `store::nowait`), with the metadata
    /// left as the stored JSON (the caller may hold it decoded for this
    /// generation already): `None` when that cannot be told without I/O —
    /// then call `get_versioned` on the blocking pool, which also deals
    /// with bad files and refreshes mtimes; `Some(None)` when the cache does
    /// not hold `key`.
    pub fn get_cached_raw(&self, key: &str) -> Option<Option<(Bytes, Vec<Bytes>, u64)>> {
        let s = &*self.shared;
        let id = id_of(key);
        let (generation, len, kept) = {
            let mut ix = s.lock();
            let (generation, len) = match ix.slot(id) {
                Some(Slot::Live(e)) => (e.generation, e.len),
                Some(Slot::Gone) => return Some(None),
                None if !ix.rebuilding => return Some(None),
                None => return None,
            };
            (generation, len, ix.open_file(id, generation))
        };
        let file = match kept {
            Some(file) => file,
            None => {
                let o = nowait::open(&s.path(id), len)?;
                if o.len != len {
                    return None;
                }
                open_files::OpenFile {
                    generation,
                    fd: Arc::new(o.fd),
                    modified: o.modified,
                }
            }
        };
        let stale_mtime = SystemTime::now()
            .duration_since(file.modified)
            .is_ok_and(|age| age > TOUCH_EVERY);
        if stale_mtime {
            // The blocking path bumps it; the next read opens it again.
            let closing = {
                let mut ix = s.lock();
                ix.close_file(id);
                ix.take_closing()
            };
            drop(closing);
            return None;
        }
        let bytes = nowait::read(&*file.fd, len)?;
        // Checked whole on every read, before anything of it is answered; a
        // bad one is left to the blocking path, which drops and counts it.
        let good = format::check(Bytes::from(bytes), key).ok()?;
        let closing = {
            let mut ix = s.lock();
            // Replaced or removed meanwhile: let the blocking path tell.
            if ix.live(id).is_none_or(|e| e.generation != generation) {
                return None;
            }
            ix.touch(id, key);
            ix.keep_open(id, file);
            ix.take_closing()
        };
        drop(closing);
        Some(Some((good.meta, good.parts, generation)))
    }

    /// Removes `key` if present (also if the rebuild has not reached it
    /// yet); whether it was there.
    pub fn remove(&self, key: &str) -> io::Result<bool> {
        let s = &*self.shared;
        let id = id_of(key);
        let _stripe = s.stripe(id);
        let found = unlink_found(&s.path(id))?;
        let indexed = s.lock().forget(id);
        s.close_dropped();
        Ok(found || indexed)
    }

    /// Removes every key starting with `prefix`; returns how many indexed entries it removed.
    ///
    /// Walks the whole index under the lock (O(entries), meant for purges,
    /// not the request path), then reads the key of every entry whose key is
    /// not in memory yet from its file (see the module docs; none once the
    /// background key pass is done). During the rebuild, matching files it
    /// has not reached are deleted when it does (not counted here).
    pub fn remove_prefix(&self, prefix: &str) -> io::Result<usize> {
        let s = &*self.shared;
        let (mut matched, unknown) = {
            let mut ix = s.lock();
            if ix.rebuilding {
                ix.purged.push(prefix.to_owned());
            }
            let (mut matched, mut unknown) = (Vec::new(), Vec::new());
            for (id, e) in ix.entries() {
                match &e.key {
                    Some(k) if k.starts_with(prefix) => matched.push(id),
                    Some(_) => {}
                    None => unknown.push((id, e.generation)),
                }
            }
            for id in &matched {
                ix.forget(*id);
            }
            (matched, unknown)
        };
        let (found, bad) = s.learn_keys(&unknown, Some(prefix));
        matched.extend(found);
        let mut first_err = None;
        s.close_dropped();
        for id in matched.iter().chain(&bad) {
            if let Err(e) = s.unlink_if_dead(*id) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(matched.len()),
        }
    }

    /// (bytes charged, objects) indexed now; no lock taken.
    pub fn usage(&self) -> (u64, u64) {
        let c = &self.shared.counters;
        (
            c.bytes.load(Ordering::Relaxed),
            c.objects.load(Ordering::Relaxed),
        )
    }

    /// Writes that failed so far, by kind (indexed as
    /// [`WriteErrorKind::ALL`]); no lock taken.
    pub fn write_errors(&self) -> [u64; WriteErrorKind::COUNT] {
        self.shared.write_errors.counts()
    }

    /// Entries found bad when read and dropped so far, by reason (the
    /// `reason` label: see [`Bad::REASONS`]); no lock taken.
    pub fn bad_entries(&self) -> [(&'static str, u64); BAD_REASONS] {
        let counts = self.shared.bad_entries.counts();
        std::array::from_fn(|i| (Bad::REASONS[i], counts[i]))
    }

    /// Entries evicted so far; no lock taken.
    pub fn evictions(&self) -> u64 {
        self.shared.counters.evictions.load(Ordering::Relaxed)
    }

    /// The background rebuild has finished: the index is complete.
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for [`DiskCache::ready`]; returns it.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let s = &*self.shared;
        let guard = s.ready_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, _) = s
            .ready_cv
            .wait_timeout_while(guard, timeout, |done| !*done)
            .unwrap_or_else(PoisonError::into_inner);
        *done
    }
}

#[cfg(test)]
impl DiskCache {
    /// Opens without the rebuild thread: the test drives the returned rebuild.
    fn open_paused(dir: &Path, max_bytes: u64) -> io::Result<(DiskCache, scan::Rebuild)> {
        let shared = Arc::new(Shared::new(dir, max_bytes)?);
        let rebuild = scan::Rebuild::start(&shared);
        let cache = DiskCache {
            shared,
            rebuild: None,
        };
        Ok((cache, rebuild))
    }
}

impl Drop for DiskCache {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.rebuild.take() {
            let _ = h.join();
        }
    }
}
