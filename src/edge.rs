//! `Edge::lookup`: from a normalised key to an asset, through the memory
//! cache and then the static root, keeping cached files fresh.
//!
//! Freshness: a cached entry remembers the stamp of the files it came from.
//! The first request for it after `refresh` has passed re-stats those files
//! (a few `stat` calls, once per entry per interval, never a read); if they
//! changed, the asset is reloaded off the async workers before answering,
//! and if they are gone the entry is dropped. Every other hit is a hash
//! lookup and one `Arc` clone.

use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::asset::Asset;
use crate::http::path::Key;
use crate::store::local::{Found, LocalStore, Stamp};
use crate::store::memory::{MemoryCache, Weigh};
use crate::store::policy::Policy;

/// The result of a lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// An asset to serve; `from_memory` tells a cache hit from a load.
    Asset { asset: Served, from_memory: bool },
    /// A directory asked for without its trailing slash: redirect.
    Directory,
    /// Nothing here.
    NotFound,
}

/// A handle on an asset being served: keeps it alive for the response.
#[derive(Debug, Clone)]
pub struct Served(Arc<Entry>);

impl Deref for Served {
    type Target = Asset;
    fn deref(&self) -> &Asset {
        &self.0.asset
    }
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
}

/// Bytes of an entry's weight that are not representation bodies: the
/// asset's fixed overhead, the entry's own, and a generous key.
const ENTRY_SLACK: usize = 4096;

/// A loaded asset with what is needed to check it against the disk.
#[derive(Debug)]
struct Entry {
    asset: Asset,
    stamp: Stamp,
    /// Milliseconds since `Edge::epoch` of the last disk check.
    checked_ms: AtomicU64,
    /// Some representation is streamed from disk.
    on_disk: bool,
}

impl Weigh for Arc<Entry> {
    fn weight(&self) -> usize {
        self.asset.weight() + 128
    }
}

/// The node's view of all assets it can serve.
pub struct Edge {
    local: Arc<LocalStore>,
    memory: MemoryCache<Arc<Entry>>,
    refresh: Duration,
    epoch: Instant,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("root", &self.local.root())
            .finish_non_exhaustive()
    }
}

impl Edge {
    /// An edge over a static root (opened here, with `policy`) and a memory
    /// cache of `memory_bytes` admitting entries up to `max_object_bytes`.
    /// Representations that would push an asset over that limit stay on
    /// disk and are streamed.
    pub fn open(
        root: &Path,
        policy: Policy,
        memory_bytes: usize,
        max_object_bytes: usize,
        refresh: Duration,
    ) -> std::io::Result<Self> {
        let memory = MemoryCache::new(memory_bytes, max_object_bytes);
        // Leave room for the entry's own overhead and its key.
        let budget = memory.max_object_bytes().saturating_sub(ENTRY_SLACK) as u64;
        let local = LocalStore::open(root, policy, budget)?;
        Ok(Self {
            local: Arc::new(local),
            memory,
            refresh,
            epoch: Instant::now(),
        })
    }

    /// Finds the asset for `key`.
    pub async fn lookup(&self, key: &Key) -> Result<Lookup, EdgeError> {
        let cache_key = key.cache_key();
        if let Some(entry) = self.memory.get(cache_key) {
            // Entries streamed from disk are checked on every request (the
            // file is about to be opened anyway), so a replaced large file
            // is never sent under its old ETag.
            let due = entry.on_disk || self.check_due(&entry);
            if !due || !entry.stamp.changed() {
                return Ok(Lookup::Asset {
                    asset: Served(entry),
                    from_memory: true,
                });
            }
            self.memory.remove(cache_key);
        }
        self.load(key).await
    }

    /// Whether this request should re-check the entry's files; at most one
    /// request per interval wins the check.
    fn check_due(&self, entry: &Entry) -> bool {
        let now = self.now_ms();
        let last = entry.checked_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= self.refresh.as_millis() as u64
            && entry
                .checked_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    async fn load(&self, key: &Key) -> Result<Lookup, EdgeError> {
        let local = self.local.clone();
        let (path, dir) = (key.path().to_string(), key.trailing_slash);
        let found = tokio::task::spawn_blocking(move || local.load(&path, dir))
            .await
            .map_err(|_| EdgeError::Shutdown)?
            .map_err(|source| EdgeError::Io {
                key: key.path().to_string(),
                source,
            })?;
        Ok(match found {
            Found::Asset(asset, stamp) => {
                let on_disk = asset
                    .representations()
                    .iter()
                    .any(|r| r.memory_bytes() as u64 != r.len);
                let entry = Arc::new(Entry {
                    asset: *asset,
                    stamp,
                    checked_ms: AtomicU64::new(self.now_ms()),
                    on_disk,
                });
                self.memory
                    .insert(key.cache_key().to_string(), entry.clone());
                Lookup::Asset {
                    asset: Served(entry),
                    from_memory: false,
                }
            }
            Found::Directory => Lookup::Directory,
            Found::NotFound => Lookup::NotFound,
        })
    }

    /// The memory cache's current size and evictions, for metrics.
    pub fn cache_stats(&self) -> CacheStats {
        let (bytes, objects) = self.memory.usage();
        CacheStats {
            evictions: self.memory.evictions(),
            bytes: bytes as u64,
            objects: objects as u64,
        }
    }
}
