//! Storability for a *shared* cache (RFC 9111 §3, §3.5): whether a response
//! may be stored, and if not, why.
//!
//! Only the rules the RFC states, from flags the caller extracts; the edge's
//! own limits (server errors, variant counts, size, pass rules) are reasons
//! in the same [`NoStore`] enum but decided by the caller. This module does
//! not strip the fields named by a qualified `private` (§5.2.2.7): a response
//! with `private="x"` is storable, and the caller stores it without `x`.

use super::cache_control::CacheControl;

/// Statuses a cache may store without explicit freshness ("heuristically
/// cacheable", RFC 9110 §15.1), minus 206 since we never store partial content.
const CACHEABLE_BY_DEFAULT: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// What `storable` looks at.
#[derive(Debug, Clone, Copy)]
pub struct StoreCheck<'a> {
    /// The request method is GET or HEAD.
    pub method_is_get_or_head: bool,
    /// Status code of the response.
    pub status: u16,
    /// The response's parsed `Cache-Control` (or targeted field, RFC 9213).
    pub response: &'a CacheControl,
    /// The request's parsed `Cache-Control`.
    pub request: &'a CacheControl,
    /// The request carries `Authorization` (§3.5).
    pub request_has_authorization: bool,
    /// The response carries `Set-Cookie`.
    pub response_has_set_cookie: bool,
    /// Configuration: store responses that carry `Set-Cookie`.
    pub store_set_cookie: bool,
    /// The response has an `Expires` field (valid or not, §5.3).
    pub has_expires: bool,
    /// The response has `Vary: *` (§4.1).
    pub vary_star: bool,
}

/// Why a response is not stored (feeds Cache-Status `detail=` and a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoStore {
    /// Not a GET or HEAD request.
    Method,
    /// Non-final status, 206 or 304.
    Status,
    /// Request `no-store` (§5.2.1.5).
    RequestNoStore,
    /// Response `no-store` without an understood `must-understand` (§5.2.2.5).
    ResponseNoStore,
    /// Unqualified response `private` (§5.2.2.7).
    Private,
    /// Request `Authorization` without `public`, `s-maxage` or `must-revalidate` (§3.5).
    Authorization,
    /// Response `Set-Cookie` while storing those is off.
    SetCookie,
    /// Response `Vary: *` (§4.1).
    VaryStar,
    /// `must-understand` with a status we do not know as cacheable (§5.2.2.3).
    MustUnderstand,
    /// Neither a cacheable-by-default status nor explicit freshness (§3).
    NoFreshness,
    /// Set by the edge: a server error from the origin, asked again next time.
    ServerError,
    /// Set by the edge: the key already has as many variants as allowed.
    TooManyVariants,
    /// Set by the edge: the body is above the size limit.
    TooLarge,
    /// Set by the edge: the memory bound had no room to hold the body.
    NoRoom,
    /// Set by the edge: a configured rule passes the request to the origin.
    Pass,
    /// Set by the edge: the request carried `Cookie` and the response has no
    /// explicit freshness (`cache.heuristic_with_cookie`).
    CookieHeuristic,
}

impl NoStore {
    /// Every reason, for pre-registering metric labels.
    pub const ALL: [NoStore; 16] = [
        NoStore::Method,
        NoStore::Status,
        NoStore::RequestNoStore,
        NoStore::ResponseNoStore,
        NoStore::Private,
        NoStore::Authorization,
        NoStore::SetCookie,
        NoStore::VaryStar,
        NoStore::MustUnderstand,
        NoStore::NoFreshness,
        NoStore::ServerError,
        NoStore::TooManyVariants,
        NoStore::TooLarge,
        NoStore::NoRoom,
        NoStore::Pass,
        NoStore::CookieHeuristic,
    ];

    /// Short token for Cache-Status detail and metric labels, e.g. "no-store".
    pub fn as_str(&self) -> &'static str {
        match self {
            NoStore::Method => "method",
            NoStore::Status => "status",
            NoStore::RequestNoStore => "request-no-store",
            NoStore::ResponseNoStore => "no-store",
            NoStore::Private => "private",
            NoStore::Authorization => "authorization",
            NoStore::SetCookie => "set-cookie",
            NoStore::VaryStar => "vary-star",
            NoStore::MustUnderstand => "must-understand",
            NoStore::NoFreshness => "no-freshness",
            NoStore::ServerError => "server-error",
            NoStore::TooManyVariants => "too-many-variants",
            NoStore::TooLarge => "too-large",
            NoStore::NoRoom => "no-room",
            NoStore::Pass => "pass",
            NoStore::CookieHeuristic => "cookie-heuristic",
        }
    }
}

/// Whether a shared cache may store this response (§3, §3.5); the first
/// failing rule, in this order, is the reason.
///
/// GET or HEAD ([`NoStore::Method`]); a final status other than 206 (we store
/// no partial content) and 304 (it only updates a stored response, §4.3.4)
/// (`Status`); no request `no-store` (`RequestNoStore`); with
/// `must-understand`, a status in the cacheable-by-default list
/// (`MustUnderstand`), which then overrides `no-store` (§5.2.2.3); otherwise
/// no response `no-store` (`ResponseNoStore`); no unqualified `private`
/// (`Private`; a qualified one is storable, §5.2.2.7); with `Authorization`,
/// one of `public`, `s-maxage`, `must-revalidate` (`Authorization`, §3.5);
/// no `Set-Cookie` unless `store_set_cookie` (`SetCookie`); no `Vary: *`
/// (`VaryStar`, §4.1); and a cacheable-by-default status or explicit
/// freshness: `max-age`, `s-maxage`, `Expires`, `public` (`NoFreshness`).
pub fn storable(c: &StoreCheck<'_>) -> Result<(), NoStore> {
    let rc = c.response;
    if !c.method_is_get_or_head {
        return Err(NoStore::Method);
    }
    if !(200..=599).contains(&c.status) || c.status == 206 || c.status == 304 {
        return Err(NoStore::Status);
    }
    if c.request.no_store {
        return Err(NoStore::RequestNoStore);
    }
    // "Understanding" a status here means knowing it is cacheable by default.
    let understood = CACHEABLE_BY_DEFAULT.contains(&c.status);
    if rc.must_understand {
        if !understood {
            return Err(NoStore::MustUnderstand);
        }
    } else if rc.no_store {
        return Err(NoStore::ResponseNoStore);
    }
    if rc.private {
        return Err(NoStore::Private);
    }
    if c.request_has_authorization && !(rc.public || rc.s_maxage.is_some() || rc.must_revalidate) {
        return Err(NoStore::Authorization);
    }
    if c.response_has_set_cookie && !c.store_set_cookie {
        return Err(NoStore::SetCookie);
    }
    if c.vary_star {
        return Err(NoStore::VaryStar);
    }
    let explicit = rc.max_age.is_some() || rc.s_maxage.is_some() || c.has_expires || rc.public;
    if understood || explicit {
        Ok(())
    } else {
        Err(NoStore::NoFreshness)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::parse;
    use proptest::prelude::*;

    /// A GET with no Authorization, no Set-Cookie, no Expires, no `Vary: *`.
    fn check<'a>(status: u16, resp: &'a CacheControl, req: &'a CacheControl) -> StoreCheck<'a> {
        StoreCheck {
            method_is_get_or_head: true,
            status,
            response: resp,
            request: req,
            request_has_authorization: false,
            response_has_set_cookie: false,
            store_set_cookie: false,
            has_expires: false,
            vary_star: false,
        }
    }

    fn store(status: u16, resp: &str, req: &str) -> Result<(), NoStore> {
        storable(&check(status, &parse([resp]), &parse([req])))
    }

    #[test]
    fn storable_status_and_directives_section_3() {
        use NoStore::*;
        for (status, resp, req, want) in [
            (200, "", "", Ok(())),
            (200, "no-cache", "", Ok(())),
            (200, "no-store", "", Err(ResponseNoStore)),
            (200, "max-age=60", "no-store", Err(RequestNoStore)),
            (200, "private", "", Err(Private)),
            (200, "private=\"x\", public", "", Ok(())),
            (200, "private=\"x\", private", "", Err(Private)),
            (404, "", "", Ok(())),
            (501, "", "", Ok(())),
            (302, "", "", Err(NoFreshness)),
            (302, "max-age=60", "", Ok(())),
            (307, "s-maxage=60", "", Ok(())),
            (500, "public", "", Ok(())),
            (206, "max-age=60", "", Err(Status)),
            (304, "max-age=60", "", Err(Status)),
            (101, "max-age=60", "", Err(Status)),
            (100, "", "", Err(Status)),
            (600, "max-age=60", "", Err(Status)),
        ] {
            assert_eq!(store(status, resp, req), want, "{status} {resp:?} {req:?}");
        }
    }

    #[test]
    fn must_understand_section_5_2_2_3() {
        assert_eq!(store(200, "must-understand, no-store", ""), Ok(()));
        assert_eq!(
            store(299, "must-understand, no-store, max-age=60", ""),
            Err(NoStore::MustUnderstand)
        );
        assert_eq!(
            store(302, "must-understand, max-age=60", ""),
            Err(NoStore::MustUnderstand),
            "even without no-store"
        );
        assert_eq!(
            store(200, "must-understand", "no-store"),
            Err(NoStore::RequestNoStore)
        );
    }

    #[test]
    fn storable_method_cookie_vary_expires() {
        let (none, max) = (CacheControl::default(), parse(["max-age=60"]));
        let base = check(200, &max, &none);
        let with = |f: fn(&mut StoreCheck<'_>)| {
            let mut c = base;
            f(&mut c);
            storable(&c)
        };
        assert_eq!(
            with(|c| c.method_is_get_or_head = false),
            Err(NoStore::Method)
        );
        assert_eq!(
            with(|c| c.response_has_set_cookie = true),
            Err(NoStore::SetCookie)
        );
        assert_eq!(
            with(|c| {
                c.response_has_set_cookie = true;
                c.store_set_cookie = true;
            }),
            Ok(())
        );
        assert_eq!(with(|c| c.vary_star = true), Err(NoStore::VaryStar));
        let mut c = check(302, &none, &none);
        assert_eq!(storable(&c), Err(NoStore::NoFreshness));
        c.has_expires = true;
        assert_eq!(storable(&c), Ok(()));
    }

    #[test]
    fn authorization_needs_explicit_shared_permission_section_3_5() {
        let auth = |resp: &str| {
            let (cc, none) = (parse([resp]), CacheControl::default());
            let mut c = check(200, &cc, &none);
            c.request_has_authorization = true;
            storable(&c)
        };
        assert_eq!(auth(""), Err(NoStore::Authorization));
        assert_eq!(auth("max-age=60"), Err(NoStore::Authorization));
        assert_eq!(auth("public"), Ok(()));
        assert_eq!(auth("s-maxage=60"), Ok(()));
        assert_eq!(auth("must-revalidate"), Ok(()));
        assert_eq!(auth("public, private"), Err(NoStore::Private));
    }

    #[test]
    fn tokens_are_distinct_and_all_is_complete() {
        let mut seen = std::collections::HashSet::new();
        for r in NoStore::ALL {
            assert!(seen.insert(r.as_str()), "{r:?}");
            assert!(r
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-'));
        }
        assert_eq!(seen.len(), NoStore::ALL.len());
    }

    proptest! {
        #[test]
        fn ok_implies_the_hard_rules(
            resp in "(no-store|private|public|must-understand|max-age=[0-9]{1,3}|private=x|s-maxage=1)?(, (no-store|must-understand|public|private))?",
            req_no_store in any::<bool>(), status in 0u16..700,
            auth in any::<bool>(), cookie in any::<bool>(), star in any::<bool>(),
        ) {
            let (cc, req) = (parse([resp.as_str()]), CacheControl { no_store: req_no_store, ..CacheControl::default() });
            let mut c = check(status, &cc, &req);
            (c.request_has_authorization, c.response_has_set_cookie, c.vary_star) = (auth, cookie, star);
            if storable(&c).is_ok() {
                prop_assert!(!req_no_store && !cc.private && !cookie && !star);
                prop_assert!((200..600).contains(&status) && status != 206 && status != 304);
                prop_assert!(!cc.no_store || cc.must_understand);
            }
        }
    }
}
