//! What a node answers of the cluster's own traffic before anything else:
//! the 403 to a request that poses as a peer's, and its readiness to its
//! peers' probes (`GET /_edge/ready`, see `cluster::probe`). Peers' purges
//! are `purge`'s; peers' misses are ordinary requests.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::errors;
use super::ready::Readiness;
use crate::cluster::auth;
use crate::edge::Edge;

/// 403 for a request with the hop field of peer requests but not the
/// cluster token; marked so that a node that sent it (with another token)
/// takes it as a failed peer, not as an answer.
pub fn forged(why: &str) -> HttpResponse {
    let mut resp = errors::text(StatusCode::FORBIDDEN, format!("forbidden: {why}\n"));
    resp.headers_mut()
        .insert(auth::REFUSED, HeaderValue::from_static("token"));
    resp
}

/// A peer's probe: this node's readiness (200, or 503 while it drains),
/// whatever its origin does: a node whose origin fails still serves its
/// cache and passes the origin's errors on.
pub async fn ready(readiness: &Readiness, edge: &Edge) -> HttpResponse {
    readiness.respond(edge, false).await
}
