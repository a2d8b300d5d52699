//! Reuse of a stored response by a *shared* cache (RFC 9111 §4, §5.2.1):
//! whether it may answer a request without going back to the origin, and
//! which request directives apply (including `Pragma: no-cache`, §5.4).
//!
//! Nothing here reads the clock or the store: the caller passes the stored
//! response's metadata (see `freshness`), the request's `Cache-Control` and
//! the instant `now`. This module does not act on `only-if-cached` (the
//! caller answers 504 when the verdict is not [`Verdict::Fresh`]) nor strip
//! the fields named by a qualified `no-cache` (the caller omits them when it
//! reuses the response, §5.2.2.4). `immutable` (RFC 8246) only steers
//! clients, so it is parsed but not used here; operators who want reloads not
//! to reach the origin use [`ClientLimits`].

use std::time::{Duration, SystemTime};

use super::cache_control::{self, CacheControl};
use super::freshness::{current_age, lifetime, Policy, Stored};

/// How far the cache lets a request's `Cache-Control` force revalidation,
/// so that a flood of reloads cannot all reach the origin.
/// The default, `(true, 0)`, honours clients as RFC 9111 §5.2.1 describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Honour request `no-cache` and `max-age=0`; when false they are ignored.
    pub honour_client_no_cache: bool,
    /// Smallest age bound (seconds) a client may impose with `max-age=N`
    /// (N ≥ 1) or `min-fresh`; tighter bounds are ignored.
    pub min_client_max_age: u64,
    /// A response that is fresh by its own terms and was fetched or
    /// revalidated less than this long ago is not revalidated again for a
    /// client's directives, so a flood of reloads cannot take the cache out
    /// of the path (§5.2.1 lets a cache ignore them); zero = always honour.
    pub revalidate_interval: Duration,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            honour_client_no_cache: true,
            min_client_max_age: 0,
            revalidate_interval: Duration::ZERO,
        }
    }
}

/// Whether a stored response may answer a request, and if stale, how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fresh: send it without contacting the origin.
    Fresh,
    /// Stale: revalidate; the flags say when the stale copy may be sent anyway.
    Stale {
        /// May be sent now while revalidating in the background.
        may_serve_while_revalidating: bool,
        /// May be sent if revalidation fails (error or unreachable origin).
        may_serve_on_error: bool,
    },
    /// Must be revalidated before use, and never sent stale.
    MustRevalidate,
}

/// Whether the stored response may be sent without revalidation to a request
/// with the given `Cache-Control` at `now`, and if stale, whether stale
/// serving is allowed.
///
/// - Unqualified response `no-cache` → [`Verdict::MustRevalidate`]
///   (§5.2.2.4); a qualified one (`no-cache="set-cookie"`) does not force
///   revalidation, the caller omits the named fields instead.
/// - Request `no-cache` or `max-age=0` → `MustRevalidate` if
///   `limits.honour_client_no_cache`; request `max-age=N` (age > N) and
///   `min-fresh=N` (fewer than N fresh seconds left) → `MustRevalidate` if
///   their age bound is at least `limits.min_client_max_age`.
/// - Fresh (age < lifetime, §4.2) → [`Verdict::Fresh`].
/// - Stale with `must-revalidate`, `proxy-revalidate` or `s-maxage`
///   (§5.2.2.2, §5.2.2.8, §5.2.2.10) → `MustRevalidate`.
/// - Otherwise [`Verdict::Stale`]: each flag is set while
///   `age < lifetime + window`, the window being the response's
///   `stale-while-revalidate` / `stale-if-error` (else the policy default).
///   A request `max-stale` covering the staleness sets both flags (§5.2.1.2).
pub fn verdict(
    s: &Stored<'_>,
    p: &Policy,
    request: &CacheControl,
    now: SystemTime,
    limits: &ClientLimits,
) -> Verdict {
    let cc = s.cache_control;
    // Only the unqualified form; `no_cache_fields` are the caller's to strip.
    // An operator's overriding lifetime replaces it, as it replaces every
    // other freshness directive of the origin's (see `lifetime`).
    let overridden = s.operator.override_ttl && s.operator.ttl.is_some() && s.status < 400;
    if cc.no_cache && !overridden {
        return Verdict::MustRevalidate;
    }
    let lifetime = lifetime(s, p);
    let age = current_age(s, now);
    if client_demands_revalidation(request, limits, lifetime, age) {
        let recent = now
            .duration_since(s.response_time)
            .is_ok_and(|d| d < limits.revalidate_interval);
        if !(age < lifetime && recent) {
            return Verdict::MustRevalidate;
        }
    }
    // §4.2: fresh iff freshness_lifetime > current_age.
    if age < lifetime {
        return Verdict::Fresh;
    }
    // §5.2.2.10: for a shared cache s-maxage also implies proxy-revalidate.
    if cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.is_some() {
        return Verdict::MustRevalidate;
    }
    let within = |window: u64| age < lifetime.saturating_add(window);
    let client_accepts = match request.max_stale {
        None => false,
        Some(None) => true,
        Some(Some(n)) => within(n),
    };
    let swr = cc.stale_while_revalidate.unwrap_or(p.default_swr);
    let sie = cc.stale_if_error.unwrap_or(p.default_sie);
    Verdict::Stale {
        may_serve_while_revalidating: client_accepts || within(swr),
        may_serve_on_error: client_accepts || within(sie),
    }
}

/// Whether the operator's stale-if-error window (a rule's, see
/// [`Operator`](super::freshness::Operator)) lets the stored response stand
/// in for a failed fetch at `now`: while its age is below its lifetime plus
/// the window, whatever its directives say — `no-cache`, `must-revalidate`
/// and `s-maxage` included. This departs from RFC 9111 §4.2.4 ("a cache
/// MUST NOT generate a stale response" where those forbid it) on the
/// operator's explicit word, and only when the origin failed.
pub fn operator_stale_if_error(s: &Stored<'_>, p: &Policy, now: SystemTime) -> bool {
    s.operator
        .stale_if_error
        .is_some_and(|w| current_age(s, now) < lifetime(s, p).saturating_add(w))
}

/// Whether the request's directives, within `limits`, rule out using the
/// stored response as is (§5.2.1).
fn client_demands_revalidation(
    rq: &CacheControl,
    limits: &ClientLimits,
    lifetime: u64,
    age: u64,
) -> bool {
    // §5.2.1.4; `max-age=0` is the common spelling of the same reload.
    if limits.honour_client_no_cache && (rq.no_cache || rq.max_age == Some(0)) {
        return true;
    }
    // §5.2.1.1: the client will not accept an age above N (N = 0 is above).
    if let Some(n) = rq.max_age {
        if n > 0 && n >= limits.min_client_max_age && age > n {
            return true;
        }
    }
    // §5.2.1.3: the response must stay fresh for N more seconds, which bounds
    // the age at `lifetime - N`; that bound is subject to the same limit.
    if let Some(n) = rq.min_fresh {
        if lifetime.saturating_sub(n) >= limits.min_client_max_age
            && age.saturating_add(n) > lifetime
        {
            return true;
        }
    }
    false
}

/// A request's effective directives from its `Cache-Control` field lines
/// (joined as one list) and its `Pragma`: without any Cache-Control field, a
/// `Pragma` containing the token `no-cache` means `no-cache` (§5.4); with a
/// Cache-Control field, even one we cannot read, `Pragma` is ignored.
pub fn request_directives(cache_control: Option<&str>, pragma: Option<&str>) -> CacheControl {
    if let Some(cc) = cache_control {
        return cache_control::parse([cc]);
    }
    let no_cache = pragma.is_some_and(|p| {
        p.split(',')
            .any(|d| d.trim_matches([' ', '\t']).eq_ignore_ascii_case("no-cache"))
    });
    CacheControl {
        no_cache,
        ..CacheControl::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::parse;
    use crate::freshness::tests::{stored, t};
    use proptest::prelude::*;

    #[test]
    fn an_operators_window_stands_in_for_no_cache_and_must_revalidate() {
        use crate::freshness::Operator;
        let p = Policy::default();
        for resp in ["no-cache", "max-age=5, must-revalidate", "s-maxage=5"] {
            let cc = parse([resp]);
            let mut s = stored(&cc);
            assert!(
                !operator_stale_if_error(&s, &p, t(10)),
                "{resp}: off unless set"
            );
            s.operator = Operator {
                stale_if_error: Some(100),
                ..Operator::default()
            };
            assert!(operator_stale_if_error(&s, &p, t(10)), "{resp}");
            assert!(
                !operator_stale_if_error(&s, &p, t(106)),
                "{resp}: past the window"
            );
        }
        // An override makes a no-cache response fresh for its lifetime.
        let cc = parse(["no-cache"]);
        let mut s = stored(&cc);
        s.operator = Operator {
            ttl: Some(60),
            override_ttl: true,
            stale_if_error: None,
        };
        let fresh = verdict(
            &s,
            &p,
            &CacheControl::default(),
            t(30),
            &ClientLimits::default(),
        );
        assert_eq!(fresh, Verdict::Fresh);
    }

    #[test]
    fn reloads_are_damped_within_the_interval_section_5_2_1() {
        let limits = ClientLimits {
            revalidate_interval: Duration::from_secs(1),
            ..ClientLimits::default()
        };
        let cc = parse(["max-age=60"]);
        let s = stored(&cc);
        let reload = parse(["no-cache"]);
        let at = |secs| verdict(&s, &Policy::default(), &reload, t(secs), &limits);
        assert_eq!(
            at(0),
            Verdict::Fresh,
            "just fetched: the reload is absorbed"
        );
        assert_eq!(
            at(1),
            Verdict::MustRevalidate,
            "after the interval it goes through"
        );
        let no_cache = parse(["no-cache, max-age=60"]);
        let s = stored(&no_cache);
        let v = verdict(&s, &Policy::default(), &reload, t(0), &limits);
        assert_eq!(
            v,
            Verdict::MustRevalidate,
            "never for a response that says no-cache"
        );
    }

    /// Verdict at `t(at)` for a response with `resp` and a request with `req`.
    fn judge(resp: &str, req: &str, at: u64, limits: ClientLimits) -> Verdict {
        let cc = parse([resp]);
        verdict(
            &stored(&cc),
            &Policy::default(),
            &parse([req]),
            t(at),
            &limits,
        )
    }

    fn v(resp: &str, req: &str, at: u64) -> Verdict {
        judge(resp, req, at, ClientLimits::default())
    }

    fn stale(swr: bool, sie: bool) -> Verdict {
        Verdict::Stale {
            may_serve_while_revalidating: swr,
            may_serve_on_error: sie,
        }
    }

    #[test]
    fn fresh_until_age_reaches_lifetime_section_4_2() {
        assert_eq!(v("max-age=60", "", 59), Verdict::Fresh);
        assert_eq!(v("max-age=60", "", 60), stale(false, false));
        assert_eq!(v("", "", 0), stale(false, false));
    }

    #[test]
    fn response_no_cache_always_revalidates_section_5_2_2_4() {
        assert_eq!(v("no-cache, max-age=600", "", 0), Verdict::MustRevalidate);
        let both = "no-cache=\"set-cookie\", no-cache, max-age=600";
        assert_eq!(v(both, "max-stale", 0), Verdict::MustRevalidate);
    }

    #[test]
    fn qualified_no_cache_does_not_force_revalidation_section_5_2_2_4() {
        let resp = "no-cache=\"set-cookie\", max-age=600";
        assert_eq!(v(resp, "", 0), Verdict::Fresh);
        assert_eq!(v("no-cache=x-a, max-age=60", "", 61), stale(false, false));
    }

    #[test]
    fn request_no_cache_and_max_age_zero_follow_limits_section_5_2_1_4() {
        let off = ClientLimits {
            honour_client_no_cache: false,
            min_client_max_age: 0,
            ..ClientLimits::default()
        };
        for req in ["no-cache", "max-age=0", "max-age=junk"] {
            assert_eq!(v("max-age=600", req, 1), Verdict::MustRevalidate, "{req}");
            assert_eq!(judge("max-age=600", req, 1, off), Verdict::Fresh, "{req}");
        }
    }

    #[test]
    fn request_max_age_follows_min_client_max_age_section_5_2_1_1() {
        assert_eq!(v("max-age=600", "max-age=10", 10), Verdict::Fresh);
        assert_eq!(v("max-age=600", "max-age=10", 11), Verdict::MustRevalidate);
        let floor = ClientLimits {
            honour_client_no_cache: true,
            min_client_max_age: 30,
            ..ClientLimits::default()
        };
        assert_eq!(
            judge("max-age=600", "max-age=10", 11, floor),
            Verdict::Fresh
        );
        assert_eq!(
            judge("max-age=600", "max-age=30", 31, floor),
            Verdict::MustRevalidate
        );
        // The client bound applies to stale responses too: no stale serving.
        assert_eq!(
            v("max-age=5, stale-while-revalidate=60", "max-age=10", 11),
            Verdict::MustRevalidate
        );
    }

    #[test]
    fn request_min_fresh_follows_limits_section_5_2_1_3() {
        assert_eq!(v("max-age=600", "min-fresh=100", 500), Verdict::Fresh);
        assert_eq!(
            v("max-age=600", "min-fresh=100", 501),
            Verdict::MustRevalidate
        );
        assert_eq!(
            v("max-age=600", "min-fresh=9999", 0),
            Verdict::MustRevalidate
        );
        let floor = ClientLimits {
            honour_client_no_cache: true,
            min_client_max_age: 60,
            ..ClientLimits::default()
        };
        // Bound 600 - 100 = 500 ≥ 60: honoured. Bound 0 < 60: ignored.
        assert_eq!(
            judge("max-age=600", "min-fresh=100", 501, floor),
            Verdict::MustRevalidate
        );
        assert_eq!(
            judge("max-age=600", "min-fresh=9999", 0, floor),
            Verdict::Fresh
        );
    }

    #[test]
    fn request_max_stale_allows_stale_section_5_2_1_2() {
        assert_eq!(v("max-age=60", "max-stale", 10_000), stale(true, true));
        assert_eq!(v("max-age=60", "max-stale=30", 89), stale(true, true));
        assert_eq!(v("max-age=60", "max-stale=30", 90), stale(false, false));
        assert_eq!(v("max-age=60", "max-stale", 30), Verdict::Fresh);
    }

    #[test]
    fn revalidate_directives_forbid_stale_section_5_2_2_2_and_5_2_2_10() {
        for resp in [
            "max-age=60, must-revalidate, stale-while-revalidate=60, stale-if-error=60",
            "max-age=60, proxy-revalidate, stale-if-error=60",
            "s-maxage=60, stale-while-revalidate=60, stale-if-error=60",
        ] {
            assert_eq!(v(resp, "", 59), Verdict::Fresh, "{resp}");
            assert_eq!(v(resp, "", 61), Verdict::MustRevalidate, "{resp}");
            assert_eq!(v(resp, "max-stale", 61), Verdict::MustRevalidate, "{resp}");
        }
    }

    #[test]
    fn stale_while_revalidate_window_rfc_5861_section_3() {
        let resp = "max-age=60, stale-while-revalidate=30";
        assert_eq!(v(resp, "", 60), stale(true, false));
        assert_eq!(v(resp, "", 89), stale(true, false));
        assert_eq!(v(resp, "", 90), stale(false, false));
    }

    #[test]
    fn stale_if_error_window_rfc_5861_section_4() {
        let resp = "max-age=60, stale-while-revalidate=10, stale-if-error=3600";
        assert_eq!(v(resp, "", 65), stale(true, true));
        assert_eq!(v(resp, "", 100), stale(false, true));
        assert_eq!(v(resp, "", 3660), stale(false, false));
    }

    #[test]
    fn policy_supplies_stale_windows_only_when_the_response_is_silent() {
        let p = Policy {
            default_swr: 30,
            default_sie: 300,
            ..Policy::default()
        };
        let silent = parse(["max-age=60"]);
        let explicit = parse(["max-age=60, stale-while-revalidate=0, stale-if-error=0"]);
        let none = CacheControl::default();
        let lim = ClientLimits::default();
        assert_eq!(
            verdict(&stored(&silent), &p, &none, t(70), &lim),
            stale(true, true)
        );
        assert_eq!(
            verdict(&stored(&explicit), &p, &none, t(70), &lim),
            stale(false, false)
        );
    }

    #[test]
    fn pragma_no_cache_only_without_cache_control_section_5_4() {
        assert!(request_directives(None, Some("no-cache")).no_cache);
        assert!(request_directives(None, Some("x, No-Cache ")).no_cache);
        assert!(!request_directives(None, Some("no-cache=1, x-no-cache")).no_cache);
        assert!(!request_directives(None, None).no_cache);
        assert!(!request_directives(Some("max-age=5"), Some("no-cache")).no_cache);
        assert!(!request_directives(Some(""), Some("no-cache")).no_cache);
        assert_eq!(
            request_directives(Some("max-stale, no-cache"), None),
            parse(["max-stale, no-cache"])
        );
    }

    fn any_request() -> impl Strategy<Value = CacheControl> {
        (
            proptest::option::of(0u64..2000),
            proptest::option::of(proptest::option::of(0u64..2000)),
            proptest::option::of(0u64..2000),
            any::<bool>(),
        )
            .prop_map(|(max_age, max_stale, min_fresh, no_cache)| CacheControl {
                max_age,
                max_stale,
                min_fresh,
                no_cache,
                ..CacheControl::default()
            })
    }

    proptest! {
        #[test]
        fn fresh_implies_age_below_lifetime(
            resp in "(max-age=[0-9]{1,4}|s-maxage=[0-9]{1,3}|must-revalidate|no-cache|stale-while-revalidate=[0-9]{1,3}|stale-if-error=[0-9]{1,3}|public)?(, (max-age=[0-9]{1,4}|stale-while-revalidate=[0-9]{1,3}))?",
            request in any_request(), status in 100u16..600, lm in proptest::option::of(0u64..1_000_000),
            age in proptest::option::of(0u64..5000), at in 0u64..10_000, honour in any::<bool>(), floor in 0u64..100,
        ) {
            let cc = parse([resp.as_str()]);
            let s = Stored {
                status,
                last_modified: lm.map(|lm| t(0) - Duration::from_secs(lm)),
                age_header: age,
                ..stored(&cc)
            };
            let limits = ClientLimits { honour_client_no_cache: honour, min_client_max_age: floor, ..ClientLimits::default() };
            let p = Policy { default_ttl: Some(100), default_swr: 10, ..Policy::default() };
            let got = verdict(&s, &p, &request, t(at), &limits);
            if got == Verdict::Fresh {
                prop_assert!(current_age(&s, t(at)) < lifetime(&s, &p));
            }
            if cc.must_revalidate || cc.s_maxage.is_some() {
                let is_stale = matches!(got, Verdict::Stale { .. });
                prop_assert!(!is_stale);
            }
        }
    }
}
