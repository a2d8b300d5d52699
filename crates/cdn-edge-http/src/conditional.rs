//! Conditional requests (RFC 9110 §13): evaluating `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` in the order of
//! §13.2.2, and `If-Range` (§13.1.5).

use std::time::SystemTime;

use super::{date, etag};

/// The validators of the selected representation.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// Strong ETag in wire form (`"..."`).
    pub etag: &'a str,
    /// Last-Modified, truncated to whole seconds.
    pub last_modified: Option<SystemTime>,
    /// What `If-Modified-Since` is compared with when there is no
    /// Last-Modified: a cache's stored response's `Date`, else when it was
    /// received (RFC 9111 §4.3.2). Used for nothing else.
    pub modified_fallback: Option<SystemTime>,
}

/// The precondition fields of a request (raw values; absent = `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Preconditions<'a> {
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<&'a str>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<&'a str>,
}

/// What the preconditions say to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Go on with the request.
    Proceed,
    /// Answer 304 Not Modified.
    NotModified,
    /// Answer 412 Precondition Failed.
    PreconditionFailed,
}

/// Evaluates the preconditions for a request whose method is GET or HEAD
/// (`safe` = true) or anything else, against an existing representation.
pub fn evaluate(p: &Preconditions<'_>, v: &Validators<'_>, safe: bool) -> Outcome {
    // Step 1: If-Match, strong comparison. A malformed field is ignored.
    if let Some(field) = p.if_match {
        if etag::list_matches(field, v.etag, etag::Comparison::Strong) == Some(false) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(field) = p.if_unmodified_since {
        // Step 2: only when If-Match is absent; an invalid date is ignored.
        if let (Some(since), Some(lm)) = (date::parse(field), v.last_modified) {
            if lm > since {
                return Outcome::PreconditionFailed;
            }
        }
    }
    // Step 3: If-None-Match, weak comparison.
    if let Some(field) = p.if_none_match {
        if etag::list_matches(field, v.etag, etag::Comparison::Weak) == Some(true) {
            return if safe {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if let (true, Some(field)) = (safe, p.if_modified_since) {
        // Step 4: If-Modified-Since only for GET/HEAD and only without
        // If-None-Match; an invalid date is ignored (§13.1.3).
        let lm = v.last_modified.or(v.modified_fallback);
        if let (Some(since), Some(lm)) = (date::parse(field), lm) {
            if lm <= since {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed
}

/// Whether a `Range` may be honoured given the request's `If-Range` field
/// (§13.1.5). Absent → true. An entity tag must match strongly; a date must
/// equal Last-Modified exactly. Anything else (a weak tag, garbage) → false,
/// so the full representation is sent.
pub fn if_range_allows(if_range: Option<&str>, v: &Validators<'_>) -> bool {
    let Some(field) = if_range else { return true };
    let field = field.trim();
    if field.starts_with('"') || field.starts_with("W/") {
        let (Some(given), Some(current)) = (etag::parse(field), etag::parse(v.etag)) else {
            return false;
        };
        return given.matches(&current, etag::Comparison::Strong);
    }
    match (date::parse(field), v.last_modified) {
        (Some(d), Some(lm)) => d == lm,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, UNIX_EPOCH};

    const TAG: &str = "\"abc\"";
    const LM: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const BEFORE: &str = "Sat, 05 Nov 1994 08:49:37 GMT";
    const AFTER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

    fn v() -> Validators<'static> {
        Validators {
            etag: TAG,
            last_modified: date::parse(LM),
            modified_fallback: None,
        }
    }

    #[test]
    fn if_modified_since_falls_back_to_the_stored_date_rfc_9111_4_3_2() {
        let p = Preconditions {
            if_modified_since: Some(LM),
            ..Default::default()
        };
        let mut no_lm = Validators {
            last_modified: None,
            ..v()
        };
        assert_eq!(evaluate(&p, &no_lm, true), Outcome::Proceed);
        no_lm.modified_fallback = date::parse(LM);
        assert_eq!(evaluate(&p, &no_lm, true), Outcome::NotModified);
        let ius = Preconditions {
            if_unmodified_since: Some(BEFORE),
            ..Default::default()
        };
        assert_eq!(evaluate(&ius, &no_lm, true), Outcome::Proceed, "IMS only");
        assert!(
            !if_range_allows(Some(LM), &no_lm),
            "If-Range needs Last-Modified"
        );
    }

    fn eval(p: Preconditions<'_>) -> Outcome {
        evaluate(&p, &v(), true)
    }

    #[test]
    fn if_match() {
        assert_eq!(
            eval(Preconditions {
                if_match: Some("\"x\""),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            eval(Preconditions {
                if_match: Some("\"abc\""),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            eval(Preconditions {
                if_match: Some("W/\"abc\""),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            eval(Preconditions {
                if_match: Some("*"),
                ..Default::default()
            }),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_unmodified_since_only_without_if_match() {
        assert_eq!(
            eval(Preconditions {
                if_unmodified_since: Some(BEFORE),
                ..Default::default()
            }),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            eval(Preconditions {
                if_unmodified_since: Some(LM),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            eval(Preconditions {
                if_match: Some("*"),
                if_unmodified_since: Some(BEFORE),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            eval(Preconditions {
                if_unmodified_since: Some("garbage"),
                ..Default::default()
            }),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_none_match() {
        assert_eq!(
            eval(Preconditions {
                if_none_match: Some("W/\"abc\""),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Preconditions {
                if_none_match: Some("\"x\", \"abc\""),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Preconditions {
                if_none_match: Some("*"),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Preconditions {
                if_none_match: Some("\"x\""),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(
                &Preconditions {
                    if_none_match: Some("\"abc\""),
                    ..Default::default()
                },
                &v(),
                false
            ),
            Outcome::PreconditionFailed
        );
    }

    #[test]
    fn if_modified_since_ignored_when_if_none_match_present() {
        assert_eq!(
            eval(Preconditions {
                if_modified_since: Some(LM),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Preconditions {
                if_modified_since: Some(AFTER),
                ..Default::default()
            }),
            Outcome::NotModified
        );
        assert_eq!(
            eval(Preconditions {
                if_modified_since: Some(BEFORE),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            eval(Preconditions {
                if_none_match: Some("\"x\""),
                if_modified_since: Some(AFTER),
                ..Default::default()
            }),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(
                &Preconditions {
                    if_modified_since: Some(AFTER),
                    ..Default::default()
                },
                &v(),
                false
            ),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_match_is_checked_before_if_none_match() {
        let p = Preconditions {
            if_match: Some("\"x\""),
            if_none_match: Some("\"abc\""),
            ..Default::default()
        };
        assert_eq!(eval(p), Outcome::PreconditionFailed);
    }

    #[test]
    fn if_range() {
        assert!(if_range_allows(None, &v()));
        assert!(if_range_allows(Some("\"abc\""), &v()));
        assert!(!if_range_allows(Some("\"x\""), &v()));
        assert!(!if_range_allows(Some("W/\"abc\""), &v()));
        assert!(if_range_allows(Some(LM), &v()));
        assert!(!if_range_allows(Some(AFTER), &v()));
        assert!(!if_range_allows(Some("nonsense"), &v()));
    }

    proptest! {
        #[test]
        fn ims_is_not_modified_iff_not_newer(lm in 0u64..2_000_000_000, since in 0u64..2_000_000_000) {
            let lm_t = UNIX_EPOCH + Duration::from_secs(lm);
            let field = date::format(UNIX_EPOCH + Duration::from_secs(since));
            let v = Validators { etag: TAG, last_modified: Some(lm_t), modified_fallback: None };
            let got = evaluate(&Preconditions { if_modified_since: Some(&field), ..Default::default() }, &v, true);
            prop_assert_eq!(got == Outcome::NotModified, lm <= since);
        }
    }
}
