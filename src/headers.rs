//! The crate's one header type family (actix-web's `HeaderMap`, `Version`)
//! read the way the pure rules of `cdn_edge_http` take their input: a list
//! field's lines joined, the `Via` entry for the protocol a request came
//! in. The rules themselves know no header type (see
//! docs/architecture.md); this is where the crate's type meets them.

use std::borrow::Cow;

use actix_web::http::header::{AsHeaderName, HeaderMap};
use actix_web::http::Version;

use crate::http::forward::VIA;
use crate::http::syntax::join_lines;

/// A list-valued field (`#element`) of a request or response: its field
/// lines joined with commas (RFC 9110 §5.3, see
/// [`join_lines`](crate::http::syntax::join_lines)); lines that are not
/// text are skipped.
pub(crate) fn list_field(headers: &HeaderMap, name: impl AsHeaderName) -> Option<Cow<'_, str>> {
    join_lines(headers.get_all(name).filter_map(|v| v.to_str().ok()))
}

/// The `Via` entry for a request received over `version`: RFC 9110 §7.6.3
/// names the protocol version *received* (the protocol name is left out
/// for HTTP), so a client's HTTP/2 request goes on as `2 cdn-edge` even
/// though the origin is asked over HTTP/1.1. Responses passed back from
/// the origin say `1.1` (what the node received from it).
pub(crate) fn via_for(version: Version) -> &'static str {
    match version {
        Version::HTTP_2 => "2 cdn-edge",
        Version::HTTP_3 => "3 cdn-edge",
        Version::HTTP_10 => "1.0 cdn-edge",
        Version::HTTP_09 => "0.9 cdn-edge",
        _ => VIA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_names_the_version_the_request_came_in() {
        assert_eq!(via_for(Version::HTTP_11), "1.1 cdn-edge");
        assert_eq!(via_for(Version::HTTP_2), "2 cdn-edge");
        assert_eq!(via_for(Version::HTTP_10), "1.0 cdn-edge");
    }

    #[test]
    fn list_fields_join_their_text_lines() {
        let mut h = HeaderMap::new();
        assert_eq!(list_field(&h, "accept"), None);
        for v in ["a", "b"] {
            h.append(
                "accept".parse().unwrap(),
                actix_web::http::header::HeaderValue::from_static(v),
            );
        }
        assert_eq!(list_field(&h, "accept").as_deref(), Some("a, b"));
    }
}
