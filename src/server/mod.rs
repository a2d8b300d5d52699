//! actix-web wiring: builds the shared state from a config (`prepare`, the
//! one path by which `serve` and `check` refuse a config), binds, runs
//! until SIGTERM/Ctrl-C, and shuts down gracefully. The request logic is in
//! `handler` (dispatch) and `respond` (one asset → one response).

pub mod bind;
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
    /// The listen address does not resolve.
    #[error("server.listen = {addr}: {reason}")]
    Listen { addr: String, reason: String },
    /// A TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listen address cannot be bound.
    #[error(transparent)]
    Bind(#[from] bind::BindError),
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

/// Everything `serve` builds from a config before it binds: the state the
/// workers share, and the addresses to listen on.
pub struct Prepared {
    state: web::Data<State>,
    /// The addresses `server.listen` resolved to.
    pub listen: Vec<SocketAddr>,
    workers: usize,
    shutdown_timeout: u64,
    /// The TLS listener: its certificates and address.
    tls: Option<(Tls, SocketAddr)>,
    http2: crate::config::Http2Config,
    handshake_timeout: Duration,
}

/// Builds the state, binds the listen addresses and starts the workers.
/// Must be called inside an async runtime.
pub fn start(config: &Config) -> Result<Started, ServeError> {
    prepare(config)?.bind()
}

/// Checks that the server's configuration can be used: everything `serve`
/// does before binding (the config's values, the listen address resolving,
/// the root, the disk cache directory, the origin client, the
/// certificates), through the same code, then drops it all. Must be called
/// inside an async runtime.
pub fn check(config: &Config) -> Result<Vec<SocketAddr>, ServeError> {
    prepare(config).map(|p| p.listen)
}

/// The certificates' check, run by `serve` and `check` alike before
/// anything else is built: the TLS listener's certificates and keys
/// (`[tls]`) loaded, each error naming the file and the reason, and its
/// address resolved.
fn certificates(config: &Config) -> Result<Option<(Tls, SocketAddr)>, ServeError> {
    if !config.tls.enabled() {
        return Ok(None);
    }
    let tls = Tls::new(&config.tls)?;
    let Some(addr) = config.tls.listen_addr() else {
        return Err(ServeError::Tls(TlsError::File {
            key: "tls.listen".into(),
            path: config.tls.listen.clone().into(),
            reason: "does not resolve to an address".into(),
        }));
    };
    Ok(Some((tls, addr)))
}

/// Builds everything `serve` needs from `config`, without binding: every
/// reason `serve` has to refuse a config at start, except a listen
/// address that cannot be bound, is found here.
pub fn prepare(config: &Config) -> Result<Prepared, ServeError> {
    config.validate("config")?;
    let tls = certificates(config)?;
    let listen = config
        .server
        .listen
        .resolve()
        .map_err(|reason| ServeError::Listen {
            addr: config.server.listen.to_string(),
            reason,
        })?;
    let root = &config.server.root;
    let policy = Policy::new(
        HeaderValue::from_str(&config.cache_control.immutable)
            .map_err(|_| invalid_cc("immutable"))?,
        HeaderValue::from_str(&config.cache_control.revalidate)
            .map_err(|_| invalid_cc("revalidate"))?,
        config.fingerprints()?,
        config.rules()?,
    );
    let disk = if config.cache.dir.as_os_str().is_empty() {
        None
    } else {
        let d = DiskCache::open(&config.cache.dir, config.cache.disk_bytes)
            .map_err(|e| ServeError::Disk(format!("cache.dir: {e}")))?;
        Some(d)
    };
    let clock = Arc::new(Clock::new());
    let client = OriginClient::new(&config.origin, clock.clone()).map_err(ServeError::Origin)?;
    // Pulled text is always compressed; local files when asked.
    let compressor = (client.is_some() || config.cache.compress_local)
        .then(|| compressor(&config.cache))
        .transpose()?;
    let origin = match client.zip(compressor.clone()) {
        Some((client, compressor)) => {
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
    let edge = match compressor.filter(|_| config.cache.compress_local) {
        Some(c) => edge.compressing_local(c),
        None => edge,
    };
    let edge = Arc::new(edge);
    let (tls, tls_listen) = match tls {
        Some((t, a)) => (Some(t), Some(a)),
        None => (None, None),
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
    Ok(Prepared {
        state,
        listen,
        workers: config.worker_count(),
        shutdown_timeout: config.server.shutdown_timeout_secs,
        tls: tls.zip(tls_listen),
        http2: config.http2.clone(),
        handshake_timeout: Duration::from_millis(config.tls.handshake_timeout_ms),
    })
}

impl Prepared {
    /// Binds the listen addresses and starts the workers.
    pub fn bind(self) -> Result<Started, ServeError> {
        let listeners = bind::bind(&self.listen)?;
        let state = self.state;
        let app_state = state.clone();
        let h2 = &self.http2;
        let mut server = HttpServer::new(move || {
            let state = &app_state;
            // This factory runs once per worker thread: each gets its own counters.
            App::new()
                .app_data(state.clone())
                .app_data(state.metrics.worker())
                .default_service(web::to(handler::handle))
        })
        .workers(self.workers)
        .shutdown_timeout(self.shutdown_timeout)
        // Responses are written whole; Nagle would hold the last segment of
        // each back for the client's delayed ACK (tens of ms per request).
        .tcp_nodelay(true)
        .on_connect(connection::on_connect(
            self.tls.as_ref().map(|(t, _)| t.stats.clone()),
        ))
        .h2_initial_window_size(h2.initial_stream_window)
        .h2_initial_connection_window_size(h2.initial_connection_window)
        .tls_handshake_timeout(self.handshake_timeout);
        for l in listeners {
            let addr = l.local_addr().map_err(ServeError::Run)?;
            server = if h2.h2c {
                server.listen_auto_h2c(l)
            } else {
                server.listen(l)
            }
            .map_err(|source| bind::BindError { addr, source })?;
        }
        let resolver = match self.tls {
            Some((tls, addr)) => {
                let l = bind::bind(&[addr])?
                    .pop()
                    .ok_or_else(|| ServeError::Run(std::io::ErrorKind::AddrNotAvailable.into()))?;
                server = server
                    .listen_rustls_0_23(l, tls.server_config)
                    .map_err(|source| bind::BindError { addr, source })?;
                Some(tls.resolver)
            }
            None => None,
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
}

/// A handle on the process's compression pool (started by the first call:
/// once per process, whatever builds the state again) with `[cache]`'s
/// quality settings.
fn compressor(c: &crate::config::CacheConfig) -> Result<Compressor, ServeError> {
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
    Compressor::new(workers, c.compress_queue, settings)
        .map_err(|e| ServeError::Origin(format!("compression threads: {e}")))
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
