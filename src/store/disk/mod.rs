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
//! # Files
//!
//! `put` writes entries and `get` reads them (blocking, or from the page
//! cache without waiting), through `read` (an entry file read back and
//! verified), `head` (the head of an entry file), `chunks` (parts as
//! verified chunks) and `format` (the entry file: its name, its atomic
//! write, why one read back is bad); `index` and
//! `shared` hold what is known of every entry, under the locks below;
//! `scan` rebuilds the index at start; `tagged` and `select` are entries'
//! tags and the purges that select entries by tag; `open_files` keeps
//! descriptors of hot entries open; `bad_entries` and `write_errors` count what failed.
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
//! # File format (one file per entry, version 3)
//!
//! ```text
//! head: magic "cdnedisk" | version 3 | key_len | meta_len | part count n |
//!       chunk shift | n × part_len | n × blake3 of the part | key | meta JSON |
//!       one blake3 per chunk of each part | blake3 of the head
//! part 0 | … | part n-1
//! ```
//!
//! (`head` has the details.) Every read verifies what it hands out before
//! the caller gets a byte of it, and no file is trusted for having been
//! written or checked before by this process: anything may write over it
//! meanwhile, and a changed byte must never be served under the ETag of
//! the original. An entry file of at most the size the caller reads whole
//! (what its memory cache would keep) is read whole and verified whole:
//! length against the index, the head (lengths against the file's, its
//! blake3, the key), every chunk of every part. A larger one has its head
//! read and verified, and its parts of at most one chunk (64 KiB); a
//! larger part is left on disk ([`StoredPart`]) and read a chunk at a time
//! as it is sent, each chunk verified against its blake3 before any byte
//! of it is handed out. A bad entry is deleted, missed, counted by reason
//! and logged (`bad_entries`); a bad chunk found while a part is sent
//! also fails that read, and its response is aborted before its end.
//! Entries of the formats before (1 and 2) are misses, deleted quietly and
//! fetched again. `get_cached_parts` reads without waiting for the disk
//! (`store::nowait`), for the worker threads.
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
//! # Tags
//!
//! An entry's tags are the `tags` member of its metadata JSON (`tagged`):
//! the index learns them when the entry is written, and from its head in
//! the key pass (the same read as its key) after a restart, so a purge by
//! tag after a restart finds entries only on disk. A purge by tag (or a
//! listing for a soft purge, `select`) waits for the rebuild to end (it
//! stats files only), then walks the index as `remove_prefix` does,
//! reading the heads whose tags are still unknown itself.
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
mod chunks;
mod format;
#[cfg(test)]
#[path = "../../../fuzz/targets/disk.rs"]
mod fuzz;
mod get;
mod head;
mod index;
mod open_files;
mod put;
mod read;
mod scan;
mod select;
mod shared;
mod tagged;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_faults;
#[cfg(test)]
mod tests_open;
#[cfg(test)]
mod tests_rebuild;
#[cfg(test)]
mod tests_stream;
#[cfg(test)]
mod tests_tags;
#[cfg(test)]
mod tests_write_faults;
mod write_errors;

pub use chunks::StoredPart;
pub use read::Part;
pub use tagged::{Select, Tags};
pub use write_errors::WriteErrorKind;

/// How many `reason` labels bad entries are counted under (see
/// [`DiskCache::bad_entries`]).
pub const BAD_REASONS: usize = Bad::REASONS.len();

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use format::{at, id_of, unlink_found, Bad};
use shared::Shared;

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
        let (found, bad, old) = s.learn_keys(&unknown, Some(Select::Prefix(prefix)), false);
        matched.extend(found.into_iter().map(|(id, _)| id));
        let mut first_err = None;
        s.close_dropped();
        for id in matched.iter().chain(&bad).chain(&old) {
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
