//! What the memory cache holds: an [`Entry`] is an asset with what is
//! needed to judge whether it is still good (its [`Source`]: a local file's
//! stamp, a pulled response's metadata, or the marker of a URL whose
//! responses vary), and what its bytes weigh against `cache.memory_bytes`,
//! also while it is still being sent after the cache let it go.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Marker, Served};
use crate::asset::Asset;
use crate::origin::stored::PulledMeta;
use crate::store::local::Stamp;
use crate::store::memory::{MemoryCache, Reservation, Weigh};

/// Bytes of an entry's weight that are not representation bodies: the
/// asset's fixed overhead, the entry's own, and a generous key.
pub(crate) const ENTRY_SLACK: usize = 4096;

/// A stored asset with what is needed to judge whether it is still good.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) asset: Asset,
    pub(crate) source: Source,
    /// Its encodings are queued, being made, or made (see `compress`).
    pub(crate) compress_queued: std::sync::atomic::AtomicBool,
    /// Generation of the disk-cache entry holding this very version (0:
    /// none known), so encodings made after an eviction still reach it.
    pub(crate) disk_generation: AtomicU64,
    /// The memory cache took this very version when it was stored (it may
    /// have been evicted since).
    pub(crate) in_memory: std::sync::atomic::AtomicBool,
    /// Its bytes, counted against the memory bound while it is out of the
    /// cache but still being sent (see `Weigh::outlive`).
    pub(crate) held: std::sync::Mutex<Option<Reservation>>,
}

impl Entry {
    pub(crate) fn new(asset: Asset, source: Source) -> Self {
        Self {
            asset,
            source,
            compress_queued: Default::default(),
            disk_generation: AtomicU64::new(0),
            in_memory: Default::default(),
            held: Default::default(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Source {
    /// From the static root.
    Local {
        stamp: Stamp,
        /// Milliseconds since `Edge::epoch` of the last disk check.
        checked_ms: AtomicU64,
        /// Some representation is streamed from disk.
        on_disk: bool,
    },
    /// From the origin.
    Pulled(Arc<PulledMeta>),
    /// Not an object: says which request headers select among the stored
    /// variants of this URL (RFC 9111 §4.1); see `pull::variants`.
    Variants(Marker),
}

impl Weigh for Arc<Entry> {
    /// The asset's weight, what the source keeps beside it, and the entry's
    /// own cost: the `Arc`, the LRU node and the map slot holding it, and
    /// the allocator's share of each (measured, see `Asset::weight`).
    fn weight(&self) -> usize {
        const ENTRY: usize = 448;
        let source = match &self.source {
            Source::Local { stamp, .. } => stamp.heap_bytes(),
            Source::Pulled(meta) => meta.heap_bytes(),
            Source::Variants(m) => m.heap_bytes(),
        };
        ENTRY + self.asset.weight() + source
    }

    /// An entry the cache lets go of while a response still holds it (its
    /// body is being sent, see `Served::keep`) or one it refused (too large
    /// for memory, served once from a disk write or the origin's answer)
    /// keeps its weight counted until the last holder drops it.
    fn outlive(&self, charge: &dyn Fn(usize) -> Reservation) {
        if Arc::strong_count(self) > 1 {
            let r = charge(self.weight());
            *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        }
    }

    /// A pulled object's tags (`origin::tags`), indexed by the memory
    /// cache for purges by tag.
    fn tags(&self) -> &[Box<str>] {
        match &self.source {
            Source::Pulled(meta) => &meta.tags,
            _ => &[],
        }
    }
}

/// The memory cache, shared with background work (compression, revalidation).
pub(crate) type Memory = Arc<MemoryCache<Arc<Entry>>>;

/// Keeps an asset in memory (if it fits) and returns a handle on it, which
/// remembers whether it did. An asset streamed from the disk cache holds
/// its file open and is never kept (each request reads and verifies the
/// entry's head again): its bytes in memory are counted against the bound
/// while a response holds it.
pub(crate) fn keep(memory: &Memory, cache_key: String, asset: Asset, source: Source) -> Served {
    let entry = Arc::new(Entry::new(asset, source));
    if entry.asset.streams_from_store() {
        let held = memory.reserve(entry.weight());
        *entry.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
    } else if memory.insert(cache_key, entry.clone()) {
        entry.in_memory.store(true, Ordering::Relaxed);
    }
    Served(entry)
}
