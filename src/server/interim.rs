//! Interim responses (`103 Early Hints`, RFC 8297) to HTTP/1.1 clients:
//! the seam actix-http lacks. Its h1 dispatcher writes one response per
//! request and has no way to send a 1xx before it; its h2 one has none
//! either (the `h2` crate could send informational HEADERS, actix-http
//! does not expose it), so HTTP/2 clients get no interim responses, and
//! neither do HTTP/3 ones (the QUIC listener has no such seam).
//!
//! The seam sits in the connection's I/O wrapper (`coalesce::Coalesced`,
//! above TLS: plain and HTTPS listeners both), which every write of the
//! dispatcher goes through. Each HTTP/1 connection has one [`Interim`],
//! shared by the wrapper and the connection's extensions; a request's
//! handler takes an [`EarlyHints`] from it ([`EarlyHints::of`]) and
//! queues an interim head there, which the wrapper writes out at the
//! dispatcher's next flush (it flushes after every poll of the handler),
//! or before the dispatcher's next write, whichever comes first: so it
//! always precedes the request's final response.
//!
//! An interim head is queued only when nothing else is being written on
//! the connection: the wrapper marks the connection settled when the
//! dispatcher flushes (it does only once its own buffer is all written)
//! and unsettled when it writes. The dispatcher handles one request at a
//! time, and a handler can only be told of a hint in a poll after its
//! first (the hint comes from another task), so a settled connection
//! means every earlier response (pipelined ones too) is out, and the
//! handler polled is the one whose response comes next. When it is not
//! settled (a slow client still taking an earlier response) the hint is
//! dropped: hints are advice, a response is not.
//!
//! Never to HTTP/1.0 clients (RFC 9110 §15.2: a server must not send a
//! 1xx to an HTTP/1.0 client). Per request at most
//! [`MAX_INTERIM`](crate::origin::client::interim::MAX_INTERIM) heads and
//! [`MAX_INTERIM_BYTES`](crate::origin::client::interim::MAX_INTERIM_BYTES)
//! of fields are sent.
//!
//! Users: [`relayed`] forwards the origin's `103`s to the client whose
//! request leads the fetch (`origin::client::interim`); a node's own
//! hints (preload links of an HTML entry) can call [`EarlyHints::send`].

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use actix_web::http::header::HeaderMap;
use actix_web::http::{StatusCode, Version};
use actix_web::HttpRequest;
use tokio::io::AsyncWrite;

use crate::origin::client::interim::{size, Budget, Relay};

/// One HTTP/1 connection's interim heads waiting to be written, and
/// whether it is settled (see the module docs).
#[derive(Debug)]
pub struct Interim {
    /// Bytes queued; `queue[sent..]` is left.
    queue: RefCell<Vec<u8>>,
    sent: Cell<usize>,
    /// The dispatcher's own buffer is all written.
    settled: Cell<bool>,
}

impl Default for Interim {
    fn default() -> Self {
        Interim {
            queue: RefCell::default(),
            sent: Cell::new(0),
            settled: Cell::new(true),
        }
    }
}

impl Interim {
    /// The dispatcher wrote (or tries to write) response bytes.
    pub fn unsettle(&self) {
        self.settled.set(false);
    }

    /// The dispatcher flushes: its buffer is all written.
    pub fn settle(&self) {
        self.settled.set(true);
    }

    /// Writes what is queued to `io`, before anything else is.
    pub fn poll_drain<T: AsyncWrite + Unpin>(
        &self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let mut wrote = 0;
        let mut queue = self.queue.borrow_mut();
        while self.sent.get() < queue.len() {
            let n = ready!(Pin::new(&mut *io).poll_write(cx, &queue[self.sent.get()..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent.set(self.sent.get() + n);
            wrote += n;
        }
        if !queue.is_empty() {
            *queue = Vec::new();
            self.sent.set(0);
        }
        Poll::Ready(Ok(wrote))
    }

    /// Queues `head` if the connection is settled.
    fn queue(&self, head: &[u8]) -> bool {
        if !self.settled.get() {
            return false;
        }
        self.queue.borrow_mut().extend_from_slice(head);
        true
    }
}

/// Held in an HTTP/1 connection's extensions: its [`Interim`].
#[derive(Clone)]
pub struct OnConnection(pub Rc<Interim>);

/// A request's way to send interim responses before its final one.
pub struct EarlyHints {
    conn: Rc<Interim>,
    budget: Budget,
}

impl EarlyHints {
    /// For `req`, when its client may be sent interim responses: HTTP/1.1
    /// on a connection with the seam (not HTTP/1.0, HTTP/2 or HTTP/3).
    pub fn of(req: &HttpRequest) -> Option<Self> {
        if req.version() != Version::HTTP_11 {
            return None;
        }
        let conn = req.conn_data::<OnConnection>()?.0.clone();
        Some(EarlyHints {
            conn,
            budget: Budget::default(),
        })
    }

    /// Sends an interim response of `status` (1xx, not 101) with
    /// `headers`, if the connection is settled and the request's budget
    /// allows it; whether it was queued.
    pub fn send(&mut self, status: u16, headers: &HeaderMap) -> bool {
        if !(100..200).contains(&status) || status == 101 {
            return false;
        }
        if !self.conn.settled.get() || !self.budget.admit(size(headers)) {
            return false;
        }
        self.conn.queue(&head(status, headers))
    }
}

/// An HTTP/1.1 interim response head.
pub fn head(status: u16, headers: &HeaderMap) -> Vec<u8> {
    // http 0.2 (actix's) has no reason phrase for 103 (RFC 8297 §2).
    let reason = match status {
        103 => "Early Hints",
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
    };
    let mut out = Vec::with_capacity(32 + size(headers));
    out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Runs `lookup` for `req`, passing the origin's `103`s of the fetch it
/// leads on to the client as they arrive, when the client may get them
/// (see [`EarlyHints::of`]); else just runs it.
pub async fn relayed<F: Future>(req: &HttpRequest, lookup: F) -> F::Output {
    let Some(mut hints) = EarlyHints::of(req) else {
        return lookup.await;
    };
    let relay = Relay::default();
    let mut lookup = pin!(crate::origin::client::interim::leading(
        relay.clone(),
        lookup
    ));
    poll_fn(|cx| {
        let done = lookup.as_mut().poll(cx);
        // Hints that came before the final answer go before it.
        while let Poll::Ready(Some(h)) = relay.poll_hint(cx) {
            hints.send(h.status, &h.headers);
        }
        done
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::client::interim::MAX_INTERIM;

    fn link() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(
            "link".parse().unwrap(),
            "</a.css>; rel=preload".parse().unwrap(),
        );
        h.append(
            "link".parse().unwrap(),
            "</b.js>; rel=modulepreload".parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_head_is_an_http11_interim_response() {
        assert_eq!(
            head(103, &link()),
            b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\
              link: </b.js>; rel=modulepreload\r\n\r\n"
                .to_vec()
        );
    }

    fn hints(conn: &Rc<Interim>) -> EarlyHints {
        EarlyHints {
            conn: conn.clone(),
            budget: Budget::default(),
        }
    }

    #[test]
    fn nothing_is_queued_while_a_response_is_being_written() {
        let conn = Rc::new(Interim::default());
        let mut h = hints(&conn);
        conn.unsettle();
        assert!(!h.send(103, &link()));
        conn.settle();
        assert!(h.send(103, &link()));
        assert!(!h.send(101, &link()));
        assert!(!h.send(200, &link()));
    }

    #[test]
    fn a_request_sends_at_most_its_budget() {
        let conn = Rc::new(Interim::default());
        let mut h = hints(&conn);
        let sent = (0..MAX_INTERIM + 4)
            .filter(|_| h.send(103, &link()))
            .count();
        assert_eq!(sent, MAX_INTERIM as usize);
    }

    #[tokio::test]
    async fn the_queue_is_written_whole_then_freed() {
        let conn = Rc::new(Interim::default());
        hints(&conn).send(103, &link());
        let mut out: Vec<u8> = Vec::new();
        let n = poll_fn(|cx| conn.poll_drain(&mut out, cx)).await.unwrap();
        assert_eq!(out, head(103, &link()));
        assert_eq!(n, out.len());
        assert_eq!(conn.queue.borrow().capacity(), 0);
    }
}
