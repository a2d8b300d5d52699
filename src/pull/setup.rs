//! Opening the pull engine, and opening it again for a reload: what a new
//! generation takes over from the one it replaces (the origin's counters,
//! disk cache and clock always; its fetches in flight and the keys known
//! too large while the origin stays the same) and what it starts afresh.

use std::sync::Arc;

use super::coalesce::Coalescer;
use super::{Puller, Route, Rules};
use crate::clock::Clock;
use crate::compress::Compressor;
use crate::origin::client::OriginClient;
use crate::origin::OriginStats;
use crate::store::disk::DiskCache;

impl Puller {
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
    pub fn routed(self, route: Option<Route>) -> Self {
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
