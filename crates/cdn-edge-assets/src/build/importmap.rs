//! Import maps: the build's way to give ES modules fingerprinted names
//! without writing those names into the modules.
//!
//! Two cases use one: with `--importmap` every module keeps its specifiers
//! as written and the map lists them all; without it, modules that import
//! each other in a cycle (no order lets each name the other's final name)
//! keep the specifiers between them as written and the map lists the
//! modules of the cycles. Either way the build writes `importmap.json` and
//! `importmap.html` (the same map as a `<script type="importmap">` element
//! for pages rendered elsewhere), and adds the map to every page of the
//! tree that loads scripts: merged into the page's own import map if it
//! has one (the page's entries win), else inserted before its first
//! `<script>` or `<link rel="modulepreload">` (a map must come before
//! the first module is fetched).
//!
//! The map also gives each mapped module's `integrity`, so a browser
//! checks modules it reaches through `import` as it checks the page's own
//! `<script integrity>` (import maps' `integrity` key).
//! See <https://html.spec.whatwg.org/multipage/webappapis.html#import-maps>.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use lol_html::html_content::ContentType;
use lol_html::{element, text, RewriteStrSettings};

use crate::fsutil::write_atomic;
use crate::manifest::url_of;

use super::emit::{integrity, Processed};

/// The map's file name in the output tree.
pub const FILE_NAME: &str = "importmap.json";
/// The `<script type="importmap">` snippet's file name.
pub const SNIPPET_NAME: &str = "importmap.html";

/// The elements that load scripts: a map must come before the first.
const LOADS: &str = "script, link[rel=modulepreload]";
/// A page's own import map.
const MAP: &str = "script[type=importmap]";

/// Whether a logical path is an ES module a map may list.
pub fn is_module(logical: &str) -> bool {
    let l = logical.to_ascii_lowercase();
    l.ends_with(".js") || l.ends_with(".mjs")
}

/// An import map: module URL → fingerprinted URL, and the fingerprinted
/// URL's integrity.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportMap {
    imports: BTreeMap<String, String>,
    integrity: BTreeMap<String, String>,
}

impl ImportMap {
    /// The map of the fingerprinted modules among `mapped`, with the
    /// integrity of every fingerprinted module among `all` (a module
    /// reached by `import` can only be checked through the map).
    pub fn of<'a>(
        mapped: impl IntoIterator<Item = &'a Processed>,
        all: impl IntoIterator<Item = &'a Processed>,
        base: Option<&str>,
    ) -> Self {
        let listed = |p: &&Processed| is_module(&p.logical) && p.fingerprinted;
        let imports = mapped
            .into_iter()
            .filter(listed)
            .filter(|p| p.file != p.logical)
            .map(|p| (url_of(base, &p.logical), url_of(base, &p.file)))
            .collect();
        let integrity = all
            .into_iter()
            .filter(listed)
            .map(|p| (url_of(base, &p.file), integrity(&p.bytes)))
            .collect();
        Self { imports, integrity }
    }

    /// Whether it maps nothing.
    pub fn is_empty(&self) -> bool {
        self.imports.is_empty()
    }

    /// How many modules it maps.
    pub fn len(&self) -> usize {
        self.imports.len()
    }

    /// `{"imports": {…}, "integrity": {…}}`, pretty.
    pub fn json(&self) -> String {
        let doc = serde_json::json!({ "imports": self.imports, "integrity": self.integrity });
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    }

    /// Writes `importmap.json` and `importmap.html` into `out`.
    pub fn write(&self, out: &Path) -> io::Result<()> {
        write_atomic(&out.join(FILE_NAME), self.json().as_bytes())?;
        write_atomic(&out.join(SNIPPET_NAME), self.element().as_bytes())
    }

    /// The map as a `<script type="importmap">` element.
    pub fn element(&self) -> String {
        format!(
            "<script type=\"importmap\">\n{}</script>\n",
            inline(&self.json())
        )
    }

    /// `page` with the map added (see the module docs); `None` when the
    /// page loads no script (it needs no map), or when its own import map
    /// is not JSON (the reason, to report).
    pub fn add_to_page(&self, page: &str) -> Result<Option<String>, String> {
        let has_map = Cell::new(false);
        let loads = Cell::new(false);
        let scan = RewriteStrSettings::new()
            .append_element_content_handler(element!(LOADS, |_| {
                loads.set(true);
                Ok(())
            }))
            .append_element_content_handler(element!(MAP, |_| {
                has_map.set(true);
                Ok(())
            }));
        if lol_html::rewrite_str(page, scan).is_err() || !loads.get() {
            return Ok(None);
        }
        let element = self.element();
        let done = Cell::new(false);
        let text_so_far = RefCell::new(String::new());
        let bad = RefCell::new(None);
        let settings = if has_map.get() {
            // Only the first map is merged into (a page has one).
            RewriteStrSettings::new().append_element_content_handler(text!(MAP, |t| {
                if done.get() {
                    return Ok(());
                }
                let mut so_far = text_so_far.borrow_mut();
                so_far.push_str(t.as_str());
                if !t.last_in_text_node() {
                    t.remove();
                    return Ok(());
                }
                done.set(true);
                match self.merged_into(&so_far) {
                    Ok(json) => t.replace(&inline(&json), ContentType::Html),
                    Err(e) => {
                        // Put back what was removed, unchanged.
                        t.replace(&so_far, ContentType::Html);
                        *bad.borrow_mut() = Some(e);
                    }
                }
                Ok(())
            }))
        } else {
            RewriteStrSettings::new().append_element_content_handler(element!(LOADS, |el| {
                if !done.replace(true) {
                    el.before(&element, ContentType::Html);
                }
                Ok(())
            }))
        };
        let out = lol_html::rewrite_str(page, settings).map_err(|e| e.to_string())?;
        match bad.into_inner() {
            Some(e) => Err(e),
            None => Ok(Some(out)),
        }
    }

    /// The page's own map `json` with this map's entries added where it
    /// has none of its own.
    fn merged_into(&self, json: &str) -> Result<String, String> {
        let mut doc: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("its import map is not JSON ({e})"))?;
        let Some(obj) = doc.as_object_mut() else {
            return Err("its import map is not a JSON object".to_string());
        };
        for (key, ours) in [("imports", &self.imports), ("integrity", &self.integrity)] {
            let theirs = obj
                .entry(key)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            let Some(theirs) = theirs.as_object_mut() else {
                return Err(format!("its import map's \"{key}\" is not an object"));
            };
            for (k, v) in ours {
                theirs
                    .entry(k.clone())
                    .or_insert_with(|| serde_json::Value::String(v.clone()));
            }
        }
        Ok(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n")
    }
}

/// JSON in a `<script>` element: `</script` and `<!--` must not appear
/// raw; `<` only occurs inside JSON strings, where `\u003c` means it.
fn inline(json: &str) -> String {
    json.replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(logical: &str, file: &str) -> Processed {
        Processed {
            logical: logical.to_string(),
            file: file.to_string(),
            bytes: logical.as_bytes().to_vec(),
            blake3: String::new(),
            content_type: "text/javascript".to_string(),
            fingerprinted: logical != file,
        }
    }

    fn map() -> ImportMap {
        let all = [
            module("js/a.js", "js/a.0123456789.js"),
            module("js/b.js", "js/b.0123456789.js"),
            module("js/c.js", "js/c.0123456789.js"),
            module("js/plain.js", "js/plain.js"),
            module("img/x.png", "img/x.0123456789.png"),
        ];
        let mapped = [&all[0], &all[1], &all[3], &all[4]];
        ImportMap::of(mapped, &all, None)
    }

    #[test]
    fn lists_fingerprinted_modules_with_their_integrity() {
        let m = map();
        assert_eq!(m.len(), 2);
        let doc: serde_json::Value = serde_json::from_str(&m.json()).unwrap();
        assert_eq!(doc["imports"]["/js/a.js"], "/js/a.0123456789.js");
        assert_eq!(
            doc["integrity"]["/js/a.0123456789.js"],
            integrity(b"js/a.js")
        );
        // Integrity for every fingerprinted module, mapped or not.
        let urls: Vec<&String> = doc["integrity"].as_object().unwrap().keys().collect();
        assert_eq!(
            urls,
            [
                "/js/a.0123456789.js",
                "/js/b.0123456789.js",
                "/js/c.0123456789.js"
            ]
        );
        let one = [module("a.js", "a.1.js")];
        let abs = ImportMap::of(&one, &one, Some("https://s.test/"));
        assert!(abs
            .json()
            .contains("\"https://s.test/a.js\": \"https://s.test/a.1.js\""));
    }

    #[test]
    fn goes_before_the_first_script_and_changes_nothing_else() {
        let page = "<!doctype html><head><meta charset=utf-8>\n<link rel=stylesheet href=a.css>\n<link rel=modulepreload href=/js/a.js><script type=module src=/js/a.js></script></head>";
        let out = map().add_to_page(page).unwrap().unwrap();
        let at = page.find("<link rel=modulepreload").unwrap();
        assert_eq!(
            out,
            format!("{}{}{}", &page[..at], map().element(), &page[at..])
        );
        // A page that loads no script needs no map.
        assert_eq!(map().add_to_page("<p><img src=x.png>").unwrap(), None);
    }

    #[test]
    fn merges_into_the_pages_own_map_whose_entries_win() {
        let page = r#"<head><script type="importmap">{"imports": {"/js/a.js": "/mine.js", "vue": "/vue.js"}}</script><script type=module src=/js/a.js></script>"#;
        let out = map().add_to_page(page).unwrap().unwrap();
        assert_eq!(out.matches("<script type=\"importmap\">").count(), 1);
        let json = &out[out.find('{').unwrap()..out.find("</script>").unwrap()];
        let doc: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(doc["imports"]["/js/a.js"], "/mine.js");
        assert_eq!(doc["imports"]["vue"], "/vue.js");
        assert_eq!(doc["imports"]["/js/b.js"], "/js/b.0123456789.js");
        assert!(doc["integrity"]["/js/b.0123456789.js"].is_string());
        assert!(out.ends_with("<script type=module src=/js/a.js></script>"));
    }

    #[test]
    fn a_map_that_is_not_json_is_reported_and_left_alone() {
        for own in ["{nope", "[1]", r#"{"imports": 3}"#] {
            let page = format!("<script type=importmap>{own}</script><script src=x.js></script>");
            let e = map().add_to_page(&page).unwrap_err();
            assert!(e.contains("import map"), "{e}");
        }
    }

    #[test]
    fn script_closing_text_in_a_url_is_escaped() {
        let one = [module("a</script>.js", "a</script>.1.js")];
        let m = ImportMap::of(&one, &one, None);
        let el = m.element();
        assert_eq!(el.matches("</script>").count(), 1, "{el}");
        assert!(el.ends_with("</script>\n"));
    }
}
