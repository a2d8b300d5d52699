//! The memory cache's index of tags (purge by tag): in each shard, tag →
//! the keys of the entries carrying it, kept under the shard's lock by the
//! same operations that insert, replace, remove and evict entries, so it
//! never names an entry the shard does not hold. Its bytes are part of each
//! entry's weight ([`cost`]), so they count against the cache's bound and
//! go with the entry.

use std::collections::{HashMap, HashSet};

/// Bytes charged per (tag, key) pair of the index, besides the key's and
/// the tag's lengths: the set's slot and control byte, the key's
/// allocation and the allocator's share, the map's amortised slot, and for
/// a tag of one object its own set (measured: peak RSS of 10,000 objects
/// with three tags against none, docs/benchmarks/tag_purge.md, rounded up).
pub const TAG_ENTRY: usize = 136;

/// What indexing `tags` under a key of `key_len` bytes costs.
pub fn cost(key_len: usize, tags: &[Box<str>]) -> usize {
    tags.iter().map(|t| TAG_ENTRY + key_len + t.len()).sum()
}

type Hasher = foldhash::fast::RandomState;

/// One shard's index.
#[derive(Default)]
pub(super) struct TagIndex {
    keys: HashMap<Box<str>, HashSet<String, Hasher>, Hasher>,
    /// (tag, key) pairs held.
    pairs: usize,
    /// Their [`cost`].
    bytes: usize,
}

impl TagIndex {
    /// Indexes `key` under each of `tags`.
    pub fn add(&mut self, key: &str, tags: &[Box<str>]) {
        for t in tags {
            if self.keys.entry(t.clone()).or_default().insert(key.into()) {
                self.pairs += 1;
            }
        }
        self.bytes += cost(key.len(), tags);
    }

    /// Forgets `key` under each of `tags` (what [`TagIndex::add`] was
    /// given for it).
    pub fn remove(&mut self, key: &str, tags: &[Box<str>]) {
        for t in tags {
            let Some(keys) = self.keys.get_mut(&**t) else {
                continue;
            };
            if keys.remove(key) {
                self.pairs -= 1;
            }
            if keys.is_empty() {
                self.keys.remove(&**t);
            }
        }
        self.bytes -= cost(key.len(), tags);
    }

    /// Takes the keys carrying `tag` out of the index (their other tags
    /// stay until [`TagIndex::remove`]); the cost of the pairs taken stays
    /// counted until then too.
    pub fn take(&mut self, tag: &str) -> Vec<String> {
        let keys: Vec<String> = self.keys.remove(tag).into_iter().flatten().collect();
        self.pairs -= keys.len();
        keys
    }

    /// The keys carrying `tag`.
    pub fn keys(&self, tag: &str) -> Vec<String> {
        self.keys
            .get(tag)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// (tag, key) pairs held, and the bytes charged for them.
    pub fn usage(&self) -> (usize, usize) {
        (self.pairs, self.bytes)
    }
}
