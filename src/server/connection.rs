//! Per-connection setup (actix-web's `on_connect`): counts completed TLS
//! handshakes, hands an HTTP/1 connection's interim responses to its
//! requests (`interim`), and gives each connection a count of its requests in flight,
//! so that one HTTP/2 connection runs at most `http2.max_concurrent_streams`
//! requests at once. actix-http cannot set HTTP/2's
//! `SETTINGS_MAX_CONCURRENT_STREAMS`, so the bound is kept here: a stream
//! past it is answered 503 at once, before any lookup. Together with the
//! `h2` crate's reset limits this bounds the work a stream-reset flood can
//! start: a reset stream's request still holds its slot until its handler
//! ends.

use std::any::Any;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::dev::Extensions;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use actix_web::{HttpRequest, HttpResponse};

use super::coalesce::Coalesced;
use super::interim::OnConnection;
use crate::tls::TlsStats;

/// Requests in flight on one connection (connections live on one worker
/// thread, so a plain `Cell` is enough).
#[derive(Clone, Default)]
struct InFlight(Rc<Cell<u32>>);

/// A request's place among its connection's requests in flight; freed on drop
/// (also when the client resets the stream and the handler is dropped).
pub struct Slot(Rc<Cell<u32>>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The `on_connect` callback: TLS handshake accounting, interim responses
/// and the in-flight count.
pub fn on_connect(
    stats: Option<Arc<TlsStats>>,
) -> impl Fn(&dyn Any, &mut Extensions) + Send + Sync + 'static {
    move |conn, ext| {
        if let (Some(stats), Some(tls)) = (
            &stats,
            conn.downcast_ref::<Coalesced<TlsStream<TcpStream>>>(),
        ) {
            let resumed = matches!(
                tls.get_ref().get_ref().1.handshake_kind(),
                Some(rustls::HandshakeKind::Resumed)
            );
            stats.completed(resumed);
        }
        let interim = match conn.downcast_ref::<Coalesced<TcpStream>>() {
            Some(plain) => plain.interim(),
            None => conn
                .downcast_ref::<Coalesced<TlsStream<TcpStream>>>()
                .and_then(Coalesced::interim),
        };
        if let Some(interim) = interim {
            ext.insert(OnConnection(interim));
        }
        ext.insert(InFlight::default());
    }
}

/// Takes a slot for `req` on its connection: `None` when `max` are taken.
/// A request on a connection without the count (none in practice) is let
/// through with a detached slot.
pub fn enter(req: &HttpRequest, max: u32) -> Option<Slot> {
    let Some(InFlight(n)) = req.conn_data::<InFlight>() else {
        return Some(Slot(Rc::new(Cell::new(1))));
    };
    if n.get() >= max {
        return None;
    }
    n.set(n.get() + 1);
    Some(Slot(n.clone()))
}

/// The answer to a request past its connection's bound: 503, retry soon.
pub fn refused() -> HttpResponse {
    let mut resp = super::errors::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many concurrent requests on this connection\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}
