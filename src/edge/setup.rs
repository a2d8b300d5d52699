//! Opening an edge, and opening it again for a reload: a new generation
//! takes over the memory cache of the one it replaces while nothing its
//! entries were made from changed (the pull engine's own renewal is
//! `pull::setup`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::keying::Keying;
use super::Edge;
use crate::compress::Compressor;
use crate::lookup::ENTRY_SLACK;
use crate::pull::Puller;
use crate::store::local::LocalStore;
use crate::store::memory::{Admission, MemoryCache};
use crate::store::policy::Policy;

/// How an edge is set up, besides its origin.
#[derive(Debug)]
pub struct Setup {
    /// Headers of local files (`cache_control`, `[[rules]]`, fingerprints).
    pub policy: Policy,
    /// Bound of the memory cache.
    pub memory_bytes: usize,
    /// Largest asset the memory cache admits.
    pub max_object_bytes: usize,
    /// How often a cached local file is re-checked on disk.
    pub refresh: Duration,
    /// Which new entries may evict old ones.
    pub admission: Admission,
    /// Makes br, zstd and gzip of local text files without `.br` / `.zst` /
    /// `.gz` siblings (`cache.compress_local`), when on.
    pub compress_local: Option<Compressor>,
    /// How pulled objects' queries are keyed (`[[rules]] query`).
    pub keying: Keying,
}

impl Edge {
    /// An edge over a static root (opened here, with the setup's policy)
    /// and a memory cache of `memory_bytes` admitting entries up to
    /// `max_object_bytes`. Representations that would push an asset over
    /// that limit stay on disk and are streamed. `origin`, when given,
    /// answers what the root does not hold; without a root (`None`, the
    /// origin-only mode) it answers everything.
    pub fn open(
        root: Option<&Path>,
        setup: Setup,
        origin: Option<Puller>,
    ) -> std::io::Result<Self> {
        let memory = Arc::new(
            MemoryCache::new(setup.memory_bytes, setup.max_object_bytes)
                .with_admission(setup.admission),
        );
        // Leave room for the entry's own overhead and its key.
        let budget = memory.max_object_bytes().saturating_sub(ENTRY_SLACK) as u64;
        let local = match root {
            Some(root) => LocalStore::open(root, setup.policy, budget)?,
            None => LocalStore::none(setup.policy),
        };
        let edge = Self {
            local: Arc::new(local),
            memory,
            refresh: setup.refresh,
            epoch: Instant::now(),
            origin: origin.map(Arc::new),
            absent: super::absent::AbsentMemo::new(),
            compress_local: setup.compress_local,
            keying: setup.keying,
        };
        edge.charge_disk_tags();
        Ok(edge)
    }

    /// Counts the disk index's tags against this edge's memory bound (they
    /// are in memory too), instead of the bound of the edge before a reload.
    fn charge_disk_tags(&self) {
        if let Some(disk) = self.origin.as_ref().and_then(|o| o.disk()) {
            disk.charge_tags_to(self.memory.reserve(0));
        }
    }

    /// The edge a reload puts in place of `self`, opened as [`Edge::open`]
    /// does. It keeps `self`'s memory cache, and what it holds, when
    /// `keep_cache` (the caller found unchanged everything the cached
    /// entries were made from: header policy, cache bounds, origin) and
    /// the root is still the same directory (a symlinked root that now
    /// points elsewhere is another one); else it starts with an empty one.
    pub fn reopen(
        &self,
        root: Option<&Path>,
        setup: Setup,
        origin: Option<Puller>,
        keep_cache: bool,
    ) -> std::io::Result<Self> {
        let fresh = Self::open(root, setup, origin)?;
        if keep_cache && fresh.local.root() == self.local.root() {
            let kept = Self {
                memory: self.memory.clone(),
                epoch: self.epoch,
                keying: fresh.keying.with_notes_of(&self.keying),
                ..fresh
            };
            kept.charge_disk_tags();
            return Ok(kept);
        }
        Ok(fresh)
    }

    /// Whether `other` serves from the same memory cache.
    pub fn shares_cache(&self, other: &Edge) -> bool {
        Arc::ptr_eq(&self.memory, &other.memory)
    }

    /// Empties the memory cache (an edge a reload replaced with one that
    /// does not share it: its entries must not outlive it). Requests still
    /// running on this edge keep what they hold.
    pub fn clear_memory(&self) {
        self.memory.remove_prefix("");
    }

    /// The origin, when misses are pulled from one.
    pub fn origin(&self) -> Option<&Arc<Puller>> {
        self.origin.as_ref()
    }
}
