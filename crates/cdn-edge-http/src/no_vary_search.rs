//! `No-Vary-Search` (draft-ietf-httpbis-no-vary-search): a response says
//! which parts of the query do not change it — the order of the
//! parameters (`key-order`), some parameters (`params=("a" "b")`), or all
//! but some (`params, except=("c")`) — so a cache may answer requests
//! whose queries differ only there with the one stored response.
//!
//! The field is a Structured Fields Dictionary (RFC 9651 §3.2) read with
//! the `sfv` parser. [`parse`] follows the draft's "parse a URL search
//! variance" (§5.1 of draft -00, "Parsing"): a value that is not a
//! Dictionary, or a known member of the wrong type (`key-order` not a
//! boolean, `params` neither a boolean nor an inner list of strings,
//! `except` not an inner list of strings or without `params` true), makes
//! the whole field ignored — the response then varies on the whole query,
//! as without the field. Unknown members are ignored. Names in the lists
//! are decoded as the draft's "parse a key" says (`+` a space, `%XX`
//! escapes), as [`query::decoded`] does.
//!
//! A cache applies a [`Variance`] by normalising a query
//! ([`Variance::apply`]): the parameters that do not matter dropped, and
//! the rest stably sorted by name when their order does not matter. Two
//! queries with the same normal form are equivalent modulo the variance
//! (the draft's §6, "Comparing": each parameter is parsed on its own, so
//! filtering and stably sorting the raw parameters is filtering and
//! sorting their parsed pairs), so keying on the normal form never lets a
//! response answer a query the origin did not declare equivalent. The
//! converse does not hold (`a=%78` and `a=x` are equivalent, their normal
//! forms differ): such requests miss, which the draft allows (a cache may
//! always fail to reuse, §7 "Caching").

use std::borrow::Cow;

use sfv::{BareItem, Dictionary, ListEntry, Parser};

use crate::query;

/// What a response's `No-Vary-Search` says does not change it (never the
/// draft's default, "the whole query as sent matters": [`parse`] gives
/// `None` for that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variance {
    /// The order of parameters does not matter (`key-order`).
    pub any_order: bool,
    /// Which parameters matter.
    pub params: Params,
}

/// Which parameters of a query matter to a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// All of them (no `params` member, or an empty list).
    All,
    /// All but these (`params=("a" "b")`, decoded names).
    AllBut(Vec<String>),
    /// Only these (`params` true, with `except=(...)`; none without it).
    Only(Vec<String>),
}

/// The variance a response's `No-Vary-Search` field lines say, or `None`
/// when the field is absent, invalid (ignored as a whole, §5.1) or says
/// what the default says (`key-order=?0`, `params=()`, `params=?0`).
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Variance> {
    let mut dict = Dictionary::new();
    let mut any = false;
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        any = true;
        // The lines of a field are one value (RFC 9651 §4.2).
        dict = Parser::new(line).parse_dictionary_with_visitor(dict).ok()?;
    }
    if !any {
        return None;
    }
    let any_order = match dict.get("key-order") {
        None => false,
        Some(e) => boolean(e)?,
    };
    let mut params = match dict.get("params") {
        None => Params::All,
        Some(e) => match (boolean(e), strings(e)) {
            (Some(true), _) => Params::Only(Vec::new()),
            (Some(false), _) => Params::All,
            (None, Some(names)) if names.is_empty() => Params::All,
            (None, Some(names)) => Params::AllBut(names),
            (None, None) => return None,
        },
    };
    if let Some(e) = dict.get("except") {
        // Only with `params` true.
        let Params::Only(only) = &mut params else {
            return None;
        };
        *only = strings(e)?;
    }
    let v = Variance { any_order, params };
    (v.any_order || v.params != Params::All).then_some(v)
}

/// A member's boolean value, if it is a boolean Item (parameters ignored).
fn boolean(e: &ListEntry) -> Option<bool> {
    match e {
        ListEntry::Item(i) => i.bare_item.as_boolean(),
        ListEntry::InnerList(_) => None,
    }
}

/// A member's inner list of strings, decoded as names, if it is one.
fn strings(e: &ListEntry) -> Option<Vec<String>> {
    let ListEntry::InnerList(list) = e else {
        return None;
    };
    (list.items.iter())
        .map(|i| match &i.bare_item {
            BareItem::String(s) => Some(query::decoded(s.as_str()).into_owned()),
            _ => None,
        })
        .collect()
}

impl Variance {
    /// The normal form of `query` under this variance: the parameters that
    /// matter, stably sorted by name when their order does not; `None`
    /// when none is left (no query and an empty one are one, §6).
    pub fn apply<'a>(&self, query: Option<&'a str>) -> Option<Cow<'a, str>> {
        let q = query?;
        let sort = self.any_order;
        match &self.params {
            Params::All => query::reduce(q, sort, |_| true),
            Params::AllBut(names) => query::reduce(q, sort, |n| !names.iter().any(|x| x == n)),
            Params::Only(names) => query::reduce(q, sort, |n| names.iter().any(|x| x == n)),
        }
    }

    /// Bytes held beside the value (for a bound on what notes hold).
    pub fn heap_bytes(&self) -> usize {
        match &self.params {
            Params::All => 0,
            Params::AllBut(n) | Params::Only(n) => n.iter().map(|s| 24 + s.len()).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(field: &str) -> Option<Variance> {
        parse([field])
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn norm(field: &str, q: &str) -> Option<String> {
        v(field).unwrap().apply(Some(q)).map(Cow::into_owned)
    }

    #[test]
    fn the_drafts_examples_parse() {
        assert_eq!(
            v("key-order"),
            Some(Variance {
                any_order: true,
                params: Params::All
            })
        );
        assert_eq!(v("params").unwrap().params, Params::Only(vec![]));
        assert_eq!(
            v("params=(\"a\")").unwrap().params,
            Params::AllBut(names(&["a"]))
        );
        assert_eq!(
            v("params, except=(\"x\")").unwrap().params,
            Params::Only(names(&["x"]))
        );
        assert_eq!(
            v("params=(\"%C3%A9+%E6%B0%97\")").unwrap().params,
            Params::AllBut(names(&["é 気"]))
        );
        // Unconventional but valid.
        assert_eq!(v("params=?1"), v("params"));
        assert_eq!(v("key-order=?1"), v("key-order"));
        assert_eq!(
            v("params, key-order, except=(\"x\")"),
            v("key-order, params, except=(\"x\")")
        );
        assert!(
            v("key-order, unknown=5").is_some(),
            "unknown members ignored"
        );
        // The default, said explicitly: nothing to do.
        for same in ["params=?0", "params=()", "key-order=?0", "", "  "] {
            assert_eq!(v(same), None, "{same}");
        }
        assert_eq!(parse([]), None);
    }

    /// The draft's invalid examples (§5.2.1), and values that are no
    /// Dictionary: the field is ignored as a whole.
    #[test]
    fn invalid_values_are_ignored_as_a_whole() {
        for bad in [
            "unknown-key",
            "key-order=\"not a boolean\"",
            "params=\"not a boolean or inner list\"",
            "params=(not-a-string)",
            "params=(\"a\"), except=(\"x\")",
            "params=(), except=()",
            "params=?0, except=(\"x\")",
            "params, except=(not-a-string)",
            "params, except=\"not an inner list\"",
            "params, except=?1",
            "except=(\"x\")",
            "except=()",
            "key-order, params=(\"a\"",
            "key-order;;",
            "params=(\"a\" 1)",
            "\"params\"",
        ] {
            assert_eq!(v(bad), None, "{bad}");
        }
        // Over several lines, one bad line spoils the whole.
        assert_eq!(parse(["key-order", "params=5"]), None);
        assert_eq!(
            parse(["key-order", "params=(\"a\")"]),
            Some(Variance {
                any_order: true,
                params: Params::AllBut(names(&["a"]))
            })
        );
    }

    #[test]
    fn queries_normalise() {
        assert_eq!(norm("key-order", "b=1&a=2").as_deref(), Some("a=2&b=1"));
        assert_eq!(
            norm("params=(\"utm\" \"x\")", "utm=1&a=2&x").as_deref(),
            Some("a=2")
        );
        assert_eq!(norm("params", "a=1&b=2"), None);
        assert_eq!(
            norm("params, except=(\"c\")", "a=1&c=3&b=2").as_deref(),
            Some("c=3")
        );
        assert_eq!(
            norm("key-order, params, except=(\"c\" \"a\")", "c=3&b=2&a=1").as_deref(),
            Some("a=1&c=3")
        );
        assert_eq!(norm("key-order", ""), None, "empty and absent are one");
        assert_eq!(v("key-order").unwrap().apply(None), None);
    }

    fn queries() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("(a|b|c|%61|\\+|=|&|1|2){0,12}")
    }

    fn variances() -> impl Strategy<Value = Variance> {
        let list = proptest::collection::vec("(a|b|c)", 0..3);
        let params = prop_oneof![
            Just(Params::All),
            list.clone().prop_map(Params::AllBut),
            list.prop_map(Params::Only),
        ];
        (any::<bool>(), params).prop_map(|(any_order, params)| Variance { any_order, params })
    }

    /// The parsed pairs of a query as the draft's §6 compares them:
    /// filtered by the variance, stably sorted when order does not matter.
    fn compared(v: &Variance, q: Option<&str>) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = (q.unwrap_or("").split('&'))
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (n, val) = p.split_once('=').unwrap_or((p, ""));
                (
                    query::decoded(n).into_owned(),
                    query::decoded(val).into_owned(),
                )
            })
            .filter(|(n, _)| match &v.params {
                Params::All => true,
                Params::AllBut(x) => !x.contains(n),
                Params::Only(x) => x.contains(n),
            })
            .collect();
        if v.any_order {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
        }
        pairs
    }

    proptest! {
        /// Two queries with one normal form are equivalent under the
        /// variance (§6): keying on it never joins what the origin did not
        /// declare equivalent. And normalising is idempotent.
        #[test]
        fn one_normal_form_means_equivalent(v in variances(), a in queries(), b in queries()) {
            let (na, nb) = (v.apply(a.as_deref()), v.apply(b.as_deref()));
            if na == nb {
                prop_assert_eq!(compared(&v, a.as_deref()), compared(&v, b.as_deref()));
            }
            prop_assert_eq!(v.apply(na.as_deref()), na.clone());
        }
    }
}
