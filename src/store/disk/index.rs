//! The disk cache's in-memory index: which entries exist, their file
//! lengths, keys and tags when known, and recency, plus the tombstones and purged
//! prefixes that keep the background rebuild from bringing back what was
//! removed while it ran.
//!
//! Not file I/O: every method is pure bookkeeping, called under the cache's
//! lock; the figures `usage()` reports are mirrored into atomics here so
//! that reading them takes no lock.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::format::{charged, nanos, Id};
use super::open_files::{self, OpenFile, OpenFiles};
use super::tagged::{self, Tags};
use crate::store::memory::Reservation;

/// Figures readable without the lock.
#[derive(Default)]
pub(super) struct Counters {
    /// Bytes charged by live entries.
    pub bytes: AtomicU64,
    /// Live entries.
    pub objects: AtomicU64,
    /// Entries evicted so far.
    pub evictions: AtomicU64,
    /// Tags of live entries, one per (entry, tag).
    pub tags: AtomicU64,
    /// Bytes the index holds for them.
    pub tag_bytes: AtomicU64,
}

/// A live entry.
pub(super) struct Entry {
    /// Whole file length.
    pub len: u64,
    /// Recency: nanoseconds since the epoch (file mtime for scanned entries).
    pub stamp: u64,
    /// Bumped by each insert, so that a reader acts on a file only if the
    /// entry is still the one it looked up.
    pub generation: u64,
    /// The key, once read or written by this process; `None` for entries
    /// the rebuild found (it reads names, not files).
    pub key: Option<Box<str>>,
    /// Its tags, once written or read from its head by this process.
    pub tags: Option<Tags>,
}

/// What the index knows of an id.
pub(super) enum Slot<'a> {
    /// Indexed.
    Live(&'a Entry),
    /// Removed, evicted, replaced or found bad since the rebuild started:
    /// the rebuild must not index its file. Only exists while rebuilding.
    Gone,
}

/// An id as stored in the index: two words, so that entries need no
/// 16-byte alignment (a `u128` key pads every map bucket and set element).
type Key = [u64; 2];

fn key(id: Id) -> Key {
    [(id >> 64) as u64, id as u64]
}

fn id(k: Key) -> Id {
    (u128::from(k[0]) << 64) | u128::from(k[1])
}

/// The index (see the module docs of `disk` for how it stays consistent).
pub(super) struct Index {
    live: HashMap<Key, Entry, foldhash::fast::RandomState>,
    /// Tombstones, only while rebuilding.
    gone: HashSet<Key, foldhash::fast::RandomState>,
    /// Live entries by (stamp, id): the first is the least recently used.
    order: BTreeSet<(u64, Key)>,
    bytes: u64,
    /// Tags of live entries, and their bytes.
    tags: (u64, u64),
    last_stamp: u64,
    next_generation: u64,
    /// The background rebuild has not finished.
    pub rebuilding: bool,
    /// Prefixes passed to `remove_prefix` while rebuilding.
    pub purged: Vec<String>,
    counters: Arc<Counters>,
    /// Descriptors of live entries' files, kept open for readers.
    open: OpenFiles<Key>,
    /// Where the bytes of the tags are counted (a memory cache's bound).
    tag_charge: Option<Reservation>,
}

impl Index {
    /// An empty index, rebuilding, publishing its figures to `counters`.
    pub fn new(counters: Arc<Counters>) -> Index {
        Index {
            live: HashMap::default(),
            gone: HashSet::default(),
            order: BTreeSet::new(),
            bytes: 0,
            tags: (0, 0),
            last_stamp: 0,
            next_generation: 0,
            rebuilding: true,
            purged: Vec::new(),
            counters,
            open: OpenFiles::new(open_files::capacity()),
            tag_charge: None,
        }
    }

    /// The descriptor kept open for generation `g` of `id`, if any.
    pub fn open_file(&mut self, id: Id, g: u64) -> Option<OpenFile> {
        self.open.get(&key(id), g)
    }

    /// Keeps `file` open for `id` if its generation is the live one.
    pub fn keep_open(&mut self, id: Id, file: OpenFile) {
        if self
            .live(id)
            .is_some_and(|e| e.generation == file.generation)
        {
            self.open.keep(key(id), file);
        }
    }

    /// Stops keeping a descriptor open for `id`.
    pub fn close_file(&mut self, id: Id) {
        self.open.drop_key(&key(id));
    }

    /// Descriptors no longer kept: drop them after unlocking.
    pub fn take_closing(&mut self) -> Vec<OpenFile> {
        self.open.take_closing()
    }

    /// The slot of `id`, if any.
    pub fn slot(&self, id: Id) -> Option<Slot<'_>> {
        let k = key(id);
        match self.live.get(&k) {
            Some(e) => Some(Slot::Live(e)),
            None if self.gone.contains(&k) => Some(Slot::Gone),
            None => None,
        }
    }

    /// The live entry of `id`, if any.
    pub fn live(&self, id: Id) -> Option<&Entry> {
        self.live.get(&key(id))
    }

    /// Ids and entries of every live entry (for purges and the key pass).
    pub fn entries(&self) -> impl Iterator<Item = (Id, &Entry)> {
        self.live.iter().map(|(k, e)| (id(*k), e))
    }

    /// Does `key` start with a prefix purged while rebuilding?
    pub fn purged_match(&self, key: &str) -> bool {
        self.purged.iter().any(|p| key.starts_with(p.as_str()))
    }

    /// A recency stamp for "now", later than every one given before.
    pub fn now_stamp(&mut self) -> u64 {
        self.last_stamp = nanos(SystemTime::now()).max(self.last_stamp + 1);
        self.last_stamp
    }

    /// Indexes `id` (replacing whatever was there) with recency `stamp`,
    /// its key and tags when known. Returns the entry's generation.
    pub fn insert(
        &mut self,
        id: Id,
        len: u64,
        stamp: u64,
        key_: Option<Box<str>>,
        tags: Option<Tags>,
    ) -> u64 {
        self.drop_live(id);
        let k = key(id);
        self.gone.remove(&k);
        self.next_generation += 1;
        let entry = Entry {
            len,
            stamp,
            generation: self.next_generation,
            key: key_,
            tags: None,
        };
        self.order.insert((stamp, k));
        self.bytes += charged(len);
        self.live.insert(k, entry);
        if let Some(tags) = tags {
            self.set_tags(k, tags);
        }
        self.publish();
        self.next_generation
    }

    /// Records the tags of the live entry `k` (read or written).
    fn set_tags(&mut self, k: Key, tags: Tags) {
        let Some(e) = self.live.get_mut(&k) else {
            return;
        };
        if let Some(old) = e.tags.take() {
            self.tags.0 -= old.len() as u64;
            self.tags.1 -= tagged::heap_bytes(&old);
        }
        self.tags.0 += tags.len() as u64;
        self.tags.1 += tagged::heap_bytes(&tags);
        e.tags = Some(tags);
    }

    /// Marks `id` most recently used and records its key if unknown.
    pub fn touch(&mut self, id: Id, key_: &str) {
        let stamp = self.now_stamp();
        let k = key(id);
        if let Some(e) = self.live.get_mut(&k) {
            self.order.remove(&(e.stamp, k));
            e.stamp = stamp;
            self.order.insert((stamp, k));
            if e.key.is_none() {
                e.key = Some(key_.into());
            }
        }
    }

    /// Records the key and tags of `id` (read from its file).
    pub fn set_key(&mut self, id: Id, key_: String, tags: Tags) {
        if let Some(e) = self.live.get_mut(&key(id)) {
            e.key = Some(key_.into());
            self.set_tags(key(id), tags);
            self.publish();
        }
    }

    /// Drops `id` from the index: a tombstone while rebuilding, nothing
    /// after. Whether it was live.
    pub fn forget(&mut self, id: Id) -> bool {
        let was = self.drop_live(id);
        if self.rebuilding {
            self.gone.insert(key(id));
        }
        self.publish();
        was
    }

    /// Picks least-recently-used entries until at most `limit` bytes remain,
    /// dropping them from the index; returns them, for the caller to unlink
    /// after unlocking.
    pub fn evict(&mut self, limit: u64) -> Vec<Id> {
        let mut victims = Vec::new();
        while self.bytes > limit {
            let Some(&(_, k)) = self.order.first() else {
                break;
            };
            self.forget(id(k));
            victims.push(id(k));
        }
        self.counters
            .evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        victims
    }

    /// Counts the bytes of the tags in `r` from now on (the previous
    /// reservation, if any, is released).
    pub fn charge_tags_to(&mut self, r: Reservation) {
        r.set(self.tags.1 as usize);
        self.tag_charge = Some(r);
    }

    /// Ends the rebuild: tombstones and purged prefixes are no longer needed.
    pub fn finish_rebuild(&mut self) {
        self.rebuilding = false;
        self.gone = HashSet::default();
        self.purged = Vec::new();
    }

    /// Whether it was live.
    fn drop_live(&mut self, id: Id) -> bool {
        let k = key(id);
        self.open.drop_key(&k);
        let Some(old) = self.live.remove(&k) else {
            return false;
        };
        self.order.remove(&(old.stamp, k));
        self.bytes -= charged(old.len);
        if let Some(t) = &old.tags {
            self.tags.0 -= t.len() as u64;
            self.tags.1 -= tagged::heap_bytes(t);
        }
        true
    }

    fn publish(&self) {
        self.counters.bytes.store(self.bytes, Ordering::Relaxed);
        let n = self.live.len() as u64;
        self.counters.objects.store(n, Ordering::Relaxed);
        self.counters.tags.store(self.tags.0, Ordering::Relaxed);
        self.counters
            .tag_bytes
            .store(self.tags.1, Ordering::Relaxed);
        if let Some(r) = &self.tag_charge {
            r.set(self.tags.1 as usize);
        }
    }
}
