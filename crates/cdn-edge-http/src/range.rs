//! Byte ranges (RFC 9110 §14): parsing a `Range` field and resolving it
//! against a representation's length.
//!
//! We serve single ranges only. A request for several ranges is answered
//! with the whole representation (200), which §14.2 permits ("a server MAY
//! ignore the Range header field"); browsers and download tools ask for one
//! range, and multipart/byteranges is mostly a tool for amplification.

/// One `byte-range-spec` or `suffix-byte-range-spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// `first-last` (inclusive) or `first-` (to the end).
    From { first: u64, last: Option<u64> },
    /// `-n`: the final n bytes.
    Suffix(u64),
}

/// What a `Range` field asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Exactly one range.
    Single(Spec),
    /// More than one range (we answer with the full representation).
    Multiple,
}

/// Parses a `Range` field value. `None` means "ignore the field": another
/// unit than `bytes`, or a syntactically invalid set (§14.1.1, §14.2).
pub fn parse(field: &str) -> Option<Request> {
    let (unit, set) = field.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let first = parse_spec(specs.next()?)?;
    let mut multiple = false;
    for s in specs {
        parse_spec(s)?;
        multiple = true;
    }
    Some(if multiple {
        Request::Multiple
    } else {
        Request::Single(first)
    })
}

fn parse_spec(s: &str) -> Option<Spec> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return Some(Spec::Suffix(parse_digits(b)?));
    }
    let first = parse_digits(a)?;
    let last = if b.is_empty() {
        None
    } else {
        Some(parse_digits(b)?)
    };
    // "A byte-range-spec is invalid if the last-pos value is present and
    // less than the first-pos." (§14.1.1)
    if last.is_some_and(|l| l < first) {
        return None;
    }
    Some(Spec::From { first, last })
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Positions beyond u64 are certainly beyond any representation.
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Resolves a spec against a representation of `len` bytes to the inclusive
/// byte positions to send, or `None` when unsatisfiable (→ 416).
pub fn resolve(spec: Spec, len: u64) -> Option<(u64, u64)> {
    if len == 0 {
        // Nothing in an empty representation can be selected (§14.1.1).
        return None;
    }
    match spec {
        Spec::From { first, last } => {
            if first >= len {
                return None;
            }
            Some((first, last.map_or(len - 1, |l| l.min(len - 1))))
        }
        Spec::Suffix(0) => None,
        Spec::Suffix(n) => Some((len.saturating_sub(n), len - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse("bytes=0-99"),
            Some(Request::Single(Spec::From {
                first: 0,
                last: Some(99)
            }))
        );
        assert_eq!(
            parse("bytes=100-"),
            Some(Request::Single(Spec::From {
                first: 100,
                last: None
            }))
        );
        assert_eq!(
            parse("bytes=-500"),
            Some(Request::Single(Spec::Suffix(500)))
        );
        assert_eq!(
            parse("Bytes = 1-2 "),
            Some(Request::Single(Spec::From {
                first: 1,
                last: Some(2)
            }))
        );
        assert_eq!(parse("bytes=0-1,5-6"), Some(Request::Multiple));
    }

    #[test]
    fn ignores_what_is_invalid() {
        for bad in [
            "bytes=5-1",
            "items=0-1",
            "bytes=",
            "bytes=a-b",
            "bytes=--1",
            "0-1",
            "bytes=0-1,x",
            "bytes=1-2-3",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn resolves_against_length() {
        assert_eq!(
            resolve(
                Spec::From {
                    first: 0,
                    last: Some(99)
                },
                1000
            ),
            Some((0, 99))
        );
        assert_eq!(
            resolve(
                Spec::From {
                    first: 990,
                    last: Some(2000)
                },
                1000
            ),
            Some((990, 999))
        );
        assert_eq!(
            resolve(
                Spec::From {
                    first: 1000,
                    last: None
                },
                1000
            ),
            None
        );
        assert_eq!(resolve(Spec::Suffix(500), 1000), Some((500, 999)));
        assert_eq!(resolve(Spec::Suffix(5000), 1000), Some((0, 999)));
        assert_eq!(resolve(Spec::Suffix(0), 1000), None);
        assert_eq!(resolve(Spec::Suffix(10), 0), None);
        assert_eq!(
            parse("bytes=99999999999999999999999-"),
            Some(Request::Single(Spec::From {
                first: u64::MAX,
                last: None
            }))
        );
    }

    proptest! {
        #[test]
        fn resolved_ranges_lie_inside(first in 0u64..2000, span in proptest::option::of(0u64..2000), suffix in 0u64..3000, len in 0u64..1500) {
            for spec in [Spec::From { first, last: span.map(|s| first + s) }, Spec::Suffix(suffix)] {
                if let Some((a, b)) = resolve(spec, len) {
                    prop_assert!(a <= b && b < len);
                }
            }
        }

        #[test]
        fn round_trips_single(first in 0u64..u64::MAX / 2, span in 0u64..1000) {
            let field = format!("bytes={}-{}", first, first + span);
            prop_assert_eq!(parse(&field), Some(Request::Single(Spec::From { first, last: Some(first + span) })));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse(&s);
        }
    }
}
