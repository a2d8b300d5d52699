//! `Vary` (RFC 9111 §4.1): which request headers select among stored
//! responses for one URL, and a secondary cache key built from them.
//!
//! Only the field's syntax and the matching rule; how many variants to keep,
//! and which varying headers the edge negotiates itself (it drops
//! `accept-encoding` with [`Vary::without`]), is the caller's business.
//!
//! Choices:
//!
//! - Field names are lower-cased, deduplicated and sorted, so `Vary: B, A`
//!   and `Vary: a, b` key alike.
//! - An element that is not a field name (a token, RFC 9110 §5.6.2) counts
//!   as `*`: we never serve from cache what we cannot key.
//! - Request values are compared after a normalisation "known to have
//!   identical semantics" (§4.1): see [`secondary_key`].

use super::syntax::{is_token, split_list_bytes};

/// A parsed `Vary` field (§12.5.5 of RFC 9110).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vary {
    /// `Vary: *` (or an element we cannot read): no stored response matches.
    pub star: bool,
    /// Lower-cased field names, deduplicated and sorted.
    pub names: Vec<String>,
}

/// Parses all `Vary` field lines of a response as one list; empty elements are skipped.
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vary {
    let mut v = Vary::default();
    // Field names hold no quoted-strings, so a plain split is exact.
    for element in lines.into_iter().flat_map(|l| l.split(',')) {
        let e = element.trim_matches(OWS);
        if e.is_empty() {
            continue;
        }
        if e == "*" || !is_token(e) {
            v.star = true;
        } else {
            v.names.push(e.to_ascii_lowercase());
        }
    }
    v.names.sort();
    v.names.dedup();
    v
}

impl Vary {
    /// The same field without `name` (case-insensitive), e.g. a header the edge negotiates itself.
    pub fn without(&self, name: &str) -> Vary {
        Vary {
            star: self.star,
            names: (self.names.iter())
                .filter(|n| !n.eq_ignore_ascii_case(name))
                .cloned()
                .collect(),
        }
    }

    /// Whether the response varies on nothing (no names and no `*`).
    pub fn is_empty(&self) -> bool {
        !self.star && self.names.is_empty()
    }
}

/// Optional whitespace (RFC 9110 §5.6.3).
const OWS: [char; 2] = [' ', '\t'];

/// A byte string equal for two requests iff every header in `v.names` has
/// the same normalised value in both (§4.1). `lookup` returns all field
/// lines of a request header by name, as raw bytes (empty when absent):
/// the key is made of the bytes the origin sees, text or not, so a value
/// that is not UTF-8 is its own variant, never taken for an absent header.
///
/// Normalisation, "known to have identical semantics" (§4.1): all lines of
/// a header form one list (`a, b` on one line equals `a` and `b` on two,
/// RFC 9110 §5.3), empty elements are dropped, each element is trimmed and
/// its runs of spaces and tabs outside quoted-strings become one space
/// (optional whitespace, RFC 9110 §5.6.3). Nothing else is folded: no case,
/// no other bytes. An absent header differs from a present, empty one. The
/// encoding is length-prefixed, so no two different value lists share a
/// key.
///
/// `v.star` is not part of the key: a `*` response matches no request, and
/// the caller checks that first.
pub fn secondary_key<'a>(v: &Vary, lookup: impl Fn(&str) -> Vec<&'a [u8]>) -> Vec<u8> {
    let mut key = Vec::new();
    for name in &v.names {
        push(&mut key, name.as_bytes());
        let lines = lookup(name);
        if lines.is_empty() {
            key.push(b'-');
            continue;
        }
        let elements: Vec<Vec<u8>> = (lines.iter())
            .flat_map(|l| split_list_bytes(l))
            .map(normalise)
            .collect();
        key.push(b'=');
        key.extend_from_slice(elements.len().to_string().as_bytes());
        key.push(b';');
        for e in &elements {
            push(&mut key, e);
        }
    }
    key
}

/// Appends `s` as `<byte length>:<s>`.
fn push(key: &mut Vec<u8>, s: &[u8]) {
    key.extend_from_slice(s.len().to_string().as_bytes());
    key.push(b':');
    key.extend_from_slice(s);
}

/// Whether `b` is optional whitespace (RFC 9110 §5.6.3).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims a list element and collapses runs of OWS outside quoted-strings.
fn normalise(element: &[u8]) -> Vec<u8> {
    let start = element.iter().position(|&b| !is_ows(b));
    let end = element.iter().rposition(|&b| !is_ows(b));
    let trimmed = match (start, end) {
        (Some(s), Some(e)) => &element[s..=e],
        _ => &[],
    };
    let mut out = Vec::with_capacity(trimmed.len());
    let (mut in_quotes, mut escaped, mut gap) = (false, false, false);
    for &c in trimmed {
        if !in_quotes && is_ows(c) {
            gap = true;
            continue;
        }
        if gap {
            out.push(b' ');
            gap = false;
        }
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Key for a Vary on `x` and `y` with the given field lines.
    fn key2(x: &[&str], y: &[&str]) -> Vec<u8> {
        let x: Vec<&[u8]> = x.iter().map(|l| l.as_bytes()).collect();
        let y: Vec<&[u8]> = y.iter().map(|l| l.as_bytes()).collect();
        key2_bytes(&x, &y)
    }

    /// Key for a Vary on `x` and `y` with the given raw field lines.
    fn key2_bytes(x: &[&[u8]], y: &[&[u8]]) -> Vec<u8> {
        let v = parse(["x, y"]);
        secondary_key(&v, |n| match n {
            "x" => x.to_vec(),
            "y" => y.to_vec(),
            _ => vec![],
        })
    }

    #[test]
    fn names_are_lowered_sorted_and_deduplicated() {
        let v = parse(["Accept-Language, Origin", " , accept-language,,ORIGIN"]);
        assert_eq!(v.names, names(&["accept-language", "origin"]));
        assert_eq!(parse(["B, A"]), parse(["a", "b"]));
        assert!(!v.star && !v.is_empty());
        assert!(parse(["", " , "]).is_empty());
        assert!(parse(Vec::<&str>::new()).is_empty());
    }

    #[test]
    fn star_anywhere_section_4_1() {
        for lines in [&["*"][..], &["a, *"], &["a", " * "], &["*, b, *"]] {
            assert!(parse(lines.iter().copied()).star, "{lines:?}");
        }
        assert!(!parse(["*a"]).star, "a token, if an odd name");
    }

    #[test]
    fn unreadable_elements_count_as_star() {
        for bad in ["a b", "\"a\"", "a;b", "a/b", "é"] {
            let v = parse([bad, "c"]);
            assert!(v.star, "{bad}");
            assert_eq!(v.names, names(&["c"]));
        }
    }

    #[test]
    fn without_drops_one_name() {
        let v = parse(["Accept-Encoding, Origin"]);
        assert_eq!(v.without("accept-encoding").names, names(&["origin"]));
        assert!(parse(["Accept-Encoding"])
            .without("ACCEPT-ENCODING")
            .is_empty());
        assert!(!parse(["*, accept-encoding"])
            .without("accept-encoding")
            .is_empty());
    }

    #[test]
    fn lines_and_whitespace_normalise_section_4_1() {
        let one = key2(&["en, fr;q=0.5"], &["1"]);
        assert_eq!(one, key2(&["en", "fr;q=0.5"], &["1"]));
        assert_eq!(one, key2(&[" en ,\tfr;q=0.5 ,, "], &[" 1"]));
        assert_ne!(one, key2(&["fr;q=0.5, en"], &["1"]), "order matters");
        assert_eq!(key2(&["a  \t b"], &[]), key2(&["a b"], &[]));
        assert_ne!(key2(&["a b"], &[]), key2(&["ab"], &[]));
        assert_ne!(key2(&["\"a  b\""], &[]), key2(&["\"a b\""], &[]), "quoted");
        assert_eq!(key2(&["\"a,b\"  x"], &[]), key2(&["\"a,b\" x"], &[]));
    }

    #[test]
    fn absent_differs_from_empty() {
        assert_ne!(key2(&[], &[]), key2(&[""], &[]));
        assert_ne!(key2(&[], &[""]), key2(&[""], &[]));
        assert_eq!(key2(&[""], &[]), key2(&[" , "], &[]));
    }

    #[test]
    fn no_vary_gives_the_empty_key() {
        assert!(secondary_key(&Vary::default(), |_| vec![b"x"]).is_empty());
    }

    /// Issue 18 item 5: `Accept-Language: evil\xff` was read as absent.
    #[test]
    fn values_that_are_not_text_are_keyed_on_their_bytes() {
        let absent = key2_bytes(&[], &[]);
        let evil = key2_bytes(&[b"evil\xff"], &[]);
        assert_ne!(evil, absent);
        assert_ne!(evil, key2_bytes(&[b"evil\xfe"], &[]));
        assert_ne!(evil, key2_bytes(&[b"evil"], &[]));
        assert_ne!(key2_bytes(&[b"\xc2\xa0"], &[]), key2_bytes(&[b""], &[]));
        // Whitespace still folds around and between non-text bytes.
        assert_eq!(evil, key2_bytes(&[b" evil\xff \t"], &[]));
        assert_eq!(
            key2_bytes(&[b"a\xff  b, c"], &[]),
            key2_bytes(&[b"a\xff b", b"c"], &[])
        );
    }

    #[test]
    fn case_is_not_folded() {
        assert_ne!(key2(&["en"], &[]), key2(&["EN"], &[]));
    }

    fn refs(line: &Option<String>) -> Vec<&str> {
        line.iter().map(String::as_str).collect()
    }

    /// Raw field lines: any bytes a header value may hold.
    fn raw_lines() -> impl Strategy<Value = Option<Vec<Vec<u8>>>> {
        let byte = prop_oneof![
            Just(b' '),
            Just(b'\t'),
            Just(b','),
            Just(b'"'),
            0x21u8..=0xff
        ];
        proptest::option::of(proptest::collection::vec(
            proptest::collection::vec(byte, 0..6),
            0..3,
        ))
    }

    /// Normal-form elements, including characters used by the encoding.
    fn elements() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec("[a-z0-9:=;-]{1,4}( [a-z0-9:=;-]{1,3}){0,2}", 0..5)
    }

    proptest! {
        #[test]
        fn splitting_and_spacing_do_not_change_the_key(
            x in elements(), y in elements(),
            cuts in proptest::collection::vec(any::<bool>(), 5),
            pads in proptest::collection::vec("[ \t]{0,2}", 12),
        ) {
            // Same values, spread over lines at `cuts`, padded with `pads`.
            let mut lines: Vec<String> = vec![String::new()];
            for (i, e) in x.iter().enumerate() {
                let e = e.replace(' ', &format!(" {}", pads[i + 6]));
                let last = lines.last_mut().unwrap();
                if !last.is_empty() {
                    last.push(',');
                }
                last.push_str(&format!("{}{e}{}", pads[i], pads[i + 1]));
                if cuts[i] {
                    lines.push(String::new());
                }
            }
            let spread: Vec<&str> = lines.iter().map(String::as_str).collect();
            let joined = x.join(", ");
            let ys = y.join(",");
            prop_assert_eq!(key2(&spread, &[&ys]), key2(&[&joined], &[&ys]));
        }

        #[test]
        fn different_values_give_different_keys(
            a in proptest::option::of(elements()), b in proptest::option::of(elements()),
            c in proptest::option::of(elements()), d in proptest::option::of(elements()),
        ) {
            prop_assume!((&a, &c) != (&b, &d));
            // `None`: header absent; `Some(vec![])`: present and empty.
            let line = |v: &Option<Vec<String>>| v.as_ref().map(|v| v.join(", "));
            let (la, lb, lc, ld) = (line(&a), line(&b), line(&c), line(&d));
            prop_assert_ne!(
                key2(&refs(&la), &refs(&lc)),
                key2(&refs(&lb), &refs(&ld))
            );
        }

        #[test]
        fn never_panics(v in ".{0,40}", h in proptest::collection::vec(any::<u8>(), 0..40)) {
            let vary = parse([v.as_str()]);
            let _ = secondary_key(&vary, |_| vec![h.as_slice()]);
        }

        /// Two requests share a key iff their lines normalise alike: the
        /// same elements once OWS is folded, or both absent.
        #[test]
        fn raw_values_share_a_key_only_when_they_normalise_alike(
            a in raw_lines(), b in raw_lines(),
        ) {
            fn refs(l: &Option<Vec<Vec<u8>>>) -> Vec<&[u8]> {
                l.iter().flatten().map(Vec::as_slice).collect()
            }
            let (ra, rb) = (refs(&a), refs(&b));
            let elements = |l: &Option<Vec<Vec<u8>>>| l.as_ref().map(|lines| {
                lines.iter().flat_map(|x| split_list_bytes(x)).map(normalise).collect::<Vec<_>>()
            });
            // An absent header: no line at all.
            let (a_absent, b_absent) = (ra.is_empty(), rb.is_empty());
            let same = match (a_absent, b_absent) {
                (true, true) => true,
                (false, false) => elements(&a) == elements(&b),
                _ => false,
            };
            prop_assert_eq!(key2_bytes(&ra, &[]) == key2_bytes(&rb, &[]), same);
        }
    }
}
