//! The server around the app: actix-server's workers and one actix-http
//! service per listener, set up as actix-web's `HttpServer` sets them up
//! (same timeouts, ALPN `h2` then `http/1.1`, h2c detected by the client
//! preface, `TCP_NODELAY`, graceful shutdown notice to open connections),
//! but built here so that every connection's I/O can be wrapped: HTTP/2
//! connections, over TLS or h2c, coalesce their writes ([`Coalesced`]).

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_server::{GracefulShutdownSignal, Server, ServerBuilder};
use actix_service::{
    fn_service, map_config, IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt,
};
use actix_tls::accept::rustls_0_23::{Acceptor, TlsStream};
use actix_web::dev::{AppConfig, Extensions};
use actix_web::http::KeepAlive;
use actix_web::rt::net::TcpStream;

use super::coalesce::Coalesced;

/// The per-connection callback (see `connection::on_connect`).
pub type OnConnect = Arc<dyn Fn(&dyn Any, &mut Extensions) + Send + Sync>;

/// What every listener's service is set up with.
pub struct Settings {
    /// Worker threads (each serves every listener).
    pub workers: usize,
    /// Seconds open connections get to finish at a graceful stop.
    pub shutdown_timeout: u64,
    /// `http2.initial_stream_window`.
    pub h2_stream_window: u32,
    /// `http2.initial_connection_window`.
    pub h2_connection_window: u32,
    /// `tls.handshake_timeout_ms`.
    pub handshake_timeout: Duration,
    /// `limits.keep_alive_secs`.
    pub keep_alive: KeepAlive,
    /// `limits.header_timeout_secs`: a connection's first request head
    /// must arrive within it.
    pub header_timeout: Duration,
    /// Called with each new connection's I/O (a `Coalesced<…>`).
    pub on_connect: OnConnect,
}

/// The client's first bytes on an h2c connection (RFC 9113 §3.4), as much
/// of them as actix-http looks for.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2";

/// The HTTP service for connections of type `$io`, running the app of
/// `$factory` (a macro: the service's type cannot be named). The keep-alive
/// and first-head timeouts are `[limits]`'s; the disconnect timeout is
/// `HttpServer`'s default. Two of the calls are public but hidden from
/// the docs (`graceful_shutdown_signal`, `AppConfig::__priv_test_new`):
/// they are how `HttpServer` itself does it; should an actix release drop
/// them, the build fails here (Cargo.lock pins the versions meanwhile).
macro_rules! http_service {
    ($io:ty, $factory:expr, $settings:expr, $shutdown:expr, $secure:expr, $addr:expr) => {{
        let (settings, addr, secure): (&Settings, SocketAddr, bool) = ($settings, $addr, $secure);
        let shutdown = $shutdown.clone();
        let on_connect = settings.on_connect.clone();
        let app = ($factory)()
            .into_factory()
            .map_err(|err| err.into().error_response());
        HttpService::build()
            .graceful_shutdown_signal(move || {
                let s = shutdown.clone();
                async move { s.notified().await }
            })
            .keep_alive(settings.keep_alive)
            .client_request_timeout(settings.header_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .h1_allow_half_closed(true)
            .h2_initial_window_size(settings.h2_stream_window)
            .h2_initial_connection_window_size(settings.h2_connection_window)
            .local_addr(addr)
            .on_connect_ext(move |io: &$io, ext: &mut Extensions| on_connect(io as &dyn Any, ext))
            .finish(map_config(app, move |_| {
                // What `HttpServer` passes (its constructor is not public).
                AppConfig::__priv_test_new(secure, addr.to_string(), addr)
            }))
    }};
}

/// HTTP/2 when the connection starts with the h2c preface, else HTTP/1:
/// peeks until the bytes that arrived differ from the preface or hold all
/// of it (a preface may come in more than one segment).
async fn sniff(io: &TcpStream) -> io::Result<Protocol> {
    let mut buf = [0; H2_PREFACE.len()];
    loop {
        let n = io.peek(&mut buf).await?;
        if n == 0 || buf[..n] != H2_PREFACE[..n] {
            return Ok(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        // A part of the preface: peeking again at once would see the same
        // bytes; wait a moment for the rest.
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Builds the server: workers, signals left to the caller, listeners added
/// with [`Listeners::plain`] and [`Listeners::tls`].
pub struct Listeners<F, S, B> {
    builder: ServerBuilder,
    shutdown: GracefulShutdownSignal,
    factory: F,
    settings: Arc<Settings>,
    addrs: Vec<(SocketAddr, &'static str)>,
    _app: PhantomData<fn() -> (S, B)>,
}

impl<F, I, S, B> Listeners<F, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    /// A server running `factory`'s app on every worker.
    pub fn new(factory: F, settings: Settings) -> Self {
        let builder = ServerBuilder::default()
            .workers(settings.workers)
            .shutdown_timeout(settings.shutdown_timeout)
            .disable_signals();
        let shutdown = builder.graceful_shutdown_signal();
        Listeners {
            builder,
            shutdown,
            factory,
            settings: Arc::new(settings),
            addrs: Vec::new(),
            _app: PhantomData,
        }
    }

    /// Serves plain HTTP/1 on `lst`, and h2c (prior knowledge) with `h2c`.
    pub fn plain(mut self, lst: TcpListener, h2c: bool) -> io::Result<Self> {
        let addr = lst.local_addr()?;
        self.addrs.push((addr, "http"));
        let (factory, settings, shutdown) = (
            self.factory.clone(),
            self.settings.clone(),
            self.shutdown.clone(),
        );
        self.builder = self.builder.listen(format!("http-{addr}"), lst, move || {
            let svc = http_service!(
                Coalesced<TcpStream>,
                factory,
                &settings,
                shutdown,
                false,
                addr
            );
            let header_timeout = settings.header_timeout;
            fn_service(move |io: TcpStream| async move {
                let proto = if h2c {
                    // A client that connects and sends nothing is dropped
                    // after `limits.header_timeout_secs`, as one that
                    // stalls its first head is.
                    actix_web::rt::time::timeout(header_timeout, sniff(&io))
                        .await
                        .map_err(|_| actix_http::error::DispatchError::SlowRequestTimeout)??
                } else {
                    Protocol::Http1
                };
                let _ = io.set_nodelay(true);
                let peer = io.peer_addr().ok();
                Ok::<_, actix_http::error::DispatchError>((
                    Coalesced::new(io, proto == Protocol::Http2),
                    proto,
                    peer,
                ))
            })
            .and_then(svc)
        })?;
        Ok(self)
    }

    /// Serves HTTPS on `lst` with `config`: HTTP/2 or HTTP/1.1 by ALPN.
    pub fn tls(mut self, lst: TcpListener, mut config: rustls::ServerConfig) -> io::Result<Self> {
        let addr = lst.local_addr()?;
        self.addrs.push((addr, "https"));
        let mut protos = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        protos.append(&mut config.alpn_protocols);
        config.alpn_protocols = protos;
        let (factory, settings, shutdown) = (
            self.factory.clone(),
            self.settings.clone(),
            self.shutdown.clone(),
        );
        self.builder = self.builder.listen(format!("https-{addr}"), lst, move || {
            let svc = http_service!(
                Coalesced<TlsStream<TcpStream>>,
                factory,
                &settings,
                shutdown,
                true,
                addr
            );
            let mut acceptor = Acceptor::new(config.clone());
            acceptor.set_handshake_timeout(settings.handshake_timeout);
            acceptor
                .map_init_err(|_| ())
                .map_err(|_| ())
                .and_then(fn_service(|io: TlsStream<TcpStream>| async move {
                    let h2 = io.get_ref().1.alpn_protocol().is_some_and(|p| p == b"h2");
                    let proto = if h2 { Protocol::Http2 } else { Protocol::Http1 };
                    let _ = io.get_ref().0.set_nodelay(true);
                    let peer = io.get_ref().0.peer_addr().ok();
                    Ok::<_, ()>((Coalesced::new(io, h2), proto, peer))
                }))
                .and_then(svc.map_err(|_| ()))
        })?;
        Ok(self)
    }

    /// The addresses bound, with their scheme (`http` or `https`).
    pub fn addrs(&self) -> &[(SocketAddr, &'static str)] {
        &self.addrs
    }

    /// Starts the workers.
    pub fn run(self) -> Server {
        self.builder.run()
    }
}
