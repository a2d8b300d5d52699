//! What part of a request's query string names the object (a rule's
//! `query` policy): all of it as sent (`keep`, the default), none
//! (`ignore`), its parameters in a stable order (`sort`), or only some of
//! them (`allow`, `deny`). The origin is asked for the normalised query,
//! so the key and the target never disagree.
//!
//! A query is split as the `application/x-www-form-urlencoded` parser of
//! the WHATWG URL standard splits it: on `&`, empty parameters (`a&&b`)
//! dropped, a parameter's name being what comes before its first `=`.
//! Names are compared **decoded** as that parser reads them (`+` is a
//! space, `%XX` escapes decoded, bytes that are not UTF-8 read as U+FFFD),
//! the way `No-Vary-Search` compares them (`no_vary_search`), so
//! `deny = ["v"]` drops `%76=1` too and a client cannot keep a denied
//! parameter by spelling its name differently. What is kept of a parameter
//! is its spelling as sent, never re-encoded: the origin gets bytes the
//! client wrote.
//!
//! `keep` is the identity (an empty query `?` stays); every other policy
//! makes a query with no parameter left no query at all (`/a.js?` and
//! `/a.js` are then one object).

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// A query policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Policy {
    /// The query as received is part of the key (RFC 9111 §2: the target URI).
    #[default]
    Keep,
    /// The query is dropped: every query of the path is one object.
    Ignore,
    /// Parameters sorted by name (stable for equal names).
    Sort,
    /// Only these parameter names are kept (in the order received).
    Allow(Vec<String>),
    /// These parameter names are dropped.
    Deny(Vec<String>),
}

impl Policy {
    /// Whether the policy keeps every query as sent.
    pub fn is_keep(&self) -> bool {
        matches!(self, Policy::Keep)
    }

    /// The query that names the object (and is sent to the origin) for a
    /// request with `query` (`None`: no `?` at all).
    pub fn apply<'a>(&self, query: Option<&'a str>) -> Option<Cow<'a, str>> {
        let q = query?;
        match self {
            Policy::Keep => Some(Cow::Borrowed(q)),
            Policy::Ignore => None,
            Policy::Sort => reduce(q, true, |_| true),
            Policy::Allow(names) => reduce(q, false, |n| names.iter().any(|a| a == n)),
            Policy::Deny(names) => reduce(q, false, |n| !names.iter().any(|d| d == n)),
        }
    }
}

/// A parameter's name as the `application/x-www-form-urlencoded` parser
/// reads it: before the first `=`, `+` as a space, percent-decoded, UTF-8
/// with what is not replaced by U+FFFD. Borrowed when there is nothing to
/// decode.
pub fn name_of(param: &str) -> Cow<'_, str> {
    decoded(param.split_once('=').map_or(param, |(n, _)| n))
}

/// `raw` read as the `application/x-www-form-urlencoded` parser reads a
/// name: `+` as a space, percent-decoded, UTF-8 with what is not replaced
/// by U+FFFD (No-Vary-Search's "parse a key" too). Borrowed when there is
/// nothing to decode.
pub fn decoded(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['+', '%']) {
        return Cow::Borrowed(raw);
    }
    let spaced = raw.replace('+', " ");
    Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
}

/// The non-empty parameters of `query` whose name `keep` keeps, in the
/// order received or, with `sort`, stably sorted by name (Unicode code
/// point order), joined by `&`; `None` when none is left. Borrowed when
/// that is `query` itself.
pub fn reduce<'a>(query: &'a str, sort: bool, keep: impl Fn(&str) -> bool) -> Option<Cow<'a, str>> {
    let mut params: Vec<(&str, Cow<'_, str>)> = (query.split('&'))
        .filter(|p| !p.is_empty())
        .map(|p| (p, name_of(p)))
        .filter(|(_, n)| keep(n))
        .collect();
    if params.is_empty() {
        return None;
    }
    if sort {
        // `sort_by` is stable: equal names keep the order they came in.
        params.sort_by(|a, b| a.1.cmp(&b.1));
    }
    let len = params.iter().map(|(p, _)| p.len() + 1).sum::<usize>() - 1;
    if len == query.len() {
        // Nothing dropped (not even an empty parameter): the same query
        // when the order is too.
        let same = (params.iter().map(|(p, _)| *p)).eq(query.split('&').filter(|p| !p.is_empty()));
        if same {
            return Some(Cow::Borrowed(query));
        }
    }
    let mut out = String::with_capacity(len);
    for (i, (p, _)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(p);
    }
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(p: &Policy, q: Option<&str>) -> Option<String> {
        p.apply(q).map(Cow::into_owned)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_policy_on_examples() {
        let q = Some("v=3&b=1&a=2&b=0");
        assert_eq!(apply(&Policy::Keep, q).as_deref(), q);
        assert_eq!(apply(&Policy::Keep, Some("")).as_deref(), Some(""));
        assert_eq!(apply(&Policy::Keep, None), None);
        assert_eq!(apply(&Policy::Ignore, q), None);
        assert_eq!(
            apply(&Policy::Sort, q).as_deref(),
            Some("a=2&b=1&b=0&v=3"),
            "stable for equal names"
        );
        let allow = Policy::Allow(names(&["b", "a"]));
        assert_eq!(apply(&allow, q).as_deref(), Some("b=1&a=2&b=0"));
        let deny = Policy::Deny(names(&["v"]));
        assert_eq!(apply(&deny, q).as_deref(), Some("b=1&a=2&b=0"));
        assert_eq!(apply(&deny, Some("v=1&v=2")), None, "all dropped: no query");
        assert_eq!(apply(&Policy::Sort, Some("")), None);
        assert_eq!(apply(&Policy::Sort, Some("&&")), None);
    }

    #[test]
    fn empty_parameters_go_and_names_compare_decoded() {
        assert_eq!(apply(&Policy::Sort, Some("b&&a&")).as_deref(), Some("a&b"));
        let deny = Policy::Deny(names(&["v", "utm source"]));
        assert_eq!(
            apply(&deny, Some("%76=1&x=1&utm+source=a&utm%20source=b")).as_deref(),
            Some("x=1")
        );
        let allow = Policy::Allow(names(&["é"]));
        assert_eq!(
            apply(&allow, Some("%C3%A9=1&e=2")).as_deref(),
            Some("%C3%A9=1"),
            "kept as sent"
        );
        // A name is what comes before the first `=`.
        assert_eq!(name_of("a=b=c"), "a");
        assert_eq!(name_of("=x"), "");
        assert_eq!(name_of("%ff"), "\u{fffd}");
        assert!(matches!(name_of("plain=1"), Cow::Borrowed(_)));
    }

    #[test]
    fn an_unchanged_query_is_borrowed() {
        assert!(matches!(
            Policy::Sort.apply(Some("a=1&b=2")),
            Some(Cow::Borrowed("a=1&b=2"))
        ));
        assert!(matches!(
            Policy::Sort.apply(Some("a=1&&b=2")),
            Some(Cow::Owned(_))
        ));
    }

    fn queries() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("(a|b|v|%76|\\+|%20|=|&|1|é|%C3%A9|%ff){0,12}")
    }

    fn policies() -> impl Strategy<Value = Policy> {
        let list = proptest::collection::vec("(a|b|v| |é|)", 0..3);
        prop_oneof![
            Just(Policy::Keep),
            Just(Policy::Ignore),
            Just(Policy::Sort),
            list.clone().prop_map(Policy::Allow),
            list.prop_map(Policy::Deny),
        ]
    }

    proptest! {
        /// Applying a policy twice is applying it once.
        #[test]
        fn idempotent(p in policies(), q in queries()) {
            let once = apply(&p, q.as_deref());
            prop_assert_eq!(apply(&p, once.as_deref()), once);
        }

        /// `keep` is the identity; `ignore` never leaves a `?`.
        #[test]
        fn keep_and_ignore(q in queries()) {
            prop_assert_eq!(apply(&Policy::Keep, q.as_deref()), q.clone());
            prop_assert_eq!(apply(&Policy::Ignore, q.as_deref()), None);
        }

        /// What any policy leaves is made of parameters sent, none empty
        /// (except `keep`'s), and never one a `deny` names or an `allow`
        /// does not; `sort` keeps them all, sorted.
        #[test]
        fn only_parameters_the_policy_keeps(p in policies(), q in queries()) {
            let sent: Vec<&str> = q.as_deref().map_or(Vec::new(), |q| q.split('&').collect());
            let Some(out) = apply(&p, q.as_deref()) else { return Ok(()) };
            if p.is_keep() {
                return Ok(());
            }
            let params: Vec<&str> = out.split('&').collect();
            for param in &params {
                prop_assert!(!param.is_empty());
                prop_assert!(sent.contains(param));
                let n = name_of(param);
                match &p {
                    Policy::Deny(d) => prop_assert!(!d.iter().any(|x| *x == n)),
                    Policy::Allow(a) => prop_assert!(a.iter().any(|x| *x == n)),
                    _ => {}
                }
            }
            if p == Policy::Sort {
                let mut kept: Vec<&str> = sent.iter().copied().filter(|s| !s.is_empty()).collect();
                kept.sort_by_key(|s| name_of(s));
                prop_assert_eq!(params, kept);
            }
        }
    }
}
