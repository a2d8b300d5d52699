//! Entity tags (RFC 9110 §8.8.3): parsing `If-Match` / `If-None-Match` /
//! `If-Range` values and the strong and weak comparison functions.
//!
//! Our own ETags are always strong and kept in their wire form (`"..."`), so
//! comparison works on `&str` without building values per request.

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Both must be strong and their opaque tags equal (`If-Match`, `If-Range`).
    Strong,
    /// Opaque tags equal, weakness ignored (`If-None-Match`).
    Weak,
}

/// One entity tag as it appeared on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityTag<'a> {
    /// `W/` prefix present.
    pub weak: bool,
    /// The opaque tag including its double quotes.
    pub opaque: &'a str,
}

/// Parses one entity tag (`"xyz"` or `W/"xyz"`); `None` if malformed.
pub fn parse(s: &str) -> Option<EntityTag<'_>> {
    let s = s.trim();
    let (weak, rest) = match s.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
    // etagc = %x21 / %x23-7E / obs-text
    if inner
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    {
        Some(EntityTag { weak, opaque: rest })
    } else {
        None
    }
}

impl EntityTag<'_> {
    /// Compares with another tag by the given function.
    pub fn matches(&self, other: &EntityTag<'_>, how: Comparison) -> bool {
        match how {
            Comparison::Strong => !self.weak && !other.weak && self.opaque == other.opaque,
            Comparison::Weak => self.opaque == other.opaque,
        }
    }
}

/// Whether an `If-Match` / `If-None-Match` field value matches the current
/// strong ETag `current` (wire form, with quotes).
///
/// `*` matches any current representation. Returns `None` when the field is
/// malformed, so the caller can ignore it.
pub fn list_matches(field: &str, current: &str, how: Comparison) -> Option<bool> {
    let field = field.trim();
    // Fast path: a client revalidating sends back exactly the tag it got.
    if field == current && !current.starts_with("W/") {
        return Some(true);
    }
    if field == "*" {
        return Some(true);
    }
    let current = parse(current)?;
    let mut any = false;
    let mut seen = false;
    for item in split_list(field) {
        let tag = parse(item)?;
        seen = true;
        any |= tag.matches(&current, how);
    }
    seen.then_some(any)
}

/// Splits a comma-separated list of entity tags, honouring commas inside
/// quotes (an opaque tag may contain a comma). Allocates nothing.
fn split_list(field: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(field);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut in_quotes = false;
        for (i, b) in s.bytes().enumerate() {
            match b {
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
    .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_strong_and_weak() {
        assert_eq!(
            parse("\"abc\""),
            Some(EntityTag {
                weak: false,
                opaque: "\"abc\""
            })
        );
        assert_eq!(
            parse(" W/\"abc\" "),
            Some(EntityTag {
                weak: true,
                opaque: "\"abc\""
            })
        );
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("\"a\"b\""), None);
        assert_eq!(parse("w/\"abc\""), None);
    }

    #[test]
    fn comparison_table_of_rfc_9110() {
        // RFC 9110 §8.8.3.2 example table.
        let w1 = parse("W/\"1\"").unwrap();
        let w2 = parse("W/\"2\"").unwrap();
        let s1 = parse("\"1\"").unwrap();
        assert!(!w1.matches(&w1, Comparison::Strong));
        assert!(w1.matches(&w1, Comparison::Weak));
        assert!(!w1.matches(&w2, Comparison::Weak));
        assert!(!w1.matches(&s1, Comparison::Strong));
        assert!(w1.matches(&s1, Comparison::Weak));
        assert!(s1.matches(&s1, Comparison::Strong));
    }

    #[test]
    fn lists_and_star() {
        let cur = "\"abc\"";
        assert_eq!(list_matches("*", cur, Comparison::Strong), Some(true));
        assert_eq!(
            list_matches("\"x\", \"abc\"", cur, Comparison::Strong),
            Some(true)
        );
        assert_eq!(
            list_matches("\"x\",W/\"abc\"", cur, Comparison::Strong),
            Some(false)
        );
        assert_eq!(
            list_matches("\"x\",W/\"abc\"", cur, Comparison::Weak),
            Some(true)
        );
        assert_eq!(
            list_matches("\"a,b\", \"abc\"", cur, Comparison::Weak),
            Some(true)
        );
        assert_eq!(list_matches("\"x\"", cur, Comparison::Weak), Some(false));
        assert_eq!(list_matches("garbage", cur, Comparison::Weak), None);
        assert_eq!(list_matches("", cur, Comparison::Weak), None);
    }

    proptest! {
        #[test]
        fn a_list_matches_iff_it_contains_the_tag(tags in proptest::collection::vec("[a-z0-9-]{1,8}", 0..6), weak in proptest::collection::vec(any::<bool>(), 6), cur in "[a-z0-9-]{1,8}") {
            let field = tags.iter().zip(&weak).map(|(t, w)| format!("{}\"{t}\"", if *w { "W/" } else { "" })).collect::<Vec<_>>().join(", ");
            let current = format!("\"{cur}\"");
            let weak_expected = tags.contains(&cur);
            let strong_expected = tags.iter().zip(&weak).any(|(t, w)| *t == cur && !w);
            let expect = |b: bool| if tags.is_empty() { None } else { Some(b) };
            prop_assert_eq!(list_matches(&field, &current, Comparison::Weak), expect(weak_expected));
            prop_assert_eq!(list_matches(&field, &current, Comparison::Strong), expect(strong_expected));
        }

        #[test]
        fn never_panics(field in ".{0,60}") {
            let _ = list_matches(&field, "\"abc\"", Comparison::Weak);
        }
    }
}
