//! Freshness for a *shared* cache (RFC 9111 §3, §4.2): whether a response may
//! be stored, its freshness lifetime and current age, and whether a stored
//! response may answer a request without going back to the origin.
//!
//! Nothing here reads the clock or the store: the caller passes the stored
//! response's metadata, the request's `Cache-Control` and the instant `now`.
//! This module does not build responses, update stored headers after a 304
//! (§4.3.4), nor act on `only-if-cached` (the caller answers 504 when the
//! verdict is not [`Verdict::Fresh`]). `immutable` (RFC 8246) only steers
//! clients, so it is parsed but not used here; operators who want reloads not
//! to reach the origin use [`ClientLimits`].
//!
//! Ages and lifetimes are whole seconds. Sub-second parts of the instants are
//! summed first and the total rounded down, as for the `Age` field (§5.1).

use std::time::{Duration, SystemTime};

use super::cache_control::CacheControl;
use super::date;

/// Statuses a cache may store without explicit freshness ("heuristically
/// cacheable", RFC 9110 §15.1), minus 206 since we never store partial content.
const CACHEABLE_BY_DEFAULT: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

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
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            honour_client_no_cache: true,
            min_client_max_age: 0,
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

/// Freshness lifetime in seconds for a shared cache (§4.2.1), never negative.
///
/// In order: `s-maxage`, `max-age`, `Expires - Date` (`Date` absent →
/// `response_time`; invalid `Expires` → 0, §5.3). Without explicit freshness:
/// 404 and 410 get `negative_ttl`; other heuristically cacheable statuses (or
/// any status marked `public`, §4.2.2) get `heuristic_fraction` of
/// `Date - Last-Modified` capped at `heuristic_max`, or `default_ttl` when
/// there is no `Last-Modified`; anything else gets 0.
pub fn lifetime(s: &Stored<'_>, p: &Policy) -> u64 {
    let cc = s.cache_control;
    if let Some(n) = cc.s_maxage.or(cc.max_age) {
        return n;
    }
    if let Some(raw) = s.expires {
        // §5.3: an invalid date, e.g. "0", represents a time in the past.
        let Some(expires) = date::parse(raw) else {
            return 0;
        };
        return elapsed(expires, s.date.unwrap_or(s.response_time)).as_secs();
    }
    if matches!(s.status, 404 | 410) {
        return p.negative_ttl;
    }
    if !(HEURISTIC.contains(&s.status) || cc.public) {
        return 0;
    }
    match s.last_modified {
        Some(lm) => {
            let since = elapsed(s.date.unwrap_or(s.response_time), lm).as_secs_f64();
            // `as` saturates, and maps NaN or a negative fraction to 0.
            ((since * p.heuristic_fraction) as u64).min(p.heuristic_max)
        }
        None => p.default_ttl.unwrap_or(0),
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

/// Whether the stored response may be sent without revalidation to a request
/// with the given `Cache-Control` at `now`, and if stale, whether stale
/// serving is allowed.
///
/// - Response `no-cache` → [`Verdict::MustRevalidate`] (§5.2.2.4).
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
    if cc.no_cache {
        return Verdict::MustRevalidate;
    }
    let lifetime = lifetime(s, p);
    let age = current_age(s, now);
    if client_demands_revalidation(request, limits, lifetime, age) {
        return Verdict::MustRevalidate;
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

/// Whether a shared cache may store this response, §3 and §3.5.
///
/// Requires: GET or HEAD; a final status other than 206 (we store no partial
/// content) and 304 (it only updates a stored response, §4.3.4); no
/// `no-store` in the request or the response (unless `must-understand` with
/// an understood status, §5.2.2.3); no `private` (§5.2.2.7); with
/// `Authorization`, one of `public`, `s-maxage`, `must-revalidate` (§3.5); no
/// `Set-Cookie` unless `store_set_cookie`; no `Vary: *` (§4.1); and a
/// cacheable-by-default status or explicit freshness (`max-age`, `s-maxage`,
/// `Expires`, `public`).
#[allow(clippy::too_many_arguments)] // flat booleans keep call sites explicit
pub fn storable(
    method_is_get_or_head: bool,
    status: u16,
    response_cc: &CacheControl,
    request_cc: &CacheControl,
    request_has_authorization: bool,
    response_has_set_cookie: bool,
    store_set_cookie: bool,
    has_expires: bool,
    vary_star: bool,
) -> bool {
    let rc = response_cc;
    if !method_is_get_or_head || vary_star || request_cc.no_store || rc.private {
        return false;
    }
    if !(200..=599).contains(&status) || status == 206 || status == 304 {
        return false;
    }
    // "Understanding" a status here means knowing it is cacheable by default.
    let understood = CACHEABLE_BY_DEFAULT.contains(&status);
    if rc.must_understand {
        if !understood {
            return false;
        }
    } else if rc.no_store {
        return false;
    }
    if request_has_authorization && !(rc.public || rc.s_maxage.is_some() || rc.must_revalidate) {
        return false;
    }
    if response_has_set_cookie && !store_set_cookie {
        return false;
    }
    understood || rc.max_age.is_some() || rc.s_maxage.is_some() || has_expires || rc.public
}

/// `later - earlier`, or zero when `later` is not after `earlier`.
fn elapsed(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::cache_control::parse;
    use proptest::prelude::*;
    use std::time::UNIX_EPOCH;

    const T0: u64 = 1_000_000_000;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    /// A 200 with `Date` = request = response time = `t(0)`.
    fn stored(cc: &CacheControl) -> Stored<'_> {
        Stored {
            status: 200,
            cache_control: cc,
            date: Some(t(0)),
            expires: None,
            last_modified: None,
            age_header: None,
            request_time: t(0),
            response_time: t(0),
        }
    }

    fn life(s: &Stored<'_>) -> u64 {
        lifetime(s, &Policy::default())
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

    #[test]
    fn fresh_until_age_reaches_lifetime_section_4_2() {
        assert_eq!(v("max-age=60", "", 59), Verdict::Fresh);
        assert_eq!(v("max-age=60", "", 60), stale(false, false));
        assert_eq!(v("", "", 0), stale(false, false));
    }

    #[test]
    fn response_no_cache_always_revalidates_section_5_2_2_4() {
        assert_eq!(v("no-cache, max-age=600", "", 0), Verdict::MustRevalidate);
        assert_eq!(
            v("no-cache=\"set-cookie\", max-age=600", "max-stale", 0),
            Verdict::MustRevalidate
        );
    }

    #[test]
    fn request_no_cache_and_max_age_zero_follow_limits_section_5_2_1_4() {
        let off = ClientLimits {
            honour_client_no_cache: false,
            min_client_max_age: 0,
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

    /// `storable` with a GET, no Authorization, no Set-Cookie, no Expires, no `Vary: *`.
    fn store(status: u16, resp: &str, req: &str) -> bool {
        storable(
            true,
            status,
            &parse([resp]),
            &parse([req]),
            false,
            false,
            false,
            false,
            false,
        )
    }

    #[test]
    fn storable_status_and_directives_section_3() {
        for (status, resp, req, want) in [
            (200, "", "", true),
            (200, "no-cache", "", true),
            (200, "no-store", "", false),
            (200, "max-age=60", "no-store", false),
            (200, "private", "", false),
            (200, "private=\"x\", public", "", false),
            (404, "", "", true),
            (501, "", "", true),
            (302, "", "", false),
            (302, "max-age=60", "", true),
            (307, "s-maxage=60", "", true),
            (500, "public", "", true),
            (206, "max-age=60", "", false),
            (304, "max-age=60", "", false),
            (101, "max-age=60", "", false),
            (100, "", "", false),
            (600, "max-age=60", "", false),
        ] {
            assert_eq!(store(status, resp, req), want, "{status} {resp:?} {req:?}");
        }
    }

    #[test]
    fn must_understand_section_5_2_2_3() {
        assert!(store(200, "must-understand, no-store", ""));
        assert!(!store(299, "must-understand, no-store, max-age=60", ""));
        assert!(!store(200, "must-understand", "no-store"));
    }

    #[test]
    fn storable_method_cookie_vary_expires() {
        let cc = CacheControl::default();
        let max = parse(["max-age=60"]);
        assert!(!storable(
            false, 200, &max, &cc, false, false, false, false, false
        ));
        assert!(!storable(
            true, 200, &max, &cc, false, true, false, false, false
        ));
        assert!(storable(
            true, 200, &max, &cc, false, true, true, false, false
        ));
        assert!(!storable(
            true, 200, &max, &cc, false, false, false, false, true
        ));
        assert!(storable(
            true, 302, &cc, &cc, false, false, false, true, false
        ));
        assert!(!storable(
            true, 302, &cc, &cc, false, false, false, false, false
        ));
    }

    #[test]
    fn authorization_needs_explicit_shared_permission_section_3_5() {
        let auth = |resp: &str| {
            let cc = parse([resp]);
            storable(
                true,
                200,
                &cc,
                &parse([""]),
                true,
                false,
                false,
                false,
                false,
            )
        };
        assert!(!auth(""));
        assert!(!auth("max-age=60"));
        assert!(auth("public"));
        assert!(auth("s-maxage=60"));
        assert!(auth("must-revalidate"));
        assert!(!auth("public, private"));
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
            let limits = ClientLimits { honour_client_no_cache: honour, min_client_max_age: floor };
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
