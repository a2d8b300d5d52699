//! The origin client's transport: hyper-util's pooled client ("legacy",
//! the one reqwest itself is built on) over hyper-rustls for `https`
//! origins, HTTP/1.1 only.
//!
//! Why not reqwest, which the rest of the crate uses for its own calls
//! (`cluster::client`, `purge_cli`): reqwest builds the hyper request
//! itself and drops the caller's request extensions on the way, so hyper's
//! [`hyper::ext::on_informational`] callback cannot be registered, and
//! hyper discards every 1xx it reads. The origin's `103 Early Hints` are
//! forwarded to clients (see `interim`), so the origin path talks to hyper
//! directly. What reqwest did for it is kept here, setting for setting:
//! one pool shared by every worker (and by the cluster's peer client), a
//! connect timeout, idle pooled connections closed after 4 s, no
//! redirects followed, `TCP_NODELAY`, the webpki roots with ring's
//! provider for TLS, and retries (by the caller) of a request that got no
//! answer on a reused connection. The response's body is read a frame at
//! a time, so the caller's memory bound sees every part (`body`).

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::FetchError;
use crate::error_chain::chain;

/// The pooled HTTP/1.1 client (plain or TLS by the URL's scheme).
pub(super) type Http = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A response from the origin, its body still to read.
pub(super) type Response = hyper::Response<Incoming>;

/// A request to the origin, its body whole.
pub(super) type Request = hyper::Request<Full<Bytes>>;

/// Below the common server keep-alive timeouts (Node and Apache close
/// idle connections after 5 s): a request sent on a connection the origin
/// is closing fails without an answer.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// A client connecting within `connect_timeout`, its idle connections
/// kept [`POOL_IDLE`].
pub(super) fn client(connect_timeout: Duration) -> Result<Http, rustls::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(https))
}

/// `url` as a request URI; a bad one (a target no origin could be asked
/// for) is an unreachable origin.
pub(super) fn uri(url: &str) -> Result<hyper::Uri, FetchError> {
    url.parse()
        .map_err(|e| FetchError::Unreachable(format!("{url}: {e}")))
}

/// Sends `req` and waits at most `limit` for the response head, whose
/// status must be one the node may answer with (`origin::filter`). The
/// flag on an error says the request never got an answer on a working
/// connection (worth a retry of an idempotent request): no connection, or
/// a reused one the origin closed before any answer.
pub(super) async fn send(
    http: &Http,
    req: Request,
    limit: Duration,
) -> Result<Response, (FetchError, bool)> {
    match tokio::time::timeout(limit, http.request(req)).await {
        Err(_) => Err((FetchError::Timeout, false)),
        Ok(Ok(resp)) => match super::super::filter::final_status(resp.status().as_u16()) {
            Ok(_) => Ok(resp),
            Err(e) => Err((e, false)),
        },
        Ok(Err(e)) if timed_out(&e) => Err((FetchError::Timeout, false)),
        Ok(Err(e)) => Err((FetchError::Unreachable(chain(&e)), true)),
    }
}

/// Whether `e` or one of its causes is a timeout (the connect timeout).
fn timed_out(e: &(dyn StdError + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(e) = at {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        at = e.source();
    }
    false
}

/// The body's next part: `None` at its end. Trailers are not parts.
pub(super) async fn chunk(body: &mut Incoming) -> Result<Option<Bytes>, FetchError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
            Some(Err(e)) if timed_out(&e) => return Err(FetchError::Timeout),
            Some(Err(e)) => return Err(FetchError::Broken(chain(&e))),
        }
    }
}

/// The length the origin declared for the body, if any.
pub(super) fn content_length(resp: &Response) -> Option<u64> {
    hyper::body::Body::size_hint(resp.body()).exact()
}

/// The buffer a body held whole is read into: with a declared length
/// (already allowed by the caller's `Room`), allocated once at that size,
/// so the body is not copied each time a growing buffer doubles, and the
/// `Bytes` it becomes holds no more memory than the bound counted for it
/// (a doubled buffer could hold up to twice that). Without one, it grows
/// as parts arrive, each growth asked of the `Room` first.
pub(super) fn body_buffer(declared: Option<u64>) -> BytesMut {
    BytesMut::with_capacity(declared.map_or(0, |n| usize::try_from(n).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error caused by another, as hyper-util's are.
    #[derive(Debug, thiserror::Error)]
    #[error("client error")]
    struct Outer(#[source] io::Error);

    #[test]
    fn a_declared_body_is_read_into_one_buffer_of_its_size() {
        let mut b = body_buffer(Some(70_000));
        assert_eq!(b.capacity(), 70_000);
        let ptr = b.as_ptr();
        for _ in 0..7 {
            b.extend_from_slice(&[7u8; 10_000]);
        }
        assert_eq!(b.as_ptr(), ptr, "no reallocation while the body arrives");
        assert_eq!(b.freeze().len(), 70_000);
        assert_eq!(body_buffer(None).capacity(), 0);
        assert_eq!(body_buffer(Some(0)).capacity(), 0);
    }

    #[test]
    fn a_timeout_among_the_causes_is_a_timeout() {
        let inner = io::Error::new(io::ErrorKind::TimedOut, "connect timeout");
        assert!(timed_out(&Outer(inner)));
        assert!(!timed_out(&Outer(io::Error::other("refused"))));
    }

    #[test]
    fn a_bad_target_is_unreachable() {
        assert!(matches!(
            uri("http://a b/"),
            Err(FetchError::Unreachable(_))
        ));
        assert!(uri("http://127.0.0.1:1/x?y").is_ok());
    }
}
