//! `Edge::lookup`: from a normalised key to something to answer with,
//! through the memory cache, then the static root, then (when configured)
//! the origin.
//!
//! Local files: a cached entry remembers the stamp of the files it came
//! from. The first request for it after `refresh` has passed re-stats those
//! files (a few `stat` calls, once per entry per interval, never a read);
//! if they changed, the asset is reloaded off the async workers before
//! answering, and if they are gone the entry is dropped. Every other hit is
//! a hash lookup and one `Arc` clone. A text file without `.br` / `.zst` /
//! `.gz` siblings gets br, zstd and gzip made in the background (`compress`), from its
//! first hit on, when `cache.compress_local` is on; they live in its memory
//! entry only.
//!
//! Pulled objects: the pull engine (`crate::pull`, RFC 9111) answers what
//! the memory cache and the root do not hold. `setup` opens an edge, and
//! opens it again for a reload, keeping what is still valid; `admin` purges
//! and counts; `purges` purges by tag, and softly; `invalidate` passes
//! unsafe methods through; `probe` asks the
//! origin whether it answers; `absent` remembers root misses; `keying`
//! makes the query a pulled object is keyed on and asked for (`[[rules]]
//! query`, the origin's `No-Vary-Search`); `joined`
//! turns a blocking task's failure into an [`EdgeError`]. The map of the
//! whole is docs/architecture.md.

mod absent;
mod admin;
mod invalidate;
pub mod joined;
mod keying;
mod probe;
mod purges;
mod setup;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::compress::{self, Compressor};
use crate::http::path::Key;
use crate::lookup::{keep, Ask, CacheStatus, Entry, Lookup, Memory, Served, Source};
use crate::pull::{self as pulling, whole_up_to, DiskRead, Puller};
use crate::store::disk::DiskCache;
use crate::store::local::{Found, LocalStore, Stamp};

pub use keying::Keying;
pub use purges::Target;
pub use setup::Setup;

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
    #[error("reading {key}")]
    Io { key: String, source: std::io::Error },
    /// The blocking pool is gone (shutting down).
    #[error("shutting down")]
    Shutdown,
    /// A blocking task panicked (a bug), with the panic's message.
    #[error("a blocking task panicked: {0}")]
    Panicked(String),
}

/// The node's view of all assets it can serve.
pub struct Edge {
    local: Arc<LocalStore>,
    memory: Memory,
    refresh: Duration,
    epoch: Instant,
    origin: Option<Arc<Puller>>,
    /// Paths the root was recently found not to hold.
    absent: absent::AbsentMemo,
    /// Makes br, zstd and gzip of local text files without siblings, when on.
    compress_local: Option<Compressor>,
    /// How pulled objects' queries are keyed (rules, No-Vary-Search).
    keying: Keying,
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

    /// Finds what to answer `key` with, its query keyed as the rules and
    /// the origin's `No-Vary-Search` say (`keying`): a request with another
    /// query is looked up (and asked of the origin) with that one. A
    /// request without a query pays nothing for it.
    pub async fn lookup(&self, key: &Key, ask: &Ask<'_>) -> Result<Lookup, EdgeError> {
        if let (Some(q), Some(_)) = (ask.query, &self.origin) {
            if let Some(normal) = self.keying.normalised(&self.memory, key, q) {
                let ask = Ask {
                    query: normal.as_deref(),
                    ..*ask
                };
                return Box::pin(self.keyed(key, &ask)).await;
            }
        }
        self.keyed(key, ask).await
    }

    /// [`Edge::lookup`] of a request whose query is keyed as it is; what
    /// the origin (or the disk) answered teaches `keying` the path's
    /// `No-Vary-Search`.
    async fn keyed(&self, key: &Key, ask: &Ask<'_>) -> Result<Lookup, EdgeError> {
        let found = self.find(key, ask).await;
        if let Ok(Lookup::Asset {
            asset,
            from_memory: false,
            ..
        }) = &found
        {
            self.keying.learn(&self.memory, key, ask.query, asset);
        }
        found
    }

    /// Finds what to answer `key` (its query keyed) with. The origin's
    /// paths are boxed where they are awaited: their state is large, and
    /// unboxed it would be part of every lookup's future, hits included.
    async fn find(&self, key: &Key, ask: &Ask<'_>) -> Result<Lookup, EdgeError> {
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
                        return Ok(self.stored(origin, key, ask, entry).await);
                    }
                }
            }
        }
        let Some(origin) = &self.origin else {
            return Ok(self.load_local(key, None).await?.0);
        };
        // Pulled objects are keyed with their query string.
        let pulled_key = pulling::memory_key(key, ask.query);
        if ask.query.is_some() {
            if let Some(entry) = self.memory.get(&pulled_key) {
                if !matches!(entry.source, Source::Local { .. }) {
                    return Ok(self.stored(origin, key, ask, entry).await);
                }
            }
        }
        // Pulled, not in memory: when the kernel's caches tell without I/O
        // that the root has no such file and what the disk cache holds, no
        // trip to the blocking pool is needed (`store::nowait`).
        if self.root_absent(key.path()) {
            let read = match origin.disk() {
                None => Some(DiskRead::Absent),
                Some(d) => DiskRead::cached(d, &pulled_key, whole_up_to(&self.memory)),
            };
            if let Some(read) = read {
                return Ok(Box::pin(origin.miss(&self.memory, key, ask, None, read)).await);
            }
        }
        // Else the same trip to the blocking pool that finds the root
        // without the file reads the pulled object from disk.
        let disk = origin
            .disk()
            .map(|d| (d.clone(), pulled_key, whole_up_to(&self.memory)));
        let (found, read) = self.load_local(key, disk).await?;
        match found {
            Lookup::NotFound => {
                self.absent.remember(key.path(), self.now_ms());
                Ok(Box::pin(origin.miss(&self.memory, key, ask, None, read)).await)
            }
            found => Ok(found),
        }
    }

    /// The answer from a pulled object (or variant marker) in memory: a
    /// hit without a future of its own (nothing allocated or copied), the
    /// origin's part boxed where it is awaited.
    async fn stored(
        &self,
        origin: &Arc<Puller>,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
    ) -> Lookup {
        match origin.serve(&self.memory, key, ask, entry) {
            Ok(found) => found,
            Err(next) => Box::pin(origin.follow(&self.memory, key, ask, next)).await,
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
                let entry = keep(&self.memory, key.cache_key().to_string(), asset, source);
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
