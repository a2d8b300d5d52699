//! The pull engine's way to `persist` (the disk cache of pulled objects,
//! which stays in this folder while another branch changes it): its
//! functions, for the engine (`pull`) and the compressor (`compress`).
//! Goes when `persist` moves to `pull` and its disk-record codec becomes a
//! module of its own (see docs/architecture.md).

use std::sync::Arc;

use bytes::Bytes;

use super::persist;
use crate::asset::{Asset, Coding};
use crate::lookup::{Entry, Memory};
use crate::origin::stored::{DiskMeta, PulledMeta};
use crate::pull::Puller;
use crate::store::disk::DiskCache;

pub(crate) use persist::DiskRead;

/// Reads `memory_key` back from the disk cache into memory (see
/// `persist`'s `read_disk`).
pub(crate) async fn read(
    puller: &Puller,
    memory: &Memory,
    memory_key: &str,
    read: DiskRead,
) -> Option<Arc<Entry>> {
    puller.read_disk(memory, memory_key, read).await
}

/// Drops `memory_key` (with `prefix`, everything under it) from the disk
/// cache; the count dropped.
pub(crate) async fn forget(puller: &Puller, memory_key: &str, prefix: bool) -> usize {
    puller.forget_on_disk(memory_key, prefix).await
}

/// Writes a stored response to the disk cache; its generation (0: not
/// stored).
pub(crate) async fn write(
    disk: &Arc<DiskCache>,
    key: &str,
    record: DiskMeta,
    parts: Vec<Bytes>,
) -> u64 {
    persist::write(disk, key, record, parts).await
}

/// Writes a new record over the disk entry of `generation`, its parts
/// left on disk as they are; the new generation (0: not stored).
pub(crate) async fn rewrite(
    disk: &Arc<DiskCache>,
    key: &str,
    generation: u64,
    asset: &Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> u64 {
    persist::rewrite(disk, key, generation, asset, meta, path, origin).await
}

/// The same, blocking; with `over` not 0, only over that generation.
pub(crate) fn put(
    disk: &DiskCache,
    key: &str,
    record: &DiskMeta,
    parts: &[Bytes],
    over: u64,
) -> u64 {
    persist::put(disk, key, record, parts, over)
}

/// An asset's disk record and parts (identity body first), when its body
/// is in memory.
pub(crate) fn parts_of(
    asset: &Asset,
    meta: &PulledMeta,
    path: &str,
    origin: u64,
) -> Option<(DiskMeta, Vec<Bytes>)> {
    persist::parts_of(asset, meta, path, origin)
}

/// The name a stored part's coding goes by in its record.
pub(crate) fn coding_name(coding: Coding) -> &'static str {
    persist::coding_name(coding)
}
