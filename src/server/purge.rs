//! Purging: `PURGE /path` drops one object (all its query variants), and
//! `POST /_purge` with `{"paths": [...], "prefixes": [...]}` drops many.
//! Both need `Authorization: Bearer <token>`; with no token configured
//! purging does not exist (PURGE is then an unknown method, 405).

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Deserialize;

use super::errors;
use crate::edge::Edge;
use crate::http::path;

/// The body of `POST /_purge`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Request paths to drop (`/app.css`), with every query variant.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Path prefixes to drop (`/img/`).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

/// Largest purge request body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// Whether the request carries the token; compares in constant time.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(given) = given.strip_prefix("Bearer ").map(str::trim) else {
        return false;
    };
    crate::cluster::auth::same_secret(given.as_bytes(), token.as_bytes())
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

fn purged(n: usize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(format!("{{\"purged\": {n}}}\n"))
}

/// `PURGE raw_path`.
pub async fn one(edge: &Edge, raw_path: &str) -> HttpResponse {
    match path::key(raw_path) {
        Ok(k) => purged(edge.purge(&k).await),
        Err(e) => errors::text(StatusCode::BAD_REQUEST, format!("bad purge path: {e}\n")),
    }
}

/// `POST /_purge` with a JSON body.
pub async fn many(edge: &Edge, body: &[u8]) -> HttpResponse {
    let req: Request = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return errors::text(
                StatusCode::BAD_REQUEST,
                format!("purge body must be {{\"paths\": [...], \"prefixes\": [...]}}: {e}\n"),
            )
        }
    };
    let mut n = 0;
    for p in &req.paths {
        match path::key(p) {
            Ok(k) => n += edge.purge(&k).await,
            Err(e) => {
                return errors::text(
                    StatusCode::BAD_REQUEST,
                    format!("bad purge path {p:?}: {e}\n"),
                )
            }
        }
    }
    for p in &req.prefixes {
        if !p.starts_with('/') || p.split('/').any(|s| s == "..") {
            return errors::text(
                StatusCode::BAD_REQUEST,
                format!("bad purge prefix {p:?}: must start with / and hold no ..\n"),
            );
        }
        n += edge.purge_prefix(p).await;
    }
    purged(n)
}
