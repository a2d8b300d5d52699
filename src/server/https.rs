//! What differs between the HTTPS and the plain listener: HSTS on HTTPS
//! responses only (RFC 6797 §7.2: never over plain HTTP), and, with
//! `tls.redirect_http`, a 308 from plain HTTP to the same URL on HTTPS.
//! The health, metrics and purge endpoints stay on plain HTTP, where load
//! balancers, scrapers and `cdn-edge purge` call them.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::errors;

/// The HTTPS settings the handler applies.
#[derive(Debug, Default)]
pub struct Https {
    /// `Strict-Transport-Security` for HTTPS responses.
    pub hsts: Option<HeaderValue>,
    /// Whether plain requests are redirected to HTTPS.
    pub redirect: bool,
}

impl Https {
    /// Adds HSTS to a response sent over TLS.
    pub fn finish(&self, req: &HttpRequest, resp: &mut HttpResponse) {
        if let Some(v) = &self.hsts {
            if req.app_config().secure() {
                resp.headers_mut()
                    .insert(header::STRICT_TRANSPORT_SECURITY, v.clone());
            }
        }
    }

    /// The redirect for a plain-HTTP request, when redirecting is on, to
    /// the HTTPS listener on `port` (`None`: not bound).
    pub fn redirect(&self, req: &HttpRequest, port: Option<u16>) -> Option<HttpResponse> {
        if !self.redirect || req.app_config().secure() {
            return None;
        }
        let port = port?;
        Some(match location(req, port) {
            Some(loc) => {
                let mut resp = errors::text(StatusCode::PERMANENT_REDIRECT, "moved to https\n");
                resp.headers_mut().insert(header::LOCATION, loc);
                resp
            }
            None => errors::text(
                StatusCode::BAD_REQUEST,
                "bad request: no valid Host to redirect to https\n",
            ),
        })
    }
}

/// `https://HOST[:port]/path?query` for a request: the host of `:authority`
/// (HTTP/2) or `Host` without its port, the port unless it is 443.
fn location(req: &HttpRequest, port: u16) -> Option<HeaderValue> {
    let authority = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let host = host_of(authority)?;
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = if port == 443 {
        format!("https://{host}{target}")
    } else {
        format!("https://{host}:{port}{target}")
    };
    HeaderValue::from_str(&url).ok()
}

/// The host of an authority (`example.com:8080`, `[::1]:80`), if it is a
/// plausible host name or address literal.
fn host_of(authority: &str) -> Option<&str> {
    let host = if authority.starts_with('[') {
        &authority[..=authority.find(']')?]
    } else {
        authority.split(':').next()?
    };
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(host_of("example.com:8080"), Some("example.com"));
        assert_eq!(host_of("example.com"), Some("example.com"));
        assert_eq!(host_of("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_of("127.0.0.1"), Some("127.0.0.1"));
        assert_eq!(host_of(""), None);
        assert_eq!(host_of("a/b"), None);
        assert_eq!(host_of("a b"), None);
        assert_eq!(host_of("user@host"), None);
    }
}
