//! Finding and rewriting the local file references inside stylesheets and
//! scripts, for the `build` subcommand.
//!
//! Fingerprinting renames every asset (`app.css` becomes `app.<hash>.css`), so
//! the references *inside* CSS files (`url(...)`, `@import "..."` and
//! `sourceMappingURL` comments) and the `//# sourceMappingURL=` comment lines
//! of JavaScript files must follow. This module lists those references as
//! logical paths ([`css_dependencies`], [`resolve`]) and rewrites them to the
//! fingerprinted names ([`rewrite_css`], [`rewrite_js`]).
//!
//! It is not a CSS parser: a small tokenizer that knows just enough of CSS
//! (comments, strings, escapes, `url(`) to find references reliably, leaving
//! every other byte untouched. It does no I/O and no hashing (the caller
//! supplies fingerprinted names through a lookup function), and it does not
//! look inside JavaScript beyond its source-map comment lines.

use std::collections::HashSet;
use std::ops::Range;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters percent-encoded in a fingerprinted file name: the URL path set,
/// `%` itself (so names survive decoding), `:` (which would read as a scheme
/// in a first segment) and what CSS would have to escape.
const NAME: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'\\');

/// A stylesheet's or script's rewritten text and what could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The text with every resolvable local reference rewritten.
    pub text: String,
    /// Local references whose target `lookup` did not know, as written in the source (deduplicated, in order of first appearance).
    pub missing: Vec<String>,
    /// Byte offset in the source of the first occurrence of each of `missing` (same order).
    pub missing_at: Vec<usize>,
}

/// How a reference is written, which decides how its replacement is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    /// Inside a CSS string delimited by this quote.
    Quoted(char),
    /// The bare argument of `url(...)`.
    Unquoted,
    /// A `sourceMappingURL` comment, which has no escapes.
    Comment,
    /// Inside a JavaScript string delimited by this quote.
    Js(char),
}

/// One reference found in a source text.
#[derive(Debug, Clone)]
pub(super) struct Reference {
    /// The bytes of the source that spell the URL (without quotes).
    pub(super) raw: Range<usize>,
    /// The URL with CSS escapes resolved.
    pub(super) value: String,
    /// How it is written.
    pub(super) context: Context,
}

/// The logical paths (relative to the source root, '/'-separated, no leading slash, normalised: no '.', '..', empty segments)
/// of every LOCAL file the stylesheet at logical path `from` refers to, through url(...), @import and sourceMappingURL comments.
/// Deduplicated, in order of first appearance. References that leave the root (too many '..') are not included.
pub fn css_dependencies(css: &str, from: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    scan_css(css)
        .into_iter()
        .filter_map(|r| resolve(from, &r.value))
        .filter(|path| seen.insert(path.clone()))
        .collect()
}

/// Rewrites the references of the stylesheet at logical path `from`. For each local reference, `lookup(target_logical_path)`
/// returns the fingerprinted FILE NAME (last segment only, e.g. "logo.3f2a9c1b7d.svg") of the target, or None when the target is unknown
/// (it is then left as written and listed in `missing`). The rewritten URL keeps everything of the original except the last path segment,
/// which becomes the fingerprinted name (percent-encode characters that are not allowed unencoded in a URL path, e.g. a space → %20):
/// "../img/logo.svg?v=1#x" → "../img/logo.3f2a9c1b7d.svg?v=1#x"; "/fonts/a.woff2" → "/fonts/a.0123456789.woff2". Quotes and spacing of the original are kept.
pub fn rewrite_css(css: &str, from: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    apply(css, scan_css(css), from, lookup)
}

/// The same for a JavaScript file: only its `//# sourceMappingURL=...` (and legacy `//@ sourceMappingURL=`) comment lines are rewritten.
pub fn rewrite_js(js: &str, from: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    apply(js, scan_js(js), from, lookup)
}

/// Where a reference written in the file at logical path `from` points: `None` for anything that is not a local file
/// (data:, http:, https:, any other scheme like about:/blob:/javascript:, protocol-relative "//host/x", a fragment-only "#id",
/// an empty URL), or for a path that climbs above the root; otherwise the normalised logical path of the target (query and fragment dropped,
/// percent-decoded: "my%20img.png" → "my img.png"). Relative paths resolve from `from`'s folder; a leading "/" resolves from the root.
pub fn resolve(from: &str, url: &str) -> Option<String> {
    let url = url.trim_matches(is_url_space);
    if url.is_empty() || url.starts_with('#') || url.starts_with("//") || has_scheme(url) {
        return None;
    }
    let path = &url[..url.find(['?', '#']).unwrap_or(url.len())];
    let mut segments: Vec<String> = Vec::new();
    if !path.starts_with('/') {
        let folder = from.rsplit_once('/').map_or("", |(folder, _)| folder);
        for seg in folder.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                seg => segments.push(seg.to_owned()),
            }
        }
    }
    let raw_segments: Vec<&str> = path.split('/').collect();
    for (n, raw) in raw_segments.iter().enumerate() {
        let seg = percent_decode_str(raw).decode_utf8().ok()?;
        let is_last = n + 1 == raw_segments.len();
        match &*seg {
            "" | "." if !is_last => {}
            ".." if !is_last => {
                segments.pop()?;
            }
            // A path ending in a folder is not a file.
            "" | "." | ".." => return None,
            seg if seg.contains('/') => return None,
            seg => segments.push(seg.to_owned()),
        }
    }
    Some(segments.join("/"))
}

/// Whether `url` starts with a URL scheme (`data:`, `https:`, `c:`...).
fn has_scheme(url: &str) -> bool {
    match url.find([':', '/', '?', '#']) {
        Some(end) if url.as_bytes()[end] == b':' => {
            let scheme = &url[..end];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        _ => false,
    }
}

/// What a URL parser trims from both ends of a URL: C0 controls and space.
fn is_url_space(c: char) -> bool {
    c <= ' '
}

/// CSS whitespace.
fn is_css_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Bytes that continue a CSS identifier (non-ASCII included, escapes too).
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'\\') || b >= 0x80
}

/// Whether `b[at..]` starts with the ASCII `word`, ignoring case.
fn starts_with_ci(b: &[u8], at: usize, word: &[u8]) -> bool {
    b.get(at..at + word.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(word))
}

/// Replaces the resolvable references of `src`, collecting the unknown ones.
pub(super) fn apply(
    src: &str,
    refs: Vec<Reference>,
    from: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Rewrite {
    let mut text = String::with_capacity(src.len() + 16 * refs.len());
    let mut missing = Vec::new();
    let mut missing_at = Vec::new();
    let mut seen = HashSet::new();
    let mut copied = 0;
    for r in refs {
        let Some(target) = resolve(from, &r.value) else {
            continue;
        };
        match lookup(&target) {
            Some(name) => {
                text.push_str(&src[copied..r.raw.start]);
                text.push_str(&replacement(&r, &name));
                copied = r.raw.end;
            }
            None => {
                let written = src[r.raw.clone()].trim_matches(is_url_space);
                if seen.insert(written) {
                    missing.push(written.to_owned());
                    missing_at.push(r.raw.start);
                }
            }
        }
    }
    text.push_str(&src[copied..]);
    Rewrite {
        text,
        missing,
        missing_at,
    }
}

/// The reference's URL with its last path segment replaced by `name`, escaped for where it is written.
fn replacement(r: &Reference, name: &str) -> String {
    // The lookup should return a bare file name; if it returns a path, only its last segment counts.
    let name = name.rsplit('/').next().unwrap_or_default();
    let v = &r.value;
    let start = v.len() - v.trim_start_matches(is_url_space).len();
    let end = v.trim_end_matches(is_url_space).len().max(start);
    let path_end = v[start..end].find(['?', '#']).map_or(end, |p| start + p);
    let seg_start = v[start..path_end]
        .rfind('/')
        .map_or(start, |p| start + p + 1);
    let url = format!(
        "{}{}{}",
        &v[..seg_start],
        utf8_percent_encode(name, NAME),
        &v[path_end..]
    );
    escape(&url, r.context)
}

/// Escapes `url` so that it reads back as itself in `context`.
fn escape(url: &str, context: Context) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match (context, c) {
            (Context::Comment, c) => out.push(c),
            (Context::Quoted(q) | Context::Js(q), c) if c == q || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            (Context::Unquoted, '\\' | '"' | '\'' | '(' | ')') => {
                out.push('\\');
                out.push(c);
            }
            (Context::Js(_), c) if c.is_control() => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            (Context::Quoted(_), '\n' | '\r' | '\x0c') => {
                out.push_str(&format!("\\{:x} ", c as u32));
            }
            (Context::Unquoted, c) if c <= ' ' || c == '\x7f' => {
                out.push_str(&format!("\\{:x} ", c as u32));
            }
            (_, c) => out.push(c),
        }
    }
    out
}

/// Resolves CSS escapes: `\"`, `\41 ` (hex, with one optional whitespace after), `\` + newline (line continuation).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        let len = escape_len(rest.as_bytes(), p).min(rest.len() - p);
        let esc = &rest[p + 1..];
        let hex = esc
            .bytes()
            .take(6)
            .take_while(u8::is_ascii_hexdigit)
            .count();
        let mut chars = esc.chars();
        rest = match chars.next() {
            _ if hex > 0 => {
                let code = u32::from_str_radix(&esc[..hex], 16).unwrap_or(0);
                out.push(
                    char::from_u32(code)
                        .filter(|&c| c != '\0')
                        .unwrap_or('\u{fffd}'),
                );
                &rest[p + len..]
            }
            Some('\n' | '\r' | '\x0c') => &rest[p + len..],
            Some(c) => {
                out.push(c);
                chars.as_str()
            }
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Every reference of a stylesheet, in source order.
pub(super) fn scan_css(css: &str) -> Vec<Reference> {
    let b = css.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let body = i + 2;
                let end = css[body..].find("*/").map_or(b.len(), |p| body + p);
                refs.extend(source_map(css, body..end));
                i = end + 2;
            }
            b'"' | b'\'' => i = string_end(b, i).1,
            b'\\' => i += 2,
            b'u' | b'U'
                if starts_with_ci(b, i, b"url(") && (i == 0 || !is_ident_byte(b[i - 1])) =>
            {
                i = url_function(css, i + 4, &mut refs);
            }
            b'@' if starts_with_ci(b, i, b"@import")
                && !b.get(i + 7).copied().is_some_and(is_ident_byte) =>
            {
                i = import_rule(css, i + 7, &mut refs);
            }
            _ => i += 1,
        }
    }
    refs
}

/// Every `sourceMappingURL` comment line of a script, in source order.
pub(super) fn scan_js(js: &str) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut offset = 0;
    for line in js.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches([' ', '\t']).len();
        if content[indent..].starts_with("//") {
            refs.extend(source_map(js, offset + indent + 2..offset + content.len()));
        }
        offset += line.len();
    }
    refs
}

/// The reference in a comment whose text (after `/*` or `//`) is `# sourceMappingURL=<url>` or `@ sourceMappingURL=<url>`.
fn source_map(src: &str, body: Range<usize>) -> Option<Reference> {
    let rest = src[body.clone()].strip_prefix(['#', '@'])?;
    let after_space = rest.trim_start_matches([' ', '\t']);
    if after_space.len() == rest.len() {
        return None;
    }
    let url = after_space.strip_prefix("sourceMappingURL=")?;
    let len = url.find(char::is_whitespace).unwrap_or(url.len());
    let start = body.end - url.len();
    Some(Reference {
        raw: start..start + len,
        value: url[..len].to_owned(),
        context: Context::Comment,
    })
}

/// For the string opening at `b[open]`: where its content ends, where scanning resumes, and whether it was closed.
/// Like CSS, an unescaped newline ends (and spoils) a string.
fn string_end(b: &[u8], open: usize) -> (usize, usize, bool) {
    let quote = b[open];
    let mut j = open + 1;
    while j < b.len() {
        match b[j] {
            c if c == quote => return (j, j + 1, true),
            b'\n' | b'\r' | b'\x0c' => return (j, j, false),
            b'\\' => j += escape_len(b, j),
            _ => j += 1,
        }
    }
    (b.len(), b.len(), false)
}

/// The length of the CSS escape at `b[at]` (a backslash): hex digits and one whitespace after them, or one character.
fn escape_len(b: &[u8], at: usize) -> usize {
    let hex = b[at + 1..]
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    let rest = &b[at + 1 + hex..];
    let crlf = usize::from(rest.starts_with(b"\r\n"));
    match hex {
        0 => 2 + crlf,
        _ => {
            1 + hex
                + rest
                    .first()
                    .map_or(0, |&c| usize::from(is_css_space(c)) + crlf)
        }
    }
}

/// Records the quoted string at `b[at]`, if there is a closed one; returns where scanning resumes.
fn quoted(css: &str, at: usize, refs: &mut Vec<Reference>) -> Option<usize> {
    let quote = *css
        .as_bytes()
        .get(at)
        .filter(|&&q| q == b'"' || q == b'\'')?;
    let (end, next, closed) = string_end(css.as_bytes(), at);
    if closed {
        refs.push(Reference {
            raw: at + 1..end,
            value: unescape(&css[at + 1..end]),
            context: Context::Quoted(quote as char),
        });
    }
    Some(next)
}

/// Reads the argument of a `url(` whose `(` ends just before `start`; returns where scanning resumes.
fn url_function(css: &str, start: usize, refs: &mut Vec<Reference>) -> usize {
    let b = css.as_bytes();
    let mut j = start;
    while j < b.len() && is_css_space(b[j]) {
        j += 1;
    }
    if let Some(next) = quoted(css, j, refs) {
        return next;
    }
    // Unquoted: up to the first unescaped ')'. Inner whitespace, quotes, '(' or control characters make it invalid.
    let (mut k, mut bad, mut space_from) = (j, false, None);
    while k < b.len() && b[k] != b')' {
        match b[k] {
            c if is_css_space(c) => {
                space_from.get_or_insert(k);
            }
            c => {
                bad |= space_from.is_some() || matches!(c, b'"' | b'\'' | b'(' | 0..=0x1f | 0x7f);
                k += if c == b'\\' { escape_len(b, k) } else { 1 };
                continue;
            }
        }
        k += 1;
    }
    if k >= b.len() {
        return b.len(); // unterminated: left alone
    }
    if !bad {
        let end = space_from.unwrap_or(k);
        refs.push(Reference {
            raw: j..end,
            value: unescape(&css[j..end]),
            context: Context::Unquoted,
        });
    }
    k + 1
}

/// Reads what follows `@import`: a quoted URL is a reference (the `url()` form is left to the `url(` rule).
fn import_rule(css: &str, start: usize, refs: &mut Vec<Reference>) -> usize {
    let b = css.as_bytes();
    let mut j = start;
    while j < b.len() && is_css_space(b[j]) {
        j += 1;
    }
    quoted(css, j, refs).unwrap_or(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    /// A lookup that fingerprints every target with a fixed hash.
    fn hashed(target: &str) -> Option<String> {
        let name = target.rsplit('/').next().unwrap();
        Some(match name.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem}.0123456789.{ext}"),
            None => format!("{name}.0123456789"),
        })
    }

    fn css(src: &str) -> String {
        rewrite_css(src, "css/app.css", &hashed).text
    }

    fn nothing(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn url_forms() {
        assert_eq!(css("a{b:url(x.png)}"), "a{b:url(x.0123456789.png)}");
        assert_eq!(css("a{b:url('x.png')}"), "a{b:url('x.0123456789.png')}");
        assert_eq!(css("a{b:url(\"x.png\")}"), "a{b:url(\"x.0123456789.png\")}");
        assert_eq!(
            css("a{b:URL( \"x.png\" )}"),
            "a{b:URL( \"x.0123456789.png\" )}"
        );
        assert_eq!(css("a{b:Url(\tx.png  )}"), "a{b:Url(\tx.0123456789.png  )}");
        assert_eq!(css("a{b:url(x.png)"), "a{b:url(x.0123456789.png)");
        assert_eq!(
            css_dependencies("a{b:url( 'x.png' )}", "css/app.css"),
            ["css/x.png"]
        );
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            css_dependencies(r#"a{b:url("a\"b.png")}"#, "app.css"),
            ["a\"b.png"]
        );
        assert_eq!(
            css_dependencies(r"a{b:url('\61 .png') url(c\ d.png)}", "app.css"),
            ["a.png", "c d.png"]
        );
        // A hex escape swallows one whitespace, which must not end an unquoted url.
        assert_eq!(
            css_dependencies("url(\\61 .png) url(\\a g)", "app.css"),
            ["a.png", "g"]
        );
        assert_eq!(
            css(r#"a{b:url("it\"s/a.png")}"#),
            r#"a{b:url("it\"s/a.0123456789.png")}"#
        );
        let r = rewrite_css(r#"url("a\"b.png")"#, "app.css", &|_| {
            Some("a\"b 1.png".into())
        });
        assert_eq!(r.text, r#"url("a%22b%201.png")"#);
    }

    #[test]
    fn imports() {
        assert_eq!(css("@import \"x.css\";"), "@import \"x.0123456789.css\";");
        assert_eq!(
            css("@IMPORT 'x.css' screen;"),
            "@IMPORT 'x.0123456789.css' screen;"
        );
        let calls = Cell::new(0);
        let r = rewrite_css("@import url(x.css);", "app.css", &|t| {
            calls.set(calls.get() + 1);
            hashed(t)
        });
        assert_eq!(r.text, "@import url(x.0123456789.css);");
        assert_eq!(calls.get(), 1);
        assert_eq!(
            css_dependencies("@import url('a.css') print; @import 'b.css';", "app.css"),
            ["a.css", "b.css"]
        );
        assert!(css_dependencies("@imports 'a.css';", "app.css").is_empty());
    }

    #[test]
    fn source_map_comments() {
        assert_eq!(
            css("a{}\n/*# sourceMappingURL=app.css.map */"),
            "a{}\n/*# sourceMappingURL=app.css.0123456789.map */"
        );
        assert_eq!(
            css("/*@ sourceMappingURL=app.css.map*/"),
            "/*@ sourceMappingURL=app.css.0123456789.map*/"
        );
        assert_eq!(
            css_dependencies("/*# sourceMappingURL=../maps/app.css.map */", "css/app.css"),
            ["maps/app.css.map"]
        );
        let inline = "/*# sourceMappingURL=data:application/json;base64,e30= */";
        assert_eq!(css(inline), inline);
    }

    #[test]
    fn comments_and_strings_are_not_references() {
        let src = "/* url(old.png) @import 'x.css'; */ a{content:\"url(x.png)\"; \
                   b:image-set(\"a.png\" 1x); c:'@import \"y.css\"'}\n\
                   @font-face{src:local(\"Foo\")}";
        let r = rewrite_css(src, "app.css", &hashed);
        assert_eq!(r.text, src);
        assert!(r.missing.is_empty());
        assert!(css_dependencies(src, "app.css").is_empty());
        assert!(css_dependencies("a{b:myurl(x.png) -url(y.png)}", "app.css").is_empty());
        assert!(css_dependencies("a{b:url(a b.png) url(a\"b)}", "app.css").is_empty());
    }

    #[test]
    fn font_face() {
        let src = "@font-face{src:url('fonts/icons.eot?#iefix') format('embedded-opentype'), \
                   url(\"fonts/icons.svg#icons\") format(\"svg\");}";
        assert_eq!(
            css(src),
            "@font-face{src:url('fonts/icons.0123456789.eot?#iefix') format('embedded-opentype'), \
             url(\"fonts/icons.0123456789.svg#icons\") format(\"svg\");}"
        );
        assert_eq!(
            css_dependencies(src, "css/app.css"),
            ["css/fonts/icons.eot", "css/fonts/icons.svg"]
        );
    }

    #[test]
    fn query_fragment_and_root_relative() {
        let r = rewrite_css("a{b:url(../img/logo.svg?v=1#x)}", "css/app.css", &|t| {
            assert_eq!(t, "img/logo.svg");
            Some("logo.3f2a9c1b7d.svg".into())
        });
        assert_eq!(r.text, "a{b:url(../img/logo.3f2a9c1b7d.svg?v=1#x)}");
        assert_eq!(
            css("a{b:url(/fonts/a.woff2)}"),
            "a{b:url(/fonts/a.0123456789.woff2)}"
        );
    }

    #[test]
    fn encodes_the_new_name() {
        let r = rewrite_css("a{b:url(my%20img.png)}", "app.css", &|t| {
            assert_eq!(t, "my img.png");
            Some("my img.abc.png".into())
        });
        assert_eq!(r.text, "a{b:url(my%20img.abc.png)}");
        let r = rewrite_css("a{b:url(x.png)}", "app.css", &|_| {
            Some("img/x(1)%.png".into())
        });
        assert_eq!(r.text, "a{b:url(x%281%29%25.png)}");
        assert_eq!(css_dependencies(&r.text, "app.css"), ["x(1)%.png"]);
        let r = rewrite_css("a{b:url(x.png)}", "app.css", &|_| Some("c:x.png".into()));
        assert_eq!(r.text, "a{b:url(c%3Ax.png)}");
    }

    #[test]
    fn non_local_references() {
        let src = "a{b:url(data:image/png;base64,AAA=);c:url(http://x/a.png);\
                   d:url('https://x/a.png');e:url(//cdn/a.png);f:url(#grad);g:url();\
                   h:url(about:blank);i:url(blob:x);j:url(javascript:x)}";
        let r = rewrite_css(src, "app.css", &hashed);
        assert_eq!(r.text, src);
        assert!(r.missing.is_empty());
        assert!(css_dependencies(src, "app.css").is_empty());
    }

    #[test]
    fn missing_references() {
        let src = "a{b:url(x.png);c:url(y.png);d:url('x.png');e:url(../../z.png)}";
        let r = rewrite_css(src, "css/app.css", &|t| {
            (t == "css/y.png").then(|| "y.1.png".into())
        });
        assert_eq!(r.missing, ["x.png"]);
        assert_eq!(
            r.text,
            "a{b:url(x.png);c:url(y.1.png);d:url('x.png');e:url(../../z.png)}"
        );
    }

    #[test]
    fn dependencies_are_deduplicated_in_order() {
        let src = "a{b:url(b.png)}c{d:url(./a.png)}e{f:url('b.png')}g{h:url(a.png?v=2)}";
        assert_eq!(css_dependencies(src, "app.css"), ["b.png", "a.png"]);
    }

    #[test]
    fn resolution() {
        assert_eq!(
            resolve("css/sub/a.css", "../../img/x.png").as_deref(),
            Some("img/x.png")
        );
        assert_eq!(
            resolve("css/sub/a.css", "x.png").as_deref(),
            Some("css/sub/x.png")
        );
        assert_eq!(
            resolve("css/sub/a.css", "/img/x.png").as_deref(),
            Some("img/x.png")
        );
        assert_eq!(
            resolve("a.css", "./b/./c//d.png").as_deref(),
            Some("b/c/d.png")
        );
        assert_eq!(resolve("css/a.css", "../../x.png"), None);
        assert_eq!(resolve("a.css", "/../x.png"), None);
        assert_eq!(
            resolve("a.css", "my%20img.png").as_deref(),
            Some("my img.png")
        );
        assert_eq!(resolve("a.css", "x.png?v=1#y").as_deref(), Some("x.png"));
        assert_eq!(resolve("a/b.css", "%2e%2e/x.png").as_deref(), Some("x.png"));
        for url in [
            "",
            " ",
            "#id",
            "?v=1",
            "img/",
            "data:x",
            "HTTP://x/a",
            "https://x/a",
            "//host/x",
            "about:blank",
            "blob:x",
            "javascript:x",
            "a%2Fb.png",
            "%FF.png",
        ] {
            assert_eq!(resolve("a.css", url), None, "{url}");
        }
    }

    #[test]
    fn js_source_maps() {
        let js = "var s = \"//# sourceMappingURL=no.map\";\r\n\
                  //# sourceMappingURL=app.js.map\r\n  //@ sourceMappingURL=old.js.map\n\
                  //# sourceMappingURL=data:application/json;base64,e30=\n\
                  // sourceMappingURL=plain.map\n/*# sourceMappingURL=c.map */\n\
                  //# sourceMappingURL=gone.map";
        let r = rewrite_js(js, "js/app.js", &|t| match t {
            "js/gone.map" => None,
            t => hashed(t),
        });
        assert_eq!(
            r.text,
            "var s = \"//# sourceMappingURL=no.map\";\r\n\
             //# sourceMappingURL=app.js.0123456789.map\r\n  //@ sourceMappingURL=old.js.0123456789.map\n\
             //# sourceMappingURL=data:application/json;base64,e30=\n\
             // sourceMappingURL=plain.map\n/*# sourceMappingURL=c.map */\n\
             //# sourceMappingURL=gone.map"
        );
        assert_eq!(r.missing, ["gone.map"]);
    }

    #[test]
    fn malformed_input_does_not_panic() {
        for src in [
            "a{b:url(x.png",
            "a{b:url('x.png",
            "a{\"unterminated",
            "/* open url(x.png)",
            "url(",
            "url",
            "@import",
            "@import '",
            "\\",
            "url(\\",
            "url('\\",
            "/*# sourceMappingURL=",
            "é{b:url(ü.png)}/*é*/",
            "a{b:url(x.png)\r\n}\r\n",
            "url(\"x.png\"",
        ] {
            let r = rewrite_css(src, "app.css", &hashed);
            let _ = css_dependencies(src, "app.css");
            let _ = rewrite_js(src, "app.js", &hashed);
            assert!(r.missing.is_empty());
        }
        assert_eq!(css("a{b:url(x.png"), "a{b:url(x.png");
        assert_eq!(css("a{b:url('x.png"), "a{b:url('x.png");
        assert_eq!(css("é{b:url(ü.png)}"), "é{b:url(%C3%BC.0123456789.png)}");
        assert_eq!(
            css("a{b:url(x.png)\r\n}\r\n"),
            "a{b:url(x.0123456789.png)\r\n}\r\n"
        );
        assert_eq!(css("url(\"x.png\""), "url(\"x.0123456789.png\"");
    }

    /// Text made of CSS-significant fragments, to reach the tokenizer's corners.
    fn css_like() -> impl Strategy<Value = String> {
        let tokens = prop::sample::select(vec![
            "url(",
            "URL( ",
            "\"",
            "'",
            ")",
            "(",
            "/*",
            "*/",
            "/*# sourceMappingURL=",
            "@import ",
            "\\",
            "\\22 ",
            "\\\r\n",
            " ",
            "\n",
            "\r\n",
            "a.png",
            "../",
            "/",
            "?v=1",
            "#x",
            "é",
            "%20",
            "%",
            "data:",
            "//h/",
            ";",
            "{",
            "}",
            "//# sourceMappingURL=",
            "//@ ",
        ]);
        prop::collection::vec(
            prop_oneof![tokens.prop_map(String::from), "[a-z.]{1,3}"],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    /// A lookup that keeps the target's own name, whatever it is.
    fn same_name(target: &str) -> Option<String> {
        target.rsplit('/').next().map(String::from)
    }

    proptest! {
        #[test]
        fn never_panics(src in any::<String>(), from in "[a-z./]{0,12}", url in any::<String>()) {
            let _ = css_dependencies(&src, &from);
            let _ = rewrite_css(&src, &from, &hashed);
            let _ = rewrite_js(&src, &from, &hashed);
            let _ = resolve(&from, &url);
            let _ = resolve(&from, &src);
        }

        #[test]
        fn unknown_targets_leave_text_unchanged(src in any::<String>(), css_src in css_like()) {
            for src in [&src, &css_src] {
                prop_assert_eq!(&rewrite_css(src, "css/a.css", &nothing).text, src);
                prop_assert_eq!(&rewrite_js(src, "js/a.js", &nothing).text, src);
            }
        }

        #[test]
        fn rewriting_keeps_the_dependencies(src in css_like()) {
            let r = rewrite_css(&src, "css/a.css", &same_name);
            prop_assert!(r.missing.is_empty());
            prop_assert_eq!(css_dependencies(&r.text, "css/a.css"), css_dependencies(&src, "css/a.css"));
            let fresh = rewrite_css(&src, "css/a.css", &hashed);
            prop_assert_eq!(
                css_dependencies(&fresh.text, "css/a.css").len(),
                css_dependencies(&src, "css/a.css").len()
            );
        }

        #[test]
        fn any_name_round_trips(name in "[^/]{1,12}", form in 0..5usize) {
            prop_assume!(name != "." && name != "..");
            let src = ["url(x.png)", "url('x.png')", "url(\"x.png\")", "@import 'x.png';",
                       "/*# sourceMappingURL=x.png */"][form];
            let r = rewrite_css(src, "css/a.css", &|_| Some(name.clone()));
            prop_assert_eq!(css_dependencies(&r.text, "css/a.css"), vec![format!("css/{name}")]);
            let js = rewrite_js("//# sourceMappingURL=x.png\n", "a.js", &|_| Some(name.clone()));
            prop_assert_eq!(scan_js(&js.text).len(), 1);
            prop_assert_eq!(resolve("a.js", &scan_js(&js.text)[0].value), Some(name.clone()));
        }

        #[test]
        fn resolved_paths_are_normalised(from in "[a-z./]{0,12}", url in "[a-z./%2e]{0,16}") {
            if let Some(path) = resolve(&from, &url) {
                prop_assert!(!path.starts_with('/'));
                prop_assert!(path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
            }
        }
    }
}
