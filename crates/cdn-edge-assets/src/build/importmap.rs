//! `--importmap`: instead of rewriting the specifiers inside ES modules,
//! the build writes `importmap.json` mapping each module's logical URL to
//! its fingerprinted URL, and `importmap.html`, the same map as a
//! `<script type="importmap">` element to paste into a page's `<head>`.
//! A browser applies the map to every specifier that resolves to a mapped
//! URL (bare `"app/util"` keys work the same way when the page adds them),
//! so a module's name depends on its own bytes only.
//! See <https://html.spec.whatwg.org/multipage/webappapis.html#import-maps>.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::fsutil::write_atomic;
use crate::manifest::url_of;

use super::emit::Processed;

/// The map's file name in the output tree.
pub const FILE_NAME: &str = "importmap.json";
/// The `<script type="importmap">` snippet's file name.
pub const SNIPPET_NAME: &str = "importmap.html";

/// Whether a logical path is an ES module the map lists.
pub fn is_module(logical: &str) -> bool {
    let l = logical.to_ascii_lowercase();
    l.ends_with(".js") || l.ends_with(".mjs")
}

/// The import map of `processed` (`{"imports": {logical URL: URL}}`), as pretty JSON.
pub fn document(processed: &[Processed], base_url: Option<&str>) -> String {
    let imports: BTreeMap<String, String> = processed
        .iter()
        .filter(|p| is_module(&p.logical) && p.file != p.logical)
        .map(|p| (url_of(base_url, &p.logical), url_of(base_url, &p.file)))
        .collect();
    let doc = serde_json::json!({ "imports": imports });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Writes `importmap.json` and `importmap.html` into `out`.
pub fn write(out: &Path, processed: &[Processed], base_url: Option<&str>) -> io::Result<()> {
    let json = document(processed, base_url);
    write_atomic(&out.join(FILE_NAME), json.as_bytes())?;
    // JSON in a <script> element: "</script" and "<!--" must not appear
    // raw; `<` only occurs inside JSON strings, where `\u003c` means it.
    let inline = json.replace('<', "\\u003c");
    let snippet = format!("<script type=\"importmap\">\n{inline}</script>\n");
    write_atomic(&out.join(SNIPPET_NAME), snippet.as_bytes())
}
