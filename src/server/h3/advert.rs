//! `Alt-Svc` (RFC 7838): HTTPS responses tell clients that the same
//! origin answers HTTP/3 on the QUIC listener's UDP port, while that
//! listener is up. Set once it is bound, cleared when it stops or fails;
//! never sent over plain HTTP (a client may only use an alternative of
//! an `https` origin, RFC 7838 §2.1, and HTTP/3 is `https` only).

use actix_web::http::header::{HeaderValue, ALT_SVC};
use actix_web::{HttpRequest, HttpResponse};
use arc_swap::ArcSwapOption;

/// The `Alt-Svc` value of the moment; none while HTTP/3 is down.
#[derive(Debug, Default)]
pub struct Advert(ArcSwapOption<HeaderValue>);

impl Advert {
    /// Advertises `h3` on `port` for `max_age_secs` (0: nothing is
    /// advertised).
    pub fn set(&self, port: u16, max_age_secs: u64) {
        if max_age_secs == 0 {
            return self.clear();
        }
        let v = format!("h3=\":{port}\"; ma={max_age_secs}");
        self.0.store(HeaderValue::from_str(&v).ok().map(Into::into));
    }

    /// The value of the moment, if HTTP/3 is advertised.
    pub fn value(&self) -> Option<HeaderValue> {
        self.0.load().as_deref().cloned()
    }

    /// Stops advertising.
    pub fn clear(&self) {
        self.0.store(None);
    }

    /// Sets the field on a response sent over TLS (HTTP/1.1, HTTP/2 or
    /// HTTP/3 itself), replacing one the origin sent: the origin's
    /// alternatives are its own, not this node's (RFC 7838 §3 ties them
    /// to the origin the client connected to, which is the node).
    pub fn add(&self, req: &HttpRequest, resp: &mut HttpResponse) {
        if !req.app_config().secure() {
            return;
        }
        if let Some(v) = &*self.0.load() {
            resp.headers_mut().insert(ALT_SVC, (**v).clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value() {
        let a = Advert::default();
        assert!(a.0.load().is_none());
        a.set(8443, 86400);
        assert_eq!(
            a.0.load().as_deref().unwrap(),
            &HeaderValue::from_static("h3=\":8443\"; ma=86400")
        );
        a.set(443, 0);
        assert!(a.0.load().is_none());
    }
}
