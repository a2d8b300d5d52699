//! `/healthz` (path configurable, or disabled): answers 200 while the node
//! accepts requests. It checks nothing deeper: a load balancer wants to know
//! whether to send traffic here, and a node that answers can serve.

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpResponse;

/// The health endpoint's answer.
pub fn respond() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body("ok\n")
}
