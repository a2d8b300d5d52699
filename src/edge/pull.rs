//! The edge's origin path: serving stored pulled objects while fresh,
//! revalidating or refetching them when not (RFC 9111 §4), and fetching
//! misses, with concurrent requests for one key coalesced into one origin
//! request. Stored objects become `Asset`s served by the same handler as
//! local files.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::http::header::HeaderValue;

use super::{store, Ask, CacheStatus, Entry, Lookup, Memory, Served, Source};
use crate::asset::{Asset, Body, Coding, Representation};
use crate::http::cache_control::{self, CacheControl};
use crate::http::freshness::{self, ClientLimits, Policy, Verdict};
use crate::http::path::Key;
use crate::origin::client::{FetchError, Fetched, OriginClient};
use crate::origin::coalesce::Role;
use crate::origin::coalesce::{Coalescer, Outcome};
use crate::origin::pull::{asset_of, DiskMeta, PulledMeta};
use crate::origin::OriginStats;
use crate::precompress;
use crate::store::disk::DiskCache;
use crate::store::memory::MemoryCache;

/// What one coalesced fetch produced, shared with the requests that waited.
#[derive(Debug, Clone)]
enum Pulled {
    /// Stored (or refreshed) and servable.
    Stored(Served, CacheStatus),
    /// Not storable: each request answers with its own fetch.
    Passed(Arc<Fetched>),
    /// The fetch failed and nothing stale may stand in.
    Failed(FetchError),
    /// Larger than the node stores: each request streams it through.
    TooLarge,
}

/// What the node keeps of the origin's answers, and how it waits for them.
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
    /// Cache-Control passed on when the origin sent none.
    pub default_cc: HeaderValue,
    /// How long requests for a key skip coalescing after an uncacheable answer.
    pub pass_for: Duration,
    /// Store responses that carry `Set-Cookie` (their cookie is then sent
    /// to every client).
    pub store_set_cookie: bool,
}

/// The origin and the rules for what the node keeps of it.
pub struct Origin {
    client: OriginClient,
    coalescer: Coalescer<String, Pulled>,
    policy: Policy,
    limits: ClientLimits,
    client_interval: Duration,
    default_cc: HeaderValue,
    pass_for: Duration,
    store_set_cookie: bool,
    stats: Arc<OriginStats>,
    /// Keys found too large to store, until when: their requests stream
    /// straight through without a first, aborted fetch.
    too_large: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
    /// Persisted pulled objects, when `cache.dir` is set.
    disk: Option<Arc<DiskCache>>,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Origin")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Origin {
    /// An origin path fetching through `client`, ruled by `rules`;
    /// `disk`, when given, persists what is stored so a restarted node
    /// serves it without the origin.
    pub fn new(client: OriginClient, rules: Rules, disk: Option<DiskCache>) -> Self {
        Self {
            client,
            coalescer: Coalescer::new(rules.lock_timeout),
            policy: rules.policy,
            limits: rules.limits,
            client_interval: rules.client_interval,
            default_cc: rules.default_cc,
            pass_for: rules.pass_for,
            store_set_cookie: rules.store_set_cookie,
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

    /// Answers from a stored pulled object: as it is while fresh, else after
    /// revalidating it.
    pub(super) async fn serve_stored(
        self: &Arc<Self>,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        entry: Arc<Entry>,
    ) -> Lookup {
        let Source::Pulled(meta) = &entry.source else {
            return Lookup::NotFound;
        };
        let request = cache_control::parse(ask.cache_control);
        let now = SystemTime::now();
        let stored = meta.stored();
        let mut verdict = freshness::verdict(&stored, &self.policy, &request, now, &self.limits);
        if verdict != Verdict::Fresh && ask.cache_control.is_some() {
            // A reload flood must not bypass the cache: when only the
            // client's directives make the object stale, revalidate at most
            // once per interval (RFC 9111 §5.2.1 lets a cache ignore them).
            let own = freshness::verdict(
                &stored,
                &self.policy,
                &CacheControl::default(),
                now,
                &self.limits,
            );
            let recent = now
                .duration_since(meta.response_time)
                .is_ok_and(|d| d < self.client_interval);
            if own == Verdict::Fresh && recent {
                verdict = Verdict::Fresh;
            }
        }
        match verdict {
            Verdict::Fresh => Lookup::Asset {
                asset: Served(entry),
                from_memory: true,
                status: CacheStatus::Hit,
            },
            // stale-while-revalidate (RFC 5861 §3): answer with the stale
            // copy now; one background fetch (coalesced) revalidates it.
            Verdict::Stale {
                may_serve_while_revalidating: true,
                may_serve_on_error,
            } => {
                let (me, memory, key) = (self.clone(), memory.clone(), key.clone());
                let query = ask.query.map(str::to_string);
                let stale = Some((entry.clone(), may_serve_on_error));
                actix_web::rt::spawn(async move {
                    let ask = Ask {
                        query: query.as_deref(),
                        cache_control: None,
                        authorization: None,
                    };
                    me.fetch(&memory, &key, &ask, stale).await;
                });
                OriginStats::bump(&self.stats.stale_served);
                Lookup::Asset {
                    asset: Served(entry),
                    from_memory: true,
                    status: CacheStatus::StaleRevalidating,
                }
            }
            Verdict::Stale {
                may_serve_on_error, ..
            } => {
                self.fetch(memory, key, ask, Some((entry, may_serve_on_error)))
                    .await
            }
            Verdict::MustRevalidate => self.fetch(memory, key, ask, Some((entry, false))).await,
        }
    }

    /// Fetches `key` from the origin (revalidating `stale` when given),
    /// coalesced with concurrent requests for the same key.
    pub(super) async fn fetch(
        &self,
        memory: &Memory,
        key: &Key,
        ask: &Ask<'_>,
        stale: Option<(Arc<Entry>, bool)>,
    ) -> Lookup {
        let memory_key = memory_key(key, ask.query);
        let mut target = key.url_path();
        if let Some(q) = ask.query {
            target.push('?');
            target.push_str(q);
        }
        if self.known_too_large(&memory_key) {
            return self.stream(&target).await;
        }
        let work = || {
            self.fetch_once(
                memory,
                memory_key.clone(),
                target.clone(),
                key.path().to_string(),
                stale,
                ask.authorization.map(str::to_string),
            )
        };
        let (pulled, role) = self.coalescer.run(memory_key.clone(), work).await;
        if role == Role::Waiter {
            OriginStats::bump(&self.stats.coalesced_waiters);
        }
        if matches!(pulled, Pulled::Stored(_, CacheStatus::StaleServed)) {
            OriginStats::bump(&self.stats.stale_served);
        }
        match pulled {
            Pulled::Stored(asset, status) => Lookup::Asset {
                asset,
                from_memory: false,
                status,
            },
            Pulled::Passed(f) => Lookup::Passed(f),
            Pulled::Failed(e) => Lookup::OriginFailed(e),
            // Streamed through uncached: a stream cannot be shared, so each
            // request makes its own (the pass mark keeps them from queueing).
            Pulled::TooLarge => {
                self.mark_too_large(memory_key);
                self.stream(&target).await
            }
        }
    }

    /// Reads `memory_key` from the disk cache (on the blocking pool) and
    /// puts it back in memory, compressing it again in the background.
    async fn read_disk(&self, memory: &Memory, memory_key: &str) -> Option<Arc<Entry>> {
        let disk = self.disk.clone()?;
        let key = memory_key.to_string();
        let (meta, body): (DiskMeta, bytes::Bytes) =
            tokio::task::spawn_blocking(move || disk.get(&key))
                .await
                .ok()??;
        let fetched = meta.fetched(body);
        let asset = asset_of(&fetched, &meta.path, &self.default_cc);
        let served = store(
            memory,
            memory_key.to_string(),
            asset,
            Source::Pulled(Box::new(PulledMeta::of(&fetched))),
        );
        if fetched.status == 200 && compressible(&meta.path, &served) {
            compress_later(memory.clone(), memory_key.to_string(), served.0.clone());
        }
        Some(served.0)
    }

    /// Writes a stored response to the disk cache (atomic; awaited, so an
    /// object a client received survives a restart). Failures are logged.
    async fn to_disk(&self, memory_key: &str, meta: &PulledMeta, path: &str, asset: &Asset) {
        let Some(disk) = self.disk.clone() else {
            return;
        };
        let Some(body) = asset
            .representations()
            .iter()
            .find_map(|r| match (&r.coding, &r.body) {
                (Coding::Identity, Body::Memory(b)) => Some(b.clone()),
                _ => None,
            })
        else {
            return;
        };
        let (key, record) = (memory_key.to_string(), DiskMeta::of(meta, path));
        match tokio::task::spawn_blocking(move || disk.put(&key, &record, &body)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("disk cache write {memory_key}: {e}"),
            Err(e) => tracing::warn!("disk cache write {memory_key}: {e}"),
        }
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

    fn mark_too_large(&self, memory_key: String) {
        let mut map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(memory_key, std::time::Instant::now() + self.pass_for);
    }

    fn known_too_large(&self, memory_key: &str) -> bool {
        let map = self.too_large.lock().unwrap_or_else(|e| e.into_inner());
        map.get(memory_key)
            .is_some_and(|until| *until > std::time::Instant::now())
    }

    async fn stream(&self, target: &str) -> Lookup {
        OriginStats::bump(&self.stats.requests);
        match self.client.stream(target).await {
            Ok(s) => Lookup::Streamed(s),
            Err(e) => Lookup::OriginFailed(e),
        }
    }

    async fn fetch_once(
        &self,
        memory: &Memory,
        memory_key: String,
        target: String,
        path: String,
        stale: Option<(Arc<Entry>, bool)>,
        authorization: Option<String>,
    ) -> Outcome<Pulled> {
        // Not in memory: the disk cache may hold it (from before a restart,
        // or evicted from memory). Fresh → served; stale → revalidated.
        let mut stale = stale;
        if stale.is_none() {
            if let Some(entry) = self.read_disk(memory, &memory_key).await {
                let Source::Pulled(meta) = &entry.source else {
                    unreachable!("disk holds pulled entries")
                };
                let now = SystemTime::now();
                match freshness::verdict(
                    &meta.stored(),
                    &self.policy,
                    &CacheControl::default(),
                    now,
                    &self.limits,
                ) {
                    Verdict::Fresh => {
                        return Outcome::Shared(Pulled::Stored(Served(entry), CacheStatus::Hit))
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
            Source::Local { .. } => None,
        });
        let mut extra = stale_meta
            .as_ref()
            .map(PulledMeta::revalidation_headers)
            .unwrap_or_default();
        // A client's credentials go to the origin; what comes back is kept
        // only if the origin allows it (§3.5), else each request fetches.
        let has_auth = authorization.is_some();
        if let Some(v) = authorization.and_then(|a| reqwest::header::HeaderValue::from_str(&a).ok())
        {
            extra.insert("authorization", v);
        }
        let status_if_stored = if stale.is_some() {
            CacheStatus::Stale
        } else {
            CacheStatus::Miss
        };
        let started = std::time::Instant::now();
        let fetched = self.client.get(&target, &extra).await;
        let s = &self.stats;
        OriginStats::bump(&s.requests);
        s.latency.observe(started.elapsed().as_secs_f64());
        match &fetched {
            Err(_) => OriginStats::bump(&s.failures),
            Ok(f) if stale.is_some() && f.status == 304 => OriginStats::bump(&s.revalidated_304),
            Ok(f) if stale.is_some() && f.status == 200 => OriginStats::bump(&s.revalidated_200),
            Ok(_) => {}
        }
        match fetched {
            // §4.3.4: a 304 freshens the stored response; its body is kept.
            Ok(f) if f.status == 304 => match (stale, stale_meta) {
                (Some((entry, _)), Some(meta)) => {
                    let meta = meta.refreshed_by(&f);
                    self.to_disk(&memory_key, &meta, &path, &entry.asset).await;
                    let source = Source::Pulled(Box::new(meta));
                    let served = store(memory, memory_key, entry.asset.clone(), source);
                    Outcome::Shared(Pulled::Stored(served, CacheStatus::Stale))
                }
                _ => Outcome::Private(Pulled::Passed(Arc::new(f)), self.pass_for),
            },
            // stale-if-error (RFC 5861 §4) covers an origin answering 5xx too.
            Ok(f) if f.status >= 500 && stale.as_ref().is_some_and(|(_, on_error)| *on_error) => {
                let (entry, _) = stale.expect("checked above");
                Outcome::Shared(Pulled::Stored(Served(entry), CacheStatus::StaleServed))
            }
            Ok(f) => {
                if self.storable(&f, has_auth) {
                    let meta = PulledMeta::of(&f);
                    let asset = asset_of(&f, &path, &self.default_cc);
                    // On disk first: once a client has it, a restart keeps it.
                    self.to_disk(&memory_key, &meta, &path, &asset).await;
                    let served = store(
                        memory,
                        memory_key.clone(),
                        asset,
                        Source::Pulled(Box::new(meta)),
                    );
                    if f.status == 200 && compressible(&path, &served) {
                        compress_later(memory.clone(), memory_key, served.0.clone());
                    }
                    Outcome::Shared(Pulled::Stored(served, status_if_stored))
                } else {
                    // A stale copy of something now uncacheable must go.
                    memory.remove(&memory_key);
                    self.forget_on_disk(&memory_key, false).await;
                    Outcome::Private(Pulled::Passed(Arc::new(f)), self.pass_for)
                }
            }
            // stale-if-error (RFC 5861 §4): a stale copy stands in for a
            // failed fetch when the response allowed it.
            Err(e) => match stale {
                Some((entry, true)) => {
                    Outcome::Shared(Pulled::Stored(Served(entry), CacheStatus::StaleServed))
                }
                _ if matches!(e, FetchError::TooLarge(_)) => {
                    Outcome::Private(Pulled::TooLarge, self.pass_for)
                }
                _ => Outcome::Private(Pulled::Failed(e), Duration::ZERO),
            },
        }
    }

    /// Whether a response is kept (RFC 9111 §3 for a shared cache), limited
    /// to what the node serves from memory: a response in identity coding
    /// that varies on nothing but Accept-Encoding. A 200 becomes an asset;
    /// other statuses (404, 410, 301, 308, ...) are replayed as stored.
    fn storable(&self, f: &Fetched, request_has_authorization: bool) -> bool {
        let store_set_cookie = self.store_set_cookie;
        let h = &f.headers;
        let cc: CacheControl = cache_control::parse(
            h.get_all("cache-control")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let vary: Vec<String> = h
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
            .filter(|s| !s.is_empty())
            .collect();
        let vary_star = vary.iter().any(|v| v == "*");
        let vary_other = vary.iter().any(|v| v != "accept-encoding");
        let encoded = h
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"));
        // Any final status §3 allows (cacheable by default, or with
        // explicit freshness), except partial content, 304, and server
        // errors other than 501: an origin in trouble is asked again.
        !matches!(f.status, 206 | 304)
            && (200..600).contains(&f.status)
            && (f.status < 500 || f.status == 501)
            && !vary_other
            && !encoded
            && freshness::storable(
                true,
                f.status,
                &cc,
                &CacheControl::default(),
                request_has_authorization,
                h.contains_key("set-cookie"),
                store_set_cookie,
                h.contains_key("expires"),
                vary_star,
            )
    }
}

/// Whether a pulled asset is worth compressing: by its path's extension,
/// or by a textual Content-Type when the path has none.
fn compressible(path: &str, asset: &Asset) -> bool {
    let ct = asset.content_type.to_str().unwrap_or_default();
    precompress::is_compressible(path)
        || ct.starts_with("text/")
        || ["javascript", "json", "xml", "svg"]
            .iter()
            .any(|t| ct.contains(t))
}

/// Makes br and gzip representations of a stored pulled asset on the
/// blocking pool, so the first client never waits for brotli, and swaps
/// them in if the entry is still the one stored (never over a newer one).
fn compress_later(memory: Arc<MemoryCache<Arc<Entry>>>, key: String, entry: Arc<Entry>) {
    tokio::task::spawn_blocking(move || {
        let Some(identity) = entry
            .asset
            .representations()
            .iter()
            .find(|r| r.coding == Coding::Identity)
        else {
            return;
        };
        let Body::Memory(bytes) = &identity.body else {
            return;
        };
        let c = precompress::compress(bytes, &precompress::Settings::default(), true, true);
        if c.br.is_none() && c.gzip.is_none() {
            return;
        }
        let mut reps = vec![identity.clone()];
        reps.extend(c.br.map(|b| Representation::new(Coding::Br, b.into())));
        reps.extend(c.gzip.map(|g| Representation::new(Coding::Gzip, g.into())));
        let a = &entry.asset;
        let asset = Asset::new(
            reps,
            a.content_type.clone(),
            a.last_modified,
            a.cache_control.clone(),
            a.extra_headers.clone(),
        );
        let Source::Pulled(meta) = &entry.source else {
            return;
        };
        let new = Arc::new(Entry {
            asset,
            source: Source::Pulled(meta.clone()),
        });
        memory.replace_if(&key, |cur| Arc::ptr_eq(cur, &entry), new);
    });
}

/// The memory key of a pulled object: the path key plus the query, since
/// the origin may answer each query differently.
pub(super) fn memory_key(key: &Key, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{}?{q}", key.cache_key()),
        None => key.cache_key().to_string(),
    }
}
