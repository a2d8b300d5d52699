//! The disk cache behind the memory cache, for pulled objects: read back on
//! a memory miss (after an eviction or a restart), written before a stored
//! response's first client is answered, dropped on purge. All file work
//! runs on the blocking pool.

use std::sync::Arc;

use super::pull::Origin;
use super::{Entry, Memory};
use crate::asset::{Asset, Body, Coding};
use crate::origin::pull::{DiskMeta, PulledMeta};
use crate::store::disk::DiskCache;

impl Origin {
    /// Reads `memory_key` from the disk cache and puts it back in memory,
    /// making its encodings again in the background.
    pub(super) async fn read_disk(&self, memory: &Memory, memory_key: &str) -> Option<Arc<Entry>> {
        let disk = self.disk.clone()?;
        let key = memory_key.to_string();
        let (record, parts): (DiskMeta, Vec<bytes::Bytes>) =
            tokio::task::spawn_blocking(move || disk.get(&key))
                .await
                .ok()??;
        let body = parts.into_iter().next()?;
        let fetched = record.fetched(body);
        let meta = PulledMeta::of(&fetched, self.reading(), record.vary.clone());
        let served = self.remember(memory, memory_key, &record.path, &fetched.body, meta);
        Some(served.0)
    }

    /// Drops `memory_key` (and, with `prefix`, everything under it) from
    /// the disk cache.
    pub(super) async fn forget_on_disk(&self, memory_key: &str, prefix: bool) -> usize {
        let Some(disk) = self.disk.clone() else {
            return 0;
        };
        let key = memory_key.to_string();
        tokio::task::spawn_blocking(move || {
            if prefix {
                disk.remove_prefix(&key).unwrap_or(0)
            } else {
                disk.remove(&key).map(|_| 1).unwrap_or(0)
            }
        })
        .await
        .unwrap_or(0)
    }

    /// The disk cache's (bytes, objects, evictions), when there is one.
    pub fn disk_usage(&self) -> Option<(u64, u64, u64)> {
        self.disk.as_ref().map(|d| {
            let (b, n) = d.usage();
            (b, n, d.evictions())
        })
    }
}

/// Writes a stored response to the disk cache (atomic; awaited, so an
/// object a client received survives a restart). Failures are logged.
pub(super) async fn write(disk: &Arc<DiskCache>, key: &str, record: DiskMeta, body: bytes::Bytes) {
    let (disk, owned) = (disk.clone(), key.to_string());
    match tokio::task::spawn_blocking(move || disk.put(&owned, &record, &[&body])).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("disk cache write {key}: {e}"),
        Err(e) => tracing::warn!("disk cache write {key}: {e}"),
    }
}

/// The identity body of an asset held in memory (what the disk keeps).
pub(super) fn identity_body(asset: &Asset) -> Option<bytes::Bytes> {
    asset
        .representations()
        .iter()
        .find_map(|r| match (&r.coding, &r.body) {
            (Coding::Identity, Body::Memory(b)) => Some(b.clone()),
            _ => None,
        })
}
