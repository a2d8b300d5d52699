//! The storability decision for one origin response (RFC 9111 §3, §4.1):
//! store it, and under which secondary key, or a [`NoStore`] reason that
//! feeds `Cache-Status` and the metrics. Pure: headers in, verdict out.
//!
//! Not here: freshness (`http::freshness::verdict`), how many variants a
//! URL may have (the edge counts them), or size limits (the client's).

use actix_web::http::header::HeaderMap;

use super::stored::lines;
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
    /// The request carried `Cookie`.
    pub request_has_cookie: bool,
    /// `cache.heuristic_with_cookie`: a response to a request with `Cookie`
    /// may be stored without explicit freshness.
    pub heuristic_with_cookie: bool,
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
    // A response to a request with Cookie may be personal; with nothing but
    // a heuristic (§4.2.2) or the node's defaults to go on, the origin never
    // said it may be shared (Varnish passes such requests, nginx applies no
    // heuristic at all). Explicit freshness is its word that it may.
    let explicit = f.directives.max_age.is_some()
        || f.directives.s_maxage.is_some()
        || (!f.targeted && f.headers.contains_key("expires"));
    if f.request_has_cookie && !f.heuristic_with_cookie && !explicit {
        return Err(NoStore::CookieHeuristic);
    }
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

/// Whether a server error the origin gave one request may answer the
/// requests that waited for it (coalesced): only what could have been
/// reused but for its status, so nothing personal reaches another client —
/// no `no-store`, `no-cache`, `private` (qualified or not), `Set-Cookie` or
/// `Vary` (the node negotiates `Accept-Encoding` itself), and a request
/// without `Authorization` (§3.5) or `Cookie`. Otherwise the waiters are
/// told the status only, in the node's own words.
pub fn failure_shareable(f: &Facts<'_>) -> bool {
    let d = f.directives;
    let personal = d.no_store
        || d.no_cache
        || !d.no_cache_fields.is_empty()
        || d.private
        || !d.private_fields.is_empty()
        || f.headers.contains_key("set-cookie")
        || f.request_has_authorization
        || f.request_has_cookie;
    let v = vary::parse(lines(f.headers, "vary")).without("accept-encoding");
    !personal && !v.star && v.names.is_empty()
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
            request_has_cookie: false,
            heuristic_with_cookie: false,
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

    fn facts_of<'a>(h: &'a HeaderMap, cc: &'a CacheControl, rq: &'a CacheControl) -> Facts<'a> {
        Facts {
            status: 200,
            headers: h,
            directives: cc,
            targeted: false,
            request: rq,
            request_has_authorization: false,
            store_set_cookie: false,
            request_has_cookie: false,
            heuristic_with_cookie: false,
        }
    }

    #[test]
    fn with_cookie_only_explicit_freshness_stores() {
        let none = CacheControl::default();
        let decide_with_cookie = |pairs: &[(&str, &str)], opt_out: bool| {
            let h = headers(pairs);
            let cc = parse(lines(&h, "cache-control"));
            decide(&Facts {
                request_has_cookie: true,
                heuristic_with_cookie: opt_out,
                ..facts_of(&h, &cc, &none)
            })
        };
        let lm = ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT");
        for heuristic in [
            &[lm][..],
            &[lm, ("cache-control", "public")],
            &[("cache-control", "no-cache")],
            &[],
        ] {
            assert_eq!(
                decide_with_cookie(heuristic, false),
                Err(NoStore::CookieHeuristic),
                "{heuristic:?}"
            );
            assert!(decide_with_cookie(heuristic, true).is_ok(), "{heuristic:?}");
        }
        for explicit in [
            &[lm, ("cache-control", "max-age=60")][..],
            &[("cache-control", "s-maxage=60")],
            &[("expires", "Sun, 06 Nov 2094 08:49:37 GMT")],
        ] {
            assert!(decide_with_cookie(explicit, false).is_ok(), "{explicit:?}");
        }
        // Without Cookie, the heuristic stands (RFC 9111 §4.2.2).
        let h = headers(&[lm]);
        assert!(decide(&facts_of(&h, &none, &none)).is_ok());
    }

    #[test]
    fn a_failure_is_shared_only_when_nothing_in_it_is_personal() {
        let none = CacheControl::default();
        let share = |pairs: &[(&str, &str)], cookie: bool, auth: bool| {
            let h = headers(pairs);
            let cc = parse(lines(&h, "cache-control"));
            failure_shareable(&Facts {
                status: 503,
                request_has_cookie: cookie,
                request_has_authorization: auth,
                ..facts_of(&h, &cc, &none)
            })
        };
        assert!(share(&[("retry-after", "5")], false, false));
        assert!(share(&[("vary", "Accept-Encoding")], false, false));
        assert!(share(&[("cache-control", "max-age=5")], false, false));
        assert!(!share(&[], true, false), "the leader sent Cookie");
        assert!(!share(&[], false, true), "the leader sent Authorization");
        for personal in [
            ("cache-control", "no-store"),
            ("cache-control", "no-cache"),
            ("cache-control", "private"),
            ("cache-control", "private=\"x-user\""),
            ("set-cookie", "s=1"),
            ("vary", "Accept-Language"),
            ("vary", "*"),
        ] {
            assert!(!share(&[personal], false, false), "{personal:?}");
        }
    }
}
