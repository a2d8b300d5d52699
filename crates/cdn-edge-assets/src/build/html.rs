//! Finding and rewriting the local file references of HTML pages, for the
//! `build` subcommand: `src`, `srcset` / `imagesrcset`, `poster`, `href`
//! (of `<link>`, `<a>`, `<area>`), `url()` in `style` attributes and
//! `<style>` elements, and the addresses of a `<script type="importmap">`.
//!
//! The page is tokenized by lol_html (Cloudflare's streaming HTML rewriter,
//! a real HTML5 tokenizer), used here only to find where each reference is
//! written; the replacement is spliced into the original text, so every
//! byte but the renamed file names stays as it was. Links of `<a>` and
//! `<area>` to files the build does not know are left alone silently
//! (they are usually pages served by someone else); every other unknown
//! local reference is reported. References resolve against the page's
//! folder, or the folder its `<base href>` names; a base on another host
//! leaves every reference as written. Not handled: character references
//! inside a URL (`&amp;` before the query is fine, inside the file name is
//! not).

use std::cell::RefCell;
use std::ops::Range;

use lol_html::{element, text, RewriteStrSettings};

use super::css::{self, Context, Reference, Rewrite};

/// Rewrites the references of the page at logical path `from`, as
/// [`css::rewrite_css`] does for a stylesheet.
pub fn rewrite_html(html: &str, from: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    let Some(from) = resolving_from(html, from) else {
        return css::apply(html, Vec::new(), from, lookup);
    };
    let from = from.as_str();
    let refs = scan_html(html)
        .into_iter()
        .filter(|(r, quiet)| {
            !quiet || css::resolve(from, &r.value).is_some_and(|t| lookup(&t).is_some())
        })
        .map(|(r, _)| r)
        .collect();
    css::apply(html, refs, from, lookup)
}

/// The logical path the page's references resolve from: the page's own,
/// or a pseudo-file in the folder its `<base href>` names (HTML: the first
/// `<base>` with an `href`). `None` when the base is another host (a URL
/// with a scheme, or `//host/`): no reference of the page is then a file
/// of this tree.
pub(super) fn resolving_from(html: &str, page: &str) -> Option<String> {
    let base = RefCell::new(None);
    let settings =
        RewriteStrSettings::new().append_element_content_handler(element!("base[href]", |el| {
            let mut b = base.borrow_mut();
            if b.is_none() {
                *b = el.get_attribute("href");
            }
            Ok(())
        }));
    if lol_html::rewrite_str(html, settings).is_err() {
        return Some(page.to_string());
    }
    let Some(href) = base.into_inner() else {
        return Some(page.to_string());
    };
    let href = href.trim();
    let href = &href[..href.find(['?', '#']).unwrap_or(href.len())];
    if href.is_empty() {
        return Some(page.to_string());
    }
    // The base's folder: everything up to its last `/`.
    let folder = &href[..href.rfind('/').map_or(0, |i| i + 1)];
    css::resolve(page, &format!("{folder}_"))
}

/// The module scripts (`<script type="module" src>`, `<link
/// rel="modulepreload">`) and the stylesheets linked in CORS mode
/// (`<link rel="stylesheet" crossorigin>` or `="anonymous"`) of a page,
/// as written, in source order (for `deps`).
pub(super) fn needs(html: &str) -> (Vec<String>, Vec<String>) {
    let modules = RefCell::new(Vec::new());
    let styles = RefCell::new(Vec::new());
    let settings = RewriteStrSettings::new().append_element_content_handler(element!(
        "script[src], link[href]",
        |el| {
            let attr = |n: &str| el.get_attribute(n).map(|v| v.trim().to_ascii_lowercase());
            let has = |list: &Option<String>, token: &str| {
                list.as_deref()
                    .is_some_and(|l| l.split_ascii_whitespace().any(|t| t == token))
            };
            if el.tag_name() == "script" {
                if attr("type").as_deref() == Some("module") {
                    modules.borrow_mut().extend(el.get_attribute("src"));
                }
                return Ok(());
            }
            let rel = attr("rel");
            if has(&rel, "modulepreload") {
                modules.borrow_mut().extend(el.get_attribute("href"));
            } else if has(&rel, "stylesheet")
                && matches!(attr("crossorigin").as_deref(), Some("" | "anonymous"))
            {
                styles.borrow_mut().extend(el.get_attribute("href"));
            }
            Ok(())
        }
    ));
    if lol_html::rewrite_str(html, settings).is_err() {
        return (Vec::new(), Vec::new());
    }
    (modules.into_inner(), styles.into_inner())
}

/// Every reference of a page in source order, each with whether an
/// unknown target is to be left alone silently (`<a href>`).
fn scan_html(html: &str) -> Vec<(Reference, bool)> {
    let refs: RefCell<Vec<(Reference, bool)>> = RefCell::new(Vec::new());
    // The raw text of the current <style> / importmap element.
    let style: RefCell<Option<Range<usize>>> = RefCell::new(None);
    let importmap: RefCell<Option<Range<usize>>> = RefCell::new(None);
    let text_span = |cell: &RefCell<Option<Range<usize>>>, at: Range<usize>, last: bool| {
        let mut cur = cell.borrow_mut();
        let span = match cur.take() {
            Some(s) => s.start..at.end,
            None => at,
        };
        if last {
            Some(span)
        } else {
            *cur = Some(span);
            None
        }
    };
    let settings = RewriteStrSettings::new()
        .append_element_content_handler(element!("*", |el| {
            let tag = el.tag_name();
            for a in el.attributes() {
                let Some(at) = a.value_source_location().map(|l| l.bytes()) else {
                    continue;
                };
                let mut refs = refs.borrow_mut();
                match a.name().as_str() {
                    "src" | "poster" => refs.push((url_at(html, at), false)),
                    "href" => match tag.as_str() {
                        "link" => refs.push((url_at(html, at), false)),
                        "a" | "area" => refs.push((url_at(html, at), true)),
                        _ => {}
                    },
                    "srcset" | "imagesrcset" => {
                        refs.extend(srcset(html, at).into_iter().map(|r| (r, false)))
                    }
                    "style" => refs.extend(
                        css::scan_css(&html[at.clone()])
                            .into_iter()
                            .map(|r| (shifted(r, at.start), false)),
                    ),
                    _ => {}
                }
            }
            Ok(())
        }))
        .append_element_content_handler(text!("style", |t| {
            if let Some(span) =
                text_span(&style, t.source_location().bytes(), t.last_in_text_node())
            {
                let found = css::scan_css(&html[span.clone()]);
                let mut refs = refs.borrow_mut();
                refs.extend(found.into_iter().map(|r| (shifted(r, span.start), false)));
            }
            Ok(())
        }))
        .append_element_content_handler(text!("script[type=importmap]", |t| {
            if let Some(span) = text_span(
                &importmap,
                t.source_location().bytes(),
                t.last_in_text_node(),
            ) {
                refs.borrow_mut()
                    .extend(import_map(html, span).into_iter().map(|r| (r, false)));
            }
            Ok(())
        }));
    // The output is discarded: only the positions recorded above are used.
    // lol_html only fails on memory limits (none set) or handler errors
    // (none returned); a page it cannot read is left unchanged.
    if lol_html::rewrite_str(html, settings).is_err() {
        return Vec::new();
    }
    let mut refs = refs.into_inner();
    refs.sort_by_key(|(r, _)| r.raw.start);
    refs
}

/// The reference written as the whole attribute value at `at`.
fn url_at(html: &str, at: Range<usize>) -> Reference {
    Reference {
        value: html[at.clone()].to_string(),
        raw: at,
        context: Context::Comment,
    }
}

/// `r` found in a slice starting at `by`, as a position in the whole page.
fn shifted(mut r: Reference, by: usize) -> Reference {
    r.raw = r.raw.start + by..r.raw.end + by;
    r
}

/// The URLs of a `srcset` value at `at` (`a.png 1x, b.png 2x`): each
/// candidate is a URL up to whitespace, then descriptors up to a comma
/// (HTML, "parse a srcset attribute").
fn srcset(html: &str, at: Range<usize>) -> Vec<Reference> {
    let b = html.as_bytes();
    let mut out = Vec::new();
    let mut i = at.start;
    while i < at.end {
        while i < at.end && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        let start = i;
        while i < at.end && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut end = i;
        // A URL ending in commas: they separate candidates.
        while end > start && b[end - 1] == b',' {
            end -= 1;
        }
        if end > start {
            out.push(url_at(html, start..end));
        }
        if end == i {
            // Skip the descriptors, up to the next comma.
            while i < at.end && b[i] != b',' {
                i += 1;
            }
        }
    }
    out
}

/// The addresses of an import map (the JSON text at `span`): every string
/// that is a value, not a key (keys are the specifiers modules import, and
/// stay as written). Strings with escapes are left alone; text that is not
/// JSON gives nothing.
fn import_map(html: &str, span: Range<usize>) -> Vec<Reference> {
    let text = &html[span.clone()];
    if serde_json::from_str::<serde_json::Value>(text).is_err() {
        return Vec::new();
    }
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        let mut escaped = false;
        while end < b.len() && b[end] != b'"' {
            if b[end] == b'\\' {
                escaped = true;
                end += 1;
            }
            end += 1;
        }
        let after = text[(end + 1).min(b.len())..].trim_start();
        if !escaped && !after.starts_with(':') && end < b.len() {
            out.push(url_at(html, span.start + i + 1..span.start + end));
        }
        i = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashed(target: &str) -> Option<String> {
        let name = target.rsplit('/').next()?;
        match target {
            "app.js" | "css/app.css" | "img/a.png" | "img/b.png" | "lib/x.js" | "doc.pdf" => {
                let (stem, ext) = name.rsplit_once('.')?;
                Some(format!("{stem}.0123456789.{ext}"))
            }
            _ => None,
        }
    }

    #[test]
    fn every_kind_of_reference_and_nothing_else_changes() {
        let page = r#"<!doctype html>
<html><head>
<link rel=stylesheet href="css/app.css?v=1">
<link rel="canonical" href="/">
<script type="importmap">{"imports": {"/lib/x.js": "/lib/x.js", "x": "./lib/x.js"}}</script>
<style>body { background: url('img/a.png') }</style>
<!-- <img src="img/a.png"> stays: a comment -->
</head><body STYLE="background:url(img/b.png)">
<img src='img/a.png' srcset="img/a.png 1x,img/b.png 2x" alt="app.js">
<a href="doc.pdf">pdf</a> <a href="about">about</a> <a href="https://x.test/app.js">x</a>
<script src=app.js></script>
<p>src="app.js" in text</p>
</body></html>
"#;
        let r = rewrite_html(page, "index.html", &hashed);
        let want = page
            .replace(
                r#"href="css/app.css?v=1""#,
                r#"href="css/app.0123456789.css?v=1""#,
            )
            .replace(
                r#""/lib/x.js": "/lib/x.js", "x": "./lib/x.js""#,
                r#""/lib/x.js": "/lib/x.0123456789.js", "x": "./lib/x.0123456789.js""#,
            )
            .replace("url('img/a.png')", "url('img/a.0123456789.png')")
            .replace("url(img/b.png)", "url(img/b.0123456789.png)")
            .replace(
                r#"<img src='img/a.png' srcset="img/a.png 1x,img/b.png 2x""#,
                r#"<img src='img/a.0123456789.png' srcset="img/a.0123456789.png 1x,img/b.0123456789.png 2x""#,
            )
            .replace(r#"href="doc.pdf""#, r#"href="doc.0123456789.pdf""#)
            .replace("src=app.js>", "src=app.0123456789.js>");
        assert_eq!(r.text, want);
        assert!(r.missing.is_empty(), "{:?}", r.missing);
    }

    #[test]
    fn unknown_references_are_reported_with_their_offset() {
        let page = "<p>\n<img src=\"gone.png\">\n<a href=\"nowhere.html\">x</a>";
        let r = rewrite_html(page, "index.html", &hashed);
        assert_eq!(r.text, page);
        assert_eq!(r.missing, ["gone.png"]);
        assert_eq!(r.missing_at, [page.find("gone.png").unwrap()]);
    }

    #[test]
    fn references_resolve_against_the_base_href() {
        let page = r#"<head><base href="/lib/"></head><script src="x.js"></script><img src="../img/a.png">"#;
        let r = rewrite_html(page, "pages/index.html", &hashed);
        assert!(r.text.contains(r#"src="x.0123456789.js""#), "{}", r.text);
        assert!(
            r.text.contains(r#"src="../img/a.0123456789.png""#),
            "{}",
            r.text
        );
        assert_eq!(
            resolving_from("<base href=sub/page.html?x>", "p/i.html").unwrap(),
            "p/sub/_"
        );
        assert_eq!(
            resolving_from("<base target=_top>", "p/i.html").unwrap(),
            "p/i.html"
        );
        for other in ["https://cdn.test/", "//cdn.test/lib/"] {
            let page = format!("<base href=\"{other}\"><script src=\"app.js\"></script>");
            assert_eq!(resolving_from(&page, "index.html"), None);
            let r = rewrite_html(&page, "index.html", &hashed);
            assert_eq!(r.text, page);
            assert!(r.missing.is_empty());
        }
    }

    #[test]
    fn srcset_candidates() {
        let s = "a.png, b.png 2x,c.png 100w ,  d.png";
        let refs = srcset(s, 0..s.len());
        let v: Vec<&str> = refs.iter().map(|r| &s[r.raw.clone()]).collect();
        assert_eq!(v, ["a.png", "b.png", "c.png", "d.png"]);
    }

    #[test]
    fn malformed_pages_do_not_panic() {
        for page in [
            "<",
            "<img src=",
            "<style>url(",
            "<script type=importmap>{",
            "\u{0}<a href",
        ] {
            let r = rewrite_html(page, "x.html", &hashed);
            assert_eq!(r.text, page);
        }
    }
}
