//! Opening an edge and its origin path, and opening them again for a
//! reload: what a new generation takes over from the one it replaces (the
//! memory cache while nothing its entries were made from changed; the
//! origin's counters, disk cache and clock always; its fetches in flight
//! while the origin stays the same) and what it starts afresh.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compress::Compressor;
use super::pull::{Origin, Rules};
use super::{Edge, ENTRY_SLACK};
use crate::clock::Clock;
use crate::origin::client::OriginClient;
use crate::origin::coalesce::Coalescer;
use crate::origin::OriginStats;
use crate::store::disk::DiskCache;
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
    /// Makes br and gzip of local text files without `.br` / `.gz`
    /// siblings (`cache.compress_local`), when on.
    pub compress_local: Option<Compressor>,
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
        origin: Option<Origin>,
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
        Ok(Self {
            local: Arc::new(local),
            memory,
            refresh: setup.refresh,
            epoch: Instant::now(),
            origin: origin.map(Arc::new),
            absent: super::absent::AbsentMemo::new(),
            compress_local: setup.compress_local,
        })
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
        origin: Option<Origin>,
        keep_cache: bool,
    ) -> std::io::Result<Self> {
        let fresh = Self::open(root, setup, origin)?;
        if keep_cache && fresh.local.root() == self.local.root() {
            return Ok(Self {
                memory: self.memory.clone(),
                epoch: self.epoch,
                ..fresh
            });
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
    pub fn origin(&self) -> Option<&Arc<Origin>> {
        self.origin.as_ref()
    }
}

impl Origin {
    /// An origin path fetching through `client`, ruled by `rules`, reading
    /// time from `clock`, compressing text with `compressor`, counting into
    /// `stats`; `disk`, when given, persists what is stored so a restarted
    /// node serves it without the origin.
    pub fn new(
        client: OriginClient,
        rules: Rules,
        disk: Option<Arc<DiskCache>>,
        clock: Arc<Clock>,
        compressor: Compressor,
        stats: Arc<OriginStats>,
    ) -> Self {
        Self {
            compressor,
            identity: client.identity(),
            client,
            coalescer: Arc::new(Coalescer::new(rules.lock_timeout)),
            rules,
            clock,
            stats,
            too_large: Default::default(),
            disk,
            route: None,
            templates: Default::default(),
        }
    }

    /// This origin path, asking the owners of keys first when `route` is
    /// given (`[cluster]`).
    pub fn routed(self, route: Option<super::Route>) -> Self {
        Self { route, ..self }
    }

    /// The origin path a reload puts in place of `self`: `client`, `rules`
    /// and `compressor` replaced; the clock, counters and disk cache kept;
    /// and, when `client` reaches the same origin, the fetches in flight
    /// (new requests join them) and the keys known too large. Fetches in
    /// flight from another origin are not joined.
    pub fn renewed(&self, client: OriginClient, rules: Rules, compressor: Compressor) -> Self {
        let same = client.identity() == self.identity;
        let coalescer = if same && rules.lock_timeout == self.rules.lock_timeout {
            self.coalescer.clone()
        } else {
            Arc::new(Coalescer::new(rules.lock_timeout))
        };
        Self {
            compressor,
            identity: client.identity(),
            client,
            coalescer,
            rules,
            clock: self.clock.clone(),
            stats: self.stats.clone(),
            too_large: if same {
                self.too_large.clone()
            } else {
                Default::default()
            },
            disk: self.disk.clone(),
            route: self.route.clone(),
            templates: Default::default(),
        }
    }
}
