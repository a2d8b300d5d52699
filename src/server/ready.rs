//! `/readyz` (path configurable, or disabled): whether a load balancer
//! should send traffic here. 200 `ready`; 503 `draining` from SIGTERM on
//! (the node still serves everything else while it drains, see
//! `shutdown`); and with `server.ready_requires_origin`, 503 `origin
//! unreachable` while the origin does not answer (the last word of real
//! traffic, refreshed by a `HEAD /` probe when older than a second, see
//! `Edge::origin_ready`). `/healthz` stays 200 throughout: the process is
//! alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::edge::Edge;

/// How old the origin's last word may be before readiness probes it.
const ORIGIN_FRESH_FOR: Duration = Duration::from_secs(1);
/// Longest a readiness probe of the origin waits for an answer.
const PROBE_LIMIT: Duration = Duration::from_secs(2);

/// The node's readiness: ready until draining.
#[derive(Debug, Default)]
pub struct Readiness {
    draining: AtomicBool,
}

impl Readiness {
    /// From now on readiness fails: the node is shutting down.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether the node is draining.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// The readiness endpoint's answer; with `requires_origin`, ready only
    /// while the origin answers.
    pub async fn respond(&self, edge: &Edge, requires_origin: bool) -> HttpResponse {
        if self.draining() {
            return answer(StatusCode::SERVICE_UNAVAILABLE, "draining\n");
        }
        if requires_origin && edge.origin_ready(ORIGIN_FRESH_FOR, PROBE_LIMIT).await == Some(false)
        {
            return answer(StatusCode::SERVICE_UNAVAILABLE, "origin unreachable\n");
        }
        answer(StatusCode::OK, "ready\n")
    }
}

fn answer(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}
