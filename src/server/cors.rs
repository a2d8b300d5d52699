//! CORS for assets served from their own subdomain: which origin may read
//! a response, and answers to preflight requests. Configured by `[cors]`.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::HttpResponse;

use crate::config::CorsConfig;

/// The CORS policy, with its header values prebuilt.
#[derive(Debug, Clone)]
pub struct Cors {
    mode: Mode,
    max_age: HeaderValue,
}

#[derive(Debug, Clone)]
enum Mode {
    Off,
    Any,
    List(Vec<HeaderValue>),
}

/// What CORS adds to one response.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// `Access-Control-Allow-Origin`, when the request's origin may read.
    pub allow_origin: Option<HeaderValue>,
    /// The answer depends on `Origin` (a specific list is configured), so
    /// caches must see `Vary: Origin`.
    pub vary_origin: bool,
}

const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, HEAD, OPTIONS");
const ANY: HeaderValue = HeaderValue::from_static("*");

impl Cors {
    /// Builds the policy from config (validated: origins are header-safe).
    pub fn new(c: &CorsConfig) -> Self {
        let mode = if c.allow_origins.is_empty() {
            Mode::Off
        } else if c.allow_origins.iter().any(|o| o == "*") {
            Mode::Any
        } else {
            Mode::List(
                c.allow_origins
                    .iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect(),
            )
        };
        let max_age = HeaderValue::from_str(&c.max_age_secs.to_string())
            .unwrap_or(HeaderValue::from_static("0"));
        Self { mode, max_age }
    }

    /// What to add for a request with these headers.
    pub fn grant(&self, req: &HeaderMap) -> Grant {
        match &self.mode {
            Mode::Off => Grant::default(),
            Mode::Any => Grant {
                allow_origin: Some(ANY),
                vary_origin: false,
            },
            Mode::List(allowed) => {
                let origin = req.get(header::ORIGIN);
                let allow_origin = origin
                    .filter(|o| {
                        allowed
                            .iter()
                            .any(|a| a.as_bytes().eq_ignore_ascii_case(o.as_bytes()))
                    })
                    .cloned();
                Grant {
                    allow_origin,
                    vary_origin: true,
                }
            }
        }
    }

    /// The answer to `OPTIONS`: a CORS preflight when the request is one,
    /// otherwise the list of allowed methods.
    pub fn options(&self, req: &HeaderMap) -> HttpResponse {
        let mut resp = HttpResponse::NoContent();
        resp.insert_header((header::ALLOW, ALLOW_METHODS));
        let preflight = req.contains_key(header::ORIGIN)
            && req.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let grant = self.grant(req);
        if preflight && grant.allow_origin.is_some() {
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS));
            if let Some(h) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                // Read-only public assets: any request header is harmless.
                resp.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, h.clone()));
            }
            resp.insert_header((header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone()));
        }
        let mut resp = resp.finish();
        apply(resp.headers_mut(), &grant, None);
        resp
    }
}

/// Writes the grant, and a single `Vary` combining `Accept-Encoding` (when
/// `vary_encoding`) with `Origin`, into response headers.
pub fn apply(headers: &mut HeaderMap, grant: &Grant, vary_encoding: Option<bool>) {
    if let Some(o) = &grant.allow_origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    let vary = match (vary_encoding.unwrap_or(false), grant.vary_origin) {
        (true, true) => Some(HeaderValue::from_static("Accept-Encoding, Origin")),
        (true, false) => Some(HeaderValue::from_static("Accept-Encoding")),
        (false, true) => Some(HeaderValue::from_static("Origin")),
        (false, false) => None,
    };
    if let Some(v) = vary {
        headers.insert(header::VARY, v);
    }
}
