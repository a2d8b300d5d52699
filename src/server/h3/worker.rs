//! One HTTP/3 worker thread: its own runtime (as actix-server's workers
//! have), its own instance of the app, and its own QUIC endpoint on one
//! of the listener's sockets (`socket`). It accepts connections until the
//! node stops, then waits for them to finish (`conn`) and closes.

use std::cell::Cell;
use std::net::UdpSocket;
use std::rc::Rc;
use std::sync::Arc;

use actix_http::body::BoxBody;
use actix_http::{Request, Response};
use arc_swap::ArcSwap;
use futures_util::future::LocalBoxFuture;
use tokio::sync::{watch, Notify};

use super::{Settings, Shared};
use crate::server::limits::conns::Connections;
use crate::server::live::Live;

/// The app as a worker calls it: a request in, a response out.
pub type App = Rc<dyn Fn(Request) -> LocalBoxFuture<'static, Response<BoxBody>>>;

/// What a worker's connections share.
pub struct Ctx {
    /// The app instance of this worker.
    pub app: App,
    /// The listener's settings.
    pub settings: Arc<Settings>,
    /// Figures and handshakes in progress, over every worker.
    pub shared: Arc<Shared>,
    /// The node-wide connection count.
    pub conns: Arc<Connections>,
    /// The config of the moment (`limits.send_timeout`).
    pub live: Arc<ArcSwap<Live>>,
    /// `Alt-Svc` of the moment (for answers made without the app).
    pub advert: Arc<super::Advert>,
    /// The node's clock (the send timeout is measured on it).
    pub clock: Arc<crate::clock::Clock>,
    /// Set when the node stops.
    pub stop: watch::Receiver<super::Stop>,
}

/// Connections open on this worker, and a wake-up when none are.
#[derive(Default)]
struct Open {
    n: Cell<usize>,
    none: Notify,
}

/// Runs a worker on `socket` until the node stops. Must run inside the
/// thread's actix runtime.
pub async fn run(
    socket: UdpSocket,
    quic: (quinn::EndpointConfig, quinn::ServerConfig),
    ctx: Ctx,
) -> std::io::Result<()> {
    let (endpoint_config, server_config) = quic;
    let endpoint = quinn::Endpoint::new(
        endpoint_config,
        Some(server_config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )?;
    let ctx = Rc::new(ctx);
    let open = Rc::new(Open::default());
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                open.n.set(open.n.get() + 1);
                let (ctx, open) = (ctx.clone(), open.clone());
                actix_web::rt::spawn(async move {
                    super::conn::serve(incoming, ctx).await;
                    let n = open.n.get() - 1;
                    open.n.set(n);
                    if n == 0 {
                        open.none.notify_waiters();
                    }
                });
            }
            _ = stop.wait_for(|s| *s != super::Stop::Running) => break,
        }
    }
    // No new connections; the open ones finish theirs (each within the
    // shutdown timeout), then the endpoint sends its last packets.
    endpoint.set_server_config(None);
    while open.n.get() > 0 {
        let none = open.none.notified();
        if open.n.get() == 0 {
            break;
        }
        none.await;
    }
    endpoint.close(0u32.into(), b"");
    let _ = tokio::time::timeout(super::conn::CLOSE_WAIT, endpoint.wait_idle()).await;
    Ok(())
}
