//! Compression Dictionary Transport (RFC 9842): the request field that
//! names the dictionary a client holds, the response field that makes a
//! response a dictionary, and the `match` pattern of a fingerprinted
//! asset's versions. The bodies (`dcb`, `dcz`) are made by
//! `cdn_edge::delta` (crates/cdn-edge-assets).
//!
//! The shape of a deploy-as-delta: `/js/app.3f2a9c1b7d.js` answers with
//! `Use-As-Dictionary: match="/js/app.*.js", match-dest=("script")`; after
//! the next deploy the browser asks for `/js/app.0123456789.js` with
//! `Available-Dictionary: :<SHA-256 of the old bytes>:` and `dcz` or `dcb`
//! acceptable, and gets the new bytes compressed against the old ones.

use sfv::{BareItem, Parser};

/// A dictionary's identity: the SHA-256 of its bytes (§2.2).
pub type Hash = [u8; 32];

/// The longest `id` a client keeps (§2.1.3).
pub const MAX_ID_LEN: usize = 1024;

/// Why an `Available-Dictionary` field is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not a Structured Field Item, or several lines.
    #[error("not one Structured Field item")]
    Syntax,
    /// An Item that is not a Byte Sequence.
    #[error("not a byte sequence")]
    NotBytes,
    /// A Byte Sequence that is not 32 bytes long.
    #[error("{0} bytes, not the 32 of a SHA-256")]
    Length(usize),
}

/// The dictionary a request's `Available-Dictionary` lines name (§2.2: an
/// SF Byte Sequence of the SHA-256 of the dictionary), `Ok(None)` when
/// the field is absent. Its parameters are ignored (none is defined).
pub fn available_dictionary<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Hash>, Malformed> {
    let mut lines = lines.into_iter();
    let Some(line) = lines.next() else {
        return Ok(None);
    };
    // An Item's lines combine with commas into something no Item parses.
    if lines.next().is_some() {
        return Err(Malformed::Syntax);
    }
    let item: sfv::Item = Parser::new(line)
        .parse_item()
        .map_err(|_| Malformed::Syntax)?;
    match item.bare_item {
        BareItem::ByteSequence(b) => <Hash>::try_from(b)
            .map(Some)
            .map_err(|b| Malformed::Length(b.len())),
        _ => Err(Malformed::NotBytes),
    }
}

/// The `Use-As-Dictionary` value for a response: `match` (a URL pattern,
/// §2.1.1), `match-dest` when the destination is known (§2.1.2; absent
/// means any), and `id` (§2.1.3, cut to [`MAX_ID_LEN`] on a character
/// boundary; left out when empty).
pub fn use_as_dictionary(pattern: &str, dest: Option<&str>, id: &str) -> String {
    let mut out = String::from("match=");
    out.push_str(&sf_string(pattern));
    if let Some(d) = dest {
        out.push_str(", match-dest=(");
        out.push_str(&sf_string(d));
        out.push(')');
    }
    let mut end = id.len().min(MAX_ID_LEN);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    if end > 0 {
        out.push_str(", id=");
        out.push_str(&sf_string(&id[..end]));
    }
    out
}

/// An SF String: quoted, `"` and `\` escaped. Only visible ASCII and
/// space are allowed; anything else becomes `?` (a pattern is
/// percent-encoded before it gets here, an id is ours).
fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
    out
}

/// The fetch destination (`Sec-Fetch-Dest`) a media type is loaded as,
/// for `match-dest`: scripts and stylesheets; `None` for the rest (JSON,
/// SVG and WASM are fetched under several destinations).
pub fn destination(media_type: &str) -> Option<&'static str> {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    match essence.to_ascii_lowercase().as_str() {
        "text/javascript" | "application/javascript" | "application/x-javascript" => Some("script"),
        "text/css" => Some("style"),
        _ => None,
    }
}

/// The URL pattern matching every fingerprinted version of the file at
/// URL path `fingerprinted` (`/js/app.3f2a9c1b7d.js`, whose hash is the
/// dot-separated part `hash`): `/js/app.*.js`. URL pattern syntax
/// characters of the path are escaped; `None` when the hash is not one
/// dot-separated part of the last segment.
pub fn versions_pattern(fingerprinted: &str, hash: &str) -> Option<String> {
    let name_start = fingerprinted.rfind('/')? + 1;
    let name = &fingerprinted[name_start..];
    let needle = format!(".{hash}.");
    let at = name.find(&needle)?;
    if at == 0 || name[at + 1..].contains(&needle) {
        return None;
    }
    let start = name_start + at + 1;
    pattern_around(fingerprinted, start..start + hash.len())
}

/// The URL pattern matching `path` with the bytes `hash` (a range of the
/// last segment, not its start) replaced by anything: every version of a
/// file whose name differs only there, as a bundler names them
/// (`/assets/index-DiwrgTda.js` → `/assets/index-*.js`). `None` when the
/// range is not inside the last segment after its first byte.
pub fn pattern_around(path: &str, hash: std::ops::Range<usize>) -> Option<String> {
    let name_start = path.rfind('/')? + 1;
    if hash.start <= name_start || hash.end > path.len() || hash.is_empty() {
        return None;
    }
    let (before, after) = (path.get(..hash.start)?, path.get(hash.end..)?);
    Some(format!(
        "{}*{}",
        escape_pattern(before),
        escape_pattern(after)
    ))
}

/// URL pattern text that matches `s` literally (URLPattern's special
/// characters `: * ( ) { } ? + \` escaped with `\`).
fn escape_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, ':' | '*' | '(' | ')' | '{' | '}' | '?' | '+' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether a path matches a pattern made by [`versions_pattern`]: its
/// literal parts in order, each `*` standing for any run of characters
/// (`/` included, as in URLPattern's pathname).
pub fn pattern_matches(pattern: &str, path: &str) -> bool {
    let mut parts: Vec<String> = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut().unwrap().extend(chars.next()),
            '*' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    let (first, rest) = parts.split_first().unwrap();
    let Some(mut tail) = path.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return tail.is_empty();
    };
    for part in middle {
        match tail.find(part.as_str()) {
            Some(i) => tail = &tail[i + part.len()..],
            None => return false,
        }
    }
    tail.ends_with(last.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad(lines: &[&str]) -> Result<Option<Hash>, Malformed> {
        available_dictionary(lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn available_dictionary_is_one_32_byte_sequence() {
        // SHA-256 of "" in base64.
        let empty = ":47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:";
        let h = ad(&[empty]).unwrap().unwrap();
        assert_eq!(h[..4], [0xe3, 0xb0, 0xc4, 0x42]);
        assert_eq!(ad(&[&format!("  {empty};x=1  ")]).unwrap(), Some(h));
        assert_eq!(ad(&[]).unwrap(), None);
        assert_eq!(ad(&[empty, empty]), Err(Malformed::Syntax));
        assert_eq!(ad(&[":AAAA:"]), Err(Malformed::Length(3)));
        assert_eq!(ad(&["\"47DEQ\""]), Err(Malformed::NotBytes));
        for bad in ["", ":not base64!:", "47DEQpj8", ":abc", "a, b", "::"] {
            assert!(ad(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn use_as_dictionary_is_a_structured_dictionary() {
        let v = use_as_dictionary("/js/app.*.js", Some("script"), "js/app.js");
        assert_eq!(
            v,
            r#"match="/js/app.*.js", match-dest=("script"), id="js/app.js""#
        );
        let parsed: sfv::Dictionary = Parser::new(&v).parse_dictionary().unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(
            use_as_dictionary("/a\"b\\*", None, ""),
            r#"match="/a\"b\\*""#
        );
        let long = "é".repeat(600);
        let v = use_as_dictionary("/x", None, &long);
        assert!(Parser::new(&v)
            .parse_dictionary::<sfv::Dictionary>()
            .is_ok());
    }

    #[test]
    fn destinations() {
        assert_eq!(
            destination("text/javascript; charset=utf-8"),
            Some("script")
        );
        assert_eq!(destination("text/css"), Some("style"));
        assert_eq!(destination("application/json"), None);
        assert_eq!(destination("image/svg+xml"), None);
    }

    #[test]
    fn the_pattern_covers_every_version_and_escapes_syntax() {
        let p = versions_pattern("/js/app.3f2a9c1b7d.js", "3f2a9c1b7d").unwrap();
        assert_eq!(p, "/js/app.*.js");
        assert!(pattern_matches(&p, "/js/app.0123456789.js"));
        assert!(pattern_matches(&p, "/js/app.3f2a9c1b7d.js"));
        assert!(!pattern_matches(&p, "/js/app.js"));
        assert!(!pattern_matches(&p, "/js/vendor.0123456789.js"));
        assert!(!pattern_matches(&p, "/css/app.0123456789.js"));
        assert!(!pattern_matches(&p, "/js/app.0123456789.css"));
        let odd = versions_pattern("/a(1)/b+c.ffff0000ff.min.js", "ffff0000ff").unwrap();
        assert_eq!(odd, r"/a\(1\)/b\+c.*.min.js");
        assert!(pattern_matches(&odd, "/a(1)/b+c.0000000000.min.js"));
        assert_eq!(versions_pattern("/js/app.js", "3f2a9c1b7d"), None);
        let vite = "/assets/index-DiwrgTda.js";
        let p = pattern_around(vite, 14..22).unwrap();
        assert_eq!(p, "/assets/index-*.js");
        assert!(pattern_matches(&p, "/assets/index-Bx9kk2Lq.js"));
        assert_eq!(pattern_around(vite, 8..14), None, "the name's start");
        assert_eq!(pattern_around(vite, 3..9), None, "not in the last segment");
        assert_eq!(versions_pattern("/js/.abc.js", "abc"), None);
    }
}
