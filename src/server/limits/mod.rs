//! The node's limits on what one client may ask of it (`[limits]`): the
//! request's size (URI → 414, head and header count → 431, a passed-on
//! body → 413, a stalled body → 408), checked once the head is parsed and
//! before anything else is done with the request; its connections
//! (`conns`: how many, and how long one may sit without a request); and
//! how long a response may wait on a client that takes none of it, and
//! how many origin streams one connection may hold (`send`).
//!
//! What actix-http enforces itself, below these: its HTTP/1 parser buffers
//! at most 128 KiB of a head and 96 header fields (beyond either it answers
//! a bare 431 and closes), and answers 408 to a first request whose head
//! has not arrived within `limits.header_timeout_secs`.

mod body;
pub mod conns;
pub mod send;

pub use body::read_body;

use std::time::Duration;

use actix_web::http::header;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::errors;
use crate::config::LimitsConfig;

/// The per-request limits of one generation of the config.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// `limits.max_head_bytes`.
    pub head_bytes: usize,
    /// `limits.max_uri_bytes`.
    pub uri_bytes: usize,
    /// `limits.max_headers`.
    pub headers: usize,
    /// `limits.max_body_bytes`.
    pub body_bytes: u64,
    /// `limits.body_timeout_secs`.
    pub body_timeout: Duration,
    /// `limits.max_connections` (read by `conns` as connections arrive).
    pub connections: usize,
    /// `limits.send_timeout_secs` (read by `conns`' sweep).
    pub send_timeout: Duration,
    /// `limits.max_origin_streams_per_connection`.
    pub origin_streams: usize,
}

impl RequestLimits {
    /// The limits `config` sets.
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            head_bytes: config.max_head_bytes,
            uri_bytes: config.max_uri_bytes,
            headers: config.max_headers,
            body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            connections: config.max_connections,
            send_timeout: config.send_timeout,
            origin_streams: config.max_origin_streams_per_connection,
        }
    }

    /// The refusal of a request whose head is past a limit: 414 for its
    /// target, 431 for its header count or its head's size. The head's
    /// size counts what HTTP/1 would send: the request line, and each field
    /// as `name: value` and its line end.
    pub fn check_head(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
        if target > self.uri_bytes {
            let why = format!("URI too long: {target} bytes, at most {}\n", self.uri_bytes);
            return Some(refuse(StatusCode::URI_TOO_LONG, why));
        }
        let headers = req.headers();
        if headers.len() > self.headers {
            let why = format!(
                "request header fields too large: {} fields, at most {}\n",
                headers.len(),
                self.headers
            );
            return Some(refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why));
        }
        // "METHOD target HTTP/1.1\r\n", then "name: value\r\n" each, "\r\n".
        let line = req.method().as_str().len() + target + 12;
        let fields: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum();
        let size = line + fields + 2;
        if size > self.head_bytes {
            let why = format!(
                "request header fields too large: a {size}-byte head, at most {}\n",
                self.head_bytes
            );
            return Some(refuse(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, why));
        }
        None
    }

    /// The refusal of a body to pass on that declares a length past
    /// `limits.max_body_bytes`, before any of it is read.
    pub fn check_declared_body(&self, req: &HttpRequest) -> Option<HttpResponse> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse::<u64>()
            .ok()?;
        (declared > self.body_bytes).then(|| body_too_large(self.body_bytes))
    }

    /// 408: a body that stalled for `limits.body_timeout_secs`.
    pub fn body_timed_out(&self) -> HttpResponse {
        refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body timed out: nothing received for {} s\n",
                self.body_timeout.as_secs()
            ),
        )
    }
}

/// 413: a body past `limit` bytes.
pub fn body_too_large(limit: u64) -> HttpResponse {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body too large: at most {limit} bytes\n"),
    )
}

/// A refusal with its reason; an HTTP/1 connection is closed after it (the
/// rest of what the client sent is not read).
fn refuse(status: StatusCode, why: String) -> HttpResponse {
    let mut resp = errors::text(status, why);
    resp.head_mut().set_connection_type(ConnectionType::Close);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn limits() -> RequestLimits {
        RequestLimits::new(&LimitsConfig {
            max_head_bytes: 2048,
            max_uri_bytes: 100,
            max_headers: 8,
            ..LimitsConfig::default()
        })
    }

    #[test]
    fn each_limit_has_its_status() {
        let l = limits();
        let ok = TestRequest::get().uri("/a.css").to_http_request();
        assert!(l.check_head(&ok).is_none());
        let long = TestRequest::get()
            .uri(&format!("/{}", "a".repeat(100)))
            .to_http_request();
        assert_eq!(l.check_head(&long).unwrap().status(), 414);
        let mut many = TestRequest::get().uri("/a");
        for i in 0..9 {
            many = many.insert_header((format!("x-{i}"), "1"));
        }
        assert_eq!(l.check_head(&many.to_http_request()).unwrap().status(), 431);
        let big = TestRequest::get()
            .uri("/a")
            .insert_header(("x-big", "b".repeat(2048)))
            .to_http_request();
        assert_eq!(l.check_head(&big).unwrap().status(), 431);
        let declared = TestRequest::post()
            .uri("/a")
            .insert_header(("content-length", "2000000"))
            .to_http_request();
        assert_eq!(l.check_declared_body(&declared).unwrap().status(), 413);
    }
}
