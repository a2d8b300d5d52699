//! The storability decision for one origin response (RFC 9111 §3, §4.1):
//! store it, and under which secondary key, or a [`NoStore`] reason that
//! feeds `Cache-Status` and the metrics. Pure: headers in, verdict out.
//!
//! Not here: freshness (`http::freshness::verdict`), how many variants a
//! URL may have (the edge counts them), or size limits (the client's).

use actix_web::http::header::HeaderMap;

use super::pull::lines;
use crate::http::cache_control::CacheControl;
use crate::http::freshness::{self, NoStore, StoreCheck};
use crate::http::vary::{self, Vary};

/// What the decision looks at besides the response headers.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Response status.
    pub status: u16,
    /// The response's end-to-end headers.
    pub headers: &'a HeaderMap,
    /// The directives this cache obeys (targeted field or Cache-Control).
    pub directives: &'a CacheControl,
    /// The directives came from a targeted field, so `Expires` does not
    /// count (RFC 9213 §2.1).
    pub targeted: bool,
    /// The request's directives (Cache-Control, or Pragma: no-cache).
    pub request: &'a CacheControl,
    /// The request carried `Authorization` (§3.5).
    pub request_has_authorization: bool,
    /// `cache.store_set_cookie`.
    pub store_set_cookie: bool,
}

/// How a storable response is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The request headers it varies on, beyond what the node negotiates
    /// itself (lower-case, sorted); empty: one object per URL.
    pub vary: Vec<String>,
    /// The origin sent its own content coding (it ignored our request for
    /// identity): stored as sent, keyed on `Accept-Encoding`, never
    /// re-encoded by the node.
    pub encoded: bool,
}

/// Store, with a plan, or not, with a reason.
pub fn decide(f: &Facts<'_>) -> Result<Plan, NoStore> {
    // An origin in trouble is asked again; 501 is cacheable by default.
    if f.status >= 500 && f.status != 501 {
        return Err(NoStore::ServerError);
    }
    let v = vary::parse(lines(f.headers, "vary"));
    freshness::storable(&StoreCheck {
        method_is_get_or_head: true,
        status: f.status,
        response: f.directives,
        request: f.request,
        request_has_authorization: f.request_has_authorization,
        response_has_set_cookie: f.headers.contains_key("set-cookie"),
        store_set_cookie: f.store_set_cookie,
        has_expires: !f.targeted && f.headers.contains_key("expires"),
        vary_star: v.star,
    })?;
    let encoded = f
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
    // The node asks for identity and negotiates codings itself, so
    // `Vary: Accept-Encoding` needs no key of its own — unless the origin
    // answered with a coding anyway, which is then keyed on the client's
    // Accept-Encoding (§4.1).
    let mut names: Vary = v.without("accept-encoding");
    if encoded {
        names.names.push("accept-encoding".to_string());
        names.names.sort();
    }
    Ok(Plan {
        vary: names.names,
        encoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::cache_control::parse;
    use crate::test_support::header_map as headers;

    fn decide_on(status: u16, pairs: &[(&str, &str)], request: &str) -> Result<Plan, NoStore> {
        let h = headers(pairs);
        let cc = parse(lines(&h, "cache-control"));
        let rq = parse([request]);
        decide(&Facts {
            status,
            headers: &h,
            directives: &cc,
            targeted: false,
            request: &rq,
            request_has_authorization: false,
            store_set_cookie: false,
        })
    }

    #[test]
    fn plain_storable_response_has_no_secondary_key() {
        let p = decide_on(200, &[("cache-control", "max-age=60")], "").unwrap();
        assert_eq!(
            p,
            Plan {
                vary: vec![],
                encoded: false
            }
        );
        let p = decide_on(
            200,
            &[("cache-control", "max-age=60"), ("vary", "Accept-Encoding")],
            "",
        )
        .unwrap();
        assert!(p.vary.is_empty(), "the node negotiates encodings itself");
    }

    #[test]
    fn vary_names_become_the_secondary_key_section_4_1() {
        let p = decide_on(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("vary", "Accept-Language, accept-encoding"),
                ("vary", "Origin"),
            ],
            "",
        )
        .unwrap();
        assert_eq!(p.vary, ["accept-language", "origin"]);
    }

    #[test]
    fn an_encoded_answer_is_keyed_on_accept_encoding() {
        let p = decide_on(
            200,
            &[
                ("cache-control", "max-age=60"),
                ("content-encoding", "gzip"),
            ],
            "",
        )
        .unwrap();
        assert!(p.encoded);
        assert_eq!(p.vary, ["accept-encoding"]);
    }

    /// Status, response headers, request Cache-Control, expected reason.
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a str, NoStore);

    #[test]
    fn reasons() {
        let cases: [Case; 6] = [
            (
                500,
                &[("cache-control", "max-age=60")],
                "",
                NoStore::ServerError,
            ),
            (
                200,
                &[("cache-control", "max-age=60"), ("vary", "*")],
                "",
                NoStore::VaryStar,
            ),
            (
                200,
                &[("cache-control", "no-store")],
                "",
                NoStore::ResponseNoStore,
            ),
            (
                200,
                &[("cache-control", "max-age=60")],
                "no-store",
                NoStore::RequestNoStore,
            ),
            (200, &[("cache-control", "private")], "", NoStore::Private),
            (
                200,
                &[("cache-control", "max-age=60"), ("set-cookie", "a=b")],
                "",
                NoStore::SetCookie,
            ),
        ];
        for (status, h, rq, want) in cases {
            assert_eq!(decide_on(status, h, rq), Err(want), "{status} {h:?} {rq}");
        }
        assert!(
            decide_on(501, &[], "").is_ok(),
            "501 is cacheable by default"
        );
    }
}
