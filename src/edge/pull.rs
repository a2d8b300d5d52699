//! The pull path, as phases (RFC 9111):
//!
//! ```text
//! key ─► lookup (memory → disk) ─► verdict (fresh / stale / must revalidate, at `now`)
//!     ─► upstream (origin; coalesced per key) ─► response filter (hop-by-hop, 304 merge)
//!     ─► decision (store, or a NoStore reason) ─► store (memory, disk) ─► serve
//! ```
//!
//! Each phase is a function: the pure ones live in `http::freshness`
//! (verdict), `origin::request` (what is forwarded), `origin::pull` (the
//! stored metadata and the 304 merge) and `origin::decision` (store or
//! not); this file strings them together and owns the I/O. Stored objects
//! become `Asset`s served by the same handler as local files.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::buffer;
use super::compress::{self, Compressor};
use super::persist::DiskRead;
use super::variants;
use super::{Ask, CacheStatus, Entry, Lookup, Memory, Served, Source};
use crate::clock::Clock;
use crate::http::cache_control::CacheControl;
use crate::http::cache_key;
use crate::http::freshness::{self, ClientLimits, NoStore, Policy, Verdict};
use crate::http::path::Key;
use crate::origin::client::{FetchError, Fetched, OriginClient, Overflow, Streamed};
use crate::origin::coalesce::{Coalescer, Role};
use crate::origin::pull::{PulledMeta, Reading};
use crate::origin::request::{self, Forwarding};
use crate::origin::OriginStats;
use crate::store::disk::DiskCache;
use crate::store::memory::Reservation;

/// What one coalesced fetch produced, shared with the requests that waited.
#[derive(Debug, Clone)]
pub(super) enum Pulled {
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
}

/// Keys found too large to store, until when.
type TooLarge = std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>;

/// The origin and the rules for what the node keeps of it.
pub struct Origin {
    pub(super) client: OriginClient,
    /// Which origin this is ([`OriginClient::identity`]): disk records
    /// written for another one are not served.
    pub(super) identity: u64,
    pub(super) coalescer: Arc<Coalescer<String, Pulled>>,
    pub(super) rules: Rules,
    pub(super) clock: Arc<Clock>,
    pub(super) stats: Arc<OriginStats>,
    /// Keys found too large to store, until when: their requests stream
    /// straight through without a first, aborted fetch.
    pub(super) too_large: Arc<TooLarge>,
    /// Persisted pulled objects, when `cache.dir` is set.
    pub(super) disk: Option<Arc<DiskCache>>,
    /// Makes the encodings of pulled text.
    pub(super) compressor: Compressor,
    /// The cluster's owners, asked before the origin; `None` without
    /// `[cluster]`.
    pub(super) route: Option<super::Route>,
    /// Disk versions read before, decoded (see `template`).
    pub(super) templates: super::template::Templates,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
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

impl Origin {
    /// Traffic counters, for metrics.
    pub fn stats(&self) -> Arc<OriginStats> {
        self.stats.clone()
    }

    /// The client, for requests that are passed through.
    pub fn client(&self) -> &OriginClient {
        &self.client
    }

    /// How origin headers are read and shown.
    pub(super) fn reading(&self) -> &Reading {
        &self.rules.reading
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

    /// Answers from what the URL's key holds: a stored object, or a marker
    /// that picks the request's variant.
    pub(super) async fn serve(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
    ) -> Lookup {
        match &entry.source {
            Source::Variants(m) => {
                let primary = memory_key(key, ask.query);
                let vkey = variants::key(&primary, &m.names, ask.headers);
                match memory.get(&vkey) {
                    Some(e) if matches!(e.source, Source::Pulled(_)) => {
                        self.serve_stored(memory, key, ask, e, &vkey).await
                    }
                    _ => {
                        let names = Some(m.names.clone());
                        self.miss(memory, key, ask, names, DiskRead::Unread).await
                    }
                }
            }
            Source::Pulled(_) => {
                let at = memory_key(key, ask.query);
                self.serve_stored(memory, key, ask, entry, &at).await
            }
            Source::Local { .. } => Lookup::NotFound,
        }
    }

    /// Phase "verdict": whether `meta` may answer a request with
    /// `request` directives at `now` (reloads damped, see `ClientLimits`).
    pub(super) fn verdict(
        &self,
        meta: &PulledMeta,
        request: &CacheControl,
        now: SystemTime,
    ) -> Verdict {
        let (policy, limits) = (&self.rules.policy, &self.rules.limits);
        freshness::verdict(&meta.stored(), policy, request, now, limits)
    }

    /// Answers from a stored pulled object (kept under `at`): as it is
    /// while fresh, else after revalidating it.
    async fn serve_stored(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
        at: &str,
    ) -> Lookup {
        let Source::Pulled(meta) = &entry.source else {
            return Lookup::NotFound;
        };
        // Encodings the queue had no room for are offered again.
        if compress::pending(&entry) {
            self.compressor
                .offer(memory, at, &entry, self.persist_to(key.path()));
        }
        let verdict = self.verdict(meta, ask.directives, self.clock.now());
        let hit = |status| Lookup::Asset {
            asset: Served(entry.clone()),
            from_memory: true,
            status,
        };
        // §5.2.1.7: only what may be served without the origin, else 504.
        if ask.directives.only_if_cached {
            return match verdict {
                Verdict::Fresh => hit(CacheStatus::Hit),
                Verdict::Stale {
                    may_serve_while_revalidating: true,
                    ..
                } => hit(CacheStatus::StaleServed),
                _ => Lookup::NotCached,
            };
        }
        match verdict {
            Verdict::Fresh => hit(CacheStatus::Hit),
            // stale-while-revalidate (RFC 5861 §3): answer with the stale
            // copy now; one background fetch (coalesced) revalidates it.
            Verdict::Stale {
                may_serve_while_revalidating: true,
                may_serve_on_error,
            } => {
                // Stale allowed only by the client's max-stale (§5.2.1.2),
                // not by the response's window: served as it is.
                let own = self.verdict(meta, &CacheControl::default(), self.clock.now());
                if !matches!(
                    own,
                    Verdict::Stale {
                        may_serve_while_revalidating: true,
                        ..
                    }
                ) {
                    OriginStats::bump(&self.stats.stale_served);
                    return hit(CacheStatus::StaleServed);
                }
                let (me, memory, key) = (self.clone(), memory.clone(), key.clone());
                let query = ask.query.map(str::to_string);
                let (headers, peer) = (ask.headers.clone(), ask.peer);
                let (authority, secure) = (ask.authority.map(str::to_string), ask.secure);
                let (from_peer, via) = (ask.from_peer, ask.via);
                let stale = Some((entry.clone(), may_serve_on_error));
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let (seen, at) = (meta.response_time, at.to_string());
                actix_web::rt::spawn(async move {
                    // One revalidation per stale copy: a request that saw
                    // it just before another background fetch refreshed it
                    // (or a purge dropped it) has nothing left to do. (An
                    // entry only given encodings since is the same copy.)
                    // A fetch still in flight is joined by the coalescer.
                    let same_copy = memory.get(&at).is_some_and(
                        |now| matches!(&now.source, Source::Pulled(m) if m.response_time == seen),
                    );
                    if !same_copy {
                        return;
                    }
                    let directives = CacheControl::default();
                    let ask = Ask {
                        query: query.as_deref(),
                        headers: &headers,
                        peer,
                        directives: &directives,
                        upstream: None,
                        authority: authority.as_deref(),
                        secure,
                        from_peer,
                        via,
                    };
                    me.fetch(&memory, &key, &ask, names, stale, DiskRead::Unread)
                        .await;
                });
                OriginStats::bump(&self.stats.stale_served);
                hit(CacheStatus::StaleRevalidating)
            }
            Verdict::Stale {
                may_serve_on_error, ..
            } => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let stale = Some((entry.clone(), may_serve_on_error));
                self.fetch(memory, key, ask, names, stale, DiskRead::Unread)
                    .await
            }
            Verdict::MustRevalidate => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let stale = Some((entry.clone(), false));
                self.fetch(memory, key, ask, names, stale, DiskRead::Unread)
                    .await
            }
        }
    }

    /// Nothing in memory answers the request (`names`: the URL is known to
    /// vary on these headers, but not this variant; `read`: what the lookup
    /// already read of the URL's own key from disk).
    pub(super) async fn miss(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        names: Option<Vec<String>>,
        read: DiskRead,
    ) -> Lookup {
        // A read of the URL's key says nothing of a variant's.
        let read = if names.is_some() {
            DiskRead::Unread
        } else {
            read
        };
        if ask.directives.only_if_cached {
            // The disk may still hold it.
            let primary = memory_key(key, ask.query);
            let flight = match &names {
                Some(n) => variants::key(&primary, n, ask.headers),
                None => primary,
            };
            return match self.read_disk(memory, &flight, read).await {
                Some(entry) => match &entry.source {
                    Source::Pulled(meta)
                        if self.verdict(meta, ask.directives, self.clock.now())
                            == Verdict::Fresh =>
                    {
                        Lookup::Asset {
                            asset: Served(entry.clone()),
                            from_memory: false,
                            status: CacheStatus::Hit,
                        }
                    }
                    _ => Lookup::NotCached,
                },
                None => Lookup::NotCached,
            };
        }
        self.fetch(memory, key, ask, names, None, read).await
    }

    /// Phase "upstream", coalesced: fetches the request's object from the
    /// origin (revalidating `stale` when given) once for all concurrent
    /// requests that select the same object.
    async fn fetch(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        names: Option<Vec<String>>,
        stale: Option<(Arc<Entry>, bool)>,
        read: DiskRead,
    ) -> Lookup {
        let primary = memory_key(key, ask.query);
        let flight = match &names {
            Some(n) => variants::key(&primary, n, ask.headers),
            None => primary.clone(),
        };
        let mut target = key.url_path();
        if let Some(q) = ask.query {
            target.push('?');
            target.push_str(q);
        }
        if self.known_too_large(&flight) {
            return self.stream(memory, &target, ask).await;
        }
        let job = Job {
            primary: &primary,
            flight: &flight,
            target: &target,
            path: key.path(),
            ask,
            // A request that says no-store is passed through as it came.
            storing: !self.coalescer.passing(&flight) && !ask.directives.no_store,
            streamed: Default::default(),
        };
        // A waiter's own stale copy, where it may stand in for an error.
        let on_error = stale
            .as_ref()
            .filter(|(_, allowed)| *allowed)
            .map(|(e, _)| e.clone());
        let work = || self.fetch_once(memory, &job, stale, read);
        let (mut pulled, role) = self.coalescer.run(flight.clone(), work).await;
        if role == Role::Waiter {
            OriginStats::bump(&self.stats.coalesced_waiters);
            // The leader failed: stale-if-error (RFC 5861 §4) for this one.
            if let (true, Some(entry)) = (pulled.is_failure(), on_error) {
                pulled = Pulled::Stored(
                    Served(entry),
                    CacheStatus::StaleServed,
                    flight.as_str().into(),
                );
            }
            // The leader's answer varies on headers this request sends
            // differently: it is not this request's variant (§4.1).
            if let Pulled::Stored(s, _, stored_at) = &pulled {
                if !s.is_variant_for(&primary, ask.headers, stored_at) {
                    pulled = self
                        .fetch_once(memory, &job, None, DiskRead::Unread)
                        .await
                        .into_value();
                }
            }
        }
        if matches!(pulled, Pulled::Stored(_, CacheStatus::StaleServed, _)) {
            OriginStats::bump(&self.stats.stale_served);
        }
        match pulled {
            Pulled::Stored(asset, status, _) => Lookup::Asset {
                asset,
                from_memory: false,
                status,
            },
            Pulled::Passed(f, reason) => Lookup::Passed(f, reason),
            Pulled::Failed(e) => Lookup::OriginFailed(e),
            // Streamed through uncached: a stream cannot be shared, so each
            // request makes its own (the pass mark keeps them from queueing);
            // the one whose fetch turned into a stream streams that.
            Pulled::TooLarge => {
                let mine = job
                    .streamed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                match mine {
                    Some((s, why)) => self.stream_out(memory, s, why, None),
                    None => {
                        self.mark_too_large(flight);
                        self.stream(memory, &target, ask).await
                    }
                }
            }
        }
    }

    /// Remembers that `memory_key`'s answer is too large to hold: its
    /// requests stream for the next `pass_for`.
    pub(super) fn mark_too_large(&self, memory_key: String) {
        let mut map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(memory_key, std::time::Instant::now() + self.rules.pass_for);
    }

    /// Whether `memory_key`'s answer was found too large to hold lately.
    pub(super) fn known_too_large(&self, memory_key: &str) -> bool {
        let map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        map.get(memory_key)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    /// Streams a key known too large: its room in the memory bound is
    /// reserved first, so a request refused for want of it never reaches
    /// the origin.
    async fn stream(&self, memory: &Memory, target: &str, ask: &Ask<'_>) -> Lookup {
        let held = match buffer::reserve_stream(memory, None) {
            Ok(held) => held,
            Err(e) => return Lookup::OriginFailed(e),
        };
        OriginStats::bump(&self.stats.requests);
        let headers = self.upstream_headers(ask, false, &[]);
        let started = std::time::Instant::now();
        let streamed = self.client.stream(target, &headers).await;
        // The body streams to the client: upstream time is to its head.
        ask.spent_upstream(started.elapsed());
        match streamed {
            Ok(s) => self.stream_out(memory, s, Overflow::TooLarge, Some(held)),
            Err(e) => Lookup::OriginFailed(e),
        }
    }

    /// A streamed answer, counted against the memory bound (`held`, or
    /// reserved now; refused when the bound has no room, see `buffer`).
    fn stream_out(
        &self,
        memory: &Memory,
        s: Streamed,
        why: Overflow,
        held: Option<Reservation>,
    ) -> Lookup {
        let reason = match why {
            Overflow::TooLarge => NoStore::TooLarge,
            Overflow::NoRoom => NoStore::NoRoom,
        };
        self.stats.not_stored(reason);
        let held = match held {
            Some(held) => Ok(held),
            None => buffer::reserve_stream(memory, s.len),
        };
        match held {
            Ok(held) => {
                let mut s = buffer::counted(s, held);
                self.rules.reading.strip_targeted(&mut s.headers);
                Lookup::Streamed(s, reason)
            }
            Err(e) => Lookup::OriginFailed(e),
        }
    }
}

impl Pulled {
    /// Whether the fetch failed: no answer, or a server error.
    fn is_failure(&self) -> bool {
        matches!(
            self,
            Pulled::Failed(_) | Pulled::Passed(_, NoStore::ServerError)
        )
    }
}

impl Served {
    /// Whether this stored response, kept under `stored_at`, is the one a
    /// request with `headers` selects (it varies on nothing, or on values
    /// this request sends too).
    fn is_variant_for(&self, primary: &str, headers: &HeaderMap, stored_at: &str) -> bool {
        match &self.0.source {
            Source::Pulled(meta) if !meta.vary.is_empty() => {
                variants::key(primary, &meta.vary, headers) == stored_at
            }
            _ => true,
        }
    }
}

/// The memory (and disk, and cluster owner) key of a pulled object: the
/// one key function, path and query kept apart (`http::cache_key`), since
/// the origin may answer each target differently.
pub(super) fn memory_key(key: &Key, query: Option<&str>) -> String {
    cache_key::of(key, query)
}
