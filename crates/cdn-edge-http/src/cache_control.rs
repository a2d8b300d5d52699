//! `Cache-Control` (RFC 9111 §5.2): parsing request and response directives
//! into one flat struct, including the RFC 5861 `stale-while-revalidate` /
//! `stale-if-error` and RFC 8246 `immutable` extensions.
//!
//! This only says what the field lines *say*; it does not decide whether a
//! response is storable or fresh (see `freshness`). Parsing is total: any
//! input yields a value and nothing panics.
//!
//! Choices where the RFC leaves room, all leaning towards the stricter reading:
//!
//! - An invalid or missing `max-age` / `s-maxage` value (`max-age=abc`,
//!   `max-age=-1`, `max-age`) becomes `Some(0)`: "a cache ought to consider
//!   the response stale" (§4.2.1). The same applies when the field is on a
//!   request, where 0 means "revalidate".
//! - Duplicated directives keep the most restrictive value: the minimum for
//!   `max-age`, `s-maxage`, `max-stale`, `stale-while-revalidate` and
//!   `stale-if-error`, the maximum for `min-fresh` (§4.2.1 asks for the stale
//!   reading of conflicting duplicates, which the minimum gives).
//! - An invalid value on a directive that *relaxes* caching (`max-stale=x`,
//!   `stale-while-revalidate=x`, `stale-if-error=x`) or on `min-fresh` drops
//!   that directive.
//! - `no-cache` and `private` are read in both forms. Unqualified (no
//!   argument, or an empty one) they set `no_cache` / `private`; with field
//!   names (`no-cache="Set-Cookie, X-Foo"`, or a bare `no-cache=X-Foo`) they
//!   fill `no_cache_fields` / `private_fields` instead (lower-cased,
//!   deduplicated, in order), and the caller strips those fields (§5.2.2.4,
//!   §5.2.2.7). An argument that is not a list of tokens (unbalanced quotes,
//!   `no-cache="a b"`) counts as the unqualified, stricter, directive.
//! - Flag directives given an argument (`public=1`) still count.
//! - Delta-seconds above 2^31 saturate at 2147483648 (§1.2.2).

use std::borrow::Cow;

use super::syntax::{is_token, split_list, unquote};

/// The value delta-seconds saturate at (§1.2.2).
pub const MAX_DELTA: u64 = 1 << 31;

/// Parsed Cache-Control directives (request or response), RFC 9111 §5.2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `max-age=N` in seconds (request §5.2.1.1, response §5.2.2.1).
    pub max_age: Option<u64>,
    /// `s-maxage=N`: lifetime for shared caches only (§5.2.2.10).
    pub s_maxage: Option<u64>,
    /// Request `max-stale[=N]`; `Some(None)` accepts any staleness (§5.2.1.2).
    pub max_stale: Option<Option<u64>>,
    /// Request `min-fresh=N` (§5.2.1.3).
    pub min_fresh: Option<u64>,
    /// Unqualified `no-cache`: revalidate before every reuse (§5.2.1.4, §5.2.2.4).
    pub no_cache: bool,
    /// Field names of a qualified response `no-cache="..."`: reusable without
    /// revalidation once these fields are omitted (§5.2.2.4).
    pub no_cache_fields: Vec<String>,
    /// `no-store` (§5.2.1.5, §5.2.2.5).
    pub no_store: bool,
    /// `no-transform` (§5.2.1.6, §5.2.2.6).
    pub no_transform: bool,
    /// Request `only-if-cached` (§5.2.1.7).
    pub only_if_cached: bool,
    /// Response `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// Response `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// Response `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// Unqualified response `private`: a shared cache must not store it (§5.2.2.7).
    pub private: bool,
    /// Field names of a qualified `private="..."`: a shared cache may store
    /// the response without these fields (§5.2.2.7).
    pub private_fields: Vec<String>,
    /// Response `public` (§5.2.2.9).
    pub public: bool,
    /// Response `immutable` (RFC 8246).
    pub immutable: bool,
    /// Response `stale-while-revalidate=N` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// Response `stale-if-error=N` (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

/// Parses one or more Cache-Control field values (pass all field lines; they are combined as a list).
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> CacheControl {
    let mut cc = CacheControl::default();
    for value in values {
        for directive in split_list(value) {
            cc.apply(directive);
        }
    }
    cc
}

impl CacheControl {
    /// Folds one `name[=value]` directive into `self`.
    fn apply(&mut self, directive: &str) {
        let (name, value) = match directive.find('=') {
            Some(i) => (&directive[..i], Some(&directive[i + 1..])),
            None => (directive, None),
        };
        let name = name.trim();
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let delta = value.and_then(delta_seconds);
        if is("max-age") {
            // Invalid → stale (§4.2.1); duplicates → minimum.
            self.max_age = min(self.max_age, delta.unwrap_or(0));
        } else if is("s-maxage") {
            self.s_maxage = min(self.s_maxage, delta.unwrap_or(0));
        } else if is("max-stale") {
            // No argument: any staleness. Invalid argument: dropped.
            if value.is_none() {
                self.max_stale.get_or_insert(None);
            } else if let Some(n) = delta {
                self.max_stale = Some(min(self.max_stale.flatten(), n));
            }
        } else if is("min-fresh") {
            if let Some(n) = delta {
                self.min_fresh = Some(self.min_fresh.map_or(n, |m| m.max(n)));
            }
        } else if is("stale-while-revalidate") {
            if let Some(n) = delta {
                self.stale_while_revalidate = min(self.stale_while_revalidate, n);
            }
        } else if is("stale-if-error") {
            if let Some(n) = delta {
                self.stale_if_error = min(self.stale_if_error, n);
            }
        } else if is("no-cache") {
            qualified(value, &mut self.no_cache, &mut self.no_cache_fields);
        } else if is("private") {
            qualified(value, &mut self.private, &mut self.private_fields);
        } else {
            let flag = if is("no-store") {
                &mut self.no_store
            } else if is("no-transform") {
                &mut self.no_transform
            } else if is("only-if-cached") {
                &mut self.only_if_cached
            } else if is("must-revalidate") {
                &mut self.must_revalidate
            } else if is("proxy-revalidate") {
                &mut self.proxy_revalidate
            } else if is("must-understand") {
                &mut self.must_understand
            } else if is("public") {
                &mut self.public
            } else if is("immutable") {
                &mut self.immutable
            } else {
                // Unknown extensions are ignored (§5.2.3).
                return;
            };
            *flag = true;
        }
    }
}

/// Folds the argument of `no-cache` or `private` (§5.2.2.4, §5.2.2.7):
/// field names are added to `fields`; no argument, an empty one, or one that
/// is not a list of tokens sets `flag` (the stricter reading).
fn qualified(value: Option<&str>, flag: &mut bool, fields: &mut Vec<String>) {
    match value.and_then(field_names) {
        Some(names) if !names.is_empty() => {
            for name in names {
                if !fields.contains(&name) {
                    fields.push(name);
                }
            }
        }
        _ => *flag = true,
    }
}

/// Lower-cased field names of a quoted list (`"a, b"`) or a bare token
/// (`a`); `None` if the quotes are unbalanced or an element is not a token.
fn field_names(raw: &str) -> Option<Vec<String>> {
    let raw = raw.trim();
    let list = match raw.strip_prefix('"') {
        Some(rest) => unquote(rest)?,
        // A bare argument is a single token (§5.2: token form).
        None if raw.is_empty() || is_token(raw) => raw.to_owned(),
        None => return None,
    };
    split_list(&list)
        .map(|n| {
            let n = n.trim_matches([' ', '\t']);
            is_token(n).then(|| n.to_ascii_lowercase())
        })
        .collect()
}

/// The smaller of an existing optional value and a new one.
fn min(current: Option<u64>, new: u64) -> Option<u64> {
    Some(current.map_or(new, |c| c.min(new)))
}

/// Parses delta-seconds (§1.2.2) given as a token or a quoted-string
/// (§5.2: recipients accept both forms). `None` unless the value is one or
/// more ASCII digits; values above 2^31 saturate.
fn delta_seconds(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    let digits = match raw.strip_prefix('"') {
        Some(q) => Cow::Owned(unquote(q)?),
        None => Cow::Borrowed(raw),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .bytes()
            .fold(0, |n, b| (n * 10 + u64::from(b - b'0')).min(MAX_DELTA)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> CacheControl {
        parse([s])
    }

    #[test]
    fn names_are_case_insensitive_section_5_2() {
        let cc = p("Max-Age=60, NO-CACHE, Public, S-MaxAge=30");
        assert_eq!(cc.max_age, Some(60));
        assert_eq!(cc.s_maxage, Some(30));
        assert!(cc.no_cache && cc.public);
    }

    #[test]
    fn every_directive() {
        let cc = p(
            "max-age=1, s-maxage=2, max-stale=3, min-fresh=4, no-cache, no-store, \
             no-transform, only-if-cached, must-revalidate, proxy-revalidate, must-understand, \
             private, public, immutable, stale-while-revalidate=5, stale-if-error=6",
        );
        let all = CacheControl {
            max_age: Some(1),
            s_maxage: Some(2),
            max_stale: Some(Some(3)),
            min_fresh: Some(4),
            no_cache: true,
            no_cache_fields: vec![],
            no_store: true,
            no_transform: true,
            only_if_cached: true,
            must_revalidate: true,
            proxy_revalidate: true,
            must_understand: true,
            private: true,
            private_fields: vec![],
            public: true,
            immutable: true,
            stale_while_revalidate: Some(5),
            stale_if_error: Some(6),
        };
        assert_eq!(cc, all);
        assert_eq!(p(""), CacheControl::default());
    }

    #[test]
    fn quoted_values_accepted_section_5_2() {
        assert_eq!(p("max-age=\"60\"").max_age, Some(60));
        assert_eq!(p("max-age=\"6\\0\"").max_age, Some(60));
        assert_eq!(p("s-maxage=\"\"").s_maxage, Some(0));
    }

    #[test]
    fn commas_inside_quotes_do_not_split() {
        let cc = p("no-cache=\"set-cookie, max-age=5\", private=\"a,\\\"b\", public");
        assert!(cc.no_cache && cc.private && cc.public, "not token lists");
        assert_eq!(cc.max_age, None);
    }

    fn fields(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn qualified_no_cache_and_private_list_fields_section_5_2_2_4_and_5_2_2_7() {
        let cc = p("no-cache=\"Set-Cookie, X-Foo,set-cookie\", private=X-Bar");
        assert!(!cc.no_cache && !cc.private);
        assert_eq!(cc.no_cache_fields, fields(&["set-cookie", "x-foo"]));
        assert_eq!(cc.private_fields, fields(&["x-bar"]));
        let cc = parse(["private=\"a\"", "private=\"B, a\"", "private=\"\\c\""]);
        assert_eq!(cc.private_fields, fields(&["a", "b", "c"]));
        assert!(!cc.private);
    }

    #[test]
    fn unqualified_forms_set_the_flag() {
        for s in r#"no-cache|no-cache=|no-cache=""|no-cache=" , "|No-Cache = "#.split('|') {
            let cc = p(s);
            assert!(cc.no_cache && cc.no_cache_fields.is_empty(), "{s}");
        }
        // Arguments we cannot read as field names: the stricter, plain directive.
        for s in r#"private="a b"|private="a|private=a"|private=a b|private="a"b"#.split('|') {
            let cc = p(s);
            assert!(cc.private && cc.private_fields.is_empty(), "{s}");
        }
    }

    #[test]
    fn both_forms_keep_flag_and_fields() {
        let cc = p("no-cache=\"x-a\", no-cache, private, private=x-b");
        assert!(cc.no_cache && cc.private);
        assert_eq!(cc.no_cache_fields, fields(&["x-a"]));
        assert_eq!(cc.private_fields, fields(&["x-b"]));
    }

    #[test]
    fn overflow_saturates_at_2_pow_31_section_1_2_2() {
        assert_eq!(p("max-age=2147483648").max_age, Some(MAX_DELTA));
        assert_eq!(p("max-age=2147483649").max_age, Some(MAX_DELTA));
        assert_eq!(
            p("max-age=99999999999999999999999999999").max_age,
            Some(MAX_DELTA)
        );
        assert_eq!(p("max-age=2147483647").max_age, Some(2147483647));
    }

    #[test]
    fn invalid_max_age_means_stale_section_4_2_1() {
        for bad in [
            "max-age=abc",
            "max-age=-1",
            "max-age",
            "max-age=",
            "max-age=1.5",
            "max-age=+5",
            "max-age=\"6",
        ] {
            assert_eq!(p(bad).max_age, Some(0), "{bad}");
        }
        assert_eq!(p("s-maxage=x").s_maxage, Some(0));
    }

    #[test]
    fn duplicates_keep_the_most_restrictive_section_4_2_1() {
        assert_eq!(p("max-age=60, max-age=10").max_age, Some(10));
        assert_eq!(parse(["max-age=10", "max-age=60"]).max_age, Some(10));
        assert_eq!(p("max-age=60, max-age=junk").max_age, Some(0));
        assert_eq!(p("s-maxage=5, s-maxage=50").s_maxage, Some(5));
        assert_eq!(p("min-fresh=5, min-fresh=50").min_fresh, Some(50));
        assert_eq!(p("max-stale, max-stale=5").max_stale, Some(Some(5)));
        assert_eq!(p("max-stale=5, max-stale").max_stale, Some(Some(5)));
        assert_eq!(p("max-stale=9, max-stale=5").max_stale, Some(Some(5)));
        assert_eq!(
            p("stale-if-error=9, stale-if-error=5").stale_if_error,
            Some(5)
        );
    }

    #[test]
    fn request_directives_section_5_2_1() {
        assert_eq!(p("max-stale").max_stale, Some(None));
        assert_eq!(p("max-stale=30").max_stale, Some(Some(30)));
        assert_eq!(p("max-stale=x").max_stale, None);
        assert_eq!(p("min-fresh=x").min_fresh, None);
        assert!(p("only-if-cached").only_if_cached);
    }

    #[test]
    fn rfc_5861_extensions() {
        let cc = p("max-age=600, stale-while-revalidate=30, stale-if-error=86400");
        assert_eq!(cc.stale_while_revalidate, Some(30));
        assert_eq!(cc.stale_if_error, Some(86400));
        assert_eq!(p("stale-while-revalidate=x").stale_while_revalidate, None);
    }

    #[test]
    fn lists_across_field_lines_and_junk() {
        let cc = parse(["public", " , ,max-age=5 ", "x-unknown=\"y\", foo"]);
        assert!(cc.public);
        assert_eq!(cc.max_age, Some(5));
        assert_eq!(p("max-age = 7").max_age, Some(7));
        assert_eq!(p("max-age=5 6").max_age, Some(0));
        assert_eq!(p("max age=5").max_age, None);
    }

    proptest! {
        #[test]
        fn qualified_fields_are_lower_case_tokens(s in "(no-cache|private)=\"?[a-zA-Z, -]{0,20}\"?") {
            let cc = p(&s);
            for f in cc.no_cache_fields.iter().chain(&cc.private_fields) {
                prop_assert!(super::super::syntax::is_token(f) && *f == f.to_ascii_lowercase());
            }
            prop_assert!(cc.no_cache || cc.private || !(cc.no_cache_fields.is_empty() && cc.private_fields.is_empty()));
        }

        #[test]
        fn never_panics(s in ".{0,80}", t in "[a-zA-Z=\",\\\\ 0-9-]{0,60}") {
            let _ = parse([s.as_str(), t.as_str()]);
        }

        #[test]
        fn max_age_round_trips(n in 0u64..=MAX_DELTA, quoted in any::<bool>()) {
            let v = if quoted { format!("max-age=\"{n}\"") } else { format!("max-age={n}") };
            prop_assert_eq!(p(&v).max_age, Some(n));
        }

        #[test]
        fn duplicates_take_the_minimum(a in 0u64..1_000_000, b in 0u64..1_000_000) {
            let cc = p(&format!("max-age={a}, s-maxage={b}, max-age={b}, s-maxage={a}"));
            prop_assert_eq!(cc.max_age, Some(a.min(b)));
            prop_assert_eq!(cc.s_maxage, Some(a.min(b)));
        }
    }
}
