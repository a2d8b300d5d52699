//! `Edge::lookup`: from a normalised key to something to answer with,
//! through the memory cache, then the static root, then (when configured)
//! the origin.
//!
//! Local files: a cached entry remembers the stamp of the files it came
//! from. The first request for it after `refresh` has passed re-stats those
//! files (a few `stat` calls, once per entry per interval, never a read);
//! if they changed, the asset is reloaded off the async workers before
//! answering, and if they are gone the entry is dropped. Every other hit is
//! a hash lookup and one `Arc` clone. A text file without `.br` / `.gz`
//! siblings gets br and gzip made in the background (`compress`), from its
//! first hit on, when `cache.compress_local` is on; they live in its memory
//! entry only.
//!
//! Pulled objects: see `pull` (the phases of a pull, RFC 9111), `variants`
//! (responses that vary on request headers), `persist` (the disk cache) and
//! `compress` (the encodings the node makes of text, pulled or local).
//! `setup` opens an edge, and opens it again for a reload, keeping what is
//! still valid.

mod absent;
mod admin;
mod ask;
mod buffer;
mod compress;
mod fetch;
mod invalidate;
pub mod joined;
mod on_disk;
mod persist;
mod probe;
mod pull;
mod route;
mod served;
mod setup;
mod storing;
mod template;
mod variants;

use persist::DiskRead;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asset::Asset;
use crate::http::freshness::NoStore;
use crate::http::path::Key;
use crate::origin::client::{FetchError, Fetched};
use crate::origin::pull::PulledMeta;
use crate::store::disk::DiskCache;
use crate::store::local::{Found, LocalStore, Stamp};
use crate::store::memory::{MemoryCache, Reservation, Weigh};

pub use ask::Ask;
pub use compress::Compressor;
pub use pull::{Origin, Rules};
pub use route::Route;
pub use served::Served;
pub use setup::Setup;

/// The result of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// An asset to serve; `from_memory` tells a cache hit from a load.
    Asset {
        asset: Served,
        from_memory: bool,
        status: CacheStatus,
    },
    /// A directory asked for without its trailing slash: redirect.
    Directory,
    /// Nothing here (and no origin, or the origin said so uncacheably).
    NotFound,
    /// An origin response that is not stored, and why: answer with it as it is.
    Passed(Arc<Fetched>, NoStore),
    /// `only-if-cached` and nothing stored may answer (RFC 9111 §5.2.1.7: 504).
    NotCached,
    /// An origin response passed on as it arrives, and why it was not
    /// stored (too large, no room in the memory bound, an unsafe method).
    Streamed(crate::origin::client::Streamed, NoStore),
    /// The origin could not be reached, timed out, or broke (502/504).
    OriginFailed(FetchError),
}

/// How a pulled answer was obtained, for the `Cache-Status` header (RFC 9211).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A local file: no header.
    Local,
    /// A fresh stored response.
    Hit,
    /// Fetched now because nothing was stored.
    Miss,
    /// Revalidated (or refetched) now because the stored one was stale.
    Stale,
    /// A stale response served because the origin failed.
    StaleServed,
    /// A stale response served while it is revalidated in the background.
    StaleRevalidating,
}

/// A snapshot of the memory cache's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    /// Entries evicted to respect the byte bound.
    pub evictions: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// Entries held now.
    pub objects: u64,
    /// Bytes of the bound reserved for what is held outside the cache
    /// (bodies in flight and being sent, streams, encodings being made).
    pub reserved: u64,
}

/// A failure to look something up that is the node's fault, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// Reading the static root failed.
    #[error("reading {key}: {source}")]
    Io { key: String, source: std::io::Error },
    /// The blocking pool is gone (shutting down).
    #[error("shutting down")]
    Shutdown,
    /// A blocking task panicked (a bug), with the panic's message.
    #[error("a blocking task panicked: {0}")]
    Panicked(String),
}

/// Bytes of an entry's weight that are not representation bodies: the
/// asset's fixed overhead, the entry's own, and a generous key.
const ENTRY_SLACK: usize = 4096;

/// A stored asset with what is needed to judge whether it is still good.
#[derive(Debug)]
struct Entry {
    asset: Asset,
    source: Source,
    /// Its encodings are queued, being made, or made (see `compress`).
    compress_queued: std::sync::atomic::AtomicBool,
    /// Generation of the disk-cache entry holding this very version (0:
    /// none known), so encodings made after an eviction still reach it.
    disk_generation: AtomicU64,
    /// The memory cache took this very version when it was stored (it may
    /// have been evicted since).
    in_memory: std::sync::atomic::AtomicBool,
    /// Its bytes, counted against the memory bound while it is out of the
    /// cache but still being sent (see `Weigh::outlive`).
    held: std::sync::Mutex<Option<Reservation>>,
}

impl Entry {
    fn new(asset: Asset, source: Source) -> Self {
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
enum Source {
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
    /// variants of this URL (RFC 9111 §4.1); see `variants`.
    Variants(variants::Marker),
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
}

/// The node's view of all assets it can serve.
pub struct Edge {
    local: Arc<LocalStore>,
    memory: Memory,
    refresh: Duration,
    epoch: Instant,
    origin: Option<Arc<Origin>>,
    /// Paths the root was recently found not to hold.
    absent: absent::AbsentMemo,
    /// Makes br and gzip of local text files without siblings, when on.
    compress_local: Option<Compressor>,
}

/// The memory cache, shared with background work (compression, revalidation).
type Memory = Arc<MemoryCache<Arc<Entry>>>;

/// Keeps an asset in memory (if it fits) and returns a handle on it, which
/// remembers whether it did. An asset streamed from the disk cache holds
/// its file open and is never kept (each request reads and verifies the
/// entry's head again): its bytes in memory are counted against the bound
/// while a response holds it.
fn store(memory: &Memory, cache_key: String, asset: Asset, source: Source) -> Served {
    let entry = Arc::new(Entry::new(asset, source));
    if entry.asset.streams_from_store() {
        let held = memory.reserve(entry.weight());
        *entry.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
    } else if memory.insert(cache_key, entry.clone()) {
        entry.in_memory.store(true, Ordering::Relaxed);
    }
    Served(entry)
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("root", &self.local.root())
            .finish_non_exhaustive()
    }
}

impl Edge {
    /// On a hit, offers a local entry whose encodings are still to be made
    /// to the compressor (again, when a full queue turned it away before).
    /// Not on its load: a file of the long tail, evicted before anyone asks
    /// for it again, is not worth compressing for memory only. Out of line:
    /// the hit path only tests the entry's flag.
    #[inline(never)]
    #[cold]
    fn offer_local(&self, cache_key: &str, entry: &Arc<Entry>) {
        if let Some(c) = &self.compress_local {
            if compress::pending(entry) {
                c.offer(&self.memory, cache_key, entry, None);
            }
        }
    }

    /// Finds what to answer `key` with. The origin's paths are boxed where
    /// they are awaited: their state is large, and unboxed it would be part
    /// of every lookup's future, hits included.
    pub async fn lookup(&self, key: &Key, ask: &Ask<'_>) -> Result<Lookup, EdgeError> {
        let cache_key = key.cache_key();
        if let Some(entry) = self.memory.get(cache_key) {
            match &entry.source {
                Source::Local {
                    stamp,
                    checked_ms,
                    on_disk,
                } => {
                    // Entries streamed from disk are checked on every request
                    // (the file is about to be opened anyway), so a replaced
                    // large file is never sent under its old ETag.
                    let due = *on_disk || self.check_due(checked_ms);
                    if !due || !self.changed(stamp.clone()).await? {
                        if entry.asset.expects_encodings() {
                            self.offer_local(cache_key, &entry);
                        }
                        return Ok(Lookup::Asset {
                            asset: Served(entry),
                            from_memory: true,
                            status: CacheStatus::Local,
                        });
                    }
                    self.memory.remove(cache_key);
                }
                _ => {
                    if let (Some(origin), None) = (&self.origin, ask.query) {
                        return Ok(Box::pin(origin.serve(&self.memory, key, ask, entry)).await);
                    }
                }
            }
        }
        let Some(origin) = &self.origin else {
            return Ok(self.load_local(key, None).await?.0);
        };
        // Pulled objects are keyed with their query string.
        let pulled_key = pull::memory_key(key, ask.query);
        if ask.query.is_some() {
            if let Some(entry) = self.memory.get(&pulled_key) {
                if !matches!(entry.source, Source::Local { .. }) {
                    return Ok(Box::pin(origin.serve(&self.memory, key, ask, entry)).await);
                }
            }
        }
        // Pulled, not in memory: when the kernel's caches tell without I/O
        // that the root has no such file and what the disk cache holds, no
        // trip to the blocking pool is needed (`store::nowait`).
        if self.root_absent(key.path()) {
            let read = match origin.disk() {
                None => Some(DiskRead::Absent),
                Some(d) => DiskRead::cached(d, &pulled_key, persist::whole_up_to(&self.memory)),
            };
            if let Some(read) = read {
                return Ok(Box::pin(origin.miss(&self.memory, key, ask, None, read)).await);
            }
        }
        // Else the same trip to the blocking pool that finds the root
        // without the file reads the pulled object from disk.
        let disk = origin
            .disk()
            .map(|d| (d.clone(), pulled_key, persist::whole_up_to(&self.memory)));
        let (found, read) = self.load_local(key, disk).await?;
        match found {
            Lookup::NotFound => {
                self.absent.remember(key.path(), self.now_ms());
                Ok(Box::pin(origin.miss(&self.memory, key, ask, None, read)).await)
            }
            found => Ok(found),
        }
    }

    /// Whether the root is known not to hold `path`: found absent less
    /// than `server.refresh_ms` ago, or now from the kernel's caches
    /// without I/O (see [`absent`]).
    fn root_absent(&self, path: &str) -> bool {
        let now = self.now_ms();
        if self
            .absent
            .recalls(path, now, self.refresh.as_millis() as u64)
        {
            return true;
        }
        let absent = self.local.known_absent(path);
        if absent {
            self.absent.remember(path, now);
        }
        absent
    }

    /// Whether a local entry's files changed: the `stat` calls run on the
    /// blocking pool, never on a worker thread.
    async fn changed(&self, stamp: Stamp) -> Result<bool, EdgeError> {
        tokio::task::spawn_blocking(move || stamp.changed())
            .await
            .map_err(|e| EdgeError::joined("file check", e))
    }

    /// Whether this request should re-check an entry's files; at most one
    /// request per interval wins the check.
    fn check_due(&self, checked_ms: &AtomicU64) -> bool {
        let now = self.now_ms();
        let last = checked_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= self.refresh.as_millis() as u64
            && checked_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Loads `key` from the static root; when it is not there and `disk`
    /// is given, reads that disk cache's key too, in the same blocking task.
    async fn load_local(
        &self,
        key: &Key,
        disk: Option<(Arc<DiskCache>, String, u64)>,
    ) -> Result<(Lookup, DiskRead), EdgeError> {
        let local = self.local.clone();
        let (path, dir) = (key.path().to_string(), key.trailing_slash);
        let (found, read) = tokio::task::spawn_blocking(move || {
            let found = local.load(&path, dir);
            let read = match (&found, disk) {
                (Ok(Found::NotFound), Some((disk, k, whole))) => DiskRead::of(&disk, &k, whole),
                _ => DiskRead::Unread,
            };
            (found, read)
        })
        .await
        .map_err(|e| EdgeError::joined("static root load", e))?;
        let found = found.map_err(|source| EdgeError::Io {
            key: key.path().to_string(),
            source,
        })?;
        let lookup = match found {
            Found::Asset(asset, stamp) => {
                let on_disk = asset
                    .representations()
                    .iter()
                    .any(|r| r.memory_bytes() as u64 != r.len);
                let source = Source::Local {
                    stamp,
                    checked_ms: AtomicU64::new(self.now_ms()),
                    on_disk,
                };
                // Vary: Accept-Encoding from the first (identity) answer on
                // when encodings will follow (RFC 9110 §12.5.5). They are
                // offered on the entry's first hit (`offer_local`), so a
                // file evicted before it is asked for again costs none.
                let wanted =
                    self.compress_local.is_some() && compress::wanted_local(key.path(), &asset);
                let asset = (*asset).expecting_encodings(wanted);
                let entry = store(&self.memory, key.cache_key().to_string(), asset, source);
                Lookup::Asset {
                    asset: entry,
                    from_memory: false,
                    status: CacheStatus::Local,
                }
            }
            Found::Directory => Lookup::Directory,
            Found::NotFound => Lookup::NotFound,
        };
        Ok((lookup, read))
    }
}
