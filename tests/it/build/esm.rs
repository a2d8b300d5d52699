//! `cdn-edge build` on an unbundled ES-module app (`fixtures/esm`, written
//! by hand, see its README): specifiers rewritten to fingerprinted names
//! and served by a real node, text that only looks like a specifier left
//! byte-identical, a leaf change renaming exactly its importers, cycles
//! resolved by an import map added to the page, and `--importmap`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::support::*;
use crate::common;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Every module of the fixture, by logical path.
const MODULES: &[&str] = &[
    "js/main.js",
    "js/lib/a.js",
    "js/lib/b.js",
    "js/lib/leaf.js",
    "js/lazy.js",
    "js/side.mjs",
    "js/cycle/ping.js",
    "js/cycle/pong.js",
];

/// The fixture copied into a fresh tree (tests may change it).
fn esm_tree() -> Tree {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/build/fixtures/esm");
    let t = Tree::empty();
    for (k, v) in snapshot(&root) {
        if k != "README.md" {
            t.write(&k, &v);
        }
    }
    t
}

/// logical → file of every manifest entry.
fn files(out: &Path) -> BTreeMap<String, String> {
    manifest(out)
        .into_iter()
        .map(|(k, e)| (k, e["file"].as_str().unwrap().to_string()))
        .collect()
}

/// The quoted strings of `js` that follow `from `, `import `, `import(` or
/// `new URL(` (a test-side scan of the known fixture, not the build's parser).
fn specifiers(js: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in js.lines() {
        let code = line.trim_start();
        if code.starts_with("//")
            || code.starts_with("/*")
            || code.starts_with("const template")
            || code.starts_with("const regex")
            || code.starts_with("const plain")
        {
            continue;
        }
        for lead in ["from ", "import ", "import(", "new URL("] {
            let mut rest = code;
            while let Some(i) = rest.find(lead) {
                let v = &rest[i + lead.len()..];
                rest = v;
                let Some(q @ ('"' | '\'')) = v.chars().next() else {
                    continue;
                };
                let end = v[1..].find(q).unwrap();
                out.push(v[1..1 + end].to_string());
            }
        }
    }
    out
}

/// `spec` written in the module at `file` (output-relative), resolved.
fn target(file: &str, spec: &str) -> String {
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    resolve(dir, spec).unwrap_or_else(|| panic!("{spec} in {file} does not resolve"))
}

/// The `imports` of the build's `importmap.json`.
fn import_map(out: &Path) -> BTreeMap<String, String> {
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("importmap.json")).unwrap()).unwrap();
    serde_json::from_value(map["imports"].clone()).unwrap()
}

#[test]
fn esm_app_builds_to_fingerprinted_names_that_all_resolve() {
    let t = esm_tree();
    let out = t.out("dist");
    let run = build_ok(&t.src, &out, &[]);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert!(run.stdout.contains("2 modules mapped by"), "{}", run.stdout);
    let f = files(&out);
    for m in MODULES {
        assert_ne!(f[*m], *m);
        assert_eq!(manifest(&out)[*m]["fingerprinted"], true, "{m}");
    }
    assert_ne!(f["img/dot.png"], "img/dot.png");
    // The cycle's modules, and only they, are mapped.
    let map = import_map(&out);
    let cycle = ["js/cycle/ping.js", "js/cycle/pong.js"];
    let want: BTreeMap<String, String> = cycle
        .iter()
        .map(|m| (format!("/{m}"), format!("/{}", f[*m])))
        .collect();
    assert_eq!(map, want);
    // The page carries the same map, before its module script.
    let page = fs::read_to_string(out.join("index.html")).unwrap();
    let snippet = fs::read_to_string(out.join("importmap.html")).unwrap();
    let (head, rest) = page.split_once(snippet.as_str()).expect(&page);
    assert!(!head.contains("<script"), "{page}");
    assert!(
        rest.contains(&format!("src=\"/{}\"", f["js/main.js"])),
        "{page}"
    );

    let srv = common::Server::start(&out, &common::config_with(""));
    let mut seen = 0;
    for m in MODULES {
        let file = &f[*m];
        let js = fs::read_to_string(out.join(file)).unwrap();
        for spec in specifiers(&js) {
            // What the browser fetches: the specifier, through the map.
            let plain = target(file, &spec);
            let path = map
                .get(&format!("/{plain}"))
                .map_or(plain.clone(), |p| p[1..].to_string());
            // Only the specifiers inside the cycle go through the map.
            assert_eq!(path == plain, !m.contains("/cycle/"), "{spec} in {file}");
            let r = srv.get(&format!("/{path}"));
            assert_eq!(r.status, 200, "{spec} in {file}: {}", r.summary());
            assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{path}");
            seen += 1;
        }
    }
    // main: 3 imports + new URL + import(); a, b, lazy, ping, pong: 1 each.
    assert_eq!(seen, 10);
    let main = fs::read_to_string(out.join(&f["js/main.js"])).unwrap();
    assert!(main.contains(&format!(
        "new URL(\"./img/../../{}\", import.meta.url)",
        f["img/dot.png"]
    )));
    // main imports the cycle under its fingerprinted name; inside the
    // cycle, the specifiers are as written.
    assert!(main.contains(&f["js/cycle/ping.js"].replace("js/", "./")));
    let ping = fs::read_to_string(out.join(&f["js/cycle/ping.js"])).unwrap();
    assert_eq!(
        ping,
        fs::read_to_string(t.src.join("js/cycle/ping.js")).unwrap()
    );
}

/// Builds `t` into `one`, writes `bytes` to `path`, builds into `two`:
/// the two outputs and the logical paths whose file names differ.
fn rebuilt_with(t: &Tree, path: &str, bytes: &[u8]) -> (PathBuf, PathBuf, Vec<String>) {
    let (one, two) = (t.out("one"), t.out("two"));
    build_ok(&t.src, &one, &[]);
    t.write(path, bytes);
    build_ok(&t.src, &two, &[]);
    let (f1, f2) = (files(&one), files(&two));
    let changed = f1.keys().filter(|k| f1[*k] != f2[*k]).cloned().collect();
    (one, two, changed)
}

#[test]
fn changing_a_module_in_the_cycle_renames_it_and_changes_only_the_map() {
    let t = esm_tree();
    let pong = fs::read_to_string(t.src.join("js/cycle/pong.js")).unwrap();
    let pong = pong.replace("\"pong\"", "\"PONG\"");
    let (_, two, changed) = rebuilt_with(&t, "js/cycle/pong.js", pong.as_bytes());
    let f2 = files(&two);
    // ping's bytes name pong by its plain name, so ping keeps its name, and
    // so does main, which names ping; the page's map points at the new pong.
    assert_eq!(changed, ["js/cycle/pong.js"]);
    assert_eq!(
        import_map(&two)["/js/cycle/pong.js"],
        format!("/{}", f2["js/cycle/pong.js"])
    );
    let page = fs::read_to_string(two.join("index.html")).unwrap();
    assert!(page.contains(&f2["js/cycle/pong.js"]), "{page}");
}

#[test]
fn text_that_only_looks_like_an_import_is_byte_identical() {
    let t = esm_tree();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let f = files(&out);
    let src = fs::read_to_string(t.src.join("js/main.js")).unwrap();
    let built = fs::read_to_string(out.join(&f["js/main.js"])).unwrap();
    // Undo the five real rewrites: what is left is the source, byte for byte.
    let mut back = built.clone();
    for m in [
        "js/lib/a.js",
        "js/cycle/ping.js",
        "js/side.mjs",
        "js/lazy.js",
        "img/dot.png",
    ] {
        let name = |p: &str| p.rsplit('/').next().unwrap().to_string();
        back = back.replace(&name(&f[m]), &name(m));
    }
    assert_eq!(back, src);
    for line in [
        "// import { nope } from \"./lib/leaf.js\";",
        "/* export * from \"./lib/b.js\"; import(\"./lazy.js\") */",
        "const template = `import \"./lib/a.js\" and ${\"./lib/b.js\"}`;",
        "const regex = /import\\(\"\\.\\/lazy\\.js\"\\)|from '\\.\\/lib\\/a\\.js'/g;",
        "const plain = \"./lib/leaf.js\";",
    ] {
        assert!(built.contains(line), "{line} changed:\n{built}");
    }
}

#[test]
fn changing_the_leaf_renames_exactly_the_modules_on_its_import_path() {
    let t = esm_tree();
    let leaf = b"export const leaf = () => \"leaf-v2\";\n";
    let (one, two, changed) = rebuilt_with(&t, "js/lib/leaf.js", leaf);
    // leaf ← b ← a ← main, and leaf ← lazy ← main; the page keeps its name.
    assert_eq!(
        changed,
        [
            "js/lazy.js",
            "js/lib/a.js",
            "js/lib/b.js",
            "js/lib/leaf.js",
            "js/main.js"
        ]
    );
    let page = |d: &Path| fs::read(d.join("index.html")).unwrap();
    assert_ne!(
        page(&one),
        page(&two),
        "the page follows the new entry name"
    );
    // Rebuilt in place, only the files on the leaf's import path (and the
    // page naming the entry) are written again: 10 files, 4 unchanged.
    let again = build_ok(&t.src, &one, &[]);
    assert!(
        again.stdout.contains("built 10 files") && again.stdout.contains(", 4 unchanged"),
        "{}",
        again.stdout
    );
}

#[test]
fn importmap_maps_every_module_and_leaves_specifiers_alone() {
    let t = esm_tree();
    let out = t.out("dist");
    let run = build_ok(
        &t.src,
        &out,
        &["--importmap", "--base-url", "https://static.example.com/"],
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let f = files(&out);
    let map: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("importmap.json")).unwrap()).unwrap();
    let imports = map["imports"].as_object().unwrap();
    assert_eq!(imports.len(), MODULES.len(), "{map}");
    for m in MODULES {
        assert_ne!(f[*m], *m, "{m} is fingerprinted with --importmap");
        assert_eq!(
            imports[&format!("https://static.example.com/{m}")],
            format!("https://static.example.com/{}", f[*m])
        );
        // Specifiers stay as written.
        let src = fs::read(t.src.join(m)).unwrap();
        assert_eq!(fs::read(out.join(&f[*m])).unwrap(), src, "{m}");
    }
    let snippet = fs::read_to_string(out.join("importmap.html")).unwrap();
    let body = snippet
        .strip_prefix("<script type=\"importmap\">\n")
        .and_then(|s| s.strip_suffix("</script>\n"))
        .expect(&snippet);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        map
    );
    // The page in the tree carries it too.
    let page = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains(&snippet), "{page}");
}

#[test]
fn a_module_that_does_not_parse_is_reported_and_kept() {
    let t = Tree::with(&[
        ("broken.js", b"import { from './x.js'\n"),
        ("x.js", b"export {}\n"),
    ]);
    let out = t.out("dist");
    let run = build_ok(&t.src, &out, &[]);
    assert!(
        run.stderr.contains("broken.js: not valid JavaScript"),
        "{}",
        run.stderr
    );
    let f = files(&out);
    assert_eq!(
        fs::read(out.join(&f["broken.js"])).unwrap(),
        b"import { from './x.js'\n"
    );
    let strict = build(&t.src, &t.out("strict"), &["--strict"]);
    assert!(!strict.status.success());
}

#[test]
fn the_manifest_carries_the_module_graph_and_the_page_gets_its_preloads() {
    let t = esm_tree();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let list = |k: &str, field: &str| -> Vec<String> {
        m[k][field]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    // As the fixture's sources say (see its README), in source order.
    assert_eq!(
        list("js/main.js", "imports"),
        ["js/lib/a.js", "js/cycle/ping.js", "js/side.mjs"]
    );
    assert_eq!(list("js/main.js", "dynamicImports"), ["js/lazy.js"]);
    assert_eq!(list("js/main.js", "assets"), ["img/dot.png"]);
    assert_eq!(list("js/lib/b.js", "imports"), ["js/lib/leaf.js"]);
    assert_eq!(list("js/cycle/pong.js", "imports"), ["js/cycle/ping.js"]);
    assert!(list("js/lib/leaf.js", "imports").is_empty());
    assert_eq!(list("index.html", "imports"), ["js/main.js"]);

    // The node preloads the page's static module graph (not the lazy
    // module), each once, the entry first, with its integrity.
    let f = files(&out);
    let srv = common::Server::start(&out, &common::config_with(""));
    let r = srv.get("/index.html");
    let links = r.header_all("link");
    let statics = [
        "js/main.js",
        "js/lib/a.js",
        "js/lib/b.js",
        "js/lib/leaf.js",
        "js/cycle/ping.js",
        "js/cycle/pong.js",
        "js/side.mjs",
    ];
    assert_eq!(links.len(), statics.len(), "{links:?}");
    assert!(
        links[0].starts_with(&format!("</{}>", f["js/main.js"])),
        "{links:?}"
    );
    for l in statics {
        let sri = m[l]["integrity"].as_str().unwrap();
        let want = format!(
            "</{}>; rel=modulepreload; crossorigin; integrity=\"{sri}\"",
            f[l]
        );
        assert!(links.contains(&want.as_str()), "{want} not in {links:?}");
    }
}
