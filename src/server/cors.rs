//! CORS for assets served from their own subdomain: which origin may read
//! a response, and answers to preflight requests. Configured by `[cors]`;
//! which origins an entry allows (wildcards too) is `http::cors_origin`.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::HttpResponse;

use crate::config::CorsConfig;
use crate::http::cors_origin::OriginPattern;

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
    List(Vec<OriginPattern>),
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
    /// Builds the policy from config (validated: every entry parses).
    pub fn new(c: &CorsConfig) -> Self {
        let mode = if c.allow_origins.is_empty() {
            Mode::Off
        } else if c.allow_origins.iter().any(|o| o == "*") {
            Mode::Any
        } else {
            Mode::List(
                c.allow_origins
                    .iter()
                    .filter_map(|o| OriginPattern::parse(o).ok())
                    .collect(),
            )
        };
        let max_age = HeaderValue::from_str(&c.max_age.as_secs().to_string())
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
                    .filter(|o| allowed.iter().any(|a| a.matches(o.as_bytes())))
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

/// Writes the grant and the `Vary` tokens the node's own behaviour needs
/// (`Accept-Encoding` when `vary_encoding`, `Origin` for a list of origins).
/// What is already there wins: an `Access-Control-Allow-Origin` the origin
/// server set stands (and no grant is added beside it), and `Vary` tokens
/// already listed are not repeated; missing ones go on one more `Vary` line,
/// so the existing lines stay as they were. A `Vary: *` needs nothing more.
pub fn apply(headers: &mut HeaderMap, grant: &Grant, vary_encoding: Option<bool>) {
    let origin_cors = headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    if let (Some(o), false) = (&grant.allow_origin, origin_cors) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    let encoding = vary_encoding.unwrap_or(false);
    let by_origin = grant.vary_origin && !origin_cors;
    if !encoding && !by_origin {
        return;
    }
    if !headers.contains_key(header::VARY) {
        let v = match (encoding, by_origin) {
            (true, true) => HeaderValue::from_static("Accept-Encoding, Origin"),
            (true, false) => HeaderValue::from_static("Accept-Encoding"),
            _ => HeaderValue::from_static("Origin"),
        };
        headers.insert(header::VARY, v);
        return;
    }
    let add_encoding = encoding && !vary_covers(headers, "accept-encoding");
    let add_origin = by_origin && !vary_covers(headers, "origin");
    let v = match (add_encoding, add_origin) {
        (true, true) => HeaderValue::from_static("Accept-Encoding, Origin"),
        (true, false) => HeaderValue::from_static("Accept-Encoding"),
        (false, true) => HeaderValue::from_static("Origin"),
        (false, false) => return,
    };
    headers.append(header::VARY, v);
}

/// Whether the `Vary` fields of `headers` already cover the request field
/// `token` (named, case-insensitively, or `*`; a value that is not text
/// counts as `*`).
pub fn vary_covers(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(header::VARY).any(|v| {
        v.to_str().unwrap_or("*").split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.eq_ignore_ascii_case(token)
        })
    })
}
