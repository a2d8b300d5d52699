//! The pull engine ([`Puller`]): what the node does for an object it
//! does not hold, or holds stale, from an origin (RFC 9111). It reads as
//! its phases, in request order, one file each:
//!
//! ```text
//! key ─► lookup (memory → disk) ─► verdict (fresh / stale / must revalidate, at `now`)   lookup
//!     ─► upstream: coalesce per key ─► owner peer (route) ─► origin client            upstream,
//!                                                                  coalesce, route, buffer
//!     ─► response filter (304 merge, stale-if-error) ─► decision (store, or a
//!        NoStore reason)                                                               fetch
//!     ─► store (memory, disk; encodings queued) ─► serve                              storing
//! ```
//!
//! Beside them: `disk` (the disk cache of pulled objects: read back on a
//! memory miss, written when stored, dropped on purge), `on_disk` (a part
//! left on disk, streamed a verified chunk at a time), `template` (disk
//! versions decoded once), `variants` (responses that vary on request
//! headers), `setup` (opening the engine and renewing it on a reload),
//! `soft` (soft purges: objects made stale, not dropped).
//! The disk record's codec, which the compressor writes too, is
//! `crate::disk_record`, below both. The pure rules each phase applies live below
//! it: `http::freshness` (verdict), `origin::request` (what is forwarded),
//! `origin::stored` (stored metadata, the 304 merge), `origin::decision`
//! (store or not); the engine strings them together and owns the I/O.
//! Stored objects become `Asset`s served by the same handler as local
//! files. Nothing here uses the edge above it (see docs/architecture.md).

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) mod buffer;
mod coalesce;
mod disk;
mod fetch;
mod lookup;
mod on_disk;
mod route;
mod setup;
pub(crate) mod soft;
mod storing;
mod template;
mod upstream;
mod variants;

pub(crate) use disk::{whole_up_to, DiskRead};
pub use route::{Route, RouteError};

use crate::clock::Clock;
use crate::compress::Compressor;
use crate::http::cache_key;
use crate::http::freshness::{ClientLimits, NoStore, Policy};
use crate::http::path::Key;
use crate::lookup::{Ask, CacheStatus, Served};
use crate::origin::client::{FetchError, Fetched, OriginClient, Overflow, Streamed};
use crate::origin::request::{self, Forwarding};
use crate::origin::say::Say;
use crate::origin::stored::Reading;
use crate::origin::OriginStats;
use crate::rule_set::RuleSet;
use crate::store::disk::DiskCache;
use coalesce::Coalescer;

/// What one coalesced fetch produced, shared with the requests that waited.
#[derive(Debug, Clone)]
pub(crate) enum Pulled {
    /// Stored (or refreshed) under the key given, and servable.
    Stored(Served, CacheStatus, Arc<str>),
    /// Not storable, and why: each request answers with its own fetch,
    /// except the waiters of a server error with nothing personal in it.
    Passed(Arc<Fetched>, NoStore),
    /// The fetch failed and nothing stale may stand in (for a waiter: the
    /// leader's fetch did).
    Failed(FetchError),
    /// Larger than the node stores: each request streams it through.
    TooLarge,
}

/// What the node keeps of the origin's answers, and how it asks for them.
#[derive(Debug, Clone)]
pub struct Rules {
    /// How long a request waits for another's fetch of the same key.
    pub lock_timeout: Duration,
    /// Freshness where the origin says nothing, and negative caching.
    pub policy: Policy,
    /// How far client directives are honoured.
    pub limits: ClientLimits,
    /// How long requests for a key skip coalescing after an uncacheable answer.
    pub pass_for: Duration,
    /// Store responses that carry `Set-Cookie` (their cookie is then sent
    /// to every client).
    pub store_set_cookie: bool,
    /// Store a response to a request with `Cookie` without explicit
    /// freshness (by heuristic or the node's defaults).
    pub heuristic_with_cookie: bool,
    /// How origin caching fields are read (targeted fields, RFC 9213).
    pub reading: Reading,
    /// Which request headers are forwarded.
    pub forwarding: Forwarding,
    /// Most variants stored per URL (RFC 9111 §4.1).
    pub max_variants: usize,
    /// The operator's `[[rules]]` and fingerprint policy.
    pub operator: Arc<RuleSet>,
}

/// Keys found too large to store, until when.
type TooLarge = std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>;

/// The pull engine: the origin (and the cluster's owners) it pulls from,
/// and the rules for what the node keeps of their answers.
pub struct Puller {
    pub(super) client: OriginClient,
    /// Which origin this is ([`OriginClient::identity`]): disk records
    /// written for another one are not served.
    pub(crate) identity: u64,
    pub(super) coalescer: Arc<Coalescer<String, Pulled>>,
    pub(super) rules: Rules,
    pub(super) clock: Arc<Clock>,
    pub(super) stats: Arc<OriginStats>,
    /// Keys found too large to store, until when: their requests stream
    /// straight through without a first, aborted fetch.
    pub(super) too_large: Arc<TooLarge>,
    /// Persisted pulled objects, when `cache.dir` is set.
    pub(crate) disk: Option<Arc<DiskCache>>,
    /// Makes the encodings of pulled text.
    pub(super) compressor: Compressor,
    /// The cluster's owners, asked before the origin; `None` without
    /// `[cluster]`.
    pub(super) route: Option<Route>,
    /// Disk versions read before, decoded (see `template`).
    pub(crate) templates: template::Templates,
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// One pull: the keys and the request it serves.
pub(super) struct Job<'a> {
    /// The URL's key (path and query).
    pub(super) primary: &'a str,
    /// The key fetches are coalesced on: the variant key when the URL is
    /// known to vary, else `primary`.
    pub(super) flight: &'a str,
    /// Path and query sent to the origin.
    pub(super) target: &'a str,
    /// The request path, for the Content-Type guess and compression.
    pub(super) path: &'a str,
    pub(super) ask: &'a Ask<'a>,
    /// Whether the client's conditionals and range are kept from the
    /// origin (a fetch whose answer will be stored), §4.3.2.
    pub(super) storing: bool,
    /// The answer this request streams, when its fetch could not hold the
    /// body (too large, or no room in the memory bound): it is not shared.
    pub(super) streamed: std::sync::Mutex<Option<(Streamed, Overflow)>>,
}

impl Job<'_> {
    /// Keeps `s` for this request to stream (see [`Job::streamed`]).
    pub(super) fn stream_instead(&self, s: Streamed, why: Overflow) {
        *self.streamed.lock().unwrap_or_else(|e| e.into_inner()) = Some((s, why));
    }
}

impl Puller {
    /// Traffic counters, for metrics.
    pub fn stats(&self) -> Arc<OriginStats> {
        self.stats.clone()
    }

    /// The client, for requests that are passed through.
    pub fn client(&self) -> &OriginClient {
        &self.client
    }

    /// How origin headers are read and shown.
    pub(crate) fn reading(&self) -> &Reading {
        &self.rules.reading
    }

    /// What the operator's rules say of a pulled object at `path` (the
    /// request path, relative to the root): resolved once per object, when
    /// it is stored or read back from disk.
    pub(crate) fn say(&self, path: &str) -> Arc<Say> {
        Arc::new(self.rules.operator.say(path))
    }

    /// Phase "upstream request": the headers sent to the origin for `ask`.
    pub(super) fn upstream_headers(
        &self,
        ask: &Ask<'_>,
        strip_conditionals: bool,
        validators: &[(HeaderName, HeaderValue)],
    ) -> HeaderMap {
        if ask.from_peer {
            return request::relayed(ask.headers, strip_conditionals, validators);
        }
        request::upstream(
            ask.headers,
            ask.peer,
            ask.secure,
            ask.via,
            strip_conditionals,
            validators,
            &self.rules.forwarding,
        )
    }
}

/// The memory (and disk, and cluster owner) key of a pulled object: the
/// one key function, path and query kept apart (`http::cache_key`), since
/// the origin may answer each target differently.
pub(crate) fn memory_key(key: &Key, query: Option<&str>) -> String {
    cache_key::of(key, query)
}
