//! One QUIC connection, from its first packet to its close: address
//! validation (a Retry while many handshakes are in progress), the
//! node-wide connection bound, the handshake (with 0-RTT when
//! `http3.early_data`), then HTTP/3: each request on a task of its own,
//! answered through the app (`exchange`). At a graceful stop the
//! connection is sent GOAWAY, finishes the requests it took (within
//! `server.shutdown_timeout`), and closes.
//!
//! Early data (RFC 8470, RFC 9001 §4.6): a request that arrives before the
//! handshake is confirmed may be a replay. GET and HEAD without a body are
//! answered at once (with `Early-Data: 1` added, so an origin asked on a
//! miss knows, RFC 8470 §5.1); any other request waits until the handshake
//! completes, which a replayed connection never does.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use tokio::sync::Notify;

use super::exchange::{self, SendError};
use super::tasks::Tasks;
use super::worker::Ctx;
use super::Handshaking;
use super::Stop;
use crate::server::limits::conns::QuicSend;
use actix_http::HttpMessage;

/// `Early-Data` (RFC 8470 §5.1).
static EARLY_DATA: HeaderName = HeaderName::from_static("early-data");

/// Serves the connection `incoming` starts, until it closes.
pub async fn serve(incoming: quinn::Incoming, ctx: Rc<Ctx>) {
    let figures = &ctx.shared.figures;
    let handshaking = ctx.shared.handshaking();
    if !incoming.remote_address_validated()
        && handshaking.busy(ctx.settings.config.retry_above_handshakes)
    {
        figures.retried();
        let _ = incoming.retry();
        return;
    }
    let Some(_open) = ctx.conns.admit_quic() else {
        figures.refused();
        incoming.refuse();
        return;
    };
    let peer = incoming.remote_address();
    let Ok(connecting) = incoming.accept() else {
        figures.handshake(false);
        return;
    };
    let handshake = Rc::new(Handshake::default());
    let (connecting, handshaking) = if ctx.settings.config.early_data {
        match early(connecting, handshaking, &handshake, &ctx) {
            Ok(conn) => return served(conn, peer, handshake, &ctx).await,
            // (quinn lets a server go on early always: not seen.)
            Err(back) => back,
        }
    } else {
        (connecting, handshaking)
    };
    let done = tokio::time::timeout(ctx.settings.handshake_timeout, connecting).await;
    drop(handshaking);
    let conn = done.ok().and_then(Result::ok);
    ctx.shared.figures.handshake(conn.is_some());
    if let Some(conn) = conn {
        handshake.complete();
        served(conn, peer, handshake, &ctx).await;
    }
}

/// With `http3.early_data`: the connection at once, so that its 0-RTT
/// requests are taken; its handshake is confirmed in a task of its own,
/// which counts it and wakes the requests waiting for it, or closes the
/// connection when it fails or times out.
fn early(
    connecting: quinn::Connecting,
    handshaking: Handshaking,
    handshake: &Rc<Handshake>,
    ctx: &Ctx,
) -> Result<quinn::Connection, (quinn::Connecting, Handshaking)> {
    let (conn, confirmed) = match connecting.into_0rtt() {
        Ok(pair) => pair,
        Err(connecting) => return Err((connecting, handshaking)),
    };
    let (hs, c) = (handshake.clone(), conn.clone());
    let timeout = ctx.settings.handshake_timeout;
    actix_web::rt::spawn(async move {
        let done =
            tokio::time::timeout(timeout, confirmed).await.is_ok() && c.close_reason().is_none();
        handshaking.0.figures.handshake(done);
        drop(handshaking);
        if done {
            hs.complete();
        } else {
            c.close(0u32.into(), b"handshake");
        }
    });
    Ok(conn)
}

/// Serves the requests of a connection whose handshake is done (or under
/// way, with early data).
async fn served(
    conn: quinn::Connection,
    peer: std::net::SocketAddr,
    handshake: Rc<Handshake>,
    ctx: &Rc<Ctx>,
) {
    let _live = ctx.shared.figures.opened();
    requests(conn, peer, handshake, ctx).await;
}

/// Whether the handshake is complete (not yet, while early data may
/// arrive), and a wake-up for requests waiting for it.
#[derive(Default)]
struct Handshake {
    done: Cell<bool>,
    notify: Notify,
}

impl Handshake {
    fn complete(&self) {
        self.done.set(true);
        self.notify.notify_waiters();
    }

    async fn wait(&self) {
        while !self.done.get() {
            let woken = self.notify.notified();
            if self.done.get() {
                break;
            }
            woken.await;
        }
    }
}

/// What a request does about early data.
#[derive(Debug, PartialEq, Eq)]
enum Early {
    /// The handshake is done: nothing.
    No,
    /// GET or HEAD before the handshake is done: answered at once, marked
    /// `Early-Data: 1`.
    Marked,
    /// Another method before the handshake is done: waits for it.
    Wait,
}

/// How a request is treated when the handshake is `done` or not (see the
/// module docs): by its method, and whether it says it has a body (a
/// `Content-Length` above 0; a GET's body is never read, but a request
/// that carries one is not the plain GET early data is safe for).
fn in_early_data(req: &http::Request<()>, done: bool) -> Early {
    let has_body = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    match (done, req.method(), has_body) {
        (true, _, _) => Early::No,
        (false, &http::Method::GET | &http::Method::HEAD, false) => Early::Marked,
        (false, _, _) => Early::Wait,
    }
}

/// Accepts the connection's requests until it closes or the node stops.
async fn requests(
    conn: quinn::Connection,
    peer: std::net::SocketAddr,
    handshake: Rc<Handshake>,
    ctx: &Rc<Ctx>,
) {
    let built = h3::server::builder()
        .max_field_section_size(ctx.settings.max_field_section_size)
        .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()))
        .await;
    let Ok(mut h3) = built else {
        return;
    };
    let inflight = Rc::new(Tasks::default());
    let streams = QuicSend::default();
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            accepted = h3.accept() => match accepted {
                Ok(Some(resolver)) => {
                    let (ctx, hs, streams) = (ctx.clone(), handshake.clone(), streams.clone());
                    inflight.spawn(async move {
                        request(resolver, peer, hs, streams, &ctx).await;
                    });
                }
                Ok(None) | Err(_) => return,
            },
            _ = stop.wait_for(|s| *s != Stop::Running) => break,
        }
    }
    // A graceful stop: GOAWAY naming the next request as unprocessed (RFC
    // 9114 §5.2), then the requests taken get the shutdown timeout.
    let deadline = tokio::time::Instant::now() + ctx.settings.shutdown_timeout;
    let _ = h3.shutdown(1).await;
    tokio::select! {
        _ = tokio::time::timeout_at(deadline, async {
            inflight.none().await;
            delivered(&conn).await;
        }) => {}
        _ = stop.wait_for(|s| *s == Stop::Now) => {}
    }
    // Dropping `h3` closes the connection with H3_NO_ERROR.
}

/// Waits until what the connection sent has reached the client: closing
/// it sooner would throw away response bytes still in flight (RFC 9000
/// §10.2: a closed connection's streams are discarded). quinn tells when a
/// stream is acknowledged only through a stream handle h3 keeps to
/// itself, so this waits for the client to close (as clients do once
/// their requests are answered after a GOAWAY, RFC 9114 §5.2), or for the
/// connection to go quiet: nothing sent for longer than a probe timeout
/// (RFC 9002 §6.2), which means nothing is left unacknowledged, since loss
/// recovery would have sent a probe.
async fn delivered(conn: &quinn::Connection) {
    let quiet = async {
        let mut sent = conn.stats().udp_tx.datagrams;
        loop {
            let pto = conn.rtt() * 3 + Duration::from_millis(60);
            tokio::time::sleep(pto).await;
            let now = conn.stats().udp_tx.datagrams;
            if now == sent {
                return;
            }
            sent = now;
        }
    };
    tokio::select! {
        _ = conn.closed() => {}
        () = quiet => {}
    }
}

/// Reads one request's head, answers it through the app and writes the
/// answer.
async fn request(
    resolver: h3::server::RequestResolver<h3_quinn::Connection, Bytes>,
    peer: std::net::SocketAddr,
    handshake: Rc<Handshake>,
    streams: QuicSend,
    ctx: &Ctx,
) {
    // A head too large was answered 431 by h3 already; a malformed one
    // reset the stream. A stream opened and left without a head (the
    // slowloris of HTTP/3) is dropped after `limits.header_timeout`, as a
    // TCP connection's first head is.
    let head = exchange::soon(ctx.settings.header_timeout, resolver.resolve_request());
    let Some(Ok((req, stream))) = head.await else {
        return;
    };
    let method = req.method().clone();
    let early = match in_early_data(&req, handshake.done.get()) {
        Early::No => false,
        Early::Marked => true,
        Early::Wait => {
            handshake.wait().await;
            false
        }
    };
    let safe = method == http::Method::GET || method == http::Method::HEAD;
    let reads_body = !(safe || method == http::Method::OPTIONS);
    let (mut send, body) = if reads_body {
        let (send, recv) = stream.split();
        (Either::Split(send), Some(exchange::payload(recv)))
    } else {
        (Either::Whole(stream), None)
    };
    let head_only = method == http::Method::HEAD;
    let resp = match exchange::request(req, peer, body) {
        Ok(mut areq) => {
            if early {
                areq.headers_mut()
                    .insert(EARLY_DATA.clone(), HeaderValue::from_static("1"));
            }
            areq.extensions_mut().insert(streams);
            (ctx.app)(areq).await
        }
        // What `http` takes and actix's older `http` refuses (raw UTF-8 in
        // a path, say): answered as the app answers a bad request.
        Err(why) => refusal(why, ctx),
    };
    let limit = || exchange::SendLimit {
        clock: &ctx.settings.clock,
        timeout: ctx.live.load().limits.send_timeout,
    };
    let sent = match &mut send {
        Either::Whole(s) => exchange::respond(s, resp, head_only, limit()).await,
        Either::Split(s) => exchange::respond(s, resp, head_only, limit()).await,
    };
    match sent {
        Err(SendError::Stalled) => ctx.shared.figures.stalled(),
        Err(SendError::Stream(e)) => tracing::debug!("HTTP/3 response to {peer} cut: {e}"),
        _ => {}
    }
}

/// A request's stream: whole when its body is not read, else the sending
/// half.
enum Either {
    Whole(h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>),
    Split(h3::server::RequestStream<h3_quinn::SendStream<Bytes>, Bytes>),
}

/// The 400 of a request that cannot be handed to the app, naming the
/// part that is wrong, with the fields of the app's own refusals.
fn refusal(why: &str, ctx: &Ctx) -> actix_http::Response<actix_http::body::BoxBody> {
    let mut resp = crate::server::errors::text(
        actix_web::http::StatusCode::BAD_REQUEST,
        format!("bad request: invalid {why}\n"),
    );
    if let Some(alt) = ctx.advert.value() {
        resp.headers_mut()
            .insert(actix_web::http::header::ALT_SVC, alt);
    }
    resp.into()
}

/// How long a worker waits, at a stop, for its endpoint's last packets.
pub const CLOSE_WAIT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: http::Method, body: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().method(method).uri("https://a/x");
        if let Some(len) = body {
            b = b.header("content-length", len);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn only_get_and_head_without_a_body_are_answered_in_early_data() {
        use http::Method;
        assert_eq!(in_early_data(&req(Method::GET, None), false), Early::Marked);
        assert_eq!(
            in_early_data(&req(Method::HEAD, None), false),
            Early::Marked
        );
        assert_eq!(
            in_early_data(&req(Method::GET, Some("0")), false),
            Early::Marked
        );
        assert_eq!(
            in_early_data(&req(Method::GET, Some("5")), false),
            Early::Wait
        );
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert_eq!(
                in_early_data(&req(m.clone(), None), false),
                Early::Wait,
                "{m}"
            );
            assert_eq!(in_early_data(&req(m.clone(), None), true), Early::No, "{m}");
        }
        assert_eq!(in_early_data(&req(Method::GET, Some("5")), true), Early::No);
    }

    #[tokio::test]
    async fn requests_waiting_for_the_handshake_wake_when_it_completes() {
        let hs = Rc::new(Handshake::default());
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let waiter = tokio::task::spawn_local({
                    let hs = hs.clone();
                    async move { hs.wait().await }
                });
                tokio::task::yield_now().await;
                assert!(!waiter.is_finished());
                hs.complete();
                waiter.await.unwrap();
            })
            .await;
    }
}
