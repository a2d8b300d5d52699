//! Freshness for a *shared* cache (RFC 9111 §4.2): a stored response's
//! freshness lifetime and current age.
//!
//! Nothing here reads the clock or the store: the caller passes the stored
//! response's metadata and the instant `now`. Whether a response may be
//! stored lives in `storability`, and whether a stored one may answer a
//! request in `reuse`; both are re-exported here so callers keep one path
//! (`freshness::storable`, `freshness::verdict`, ...). This module does not
//! build responses nor update stored headers after a 304 (§4.3.4).
//!
//! Ages and lifetimes are whole seconds. Sub-second parts of the instants are
//! summed first and the total rounded down, as for the `Age` field (§5.1).

use std::time::{Duration, SystemTime};

use super::cache_control::CacheControl;
use super::date;

pub use super::reuse::{
    operator_stale_if_error, request_directives, verdict, ClientLimits, Verdict,
};
pub use super::storability::{storable, NoStore, StoreCheck};

/// Statuses that may get a heuristic lifetime (RFC 9110 §15.1, §4.2.2).
const HEURISTIC: [u16; 12] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// What a cache knows about a stored response to judge it (RFC 9111 §4.2).
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Status code of the stored response.
    pub status: u16,
    /// The response's parsed `Cache-Control`.
    pub cache_control: &'a CacheControl,
    /// The response's `Date`; `None` if absent or invalid.
    pub date: Option<SystemTime>,
    /// Raw `Expires` value; an invalid date means already expired (§5.3).
    pub expires: Option<&'a str>,
    /// The response's `Last-Modified`; `None` if absent or invalid.
    pub last_modified: Option<SystemTime>,
    /// `Age` value received from upstream (§5.1).
    pub age_header: Option<u64>,
    /// When the cache sent the request that produced this response.
    pub request_time: SystemTime,
    /// When the cache received the response.
    pub response_time: SystemTime,
    /// What the operator's rules say of it (none by default).
    pub operator: Operator,
}

/// The operator's word on a stored response, from the node's rules: a
/// departure from what the origin said, made on purpose and documented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Operator {
    /// This cache's freshness lifetime, seconds (a rule's `edge_ttl`).
    pub ttl: Option<u64>,
    /// `ttl` replaces the origin's freshness (else it applies only where
    /// the origin gave none, before the heuristic).
    pub override_ttl: bool,
    /// How long past its lifetime the response may stand in for a failed
    /// fetch, whatever its directives (a rule's `stale_if_error`).
    pub stale_if_error: Option<u64>,
}

/// Settings a shared cache applies where the response says nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Heuristic lifetime as a fraction of `Date - Last-Modified` (§4.2.2); default 0.1.
    pub heuristic_fraction: f64,
    /// Cap on a heuristic lifetime, seconds; default 86400 (one day, so an
    /// old `Last-Modified` cannot pin a stale asset for months).
    pub heuristic_max: u64,
    /// Lifetime for heuristically cacheable responses with neither explicit
    /// freshness nor `Last-Modified`; default `None` (lifetime 0).
    pub default_ttl: Option<u64>,
    /// Lifetime of a 404 or 410 without explicit freshness, used instead of
    /// the heuristic so missing assets are re-checked soon; default 60, 0 disables.
    pub negative_ttl: u64,
    /// `stale-while-revalidate` window when the response gives none; default 0.
    pub default_swr: u64,
    /// `stale-if-error` window when the response gives none; default 0.
    pub default_sie: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            heuristic_fraction: 0.1,
            heuristic_max: 86_400,
            default_ttl: None,
            negative_ttl: 60,
            default_swr: 0,
            default_sie: 0,
        }
    }
}

/// Freshness lifetime in seconds for a shared cache (§4.2.1), never negative.
///
/// In order: `s-maxage`, `max-age`, `Expires - Date` (`Date` absent →
/// `response_time`; invalid `Expires` → 0, §5.3). Without explicit freshness:
/// 404 and 410 get `negative_ttl`; other heuristically cacheable statuses (or
/// any status marked `public`, §4.2.2) get `heuristic_fraction` of
/// `Date - Last-Modified` capped at `heuristic_max`, or `default_ttl` when
/// there is no `Last-Modified`; anything else gets 0.
///
/// The operator's `ttl` (statuses below 400 only: an error keeps its own
/// lifetime, so a deploy is not hidden behind a stored 404) comes first
/// when it overrides, else after the explicit freshness and before the
/// rest: rule override > the directives (a targeted field, else
/// Cache-Control) > Expires > rule default > negative / heuristic.
pub fn lifetime(s: &Stored<'_>, p: &Policy) -> u64 {
    lifetime_and_basis(s, p).0
}

/// What a freshness lifetime was taken from (for `check --explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// The operator's overriding `ttl`.
    Override,
    /// `s-maxage` (of a targeted field, else Cache-Control).
    SMaxAge,
    /// `max-age` (of a targeted field, else Cache-Control).
    MaxAge,
    /// `Expires - Date`.
    Expires,
    /// The operator's default `ttl` (the origin gave no freshness).
    OperatorDefault,
    /// The node's lifetime for a 404 or 410.
    Negative,
    /// A fraction of `Date - Last-Modified` (§4.2.2).
    Heuristic,
    /// The node's `default_ttl` (no `Last-Modified`).
    NodeDefault,
    /// Nothing: not reusable without revalidation.
    Nothing,
}

/// [`lifetime`], and what it was taken from.
pub fn lifetime_and_basis(s: &Stored<'_>, p: &Policy) -> (u64, Basis) {
    let cc = s.cache_control;
    let operator = s.operator.ttl.filter(|_| s.status < 400);
    if let Some(t) = operator.filter(|_| s.operator.override_ttl) {
        return (t, Basis::Override);
    }
    if let Some(n) = cc.s_maxage {
        return (n, Basis::SMaxAge);
    }
    if let Some(n) = cc.max_age {
        return (n, Basis::MaxAge);
    }
    if let Some(raw) = s.expires {
        // §5.3: an invalid date, e.g. "0", represents a time in the past.
        let Some(expires) = date::parse(raw) else {
            return (0, Basis::Expires);
        };
        let n = elapsed(expires, s.date.unwrap_or(s.response_time)).as_secs();
        return (n, Basis::Expires);
    }
    if let Some(t) = operator {
        return (t, Basis::OperatorDefault);
    }
    if matches!(s.status, 404 | 410) {
        return (p.negative_ttl, Basis::Negative);
    }
    if !(HEURISTIC.contains(&s.status) || cc.public) {
        return (0, Basis::Nothing);
    }
    match s.last_modified {
        Some(lm) => {
            let since = elapsed(s.date.unwrap_or(s.response_time), lm).as_secs_f64();
            // `as` saturates, and maps NaN or a negative fraction to 0.
            let n = ((since * p.heuristic_fraction) as u64).min(p.heuristic_max);
            (n, Basis::Heuristic)
        }
        None => match p.default_ttl {
            Some(n) => (n, Basis::NodeDefault),
            None => (0, Basis::Nothing),
        },
    }
}

/// Current age in seconds, computed exactly as §4.2.3:
/// `corrected_initial_age + resident_time`, where
/// `apparent_age = max(0, response_time - date_value)`,
/// `corrected_age_value = age_value + (response_time - request_time)`,
/// `corrected_initial_age = max(apparent_age, corrected_age_value)` and
/// `resident_time = now - response_time`. A missing `Date` counts as
/// `response_time`; differences that would be negative count as 0.
pub fn current_age(s: &Stored<'_>, now: SystemTime) -> u64 {
    let age_value = Duration::from_secs(s.age_header.unwrap_or(0));
    let apparent_age = elapsed(s.response_time, s.date.unwrap_or(s.response_time));
    let response_delay = elapsed(s.response_time, s.request_time);
    let corrected_age_value = age_value.saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = elapsed(now, s.response_time);
    corrected_initial_age
        .saturating_add(resident_time)
        .as_secs()
}

/// `later - earlier`, or zero when `later` is not after `earlier`.
fn elapsed(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cache_control::parse;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    const T0: u64 = 1_000_000_000;

    /// `t(0)` plus `secs` seconds.
    pub(crate) fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    /// A 200 with `Date` = request = response time = `t(0)`.
    pub(crate) fn stored(cc: &CacheControl) -> Stored<'_> {
        Stored {
            status: 200,
            cache_control: cc,
            date: Some(t(0)),
            expires: None,
            last_modified: None,
            age_header: None,
            request_time: t(0),
            response_time: t(0),
            operator: Operator::default(),
        }
    }

    fn life(s: &Stored<'_>) -> u64 {
        lifetime(s, &Policy::default())
    }

    #[test]
    fn s_maxage_beats_max_age_and_expires_section_4_2_1() {
        let cc = parse(["max-age=60, s-maxage=600"]);
        let mut s = stored(&cc);
        s.expires = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(life(&s), 600);
        let cc = parse(["max-age=60"]);
        let mut s = stored(&cc);
        s.expires = Some("garbage");
        assert_eq!(life(&s), 60, "§5.3: max-age overrides Expires");
    }

    #[test]
    fn expires_minus_date_section_4_2_1() {
        let cc = CacheControl::default();
        let expires = date::format(t(3600));
        let mut s = stored(&cc);
        s.expires = Some(&expires);
        s.response_time = t(100);
        assert_eq!(life(&s), 3600);
        s.date = Some(t(7200));
        assert_eq!(life(&s), 0, "Expires before Date is never negative");
    }

    #[test]
    fn expires_without_date_uses_response_time_section_4_2_1() {
        let cc = CacheControl::default();
        let expires = date::format(t(3600));
        let mut s = stored(&cc);
        s.expires = Some(&expires);
        s.date = None;
        s.response_time = t(600);
        assert_eq!(life(&s), 3000);
    }

    #[test]
    fn invalid_expires_is_already_expired_section_5_3() {
        let cc = CacheControl::default();
        for bad in ["0", "-1", "tomorrow", ""] {
            let mut s = stored(&cc);
            s.expires = Some(bad);
            s.last_modified = Some(t(0) - Duration::from_secs(100_000));
            assert_eq!(life(&s), 0, "{bad}");
        }
    }

    #[test]
    fn heuristic_is_a_fraction_of_last_modified_age_section_4_2_2() {
        let cc = CacheControl::default();
        let mut s = stored(&cc);
        s.last_modified = Some(t(0) - Duration::from_secs(1000));
        assert_eq!(life(&s), 100);
        s.date = None;
        s.response_time = t(1000);
        assert_eq!(life(&s), 200, "no Date: response_time stands in");
        s.last_modified = Some(t(2000));
        assert_eq!(life(&s), 0, "Last-Modified in the future");
    }

    #[test]
    fn heuristic_is_capped_section_4_2_2() {
        let cc = CacheControl::default();
        let mut s = stored(&cc);
        s.last_modified = Some(t(0) - Duration::from_secs(365 * 86_400));
        assert_eq!(life(&s), 86_400);
        let p = Policy {
            heuristic_max: 3600,
            ..Policy::default()
        };
        assert_eq!(lifetime(&s, &p), 3600);
        let p = Policy {
            heuristic_fraction: f64::NAN,
            ..Policy::default()
        };
        assert_eq!(lifetime(&s, &p), 0);
    }

    #[test]
    fn heuristic_only_without_explicit_freshness_and_for_listed_statuses_section_4_2_2() {
        let none = CacheControl::default();
        let zero = parse(["max-age=0"]);
        let public = parse(["public"]);
        let lm = Some(t(0) - Duration::from_secs(1000));
        for (cc, status, want) in [
            (&none, 200, 100),
            (&none, 206, 100),
            (&none, 501, 100),
            (&none, 302, 0),
            (&none, 500, 0),
            (&public, 302, 100),
            (&zero, 200, 0),
        ] {
            let mut s = stored(cc);
            s.status = status;
            s.last_modified = lm;
            assert_eq!(life(&s), want, "{status} {cc:?}");
        }
    }

    #[test]
    fn default_ttl_only_without_last_modified() {
        let cc = CacheControl::default();
        let p = Policy {
            default_ttl: Some(300),
            ..Policy::default()
        };
        let mut s = stored(&cc);
        assert_eq!(life(&s), 0, "off by default");
        assert_eq!(lifetime(&s, &p), 300);
        s.last_modified = Some(t(0) - Duration::from_secs(1000));
        assert_eq!(lifetime(&s, &p), 100);
        s.last_modified = None;
        s.status = 500;
        assert_eq!(lifetime(&s, &p), 0);
    }

    #[test]
    fn operator_ttl_precedence_override_directives_expires_default_heuristic() {
        let op = |ttl, override_ttl| Operator {
            ttl: Some(ttl),
            override_ttl,
            stale_if_error: None,
        };
        let explicit = parse(["max-age=10"]);
        let none = CacheControl::default();
        let expires = date::format(t(20));
        let with = |cc, operator, status: u16, exp: Option<&str>| {
            let mut s = stored(cc);
            s.operator = operator;
            s.status = status;
            s.expires = exp;
            s.last_modified = Some(t(0) - Duration::from_secs(10_000_000));
            life(&s)
        };
        assert_eq!(
            with(&explicit, op(500, true), 200, None),
            500,
            "override first"
        );
        assert_eq!(
            with(&explicit, op(500, false), 200, None),
            10,
            "then the directives"
        );
        assert_eq!(
            with(&none, op(500, false), 200, Some(&expires)),
            20,
            "then Expires"
        );
        assert_eq!(
            with(&none, op(500, false), 200, None),
            500,
            "then the default"
        );
        assert_eq!(
            with(&none, Operator::default(), 200, None),
            86_400,
            "then the heuristic"
        );
        assert_eq!(
            with(&none, op(500, true), 404, None),
            60,
            "errors keep their own"
        );
        assert_eq!(with(&explicit, op(500, true), 503, None), 10);
    }

    #[test]
    fn negative_ttl_for_404_and_410() {
        let cc = CacheControl::default();
        let mut s = stored(&cc);
        s.last_modified = Some(t(0) - Duration::from_secs(1000));
        for status in [404, 410] {
            s.status = status;
            assert_eq!(life(&s), 60);
        }
        let explicit = parse(["max-age=5"]);
        let mut s = stored(&explicit);
        s.status = 404;
        assert_eq!(life(&s), 5);
    }

    #[test]
    fn age_calculation_example_section_4_2_3() {
        // Sent at 0, received at 2, origin Date 1, upstream Age 10.
        let cc = CacheControl::default();
        let s = Stored {
            date: Some(t(1)),
            age_header: Some(10),
            request_time: t(0),
            response_time: t(2),
            ..stored(&cc)
        };
        // apparent 1; corrected_age_value 10 + 2 = 12; initial 12; resident 30.
        assert_eq!(current_age(&s, t(32)), 42);
        assert_eq!(current_age(&s, t(2)), 12);
        // A Date far in the past (clock skew) dominates through apparent_age.
        let skewed = Stored {
            date: Some(t(0) - Duration::from_secs(100)),
            age_header: None,
            ..s
        };
        assert_eq!(current_age(&skewed, t(2)), 102);
        // A Date in the future gives apparent_age 0, not a negative age.
        let future = Stored {
            date: Some(t(50)),
            age_header: None,
            ..s
        };
        assert_eq!(current_age(&future, t(12)), 12);
    }

    #[test]
    fn age_without_date_or_with_clock_going_back() {
        let cc = CacheControl::default();
        let s = Stored {
            date: None,
            age_header: Some(5),
            request_time: t(10),
            response_time: t(7),
            ..stored(&cc)
        };
        assert_eq!(current_age(&s, t(0)), 5);
        assert_eq!(current_age(&s, t(9)), 7);
        let huge = Stored {
            age_header: Some(u64::MAX),
            ..s
        };
        assert_eq!(current_age(&huge, t(100)), u64::MAX);
    }

    proptest! {
        #[test]
        fn lifetime_is_monotonic_in_max_age(a in 0u64..=1 << 31, b in 0u64..=1 << 31, lm in 0u64..1_000_000, status in 100u16..600) {
            let (lo, hi) = (a.min(b), a.max(b));
            let (clo, chi) = (parse([format!("max-age={lo}").as_str()]), parse([format!("max-age={hi}").as_str()]));
            let mut s_lo = stored(&clo);
            s_lo.status = status;
            s_lo.last_modified = Some(t(0) - Duration::from_secs(lm));
            let s_hi = Stored { cache_control: &chi, ..s_lo };
            prop_assert!(life(&s_lo) <= life(&s_hi));
        }

        #[test]
        fn current_age_is_at_least_resident_time(
            req in 0u64..10_000, delay in 0u64..10_000, date in 0u64..20_000,
            age in proptest::option::of(0u64..1 << 32), resident in 0u64..1_000_000, nanos in 0u32..1_000_000_000,
        ) {
            let cc = CacheControl::default();
            let s = Stored {
                date: Some(t(date)),
                age_header: age,
                request_time: t(req),
                response_time: t(req + delay) + Duration::from_nanos(u64::from(nanos)),
                ..stored(&cc)
            };
            let now = s.response_time + Duration::from_secs(resident);
            prop_assert!(current_age(&s, now) >= resident);
        }

    }
}
