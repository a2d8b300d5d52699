//! HTTP/3: a QUIC listener (quinn, with h3 for HTTP/3's framing and
//! QPACK) beside the HTTPS one, with its certificates (`tls::quic`).
//! Requests are answered by the same app as every other listener's:
//! `exchange` is the seam that turns an HTTP/3 request into the request
//! actix-http's HTTP/2 dispatcher would make, and the app's response back.
//!
//! Threads: `server.workers` threads of its own (actix-server's workers
//! take only TCP listeners), each with its own runtime, app instance and
//! endpoint on a socket of its own, all bound to the one UDP address with
//! `SO_REUSEPORT` (`socket`). The QUIC and TLS settings are `quic`; one
//! connection's life (validation, limits, handshake, 0-RTT, requests,
//! GOAWAY) is `conn`; a worker's accept loop and shutdown is `worker`,
//! counting its connections and their requests with `tasks`;
//! `Alt-Svc` is `advert`.

pub mod advert;
mod conn;
mod exchange;
mod quic;
mod socket;
mod tasks;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_http::Request;
use actix_service::{IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::AppConfig;
use arc_swap::ArcSwap;
use futures_util::future::LocalBoxFuture;
use tokio::sync::watch;

pub use advert::Advert;

use crate::config::{Config, Http3Config};
use crate::server::limits::conns::Connections;
use crate::server::live::Live;

/// What the listener is built with.
pub struct Settings {
    /// Where it listens (UDP).
    pub addr: SocketAddr,
    /// Worker threads.
    pub workers: usize,
    /// `[http3]`.
    pub config: Http3Config,
    /// The QUIC rustls config (`tls::quic::server_config`).
    pub tls: rustls::ServerConfig,
    /// Largest request field section (QPACK-decoded), announced in
    /// SETTINGS (`SETTINGS_MAX_FIELD_SECTION_SIZE`, RFC 9114 §4.2.2).
    pub max_field_section_size: u64,
    /// `tls.handshake_timeout`.
    pub handshake_timeout: Duration,
    /// `server.shutdown_timeout`.
    pub shutdown_timeout: Duration,
    /// `limits.header_timeout`: a request's head must arrive within it
    /// once its stream is open.
    pub header_timeout: Duration,
    /// The node's clock.
    pub clock: Arc<crate::clock::Clock>,
}

impl Settings {
    /// The listener's settings for `config` (`None` without `[http3]`),
    /// with `tls` (`tls::quic::server_config`) on `workers` threads.
    pub fn new(
        config: &Config,
        tls: rustls::ServerConfig,
        workers: usize,
        clock: Arc<crate::clock::Clock>,
    ) -> Option<Settings> {
        Some(Settings {
            addr: config.http3.listen_addr()?,
            workers,
            config: config.http3.clone(),
            tls,
            max_field_section_size: field_section_size(&config.limits),
            handshake_timeout: config.tls.handshake_timeout,
            shutdown_timeout: config.server.shutdown_timeout,
            header_timeout: config.limits.header_timeout,
            clock,
        })
    }
}

/// HTTP/3's `SETTINGS_MAX_FIELD_SECTION_SIZE`: a request head of
/// `limits.max_head_bytes`, with the 32 bytes per field HTTP/3 counts
/// beside names and values (RFC 9114 §4.2.2) for `limits.max_headers`
/// fields and the four pseudo-fields. Every head the handler would take
/// fits; one that does not fit is one the handler would refuse, and h3
/// answers it a bare 431 before decoding it all. Heads between the two get
/// the handler's 431 with its reason, as over HTTP/2.
fn field_section_size(lim: &crate::config::LimitsConfig) -> u64 {
    (lim.max_head_bytes + 32 * (lim.max_headers + 4)) as u64
}

/// The listener's figures (for `/metrics`), over every worker.
#[derive(Debug, Default)]
pub struct Figures {
    /// Whether the listener is up.
    pub up: AtomicBool,
    /// Handshakes completed.
    pub handshakes: AtomicU64,
    /// Handshakes that failed or timed out.
    pub failed: AtomicU64,
    /// Clients sent a Retry (address validation).
    pub retries: AtomicU64,
    /// Connections refused at `limits.max_connections`.
    pub refused: AtomicU64,
    /// Connections open now (handshake done).
    pub open: AtomicUsize,
    /// Responses given up because the client took nothing within
    /// `limits.send_timeout`.
    pub stalled: AtomicU64,
}

impl Figures {
    /// Counts a handshake that completed (`true`), or failed or timed out.
    fn handshake(&self, completed: bool) {
        let c = if completed {
            &self.handshakes
        } else {
            &self.failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }
    fn stalled(&self) {
        self.stalled.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a connection open until the returned value is dropped.
    fn opened(&self) -> OpenConn<'_> {
        self.open.fetch_add(1, Ordering::Relaxed);
        OpenConn(self)
    }
}

/// An open connection, counted in [`Figures::open`].
struct OpenConn<'a>(&'a Figures);

impl Drop for OpenConn<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every worker shares.
#[derive(Debug, Default)]
pub struct Shared {
    /// The figures.
    pub figures: Figures,
    /// Handshakes in progress.
    handshaking: AtomicUsize,
}

impl Shared {
    /// Counts a handshake in progress until the returned value is dropped.
    fn handshaking(self: &Arc<Self>) -> Handshaking {
        let n = self.handshaking.fetch_add(1, Ordering::Relaxed);
        Handshaking(self.clone(), n)
    }
}

/// A handshake in progress, and how many were before it.
struct Handshaking(Arc<Shared>, usize);

impl Handshaking {
    /// Whether the node is busy enough to ask for a Retry (`above`: the
    /// bound, 0: always).
    fn busy(&self, above: u32) -> bool {
        self.1 >= above as usize
    }
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        self.0.handshaking.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where the listener is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Serving.
    Running,
    /// Stopping gracefully: GOAWAY, requests taken finish.
    Graceful,
    /// Stopping now (SIGQUIT): connections close at once.
    Now,
}

/// A running listener.
pub struct Http3 {
    /// The address bound (port 0 resolved).
    pub addr: SocketAddr,
    stopper: Stopper,
    threads: Vec<JoinHandle<()>>,
}

impl Http3 {
    /// A handle that stops it from elsewhere (the signal watcher).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops gracefully (unless stopping already) and waits for every
    /// worker to finish.
    pub async fn join(self) {
        self.stopper.stop(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Stops a listener: no new connections, no more `Alt-Svc`; gracefully
/// (GOAWAY on the open connections, which finish the requests they took
/// within `server.shutdown_timeout`) or at once.
#[derive(Clone)]
pub struct Stopper {
    stop: watch::Sender<Stop>,
    shared: Arc<Shared>,
    advert: Arc<Advert>,
}

impl Stopper {
    /// Starts the stop, or hastens one begun gracefully.
    pub fn stop(&self, graceful: bool) {
        self.advert.clear();
        self.shared.figures.up.store(false, Ordering::Relaxed);
        let to = if graceful { Stop::Graceful } else { Stop::Now };
        self.stop.send_if_modified(|s| {
            let later = to > *s;
            if later {
                *s = to;
            }
            later
        });
    }
}

/// Binds the listener and starts its workers, each running the app
/// `make_app` builds for the bound address ([`app_of`]). `Alt-Svc` is
/// advertised through `advert` while it is up.
pub fn start<M>(
    make_app: M,
    settings: Settings,
    shared: Arc<Shared>,
    conns: Arc<Connections>,
    live: Arc<ArcSwap<Live>>,
    advert: Arc<Advert>,
) -> std::io::Result<Http3>
where
    M: Fn(SocketAddr) -> LocalBoxFuture<'static, std::io::Result<worker::App>>
        + Send
        + Clone
        + 'static,
{
    let sockets = socket::bind(settings.addr, settings.workers)?;
    let addr = sockets[0].local_addr()?;
    let (gso, gro) = socket::offload(&sockets[0]);
    let quic = quic::configs(&settings.config, settings.tls.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let settings = Arc::new(settings);
    let (stop, stop_rx) = watch::channel(Stop::Running);
    let alive = Arc::new(AtomicUsize::new(sockets.len()));
    let mut threads = Vec::new();
    for (i, socket) in sockets.into_iter().enumerate() {
        let make_app = make_app.clone();
        let quic = quic.clone();
        let (settings, shared, conns, live, advert, alive) = (
            settings.clone(),
            shared.clone(),
            conns.clone(),
            live.clone(),
            advert.clone(),
            alive.clone(),
        );
        let stop = stop_rx.clone();
        let t = std::thread::Builder::new()
            .name(format!("cdn-edge-h3-{i}"))
            .spawn(move || {
                let sys = actix_web::rt::System::new();
                let figures = shared.clone();
                let advertised = advert.clone();
                let ran = sys.block_on(async move {
                    let app = make_app(addr).await?;
                    let ctx = worker::Ctx {
                        app,
                        advert: advertised,
                        settings,
                        shared,
                        conns,
                        live,
                        stop,
                    };
                    worker::run(socket, quic, ctx).await
                });
                if let Err(e) = ran {
                    tracing::error!("HTTP/3 worker {i}: {e}");
                }
                // The last worker gone takes the advertisement with it.
                if alive.fetch_sub(1, Ordering::AcqRel) == 1 {
                    advert.clear();
                    figures.figures.up.store(false, Ordering::Relaxed);
                }
            })?;
        threads.push(t);
    }
    shared.figures.up.store(true, Ordering::Relaxed);
    advert.set(addr.port(), settings.config.alt_svc_max_age.as_secs());
    tracing::info!("HTTP/3: UDP GSO {gso} segments per send, GRO {gro} per receive");
    Ok(Http3 {
        addr,
        stopper: Stopper {
            stop,
            shared,
            advert,
        },
        threads,
    })
}

/// A worker's instance of the app, built as actix-server builds one per
/// worker, with the HTTPS listener's app config (`secure`: HSTS and
/// `Alt-Svc` apply, the plain-HTTP redirect does not).
pub async fn app_of<F, I, S, B>(factory: F, addr: SocketAddr) -> std::io::Result<worker::App>
where
    F: Fn() -> I,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<actix_http::Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: actix_http::body::MessageBody + 'static,
{
    let config = AppConfig::__priv_test_new(true, addr.to_string(), addr);
    let svc = factory()
        .into_factory()
        .new_service(config)
        .await
        .map_err(|e| std::io::Error::other(format!("the app did not start: {e:?}")))?;
    let svc = std::rc::Rc::new(svc);
    Ok(std::rc::Rc::new(move |req| {
        let fut = svc.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(resp) => resp.into().map_into_boxed_body(),
                Err(e) => {
                    let e: actix_web::Error = e.into();
                    actix_http::Response::from(e.error_response()).map_into_boxed_body()
                }
            }
        })
    }))
}
