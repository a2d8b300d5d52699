//! actix-web wiring: builds the shared state from a config (`prepare`, the
//! one path by which `serve` and `check` refuse a config), binds, runs
//! until SIGTERM/Ctrl-C, reloads on SIGHUP (`reload`: the config of the
//! moment is one swappable value, `live`), and shuts down gracefully
//! (`shutdown`). The request logic is in `handler` (dispatch) and `respond`
//! (one asset → one response); `access_log` logs each request once its body
//! is sent. `listeners` builds the server around the app (one actix-http
//! service per listener), wrapping HTTP/2 connections in `coalesce`.
//!
//! Around them: `bind` (every address a socket), `connection` (per
//! connection counts), `limits` (what one client may ask), `cdn_loop` (a
//! request that came round is refused, RFC 8586), `caught` (a panic
//! becomes a 500), `errors` (one-line refusals), `health` and `ready` (the
//! probes' endpoints), `peer` (the cluster's own requests), `purge`, `cors`,
//! `https` (HSTS, redirect), `passthrough` (what the origin said: `Age`,
//! `Cache-Status`, uncacheable answers), `relay` (streamed origin bodies),
//! `slices` (large bodies in memory), `file_body` (bodies from disk) and
//! `stored_body` (disk-cache parts streamed a verified chunk at a time),
//! `cache_outcome` (how the cache took part, in one word), `metrics`, and
//! `restart` (the keys a reload cannot apply). The map of the whole is
//! docs/architecture.md.

pub(crate) mod access_log;
pub(crate) mod bind;
mod cache_outcome;
mod caught;
mod cdn_loop;
mod coalesce;
mod connection;
pub mod cors;
mod errors;
mod file_body;
mod h3;
mod handler;
mod health;
mod https;
pub(crate) mod interim;
mod limits;
mod listeners;
pub(crate) mod live;
mod metrics;
mod pages;
mod passthrough;
mod peer;
mod purge;
mod ready;
mod relay;
pub mod reload;
pub mod respond;
pub mod restart;
mod shutdown;
mod slices;
mod stored_body;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::{web, App};
use arc_swap::ArcSwap;

use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::tls::{SniResolver, Tls, TlsError};
use live::{Live, Resources};
use reload::Reloader;

/// How long requests for a key skip coalescing after the origin answered
/// it uncacheably (so they do not queue behind each other).
const PASS_FOR: Duration = Duration::from_secs(10);

/// What every worker shares for the life of the process.
pub struct State {
    /// What the config of the moment sets: each request loads it once, at
    /// its start; a reload swaps it.
    live: Arc<ArcSwap<Live>>,
    /// Every worker's counters (registered once, kept across reloads).
    metrics: metrics::Metrics,
    /// The clock every freshness rule and `Age` reads.
    clock: Arc<Clock>,
    /// `POST /_edge/clock` may move it (`CDN_EDGE_TEST_CLOCK=1`).
    test_clock: bool,
    /// The HTTPS listener's port, set once it is bound (for the redirect).
    https_port: OnceLock<u16>,
    /// Readiness: failed while draining (see `shutdown`).
    readiness: Arc<ready::Readiness>,
    /// The cluster, with `[cluster]`: tells peer requests from outside ones.
    cluster: Option<Arc<crate::cluster::Cluster>>,
    /// `Alt-Svc` for HTTP/3, while its listener is up.
    alt_svc: Arc<h3::Advert>,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The static root cannot be used.
    #[error(
        "server.{0}: give server.root (or --root) an existing folder, or \"\" with origin.url to serve from an origin only"
    )]
    Root(std::io::Error),
    /// The origin client cannot be built.
    #[error("origin client")]
    OriginClient(#[source] rustls::Error),
    /// The cluster's client cannot be built.
    #[error("cluster client")]
    ClusterClient(#[source] reqwest::Error),
    /// The cluster's token or address cannot be sent to peers.
    #[error(transparent)]
    Route(#[from] crate::pull::RouteError),
    /// A list of request header patterns (`origin.drop_request_headers`,
    /// `origin.keep_request_headers`) is not one.
    #[error("{key}")]
    Headers {
        /// The key.
        key: &'static str,
        /// The first pattern that is not one.
        source: crate::http::forward::BadPattern,
    },
    /// The compression threads cannot be started.
    #[error("compression threads")]
    Compress(#[source] std::io::Error),
    /// The disk cache directory cannot be used.
    #[error("cache.dir (or set cache.dir_required = false to serve from memory only)")]
    Disk(#[source] std::io::Error),
    /// The access log cannot be opened.
    #[error(transparent)]
    Log(#[from] access_log::OpenError),
    /// The listen address does not resolve.
    #[error("server.listen = {addr}")]
    Listen {
        /// The address as written.
        addr: String,
        /// Why it stands for no socket address.
        source: crate::listen::ResolveError,
    },
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

/// A bound server, not yet awaited. It does not watch signals itself:
/// `run` does (see `shutdown` and `reload`).
pub struct Started {
    /// The plain HTTP addresses actually bound (port 0 resolved).
    pub addrs: Vec<SocketAddr>,
    /// The HTTPS addresses actually bound.
    pub tls_addrs: Vec<SocketAddr>,
    /// The HTTP/3 listener, when `[http3]` is on and its socket bound.
    pub http3: Option<h3::Http3>,
    /// The live certificates, for a reload to swap
    /// ([`SniResolver::reload`]); `None` without `[tls]`.
    pub tls: Option<Arc<SniResolver>>,
    /// The running server; await it to serve until shutdown.
    pub server: actix_web::dev::Server,
    /// Applies a config read again (see `reload::watch`).
    pub reloader: Reloader,
    /// The access log (also while off: a reload may turn it on);
    /// `finish` it after the server stopped.
    pub log: access_log::AccessLog,
    /// Readiness, failed by `shutdown` while draining.
    pub readiness: Arc<ready::Readiness>,
}

/// Everything `serve` builds from a config before it binds: the state the
/// workers share, and the addresses to listen on.
pub struct Prepared {
    state: web::Data<State>,
    /// What every generation of the config shares.
    resources: Resources,
    /// The config it was prepared from.
    config: Config,
    /// The addresses `server.listen` resolved to.
    pub listen: Vec<SocketAddr>,
    workers: usize,
    shutdown_timeout: u64,
    /// The TLS listener: its certificates and address.
    tls: Option<(Tls, SocketAddr)>,
    http2: crate::config::Http2Config,
    /// The HTTP/3 listener's figures, with `[http3]`.
    http3: Option<Arc<h3::Shared>>,
    handshake_timeout: Duration,
    /// The access log, opened (so `check` finds a path it cannot write).
    log: access_log::AccessLog,
    readiness: Arc<ready::Readiness>,
}

/// Builds the state, binds the listen addresses and starts the workers.
/// Must be called inside an async runtime. A `[cluster]` peers file or DNS
/// name is not read here: call [`Prepared::start_cluster`] between
/// [`prepare`] and [`Prepared::bind`] (as `run` does) to read and watch it.
pub fn start(config: &Config) -> Result<Started, ServeError> {
    prepare(config)?.bind()
}

/// Checks that the server's configuration can be used: everything `serve`
/// does before binding (the config's values, the listen address resolving,
/// the root, the disk cache directory, the origin client, the
/// certificates), through the same code, then drops it all. Must be called
/// inside an async runtime. Every listener it would bind, as a scheme
/// (`http`, `https`, `h3` for HTTP/3 over UDP) and an address.
pub fn check(config: &Config) -> Result<Vec<(&'static str, SocketAddr)>, ServeError> {
    let p = prepare_as(config, true)?;
    let plain = p.listen.iter().map(|a| ("http", *a));
    let quic = config.http3.listen_addr().filter(|_| p.http3.is_some());
    if let Some((tls, _)) = &p.tls {
        quic_tls(tls, config)?;
    }
    Ok(plain
        .chain(p.tls.iter().map(|(_, a)| ("https", *a)))
        .chain(quic.map(|a| ("h3", a)))
        .collect())
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
    Ok(Some((tls, tls_listen(config)?)))
}

/// The QUIC listener's rustls config, on the HTTPS listener's certificates.
fn quic_tls(tls: &Tls, config: &Config) -> Result<rustls::ServerConfig, ServeError> {
    Ok(crate::tls::quic::server_config(
        &tls.resolver,
        &config.tls,
        config.http3.early_data,
    )?)
}

/// The HTTPS listener's address (`tls.listen`), resolved.
fn tls_listen(config: &Config) -> Result<SocketAddr, ServeError> {
    config.tls.listen_addr().ok_or_else(|| {
        ServeError::Tls(TlsError::File {
            key: "tls.listen".into(),
            path: config.tls.listen.clone().unwrap_or_default().into(),
            reason: "does not resolve to an address".into(),
        })
    })
}

/// The addresses `server.listen` resolves to.
fn listen_addrs(config: &Config) -> Result<Vec<SocketAddr>, ServeError> {
    config
        .server
        .listen
        .resolve()
        .map_err(|source| ServeError::Listen {
            addr: config.server.listen.to_string(),
            source,
        })
}

/// Builds everything `serve` needs from `config`, without binding: every
/// reason `serve` has to refuse a config at start, except a listen
/// address that cannot be bound, is found here.
pub fn prepare(config: &Config) -> Result<Prepared, ServeError> {
    prepare_as(config, false)
}

/// `prepare`; with `checking`, the disk cache's directory is only checked,
/// not opened (`check` runs beside a live node using it).
fn prepare_as(config: &Config, checking: bool) -> Result<Prepared, ServeError> {
    config.validate("config")?;
    let tls = certificates(config)?;
    let listen = listen_addrs(config)?;
    let log = access_log::AccessLog::open(&config.log)?;
    let resources = Resources::open(config, checking)?;
    let live = Arc::new(ArcSwap::from_pointee(Live::build(
        config, &resources, None,
    )?));
    let readiness = Arc::new(ready::Readiness::default());
    let http3 = (config.http3.enabled() && tls.is_some()).then(Arc::default);
    let state = web::Data::new(State {
        metrics: metrics::Metrics::new(
            live.clone(),
            tls.as_ref().map(|(t, _)| t.stats.clone()),
            Some(log.stats()),
            resources.cluster.clone(),
            http3.clone(),
        ),
        live,
        clock: resources.clock.clone(),
        test_clock: Clock::settable(),
        https_port: OnceLock::new(),
        readiness: readiness.clone(),
        cluster: resources.cluster.clone(),
        alt_svc: Arc::default(),
    });
    Ok(Prepared {
        state,
        resources,
        config: config.clone(),
        listen,
        workers: config.worker_count(),
        shutdown_timeout: config.server.shutdown_timeout.as_secs(),
        tls,
        http2: config.http2.clone(),
        http3,
        handshake_timeout: config.tls.handshake_timeout,
        log,
        readiness,
    })
}

impl Prepared {
    /// With `[cluster]`: reads the peers' source once (a failure is logged
    /// and leaves the node alone until a later read works) and starts the
    /// task that keeps the set current. Call before [`Prepared::bind`], so
    /// the first requests already see the peers. With `cluster.probe_ms`,
    /// starts the probes too. The cluster, to [`Cluster::stop`] its tasks
    /// at shutdown (they also end with the runtime).
    ///
    /// [`Cluster::stop`]: crate::cluster::Cluster::stop
    pub async fn start_cluster(&self) -> Option<Arc<crate::cluster::Cluster>> {
        let c = self.resources.cluster.as_ref()?;
        c.start().await;
        tracing::info!("cluster peers: {}", c.describe());
        Some(c.clone())
    }

    /// Binds the listen addresses and starts the workers.
    pub fn bind(self) -> Result<Started, ServeError> {
        let listeners = bind::bind(&self.listen)?;
        self.serve_on(listeners)
    }

    /// Starts the workers on listeners bound already (in place of
    /// `server.listen`): a test that must know its nodes' ports before
    /// their configs binds them first.
    pub fn serve_on(self, listeners: Vec<std::net::TcpListener>) -> Result<Started, ServeError> {
        let state = self.state;
        let app_state = state.clone();
        let feeder = self.log.feeder();
        let h2 = &self.http2;
        let lim = &self.config.limits;
        limits::conns::raise_fd_limit(lim.max_connections);
        let conns = limits::conns::Connections::new(
            state.live.clone(),
            lim.keep_alive + lim.header_timeout,
            state.clock.clone(),
        );
        let tls_stats = connection::on_connect(self.tls.as_ref().map(|(t, _)| t.stats.clone()));
        let h3_app = {
            let (state, feeder) = (app_state.clone(), feeder.clone());
            move |addr| {
                let (state, feeder) = (state.clone(), feeder.clone());
                Box::pin(h3::app_of(move || app(&state, &feeder), addr)) as _
            }
        };
        let factory = move || app(&app_state, &feeder);
        // `run` handles the signals (`shutdown`): drain, then stop.
        // Responses are written whole, with `TCP_NODELAY`: Nagle would
        // hold the last segment of each back for the client's delayed ACK
        // (tens of ms per request).
        let mut server = listeners::Listeners::new(
            factory,
            listeners::Settings {
                workers: self.workers,
                shutdown_timeout: self.shutdown_timeout,
                h2_stream_window: h2.initial_stream_window,
                h2_connection_window: h2.initial_connection_window,
                handshake_timeout: self.handshake_timeout,
                keep_alive: match lim.keep_alive {
                    Duration::ZERO => actix_web::http::KeepAlive::Disabled,
                    d => actix_web::http::KeepAlive::Timeout(d),
                },
                header_timeout: lim.header_timeout,
                on_connect: Arc::new({
                    let conns = conns.clone();
                    move |conn, ext| {
                        conns.on_connect(conn, ext);
                        tls_stats(conn, ext);
                    }
                }),
            },
        );
        for l in listeners {
            let addr = l.local_addr().map_err(ServeError::Run)?;
            server = server
                .plain(l, h2.h2c)
                .map_err(|source| bind::BindError { addr, source })?;
        }
        let mut http3 = None;
        let resolver = match self.tls {
            Some((tls, addr)) => {
                let l = bind::bind(&[addr])?
                    .pop()
                    .ok_or_else(|| ServeError::Run(std::io::ErrorKind::AddrNotAvailable.into()))?;
                let quic = match self.http3 {
                    Some(shared) => h3::Settings::new(
                        &self.config,
                        quic_tls(&tls, &self.config)?,
                        self.workers,
                        state.clock.clone(),
                    )
                    .map(|s| (shared, s)),
                    None => None,
                };
                if let Some((shared, settings)) = quic {
                    let at = settings.addr;
                    // A socket that cannot be bound leaves the node on TCP
                    // alone, without `Alt-Svc`: browsers keep using HTTP/2.
                    match h3::start(
                        h3_app,
                        settings,
                        shared,
                        conns.clone(),
                        state.live.clone(),
                        state.alt_svc.clone(),
                    ) {
                        Ok(h) => http3 = Some(h),
                        Err(e) => tracing::error!(
                            "http3.listen = {at}: cannot listen ({e}); serving without HTTP/3"
                        ),
                    }
                }
                server = server
                    .tls(l, tls.server_config)
                    .map_err(|source| bind::BindError { addr, source })?;
                Some(tls.resolver)
            }
            None => None,
        };
        let (mut addrs, mut tls_addrs) = (Vec::new(), Vec::new());
        for &(a, scheme) in server.addrs() {
            if scheme == "https" {
                tls_addrs.push(a);
            } else {
                addrs.push(a);
            }
        }
        if let Some(a) = tls_addrs.first() {
            let _ = state.https_port.set(a.port());
        }
        let mut reloader = Reloader::new(
            state.live.clone(),
            self.resources,
            self.config,
            resolver.clone(),
        );
        reloader.add(self.log.reload_part());
        Ok(Started {
            addrs,
            tls_addrs,
            http3,
            tls: resolver,
            server: server.run(),
            reloader,
            log: self.log,
            readiness: self.readiness,
        })
    }
}

/// The app every worker thread runs (once per listener): the shared
/// state, and counters and a log buffer of the worker's own.
fn app(
    state: &web::Data<State>,
    feeder: &access_log::Feeder,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state.clone())
        .app_data(handler::Worker {
            counters: state.metrics.worker(),
            log: feeder.worker(),
        })
        .default_service(web::to(caught::handle))
}

/// The error of a `cache_control` value that is not a header value.
fn invalid_cc(key: &str) -> ServeError {
    ServeError::Config(ConfigError::Invalid {
        origin: "config".into(),
        key: format!("cache_control.{key}"),
        value: String::new(),
        allowed: "a header value".into(),
    })
}

/// Starts the server, logs where it listens, and serves until shutdown.
/// Each SIGHUP reloads the config that `source` reads (see `reload`).
pub async fn run(
    config: &Config,
    source: impl Fn() -> Result<Config, ConfigError> + 'static,
) -> Result<(), ServeError> {
    // Before anything is logged as listening: from then on a SIGHUP must
    // reload, never kill.
    let hangups = reload::hangups().map_err(ServeError::Run)?;
    let prepared = prepare(config)?;
    let cluster = prepared.start_cluster().await;
    let started = prepared.bind()?;
    shutdown::watch(
        started.server.handle(),
        started.http3.as_ref().map(h3::Http3::stopper),
        started.readiness.clone(),
        config.server.drain,
        Some(started.log.reopen_flag()),
    )
    .map_err(ServeError::Run)?;
    for addr in &started.addrs {
        match &config.server.root {
            Some(root) => tracing::info!(root = %root.display(), "listening on http://{addr}"),
            None => tracing::info!(root = "(none: origin only)", "listening on http://{addr}"),
        }
    }
    for addr in &started.tls_addrs {
        tracing::info!("listening on https://{addr}");
    }
    if let Some(h) = &started.http3 {
        tracing::info!("listening on https://{} (HTTP/3, UDP)", h.addr);
    }
    reload::watch(hangups, started.reloader, source);
    let served = started.server.await;
    if let Some(h) = started.http3 {
        h.join().await;
    }
    if let Some(c) = cluster {
        c.stop();
    }
    started.log.finish(Duration::from_secs(2)).await;
    served.map_err(ServeError::Run)?;
    tracing::info!("shut down");
    Ok(())
}
