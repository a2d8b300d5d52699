//! The request handler: the features of a request, in order. With a
//! cluster, who sent it (a peer, a client, or a client posing as a peer:
//! 403) and peers' probes; health and readiness checks, metrics, purge
//! (peers' too), method (unsafe ones go to the origin when there is one),
//! path key, CORS preflight, lookup, then the asset response; then it is
//! counted (for peers too), and logged once its body is sent.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::access_log::WorkerLog;
use super::cache_outcome::CacheOutcome;
use super::live::Live;
use super::metrics::WorkerCounters;
use super::{
    connection, errors, health, interim, limits, pages, passthrough, peer, purge, respond, slices,
    State,
};
use crate::cluster::auth::Caller;
use crate::cluster::client::READY_PATH;
use crate::edge::EdgeError;
use crate::error_chain::chain;
use crate::http::path;
use crate::lookup::{Ask, CacheStatus, Lookup, Served};
use crate::origin::client::FetchError;
use crate::origin::timing::UpstreamTime;

const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");

/// What each worker thread has of its own: its counters and its access
/// log buffer.
pub struct Worker {
    /// The worker's request counters.
    pub counters: Arc<WorkerCounters>,
    /// The worker's access log (it writes nothing while the log is off).
    pub log: Rc<WorkerLog>,
}

/// Handles every request the node receives, counts it and (when the access
/// log is on) logs it. Shared state and the worker's counters and log are
/// borrowed from the app data, not cloned; the config's settings are
/// loaded once, here, and hold for the whole request even if a reload swaps
/// them meanwhile.
pub async fn handle(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let started = Instant::now();
    let state = req.app_data::<web::Data<State>>();
    let worker = req.app_data::<Worker>();
    let (Some(state), Some(worker)) = (state, worker) else {
        return errors::text(StatusCode::INTERNAL_SERVER_ERROR, "server state missing\n");
    };
    let counters = &worker.counters;
    let mut cache = CacheOutcome::None;
    let upstream = UpstreamTime::default();
    let live = state.live.load();
    // Until its response is sent, the connection is not idle (`limits`).
    let busy = limits::conns::busy(&req);
    // Held until the response is built: bounds one HTTP/2 connection's
    // requests in flight (see `connection`).
    let slot = connection::enter(&req, live.max_streams);
    // Before anything else: a client posing as a peer is refused, and only
    // a checked peer request skips routing (`cluster::auth`).
    let caller = state.cluster.as_ref().map(|c| c.caller(req.headers()));
    let mut resp = match slot {
        Some(_) => {
            let payload = body_to_read(&req, payload);
            let call = Call {
                caller: caller.as_ref(),
                counters,
                cache: &mut cache,
                upstream: &upstream,
            };
            route(&req, payload, state, &live, call).await
        }
        None => {
            counters.refused_stream();
            connection::refused()
        }
    };
    drop(slot);
    live.https.finish(&req, &mut resp);
    state.alt_svc.add(&req, &mut resp);
    let head = req.method() == Method::HEAD;
    counters.record(&resp, head, cache, started.elapsed());
    counters.version(req.version());
    if caller == Some(Caller::Peer) {
        counters.served_peer(cache);
    }
    let resp = limits::conns::until_sent(busy, resp);
    worker
        .log
        .wrap(&req, resp, started, cache, upstream.total())
}

/// The request body, if the method's handling reads it. A GET, HEAD or
/// OPTIONS body never is: dropping it now makes HTTP/2 discard DATA frames
/// sent on the stream as they come, rather than queue them (empty ones are
/// not flow-controlled, so a client could otherwise grow the queue without
/// bound).
fn body_to_read(req: &HttpRequest, payload: web::Payload) -> Option<web::Payload> {
    match *req.method() {
        Method::GET | Method::HEAD | Method::OPTIONS => None,
        _ => Some(payload),
    }
}

/// What `route` is given of the request beside it, and fills in.
struct Call<'a> {
    /// Who sent it, with `[cluster]`.
    caller: Option<&'a Caller>,
    /// The worker's counters.
    counters: &'a WorkerCounters,
    /// Set to how the cache took part.
    cache: &'a mut CacheOutcome,
    /// Origin exchanges add their time to it.
    upstream: &'a UpstreamTime,
}

/// What the request is answered with. The paths off the hit path
/// (readiness, metrics, purge, unsafe methods) are boxed where they are
/// awaited, so their state does not enlarge every request's future.
async fn route(
    req: &HttpRequest,
    mut payload: Option<web::Payload>,
    state: &State,
    live: &Live,
    call: Call<'_>,
) -> HttpResponse {
    let Call {
        caller,
        counters,
        cache,
        upstream,
    } = call;
    let from_peer = match caller {
        None | Some(Caller::Client) => false,
        Some(Caller::Peer) => true,
        Some(Caller::Forged(why)) => return peer::forged(why),
    };
    if let Some(resp) = live.limits.check_head(req) {
        return resp;
    }
    if let Some(resp) = live.cdn_loop.check(req) {
        return resp;
    }
    let raw_path = req.uri().path();
    if from_peer && raw_path == READY_PATH {
        return Box::pin(peer::ready(&state.readiness, &live.edge)).await;
    }
    if live.health_path.as_deref() == Some(raw_path) {
        return health::respond();
    }
    if live.ready_path.as_deref() == Some(raw_path) {
        return Box::pin(
            state
                .readiness
                .respond(&live.edge, live.ready_requires_origin),
        )
        .await;
    }
    if live.metrics_path.as_deref() == Some(raw_path) {
        return Box::pin(state.metrics.respond()).await;
    }
    if state.test_clock && raw_path == TEST_CLOCK_PATH && req.method() == Method::POST {
        return match Box::pin(limits::read_body(payload, 64, &live.limits)).await {
            Ok(body) => advance_clock(state, &body),
            Err(resp) => resp,
        };
    }
    let key = path::key(raw_path);
    let cluster = state.cluster.as_ref();
    let purging = purge::dispatch(
        req,
        &mut payload,
        live,
        cluster,
        from_peer,
        key.as_ref().ok(),
        state.metrics.purges(),
    );
    if let Some(resp) = Box::pin(purging).await {
        return resp;
    }
    if let Some(resp) = live.https.redirect(req, state.https_port.get().copied()) {
        return resp;
    }
    let key = match key {
        Ok(k) => k,
        Err(e) if e.is_not_found() => return not_found(),
        Err(e) => return errors::text(StatusCode::BAD_REQUEST, format!("bad request path: {e}\n")),
    };
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return live.cors.options(req.headers()),
        _ => return Box::pin(unsafe_method(req, payload, live, &key, cache, upstream)).await,
    }
    let directives = Ask::directives_of(req.headers());
    let ask = Ask {
        from_peer,
        ..ask_of(req, &directives, upstream)
    };
    // The origin's 103s of a fetch this request leads go to its client
    // (a node without an origin has none to relay: no relay to set up).
    let lookup = live.edge.lookup(&key, &ask);
    let found = if live.edge.has_origin() {
        interim::relayed(req, lookup).await
    } else {
        lookup.await
    };
    let reply = Reply {
        req,
        state,
        live,
        from_peer,
    };
    // A rule's fallback or error page in place of an error (a client's
    // request only: a peer's is answered as the cache holds it).
    if let (Some(p), Some(status), false) = (&live.pages, pages::error_status(&found), from_peer) {
        match Box::pin(pages::instead(live, p, req, &key, &ask, status)).await {
            Some(pages::Instead::Fallback(doc)) => {
                return answer(&reply, &key, doc, counters, cache)
            }
            Some(pages::Instead::ErrorPage(resp)) => return resp,
            None => {}
        }
    }
    answer(&reply, &key, found, counters, cache)
}

/// What an answer to a looked-up request is made with.
struct Reply<'a> {
    req: &'a HttpRequest,
    state: &'a State,
    live: &'a Live,
    /// A peer's request: no CORS grant goes into what it stores.
    from_peer: bool,
}

/// The answer to what the lookup found, counted (`counters`) and with how
/// the cache took part (`cache`).
fn answer(
    r: &Reply<'_>,
    key: &path::Key,
    found: Result<Lookup, EdgeError>,
    counters: &WorkerCounters,
    cache: &mut CacheOutcome,
) -> HttpResponse {
    let (req, live) = (r.req, r.live);
    match found {
        Ok(Lookup::Asset {
            asset,
            from_memory,
            status,
        }) => {
            counters.lookup(from_memory);
            *cache = status.into();
            asset_response(r, &asset, status)
        }
        Ok(Lookup::Directory) => {
            counters.lookup(false);
            redirect_to_directory(key, req.uri().query())
        }
        Ok(Lookup::NotFound) => {
            counters.lookup(false);
            not_found()
        }
        Ok(Lookup::Passed(fetched, reason)) => {
            counters.lookup(false);
            *cache = CacheOutcome::Pass;
            let resp = passthrough::respond(&fetched, reason, req.method() == Method::HEAD);
            slices::sliced(req, resp, None)
        }
        Ok(Lookup::NotCached) => {
            counters.lookup(false);
            *cache = CacheOutcome::Miss;
            not_cached()
        }
        Ok(Lookup::Streamed(s, reason)) => {
            counters.lookup(false);
            *cache = CacheOutcome::Pass;
            passthrough::streamed(req, s, reason, live.limits.origin_streams)
        }
        Ok(Lookup::OriginFailed(e)) => {
            counters.lookup(false);
            *cache = CacheOutcome::Error;
            origin_failed(req, live, &e)
        }
        Err(e) => edge_failed(&e),
    }
}

/// The answer with a stored or local asset: the representation the
/// request asks for, sliced for the writer, with the cache's own fields.
fn asset_response(r: &Reply<'_>, asset: &Served, status: CacheStatus) -> HttpResponse {
    let req = r.req;
    let resp = if asset.status() == 200 {
        // A peer stores the answer for all its clients: no CORS
        // grant made for one client's `Origin` goes into it.
        let grant = if r.from_peer {
            Default::default()
        } else {
            r.live.cors.grant(req.headers())
        };
        let watch = || limits::conns::watch_body(req);
        respond::asset_watched(req.method(), req.headers(), asset, &grant, &watch)
    } else {
        passthrough::stored_error(req, asset)
    };
    let mut resp = slices::sliced(req, resp, Some(asset));
    early_hints(r, asset, &resp);
    passthrough::cache_headers(resp.headers_mut(), asset, status, r.state.clock.now());
    if r.from_peer {
        let strip = r.live.edge.origin().map(|o| o.reading().strip.as_slice());
        asset.as_stored_for_peer(resp.headers_mut(), strip.unwrap_or_default());
    }
    resp
}

/// A `103 Early Hints` with a local HTML entry point's preload links
/// (RFC 8297), queued before its response: to an HTTP/1.1 client's GET
/// answered with the whole page (`200`), never with a `304` (the page is
/// not reloaded: nothing to preload for), a range or a HEAD. Sent on every
/// such response, not only when the page takes long: from memory the
/// `103` costs its few hundred bytes in the same write and gains the
/// browser nothing, but a proxy in front (another node pulling from this
/// one, which relays `103`s) passes it on while it still fetches the page.
fn early_hints(r: &Reply<'_>, asset: &Served, resp: &HttpResponse) {
    let Some(links) = &asset.preload else { return };
    if r.from_peer || r.req.method() != Method::GET || resp.status() != StatusCode::OK {
        return;
    }
    if let Some(mut hints) = interim::EarlyHints::of(r.req) {
        hints.send(103, links);
    }
}

/// `only-if-cached` and nothing stored may answer: 504 (RFC 9111 §5.2.1.7).
fn not_cached() -> HttpResponse {
    let mut resp = errors::text(
        StatusCode::GATEWAY_TIMEOUT,
        "only-if-cached: not in the cache\n",
    );
    resp.headers_mut().insert(
        passthrough::CACHE_STATUS,
        HeaderValue::from_static("cdn-edge; fwd=miss; detail=only-if-cached"),
    );
    resp
}

/// The node failed to look the request up (its fault, not the client's):
/// logged with its causes, answered with a short reason.
fn edge_failed(e: &EdgeError) -> HttpResponse {
    let (status, reason) = e.public();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match status {
        StatusCode::FORBIDDEN => tracing::warn!("{}", chain(e)),
        _ => tracing::error!("{}", chain(e)),
    }
    errors::text(status, reason)
}

/// Methods other than GET/HEAD/OPTIONS: passed to the origin uncached
/// (request body included) when there is one, else 405.
async fn unsafe_method(
    req: &HttpRequest,
    payload: Option<web::Payload>,
    live: &Live,
    key: &path::Key,
    cache: &mut CacheOutcome,
    upstream: &UpstreamTime,
) -> HttpResponse {
    // PURGE is the edge's own method: never forwarded, and with no token
    // configured it does not exist here.
    if !live.edge.has_origin() || req.method().as_str() == "PURGE" {
        let mut resp = errors::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: this node serves GET, HEAD and OPTIONS\n",
        );
        resp.headers_mut().insert(header::ALLOW, ALLOW);
        return resp;
    }
    if let Some(resp) = live.limits.check_declared_body(req) {
        return resp;
    }
    let limit = usize::try_from(live.limits.body_bytes).unwrap_or(usize::MAX);
    let body = match limits::read_body(payload, limit, &live.limits).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let directives = Ask::directives_of(req.headers());
    let ask = ask_of(req, &directives, upstream);
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    match live
        .edge
        .forward_unsafe(key, target, req.method().as_str(), &ask, body)
        .await
    {
        Some(Lookup::Streamed(s, reason)) => {
            *cache = CacheOutcome::Pass;
            passthrough::streamed(req, s, reason, live.limits.origin_streams)
        }
        Some(Lookup::OriginFailed(e)) => {
            *cache = CacheOutcome::Error;
            origin_failed(req, live, &e)
        }
        _ => errors::text(StatusCode::BAD_GATEWAY, "no origin\n"),
    }
}

/// 502/504 for an origin fault: the log gets the detail (origin URL, OS
/// error), the client only the kind of fault (`origin unreachable`), never
/// the origin's address.
fn origin_failed(req: &HttpRequest, live: &Live, e: &FetchError) -> HttpResponse {
    tracing::warn!(
        method = %req.method(),
        path = %req.uri(),
        origin = live.edge.origin_base().unwrap_or("-"),
        "origin: {e}"
    );
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut resp = errors::text(status, format!("{}\n", e.public_reason()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // No room in the memory bound now: it frees as responses end.
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// What a lookup or a forward needs of the request.
fn ask_of<'a>(
    req: &'a HttpRequest,
    directives: &'a crate::http::cache_control::CacheControl,
    upstream: &'a UpstreamTime,
) -> Ask<'a> {
    Ask {
        query: req.uri().query(),
        headers: req.headers(),
        peer: req.peer_addr().map(|a| a.ip()),
        directives,
        upstream: Some(upstream),
        from_peer: false,
        via: crate::headers::via_for(req.version()),
        authority: req
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| req.headers().get(header::HOST)?.to_str().ok()),
        secure: req.app_config().secure(),
    }
}

/// Where tests move the node's clock (only with `CDN_EDGE_TEST_CLOCK=1`).
const TEST_CLOCK_PATH: &str = "/_edge/clock";

/// `POST /_edge/clock` with a body of seconds: moves the clock forward.
fn advance_clock(state: &State, body: &[u8]) -> HttpResponse {
    match std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.trim().parse::<u64>().ok())
    {
        Some(secs) => {
            let total = state.clock.advance(secs);
            errors::text(StatusCode::OK, format!("{total}\n"))
        }
        None => errors::text(StatusCode::BAD_REQUEST, "body: whole seconds to advance\n"),
    }
}

fn not_found() -> HttpResponse {
    errors::text(StatusCode::NOT_FOUND, "not found\n")
}

/// `/dir` → 301 `/dir/`, built from the normalised key (never the raw path,
/// so `//evil.example` cannot become a protocol-relative redirect).
fn redirect_to_directory(key: &path::Key, query: Option<&str>) -> HttpResponse {
    let mut location = key.url_path();
    location.push('/');
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    let mut resp = errors::text(
        StatusCode::MOVED_PERMANENTLY,
        "moved: this is a directory\n",
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use actix_web::{web, FromRequest};
    use futures_util::FutureExt;

    /// Every request's handler future is allocated and moved (actix-web
    /// boxes it, the HTTP/2 dispatcher spawns a task for it), so its size
    /// is paid per request. The origin, purge, readiness and metrics paths
    /// are boxed where they are awaited to keep the hit path's future
    /// small: it was 6.5 KB before that, past the allocator's small sizes.
    #[test]
    fn the_handler_future_stays_small() {
        let req = TestRequest::default().to_http_request();
        let (other, mut pl) = TestRequest::default().to_http_parts();
        let payload = web::Payload::from_request(&other, &mut pl)
            .now_or_never()
            .unwrap()
            .unwrap();
        let size = std::mem::size_of_val(&super::handle(req, payload));
        assert!(size <= 2048, "handler future is {size} bytes");
    }
}
