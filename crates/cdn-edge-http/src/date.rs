//! HTTP dates (RFC 9110 §5.6.7): parsing all three historic formats and
//! formatting IMF-fixdate, at one-second resolution.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime); `None` if invalid.
pub fn parse(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Formats an instant as IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn format(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Drops the sub-second part, since HTTP dates carry whole seconds.
/// Instants before 1970 become the epoch.
pub fn truncate(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_formats() {
        let t = UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(format(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse("yesterday"), None);
        assert_eq!(
            parse("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT"),
            None
        );
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(parse(&format(t)), Some(t));
        }

        #[test]
        fn truncate_keeps_whole_seconds(secs in 0u64..4_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            prop_assert_eq!(truncate(t), UNIX_EPOCH + Duration::from_secs(secs));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse(&s);
        }
    }
}
