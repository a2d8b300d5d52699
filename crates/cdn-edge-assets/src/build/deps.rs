//! The graph the manifest records for files the build rewrote itself (a
//! bundler's own graph, when it has one, is used instead): what a
//! template helper needs to write `<link rel="modulepreload">` and
//! preload tags, and what the node's preload hints walk.
//!
//! - An ES module: its static imports of modules (`imports`), its
//!   `import("…")`s (`dynamic_imports`), stylesheets it imports (`css`), and
//!   the other files it imports or names with `new URL(…, import.meta.url)`
//!   (`assets`).
//! - A stylesheet: the stylesheets it `@import`s (`css`) and the files its
//!   `url()`s name (`assets`).
//! - A page: its module scripts (`<script type="module" src>`,
//!   `<link rel="modulepreload">`) as `imports`, and as `css` the
//!   stylesheets it links in CORS mode (`<link rel="stylesheet"
//!   crossorigin>`): a preload hint is used only by a request of the same
//!   mode, and the node's hint for a stylesheet is a CORS one, so a sheet
//!   linked without `crossorigin` is left out rather than fetched twice.
//!
//! Only files of the tree are listed, each once, in source order.

use super::bundler::Graph;
use super::{css, html, js};

/// A list the graph holds: `target` added once, if it is a file of the tree.
fn add(list: &mut Vec<String>, target: String, known: Known) {
    if known(&target) && !list.contains(&target) {
        list.push(target);
    }
}

/// Whether a logical path is a file of the tree.
type Known<'k> = &'k dyn Fn(&str) -> bool;

fn ends(t: &str, exts: &[&str]) -> bool {
    let t = t.to_ascii_lowercase();
    exts.iter().any(|e| t.ends_with(e))
}

/// The graph of the module at `logical`, from its specifiers.
pub(super) fn module(logical: &str, scan: &js::Scan, known: Known) -> Graph {
    let mut g = Graph::default();
    for (r, kind) in scan.refs.iter().zip(&scan.kinds) {
        let Some(t) = css::resolve(logical, &r.value) else {
            continue;
        };
        let list = match kind {
            js::Kind::Dynamic => &mut g.dynamic_imports,
            js::Kind::Url => &mut g.assets,
            js::Kind::Static if ends(&t, &[".js", ".mjs"]) => &mut g.imports,
            js::Kind::Static if ends(&t, &[".css"]) => &mut g.css,
            js::Kind::Static => &mut g.assets,
        };
        add(list, t, known);
    }
    g
}

/// The graph of a stylesheet, from its resolved references.
pub(super) fn stylesheet(references: &[String], known: Known) -> Graph {
    let mut g = Graph::default();
    for t in references {
        let list = if ends(t, &[".css"]) {
            &mut g.css
        } else {
            &mut g.assets
        };
        add(list, t.clone(), known);
    }
    g
}

/// The graph of the page at `logical`.
pub(super) fn page(logical: &str, text: &str, known: Known) -> Graph {
    let mut g = Graph::default();
    let Some(from) = html::resolving_from(text, logical) else {
        return g;
    };
    let logical = from.as_str();
    let (modules, styles) = html::needs(text);
    for t in modules.iter().filter_map(|v| css::resolve(logical, v)) {
        add(&mut g.imports, t, known);
    }
    for t in styles.iter().filter_map(|v| css::resolve(logical, v)) {
        add(&mut g.css, t, known);
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(t: &str) -> bool {
        !t.contains("missing")
    }

    #[test]
    fn a_module_lists_what_it_loads_and_names() {
        let js = r#"import { a } from "./lib/a.js";
import "./side.mjs";
import "../css/m.css" with { type: "css" };
import data from "./d.json" with { type: "json" };
export * from "./lib/a.js";
import x from "lodash";
import "./missing.js";
const l = import("./lazy.js");
const u = new URL("../img/p.png", import.meta.url);
// import "./comment.js";
"#;
        let g = module("js/main.js", &js::scan(js), &known);
        assert_eq!(g.imports, ["js/lib/a.js", "js/side.mjs"]);
        assert_eq!(g.css, ["css/m.css"]);
        assert_eq!(g.dynamic_imports, ["js/lazy.js"]);
        assert_eq!(g.assets, ["js/d.json", "img/p.png"]);
    }

    #[test]
    fn a_stylesheet_lists_its_imports_and_urls() {
        let css = "@import 'base.css'; a{background:url(../img/a.png)} b{src:url(missing.woff2)}";
        let g = stylesheet(&css::css_dependencies(css, "css/app.css"), &known);
        assert_eq!(g.css, ["css/base.css"]);
        assert_eq!(g.assets, ["img/a.png"]);
    }

    #[test]
    fn a_page_lists_module_scripts_and_cors_stylesheets() {
        let page = r#"<link rel="stylesheet" href="/css/cors.css" crossorigin>
<link rel="stylesheet" href="css/plain.css">
<link rel="modulepreload" href="js/pre.js">
<link rel="preload stylesheet" href="css/anon.css" crossorigin="anonymous">
<link rel="stylesheet" href="css/cred.css" crossorigin="use-credentials">
<script src="js/classic.js"></script>
<script type="module" src="/js/main.js"></script>
<script type="module">import "./js/inline.js"</script>"#;
        let g = super::page("index.html", page, &known);
        assert_eq!(g.imports, ["js/pre.js", "js/main.js"]);
        assert_eq!(g.css, ["css/cors.css", "css/anon.css"]);
        assert!(g.assets.is_empty() && g.dynamic_imports.is_empty());
    }
}
