//! The request handler: the features of a request, in order. Health check,
//! method, path key, CORS preflight, lookup, then the asset response.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use std::sync::Arc;

use super::metrics::{self, WorkerCounters};
use super::{errors, health, passthrough, respond, State};
use crate::edge::{Ask, Lookup};
use crate::http::path;

const ALLOW: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");

/// Handles every request the node receives, and counts it. Shared state
/// and the worker's counters are borrowed from the app data, not cloned.
pub async fn handle(req: HttpRequest) -> HttpResponse {
    let state = req.app_data::<web::Data<State>>();
    let counters = req.app_data::<Arc<WorkerCounters>>();
    let (Some(state), Some(counters)) = (state, counters) else {
        return errors::text(StatusCode::INTERNAL_SERVER_ERROR, "server state missing\n");
    };
    let resp = route(&req, state, counters).await;
    let head = req.method() == Method::HEAD;
    counters.record(resp.status(), metrics::body_size(&resp), head);
    resp
}

async fn route(req: &HttpRequest, state: &State, counters: &WorkerCounters) -> HttpResponse {
    let raw_path = req.uri().path();
    if state.health_path.as_deref() == Some(raw_path) {
        return health::respond();
    }
    if state.metrics_path.as_deref() == Some(raw_path) {
        return state.metrics.respond();
    }
    match *req.method() {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => return state.cors.options(req.headers()),
        _ => {
            let mut resp = errors::text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: this node serves GET, HEAD and OPTIONS\n",
            );
            resp.headers_mut().insert(header::ALLOW, ALLOW);
            return resp;
        }
    }
    let key = match path::key(raw_path) {
        Ok(k) => k,
        Err(e) if e.is_not_found() => return not_found(),
        Err(e) => return errors::text(StatusCode::BAD_REQUEST, format!("bad request path: {e}\n")),
    };
    let ask = Ask {
        query: req.uri().query(),
        cache_control: req
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    };
    match state.edge.lookup(&key, &ask).await {
        Ok(Lookup::Asset {
            asset,
            from_memory,
            status,
        }) => {
            counters.lookup(from_memory);
            let mut resp = if asset.status() == 200 {
                respond::asset(
                    req.method(),
                    req.headers(),
                    &asset,
                    &state.cors.grant(req.headers()),
                )
            } else {
                passthrough::stored_error(&asset, req.method() == Method::HEAD)
            };
            passthrough::cache_headers(resp.headers_mut(), &asset, status);
            resp
        }
        Ok(Lookup::Directory) => {
            counters.lookup(false);
            redirect_to_directory(key.path(), req.uri().query())
        }
        Ok(Lookup::NotFound) => {
            counters.lookup(false);
            not_found()
        }
        Ok(Lookup::Passed(fetched)) => {
            counters.lookup(false);
            passthrough::respond(&fetched, req.method() == Method::HEAD)
        }
        Ok(Lookup::OriginFailed(e)) => {
            counters.lookup(false);
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            errors::text(status, format!("{e}\n"))
        }
        Err(e) => {
            tracing::error!("{e}");
            errors::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error reading the asset\n",
            )
        }
    }
}

fn not_found() -> HttpResponse {
    errors::text(StatusCode::NOT_FOUND, "not found\n")
}

/// Characters escaped when a key is written back into a URL path.
const PATH_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// `/dir` → 301 `/dir/`, built from the normalised key (never the raw path,
/// so `//evil.example` cannot become a protocol-relative redirect).
fn redirect_to_directory(key: &str, query: Option<&str>) -> HttpResponse {
    let mut location = format!("/{}/", utf8_percent_encode(key, PATH_ESCAPE));
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
