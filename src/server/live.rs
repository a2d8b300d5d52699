//! What a request reads of the configuration, as one value ([`Live`]) that
//! a reload replaces whole: each request loads the current one once, at its
//! start, and keeps it to its end, so it never sees half of one config and
//! half of the next. Built by [`Live::build`], the one path for the start
//! and for every reload, so both refuse the same configs for the same
//! reasons.
//!
//! What outlives a reload is not here: the clock, the disk cache and the
//! origin's counters ([`Resources`], opened once at start), and the metrics
//! and connection settings in `State`; the compression threads, one pool
//! per process (`cache.compress_workers` and `cache.compress_queue` are
//! restart-only), of which each generation holds a handle with its own
//! brotli quality and gzip level. What a new `Live` takes over from the
//! one it replaces (memory cache, origin connections, fetches in flight)
//! is decided in `build`, by comparing the two configs.

use std::sync::Arc;

use actix_web::http::header::HeaderValue;

use super::{cors, https, invalid_cc, ServeError, PASS_FOR};
use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::compress::Compressor;
use crate::config::{Config, Rule};
use crate::edge::{Edge, Keying, Setup};
use crate::http::forward::DropList;
use crate::http::freshness;
use crate::origin::client::OriginClient;
use crate::origin::request::Forwarding;
use crate::origin::stored::Reading;
use crate::origin::OriginStats;
use crate::pull::{Puller, Route, Rules};
use crate::rule_set::RuleSet;
use crate::store::disk::DiskCache;
use crate::store::memory::Admission;
use crate::store::policy::Policy;

/// The settings and stores one generation of the config serves with.
pub struct Live {
    /// The root, the caches and the origin.
    pub edge: Arc<Edge>,
    /// `[cors]`.
    pub cors: cors::Cors,
    /// `server.health_path`, unless disabled.
    pub health_path: Option<String>,
    /// `server.metrics_path`, unless disabled.
    pub metrics_path: Option<String>,
    /// `server.ready_path`, unless disabled.
    pub ready_path: Option<String>,
    /// `server.ready_requires_origin`.
    pub ready_requires_origin: bool,
    /// The purge token, when purging is on.
    pub purge_token: Option<String>,
    /// `purge.path`, normalised as a request path's key is (`_purge`), so
    /// that every spelling of it is recognised.
    pub purge_path: String,
    /// HSTS and the redirect to HTTPS.
    pub https: https::Https,
    /// Requests one connection may have in flight (`http2.max_concurrent_streams`).
    pub max_streams: u32,
    /// `[limits]`: request sizes, body timeout, connections.
    pub limits: super::limits::RequestLimits,
    /// `server.pseudonym` and `server.max_hops` (RFC 8586).
    pub cdn_loop: super::cdn_loop::LoopGuard,
    /// The rules' fallback and error pages; `None` when no rule names one.
    pub pages: Option<super::pages::Pages>,
}

/// What every generation shares, opened once at start.
pub struct Resources {
    /// The clock every freshness rule and `Age` reads (the test clock's
    /// offset survives reloads).
    pub clock: Arc<Clock>,
    /// The disk cache of pulled objects (`cache.dir`).
    disk: Option<Arc<DiskCache>>,
    /// The origin's traffic counters.
    origin_stats: Arc<OriginStats>,
    /// The cluster (`[cluster]`): its peers and their health. Its table
    /// is restart-only; its peers are read again on SIGHUP.
    pub cluster: Option<Arc<Cluster>>,
}

impl Resources {
    /// Opens the disk cache, when `cache.dir` is set; with `checking`,
    /// only checks its directory (a running node may be using it: its
    /// files are neither scanned nor cleaned).
    pub fn open(config: &Config, checking: bool) -> Result<Self, ServeError> {
        let disk = if let Some(dir) = &config.cache.dir {
            let opened = if checking {
                DiskCache::check_dir(dir).map(|()| None)
            } else {
                DiskCache::open(dir, config.cache.disk_bytes).map(Some)
            };
            match opened {
                Ok(d) => d.map(Arc::new),
                Err(e) if !config.cache.dir_required => {
                    tracing::warn!(
                        "cache.dir: {e}; serving without a disk cache (memory and origin only; cache.dir_required = false)"
                    );
                    None
                }
                Err(e) => return Err(ServeError::Disk(e)),
            }
        } else {
            None
        };
        let clock = Arc::new(Clock::new());
        let cluster = match &config.cluster {
            Some(c) => Some(Arc::new(
                Cluster::new(&c.settings("config")?, clock.clone())
                    .map_err(ServeError::ClusterClient)?,
            )),
            None => None,
        };
        Ok(Self {
            clock,
            disk,
            origin_stats: Arc::default(),
            cluster,
        })
    }
}

/// The generation a reload replaces, and the config it was built from.
#[derive(Clone, Copy)]
pub struct Previous<'a> {
    /// The config in force.
    pub config: &'a Config,
    /// What it built.
    pub live: &'a Live,
}

impl Live {
    /// Builds a generation from `config` (already validated): the root
    /// opened, the header policy, the origin client and rules. With
    /// `previous`, what is unchanged is taken over from it.
    pub fn build(
        config: &Config,
        res: &Resources,
        previous: Option<Previous<'_>>,
    ) -> Result<Live, ServeError> {
        // Compiled once, for the local files' policy, the cache keys, the
        // pages and the pull engine.
        let compiled = config.rules()?;
        let policy = Policy::new(
            HeaderValue::from_str(&config.cache_control.immutable)
                .map_err(|_| invalid_cc("immutable"))?,
            HeaderValue::from_str(&config.cache_control.revalidate)
                .map_err(|_| invalid_cc("revalidate"))?,
            config.fingerprints()?,
            compiled.clone(),
        )
        .with_preload_links(config.server.preload_links);
        let origin = origin(config, &compiled, res, previous)?;
        let c = &config.cache;
        // Only when on: a node without an origin and without local
        // compression starts no compression threads.
        let compress_local = c.compress_local.then(|| compressor(config)).transpose()?;
        let setup = Setup {
            policy,
            memory_bytes: c.memory_bytes as usize,
            max_object_bytes: c.max_object_bytes as usize,
            refresh: config.server.refresh,
            admission: match c.admission {
                crate::config::Admission::Always => Admission::Always,
                crate::config::Admission::SecondHit => Admission::SecondHit,
            },
            compress_local,
            keying: Keying::new(&compiled),
        };
        let root = config.server.root.as_deref();
        let edge = match previous {
            None => Edge::open(root, setup, origin),
            Some(p) => {
                let keep = same_cache_inputs(p.config, config);
                p.live.edge.reopen(root, setup, origin, keep)
            }
        }
        .map_err(ServeError::Root)?;
        let tls = config.tls.enabled();
        Ok(Live {
            edge: Arc::new(edge),
            cors: cors::Cors::new(&config.cors),
            health_path: config.server.health_path.clone(),
            metrics_path: config.server.metrics_path.clone(),
            ready_path: config.server.ready_path.clone(),
            ready_requires_origin: config.server.ready_requires_origin,
            purge_token: config.purge.effective_token()?,
            purge_path: crate::http::path::key(&config.purge.path)
                .map(|k| k.path().to_string())
                .unwrap_or_default(),
            https: https::Https {
                hsts: (config.tls.hsts.as_deref())
                    .filter(|_| tls)
                    .and_then(|h| HeaderValue::from_str(h).ok()),
                redirect: config.tls.redirect_http && tls,
            },
            max_streams: config.http2.max_concurrent_streams,
            limits: super::limits::RequestLimits::new(&config.limits),
            cdn_loop: super::cdn_loop::LoopGuard::new(&config.server),
            pages: super::pages::Pages::of(&compiled),
        })
    }
}

/// Whether the memory cache's entries of the `running` config are still
/// right under `new`: local files carry headers from the header policy,
/// pulled objects come from one origin and keep its headers as the
/// targeted fields and tag fields were read, the cache has its bounds, and local files
/// expect encodings of their own as `cache.compress_local` said. (The root is
/// compared by `Edge::reopen`, as the directory it resolves to.)
fn same_cache_inputs(running: &Config, new: &Config) -> bool {
    let (a, b) = (&running.cache, &new.cache);
    running.cache_control == new.cache_control
        && running.rules == new.rules
        && running.server.preload_links == new.server.preload_links
        && a.memory_bytes == b.memory_bytes
        && a.max_object_bytes == b.max_object_bytes
        && a.admission == b.admission
        && a.targeted_fields == b.targeted_fields
        && a.strip_targeted_fields == b.strip_targeted_fields
        && a.pass_targeted_fields == b.pass_targeted_fields
        && running.purge.tag_headers == new.purge.tag_headers
        && running.purge.pass_tag_headers == new.purge.pass_tag_headers
        && a.compress_local == b.compress_local
        && running.origin.url == new.origin.url
        && running.origin.host == new.origin.host
}

/// The origin path of `config`, if it names an origin: the client of the
/// running generation is kept while its settings stay, so a reload opens
/// no connections for nothing.
fn origin(
    config: &Config,
    compiled: &[Rule],
    res: &Resources,
    previous: Option<Previous<'_>>,
) -> Result<Option<Puller>, ServeError> {
    let running = previous.and_then(|p| Some((p.config, p.live.edge.origin()?)));
    let client = match running {
        Some((c, o)) if c.origin == config.origin => o.client().clone(),
        _ => match OriginClient::new(&config.origin, res.clock.clone())
            .map_err(ServeError::OriginClient)?
        {
            Some(client) => client,
            None => return Ok(None),
        },
    };
    let rules = rules(config, compiled.to_vec())?;
    let compressor = compressor(config)?;
    let route = match &res.cluster {
        Some(c) => Some(Route::new(c.clone(), client.for_peers(rules.lock_timeout))?),
        None => None,
    };
    Ok(Some(
        match running {
            Some((_, o)) => o.renewed(client, rules, compressor),
            None => Puller::new(
                client,
                rules,
                res.disk.clone(),
                res.clock.clone(),
                compressor,
                res.origin_stats.clone(),
            ),
        }
        .routed(route),
    ))
}

/// What the node keeps of the origin's answers, and how it asks for them.
pub(crate) fn rules(config: &Config, compiled: Vec<Rule>) -> Result<Rules, ServeError> {
    let drop = DropList::new(&config.origin.drop_request_headers)
        .map_err(|source| ServeError::Headers {
            key: "origin.drop_request_headers",
            source,
        })?
        .except(&config.origin.keep_request_headers)
        .map_err(|source| ServeError::Headers {
            key: "origin.keep_request_headers",
            source,
        })?;
    let c = &config.cache;
    Ok(Rules {
        lock_timeout: config.origin.lock_timeout,
        policy: freshness::Policy {
            negative_ttl: c.negative_ttl.as_secs(),
            default_ttl: Some(c.default_ttl.as_secs()).filter(|t| *t > 0),
            heuristic_max: c.heuristic_max.as_secs(),
            default_swr: c.stale_while_revalidate.as_secs(),
            default_sie: c.stale_if_error.as_secs(),
            ..Default::default()
        },
        limits: freshness::ClientLimits {
            honour_client_no_cache: c.client_no_cache,
            min_client_max_age: c.min_client_max_age.as_secs(),
            revalidate_interval: c.client_revalidate_interval,
        },
        pass_for: PASS_FOR,
        store_set_cookie: c.store_set_cookie,
        heuristic_with_cookie: c.heuristic_with_cookie,
        reading: Reading {
            targeted: c.targeted_fields.clone(),
            strip: [
                (!c.pass_targeted_fields).then_some(&c.strip_targeted_fields),
                (!config.purge.pass_tag_headers).then_some(&config.purge.tag_headers),
            ]
            .into_iter()
            .flatten()
            .flatten()
            .cloned()
            .collect(),
            tags: config.purge.tag_headers.clone(),
        },
        forwarding: Forwarding {
            drop,
            proto: "http",
            // Checked as a token or host[:port] by the config.
            cdn_loop: HeaderValue::from_str(&config.server.pseudonym)
                .unwrap_or_else(|_| HeaderValue::from_static("cdn-edge")),
        },
        max_variants: c.max_variants,
        operator: Arc::new(RuleSet {
            rules: compiled,
            fingerprints: config.fingerprints()?,
            immutable: HeaderValue::from_str(&config.cache_control.immutable).ok(),
        }),
    })
}

/// A handle on the process's compression threads (started by the first
/// handle made, then shared by every generation: `cache.compress_workers`
/// and `cache.compress_queue` take effect at start only), compressing with
/// this config's brotli quality, zstd level and gzip level.
fn compressor(config: &Config) -> Result<Compressor, ServeError> {
    let c = &config.cache;
    let settings = crate::precompress::Settings {
        brotli_quality: c.brotli_quality,
        // 4 MiB: brotli's own default window, and a bounded encoder.
        brotli_window: 22,
        gzip_level: c.gzip_level,
        zstd_level: c.zstd_level,
        ..Default::default()
    };
    let workers = match c.compress_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    Ok(Compressor::new(workers, c.compress_queue, settings)
        .map_err(ServeError::Compress)?
        .with_fingerprints(config.fingerprints()?))
}
