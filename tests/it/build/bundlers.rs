//! `cdn-edge build` on what real bundlers wrote (a Vite 8 app and a webpack
//! 5 app, built by their own tools and kept in `fixtures/`, see their
//! READMEs), on HTML entry points, and the warnings a person can act on.
//! Each built tree is then served by a real node.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::support::*;
use crate::common;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "public, no-cache";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/build/fixtures")
        .join(name)
        .join("dist")
}

/// The public files of a built tree, without siblings and the manifest.
fn served_files(out: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot_public(out)
        .into_iter()
        .filter(|(k, _)| {
            ![".br", ".zst", ".gz"].iter().any(|e| k.ends_with(e)) && k != "manifest.json"
        })
        .collect()
}

/// The values of the `src` and `href` attributes of a page, quoted or not
/// (a test-side scan of known fixtures, not the build's tokenizer).
fn page_refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" src=", " href="] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            let v = &rest[i + attr.len()..];
            let (value, len) = match v.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = v[1..].find(q).unwrap();
                    (&v[1..1 + end], end + 2)
                }
                _ => {
                    let end = v.find([' ', '>']).unwrap();
                    (&v[..end], end)
                }
            };
            out.push(value.to_string());
            rest = &v[len..];
        }
    }
    out
}

/// Every name of `imports`, `dynamicImports`, `css` and `assets` of every
/// entry is a key of the manifest.
fn graph_is_closed(m: &serde_json::Map<String, serde_json::Value>) {
    for (k, e) in m {
        for field in ["imports", "dynamicImports", "css", "assets"] {
            for v in e[field].as_array().into_iter().flatten() {
                let v = v.as_str().unwrap();
                assert!(m.contains_key(v), "{k}.{field} names {v}, not a key");
            }
        }
    }
}

fn strings(e: &serde_json::Value, field: &str) -> Vec<String> {
    e[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} missing in {e}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Serves `out` and checks: every bundler-hashed file immutable, the page
/// no-cache, every reference of the page 200.
fn serve_and_check(out: &Path, hashed: &BTreeSet<String>) {
    let srv = common::Server::start(out, &common::config_with(""));
    for f in hashed {
        let r = srv.get(&format!("/{f}"));
        assert_eq!(r.status, 200, "{f}: {}", r.summary());
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{f}");
        assert!(r.body == fs::read(out.join(f)).unwrap(), "{f} bytes");
    }
    let r = srv.get("/index.html");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("cache-control"), Some(NO_CACHE), "index.html");
    let html = fs::read_to_string(out.join("index.html")).unwrap();
    let refs = page_refs(&html);
    assert!(refs.len() >= 2, "{refs:?}");
    for u in refs {
        let r = srv.get(&u);
        assert_eq!(
            r.status,
            200,
            "{u} referenced by index.html: {}",
            r.summary()
        );
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{u}");
    }
}

#[test]
fn a_vite_app_keeps_its_names_and_graph_and_its_page_is_an_entry_point() {
    let dist = fixture("vite");
    let vite: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&fs::read(dist.join(".vite/manifest.json")).unwrap()).unwrap();
    let t = Tree::empty();
    let out = t.out("out");
    let r = build_ok(&dist, &out, &["--strict"]);
    assert!(!r.stderr.contains("warning"), "{}", r.show());
    let m = manifest(&out);

    // Every file Vite hashed is kept under its name, bytes untouched: no
    // name is hashed twice. Only the public/ copy (favicon.svg) is renamed.
    let input = snapshot(&dist);
    let hashed: BTreeSet<String> = input
        .keys()
        .filter(|k| k.starts_with("assets/"))
        .cloned()
        .collect();
    assert_eq!(hashed.len(), 5, "{hashed:?}");
    let served = served_files(&out);
    for f in &hashed {
        assert!(served[f] == input[f], "{f}: bytes changed");
        assert_eq!(mfile(&m, f), *f, "{f} listed under its own name");
        assert_eq!(m[f]["fingerprinted"], true, "{f}");
        assert!(m[f]["integrity"].as_str().unwrap().starts_with("sha384-"));
        assert!(m[f]["encodings"].is_object());
    }
    let favicon = mfile(&m, "favicon.svg");
    assert_eq!(
        favicon,
        fp_path("favicon.svg", &b3(&input["favicon.svg"]), 10)
    );
    let want: BTreeSet<String> = hashed
        .iter()
        .cloned()
        .chain(["favicon.svg".into(), favicon.clone(), "index.html".into()])
        .collect();
    assert_eq!(served.keys().cloned().collect::<BTreeSet<_>>(), want);
    assert!(!out.join(".vite").exists(), "Vite's manifest is not copied");

    // The page keeps its name and only its renamed reference changes.
    assert_eq!(mfile(&m, "index.html"), "index.html");
    assert_eq!(m["index.html"]["fingerprinted"], false);
    let page = String::from_utf8(input["index.html"].clone()).unwrap();
    assert_eq!(
        String::from_utf8(served["index.html"].clone()).unwrap(),
        page.replace("\"/favicon.svg\"", &format!("\"/{favicon}\""))
    );

    // Vite's logical names and graph carry over.
    let entry_chunk = vite["index.html"]["file"].as_str().unwrap().to_string();
    for (key, e) in &vite {
        let file = e["file"].as_str().unwrap();
        let ours = if key == "index.html" { file } else { key };
        assert_eq!(mfile(&m, ours), file, "{key}");
    }
    assert_eq!(
        strings(&m["index.html"], "imports"),
        std::slice::from_ref(&entry_chunk)
    );
    let chunk = &m[&entry_chunk];
    assert_eq!(strings(chunk, "dynamicImports"), ["src/details.js"]);
    assert_eq!(strings(chunk, "css"), strings(&vite["index.html"], "css"));
    assert_eq!(
        strings(chunk, "assets"),
        strings(&vite["index.html"], "assets")
    );
    assert_eq!(strings(&m["src/details.js"], "imports"), [entry_chunk]);
    graph_is_closed(&m);

    serve_and_check(&out, &hashed);
}

#[test]
fn a_webpack_app_keeps_its_names_and_its_manifest_is_read() {
    let dist = fixture("webpack");
    let t = Tree::empty();
    let out = t.out("out");
    let r = build_ok(&dist, &out, &["--strict"]);
    assert!(!r.stderr.contains("warning"), "{}", r.show());
    let m = manifest(&out);
    let input = snapshot(&dist);
    let hashed: BTreeSet<String> = input
        .keys()
        .filter(|k| k.ends_with(".js") || k.ends_with(".css") || k.ends_with(".png"))
        .cloned()
        .collect();
    assert_eq!(hashed.len(), 4, "{hashed:?}");
    let served = served_files(&out);
    let want: BTreeSet<String> = hashed
        .iter()
        .cloned()
        .chain(["index.html".into()])
        .collect();
    assert_eq!(
        served.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "no second hash, no copy of assets-manifest.json"
    );
    for f in &hashed {
        assert!(served[f] == input[f], "{f}: bytes changed");
        assert_eq!(mfile(&m, f), *f);
    }
    assert!(
        served["index.html"] == input["index.html"],
        "nothing to rewrite"
    );
    assert_eq!(m["index.html"]["fingerprinted"], false);

    // webpack-assets-manifest's names, and its entry point's graph.
    let wp: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&input["assets-manifest.json"]).unwrap();
    for (key, v) in wp.iter().filter(|(k, _)| *k != "entrypoints") {
        assert_eq!(mfile(&m, key), v["src"].as_str().unwrap(), "{key}");
    }
    let main_js = wp["main.js"]["src"].as_str().unwrap();
    let main_css = wp["main.css"]["src"].as_str().unwrap();
    assert_eq!(strings(&m["main.js"], "css"), [main_css]);
    assert_eq!(strings(&m[main_js], "css"), [main_css]);
    graph_is_closed(&m);

    serve_and_check(&out, &hashed);
}

#[test]
fn a_hand_made_page_is_rewritten_and_served_no_cache() {
    let t = Tree::with(&[
        (
            "index.html",
            b"<!doctype html>\n<link rel=stylesheet href=\"css/app.css\">\n<img src=img/a.png srcset='img/a.png 1x, img/b.png 2x' style=\"background:url(img/b.png)\">\n<script type=\"importmap\">{\"imports\": {\"app\": \"/js/app.js\"}}</script>\n",
        ),
        ("css/app.css", b"body { background: url(../img/a.png) }\n"),
        ("img/a.png", b"a"),
        ("img/b.png", b"b"),
        ("js/app.js", b"export {};\n"),
    ]);
    let out = t.out("out");
    build_ok(&t.src, &out, &["--strict"]);
    let m = manifest(&out);
    let page = fs::read_to_string(out.join("index.html")).unwrap();
    let (css, a, b, js) = (
        mfile(&m, "css/app.css"),
        mfile(&m, "img/a.png"),
        mfile(&m, "img/b.png"),
        mfile(&m, "js/app.js"),
    );
    assert_eq!(
        page,
        format!("<!doctype html>\n<link rel=stylesheet href=\"{css}\">\n<img src={a} srcset='{a} 1x, {b} 2x' style=\"background:url({b})\">\n<script type=\"importmap\">{{\"imports\": {{\"app\": \"/{js}\"}}}}</script>\n")
    );
    assert_eq!(mfile(&m, "index.html"), "index.html");
    let srv = common::Server::start(&out, &common::config_with(""));
    let r = srv.get("/index.html");
    assert_eq!(r.header("cache-control"), Some(NO_CACHE), "{}", r.summary());
    for f in [&css, &a, &b, &js] {
        let r = srv.get(&format!("/{f}"));
        assert_eq!(r.status, 200, "{f}");
        assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "{f}");
    }

    // --fingerprint-html: the page is renamed like any file.
    let out2 = t.out("out2");
    build_ok(&t.src, &out2, &["--fingerprint-html"]);
    let m2 = manifest(&out2);
    let page2 = mfile(&m2, "index.html");
    assert!(
        page2.starts_with("index.") && page2 != "index.html",
        "{page2}"
    );
    assert_eq!(m2["index.html"]["fingerprinted"], true);
}

#[test]
fn warnings_name_file_and_line_and_strict_fails_on_them() {
    let t = Tree::with(&[
        (
            "index.html",
            b"<!doctype html>\n<p>hi</p>\n<img src=\"img/gone.png\">\n",
        ),
        (
            "css/latin1.css",
            b"/* caf\xe9 */ body { background: url(x.png) }\n",
        ),
        (
            "css/app.css",
            b"body {}\n\n.a { background: url(missing.svg) }\n",
        ),
    ]);
    let out = t.out("out");
    let r = build_ok(&t.src, &out, &[]);
    let warned = |needle: &str| {
        r.stderr
            .lines()
            .any(|l| l.starts_with("warning: ") && l.contains(needle))
    };
    assert!(
        warned("index.html:3: missing reference img/gone.png"),
        "{}",
        r.show()
    );
    assert!(
        warned("css/app.css:3: missing reference missing.svg"),
        "{}",
        r.show()
    );
    assert!(warned("css/latin1.css: not UTF-8"), "{}", r.show());

    let out2 = t.out("strict");
    let r = build(&t.src, &out2, &["--strict"]);
    assert_eq!(r.status.code(), Some(1), "{}", r.show());
    assert!(r.stderr.contains("3 warning(s)"), "{}", r.show());
    assert!(!out2.join("manifest.json").exists());
}

#[test]
fn a_web_app_manifest_json_stays_an_asset() {
    let pwa = b"{\"name\": \"App\", \"icons\": [{\"src\": \"/icon.png\"}]}\n";
    let t = Tree::with(&[("site.webmanifest", b"{}"), ("icon.png", b"i")]);
    t.write("manifest.json", pwa);
    let out = t.out("out");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let f = mfile(&m, "manifest.json");
    assert!(f.starts_with("manifest.") && f.ends_with(".json"), "{f}");
    assert!(fs::read(out.join(&f)).unwrap() == pwa);
}
