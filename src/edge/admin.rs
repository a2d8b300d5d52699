//! What operators ask of an edge: purging objects (memory and disk) and
//! the figures behind `/metrics`.

use std::sync::Arc;

use super::{CacheStats, Edge};
use crate::http::cache_key;
use crate::http::path::Key;

impl Edge {
    /// The disk cache's failed writes by kind (see
    /// [`crate::store::disk::DiskCache::write_errors`]), when there is one.
    pub fn disk_write_errors(&self) -> Option<[u64; crate::store::disk::WriteErrorKind::COUNT]> {
        Some(self.origin.as_ref()?.disk()?.write_errors())
    }

    /// The disk cache's bad entries found by reason (see
    /// [`crate::store::disk::DiskCache::bad_entries`]), when there is one.
    pub fn disk_bad_entries(
        &self,
    ) -> Option<[(&'static str, u64); crate::store::disk::BAD_REASONS]> {
        Some(self.origin.as_ref()?.disk()?.bad_entries())
    }

    /// The origin's traffic counters, when there is an origin.
    pub fn origin_stats(&self) -> Option<Arc<crate::origin::OriginStats>> {
        self.origin.as_ref().map(|o| o.stats())
    }

    /// Whether misses are pulled from an origin.
    pub fn has_origin(&self) -> bool {
        self.origin.is_some()
    }

    /// The origin's base URL, for the log.
    pub fn origin_base(&self) -> Option<&str> {
        self.origin.as_ref().map(|o| o.client.base())
    }

    /// Drops what is stored for a request path (every query variant of it,
    /// and every `Vary` variant of those); returns how many objects went.
    /// Local files are simply reloaded on their next request.
    /// Keys are the one key function's (`http::cache_key`), so `/a%20b`
    /// and `/a b` purge the same objects, and `/a.js%3Fv=1` never purges
    /// `/a.js?v=1`.
    pub async fn purge(&self, key: &Key) -> usize {
        let k = key.cache_key();
        self.keying.forget(k);
        let exact = usize::from(self.memory.get(k).is_some());
        self.memory.remove(k);
        let with_query = cache_key::queries_of(k);
        let with_vary = cache_key::variants_of(k);
        let mut n =
            exact + self.memory.remove_prefix(&with_query) + self.memory.remove_prefix(&with_vary);
        if let Some(o) = &self.origin {
            // Disk entries count where memory had no copy.
            let on_disk = o.forget_on_disk(k, false).await
                + o.forget_on_disk(&with_query, true).await
                + o.forget_on_disk(&with_vary, true).await;
            n = n.max(on_disk);
        }
        n
    }

    /// Drops what is stored for a request path with a query (`/a.js?v=1`):
    /// the object of that query as sent and of the query it is keyed on
    /// (the path's `query` rule and `No-Vary-Search` note, see `keying`),
    /// with their `Vary` variants. Without a query, [`Edge::purge`].
    pub async fn purge_target(&self, key: &Key, query: Option<&str>) -> usize {
        let Some(q) = query else {
            return self.purge(key).await;
        };
        let mut keys = vec![cache_key::of(key, Some(q))];
        if let Some(normal) = self.keying.normalised(&self.memory, key, q) {
            keys.push(cache_key::of(key, normal.as_deref()));
        }
        let mut n = 0;
        for k in &keys {
            let with_vary = cache_key::variants_of(k);
            let exact = usize::from(self.memory.get(k).is_some());
            self.memory.remove(k);
            let mut here = exact + self.memory.remove_prefix(&with_vary);
            if let Some(o) = &self.origin {
                let on_disk =
                    o.forget_on_disk(k, false).await + o.forget_on_disk(&with_vary, true).await;
                here = here.max(on_disk);
            }
            n += here;
        }
        n
    }

    /// Drops everything stored under a path prefix (`/img/`), spelt
    /// percent-encoded or not ([`cache_key::prefix`]); a prefix that is no
    /// request path (`/../`) drops nothing.
    pub async fn purge_prefix(&self, prefix: &str) -> usize {
        let Ok(p) = cache_key::prefix(prefix) else {
            return 0;
        };
        self.keying.forget_prefix(&p);
        let n = self.memory.remove_prefix(&p);
        match &self.origin {
            Some(o) => n.max(o.forget_on_disk(&p, true).await),
            None => n,
        }
    }

    /// The disk cache's (bytes, objects, evictions), when there is one.
    pub fn disk_usage(&self) -> Option<(u64, u64, u64)> {
        self.origin.as_ref().and_then(|o| o.disk_usage())
    }

    /// The memory cache's current size and evictions, for metrics.
    pub fn cache_stats(&self) -> CacheStats {
        let (bytes, objects) = self.memory.usage();
        CacheStats {
            evictions: self.memory.evictions(),
            bytes: bytes as u64,
            objects: objects as u64,
            reserved: self.memory.reserved() as u64,
        }
    }
}
