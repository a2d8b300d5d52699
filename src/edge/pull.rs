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

use super::persist::{self, identity_body};
use super::variants::{self, Marker};
use super::{compress, store, Ask, CacheStatus, Entry, Lookup, Memory, Served, Source};
use crate::asset::{self, Asset};
use crate::clock::Clock;
use crate::http::cache_control::CacheControl;
use crate::http::freshness::{self, ClientLimits, NoStore, Policy, Verdict};
use crate::http::path::Key;
use crate::origin::client::{FetchError, Fetched, OriginClient};
use crate::origin::coalesce::{Coalescer, Outcome, Role};
use crate::origin::decision::{self, Facts};
use crate::origin::pull::{asset_of, DiskMeta, PulledMeta, Reading};
use crate::origin::request::{self, Forwarding};
use crate::origin::OriginStats;
use crate::store::disk::DiskCache;

/// What one coalesced fetch produced, shared with the requests that waited.
#[derive(Debug, Clone)]
pub(super) enum Pulled {
    /// Stored (or refreshed) under the key given, and servable.
    Stored(Served, CacheStatus, Arc<str>),
    /// Not storable, and why: each request answers with its own fetch.
    Passed(Arc<Fetched>, NoStore),
    /// The fetch failed and nothing stale may stand in.
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
    /// A client's reload revalidates an object at most once per this.
    pub client_interval: Duration,
    /// How long requests for a key skip coalescing after an uncacheable answer.
    pub pass_for: Duration,
    /// Store responses that carry `Set-Cookie` (their cookie is then sent
    /// to every client).
    pub store_set_cookie: bool,
    /// How origin caching fields are read (targeted fields, RFC 9213).
    pub reading: Reading,
    /// Which request headers are forwarded.
    pub forwarding: Forwarding,
    /// Most variants stored per URL (RFC 9111 §4.1).
    pub max_variants: usize,
}

/// The origin and the rules for what the node keeps of it.
pub struct Origin {
    client: OriginClient,
    coalescer: Coalescer<String, Pulled>,
    rules: Rules,
    clock: Arc<Clock>,
    pub(super) stats: Arc<OriginStats>,
    /// Keys found too large to store, until when: their requests stream
    /// straight through without a first, aborted fetch.
    too_large: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Persisted pulled objects, when `cache.dir` is set.
    pub(super) disk: Option<Arc<DiskCache>>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// One pull: the keys and the request it serves.
struct Job<'a> {
    /// The URL's key (path and query).
    primary: &'a str,
    /// The key fetches are coalesced on: the variant key when the URL is
    /// known to vary, else `primary`.
    flight: &'a str,
    /// Path and query sent to the origin.
    target: &'a str,
    /// The request path, for the Content-Type guess and compression.
    path: &'a str,
    ask: &'a Ask<'a>,
    /// Whether the client's conditionals and range are kept from the
    /// origin (a fetch whose answer will be stored), §4.3.2.
    storing: bool,
}

impl Origin {
    /// An origin path fetching through `client`, ruled by `rules`, reading
    /// time from `clock`; `disk`, when given, persists what is stored so a
    /// restarted node serves it without the origin.
    pub fn new(
        client: OriginClient,
        rules: Rules,
        disk: Option<DiskCache>,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            client,
            coalescer: Coalescer::new(rules.lock_timeout),
            rules,
            clock,
            stats: Arc::new(OriginStats::default()),
            too_large: Default::default(),
            disk: disk.map(Arc::new),
        }
    }

    /// Traffic counters, for metrics.
    pub fn stats(&self) -> Arc<OriginStats> {
        self.stats.clone()
    }

    /// The client, for requests that are passed through.
    pub(super) fn client(&self) -> &OriginClient {
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
        request::upstream(
            ask.headers,
            ask.peer,
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
                        self.serve_stored(memory, key, ask, e).await
                    }
                    _ => self.miss(memory, key, ask, Some(m.names.clone())).await,
                }
            }
            Source::Pulled(_) => self.serve_stored(memory, key, ask, entry).await,
            Source::Local { .. } => Lookup::NotFound,
        }
    }

    /// Phase "verdict": whether `meta` may answer a request with
    /// `request` directives at `now`. A reload flood must not bypass the
    /// cache: when only the client's directives make the object stale, it
    /// is revalidated at most once per `client_interval` (RFC 9111 §5.2.1
    /// lets a cache ignore them).
    fn verdict(&self, meta: &PulledMeta, request: &CacheControl, now: SystemTime) -> Verdict {
        let (policy, limits) = (&self.rules.policy, &self.rules.limits);
        let stored = meta.stored();
        let verdict = freshness::verdict(&stored, policy, request, now, limits);
        if verdict == Verdict::Fresh || *request == CacheControl::default() {
            return verdict;
        }
        let own = freshness::verdict(&stored, policy, &CacheControl::default(), now, limits);
        let recent = now
            .duration_since(meta.response_time)
            .is_ok_and(|d| d < self.rules.client_interval);
        if own == Verdict::Fresh && recent {
            Verdict::Fresh
        } else {
            verdict
        }
    }

    /// Answers from a stored pulled object: as it is while fresh, else
    /// after revalidating it.
    async fn serve_stored(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
    ) -> Lookup {
        let Source::Pulled(meta) = &entry.source else {
            return Lookup::NotFound;
        };
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
                let (me, memory, key) = (self.clone(), memory.clone(), key.clone());
                let query = ask.query.map(str::to_string);
                let (headers, peer) = (ask.headers.clone(), ask.peer);
                let stale = Some((entry.clone(), may_serve_on_error));
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                actix_web::rt::spawn(async move {
                    let directives = CacheControl::default();
                    let ask = Ask {
                        query: query.as_deref(),
                        headers: &headers,
                        peer,
                        directives: &directives,
                    };
                    me.fetch(&memory, &key, &ask, names, stale).await;
                });
                OriginStats::bump(&self.stats.stale_served);
                hit(CacheStatus::StaleRevalidating)
            }
            Verdict::Stale {
                may_serve_on_error, ..
            } => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                let stale = Some((entry.clone(), may_serve_on_error));
                self.fetch(memory, key, ask, names, stale).await
            }
            Verdict::MustRevalidate => {
                let names = (!meta.vary.is_empty()).then(|| meta.vary.clone());
                self.fetch(memory, key, ask, names, Some((entry.clone(), false)))
                    .await
            }
        }
    }

    /// Nothing in memory answers the request (`names`: the URL is known to
    /// vary on these headers, but not this variant).
    pub(super) async fn miss(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        names: Option<Vec<String>>,
    ) -> Lookup {
        if ask.directives.only_if_cached {
            // The disk may still hold it.
            let primary = memory_key(key, ask.query);
            let flight = match &names {
                Some(n) => variants::key(&primary, n, ask.headers),
                None => primary,
            };
            return match self.read_disk(memory, &flight).await {
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
        self.fetch(memory, key, ask, names, None).await
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
            return self.stream(&target, ask).await;
        }
        let job = Job {
            primary: &primary,
            flight: &flight,
            target: &target,
            path: key.path(),
            ask,
            storing: !self.coalescer.passing(&flight),
        };
        let work = || self.fetch_once(memory, &job, stale);
        let (mut pulled, role) = self.coalescer.run(flight.clone(), work).await;
        if role == Role::Waiter {
            OriginStats::bump(&self.stats.coalesced_waiters);
            // The leader's answer varies on headers this request sends
            // differently: it is not this request's variant (§4.1).
            if let Pulled::Stored(s, _, stored_at) = &pulled {
                if !s.is_variant_for(&primary, ask.headers, stored_at) {
                    pulled = self.fetch_once(memory, &job, None).await.into_value();
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
            // request makes its own (the pass mark keeps them from queueing).
            Pulled::TooLarge => {
                self.mark_too_large(flight);
                self.stream(&target, ask).await
            }
        }
    }

    /// One fetch, through every phase after the memory lookup.
    async fn fetch_once(
        &self,
        memory: &Memory,
        job: &Job<'_>,
        stale: Option<(Arc<Entry>, bool)>,
    ) -> Outcome<Pulled> {
        // Lookup, disk: after a restart or an eviction from memory the
        // disk may hold it. Fresh → served; stale → revalidated.
        let mut stale = stale;
        if stale.is_none() {
            if let Some(entry) = self.read_disk(memory, job.flight).await {
                let Source::Pulled(meta) = &entry.source else {
                    unreachable!("disk holds pulled entries")
                };
                match self.verdict(meta, job.ask.directives, self.clock.now()) {
                    Verdict::Fresh => {
                        let at = Arc::from(job.flight);
                        return Outcome::Shared(Pulled::Stored(
                            Served(entry),
                            CacheStatus::Hit,
                            at,
                        ));
                    }
                    Verdict::Stale {
                        may_serve_on_error, ..
                    } => stale = Some((entry, may_serve_on_error)),
                    Verdict::MustRevalidate => stale = Some((entry, false)),
                }
            }
        }
        let stale_meta = stale.as_ref().and_then(|(e, _)| match &e.source {
            Source::Pulled(m) => Some(m.as_ref().clone()),
            _ => None,
        });
        // Upstream request: the client's headers, our validators.
        let validators = stale_meta
            .as_ref()
            .map(PulledMeta::revalidation_headers)
            .unwrap_or_default();
        let headers = self.upstream_headers(job.ask, job.storing || stale.is_some(), &validators);
        let started = std::time::Instant::now();
        let fetched = self.client.get(job.target, &headers).await;
        self.count(&fetched, stale.is_some(), started);
        match fetched {
            // Response filter, §4.3.4: a 304 freshens the stored response.
            Ok(f) if f.status == 304 => match (stale, stale_meta) {
                (Some((entry, _)), Some(meta)) => {
                    let meta = meta.refreshed_by(&f, &self.rules.reading);
                    let at = entry_key(job, &meta);
                    let served = self.refresh(memory, &at, job.path, &entry, meta).await;
                    Outcome::Shared(Pulled::Stored(served, CacheStatus::Stale, at.into()))
                }
                _ => Outcome::Private(Pulled::Passed(Arc::new(f), NoStore::Status), Duration::ZERO),
            },
            // stale-if-error (RFC 5861 §4) covers an origin answering 5xx too.
            Ok(f) if f.status >= 500 && stale.as_ref().is_some_and(|(_, on_error)| *on_error) => {
                let (entry, _) = stale.expect("checked above");
                let at = Arc::from(job.flight);
                Outcome::Shared(Pulled::Stored(Served(entry), CacheStatus::StaleServed, at))
            }
            Ok(f) => self.keep(memory, job, f, stale.is_some()).await,
            // stale-if-error (RFC 5861 §4): a stale copy stands in for a
            // failed fetch when the response allowed it.
            Err(e) => match stale {
                Some((entry, true)) => {
                    let at = Arc::from(job.flight);
                    Outcome::Shared(Pulled::Stored(Served(entry), CacheStatus::StaleServed, at))
                }
                _ if matches!(e, FetchError::TooLarge(_)) => {
                    Outcome::Private(Pulled::TooLarge, self.rules.pass_for)
                }
                _ => Outcome::Private(Pulled::Failed(e), Duration::ZERO),
            },
        }
    }

    /// Phases "decision" and "store" for a final response.
    async fn keep(
        &self,
        memory: &Memory,
        job: &Job<'_>,
        f: Fetched,
        was_stale: bool,
    ) -> Outcome<Pulled> {
        let (directives, targeted) = self.rules.reading.read(&f.headers);
        let facts = Facts {
            status: f.status,
            headers: &f.headers,
            directives: &directives,
            targeted,
            request: job.ask.directives,
            request_has_authorization: job.ask.headers.contains_key("authorization"),
            store_set_cookie: self.rules.store_set_cookie,
        };
        let plan = decision::decide(&facts).and_then(|plan| {
            if plan.vary.is_empty() {
                return Ok(plan);
            }
            let at = variants::key(job.primary, &plan.vary, job.ask.headers);
            let known = memory.get(&at).is_some();
            let marker = self.marker(memory, job.primary, &plan.vary);
            let room = match &marker.source {
                Source::Variants(m) => m.claim(self.rules.max_variants),
                _ => false,
            };
            if known || room {
                Ok(plan)
            } else {
                Err(NoStore::TooManyVariants)
            }
        });
        let plan = match plan {
            Ok(plan) => plan,
            Err(reason) => {
                self.stats.not_stored(reason);
                let pass = if response_caused(reason) {
                    // A stale copy of something now uncacheable must go.
                    memory.remove(job.flight);
                    self.forget_on_disk(job.flight, false).await;
                    self.rules.pass_for
                } else {
                    Duration::ZERO
                };
                return Outcome::Private(Pulled::Passed(Arc::new(f), reason), pass);
            }
        };
        if plan.vary.is_empty() {
            // The URL no longer varies: its marker (if any) goes.
            if memory
                .get(job.primary)
                .is_some_and(|e| matches!(e.source, Source::Variants(_)))
            {
                memory.remove(job.primary);
            }
        }
        let meta = PulledMeta::of(&f, &self.rules.reading, plan.vary);
        let at = entry_key(job, &meta);
        let served = self.store(memory, &at, job.path, &f.body, meta).await;
        let status = if was_stale {
            CacheStatus::Stale
        } else {
            CacheStatus::Miss
        };
        Outcome::Shared(Pulled::Stored(served, status, at.into()))
    }

    /// The marker at `primary` for responses varying on `names`, made (or
    /// replaced, when the names changed) if need be.
    fn marker(&self, memory: &Memory, primary: &str, names: &[String]) -> Arc<Entry> {
        if let Some(e) = memory.get(primary) {
            if matches!(&e.source, Source::Variants(m) if m.names == names) {
                return e;
            }
        }
        let empty = Asset::new(
            vec![asset::Representation::new(
                asset::Coding::Identity,
                bytes::Bytes::new(),
            )],
            HeaderValue::from_static("application/octet-stream"),
            None,
            None,
            Vec::new(),
        );
        let entry = Arc::new(Entry {
            asset: empty,
            source: Source::Variants(Marker::new(names.to_vec())),
        });
        memory.insert(primary.to_string(), entry.clone());
        entry
    }

    /// Phase "store": writes the response to disk (before the first client
    /// has it, so a restart keeps it), then keeps it in memory.
    async fn store(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
    ) -> Served {
        if let Some(disk) = &self.disk {
            let record = DiskMeta::of(&meta, path);
            persist::write(disk, at, record, body.clone()).await;
        }
        self.remember(memory, at, path, body, meta)
    }

    /// Keeps a stored response in memory as an asset, and starts making
    /// its encodings when it is text.
    pub(super) fn remember(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
    ) -> Served {
        let ct = meta
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let encodings = compress::wanted(path, &meta, ct, body.len());
        let asset = asset_of(body, &meta, path, &self.rules.reading, encodings);
        let served = store(
            memory,
            at.to_string(),
            asset,
            Source::Pulled(Box::new(meta)),
        );
        if encodings {
            compress::later(memory.clone(), at.to_string(), served.0.clone());
        }
        served
    }

    /// Phase "store" after a 304: the stored body (and the encodings made
    /// of it) with the updated headers.
    async fn refresh(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        entry: &Arc<Entry>,
        meta: PulledMeta,
    ) -> Served {
        let old = &entry.asset;
        let fresh = asset_of(
            &bytes::Bytes::new(),
            &meta,
            path,
            &self.rules.reading,
            false,
        );
        let asset = Asset::new(
            old.representations().to_vec(),
            fresh.content_type.clone(),
            meta.last_modified,
            None,
            fresh.extra_headers.clone(),
        )
        .with_last_modified_value(fresh.last_modified_value.clone())
        .expecting_encodings(old.expects_encodings());
        if let (Some(disk), Some(body)) = (&self.disk, identity_body(&asset)) {
            persist::write(disk, at, DiskMeta::of(&meta, path), body).await;
        }
        store(
            memory,
            at.to_string(),
            asset,
            Source::Pulled(Box::new(meta)),
        )
    }

    fn count(
        &self,
        fetched: &Result<Fetched, FetchError>,
        revalidating: bool,
        started: std::time::Instant,
    ) {
        let s = &self.stats;
        OriginStats::bump(&s.requests);
        s.latency.observe(started.elapsed().as_secs_f64());
        match fetched {
            Err(_) => OriginStats::bump(&s.failures),
            Ok(f) if revalidating && f.status == 304 => OriginStats::bump(&s.revalidated_304),
            Ok(f) if revalidating && f.status == 200 => OriginStats::bump(&s.revalidated_200),
            Ok(_) => {}
        }
    }

    fn mark_too_large(&self, memory_key: String) {
        let mut map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(memory_key, std::time::Instant::now() + self.rules.pass_for);
    }

    fn known_too_large(&self, memory_key: &str) -> bool {
        let map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        map.get(memory_key)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    async fn stream(&self, target: &str, ask: &Ask<'_>) -> Lookup {
        OriginStats::bump(&self.stats.requests);
        let headers = self.upstream_headers(ask, false, &[]);
        match self.client.stream(target, &headers).await {
            Ok(s) => Lookup::Streamed(s),
            Err(e) => Lookup::OriginFailed(e),
        }
    }
}

/// Whether a reason lies with the response (so a stale copy goes and the
/// key skips coalescing for a while), not with this one request.
fn response_caused(reason: NoStore) -> bool {
    !matches!(
        reason,
        NoStore::RequestNoStore | NoStore::Authorization | NoStore::TooManyVariants | NoStore::Pass
    )
}

/// Where a response of `job` is stored: its variant key when it varies.
fn entry_key(job: &Job<'_>, meta: &PulledMeta) -> String {
    if meta.vary.is_empty() {
        job.primary.to_string()
    } else {
        variants::key(job.primary, &meta.vary, job.ask.headers)
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

/// The memory key of a pulled object: the path key plus the query, since
/// the origin may answer each query differently.
pub(super) fn memory_key(key: &Key, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{}?{q}", key.cache_key()),
        None => key.cache_key().to_string(),
    }
}
