//! Requests that have come round (RFC 8586): a request whose `CDN-Loop`
//! already carries this node's pseudonym more than `server.max_hops` times
//! has passed through this tier that often — an edge whose origin is a
//! shield whose origin is the edge again — and is refused with 508 and a
//! reason rather than sent round once more. Each tier adds its entry once
//! (`origin::request::upstream`), so two tiers of cdn-edge (an edge in
//! front of a shield) stay within the default of 2.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::errors;
use crate::config::ServerConfig;
use crate::http::cdn_loop;
use crate::origin::request::CDN_LOOP;

/// `server.pseudonym` and `server.max_hops`.
#[derive(Debug, Clone)]
pub struct LoopGuard {
    /// This node's `cdn-id`.
    pseudonym: String,
    /// The most entries of it a request may arrive with.
    max_hops: usize,
}

impl LoopGuard {
    /// The guard `config` asks for.
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            pseudonym: config.pseudonym.clone(),
            max_hops: config.max_hops,
        }
    }

    /// A 508 for `req` if it has come round too often, else `None`.
    pub fn check(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let lines = (req.headers().get_all(CDN_LOOP)).filter_map(|v| v.to_str().ok());
        let seen = cdn_loop::count(lines, &self.pseudonym);
        (seen > self.max_hops).then(|| {
            errors::text(
                StatusCode::LOOP_DETECTED,
                format!(
                    "loop detected: this request has passed {} {seen} times already (CDN-Loop; server.max_hops = {})\n",
                    self.pseudonym, self.max_hops
                ),
            )
        })
    }
}
