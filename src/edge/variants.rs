//! Responses that vary on request headers (RFC 9111 §4.1): each is stored
//! under a secondary key made of the normalised values of the headers its
//! `Vary` names, and the URL's own key holds a [`Marker`] that says which
//! headers those are. A lookup that finds a marker computes the request's
//! secondary key and looks that up.
//!
//! A URL keeps at most `cache.max_variants` of them: the marker counts the
//! variants stored since it was made, and past the limit new variants are
//! passed through uncached (a purge, or a change of the `Vary` list, starts
//! a new count). Markers live in memory only: after a restart the first
//! request for such a URL goes to the origin, and its variants are then
//! found on disk again.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::header::HeaderMap;

use crate::http::vary::{self, Vary};

/// What the URL's key holds when its responses vary.
#[derive(Debug)]
pub struct Marker {
    /// The request headers that select a variant (lower-case, sorted).
    pub names: Vec<String>,
    /// Variants stored under this marker so far.
    stored: AtomicUsize,
}

impl Marker {
    /// A marker for responses varying on `names`, with no variant yet.
    pub fn new(names: Vec<String>) -> Self {
        Self {
            names,
            stored: AtomicUsize::new(0),
        }
    }

    /// Claims room for one more variant; false when `max` are stored.
    pub fn claim(&self, max: usize) -> bool {
        self.stored
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }
}

/// The separator between a URL's key and a secondary key; it cannot occur
/// in a decoded path (control characters are refused) nor in a query.
const SEP: char = '\u{1}';

/// The prefix every variant key of `primary` starts with (for purges).
pub fn prefix(primary: &str) -> String {
    format!("{primary}{SEP}")
}

/// The memory (and disk) key of the variant of `primary` that a request
/// with `headers` selects among responses varying on `names`.
pub fn key(primary: &str, names: &[String], headers: &HeaderMap) -> String {
    let v = Vary {
        star: false,
        names: names.to_vec(),
    };
    let secondary = vary::secondary_key(&v, |name| {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect()
    });
    format!("{primary}{SEP}{secondary}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::header_map as h;

    #[test]
    fn keys_follow_the_named_headers_only() {
        let names = vec!["accept-language".to_string()];
        let en = key(
            "a.css",
            &names,
            &h(&[("accept-language", "en"), ("x", "1")]),
        );
        let en2 = key(
            "a.css",
            &names,
            &h(&[("accept-language", "en"), ("x", "2")]),
        );
        let de = key("a.css", &names, &h(&[("accept-language", "de")]));
        let none = key("a.css", &names, &h(&[]));
        assert_eq!(en, en2);
        assert_ne!(en, de);
        assert_ne!(en, none);
        assert!(en.starts_with(&prefix("a.css")));
    }

    #[test]
    fn claims_stop_at_the_limit() {
        let m = Marker::new(vec!["origin".into()]);
        assert!(m.claim(2) && m.claim(2));
        assert!(!m.claim(2));
    }
}
