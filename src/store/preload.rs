//! Preload hints of an HTML entry point: the `Link` fields (RFC 8288) that
//! tell a browser, before it parses the page, which stylesheets and module
//! scripts the page will need. Computed from the manifest's graph once when
//! the manifest is loaded (`manifest_index`), never per request; sent on
//! the page's `200` and in a `103 Early Hints` before it (`server::handler`).
//!
//! What a page needs is what Vite's own preloading walks: the page's
//! `imports` (its entry chunks) and, through each chunk's static `imports`
//! (never `dynamicImports`: those load on demand), every chunk it reaches,
//! each once (a cycle ends where it comes back), and the `css` of each.
//! Stylesheets come first, dependencies before their importers (the order
//! their rules cascade in), then the scripts, entry chunk first.
//!
//! - A stylesheet: `rel=preload; as=style; crossorigin`. A preload is used
//!   only by a request of the same mode (HTML § "preload key": URL,
//!   destination, mode, credentials mode): Vite writes
//!   `<link rel="stylesheet" crossorigin>`, a CORS request, so the hint has
//!   `crossorigin` too. No `integrity`: Chrome reuses a preload with
//!   integrity only for a request with the same integrity, and the page's
//!   tags carry none, so it would fetch the sheet twice.
//! - A script: `rel=modulepreload; crossorigin; integrity="…"`. The
//!   manifest's `imports` graph is an ES module graph (Vite's), so its
//!   scripts are module scripts. A modulepreload fills the module map,
//!   which the page's `<script type="module">` and `import`s read by URL
//!   whatever their own integrity, so the integrity costs no second fetch
//!   and makes the browser check the bytes it preloads.
//!
//! Targets are root-relative paths on this node (`/` + the entry's
//! `file`), as the page's own references are in a Vite build.

use std::collections::HashSet;

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::manifest::{Entry, Manifest};
use crate::origin::client::interim::MAX_INTERIM_BYTES;

/// Bytes of a path that are written percent-encoded in a `Link` target:
/// what a URI reference cannot hold (RFC 3986 §2), `<>` that end it, and
/// `%` (a file name's own `%` is a byte of the name).
const TARGET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Whether `e` is an HTML entry point (a page the build kept under its
/// own name).
pub fn is_page(e: &Entry) -> bool {
    let html = e.content_type.starts_with("text/html")
        || (e.content_type.is_empty() && [".html", ".htm"].iter().any(|x| e.file.ends_with(x)));
    !e.fingerprinted && html
}

/// What kind of preload a file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Style,
    Module,
}

fn kind(e: &Entry) -> Option<Kind> {
    let t = e.content_type.as_str();
    let name = e.file.as_str();
    if t.starts_with("text/css") || (t.is_empty() && name.ends_with(".css")) {
        Some(Kind::Style)
    } else if t.starts_with("text/javascript")
        || t.starts_with("application/javascript")
        || (t.is_empty() && (name.ends_with(".js") || name.ends_with(".mjs")))
    {
        Some(Kind::Module)
    } else {
        None
    }
}

/// The `Link` fields of the page `m[key]`, or `None` when it needs nothing
/// (or is not a page). Fields past [`MAX_INTERIM_BYTES`] in all are left
/// out (a `103` carries no more), with a warning.
pub fn links(m: &Manifest, key: &str) -> Option<HeaderMap> {
    let page = m.get(key).filter(|e| is_page(e))?;
    let mut walk = Walk {
        m,
        seen: HashSet::new(),
        styles: Vec::new(),
        scripts: Vec::new(),
    };
    for s in &page.css {
        walk.style(s);
    }
    for i in &page.imports {
        walk.chunk(i);
    }
    let mut fields = HeaderMap::new();
    let mut bytes = 0;
    let values = walk
        .styles
        .iter()
        .map(|e| value(e, Kind::Style))
        .chain(walk.scripts.iter().map(|e| value(e, Kind::Module)));
    for v in values {
        // A field line: `link: ` + the value + CRLF.
        bytes += v.len() + 8;
        if bytes > MAX_INTERIM_BYTES {
            tracing::warn!(page = %key, "manifest.json: preload links past {MAX_INTERIM_BYTES} bytes left out");
            break;
        }
        fields.append(header::LINK, v);
    }
    (!fields.is_empty()).then_some(fields)
}

/// A walk of a page's graph: what it has reached, in order.
struct Walk<'a> {
    m: &'a Manifest,
    /// Files already reached (a chunk is listed under several keys).
    seen: HashSet<&'a str>,
    styles: Vec<&'a Entry>,
    scripts: Vec<&'a Entry>,
}

impl<'a> Walk<'a> {
    /// Reaches the entry `key` once: its file, if not seen yet.
    fn reach(&mut self, key: &str) -> Option<&'a Entry> {
        let e = self.m.get(key)?;
        self.seen.insert(e.file.as_str()).then_some(e)
    }

    fn style(&mut self, key: &str) {
        if let Some(e) = self.reach(key).filter(|e| kind(e) == Some(Kind::Style)) {
            self.styles.push(e);
        }
    }

    /// A statically imported chunk: listed before what it imports, its
    /// stylesheets after theirs.
    fn chunk(&mut self, key: &str) {
        let Some(e) = self.reach(key) else { return };
        match kind(e) {
            Some(Kind::Module) => self.scripts.push(e),
            Some(Kind::Style) => {
                self.styles.push(e);
                return;
            }
            None => return,
        }
        for i in &e.imports {
            self.chunk(i);
        }
        for s in &e.css {
            self.style(s);
        }
    }
}

/// One `Link` field value.
fn value(e: &Entry, kind: Kind) -> HeaderValue {
    let path = e.file.trim_start_matches('/');
    let target = utf8_percent_encode(path, TARGET);
    let v = match kind {
        Kind::Style => format!("</{target}>; rel=preload; as=style; crossorigin"),
        Kind::Module if sri(&e.integrity) => format!(
            "</{target}>; rel=modulepreload; crossorigin; integrity=\"{}\"",
            e.integrity
        ),
        Kind::Module => format!("</{target}>; rel=modulepreload; crossorigin"),
    };
    // Cannot fail: the target is percent-encoded ASCII, the integrity checked.
    HeaderValue::from_str(&v).expect("ASCII link value")
}

/// Whether `s` is an SRI value that can go in a quoted string as it is.
fn sri(s: &str) -> bool {
    s.starts_with("sha")
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, ty: &str) -> Entry {
        Entry {
            file: file.into(),
            fingerprinted: !file.ends_with(".html"),
            size: 1,
            content_type: ty.into(),
            blake3: String::new(),
            integrity: format!("sha384-{}", file.len()),
            ..Default::default()
        }
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn js(file: &str, imports: &[&str], css: &[&str]) -> Entry {
        let mut e = entry(file, "text/javascript; charset=utf-8");
        e.imports = strs(imports);
        e.css = strs(css);
        e
    }

    fn got(m: &Manifest, key: &str) -> Vec<String> {
        links(m, key)
            .map(|f| {
                f.get_all(header::LINK)
                    .map(|v| v.to_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_page_preloads_its_chain_once_styles_first() {
        let mut m = Manifest::new();
        let mut page = entry("index.html", "text/html; charset=utf-8");
        page.imports = strs(&["assets/main-A.js"]);
        m.insert("index.html".into(), page);
        m.insert(
            "assets/main-A.js".into(),
            js(
                "assets/main-A.js",
                &["src/shared.js", "assets/vendor-C.js"],
                &["assets/main-A.css"],
            ),
        );
        // Listed under its source name and its file: one link.
        let shared = js(
            "assets/shared-B.js",
            &["assets/vendor-C.js", "assets/main-A.js"],
            &["assets/shared-B.css"],
        );
        m.insert("src/shared.js".into(), shared.clone());
        m.insert("assets/shared-B.js".into(), shared);
        let mut vendor = js("assets/vendor-C.js", &[], &[]);
        vendor.dynamic_imports = strs(&["assets/lazy-D.js"]);
        vendor.assets = strs(&["assets/logo.png"]);
        m.insert("assets/vendor-C.js".into(), vendor);
        m.insert("assets/lazy-D.js".into(), js("assets/lazy-D.js", &[], &[]));
        m.insert(
            "assets/logo.png".into(),
            entry("assets/logo.png", "image/png"),
        );
        for css in ["assets/main-A.css", "assets/shared-B.css"] {
            m.insert(css.into(), entry(css, "text/css; charset=utf-8"));
        }
        let sri = |f: &str| format!("integrity=\"sha384-{}\"", f.len());
        assert_eq!(
            got(&m, "index.html"),
            [
                "</assets/shared-B.css>; rel=preload; as=style; crossorigin".to_string(),
                "</assets/main-A.css>; rel=preload; as=style; crossorigin".into(),
                format!(
                    "</assets/main-A.js>; rel=modulepreload; crossorigin; {}",
                    sri("assets/main-A.js")
                ),
                format!(
                    "</assets/shared-B.js>; rel=modulepreload; crossorigin; {}",
                    sri("assets/shared-B.js")
                ),
                format!(
                    "</assets/vendor-C.js>; rel=modulepreload; crossorigin; {}",
                    sri("assets/vendor-C.js")
                ),
            ]
        );
        // Not a page: no links.
        assert!(links(&m, "assets/main-A.js").is_none());
    }

    #[test]
    fn odd_names_and_values_stay_valid() {
        let mut m = Manifest::new();
        let mut page = entry("a b/index.html", "text/html");
        page.imports = strs(&["x", "missing"]);
        m.insert("a b/index.html".into(), page);
        let mut x = js("a b/x%1<é>.js", &[], &[]);
        x.integrity = "sha384-\"bad".into();
        m.insert("x".into(), x);
        assert_eq!(
            got(&m, "a b/index.html"),
            ["</a%20b/x%251%3C%C3%A9%3E.js>; rel=modulepreload; crossorigin"]
        );
        // A page that needs nothing has no links.
        m.insert("p.html".into(), entry("p.html", "text/html"));
        assert!(links(&m, "p.html").is_none());
    }
}
