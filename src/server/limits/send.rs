//! The send timeout (`limits.send_timeout_secs`) and the origin streams one
//! client connection may hold (`limits.max_origin_streams_per_connection`).
//!
//! A response waits on its client when the client accepts none of it. Two
//! places can tell, and each worker's once-a-second sweep (`conns`) looks
//! at both, on the node's clock (so tests let the time pass):
//!
//! - the connection's socket ([`Progress`], kept by the I/O wrapper every
//!   connection goes through, `server::coalesce`): a write blocked (the
//!   kernel's send buffer is full) and no byte written since the sweep
//!   before. Past the timeout the connection is shut down, as nginx's
//!   `send_timeout` closes it: an HTTP/1 client that does not read, an
//!   HTTP/2 connection whose TCP stalled.
//! - a response body ([`Watch`] for a streamed one, [`Taken`] for a large
//!   one in memory): the client side took no part of it while one was
//!   ready (for a stream: not waiting for the origin). Over HTTP/2 this is
//!   how a stream held at a zero flow-control window shows (its socket is
//!   fine). Past the timeout a streamed response's origin body is dropped
//!   at once (that origin connection closes, the memory counted for it is
//!   given back), and the connection is shut down: actix-http owns a
//!   stream waiting for window, so the stream alone cannot be reset
//!   (Varnish resets the stream; here the client's whole connection goes,
//!   as an HTTP/1 one would).
//!
//! A client that takes a part (16 KiB, see `server::relay`) now and then
//! is never timed out: the timeout is between two parts, not for the
//! whole response. Each streamed response counts against its connection's
//! bound from the moment it is answered until its origin body ends, fails
//! or is dropped; past the bound a request that would stream is answered
//! 503 (its origin answer dropped) and the client may retry.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;

use crate::origin::client::FetchError;

/// An origin body being streamed.
pub type OriginBody = BoxStream<'static, Result<Bytes, FetchError>>;

/// Whether a connection's socket accepts what is written to it, as its
/// I/O wrapper sees it (shared with the worker's sweep).
#[derive(Debug, Default)]
pub struct Progress {
    written: AtomicU64,
    blocked: AtomicBool,
}

impl Progress {
    /// Notes a write that took `n` bytes.
    pub fn wrote(&self, n: usize) {
        if n > 0 {
            self.written.fetch_add(n as u64, Ordering::Relaxed);
            self.blocked.store(false, Ordering::Relaxed);
        }
    }

    /// Notes a write the socket could not take now.
    pub fn blocked(&self) {
        self.blocked.store(true, Ordering::Relaxed);
    }

    /// Notes that everything written went out.
    pub fn flushed(&self) {
        self.blocked.store(false, Ordering::Relaxed);
    }

    fn snapshot(&self) -> (u64, bool) {
        (
            self.written.load(Ordering::Relaxed),
            self.blocked.load(Ordering::Relaxed),
        )
    }
}

/// Node-wide figures, for `/metrics`.
#[derive(Debug, Default)]
pub struct SendStats {
    /// Streamed responses holding an origin body now.
    pub streams: AtomicUsize,
    /// Connections shut down for the send timeout.
    pub timeouts: AtomicU64,
    /// Requests answered 503 past `limits.max_origin_streams_per_connection`.
    pub refused: AtomicU64,
}

/// The figures of this process.
pub static STATS: SendStats = SendStats {
    streams: AtomicUsize::new(0),
    timeouts: AtomicU64::new(0),
    refused: AtomicU64::new(0),
};

/// Parts of a large in-memory response body handed to the client side,
/// shared by the body (`server::slices`) and its connection's sweep.
#[derive(Debug, Default)]
pub struct Taken(Cell<u64>, Stall);

impl Taken {
    /// Notes that a part went to the client side.
    pub fn took(&self) {
        self.0.set(self.0.get() + 1);
    }
}

/// How long something has gone without progress, as the sweep sees it.
#[derive(Debug, Default)]
struct Stall {
    /// The progress count at the last sweep.
    seen: Cell<u64>,
    /// Since when (the node's clock) it has not moved while it should.
    since: Cell<Option<Instant>>,
}

impl Stall {
    /// Whether `count` has stood still (while `waiting`) for `timeout`.
    fn over(&self, count: u64, waiting: bool, now: Instant, timeout: Duration) -> bool {
        if !waiting || count != self.seen.get() {
            self.seen.set(count);
            self.since.set(None);
            return false;
        }
        match self.since.get() {
            None => {
                self.since.set(Some(now));
                false
            }
            Some(t) => now.saturating_duration_since(t) >= timeout,
        }
    }
}

/// A streamed response's origin body, shared by the response body that
/// relays it (`server::relay`) and its connection's sweep.
pub struct Watch {
    /// The origin body; `None` once ended, failed or dropped.
    body: RefCell<Option<OriginBody>>,
    /// The part being relayed, and how much of it is sent.
    pub(crate) part: RefCell<(Bytes, usize)>,
    /// Parts handed to the client side so far.
    taken: Cell<u64>,
    /// The last poll waited for the origin, not the client.
    on_origin: Cell<bool>,
    /// Dropped by the sweep for the send timeout.
    timed_out: Cell<bool>,
    stall: Stall,
}

impl Watch {
    fn new(body: OriginBody) -> Rc<Self> {
        STATS.streams.fetch_add(1, Ordering::Relaxed);
        Rc::new(Self {
            body: RefCell::new(Some(body)),
            part: RefCell::new((Bytes::new(), 0)),
            taken: Cell::new(0),
            on_origin: Cell::new(false),
            timed_out: Cell::new(false),
            stall: Stall::default(),
        })
    }

    /// The origin body, while it lasts.
    pub(crate) fn body(&self) -> std::cell::RefMut<'_, Option<OriginBody>> {
        self.body.borrow_mut()
    }

    /// Notes that a part went to the client side.
    pub(crate) fn took(&self) {
        self.taken.set(self.taken.get() + 1);
        self.on_origin.set(false);
    }

    /// Notes that the relay waits for the origin.
    pub(crate) fn waits_on_origin(&self) {
        self.on_origin.set(true);
    }

    /// Whether the sweep dropped the origin body for the send timeout.
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out.get()
    }

    /// Drops the origin body (its connection closes, its memory is given
    /// back) and the part held.
    pub(crate) fn release(&self) {
        let had = self.body.borrow_mut().take().is_some();
        *self.part.borrow_mut() = (Bytes::new(), 0);
        if had {
            STATS.streams.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn live(&self) -> bool {
        self.body.borrow().is_some()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.release();
    }
}

/// A connection's side of the send timeout: its socket's progress and its
/// streamed responses.
#[derive(Default)]
pub(super) struct ConnSend {
    progress: Option<std::sync::Arc<Progress>>,
    stall: Stall,
    streams: RefCell<Vec<Weak<Watch>>>,
    bodies: RefCell<Vec<Weak<Taken>>>,
}

impl ConnSend {
    /// Watches the socket whose writes `progress` reports.
    pub(super) fn new(progress: Option<std::sync::Arc<Progress>>) -> Self {
        Self {
            progress,
            ..Self::default()
        }
    }

    /// A watch on `body`, counted among the connection's streams; `None`
    /// when it holds `max` already.
    pub(super) fn watch(&self, body: OriginBody, max: usize) -> Option<Rc<Watch>> {
        let mut streams = self.streams.borrow_mut();
        streams.retain(|w| w.upgrade().is_some_and(|w| w.live()));
        if streams.len() >= max {
            STATS.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let w = Watch::new(body);
        streams.push(Rc::downgrade(&w));
        Some(w)
    }

    /// A count of the parts of a large in-memory body, swept like a stream.
    pub(super) fn taken(&self) -> Rc<Taken> {
        let t = Rc::new(Taken::default());
        let mut bodies = self.bodies.borrow_mut();
        bodies.retain(|t| t.strong_count() > 0);
        bodies.push(Rc::downgrade(&t));
        t
    }

    /// The sweep's look at `now`: whether the connection waited on its
    /// client for `timeout` (its socket, or a response body), so that the
    /// caller shuts it down. A streamed response that did loses its
    /// origin body at once.
    pub(super) fn sweep(&self, now: Instant, timeout: Duration) -> bool {
        let mut over = false;
        self.streams.borrow_mut().retain(|w| {
            let Some(w) = w.upgrade().filter(|w| w.live()) else {
                return false;
            };
            let waiting = !w.on_origin.get();
            if w.stall.over(w.taken.get(), waiting, now, timeout) {
                w.timed_out.set(true);
                w.release();
                over = true;
                return false;
            }
            true
        });
        self.bodies.borrow_mut().retain(|t| {
            let Some(t) = t.upgrade() else {
                return false;
            };
            over |= t.1.over(t.0.get(), true, now, timeout);
            true
        });
        if let Some(p) = &self.progress {
            let (written, blocked) = p.snapshot();
            over |= self.stall.over(written, blocked, now, timeout);
        }
        if over {
            STATS.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        over
    }
}

/// A stream's watch when its request has no connection state (tests of
/// the handler alone): counted, never swept.
pub fn unwatched(body: OriginBody) -> Rc<Watch> {
    Watch::new(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn body() -> OriginBody {
        futures_util::stream::pending().boxed()
    }

    #[test]
    fn a_stream_waiting_on_its_client_is_released_after_the_timeout() {
        let conn = ConnSend::default();
        let t = Duration::from_secs(60);
        let w = conn.watch(body(), 2).unwrap();
        let other = conn.watch(body(), 2).unwrap();
        other.waits_on_origin();
        assert!(conn.watch(body(), 2).is_none(), "past the bound");
        let t0 = Instant::now();
        conn.sweep(t0, t);
        w.took();
        // Progress resets the wait; then nothing is taken for 60 s.
        conn.sweep(t0 + Duration::from_secs(50), t);
        conn.sweep(t0 + Duration::from_secs(51), t);
        assert!(!conn.sweep(t0 + Duration::from_secs(110), t));
        assert!(w.live());
        assert!(conn.sweep(t0 + Duration::from_secs(111), t), "shut");
        assert!(!w.live() && w.timed_out());
        assert!(conn.watch(body(), 2).is_some(), "its place is free again");
    }

    #[test]
    fn a_large_body_in_memory_waiting_on_its_client_times_out_too() {
        let conn = ConnSend::default();
        let t = Duration::from_secs(60);
        let body = conn.taken();
        let t0 = Instant::now();
        assert!(!conn.sweep(t0, t));
        body.took();
        assert!(!conn.sweep(t0 + Duration::from_secs(30), t));
        assert!(!conn.sweep(t0 + Duration::from_secs(31), t));
        assert!(conn.sweep(t0 + Duration::from_secs(91), t));
        drop(body);
        assert!(
            !conn.sweep(t0 + Duration::from_secs(500), t),
            "sent: forgotten"
        );
    }

    #[test]
    fn waiting_on_the_origin_is_not_the_clients_fault() {
        let conn = ConnSend::default();
        let t = Duration::from_secs(60);
        let w = conn.watch(body(), 1).unwrap();
        w.waits_on_origin();
        let t0 = Instant::now();
        for s in [0, 100, 200] {
            conn.sweep(t0 + Duration::from_secs(s), t);
        }
        assert!(w.live());
    }

    #[test]
    fn a_blocked_socket_that_writes_nothing_times_out() {
        let p = std::sync::Arc::new(Progress::default());
        let conn = ConnSend::new(Some(p.clone()));
        let t = Duration::from_secs(60);
        let t0 = Instant::now();
        p.wrote(100);
        assert!(!conn.sweep(t0, t), "not blocked");
        p.blocked();
        assert!(!conn.sweep(t0 + Duration::from_secs(1), t));
        assert!(!conn.sweep(t0 + Duration::from_secs(30), t));
        p.wrote(10);
        p.blocked();
        assert!(!conn.sweep(t0 + Duration::from_secs(62), t), "it wrote");
        assert!(!conn.sweep(t0 + Duration::from_secs(63), t));
        assert!(conn.sweep(t0 + Duration::from_secs(123), t));
    }
}
