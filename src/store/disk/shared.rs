//! What a `DiskCache` shares with its rebuild thread, and the operations
//! both use that keep index and files in step: the index lock, the stripe
//! locks, unlinking what the index no longer holds, recording good and bad
//! reads.
//!
//! Not the public API (in `disk`) and not the file format (in `format`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::bad_entries::BadEntries;
use super::format::{self, at, entry_path, unlink, Id};
use super::index::{Counters, Index, Slot};
use super::read::{self, KeyRead};
use super::tagged::Select;
use super::write_errors::WriteErrors;
use super::{Found, STRIPES};

/// What the cache and its rebuild thread share.
pub(super) struct Shared {
    /// The cache directory.
    pub dir: PathBuf,
    /// The bound, in bytes charged.
    pub max_bytes: u64,
    /// In this cache's temp file names.
    pub tag: String,
    index: Mutex<Index>,
    stripes: Vec<Mutex<()>>,
    /// Figures read without the lock.
    pub counters: Arc<Counters>,
    /// The index is complete.
    pub ready: AtomicBool,
    /// `ready` again, for `ready_cv`.
    pub ready_lock: Mutex<bool>,
    /// Signalled when the index is complete.
    pub ready_cv: Condvar,
    /// Set on drop: the rebuild stops.
    pub stop: AtomicBool,
    /// Writes that failed, by kind.
    pub write_errors: WriteErrors,
    /// Entries found bad when read, by reason.
    pub bad_entries: BadEntries,
}

impl Shared {
    /// Creates `dir` if needed and checks that it can be listed and written.
    pub(super) fn new(dir: &Path, max_bytes: u64) -> io::Result<Shared> {
        fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
        fs::read_dir(dir).map_err(|e| at(dir, e))?;
        let opened = format::nanos(SystemTime::now());
        let tag = format!("{:x}-{opened:x}", std::process::id());
        // Writable too: a cache that cannot write would fail every store.
        let probe = dir.join(format!(".{tag}.probe{}", format::TMP_SUFFIX));
        fs::File::create_new(&probe).map_err(|e| at(dir, e))?;
        let _ = fs::remove_file(&probe);
        let counters = Arc::new(Counters::default());
        Ok(Shared {
            dir: dir.to_owned(),
            max_bytes,
            tag,
            index: Mutex::new(Index::new(Arc::clone(&counters))),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            counters,
            ready: AtomicBool::new(false),
            ready_lock: Mutex::new(false),
            ready_cv: Condvar::new(),
            stop: AtomicBool::new(false),
            write_errors: WriteErrors::default(),
            bad_entries: BadEntries::default(),
        })
    }

    /// The file of `id`.
    pub(super) fn path(&self, id: Id) -> PathBuf {
        entry_path(&self.dir, id)
    }

    /// The index lock: never held across a file-system call.
    pub(super) fn lock(&self) -> MutexGuard<'_, Index> {
        // The index stays consistent between statements; a panic elsewhere
        // while holding the lock must not take the cache down with it.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stripe lock of `id`: held across a rename or unlink of its file.
    pub(super) fn stripe(&self, id: Id) -> MutexGuard<'_, ()> {
        self.stripes[(id % STRIPES as u128) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the descriptors the index stopped keeping (outside the lock:
    /// the last close of a deleted file frees its blocks).
    pub(super) fn close_dropped(&self) {
        let closing = self.lock().take_closing();
        drop(closing);
    }

    /// Unlinks the file of `id` unless the index has it live (a `put` took it back).
    pub(super) fn unlink_if_dead(&self, id: Id) -> io::Result<()> {
        let _stripe = self.stripe(id);
        if self.lock().live(id).is_some() {
            return Ok(());
        }
        unlink(&self.path(id))
    }

    /// Unlinks eviction victims (already out of the index).
    pub(super) fn unlink_victims(&self, victims: Vec<Id>) {
        for id in victims {
            if let Err(e) = self.unlink_if_dead(id) {
                // Uncounted; the next rebuild finds it again.
                tracing::warn!(error = %e, "disk cache eviction failed");
            }
        }
        self.close_dropped();
    }

    /// Records a good read: recency, the key, and for a direct read the entry itself.
    /// Returns the generation of the entry read, while the index still has
    /// that very entry.
    pub(super) fn found_good(&self, id: Id, key: &str, found: Found, len: u64) -> Option<u64> {
        let mut purged = false;
        let (victims, generation) = {
            let mut ix = self.lock();
            let generation = match (found, ix.slot(id)) {
                (Found::Indexed(g), Some(Slot::Live(e))) if e.generation == g => {
                    ix.touch(id, key);
                    Some(g)
                }
                // Purged since the lookup: served to this reader, not kept.
                (Found::Direct, None) if ix.rebuilding && ix.purged_match(key) => {
                    ix.forget(id);
                    purged = true;
                    None
                }
                (Found::Direct, None) if ix.rebuilding => {
                    let stamp = ix.now_stamp();
                    Some(ix.insert(id, len, stamp, Some(key.into()), None))
                }
                // The rebuild indexed this very file meanwhile (a put would have set the key).
                (Found::Direct, Some(Slot::Live(e))) if e.key.is_none() && e.len == len => {
                    let g = e.generation;
                    ix.touch(id, key);
                    Some(g)
                }
                _ => None, // replaced, removed or evicted meanwhile
            };
            let victims = ix.evict(self.max_bytes);
            // Evicted just now: no longer a version to write over.
            let generation = generation.filter(|g| ix.live(id).is_some_and(|e| e.generation == *g));
            (victims, generation)
        };
        if purged {
            let _ = self.unlink_if_dead(id);
        }
        self.unlink_victims(victims);
        generation
    }

    /// Deletes the bad file of `id` if the index still refers to the file that was read.
    pub(super) fn drop_bad(&self, id: Id, found: Found) {
        let _stripe = self.stripe(id);
        {
            let mut ix = self.lock();
            let same_file = match (ix.slot(id), found) {
                (Some(Slot::Live(e)), Found::Indexed(g)) => e.generation == g,
                // Indexed by the rebuild meanwhile: the same file.
                (Some(Slot::Live(e)), Found::Direct) => e.key.is_none(),
                // Not indexed: whatever is there is not vouched for.
                _ => true,
            };
            if !same_file {
                return;
            }
            ix.forget(id);
        }
        self.close_dropped();
        if let Err(e) = unlink(&self.path(id)) {
            tracing::warn!(error = %e, "disk cache: cannot delete a bad entry");
        }
    }

    /// Reads the keys and tags of `batch` (entries indexed without them,
    /// with the generation seen) from their heads, outside the lock, and
    /// records them. Entries whose head is bad are dropped and counted,
    /// those of an older format dropped quietly; with `select`, matching
    /// ones are dropped too, or only listed when `keep`. Returns (matching
    /// with their keys, bad, old) ids, the last two out of the index, for
    /// the caller to unlink.
    pub(super) fn learn_keys(
        &self,
        batch: &[(Id, u64)],
        select: Option<Select<'_>>,
        keep: bool,
    ) -> (Vec<(Id, String)>, Vec<Id>, Vec<Id>) {
        let read: Vec<_> = batch
            .iter()
            .map(|&(id, generation)| (id, generation, read::read_key(&self.path(id), id)))
            .collect();
        let (mut matched, mut bad, mut old) = (Vec::new(), Vec::new(), Vec::new());
        let mut ix = self.lock();
        for (id, generation, key) in read {
            if ix.live(id).map(|e| e.generation) != Some(generation) {
                continue; // replaced or dropped meanwhile
            }
            match key {
                Ok(KeyRead::Key(k, tags)) if select.is_some_and(|s| s.matches(&k, &tags)) => {
                    if keep {
                        ix.set_key(id, k.clone(), tags);
                    } else {
                        ix.forget(id);
                    }
                    matched.push((id, k));
                }
                Ok(KeyRead::Key(k, tags)) => ix.set_key(id, k, tags),
                Ok(KeyRead::Bad) => {
                    ix.forget(id);
                    bad.push(id);
                    // Its head does not decode, add up or name its key.
                    self.bad_entries.count(format::Bad::Header, 1);
                }
                Ok(KeyRead::Old) => {
                    ix.forget(id);
                    old.push(id);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    ix.forget(id);
                }
                Err(e) => tracing::warn!(error = %e, "disk cache: cannot read a key"),
            }
        }
        (matched, bad, old)
    }

    /// Marks the index complete and wakes `wait_ready`.
    pub(super) fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
        *self
            .ready_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.ready_cv.notify_all();
    }
}
