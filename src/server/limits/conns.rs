//! The node's client connections: how many it holds at once
//! (`limits.max_connections`, counted over every worker and listener), and
//! how long one may sit without a request in progress.
//!
//! A connection past the bound is closed as it arrives: on the plain
//! listener it is first told why (a raw `503` written on the socket,
//! before any request is read), on the HTTPS listener it is closed after
//! the handshake. Either way it holds its file descriptor for a moment
//! only, and never reaches a request handler.
//!
//! actix-http's timers close an idle keep-alive connection after
//! `limits.keep_alive_secs`, and answer 408 to a first request whose head
//! is late; but a later request's head has no timer there, so a client
//! that sends one byte of it every few seconds (slowloris) would hold its
//! connection forever. Each worker therefore sweeps its connections once a
//! second and shuts down every one that has had nothing in progress (no
//! request being handled, no response body being sent) for longer than
//! `keep_alive_secs + header_timeout_secs`. The same sweep enforces the
//! send timeout (`send`): on connections whose socket stopped taking what
//! is written, and on streamed responses whose client stopped taking them.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Extensions;
use actix_web::rt::net::TcpStream;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use arc_swap::ArcSwap;
use bytes::Bytes;
use socket2::SockRef;

use super::send::{self, ConnSend, OriginBody, Taken, Watch};
use crate::clock::Clock;
use crate::server::coalesce::Coalesced;
use crate::server::live::Live;
use crate::throttle::Throttle;

/// What a refused plain-HTTP connection is sent before it is closed.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n\
Retry-After: 1\r\nConnection: close\r\n\r\n\
too many connections to this node\n";

/// How often each worker sweeps its connections.
const SWEEP: Duration = Duration::from_secs(1);

/// Response bodies up to this size are written at once: their request is
/// done when its handler returns. Larger or streamed ones keep their
/// connection busy until sent.
const SMALL_BODY: u64 = 64 << 10;

/// Every worker's connections, counted.
pub struct Connections {
    /// Where `limits.max_connections` of the moment is read.
    live: Arc<ArcSwap<Live>>,
    /// How long a connection may have nothing in progress.
    idle: Duration,
    /// The node's clock, on which the send timeout is measured.
    clock: Arc<Clock>,
    /// Connections open now (refused ones until they are closed).
    open: AtomicUsize,
    /// Connections refused since start.
    refused: AtomicU64,
    /// Connections shut down for sitting without a request.
    reaped: AtomicU64,
    /// Refusals are logged one line per 10 s at most.
    log: Throttle,
}

/// One connection's state, shared by its extensions (which hold it for the
/// connection's life) and its worker's sweep (which holds it weakly).
struct Conn {
    /// The socket's descriptor, and its inode: checked before the sweep
    /// acts on the descriptor, in case the socket was closed meanwhile
    /// and the number reused.
    fd: RawFd,
    ino: u64,
    /// Requests being handled or responses being sent.
    busy: Cell<u32>,
    /// Since when nothing has been in progress.
    since: Cell<Instant>,
    /// Refused: shut down fully at the next sweep.
    refused: Cell<bool>,
    /// The send timeout's view of it, and its streamed responses.
    send: ConnSend,
}

/// Held in a connection's extensions: counts it open until it is dropped.
struct Open {
    conn: Rc<Conn>,
    all: Arc<Connections>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.all.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A QUIC connection counted open (see [`Connections::admit_quic`]).
pub struct QuicOpen(Arc<Connections>);

impl Drop for QuicOpen {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// This worker's connections, for its sweep; `None` until the sweep runs.
    static WORKER: RefCell<Option<Vec<Weak<Conn>>>> = const { RefCell::new(None) };
}

impl Connections {
    /// Counts connections against the `limits.max_connections` of `live`;
    /// one with nothing in progress for `idle` is shut down, and one that
    /// takes nothing for `limits.send_timeout_secs` (on `clock`).
    pub fn new(live: Arc<ArcSwap<Live>>, idle: Duration, clock: Arc<Clock>) -> Arc<Self> {
        Arc::new(Self {
            live,
            idle,
            clock,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            reaped: AtomicU64::new(0),
            log: Throttle::new(Duration::from_secs(10)),
        })
    }

    /// The `on_connect` part: counts the connection, refuses it past the
    /// bound, and enters it in its worker's sweep.
    pub fn on_connect(self: &Arc<Self>, conn: &dyn Any, ext: &mut Extensions) {
        // Every connection comes wrapped (`server::coalesce`).
        let (fd, plain, progress) = if let Some(s) = conn.downcast_ref::<Coalesced<TcpStream>>() {
            (s.get_ref().as_fd(), true, s.progress())
        } else if let Some(t) = conn.downcast_ref::<Coalesced<TlsStream<TcpStream>>>() {
            (t.get_ref().get_ref().0.as_fd(), false, t.progress())
        } else {
            return;
        };
        let Ok(stat) = rustix::fs::fstat(fd) else {
            return;
        };
        let n = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let conn = Rc::new(Conn {
            fd: fd.as_raw_fd(),
            ino: stat.st_ino,
            busy: Cell::new(0),
            since: Cell::new(Instant::now()),
            refused: Cell::new(false),
            send: ConnSend::new(Some(progress)),
        });
        let max = self.live.load().limits.connections;
        if n > max {
            self.refuse(fd, plain, max);
            conn.refused.set(true);
        }
        self.enter(&conn);
        ext.insert(Open {
            conn,
            all: self.clone(),
        });
    }

    /// Tells a plain-HTTP client why (best effort: the socket is new, its
    /// buffer empty), and ends the sending side. The sweep shuts the rest.
    fn refuse(&self, fd: BorrowedFd<'_>, plain: bool, max: usize) {
        let sock = SockRef::from(&fd);
        if plain {
            let _ = sock.send(REFUSAL);
            let _ = sock.shutdown(std::net::Shutdown::Write);
        } else {
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
        self.note_refused(max);
    }

    /// Counts a refused connection, and logs it (at most every 10 s).
    fn note_refused(&self, max: usize) {
        let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if self.log.due().is_some() {
            tracing::warn!(
                "limits.max_connections = {max} reached: new connections are refused \
                 ({n} refused since start)"
            );
        }
    }

    /// Counts a QUIC connection (HTTP/3) among the node's until the
    /// returned value is dropped; `None` past `limits.max_connections`
    /// (the caller refuses it: QUIC's CONNECTION_REFUSED). QUIC's own idle
    /// timeout and the HTTP/3 send timeout stand in for the sweep.
    pub fn admit_quic(self: &Arc<Self>) -> Option<QuicOpen> {
        let n = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let max = self.live.load().limits.connections;
        if n > max {
            self.open.fetch_sub(1, Ordering::Relaxed);
            self.note_refused(max);
            return None;
        }
        Some(QuicOpen(self.clone()))
    }

    /// Enters `conn` in this worker's sweep, starting the sweep with the
    /// worker's first connection.
    fn enter(self: &Arc<Self>, conn: &Rc<Conn>) {
        let start = WORKER.with_borrow_mut(|w| {
            let start = w.is_none();
            w.get_or_insert_with(Vec::new).push(Rc::downgrade(conn));
            start
        });
        if start {
            let all = self.clone();
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(SWEEP);
                loop {
                    tick.tick().await;
                    all.sweep();
                }
            });
        }
    }

    /// Drops the worker's closed connections from its list, and shuts down
    /// the refused ones, those idle past the bound, and those past the
    /// send timeout (whose streamed responses past it lose their origin
    /// body, see `send`).
    fn sweep(&self) {
        let now = Instant::now();
        let clock = self.clock.instant();
        let send_timeout = self.live.load().limits.send_timeout;
        WORKER.with_borrow_mut(|w| {
            let Some(list) = w else { return };
            list.retain(|weak| {
                let Some(c) = weak.upgrade() else {
                    return false;
                };
                let idle = c.busy.get() == 0 && now.duration_since(c.since.get()) > self.idle;
                let stalled = c.send.sweep(clock, send_timeout);
                if stalled {
                    shut(&c);
                    return false;
                }
                if !(idle || c.refused.get()) {
                    return true;
                }
                if !c.refused.get() {
                    self.reaped.fetch_add(1, Ordering::Relaxed);
                }
                shut(&c);
                false
            });
        });
    }
}

/// Shuts a connection's socket down both ways: actix then reads its end
/// and drops it.
fn shut(c: &Conn) {
    // SAFETY: the descriptor is only borrowed for the two calls below, on
    // this worker's thread, which is the only one that closes its
    // connections' sockets: it cannot be closed in between. If it was
    // closed before (the connection's state outlived its socket) and the
    // number reused, the inode differs and nothing is done.
    let fd = unsafe { BorrowedFd::borrow_raw(c.fd) };
    if rustix::fs::fstat(fd).is_ok_and(|s| s.st_ino == c.ino) {
        let _ = SockRef::from(&fd).shutdown(std::net::Shutdown::Both);
    }
}

/// A watch on `body`, a streamed response of `req`'s, counted among its
/// connection's streams and swept for the send timeout (see `send`);
/// `None` when the connection holds `max` streams already. An HTTP/3
/// request carries its connection's count in its extensions ([`QuicSend`]).
pub fn watch_stream(req: &HttpRequest, body: OriginBody, max: usize) -> Option<Rc<Watch>> {
    if let Some(o) = req.conn_data::<Open>() {
        return o.conn.send.watch(body, max);
    }
    match req.extensions().get::<QuicSend>() {
        Some(q) => q.0.watch(body, max),
        None => Some(send::unwatched(body)),
    }
}

/// A QUIC connection's streamed responses, so that one HTTP/3 connection
/// holds at most `limits.max_origin_streams_per_connection` origin streams
/// as a TCP one does. Each of its requests carries a clone in its
/// extensions. (A stalled client is the HTTP/3 listener's to time out: it
/// resets the stream, which lets the origin body go.)
#[derive(Clone, Default)]
pub struct QuicSend(Rc<ConnSend>);

/// A count of the parts of a large in-memory response body of `req`'s,
/// swept for the send timeout (see `send`); `None` without a connection.
pub fn watch_body(req: &HttpRequest) -> Option<Rc<Taken>> {
    Some(req.conn_data::<Open>()?.conn.send.taken())
}

/// A request in progress on its connection, until dropped (see [`busy`]).
pub struct Busy(Option<Rc<Conn>>);

/// Marks `req`'s connection busy until the returned value is dropped.
pub fn busy(req: &HttpRequest) -> Busy {
    let conn = req.conn_data::<Open>().map(|o| o.conn.clone());
    if let Some(c) = &conn {
        c.busy.set(c.busy.get() + 1);
    }
    Busy(conn)
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.busy.set(c.busy.get().saturating_sub(1));
            c.since.set(Instant::now());
        }
    }
}

/// Keeps `busy` until `resp`'s body is sent, when it is large or streamed
/// (a small one is written at once).
pub fn until_sent(busy: Busy, resp: HttpResponse) -> HttpResponse {
    match resp.body().size() {
        BodySize::None => resp,
        BodySize::Sized(n) if n <= SMALL_BODY => resp,
        _ => resp
            .map_body(|_, body| Sending { body, _busy: busy })
            .map_into_boxed_body(),
    }
}

/// A response body that keeps its connection busy until it is dropped.
struct Sending {
    body: BoxBody,
    _busy: Busy,
}

impl MessageBody for Sending {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// File descriptors kept beside the connections (listeners, cache files,
/// origin and peer connections, logs).
const SPARE_FDS: u64 = 1024;

/// Raises the process's soft limit of open files to its hard limit, so
/// that `max_connections` connections fit; warns when even that is short.
pub fn raise_fd_limit(max_connections: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        lim.current = lim.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!("cannot raise the open files limit: {e}");
        }
    }
    let have = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let want = max_connections as u64 + SPARE_FDS;
    if have < want {
        tracing::warn!(
            "limits.max_connections = {max_connections} needs about {want} open files; \
             the limit is {have} (raise it, e.g. `ulimit -n` or LimitNOFILE=)"
        );
    }
}
