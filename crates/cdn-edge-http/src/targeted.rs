//! Targeted cache control (RFC 9213): picking the `CDN-Cache-Control`-style
//! field that applies to this cache, in the configured order.
//!
//! Only the selection; what the chosen directives mean is `freshness` /
//! `storability`'s business, and which field names to honour is
//! configuration. When [`select`] returns `Some`, the caller uses it *instead
//! of* both `Cache-Control` and `Expires` (RFC 9213 §2.1).
//!
//! A targeted field is a Structured Field Dictionary (RFC 9213 §2.1,
//! RFC 9651), read with the `sfv` parser: a field that does not parse, or
//! whose known directives have the wrong type (`max-age` not a
//! non-negative Integer, `no-store` not a bare `true`, `no-cache` /
//! `private` not `true`, a String or an Inner List of names), is ignored
//! as a whole, as if absent, and the next field (at last `Cache-Control`)
//! applies (§2.1: "SHOULD NOT consume values that violate these inferred
//! constraints"; §2.2: a field that is empty or fails to parse is
//! ignored). A valid field without any known directive still applies:
//! `CDN-Cache-Control: none` lets a CDN store what `Cache-Control:
//! no-store` keeps from every other cache (§3.1's example).
//!
//! `Surrogate-Control` predates RFC 9213 and is no Dictionary (the Edge
//! Architecture's `max-age=60+30`, `content="ESI/1.0"`): it is read with the
//! `Cache-Control` parser, and counts when one of its elements names a
//! directive we know.

use sfv::{BareItem, Dictionary, ListEntry, Parser};

use super::cache_control::{self, CacheControl};
use super::syntax::split_list;

/// Every directive name `cache_control::parse` understands (RFC 9111 §5.2,
/// RFC 5861, RFC 8246).
const KNOWN: [&str; 16] = [
    "max-age",
    "s-maxage",
    "max-stale",
    "min-fresh",
    "no-cache",
    "no-store",
    "no-transform",
    "only-if-cached",
    "must-revalidate",
    "proxy-revalidate",
    "must-understand",
    "private",
    "public",
    "immutable",
    "stale-while-revalidate",
    "stale-if-error",
];

/// The directives of [`KNOWN`] whose argument is a number of seconds: an
/// Integer in a targeted field. The others but `no-cache` and `private`
/// take no argument: a bare member (Boolean true).
const SECONDS: [&str; 6] = [
    "max-age",
    "s-maxage",
    "max-stale",
    "min-fresh",
    "stale-while-revalidate",
    "stale-if-error",
];

/// The field that is read the Edge Architecture's way, not as a Dictionary.
const SURROGATE_CONTROL: &str = "surrogate-control";

/// The directives of the first configured targeted field (in precedence
/// order, e.g. `["CDN-Edge-Cache-Control", "CDN-Cache-Control"]`) that is
/// present and valid; `None` means the caller falls back to `Cache-Control`.
///
/// `lookup` returns all field lines of a response header by name,
/// case-insensitively (empty when absent). A present but invalid field is
/// ignored and the next one tried (RFC 9213 §2.1, §2.2).
pub fn select<'a>(
    fields: &[String],
    lookup: impl Fn(&str) -> Vec<&'a str>,
) -> Option<CacheControl> {
    fields.iter().find_map(|name| {
        let lines = lookup(name);
        if name.eq_ignore_ascii_case(SURROGATE_CONTROL) {
            recognises(&lines).then(|| cache_control::parse(lines.iter().copied()))
        } else {
            dictionary(&lines)
        }
    })
}

/// A targeted field's lines as one Dictionary (RFC 9651 §4.2: the lines of
/// a field are one value), its known directives rendered in `Cache-Control`
/// syntax and parsed as such; `None` when the field is absent, empty, not
/// a Dictionary, or a known directive has the wrong type.
fn dictionary(lines: &[&str]) -> Option<CacheControl> {
    if lines.iter().all(|l| l.trim().is_empty()) {
        return None;
    }
    let mut dict = Dictionary::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        dict = Parser::new(line).parse_dictionary_with_visitor(dict).ok()?;
    }
    let mut directives = Vec::with_capacity(dict.len());
    for (key, entry) in &dict {
        let name = key.as_str();
        if !KNOWN.contains(&name) {
            continue; // unknown directives are ignored, whatever their type (RFC 9111 §5.2.3)
        }
        directives.push(render(name, entry)?);
    }
    Some(cache_control::parse([directives.join(", ").as_str()]))
}

/// A known directive in `Cache-Control` syntax, or `None` when its value
/// has the wrong type for it (parameters are ignored, RFC 9651 §3.1.2).
fn render(name: &str, entry: &ListEntry) -> Option<String> {
    let qualified = matches!(name, "no-cache" | "private");
    match entry {
        ListEntry::Item(item) => match &item.bare_item {
            BareItem::Integer(n) if SECONDS.contains(&name) && i64::from(*n) >= 0 => {
                Some(format!("{name}={n}"))
            }
            BareItem::Boolean(true) if !SECONDS.contains(&name) => Some(name.to_string()),
            BareItem::String(s) if qualified => field_names(name, [s.as_str()]),
            BareItem::Token(t) if qualified => field_names(name, [t.as_str()]),
            _ => None,
        },
        ListEntry::InnerList(list) if qualified => {
            let names: Option<Vec<&str>> = (list.items.iter())
                .map(|i| match &i.bare_item {
                    BareItem::String(s) => Some(s.as_str()),
                    BareItem::Token(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            field_names(name, names?)
        }
        ListEntry::InnerList(_) => None,
    }
}

/// `no-cache="a, b"` / `private="a"` from the names given; `None` when a
/// name could not sit in a quoted string.
fn field_names<'a>(name: &str, names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let names: Vec<&str> = names.into_iter().collect();
    if names.iter().any(|n| n.contains(['"', '\\'])) {
        return None;
    }
    Some(format!("{name}=\"{}\"", names.join(", ")))
}

/// Whether any list element names a directive in [`KNOWN`], whatever its
/// value (`max-age=junk` is recognisable; it parses as stale).
fn recognises(lines: &[&str]) -> bool {
    lines.iter().flat_map(|l| split_list(l)).any(|d| {
        let name = d.split('=').next().unwrap_or_default().trim();
        KNOWN.iter().any(|k| k.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CDN: &str = "CDN-Cache-Control";
    const EDGE: &str = "Edge-Cache-Control";

    /// `select` over `[EDGE, CDN]` with the given `(name, value)` field lines.
    fn pick(headers: &[(&'static str, &'static str)]) -> Option<CacheControl> {
        let fields = [EDGE.to_string(), CDN.to_string()];
        select(&fields, |name| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect()
        })
    }

    fn cc(s: &str) -> Option<CacheControl> {
        Some(cache_control::parse([s]))
    }

    #[test]
    fn first_present_field_wins_section_2_1() {
        let h = [(CDN, "max-age=60"), ("edge-cache-control", "s-maxage=5")];
        assert_eq!(pick(&h), cc("s-maxage=5"));
        assert_eq!(pick(&[(CDN, "max-age=60")]), cc("max-age=60"));
        assert_eq!(pick(&[("Cache-Control", "max-age=60")]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn all_lines_of_the_chosen_field_combine() {
        let h = [(CDN, "max-age=60"), (CDN, "no-store"), (EDGE, "")];
        assert_eq!(pick(&h), cc("max-age=60, no-store"));
    }

    #[test]
    fn invalid_or_empty_fields_are_skipped_section_2_2() {
        for edge in [
            "",
            " , ",
            "\"max-age=5\"",
            "Max-Age=5",
            "max-age=5,",
            "max-age=5 no-store",
        ] {
            let h = [(EDGE, edge), (CDN, "max-age=60")];
            assert_eq!(pick(&h), cc("max-age=60"), "{edge:?}");
        }
        assert_eq!(pick(&[(CDN, "")]), None);
        assert_eq!(pick(&[(CDN, "max-age=60, =")]), None);
    }

    #[test]
    fn a_known_directive_of_the_wrong_type_voids_the_field_section_2_1() {
        for edge in [
            "max-age=junk",
            "max-age=1.5",
            "max-age=-1",
            "max-age=\"60\"",
            "max-age",
            "no-store=1",
            "no-store=?0",
            "immutable=\"yes\"",
            "stale-if-error=x",
            "no-cache=5",
            "private=(\"a\" 1)",
        ] {
            let h = [(EDGE, edge), (CDN, "max-age=60")];
            assert_eq!(pick(&h), cc("max-age=60"), "{edge:?}");
        }
    }

    #[test]
    fn a_valid_field_applies_even_without_a_known_directive_section_3_1() {
        // `CDN-Cache-Control: none` beside `Cache-Control: no-store`: the
        // CDN may store what other caches may not.
        assert_eq!(pick(&[(CDN, "none")]), Some(CacheControl::default()));
        assert_eq!(pick(&[(CDN, "foo, bar=1")]), Some(CacheControl::default()));
        assert_eq!(
            pick(&[(CDN, "x-unknown=(1 2), max-age=9")]),
            cc("max-age=9")
        );
    }

    #[test]
    fn dictionary_members_become_directives() {
        let h = [(CDN, "max-age=60;x=1, no-store, stale-if-error=600")];
        assert_eq!(pick(&h), cc("max-age=60, no-store, stale-if-error=600"));
        let h = [(CDN, "no-cache=\"set-cookie\", private=(x-a \"x-b\")")];
        assert_eq!(
            pick(&h),
            cc("no-cache=\"set-cookie\", private=\"x-a, x-b\"")
        );
        assert_eq!(pick(&[(CDN, "no-cache, private")]), cc("no-cache, private"));
        // A later member of the same name replaces the earlier (RFC 9651 §4.2.2).
        assert_eq!(
            pick(&[(CDN, "max-age=1"), (CDN, "max-age=2")]),
            cc("max-age=2")
        );
    }

    #[test]
    fn surrogate_control_is_read_the_edge_architecture_way() {
        let fields = ["Surrogate-Control".to_string()];
        let got = |v: &'static str| select(&fields, |_| vec![v]);
        assert_eq!(got("max-age=60"), cc("max-age=60"));
        assert_eq!(got("Max-Age = 7, foo"), cc("max-age=7"));
        assert_eq!(got("max-age=junk"), cc("max-age=junk"));
        assert_eq!(got("content=\"ESI/1.0\""), None);
    }

    #[test]
    fn every_known_name_is_a_parser_directive() {
        for k in KNOWN {
            let v = format!("{k}=1");
            assert_ne!(
                cache_control::parse([v.as_str()]),
                CacheControl::default(),
                "{k}"
            );
        }
    }

    proptest! {
        #[test]
        fn integer_members_are_read_as_their_directives(age in 0u32..=2_000_000_000, swr in 0u32..100_000) {
            let v = format!("max-age={age}, stale-while-revalidate={swr}");
            let fields = [CDN.to_string()];
            prop_assert_eq!(select(&fields, |_| vec![v.as_str()]), cc(&v));
        }

        #[test]
        fn any_text_is_read_without_panic(v in "\\PC{0,60}", other in "[a-z=, ?()\"0-9;-]{0,30}") {
            for name in [CDN, "Surrogate-Control"] {
                let fields = [name.to_string()];
                let _ = select(&fields, |_| vec![v.as_str(), other.as_str()]);
            }
        }
    }
}
