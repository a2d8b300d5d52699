//! Targeted cache control (RFC 9213): picking the `CDN-Cache-Control`-style
//! field that applies to this cache, in the configured order.
//!
//! Only the selection; what the chosen directives mean is `freshness` /
//! `storability`'s business, and which field names to honour is
//! configuration. When [`select`] returns `Some`, the caller uses it *instead
//! of* both `Cache-Control` and `Expires` (RFC 9213 §2.1).
//!
//! RFC 9213 §2.2 defines targeted fields as Structured Field Dictionaries
//! (RFC 8941). We read them with the `Cache-Control` parser instead, which is
//! more lenient: it accepts upper-case names, quoted numbers and the RFC 9111
//! forms of qualified `no-cache` / `private`, so a value a strict Structured
//! Field parser would reject (and skip) is used here. A field counts as
//! valid when at least one element names a directive we know, whatever its
//! value; a field that is empty or holds only unknown directives is skipped
//! like an unparsable one (stricter SF parsing would accept the latter).

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

/// The directives of the first configured targeted field (in precedence
/// order, e.g. `["Edge-Cache-Control", "CDN-Cache-Control"]`) that is present
/// and valid; `None` means the caller falls back to `Cache-Control`.
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
        recognises(&lines).then(|| cache_control::parse(lines.iter().copied()))
    })
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
        for edge in ["", " , ", "foo, bar=1", "\"max-age=5\""] {
            let h = [(EDGE, edge), (CDN, "max-age=60")];
            assert_eq!(pick(&h), cc("max-age=60"), "{edge:?}");
        }
        assert_eq!(pick(&[(CDN, "x-unknown")]), None);
    }

    #[test]
    fn a_known_directive_with_a_bad_value_still_counts() {
        // Valid field, no usable directive: it still overrides Cache-Control.
        let h = [(EDGE, "stale-if-error=x"), (CDN, "max-age=60")];
        assert_eq!(pick(&h), Some(CacheControl::default()));
        assert_eq!(pick(&[(CDN, "max-age=junk")]), cc("max-age=0"));
        assert_eq!(pick(&[(CDN, "Max-Age = 7, foo")]), cc("max-age=7"));
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
        fn non_default_parse_implies_selected(v in "[a-z=, \"0-9-]{0,40}", other in "[a-z=, 0-9-]{0,20}") {
            let fields = [CDN.to_string()];
            let got = select(&fields, |_| vec![v.as_str(), other.as_str()]);
            let parsed = cache_control::parse([v.as_str(), other.as_str()]);
            if parsed != CacheControl::default() {
                prop_assert_eq!(got, Some(parsed));
            }
        }
    }
}
