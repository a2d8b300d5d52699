//! Helpers shared by unit tests across modules.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// A header map with these (name, value) lines, in order.
pub fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in pairs {
        m.append(
            HeaderName::from_bytes(n.as_bytes()).expect("test header name"),
            HeaderValue::from_str(v).expect("test header value"),
        );
    }
    m
}
