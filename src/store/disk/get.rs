//! Reading entries: blocking ([`DiskCache::get_parts`], on the blocking
//! pool) or without waiting ([`DiskCache::get_cached_parts`], on a worker
//! thread). Every read verifies what it hands out (`read`); a bad entry is
//! deleted, missed, counted and logged by the blocking path.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::chunks::OpenEntry;
use super::format::{at, charged, id_of, Bad, Id};
use super::index::Slot;
use super::open_files::OpenFile;
use super::read::{self, Good, Miss, NoWait, Part};
use super::shared::Shared;
use super::{DiskCache, Found, Meta, TOUCH_EVERY};
use crate::store::nowait;

impl DiskCache {
    /// The object under `key` (metadata, and the parts as put), if present and intact; marks it recently used.
    ///
    /// Every part is read whole and verified (against the lengths and
    /// hashes recorded at write time); a bad entry (corrupt, truncated,
    /// tampered) is deleted and missed, never served. So is one whose
    /// metadata does not decode as `M` (say, after a change of the caller's
    /// metadata type).
    pub fn get<M: Meta>(&self, key: &str) -> Option<(M, Vec<Bytes>)> {
        self.get_versioned(key).map(|(m, parts, _)| (m, parts))
    }

    /// [`get`](Self::get), with the entry's generation (see
    /// [`put_over`](Self::put_over)); 0 when the entry was read but is no
    /// longer indexed.
    pub fn get_versioned<M: Meta>(&self, key: &str) -> Option<(M, Vec<Bytes>, u64)> {
        let (m, parts, generation) = self.get_parts(key, u64::MAX)?;
        Some((m, whole(parts)?, generation))
    }

    /// [`get_versioned`](Self::get_versioned), reading whole only an entry
    /// file of at most `whole_up_to` bytes: a larger one has its head and
    /// its parts of at most one chunk read (and verified), and its larger
    /// parts left on disk as [`Part::Stored`], verified a chunk at a time
    /// as they are read.
    pub fn get_parts<M: Meta>(&self, key: &str, whole_up_to: u64) -> Option<(M, Vec<Part>, u64)> {
        let s = &self.shared;
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
        let read = read_entry(&path, key, expect, s.max_bytes, whole_up_to);
        let problem = match read {
            Ok(Ok((good, fd))) => match serde_json::from_slice(&good.meta) {
                Ok(meta) => {
                    let generation = s.found_good(id, key, found, good.len);
                    let found = generation.map_or(Found::Direct, Found::Indexed);
                    let parts = good.into_parts(|| open_entry(s, Arc::new(fd), id, key, found));
                    return Some((meta, parts, generation.unwrap_or(0)));
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

    /// [`get_cached_parts`](Self::get_cached_parts) reading every part
    /// whole.
    pub fn get_cached_raw(&self, key: &str) -> Option<Option<(Bytes, Vec<Bytes>, u64)>> {
        Some(match self.get_cached_parts(key, u64::MAX)? {
            None => None,
            Some((meta, parts, generation)) => Some((meta, whole(parts)?, generation)),
        })
    }

    /// [`get_parts`](Self::get_parts) without waiting for the disk, for
    /// worker threads (see `store::nowait`), with the metadata left as the
    /// stored JSON (the caller may hold it decoded for this generation
    /// already): `None` when that cannot be told without I/O — then call
    /// `get_parts` on the blocking pool, which also deals with bad files
    /// and refreshes mtimes; `Some(None)` when the cache does not hold
    /// `key`.
    pub fn get_cached_parts(
        &self,
        key: &str,
        whole_up_to: u64,
    ) -> Option<Option<(Bytes, Vec<Part>, u64)>> {
        let s = &self.shared;
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
                // Only what is read whole must fit the bound on this path.
                let o = nowait::open(&s.path(id), len)?;
                if o.len != len {
                    return None;
                }
                OpenFile {
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
        // Verified on every read, before anything of it is answered; a
        // bad one is left to the blocking path, which drops and counts it.
        let good = match read::read(&NoWait(&file.fd), len, key, whole_up_to) {
            Ok(Ok(good)) => good,
            Ok(Err(_)) | Err(Miss::Wait | Miss::Io(_)) => return None,
        };
        let closing = {
            let mut ix = s.lock();
            // Replaced or removed meanwhile: let the blocking path tell.
            if ix.live(id).is_none_or(|e| e.generation != generation) {
                return None;
            }
            ix.touch(id, key);
            ix.keep_open(id, file.clone());
            ix.take_closing()
        };
        drop(closing);
        let meta = good.meta.clone();
        let parts = good.into_parts(|| open_entry(s, file.fd, id, key, Found::Indexed(generation)));
        Some(Some((meta, parts, generation)))
    }
}

/// The file `fd` of the entry `id` for `key`, as found by a read, for its parts left on disk.
fn open_entry(
    s: &Arc<Shared>,
    fd: Arc<OwnedFd>,
    id: Id,
    key: &str,
    found: Found,
) -> Arc<OpenEntry> {
    Arc::new(OpenEntry {
        fd,
        shared: s.clone(),
        id,
        key: key.into(),
        found,
        dropped: AtomicBool::new(false),
    })
}

/// The parts, if every one was read whole.
fn whole(parts: Vec<Part>) -> Option<Vec<Bytes>> {
    parts
        .into_iter()
        .map(|p| match p {
            Part::Whole(b) => Some(b),
            Part::Stored(_) => None,
        })
        .collect()
}

/// Reads and verifies the entry file for `key` at `path` (see `read`):
/// `Ok(Err(why))` if it is bad. `expect` is its length per the index, when
/// indexed; a file charged more than `limit` is bad. Refreshes an mtime
/// older than [`TOUCH_EVERY`] (best effort). Returns the descriptor too,
/// for the parts left on disk. Errors name the path.
fn read_entry(
    path: &Path,
    key: &str,
    expect: Option<u64>,
    limit: u64,
    whole_up_to: u64,
) -> io::Result<Result<(Good, OwnedFd), Bad>> {
    let file = File::open(path).map_err(|e| at(path, e))?;
    let md = file.metadata().map_err(|e| at(path, e))?;
    let len = md.len();
    if expect.is_some_and(|n| n != len) {
        return Ok(Err(Bad::LengthIndex));
    }
    if charged(len) > limit {
        return Ok(Err(Bad::OverBound));
    }
    let good = match read::read(&file, len, key, whole_up_to) {
        Ok(Ok(good)) => good,
        Ok(Err(why)) => return Ok(Err(why)),
        Err(Miss::Io(e)) => return Err(at(path, e)),
        // A blocking read never gives up; were it to, a miss.
        Err(Miss::Wait) => return Err(at(path, io::ErrorKind::WouldBlock.into())),
    };
    touch(&file, &md, TOUCH_EVERY);
    Ok(Ok((good, file.into())))
}

/// Sets `file`'s mtime to now if older than `every` (best effort).
fn touch(file: &File, md: &std::fs::Metadata, every: Duration) {
    let now = SystemTime::now();
    let fresh = md
        .modified()
        .is_ok_and(|m| now.duration_since(m).unwrap_or_default() <= every);
    if !fresh {
        let _ = file.set_modified(now);
    }
}
