//! The disk cache's in-memory index: which entries exist, their file
//! lengths, keys when known, and recency, plus the tombstones and purged
//! prefixes that keep the background rebuild from bringing back what was
//! removed while it ran.
//!
//! Not file I/O: every method is pure bookkeeping, called under the cache's
//! lock; the figures `usage()` reports are mirrored into atomics here so
//! that reading them takes no lock.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use super::format::{charged, nanos, Id};

/// Figures readable without the lock.
#[derive(Default)]
pub(super) struct Counters {
    /// Bytes charged by live entries.
    pub bytes: AtomicU64,
    /// Live entries.
    pub objects: AtomicU64,
    /// Entries evicted so far.
    pub evictions: AtomicU64,
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
}

/// What the index knows of an id.
pub(super) enum Slot {
    /// Indexed.
    Live(Entry),
    /// Removed, evicted, replaced or found bad since the rebuild started:
    /// the rebuild must not index its file. Only exists while rebuilding.
    Gone,
}

/// The index (see the module docs of `disk` for how it stays consistent).
pub(super) struct Index {
    slots: HashMap<Id, Slot, foldhash::fast::RandomState>,
    /// Live entries by (stamp, id): the first is the least recently used.
    order: BTreeSet<(u64, Id)>,
    bytes: u64,
    live: u64,
    last_stamp: u64,
    next_generation: u64,
    /// The background rebuild has not finished.
    pub rebuilding: bool,
    /// Prefixes passed to `remove_prefix` while rebuilding.
    pub purged: Vec<String>,
    counters: Arc<Counters>,
}

impl Index {
    /// An empty index, rebuilding, publishing its figures to `counters`.
    pub fn new(counters: Arc<Counters>) -> Index {
        Index {
            slots: HashMap::default(),
            order: BTreeSet::new(),
            bytes: 0,
            live: 0,
            last_stamp: 0,
            next_generation: 0,
            rebuilding: true,
            purged: Vec::new(),
            counters,
        }
    }

    /// The slot of `id`, if any.
    pub fn slot(&self, id: Id) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// The live entry of `id`, if any.
    pub fn live(&self, id: Id) -> Option<&Entry> {
        match self.slots.get(&id) {
            Some(Slot::Live(e)) => Some(e),
            _ => None,
        }
    }

    /// Ids, generations and keys of every live entry (for purges).
    pub fn entries(&self) -> impl Iterator<Item = (Id, &Entry)> {
        self.slots.iter().filter_map(|(id, s)| match s {
            Slot::Live(e) => Some((*id, e)),
            Slot::Gone => None,
        })
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

    /// Indexes `id` (replacing whatever was there) with recency `stamp`.
    pub fn insert(&mut self, id: Id, len: u64, stamp: u64, key: Option<Box<str>>) {
        self.drop_live(id);
        self.next_generation += 1;
        let entry = Entry {
            len,
            stamp,
            generation: self.next_generation,
            key,
        };
        self.order.insert((stamp, id));
        self.bytes += charged(len);
        self.live += 1;
        self.slots.insert(id, Slot::Live(entry));
        self.publish();
    }

    /// Marks `id` most recently used and records its key if unknown.
    pub fn touch(&mut self, id: Id, key: &str) {
        let stamp = self.now_stamp();
        if let Some(Slot::Live(e)) = self.slots.get_mut(&id) {
            self.order.remove(&(e.stamp, id));
            e.stamp = stamp;
            self.order.insert((stamp, id));
            if e.key.is_none() {
                e.key = Some(key.into());
            }
        }
    }

    /// Records the key of `id` (read from its file).
    pub fn set_key(&mut self, id: Id, key: String) {
        if let Some(Slot::Live(e)) = self.slots.get_mut(&id) {
            e.key = Some(key.into());
        }
    }

    /// Drops `id` from the index: a tombstone while rebuilding, nothing after.
    pub fn forget(&mut self, id: Id) {
        self.drop_live(id);
        if self.rebuilding {
            self.slots.insert(id, Slot::Gone);
        } else {
            self.slots.remove(&id);
        }
        self.publish();
    }

    /// Picks least-recently-used entries until at most `limit` bytes remain,
    /// dropping them from the index; returns them, for the caller to unlink
    /// after unlocking.
    pub fn evict(&mut self, limit: u64) -> Vec<Id> {
        let mut victims = Vec::new();
        while self.bytes > limit {
            let Some(&(_, id)) = self.order.first() else {
                break;
            };
            self.forget(id);
            victims.push(id);
        }
        self.counters
            .evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        victims
    }

    /// Ends the rebuild: tombstones and purged prefixes are no longer needed.
    pub fn finish_rebuild(&mut self) {
        self.rebuilding = false;
        self.slots.retain(|_, s| matches!(s, Slot::Live(_)));
        self.slots.shrink_to_fit();
        self.purged = Vec::new();
    }

    fn drop_live(&mut self, id: Id) {
        if let Some(Slot::Live(old)) = self.slots.remove(&id) {
            self.order.remove(&(old.stamp, id));
            self.bytes -= charged(old.len);
            self.live -= 1;
        }
    }

    fn publish(&self) {
        self.counters.bytes.store(self.bytes, Ordering::Relaxed);
        self.counters.objects.store(self.live, Ordering::Relaxed);
    }
}
