//! Finding and rewriting the module specifiers of JavaScript files, for
//! the `build` subcommand: static `import … from "…"`, bare `import "…"`,
//! `export … from "…"`, `import("…")` with a string literal and
//! `new URL("…", import.meta.url)`, plus the `//# sourceMappingURL=`
//! comment ([`css::rewrite_js`]'s part).
//!
//! The file is parsed by oxc (`oxc_parser`, a complete ECMAScript parser),
//! used only to find the string literals that are specifiers; the new
//! name is spliced into the original text at the literal's span, so
//! comments, other strings, template literals and regular expressions are
//! never touched. Only specifiers that are relative (`./`, `../`) or
//! root-absolute (`/`) count: a bare specifier (`"lodash"`) is for an
//! import map and is left alone, and so is a URL with a scheme. A file
//! that parses neither as a module nor as a script keeps its specifiers
//! (the caller reports it). No I/O, no hashing: the caller supplies names.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, ExportAllDeclaration, ExportFromDeclaration, Expression, ImportDeclaration,
    ImportExpression, NewExpression, StringLiteral,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::SourceType;

use super::css::{self, Context, Reference, Rewrite};

/// A module's specifiers, or why it could not be read.
#[derive(Debug)]
pub(super) struct Scan {
    /// Every local specifier, in source order.
    pub(super) refs: Vec<Reference>,
    /// How each of `refs` is used.
    pub(super) kinds: Vec<Kind>,
    /// The file parsed neither as a module nor as a script.
    pub(super) unparsed: bool,
}

/// How a module names a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `import … from`, `import "…"`, `export … from`: loaded with it.
    Static,
    /// `import("…")`: loaded on demand.
    Dynamic,
    /// `new URL("…", import.meta.url)`: an address the code uses.
    Url,
}

/// The specifier references of `js` (source-map comments not included).
pub(super) fn scan(js: &str) -> Scan {
    for source_type in [SourceType::mjs(), SourceType::script()] {
        let allocator = Allocator::default();
        let ret = Parser::new(&allocator, js, source_type).parse();
        if ret.panicked || !ret.diagnostics.is_empty() {
            continue;
        }
        let mut v = Specifiers {
            src: js,
            refs: Vec::new(),
        };
        v.visit_program(&ret.program);
        let mut found = v.refs;
        found.sort_by_key(|(r, _)| r.raw.start);
        let (refs, kinds) = found.into_iter().unzip();
        return Scan {
            refs,
            kinds,
            unparsed: false,
        };
    }
    Scan {
        refs: Vec::new(),
        kinds: Vec::new(),
        unparsed: true,
    }
}

/// Rewrites the specifiers and source-map comment of the script at
/// logical path `from`, as [`css::rewrite_css`] does for a stylesheet.
pub fn rewrite_js(js: &str, from: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Rewrite {
    rewrite_scanned(js, scan(js).refs, from, lookup)
}

/// [`rewrite_js`] with the specifiers already found by [`scan`].
pub(super) fn rewrite_scanned(
    js: &str,
    mut refs: Vec<Reference>,
    from: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Rewrite {
    refs.extend(css::scan_js(js));
    refs.sort_by_key(|r| r.raw.start);
    css::apply(js, refs, from, lookup)
}

/// Whether a specifier names a file of this tree: `./`, `../` or `/`
/// (not `//host`). Bare specifiers and URLs with a scheme do not.
pub(super) fn is_local(spec: &str) -> bool {
    spec.starts_with("./")
        || spec.starts_with("../")
        || (spec.starts_with('/') && !spec.starts_with("//"))
}

/// The AST walk collecting specifier literals.
struct Specifiers<'s> {
    src: &'s str,
    refs: Vec<(Reference, Kind)>,
}

impl Specifiers<'_> {
    fn literal(&mut self, s: &StringLiteral, kind: Kind) {
        let (start, end) = (s.span.start as usize, s.span.end as usize);
        // The span covers the quotes; a literal is at least two bytes.
        let Some(quote) = self.src[start..end].chars().next() else {
            return;
        };
        if end < start + 2 || !matches!(quote, '"' | '\'') || !is_local(&s.value) {
            return;
        }
        let r = Reference {
            raw: start + 1..end - 1,
            value: s.value.to_string(),
            context: Context::Js(quote),
        };
        self.refs.push((r, kind));
    }
}

impl<'a> Visit<'a> for Specifiers<'_> {
    fn visit_import_declaration(&mut self, it: &ImportDeclaration<'a>) {
        self.literal(&it.source, Kind::Static);
        walk::walk_import_declaration(self, it);
    }

    fn visit_export_from_declaration(&mut self, it: &ExportFromDeclaration<'a>) {
        self.literal(&it.source, Kind::Static);
        walk::walk_export_from_declaration(self, it);
    }

    fn visit_export_all_declaration(&mut self, it: &ExportAllDeclaration<'a>) {
        self.literal(&it.source, Kind::Static);
        walk::walk_export_all_declaration(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        if let Expression::StringLiteral(s) = &it.source {
            self.literal(s, Kind::Dynamic);
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        // `new URL("…", import.meta.url)`: the URL resolves against the module's own.
        let is_url = matches!(&it.callee, Expression::Identifier(id) if id.name == "URL");
        if let (true, [Argument::StringLiteral(s), Argument::StaticMemberExpression(base)]) =
            (is_url, it.arguments.as_slice())
        {
            if matches!(base.object, Expression::ImportMeta(_)) && base.property.name == "url" {
                self.literal(s, Kind::Url);
            }
        }
        walk::walk_new_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(l: &str) -> Option<String> {
        let (stem, ext) = l.rsplit('/').next()?.rsplit_once('.')?;
        Some(format!("{stem}.h.{ext}"))
    }

    fn rw(js: &str) -> String {
        rewrite_js(js, "app/main.js", &names).text
    }

    #[test]
    fn every_form_is_rewritten() {
        let js = r#"import a from "./a.js";
import './side.js';
export { b } from "../lib/b.mjs";
export * from "/root.js";
const m = import("./lazy.js");
const u = new URL('./img.png', import.meta.url);
"#;
        assert_eq!(
            rw(js),
            r#"import a from "./a.h.js";
import './side.h.js';
export { b } from "../lib/b.h.mjs";
export * from "/root.h.js";
const m = import("./lazy.h.js");
const u = new URL('./img.h.png', import.meta.url);
"#
        );
    }

    #[test]
    fn text_that_only_looks_like_a_specifier_is_untouched() {
        let js = r#"// import x from "./a.js"
/* import("./a.js") */
const t = `import "./a.js" ${import("./b.js")}`;
const r = /import "\.\/a.js"/g;
const s = "import './a.js'";
import l from "lodash";
const d = import(name);
const v = new URL("./a.js");
const w = new URL("./a.js", location.href);
"#;
        let out = rw(js);
        assert_eq!(
            out,
            js.replace(r#"import("./b.js")"#, r#"import("./b.h.js")"#)
        );
    }

    #[test]
    fn scripts_and_broken_files() {
        // Not a module (`with`), still a script: its dynamic import counts.
        let js = "with (o) { import('./a.js') }";
        assert_eq!(rw(js), "with (o) { import('./a.h.js') }");
        let broken = "import from from from './a.js'";
        assert!(scan(broken).unparsed);
        assert_eq!(rw(broken), broken);
    }

    #[test]
    fn each_specifier_has_its_kind() {
        let js = "import('./d.js'); import './s.js'; new URL('./u.png', import.meta.url); export * from './e.js';";
        let s = scan(js);
        let v: Vec<&str> = s.refs.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(v, ["./d.js", "./s.js", "./u.png", "./e.js"]);
        assert_eq!(
            s.kinds,
            [Kind::Dynamic, Kind::Static, Kind::Url, Kind::Static]
        );
    }

    proptest! {
        /// Whatever sits in a comment, string or template literal, only the real import changes.
        #[test]
        fn only_specifiers_change(noise in "[a-z./\" ]{0,40}") {
            let js = format!("/* {noise} */ const t = `{noise}`;\nimport x from './a.js';\n");
            let out = rw(&js);
            prop_assert_eq!(out, js.replace("'./a.js'", "'./a.h.js'"));
        }
    }
}
