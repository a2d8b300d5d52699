//! A panic inside a request is caught here, around the whole handler: the
//! client gets a 500 with a reason (not a closed connection), the panic is
//! logged with its message and counted (`cdn_edge_panics_total`), and the
//! worker thread goes on serving its other connections.
//!
//! With `CDN_EDGE_TEST_CLOCK=1` (tests only), `GET /_edge/panic` panics
//! inside the request on purpose, to prove it.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::FutureExt;

use super::cache_outcome::CacheOutcome;
use super::handler::{self, Worker};
use super::{errors, State};
use crate::blocking::panic_message;

/// Where tests make a request panic (only with `CDN_EDGE_TEST_CLOCK=1`).
const TEST_PANIC_PATH: &str = "/_edge/panic";

/// [`handler::handle`], with a panic turned into a 500.
pub async fn handle(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let started = Instant::now();
    // A reference count, not a copy: for the log and the counters when the
    // handler panics.
    let kept = req.clone();
    let run = async move {
        if req.path() == TEST_PANIC_PATH && test_panics(&req) {
            panic!("panic requested at {TEST_PANIC_PATH} (test seam)");
        }
        handler::handle(req, payload).await
    };
    match AssertUnwindSafe(run).catch_unwind().await {
        Ok(resp) => resp,
        Err(payload) => panicked(&kept, &panic_message(&*payload), started),
    }
}

fn test_panics(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<State>>()
        .is_some_and(|s| s.test_clock)
}

/// Logs and counts a request's panic, and answers 500.
fn panicked(req: &HttpRequest, message: &str, started: Instant) -> HttpResponse {
    tracing::error!(
        method = %req.method(),
        path = %req.uri(),
        "request handler panicked: {message}"
    );
    let resp = errors::text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request failed (logged)\n",
    );
    if let Some(state) = req.app_data::<web::Data<State>>() {
        state.metrics.faults().panicked();
    }
    if let Some(worker) = req.app_data::<Worker>() {
        let head = req.method() == Method::HEAD;
        worker
            .counters
            .record(&resp, head, CacheOutcome::None, started.elapsed());
    }
    resp
}
