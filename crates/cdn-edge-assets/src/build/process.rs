//! The rewrite-and-hash pass of `build`, before anything is written:
//! every file's final bytes and name, in the order names depend on each
//! other; the import map (`importmap`); and the graph the manifest records
//! for the files rewritten here (`deps`).

use std::collections::BTreeMap;

use crate::fingerprint::{fingerprinted_name, is_fingerprinted};

use super::bundler::Graph;
use super::emit::Processed;
use super::importmap::{self, ImportMap};
use super::{css, deps, graph, html, js, BuildError, Options, Summary};

/// What [`process`] gives the writing step.
pub(super) struct Output {
    /// Every file's final name and bytes.
    pub(super) processed: Vec<Processed>,
    /// The import map to write (empty: none).
    pub(super) map: ImportMap,
    /// The graph of each stylesheet, module and page rewritten here.
    pub(super) graphs: BTreeMap<String, Graph>,
}

/// Rewrites references and fingerprints every file: plain files (and
/// names that already carry a hash, untouched) first, then stylesheets in
/// dependency order, then scripts (their source maps are plain files; a
/// module may name a stylesheet) with ES modules in dependency order, so
/// a module's name covers the names of what it imports; then HTML pages
/// (they reference all of those). Modules that import each other in a
/// cycle are fingerprinted too, but keep the specifiers between them as
/// written: the returned import map resolves those (with `--importmap`,
/// it lists every module). Each stylesheet, module and page gets its graph
/// (`deps`). Warnings go to `summary`.
pub(super) fn process(
    contents: &BTreeMap<String, Vec<u8>>,
    o: &Options,
    summary: &mut Summary,
) -> Result<Output, BuildError> {
    let ends = |l: &str, exts: &[&str]| {
        let l = l.to_ascii_lowercase();
        exts.iter().any(|e| l.ends_with(e))
    };
    let file_name = |l: &str| l.rsplit('/').next().unwrap_or(l).to_string();
    // A bundler already hashed it: its name and bytes are final.
    let keeps_name = |l: &str| {
        let name = file_name(l);
        is_fingerprinted(&name) || o.patterns.matches(&name)
    };
    let is_css = |l: &str| !keeps_name(l) && ends(l, &[".css"]);
    let is_js = |l: &str| !keeps_name(l) && ends(l, &[".js", ".mjs", ".cjs"]);
    let is_html = |l: &str| !keeps_name(l) && !o.fingerprint_html && ends(l, &[".html", ".htm"]);
    type Names = BTreeMap<String, String>; // logical → fingerprinted file name
    type Done = BTreeMap<String, Processed>;
    let mut names = Names::new();
    let mut done = Done::new();
    let mut warnings: Vec<String> = Vec::new();

    // `entry`: an entry point, kept under its own name.
    let finish =
        |logical: &str, bytes: Vec<u8>, entry: bool, names: &mut Names, done: &mut Done| {
            let hash = blake3::hash(&bytes).to_hex().to_string();
            let (dir, name) = match logical.rsplit_once('/') {
                Some((d, n)) => (Some(d), n),
                None => (None, logical),
            };
            let fp = if entry || keeps_name(logical) {
                name.to_string()
            } else {
                fingerprinted_name(name, &hash[..o.hash_len])
            };
            let file = dir.map_or(fp.clone(), |d| format!("{d}/{fp}"));
            names.insert(logical.to_string(), fp);
            let content_type = crate::media_type::of(logical);
            done.insert(
                logical.to_string(),
                Processed {
                    logical: logical.to_string(),
                    file,
                    bytes,
                    blake3: hash,
                    content_type,
                    fingerprinted: !entry,
                },
            );
        };

    let plain = |l: &str| !is_css(l) && !is_js(l) && !is_html(l);
    for (logical, bytes) in contents.iter().filter(|(l, _)| plain(l)) {
        finish(logical, bytes.clone(), false, &mut names, &mut done);
    }
    let known = |l: &str| contents.contains_key(l);
    let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
    let sheets: BTreeMap<String, Vec<String>> = contents
        .iter()
        .filter(|(l, _)| is_css(l))
        .map(|(l, b)| {
            (
                l.clone(),
                std::str::from_utf8(b)
                    .map(|t| css::css_dependencies(t, l))
                    .unwrap_or_default(),
            )
        })
        .collect();
    for (l, d) in &sheets {
        graphs.insert(l.clone(), deps::stylesheet(d, &known));
    }
    for logical in graph::order(&sheets)? {
        let bytes = rewritten(
            &logical,
            &contents[&logical],
            &css::rewrite_css,
            &names,
            &mut warnings,
        );
        finish(&logical, bytes, false, &mut names, &mut done);
    }
    // ES modules are parsed once: for their graph, and (without
    // `--importmap`) for the order they are named in and their rewriting.
    let scans: BTreeMap<String, js::Scan> = contents
        .iter()
        .filter(|(l, _)| is_js(l) && importmap::is_module(l))
        .filter_map(|(l, b)| Some((l.clone(), js::scan(std::str::from_utf8(b).ok()?))))
        .collect();
    for (l, scan) in &scans {
        graphs.insert(l.clone(), deps::module(l, scan, &known));
        if scan.unparsed && !o.importmap {
            warnings.push(format!(
                "{l}: not valid JavaScript, so its imports were not rewritten"
            ));
        }
    }
    // With `--importmap`, only source-map comments are rewritten.
    let modules: BTreeMap<String, Vec<String>> = scans
        .iter()
        .filter(|_| !o.importmap)
        .map(|(l, scan)| {
            let deps = scan
                .refs
                .iter()
                .filter_map(|r| css::resolve(l, &r.value))
                .collect();
            (l.clone(), deps)
        })
        .collect();
    for (logical, bytes) in contents
        .iter()
        .filter(|(l, _)| is_js(l) && !modules.contains_key(*l))
    {
        let bytes = rewritten(logical, bytes, &css::rewrite_js, &names, &mut warnings);
        finish(logical, bytes, false, &mut names, &mut done);
    }
    // In a cycle, the specifiers between its modules stay as written (all
    // are rewritten before any is named); the import map resolves them.
    let mut in_cycles = Vec::new();
    for component in graph::components(&modules) {
        let cycle = graph::is_cycle(&component, &modules);
        if cycle {
            for logical in &component {
                names.insert(logical.clone(), file_name(logical));
            }
            in_cycles.extend(component.iter().cloned());
        }
        let bytes: Vec<Vec<u8>> = component
            .iter()
            .map(|l| {
                let refs = &scans[l].refs;
                let rewrite = |t: &str, from: &str, lookup: Lookup| {
                    js::rewrite_scanned(t, refs.clone(), from, lookup)
                };
                rewritten(l, &contents[l], &rewrite, &names, &mut warnings)
            })
            .collect();
        for (logical, bytes) in component.iter().zip(bytes) {
            finish(logical, bytes, false, &mut names, &mut done);
        }
    }
    let base = o.base_url.as_deref();
    let map = if o.importmap {
        ImportMap::of(done.values(), done.values(), base)
    } else {
        ImportMap::of(in_cycles.iter().map(|l| &done[l]), done.values(), base)
    };
    // Pages link to each other under their own names.
    for logical in contents.keys().filter(|l| is_html(l)) {
        names.insert(logical.clone(), file_name(logical));
    }
    for (logical, bytes) in contents.iter().filter(|(l, _)| is_html(l)) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            graphs.insert(logical.clone(), deps::page(logical, text, &known));
        }
        let mut bytes = rewritten(logical, bytes, &html::rewrite_html, &names, &mut warnings);
        if !map.is_empty() {
            let page = String::from_utf8_lossy(&bytes).into_owned();
            match map.add_to_page(&page) {
                Ok(Some(with_map)) => bytes = with_map.into_bytes(),
                Ok(None) => {}
                Err(e) => warnings.push(format!(
                    "{logical}: {e}, so the build's import map was not added to it"
                )),
            }
        }
        finish(logical, bytes, true, &mut names, &mut done);
    }
    summary.warnings = warnings;
    summary.mapped = map.len();
    Ok(Output {
        processed: done.into_values().collect(),
        map,
        graphs,
    })
}

/// The fingerprinted name of a logical path, if known.
type Lookup<'l> = &'l dyn Fn(&str) -> Option<String>;

/// A reference rewriter (`css::rewrite_css`, `css::rewrite_js`,
/// `html::rewrite_html`, or a module's with its specifiers already found).
type Rewriter<'r> = &'r dyn Fn(&str, &str, Lookup) -> css::Rewrite;

/// `bytes` of the file at `logical` with its references rewritten to the
/// fingerprinted names known so far; a file that is not UTF-8 is kept
/// unchanged and reported. Missing targets are reported with the line
/// they are on.
fn rewritten(
    logical: &str,
    bytes: &[u8],
    rewrite: Rewriter,
    names: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        warnings.push(format!(
            "{logical}: not UTF-8 text, so its references were not rewritten (save it as UTF-8)"
        ));
        return bytes.to_vec();
    };
    let r = rewrite(text, logical, &|t| names.get(t).cloned());
    for (m, &at) in r.missing.iter().zip(&r.missing_at) {
        let line = 1 + text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        warnings.push(format!("{logical}:{line}: missing reference {m}"));
    }
    r.text.into_bytes()
}
