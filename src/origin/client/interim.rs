//! Interim (1xx) responses from the origin, and where they go: the origin
//! side of `103 Early Hints` forwarding (RFC 8297; the connection side is
//! `server::interim`).
//!
//! A request handler that may pass interim responses on to its client
//! runs its lookup inside [`leading`] with a [`Relay`]; every origin
//! request the lookup's task sends meanwhile (the fetch it leads: a miss
//! or a revalidation, each retry, the owner peer's answer too) registers
//! hyper's [`hyper::ext::on_informational`] callback, which hands each
//! `103` to the relay. Fetches run elsewhere pass nothing: a background
//! revalidation (spawned, its client answered already) and the fetch a
//! coalesced waiter waits for (led by another request's task) carry no
//! relay, so their hints reach no one. Hints are never stored: they go
//! from hyper's parser to the relay and no further.
//!
//! Only `103` is passed on (RFC 9110 §15.2): a `100 Continue` answers an
//! `Expect` the node never sends, `102 Processing` is obsolete (RFC 4918
//! dropped it), and `101` is a final answer the node does not accept
//! (`origin::filter`). Its fields are the end-to-end ones, less the node's
//! own namespace, as for any origin answer (`end_to_end`).
//!
//! A malicious origin may send interim responses without end: at most
//! [`MAX_INTERIM`] of them and [`MAX_INTERIM_BYTES`] of fields per request
//! are passed on ([`Budget`]), the rest are dropped where they are read,
//! and the first-byte timeout bounds how long they may come.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use actix_web::http::header::HeaderMap;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::headers_of;

/// Interim responses passed on per request, at most.
pub const MAX_INTERIM: u32 = 8;

/// Bytes of interim fields (names, values, `": "` and line ends) passed on
/// per request, at most.
pub const MAX_INTERIM_BYTES: usize = 16 << 10;

/// An interim response to pass on: its status and end-to-end fields.
#[derive(Debug)]
pub struct Hint {
    /// The status (103).
    pub status: u16,
    /// Its fields, hop-by-hop ones and the node's own left out.
    pub headers: HeaderMap,
}

/// Whether an interim response with `status` from the origin is passed on.
pub fn forwarded(status: u16) -> bool {
    status == 103
}

/// The size `headers` count for against [`MAX_INTERIM_BYTES`]: as written
/// on an HTTP/1.1 connection.
pub fn size(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum()
}

/// What one request may still pass on of interim responses.
#[derive(Debug, Default)]
pub struct Budget {
    count: u32,
    bytes: usize,
}

impl Budget {
    /// Takes one interim response of `bytes` from what is left: `false`
    /// (and nothing taken) when it would go past either bound.
    pub fn admit(&mut self, bytes: usize) -> bool {
        let bytes_after = self.bytes.saturating_add(bytes);
        if self.count >= MAX_INTERIM || bytes_after > MAX_INTERIM_BYTES {
            return false;
        }
        self.count += 1;
        self.bytes = bytes_after;
        true
    }
}

/// Where hyper's callback (on whichever thread reads the origin's
/// connection) puts what it passes on.
struct Sink {
    tx: UnboundedSender<Hint>,
    budget: Mutex<Budget>,
}

impl Sink {
    /// Passes an interim response on, if it is one that is and fits.
    fn offer(&self, status: u16, wire: &http::HeaderMap) {
        if !forwarded(status) {
            return;
        }
        let headers = headers_of(wire, false);
        let admitted = self
            .budget
            .lock()
            .is_ok_and(|mut b| b.admit(size(&headers)));
        if admitted {
            let _ = self.tx.send(Hint { status, headers });
        } else {
            tracing::debug!("origin interim response past the per-request bound dropped");
        }
    }
}

tokio::task_local! {
    /// The relay of the task whose lookup is running (see [`leading`]).
    static RELAY: Relay;
}

/// A relay's sink (for the fetches) and its receiving end (for the client).
type Ends = (Arc<Sink>, UnboundedReceiver<Hint>);

/// A request's end of the interim responses its fetches get (one task's:
/// not shared across threads).
#[derive(Clone, Default)]
pub struct Relay(Rc<RefCell<Option<Ends>>>);

impl Relay {
    /// The next interim response passed on, when one came.
    pub fn poll_hint(&self, cx: &mut Context<'_>) -> Poll<Option<Hint>> {
        match &mut *self.0.borrow_mut() {
            Some((_, rx)) => rx.poll_recv(cx),
            None => Poll::Pending,
        }
    }

    /// The sink of this relay, made at the first fetch that asks.
    fn sink(&self) -> Arc<Sink> {
        let mut slot = self.0.borrow_mut();
        let (sink, _) = slot.get_or_insert_with(|| {
            let (tx, rx) = unbounded_channel();
            let sink = Sink {
                tx,
                budget: Mutex::default(),
            };
            (Arc::new(sink), rx)
        });
        sink.clone()
    }
}

/// Runs `lookup` with `relay` receiving the interim responses of the
/// origin (or peer) requests it sends from this task.
pub fn leading<F: Future>(relay: Relay, lookup: F) -> impl Future<Output = F::Output> {
    RELAY.scope(relay, lookup)
}

/// Registers the running task's relay, if any, on `req`: each 1xx read
/// for it is offered to the relay.
pub(super) fn register<B>(req: &mut hyper::Request<B>) {
    let Ok(sink) = RELAY.try_with(Relay::sink) else {
        return;
    };
    hyper::ext::on_informational(req, move |res| {
        sink.offer(res.status().as_u16(), res.headers());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_early_hints_are_passed_on() {
        assert!(forwarded(103));
        for s in [100, 101, 102, 104, 199] {
            assert!(!forwarded(s), "{s}");
        }
    }

    #[test]
    fn the_budget_bounds_count_and_bytes() {
        let mut b = Budget::default();
        for _ in 0..MAX_INTERIM {
            assert!(b.admit(10));
        }
        assert!(!b.admit(0));
        let mut b = Budget::default();
        assert!(b.admit(MAX_INTERIM_BYTES - 1));
        assert!(!b.admit(2));
        assert!(b.admit(1));
    }

    #[test]
    fn fields_count_as_written() {
        let mut h = HeaderMap::new();
        h.append(
            "link".parse().unwrap(),
            "</a.css>; rel=preload".parse().unwrap(),
        );
        assert_eq!(size(&h), "link: </a.css>; rel=preload\r\n".len());
    }

    #[tokio::test]
    async fn a_relay_gets_early_hints_only_within_its_budget() {
        let relay = Relay::default();
        let sink = relay.sink();
        let mut wire = http::HeaderMap::new();
        wire.insert("link", "</a.css>; rel=preload".parse().unwrap());
        wire.insert("x-cdn-edge-owner", "me".parse().unwrap());
        wire.insert("connection", "close".parse().unwrap());
        sink.offer(100, &wire);
        for _ in 0..MAX_INTERIM + 3 {
            sink.offer(103, &wire);
        }
        let mut got = Vec::new();
        std::future::poll_fn(|cx| {
            while let Poll::Ready(Some(h)) = relay.poll_hint(cx) {
                got.push(h);
            }
            Poll::Ready(())
        })
        .await;
        assert_eq!(got.len(), MAX_INTERIM as usize);
        assert_eq!(got[0].status, 103);
        let names: Vec<_> = got[0].headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["link"]);
    }
}
