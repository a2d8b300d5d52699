//! Purging: `PURGE /path` drops one object (all its query variants), or
//! with `X-Purge-Tags: a, b` every object carrying one of those tags (the
//! path is then not purged), and `POST /_purge` with `{"paths": [...],
//! "prefixes": [...], "tags": [...]}` drops many. A path with a query
//! (`PURGE /a.js?v=1`, `"paths": ["/a.js?v=1"]`) drops only the object of
//! that query, as the path's `query` rule keys it. `X-Purge-Soft: 1` (on
//! PURGE) or `"soft": true` (in the body) makes them stale instead
//! (`edge::Target`, `pull::soft`). A body with a field it does not know is
//! refused (400, naming the field).
//! Both need `Authorization: Bearer <token>` (any case of `Bearer`); with
//! no token configured purging does not exist (PURGE is then an unknown
//! method, 405, and the endpoint a 404). A bad path or prefix refuses the
//! whole request (400) before anything goes. Nothing addressed to the
//! endpoint, in any method or spelling, and no request carrying the purge
//! token, is ever passed to the origin.
//!
//! With `[cluster]`, a client's purge is also sent to every other peer
//! (`cluster::fanout`) and the answer lists each node's result; a peer's
//! purge (`POST /_edge/purge` or to `purge.path`, or `PURGE`, with the hop
//! field and the cluster token, checked before this) purges this node
//! only, whether or not it has a purge token of its own.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::errors;
use super::limits::read_body;
use super::live::Live;
use super::metrics::purges::PurgeStats;
use crate::cluster::{client, Batch, Cluster, NodeResult, Peer, PurgeFailed};
use crate::edge::{Edge, Target};
use crate::http::{cache_key, path};
use crate::origin::tags;

/// The request field of a `PURGE` naming tags instead of its path.
pub const TAGS_FIELD: &str = "x-purge-tags";

/// The request field of a `PURGE` asking for a soft purge (`1`).
pub const SOFT_FIELD: &str = "x-purge-soft";

/// Largest purge request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Answers the request if it is a purge: a client's (`PURGE`, or `POST`
/// to `purge.path`, with the purge token) or, when `from_peer`, a peer's.
/// `None` for any other request; its body is then left in `payload`.
///
/// Nothing addressed to the purge endpoint reaches the origin: `key` (the
/// request path's key, when it has one) is compared with `purge.path`'s,
/// so every spelling that normalises to it (`//_purge`, `/_purge/`,
/// `/%5Fpurge`) is the endpoint, and any method but POST there is a 405.
/// With purging off the endpoint is a 404. A client's request that carries
/// the purge token anywhere else is refused (403), never forwarded with it.
pub async fn dispatch(
    req: &HttpRequest,
    payload: &mut Option<web::Payload>,
    live: &Live,
    cluster: Option<&Arc<Cluster>>,
    from_peer: bool,
    key: Option<&path::Key>,
    stats: &PurgeStats,
) -> Option<HttpResponse> {
    let raw_path = req.uri().path();
    let is_purge = req.method().as_str() == "PURGE";
    let is_post = req.method() == Method::POST;
    let at_endpoint = key.is_some_and(|k| k.path() == live.purge_path);
    if from_peer {
        // This node only: a peer's purge is never sent on.
        let batch_path = raw_path == client::PURGE_PATH || at_endpoint;
        if batch_path && !is_post && !is_purge {
            return Some(wrong_method());
        }
        if !(is_purge || batch_path) {
            return None;
        }
        return Some(match batch_of(req, is_purge, payload, live).await {
            Ok(b) => purged(here(&live.edge, &b, stats).await, None),
            Err(resp) => resp,
        });
    }
    let Some(token) = live.purge_token.as_ref() else {
        // Purging is off (PURGE is then an unknown method, see `handler`);
        // its endpoint still never reaches the origin.
        return at_endpoint.then(purging_off);
    };
    if at_endpoint && !is_post && !is_purge {
        return Some(wrong_method());
    }
    if !(is_purge || at_endpoint) {
        return authorized(req.headers(), token).then(misdirected);
    }
    if !authorized(req.headers(), token) {
        return Some(unauthorized());
    }
    let batch = match batch_of(req, is_purge, payload, live).await {
        Ok(b) => b,
        Err(resp) => return Some(resp),
    };
    Some(match cluster {
        None => purged(here(&live.edge, &batch, stats).await, None),
        Some(c) => {
            // This node and its peers at once.
            let (n, peers) =
                futures_util::future::join(here(&live.edge, &batch, stats), c.purge_peers(&batch))
                    .await;
            purged(n, Some((c.peers().me(), peers)))
        }
    })
}

/// Whether the request carries the token as `Authorization: Bearer
/// <token>` (the scheme in any case, RFC 9110 §11.1); compares in constant
/// time.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| crate::http::bearer::token(v.as_bytes()))
    else {
        return false;
    };
    crate::cluster::auth::same_secret(given, token.as_bytes())
}

/// 401 with the scheme to use.
pub fn unauthorized() -> HttpResponse {
    let mut resp = errors::text(
        StatusCode::UNAUTHORIZED,
        "purge needs Authorization: Bearer <token>\n",
    );
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// 405 for a method other than POST on the purge endpoint.
fn wrong_method() -> HttpResponse {
    let mut resp = errors::text(
        StatusCode::METHOD_NOT_ALLOWED,
        "the purge endpoint takes POST\n",
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

/// 404 for the purge endpoint when purging is off.
fn purging_off() -> HttpResponse {
    errors::text(
        StatusCode::NOT_FOUND,
        "not found: purging is off on this node\n",
    )
}

/// 403 for the purge token sent with a request that is not a purge: it is
/// this node's secret, and would otherwise go on to the origin.
fn misdirected() -> HttpResponse {
    errors::text(
        StatusCode::FORBIDDEN,
        "forbidden: the purge token is only for PURGE and the purge endpoint\n",
    )
}

/// `{"purged": N}`: how many objects went; with a cluster, the sum over
/// the nodes that answered, and `"nodes"`, this one first, then each peer
/// with its count or its error.
fn purged(here: usize, cluster: Option<(&Peer, Vec<NodeResult>)>) -> HttpResponse {
    let body = match cluster {
        None => format!("{{\"purged\": {here}}}\n"),
        Some((me, peers)) => {
            let total = here
                + peers
                    .iter()
                    .filter_map(|r| r.purged.as_ref().ok())
                    .sum::<usize>();
            let nodes: Vec<String> = [node_json(me, &Ok(here))]
                .into_iter()
                .chain(peers.iter().map(|r| node_json(&r.node, &r.purged)))
                .collect();
            format!(
                "{{\"purged\": {total}, \"nodes\": [{}]}}\n",
                nodes.join(", ")
            )
        }
    };
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}

/// One node's entry of the answer.
fn node_json(node: &Peer, result: &Result<usize, PurgeFailed>) -> String {
    let name = serde_json::Value::from(node.url());
    match result {
        Ok(n) => format!("{{\"node\": {name}, \"purged\": {n}}}"),
        Err(e) => format!(
            "{{\"node\": {name}, \"error\": {}}}",
            serde_json::Value::from(e.to_string())
        ),
    }
}

/// What a purge asks to drop: the path (or `X-Purge-Tags`) of a `PURGE`,
/// or the JSON body read from `payload`; 400 with the reason (or the
/// body's own error).
async fn batch_of(
    req: &HttpRequest,
    is_purge: bool,
    payload: &mut Option<web::Payload>,
    live: &Live,
) -> Result<Batch, HttpResponse> {
    let checked = if is_purge {
        one(target(req), req.headers())
    } else {
        many(&read_body(payload.take(), MAX_BODY, &live.limits).await?)
    };
    checked.map_err(|why| errors::text(StatusCode::BAD_REQUEST, why.to_string()))
}

/// Why a purge's request names nothing to purge (answered 400 with it).
#[derive(Debug, thiserror::Error)]
enum BadBatch {
    /// The path of a `PURGE` is not a request path.
    #[error("bad purge path: {0}\n")]
    Path(path::PathError),
    /// The body is not the JSON a purge takes.
    #[error("purge body must be {{\"paths\": [...], \"prefixes\": [...], \"tags\": [...], \"soft\": false}}: {0}\n")]
    Body(serde_json::Error),
    /// A tag is empty or holds whitespace (no object could carry it).
    #[error("bad purge tag {0:?}: a tag is not empty and holds no whitespace\n")]
    Tag(String),
    /// A field of a `PURGE` is not text, or names no tag.
    #[error("bad {0}: {1}\n")]
    Field(&'static str, &'static str),
    /// A path of the body is not a request path.
    #[error("bad purge path {0:?}: {1}\n")]
    BodyPath(String, path::PathError),
    /// A prefix of the body is not a request path.
    #[error("bad purge prefix {0:?}: {1}\n")]
    Prefix(String, path::PathError),
}

/// The request target of a `PURGE` (its path and query).
fn target(req: &HttpRequest) -> &str {
    req.uri().path_and_query().map_or("/", |pq| pq.as_str())
}

/// A purge path as a request target: the path, and the query after the
/// first `?` (a literal `?` in a path is spelt `%3F`).
fn split_target(t: &str) -> (&str, Option<&str>) {
    match t.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (t, None),
    }
}

/// The batch of `PURGE target` with `headers` (`X-Purge-Tags`, then the
/// target is not purged; `X-Purge-Soft`), or why not.
fn one(target: &str, headers: &HeaderMap) -> Result<Batch, BadBatch> {
    let soft = match headers.get(SOFT_FIELD).map(|v| v.as_bytes()) {
        None | Some(b"0") => false,
        Some(b"1") => true,
        Some(_) => return Err(BadBatch::Field("X-Purge-Soft", "1 (soft) or 0")),
    };
    if headers.contains_key(TAGS_FIELD) {
        let mut tags = Vec::new();
        for v in headers.get_all(TAGS_FIELD) {
            let v = v
                .to_str()
                .map_err(|_| BadBatch::Field("X-Purge-Tags", "not text"))?;
            tags.extend(
                v.split(|c: char| c == ',' || c.is_ascii_whitespace())
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            );
        }
        if tags.is_empty() {
            return Err(BadBatch::Field("X-Purge-Tags", "names no tag"));
        }
        return Ok(Batch {
            tags,
            soft,
            ..Batch::default()
        });
    }
    path::key(split_target(target).0).map_err(BadBatch::Path)?;
    Ok(Batch::of_paths(vec![target.to_string()], soft))
}

/// The batch of a JSON body, every path and prefix checked, or why not.
fn many(body: &[u8]) -> Result<Batch, BadBatch> {
    let batch: Batch = serde_json::from_slice(body).map_err(BadBatch::Body)?;
    for p in &batch.paths {
        path::key(split_target(p).0).map_err(|e| BadBatch::BodyPath(p.clone(), e))?;
    }
    // Checked as a request path is (decoded, no dot segment): the prefix
    // then matches the keys of every spelling of the paths under it.
    for p in &batch.prefixes {
        cache_key::prefix(p).map_err(|e| BadBatch::Prefix(p.clone(), e))?;
    }
    if let Some(t) = batch.tags.iter().find(|t| !tags::is_valid(t)) {
        return Err(BadBatch::Tag(t.clone()));
    }
    Ok(batch)
}

/// Purges a checked batch from this node (dropped, or made stale when
/// soft), counting each item in `stats`; how many objects it named.
async fn here(edge: &Edge, batch: &Batch, stats: &PurgeStats) -> usize {
    let soft = batch.soft;
    let mut n = 0;
    let mut count = |kind, objects| {
        stats.count(kind, soft, objects);
        n += objects;
    };
    for p in &batch.paths {
        let (p, query) = split_target(p);
        if let Ok(k) = path::key(p) {
            count(0, edge.purge_item(Target::Path(&k, query), soft).await);
        }
    }
    for p in &batch.prefixes {
        count(1, edge.purge_item(Target::Prefix(p), soft).await);
    }
    for t in &batch.tags {
        count(2, edge.purge_item(Target::Tag(t), soft).await);
    }
    n
}
