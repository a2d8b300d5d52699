//! Descriptors of entry files kept open, so that a disk hit on a worker
//! thread is one `preadv2` instead of a path walk, `openat2`, `fstat`, the
//! read and a `close` (see `DiskCache::get_cached_raw`).
//!
//! Kept inside the index, under its lock, one per live entry generation at
//! most: the index drops an entry's descriptor whenever it drops the entry
//! (removal, eviction, replacement, a bad read), so a descriptor never
//! keeps the blocks of a deleted file allocated for longer than it takes
//! the next caller to close it. Closing happens outside the lock: dropped
//! descriptors wait in `closing` until [`OpenFiles::take_closing`] (the
//! last close of a deleted file frees its blocks, file-system work that
//! must not run under the index lock).
//!
//! Bounded by count (least-recently-used descriptors are closed first),
//! sized from the process's descriptor limit at start (see `capacity`).

use std::num::NonZeroUsize;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::SystemTime;

use lru::LruCache;

/// One open entry file.
#[derive(Clone)]
pub(super) struct OpenFile {
    /// The entry generation it was opened for.
    pub generation: u64,
    /// The descriptor (shared with readers in flight).
    pub fd: Arc<OwnedFd>,
    /// The file's mtime when opened.
    pub modified: SystemTime,
}

/// The open descriptors, by index key.
pub(super) struct OpenFiles<K: std::hash::Hash + Eq> {
    lru: Option<LruCache<K, OpenFile>>,
    closing: Vec<OpenFile>,
}

/// How many entry files a cache keeps open: an eighth of the soft
/// descriptor limit (the rest is for connections, the origin and the
/// static root), at most 4,096; none below a limit of 256.
pub(super) fn capacity() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX);
    if soft < 256 {
        return 0;
    }
    usize::try_from((soft / 8).min(4096)).unwrap_or(4096)
}

impl<K: std::hash::Hash + Eq> OpenFiles<K> {
    /// Keeps at most `capacity` descriptors open (0: none).
    pub fn new(capacity: usize) -> Self {
        Self {
            lru: NonZeroUsize::new(capacity).map(LruCache::new),
            closing: Vec::new(),
        }
    }

    /// The descriptor of `k` opened for `generation`, if kept.
    pub fn get(&mut self, k: &K, generation: u64) -> Option<OpenFile> {
        let lru = self.lru.as_mut()?;
        match lru.get(k) {
            Some(f) if f.generation == generation => Some(f.clone()),
            Some(_) => {
                self.drop_key(k);
                None
            }
            None => None,
        }
    }

    /// Keeps `file` for `k` (the caller checked, under the same lock, that
    /// its generation is the live one).
    pub fn keep(&mut self, k: K, file: OpenFile) {
        let Some(lru) = self.lru.as_mut() else {
            return;
        };
        if let Some((_, old)) = lru.push(k, file) {
            self.closing.push(old);
        }
    }

    /// Stops keeping the descriptor of `k`, if any.
    pub fn drop_key(&mut self, k: &K) {
        if let Some(f) = self.lru.as_mut().and_then(|l| l.pop(k)) {
            self.closing.push(f);
        }
    }

    /// The descriptors no longer kept, for the caller to drop (close)
    /// after unlocking.
    pub fn take_closing(&mut self) -> Vec<OpenFile> {
        std::mem::take(&mut self.closing)
    }

    /// How many are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lru.as_ref().map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(generation: u64) -> OpenFile {
        let f = tempfile::tempfile().unwrap();
        OpenFile {
            generation,
            fd: Arc::new(f.into()),
            modified: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn bounded_and_generation_checked() {
        let mut o: OpenFiles<u32> = OpenFiles::new(2);
        o.keep(1, file(1));
        o.keep(2, file(1));
        assert!(o.get(&1, 1).is_some());
        o.keep(3, file(1)); // 2 is least recently used
        assert_eq!(o.len(), 2);
        assert!(o.get(&2, 1).is_none());
        assert_eq!(o.take_closing().len(), 1);
        // Another generation: the old descriptor goes.
        assert!(o.get(&1, 2).is_none());
        assert_eq!(o.take_closing().len(), 1);
        o.drop_key(&3);
        assert_eq!(o.len(), 0);
        assert_eq!(o.take_closing().len(), 1);
        assert!(o.take_closing().is_empty());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut o: OpenFiles<u32> = OpenFiles::new(0);
        o.keep(1, file(1));
        assert!(o.get(&1, 1).is_none());
        assert!(o.take_closing().is_empty());
    }
}
