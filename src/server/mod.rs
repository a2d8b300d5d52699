//! actix-web wiring: builds the shared state from a config, binds, runs
//! until SIGTERM/Ctrl-C, and shuts down gracefully. The request logic is in
//! `handler` (dispatch) and `respond` (one asset → one response).

mod connection;
pub mod cors;
mod errors;
mod file_body;
mod handler;
mod health;
mod https;
mod metrics;
mod passthrough;
mod purge;
pub mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::{web, App, HttpServer};

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::edge::{Compressor, Edge, Origin, Rules};
use crate::http::forward::DropList;
use crate::http::freshness;
use crate::origin::client::OriginClient;
use crate::origin::pull::Reading;
use crate::origin::request::Forwarding;
use crate::store::disk::DiskCache;
use crate::store::memory::Admission;
use crate::store::policy::Policy;
use crate::tls::{SniResolver, Tls, TlsError};

/// How long requests for a key skip coalescing after the origin answered
/// it uncacheably (so they do not queue behind each other).
const PASS_FOR: Duration = Duration::from_secs(10);

/// What every worker shares.
pub struct State {
    edge: Arc<Edge>,
    cors: cors::Cors,
    metrics: metrics::Metrics,
    health_path: Option<String>,
    metrics_path: Option<String>,
    purge_token: Option<String>,
    purge_path: String,
    /// The clock every freshness rule and `Age` reads.
    clock: Arc<Clock>,
    /// `POST /_edge/clock` may move it (`CDN_EDGE_TEST_CLOCK=1`).
    test_clock: bool,
    /// HSTS and the redirect to HTTPS.
    https: https::Https,
    /// Requests one connection may have in flight (`http2.max_concurrent_streams`).
    max_streams: u32,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The static root cannot be used.
    #[error("server.{0}")]
    Root(std::io::Error),
    /// The origin client cannot be built.
    #[error("{0}")]
    Origin(String),
    /// The disk cache directory cannot be used.
    #[error("{0}")]
    Disk(String),
    /// A TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server: {0}")]
    Run(std::io::Error),
}

/// A bound server, not yet awaited.
pub struct Started {
    /// The plain HTTP addresses actually bound (port 0 resolved).
    pub addrs: Vec<SocketAddr>,
    /// The HTTPS addresses actually bound.
    pub tls_addrs: Vec<SocketAddr>,
    /// The live certificates, for a reload to swap
    /// ([`SniResolver::reload`]); `None` without `[tls]`.
    pub tls: Option<Arc<SniResolver>>,
    /// The running server; await it to serve until shutdown.
    pub server: actix_web::dev::Server,
}

/// Builds the state, binds the listen address and starts the workers.
/// Must be called inside an async runtime.
pub fn start(config: &Config) -> Result<Started, ServeError> {
    let root = &config.server.root;
    let policy = Policy::new(
        HeaderValue::from_str(&config.cache_control.immutable)
            .map_err(|_| invalid_cc("immutable"))?,
        HeaderValue::from_str(&config.cache_control.revalidate)
            .map_err(|_| invalid_cc("revalidate"))?,
        config.rules()?,
    );
    let disk = if config.cache.dir.as_os_str().is_empty() {
        None
    } else {
        let d = DiskCache::open(&config.cache.dir, config.cache.disk_bytes).map_err(|e| {
            ServeError::Disk(format!("cache.dir {}: {e}", config.cache.dir.display()))
        })?;
        Some(d)
    };
    let clock = Arc::new(Clock::new());
    let client = OriginClient::new(&config.origin, clock.clone()).map_err(ServeError::Origin)?;
    let origin = match client {
        Some(client) => {
            let drop = DropList::new(&config.origin.drop_request_headers)
                .map_err(|bad| ServeError::Origin(format!("origin.drop_request_headers: {bad}")))?;
            let rules = Rules {
                lock_timeout: Duration::from_millis(config.origin.lock_timeout_ms),
                policy: freshness::Policy {
                    negative_ttl: config.cache.negative_ttl_secs,
                    default_ttl: Some(config.cache.default_ttl_secs).filter(|t| *t > 0),
                    heuristic_max: config.cache.heuristic_max_secs,
                    default_swr: config.cache.stale_while_revalidate_secs,
                    default_sie: config.cache.stale_if_error_secs,
                    ..Default::default()
                },
                limits: freshness::ClientLimits {
                    honour_client_no_cache: config.cache.client_no_cache,
                    min_client_max_age: config.cache.min_client_max_age_secs,
                    revalidate_interval: Duration::from_millis(
                        config.cache.client_revalidate_interval_ms,
                    ),
                },
                pass_for: PASS_FOR,
                store_set_cookie: config.cache.store_set_cookie,
                reading: Reading {
                    targeted: config.cache.targeted_fields.clone(),
                    pass_targeted: config.cache.pass_targeted_fields,
                },
                forwarding: Forwarding {
                    drop,
                    proto: "http",
                },
                max_variants: config.cache.max_variants,
            };
            let c = &config.cache;
            let settings = crate::precompress::Settings {
                brotli_quality: c.brotli_quality,
                // 4 MiB: brotli's own default window, and a bounded encoder.
                brotli_window: 22,
                gzip_level: c.gzip_level,
                ..Default::default()
            };
            let workers = match c.compress_workers {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let compressor = Compressor::new(workers, c.compress_queue, settings)
                .map_err(|e| ServeError::Origin(format!("compression threads: {e}")))?;
            Some(Origin::new(client, rules, disk, clock.clone(), compressor))
        }
        None => None,
    };
    let edge = Edge::open(
        root,
        policy,
        config.cache.memory_bytes as usize,
        config.cache.max_object_bytes as usize,
        Duration::from_millis(config.server.refresh_ms),
        if config.cache.admission == "always" {
            Admission::Always
        } else {
            Admission::SecondHit
        },
        origin,
    )
    .map_err(ServeError::Root)?;
    let edge = Arc::new(edge);
    let tls = if config.tls.enabled() {
        Some(Tls::new(&config.tls)?)
    } else {
        None
    };
    let path = |p: &String| Some(p.clone()).filter(|p| !p.is_empty());
    let state = web::Data::new(State {
        metrics: metrics::Metrics::new(edge.clone(), tls.as_ref().map(|t| t.stats.clone())),
        edge,
        cors: cors::Cors::new(&config.cors),
        health_path: path(&config.server.health_path),
        metrics_path: path(&config.server.metrics_path),
        purge_token: config.purge.effective_token(),
        purge_path: config.purge.path.clone(),
        clock,
        test_clock: Clock::settable(),
        https: https::Https {
            hsts: Some(&config.tls.hsts)
                .filter(|h| !h.is_empty() && tls.is_some())
                .and_then(|h| HeaderValue::from_str(h).ok()),
            redirect: config.tls.redirect_http && tls.is_some(),
            port: Default::default(),
        },
        max_streams: config.http2.max_concurrent_streams,
    });
    let addr = config.server.listen;
    let app_state = state.clone();
    let h2 = &config.http2;
    let server = HttpServer::new(move || {
        let state = &app_state;
        // This factory runs once per worker thread: each gets its own counters.
        App::new()
            .app_data(state.clone())
            .app_data(state.metrics.worker())
            .default_service(web::to(handler::handle))
    })
    .workers(config.worker_count())
    .shutdown_timeout(config.server.shutdown_timeout_secs)
    // Responses are written whole; Nagle would hold the last segment of
    // each back for the client's delayed ACK (tens of ms per request).
    .tcp_nodelay(true)
    .on_connect(connection::on_connect(
        tls.as_ref().map(|t| t.stats.clone()),
    ))
    .h2_initial_window_size(h2.initial_stream_window)
    .h2_initial_connection_window_size(h2.initial_connection_window)
    .tls_handshake_timeout(Duration::from_millis(config.tls.handshake_timeout_ms));
    let server = if h2.h2c {
        server.bind_auto_h2c(addr)
    } else {
        server.bind(addr)
    }
    .map_err(|source| ServeError::Bind { addr, source })?;
    let (server, resolver) = match tls {
        Some(tls) => {
            let Some(addr) = config.tls.listen_addr() else {
                return Err(ServeError::Tls(TlsError::File {
                    key: "tls.listen".into(),
                    path: config.tls.listen.clone().into(),
                    reason: "does not resolve to an address".into(),
                }));
            };
            let server = server
                .bind_rustls_0_23(addr, tls.server_config)
                .map_err(|source| ServeError::Bind { addr, source })?;
            (server, Some(tls.resolver))
        }
        None => (server, None),
    };
    let (mut addrs, mut tls_addrs) = (Vec::new(), Vec::new());
    for (a, scheme) in server.addrs_with_scheme() {
        if scheme == "https" {
            tls_addrs.push(a);
        } else {
            addrs.push(a);
        }
    }
    if let Some(a) = tls_addrs.first() {
        let _ = state.https.port.set(a.port());
    }
    Ok(Started {
        addrs,
        tls_addrs,
        tls: resolver,
        server: server.run(),
    })
}

fn invalid_cc(key: &str) -> ServeError {
    ServeError::Config(ConfigError::Invalid {
        origin: "config".into(),
        key: format!("cache_control.{key}"),
        value: String::new(),
        allowed: "a header value".into(),
    })
}

/// Starts the server, logs where it listens, and serves until shutdown.
pub async fn run(config: &Config) -> Result<(), ServeError> {
    let started = start(config)?;
    for addr in &started.addrs {
        tracing::info!(root = %config.server.root.display(), "listening on http://{addr}");
    }
    for addr in &started.tls_addrs {
        tracing::info!("listening on https://{addr}");
    }
    started.server.await.map_err(ServeError::Run)?;
    tracing::info!("shut down");
    Ok(())
}
