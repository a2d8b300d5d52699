//! Shared field-value syntax (RFC 9110 §5.6): tokens, comma-separated lists
//! and quoted-strings, as the other `http` modules read them.
//!
//! Only the lexical layer: no module here decides what a field *means*.
//! Everything is total and allocation-light; nothing panics on any input.

use std::borrow::Cow;

/// A list-valued field (`#element`) of a request or response from its
/// field lines: joined with commas (RFC 9110 §5.3). Borrowed when there is
/// only one line; `None` when there is none. (The caller skips lines that
/// are not text.)
pub fn join_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<Cow<'a, str>> {
    let mut values = lines.into_iter();
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let mut joined = format!("{first}, {second}");
            for v in values {
                joined.push_str(", ");
                joined.push_str(v);
            }
            Some(Cow::Owned(joined))
        }
    }
}

/// Whether `s` is a non-empty `token` (RFC 9110 §5.6.2), e.g. a field name.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits a comma-separated list, honouring quoted-strings and their
/// quoted-pairs, and skipping empty elements (RFC 9110 §5.6.1). Elements are
/// returned untrimmed.
pub fn split_list(field: &str) -> impl Iterator<Item = &str> {
    // Cuts fall on ASCII commas, so every piece is whole UTF-8.
    list_pieces(field.as_bytes())
        .map(move |r| &field[r])
        .filter(|s| !s.trim().is_empty())
}

/// [`split_list`] over a field's raw bytes (a value that is not text is
/// still a list): elements of only spaces and tabs are skipped.
pub fn split_list_bytes(field: &[u8]) -> impl Iterator<Item = &[u8]> {
    list_pieces(field)
        .map(move |r| &field[r])
        .filter(|s| s.iter().any(|b| !matches!(b, b' ' | b'\t')))
}

/// The byte ranges between the commas of a list that are outside
/// quoted-strings (empty ones included).
fn list_pieces(field: &[u8]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let mut in_quotes = false;
        let mut escaped = false;
        for (i, &b) in field.iter().enumerate().skip(from) {
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if in_quotes => escaped = true,
                b'"' => in_quotes = !in_quotes,
                b',' if !in_quotes => {
                    start = Some(i + 1);
                    return Some(from..i);
                }
                _ => {}
            }
        }
        start = None;
        Some(from..field.len())
    })
}

/// The content of a quoted-string (RFC 9110 §5.6.4) given without its
/// opening quote, with quoted-pairs resolved; `None` unless it ends in a
/// closing quote with nothing after it.
pub fn unquote(after_open: &str) -> Option<String> {
    let mut out = String::with_capacity(after_open.len());
    let mut chars = after_open.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_section_5_6_2() {
        for ok in ["a", "X-Foo", "*", "a.b", "!#$%&'*+-.^_`|~09"] {
            assert!(is_token(ok), "{ok}");
        }
        for bad in ["", "a b", "a,b", "a:b", "\"a\"", "a\t", "é", "a/b"] {
            assert!(!is_token(bad), "{bad}");
        }
    }

    #[test]
    fn lists_honour_quotes_section_5_6_1() {
        let v: Vec<_> = split_list("a, \"b,c\" ,, \"d\\\",e\",f").collect();
        assert_eq!(v, ["a", " \"b,c\" ", " \"d\\\",e\"", "f"]);
        assert_eq!(split_list(" , ,").count(), 0);
        assert_eq!(split_list("\"unterminated, x").count(), 1);
    }

    #[test]
    fn lines_join_with_commas_section_5_3() {
        assert_eq!(join_lines([]), None);
        assert!(matches!(join_lines(["a"]), Some(Cow::Borrowed("a"))));
        assert_eq!(join_lines(["a", "b", "c"]).as_deref(), Some("a, b, c"));
    }

    #[test]
    fn unquote_section_5_6_4() {
        assert_eq!(unquote("a\\\"b\"").as_deref(), Some("a\"b"));
        assert_eq!(unquote("\"").as_deref(), Some(""));
        assert_eq!(unquote("ab"), None);
        assert_eq!(unquote("a\"b\""), None);
        assert_eq!(unquote("a\\"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_elements_come_from_the_input(s in ".{0,60}") {
            for e in split_list(&s) {
                prop_assert!(s.contains(e));
            }
            let _ = unquote(&s);
            let _ = is_token(&s);
        }
    }
}
