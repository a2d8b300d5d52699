//! Request and response field parsers: the request path, `Range`,
//! `Accept-Encoding`, `If-*` lists and ETags, HTTP dates, `Cache-Control`
//! and `Vary` (and the variant keys built from it).

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::{every_seed, text};
use crate::http::accept_encoding::{self, Coding};
use crate::http::conditional::{self, Preconditions, Validators};
use crate::http::{cache_control, date, etag, path, range, vary};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ------------------------------------------------------------------ path --

fn check_path(raw: &str) {
    if let Ok(k) = path::key(raw) {
        let p = k.path();
        assert!(
            !p.split('/').any(|s| s == ".." || s == "."),
            "{raw:?} -> {p:?}: a dot segment"
        );
        assert!(
            !p.contains('\\') && !p.chars().any(char::is_control),
            "{p:?}"
        );
        // The decoded path, written back, is the same key: decoding once
        // and only once (an encoded `%` stays a `%`).
        let again = path::key(&k.url_path()).expect("a key's URL path is a valid path");
        assert_eq!(again.path(), p, "{raw:?}");
    }
}

#[test]
fn fuzz_path_seeds() {
    every_seed("path", |b| check_path(&lossy(b)));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_path(raw in text("path")) {
        check_path(&raw);
        check_path(&format!("/{raw}"));
    }
}

// ----------------------------------------------------------------- range --

/// The same spec as http-range-header writes it.
fn theirs_of(spec: range::Spec) -> http_range_header::SyntacticallyCorrectRange {
    use http_range_header::SyntacticallyCorrectRange as R;
    match spec {
        range::Spec::From { first, last: None } => R::FromStart(first),
        range::Spec::From {
            first,
            last: Some(l),
        } => R::Indexed(first, l),
        range::Spec::Suffix(n) => R::FromLast(n),
    }
}

fn canonical(spec: range::Spec) -> String {
    match spec {
        range::Spec::From { first, last: None } => format!("bytes={first}-"),
        range::Spec::From {
            first,
            last: Some(l),
        } => format!("bytes={first}-{l}"),
        range::Spec::Suffix(n) => format!("bytes=-{n}"),
    }
}

fn check_range(field: &str, len: u64) {
    let ours = range::parse(field);
    if let Some(range::Request::Single(spec)) = ours {
        if let Some((a, b)) = range::resolve(spec, len) {
            assert!(a <= b && b < len, "{field:?} on {len}: {a}-{b}");
        }
        // Differential: what we parse, written canonically, the other
        // parser reads as the same range (numbers within its 30 digits).
        let c = canonical(spec);
        let theirs = http_range_header::parse_range_header(&c).expect("a canonical range");
        assert_eq!(theirs.into_ranges(), vec![theirs_of(spec)], "{c:?}");
    }
    // Differential: a single range the strict parser accepts, we accept
    // alike (we are more lenient only where RFC 9110 allows: OWS, the
    // unit's case).
    if let Ok(theirs) = http_range_header::parse_range_header(field) {
        let ranges = theirs.into_ranges();
        if ranges.len() == 1 {
            match ours {
                Some(range::Request::Single(spec)) => {
                    assert_eq!(vec![theirs_of(spec)], ranges, "{field:?}")
                }
                other => panic!("{field:?}: http-range-header reads {ranges:?}, we {other:?}"),
            }
        }
    }
}

#[test]
fn fuzz_range_seeds() {
    every_seed("range", |b| {
        for len in [0, 1, 100, 10_000] {
            check_range(&lossy(b), len)
        }
    });
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_range(field in text("range"), len in prop_oneof![Just(0u64), 0u64..2048, any::<u64>()]) {
        check_range(&field, len);
    }

    #[test]
    fn fuzz_range_structured(
        a in prop_oneof![0u64..100, any::<u64>()],
        b in prop_oneof![0u64..100, any::<u64>()],
        form in 0u8..3,
        ws in "[ \t]{0,2}",
        len in 0u64..200,
    ) {
        let field = match form {
            0 => format!("bytes={ws}{a}{ws}-{ws}{b}{ws}"),
            1 => format!("bytes={a}-"),
            _ => format!("bytes=-{b}"),
        };
        check_range(&field, len);
    }
}

// ------------------------------------------------------- accept-encoding --

fn check_accept_encoding(field: &str) {
    let offered = [Coding::Br, Coding::Zstd, Coding::Gzip, Coding::Identity];
    for offer in [&offered[..], &offered[..3], &offered[1..], &offered[3..]] {
        if let Some(c) = accept_encoding::negotiate(Some(field), offer) {
            assert!(offer.contains(&c), "{field:?}: chose {c:?}, not offered");
            if c != Coding::Identity {
                let lower = field.to_ascii_lowercase();
                assert!(
                    lower.contains(c.token()) || lower.contains('*') || lower.contains("x-gzip"),
                    "{field:?}: chose {c:?}, not asked for"
                );
            }
        }
    }
    for element in field.split(',') {
        if let Some((_, q)) = element.split_once("q=") {
            if let Some(v) = accept_encoding::parse_qvalue(q) {
                assert!(v <= 1000, "{q:?} -> {v}");
            }
        }
    }
}

#[test]
fn fuzz_accept_encoding_seeds() {
    every_seed("accept_encoding", |b| check_accept_encoding(&lossy(b)));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_accept_encoding(field in text("accept_encoding")) {
        check_accept_encoding(&field);
    }
}

// ---------------------------------------------------- If-* lists, ETags --

fn check_conditional(field: &str) {
    let when = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let etags: Vec<String> = field
        .split(',')
        .filter_map(|t| etag::parse(t.trim()).map(|_| t.trim().to_string()))
        .chain(["\"abc\"".to_string()])
        .collect();
    for current in &etags {
        for how in [etag::Comparison::Strong, etag::Comparison::Weak] {
            let _ = etag::list_matches(field, current, how);
        }
        let v = Validators {
            etag: current,
            last_modified: Some(when),
            modified_fallback: None,
        };
        for safe in [true, false] {
            for p in [
                Preconditions {
                    if_match: Some(field),
                    ..Default::default()
                },
                Preconditions {
                    if_none_match: Some(field),
                    ..Default::default()
                },
                Preconditions {
                    if_modified_since: Some(field),
                    if_unmodified_since: Some(field),
                    ..Default::default()
                },
            ] {
                let _ = conditional::evaluate(&p, &v, safe);
            }
        }
        let _ = conditional::if_range_allows(Some(field), &v);
    }
    // `*` matches any current representation; a list naming it matches.
    if field.trim() == "*" {
        assert_eq!(
            etag::list_matches(field, "\"x\"", etag::Comparison::Weak),
            Some(true)
        );
    }
}

#[test]
fn fuzz_conditional_seeds() {
    every_seed("conditional", |b| check_conditional(&lossy(b)));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_conditional(field in text("conditional")) {
        check_conditional(&field);
    }
}

// ------------------------------------------------------------------ dates --

fn check_date(s: &str) {
    if let Some(t) = date::parse(s) {
        // Differential: our reading is httpdate's (`date::parse` trims
        // OWS around the field first), and what we write reads back.
        assert_eq!(httpdate::parse_http_date(s.trim()).ok(), Some(t));
        let written = date::format(t);
        assert_eq!(written.len(), 29, "{written:?}");
        assert_eq!(date::parse(&written), Some(t), "{s:?} -> {written:?}");
    }
}

#[test]
fn fuzz_date_seeds() {
    every_seed("date", |b| check_date(&lossy(b)));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_date(s in text("date")) {
        check_date(&s);
    }

    #[test]
    fn fuzz_date_round_trip(secs in 0u64..253_402_300_800) {
        // Every instant up to 9999-12-31 is written and read back.
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(date::parse(&date::format(t)), Some(t));
    }
}

// ---------------------------------------------------------- cache-control --

fn check_cache_control(field: &str) {
    let lines: Vec<&str> = field.split('\n').collect();
    let cc = cache_control::parse(lines.iter().copied());
    // One line or many: a list is a list (RFC 9110 §5.3) (unless a quoted
    // string was cut by the split).
    let joined = lines.join(",");
    assert!(
        field.contains('"') || cache_control::parse([joined.as_str()]) == cc,
        "{field:?}"
    );
    if cc
        .no_cache_fields
        .iter()
        .chain(&cc.private_fields)
        .any(|f| f.is_empty())
    {
        panic!("{field:?}: an empty field name in {cc:?}");
    }
}

#[test]
fn fuzz_cache_control_seeds() {
    every_seed("cache_control", |b| check_cache_control(&lossy(b)));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_cache_control(field in text("cache_control")) {
        check_cache_control(&field);
    }
}

// ------------------------------------------------------------------- vary --

fn check_vary(field: &str, request: &str) {
    let v = vary::parse(field.split('\n'));
    assert!(
        v.names.windows(2).all(|w| w[0] < w[1]),
        "sorted, deduplicated: {:?}",
        v.names
    );
    assert!(v.names.iter().all(|n| *n == n.to_ascii_lowercase()));
    let lines: Vec<&[u8]> = request.split('\n').map(str::as_bytes).collect();
    let a = vary::secondary_key(&v, |_| lines.clone());
    let b = vary::secondary_key(&v, |_| lines.clone());
    assert_eq!(a, b, "the same request, the same key");
    // An absent field and a present one never share a key.
    if !v.names.is_empty() {
        assert_ne!(
            a,
            vary::secondary_key(&v, |_| Vec::new()),
            "{field:?} {request:?}"
        );
    }
}

#[test]
fn fuzz_vary_seeds() {
    every_seed("vary", |b| check_vary(&lossy(b), "gzip, br"));
}

proptest! {
    #![proptest_config(super::config("http"))]

    #[test]
    fn fuzz_vary(field in text("vary"), request in text("accept_encoding")) {
        check_vary(&field, &request);
    }
}
