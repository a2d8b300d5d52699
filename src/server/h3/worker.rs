//! One HTTP/3 worker thread: its own runtime (as actix-server's workers
//! have), its own instance of the app, and its own QUIC endpoint on one
//! of the listener's sockets (`socket`). It accepts connections until the
//! node stops, then waits for them to finish (`conn`) and closes.

use std::net::UdpSocket;
use std::rc::Rc;
use std::sync::Arc;

use actix_http::body::BoxBody;
use actix_http::{Request, Response};
use arc_swap::ArcSwap;
use futures_util::future::LocalBoxFuture;
use tokio::sync::watch;

use super::tasks::Tasks;

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
    /// Set when the node stops.
    pub stop: watch::Receiver<super::Stop>,
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
    let open = Rc::new(Tasks::default());
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                open.spawn(super::conn::serve(incoming, ctx.clone()));
            }
            _ = stop.wait_for(|s| *s != super::Stop::Running) => break,
        }
    }
    // No new connections; the open ones finish theirs (each within the
    // shutdown timeout), then the endpoint sends its last packets.
    endpoint.set_server_config(None);
    open.none().await;
    endpoint.close(0u32.into(), b"");
    let _ = tokio::time::timeout(super::conn::CLOSE_WAIT, endpoint.wait_idle()).await;
    Ok(())
}
