//! Write coalescing for HTTP/2 connections. The `h2` crate under actix-http
//! flushes its writer after every DATA frame of 256 bytes or more, so
//! without this each response of a busy connection became its own TLS
//! record and its own `writev`, and the kernel's per-write cost on both
//! ends dominated (profile and figures in docs/benchmarks/h2.md).
//!
//! [`Coalesced`] sits between the HTTP/2 codec and the connection (TLS or
//! plain TCP). While on, it keeps what is written in a buffer and lets a
//! flush that follows fresh writes return at once, so the frames that one
//! poll of the connection sends (the responses of every stream that became
//! ready meanwhile) go out together: it writes the buffer out when a flush
//! comes with nothing written since the last one (`h2` ends every poll of
//! its send queue with such a flush), when the buffer reaches
//! [`HIGH_WATER`], and on shutdown. Holding back also wakes the task, so
//! another poll, and with it that final flush, always follows. Off (HTTP/1,
//! whose dispatcher writes each response whole), it passes everything
//! through, and carries the connection's interim responses (`interim`):
//! those queued are written before the dispatcher's next bytes or at its
//! next flush. Either way it reports to [`Progress`] whether the socket
//! takes what is written (the send timeout, `limits::send`).

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::interim::Interim;
use super::limits::send::Progress;

/// Bytes held before they are written whatever comes next: four full TLS
/// records. The buffer is allocated when a batch starts and freed once it
/// is written, so idle connections hold none.
pub const HIGH_WATER: usize = 64 * 1024;

/// A connection whose writes are coalesced while `on` (see the module docs).
pub struct Coalesced<T> {
    io: T,
    on: bool,
    /// Bytes accepted, not yet written to `io`; `buf[sent..]` is left.
    buf: Vec<u8>,
    sent: usize,
    /// Bytes were accepted since the last flush.
    fresh: bool,
    /// What the socket took, for the send timeout.
    progress: Arc<Progress>,
    /// Interim responses to write (HTTP/1 only: off).
    interim: Option<Rc<Interim>>,
}

impl<T> Coalesced<T> {
    /// Wraps `io`; `on` turns coalescing on (for HTTP/2).
    pub fn new(io: T, on: bool) -> Self {
        Coalesced {
            io,
            on,
            buf: Vec::new(),
            sent: 0,
            fresh: false,
            progress: Arc::default(),
            interim: (!on).then(Rc::default),
        }
    }

    /// The connection's interim responses (HTTP/1 only).
    pub fn interim(&self) -> Option<Rc<Interim>> {
        self.interim.clone()
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// Whether the connection takes what is written to it.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Notes what a write to the connection did.
    fn note(&self, r: &Poll<io::Result<usize>>) {
        match r {
            Poll::Ready(Ok(n)) => self.progress.wrote(*n),
            Poll::Pending => self.progress.blocked(),
            Poll::Ready(Err(_)) => {}
        }
    }

    /// Copies what fits under [`HIGH_WATER`] of `data` into the buffer.
    fn take(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(HIGH_WATER.saturating_sub(self.buf.len()));
        if self.buf.capacity() == 0 {
            self.buf.reserve(HIGH_WATER);
        }
        self.buf.extend_from_slice(&data[..n]);
        self.fresh |= n > 0;
        n
    }
}

impl<T: AsyncWrite + Unpin> Coalesced<T> {
    /// Writes the whole buffer to `io`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let r = Pin::new(&mut self.io).poll_write(cx, &self.buf[self.sent..]);
            self.note(&r);
            let n = ready!(r)?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        // Released, not kept: an idle connection holds no buffer.
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Writes the queued interim responses first; `unsettle` when the
    /// dispatcher is writing bytes of its own.
    fn poll_interim(&mut self, cx: &mut Context<'_>, unsettle: bool) -> Poll<io::Result<()>> {
        let Some(interim) = &self.interim else {
            return Poll::Ready(Ok(()));
        };
        if unsettle {
            interim.unsettle();
        }
        let r = interim.poll_drain(&mut self.io, cx);
        self.note(&r);
        r.map_ok(|_| ())
    }

    /// Makes room in a full buffer.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.len() >= HIGH_WATER {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesced<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesced<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.on {
            ready!(this.poll_interim(cx, !data.is_empty()))?;
            let r = Pin::new(&mut this.io).poll_write(cx, data);
            this.note(&r);
            return r;
        }
        ready!(this.poll_room(cx))?;
        Poll::Ready(Ok(this.take(data)))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.on {
            let some = bufs.iter().any(|b| !b.is_empty());
            ready!(this.poll_interim(cx, some))?;
            let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
            this.note(&r);
            return r;
        }
        ready!(this.poll_room(cx))?;
        let mut total = 0;
        for b in bufs {
            let n = this.take(b);
            total += n;
            if n < b.len() {
                break;
            }
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        // On: payloads are copied once, here, rather than into h2's buffer
        // first (which it does for small ones when this is false).
        self.on || self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(interim) = &this.interim {
            // The h1 dispatcher flushes once its buffer is all written.
            interim.settle();
            ready!(this.poll_interim(cx, false))?;
        }
        if this.fresh && this.buf.len() < HIGH_WATER {
            // More frames of this poll may follow: hold, and make sure the
            // task is polled again to send what is held.
            this.fresh = false;
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        this.fresh = false;
        ready!(this.poll_drain(cx))?;
        let r = Pin::new(&mut this.io).poll_flush(cx);
        match &r {
            Poll::Pending => this.progress.blocked(),
            Poll::Ready(Ok(())) => this.progress.flushed(),
            Poll::Ready(Err(_)) => {}
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.fresh = false;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records each write it is given.
    #[derive(Default, Clone)]
    struct Writes(Arc<Mutex<Vec<usize>>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().push(b.len());
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn poll<F: FnMut(&mut Context<'_>) -> Poll<R>, R>(mut f: F) -> R {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match f(&mut cx) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("pending"),
        }
    }

    fn write_and_flush(c: &mut Coalesced<Writes>, n: usize) {
        let data = vec![7u8; n];
        assert_eq!(
            poll(|cx| Pin::new(&mut *c).poll_write(cx, &data)).unwrap(),
            n
        );
        poll(|cx| Pin::new(&mut *c).poll_flush(cx)).unwrap();
    }

    #[test]
    fn frames_flushed_one_by_one_go_out_in_one_write() {
        let w = Writes::default();
        let mut c = Coalesced::new(w.clone(), true);
        for _ in 0..3 {
            write_and_flush(&mut c, 5000);
        }
        assert!(w.0.lock().unwrap().is_empty());
        // The flush that ends the poll (nothing written since the last one).
        poll(|cx| Pin::new(&mut c).poll_flush(cx)).unwrap();
        assert_eq!(*w.0.lock().unwrap(), vec![15000]);
    }

    #[test]
    fn a_full_buffer_is_written_at_once() {
        let w = Writes::default();
        let mut c = Coalesced::new(w.clone(), true);
        write_and_flush(&mut c, HIGH_WATER - 10);
        // Only 10 bytes fit; the flush sees a full buffer and writes it.
        let data = [7u8; 100];
        assert_eq!(
            poll(|cx| Pin::new(&mut c).poll_write(cx, &data)).unwrap(),
            10
        );
        poll(|cx| Pin::new(&mut c).poll_flush(cx)).unwrap();
        assert_eq!(*w.0.lock().unwrap(), vec![HIGH_WATER]);
        // The rest goes into the emptied buffer.
        assert_eq!(
            poll(|cx| Pin::new(&mut c).poll_write(cx, &data[10..])).unwrap(),
            90
        );
    }

    #[test]
    fn shutdown_writes_what_is_held() {
        let w = Writes::default();
        let mut c = Coalesced::new(w.clone(), true);
        write_and_flush(&mut c, 300);
        poll(|cx| Pin::new(&mut c).poll_shutdown(cx)).unwrap();
        assert_eq!(*w.0.lock().unwrap(), vec![300]);
    }

    #[test]
    fn off_passes_every_write_through() {
        let w = Writes::default();
        let mut c = Coalesced::new(w.clone(), false);
        write_and_flush(&mut c, 300);
        write_and_flush(&mut c, 200);
        assert_eq!(*w.0.lock().unwrap(), vec![300, 200]);
    }
}
