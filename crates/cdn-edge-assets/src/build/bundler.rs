//! What a bundler already said about the tree being built: its manifest's
//! logical names for the files it wrote and its chunk graph, read from
//! Vite's `.vite/manifest.json` (or a Vite-format `manifest.json`),
//! webpack-manifest-plugin's `manifest.json` and webpack-assets-manifest's
//! `assets-manifest.json` at the root of SRC.
//!
//! A root `manifest.json` counts as a bundler's only when it reads as one
//! (an object whose values are Vite entries, file names or `{ "src" }`,
//! at least one naming a file of SRC): a web app manifest (`"name"`,
//! `"icons"`) stays an ordinary asset. The bundler manifests themselves are
//! not copied to the output: our `manifest.json` carries everything they
//! said (and their root `manifest.json` would collide with ours).
//!
//! Graph values are turned into keys of our manifest: chunk keys stay the
//! bundler's keys (save one that names another file of SRC, as Vite's
//! `index.html` key names the page's entry chunk: that chunk is known by
//! its path instead, and the page imports it); `css` and `assets`, which
//! bundlers give as file paths, stay file paths (every file is listed
//! under its path).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

/// A file's place in a bundler's graph, as keys of our manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Statically imported chunks.
    pub imports: Vec<String>,
    /// Chunks loaded with `import()`.
    pub dynamic_imports: Vec<String>,
    /// Stylesheets the chunk needs.
    pub css: Vec<String>,
    /// Other files the chunk uses.
    pub assets: Vec<String>,
}

/// What the bundler manifests of a tree say.
#[derive(Debug, Default)]
pub struct Bundled {
    /// Logical paths of SRC that are bundler manifests (not built).
    pub manifests: BTreeSet<String>,
    /// The bundler's logical names of each file (by its logical path).
    pub names: BTreeMap<String, BTreeSet<String>>,
    /// The graph of each file (by its logical path).
    pub graphs: BTreeMap<String, Graph>,
    /// What could not be used, one line each.
    pub warnings: Vec<String>,
}

/// Where Vite writes its manifest (a dot-directory `walk` skips).
const VITE: &str = ".vite/manifest.json";
/// Root files that may be a webpack (or Vite-format) manifest.
const ROOT_CANDIDATES: [&str; 2] = ["manifest.json", "assets-manifest.json"];

/// Reads the bundler manifests of `src`, whose files are `files`.
pub fn read(src: &Path, files: &BTreeMap<String, Vec<u8>>) -> Bundled {
    let mut b = Bundled::default();
    if let Ok(bytes) = std::fs::read(src.join(VITE)) {
        match serde_json::from_slice::<Map<String, Value>>(&bytes) {
            Ok(m) if is_vite(&m) => vite(VITE, &m, files, &mut b),
            _ => b
                .warnings
                .push(format!("{VITE}: not a Vite manifest, not used")),
        }
    }
    for name in ROOT_CANDIDATES {
        let Some(bytes) = files.get(name) else {
            continue;
        };
        let Ok(m) = serde_json::from_slice::<Map<String, Value>>(bytes) else {
            continue;
        };
        if is_vite(&m) {
            b.manifests.insert(name.to_string());
            vite(name, &m, files, &mut b);
        } else if is_webpack(&m, files) {
            b.manifests.insert(name.to_string());
            webpack(name, &m, files, &mut b);
        }
    }
    b
}

/// Whether every value is a Vite entry (an object with a `file`).
fn is_vite(m: &Map<String, Value>) -> bool {
    !m.is_empty()
        && m.values()
            .all(|v| v.get("file").is_some_and(Value::is_string))
}

/// The file a webpack manifest value names: a string, or `{ "src" }`.
fn webpack_file(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v.get("src").and_then(Value::as_str))
}

/// Whether every value (but `entrypoints`) names a file, one of them in SRC.
fn is_webpack(m: &Map<String, Value>, files: &BTreeMap<String, Vec<u8>>) -> bool {
    let mut values = m.iter().filter(|(k, _)| *k != "entrypoints").peekable();
    values.peek().is_some()
        && m.iter()
            .filter(|(k, _)| *k != "entrypoints")
            .all(|(_, v)| webpack_file(v).is_some())
        && values.any(|(_, v)| webpack_file(v).and_then(|f| locate(f, files)).is_some())
}

/// The logical path of SRC a bundler's file value names: relative to the
/// output root, or an absolute path or URL whose path is (the public path
/// `/` or `/static/` and such are tried by dropping leading segments).
fn locate(value: &str, files: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    let path = match value.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => value,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut p = path.trim_start_matches('/');
    loop {
        if files.contains_key(p) {
            return Some(p.to_string());
        }
        p = p.split_once('/')?.1;
    }
}

/// Reads a Vite manifest (`file`, `imports`, `dynamicImports`, `css`, `assets`).
fn vite(name: &str, m: &Map<String, Value>, files: &BTreeMap<String, Vec<u8>>, b: &mut Bundled) {
    let strings = |v: &Value, field: &str| -> Vec<String> {
        v.get(field)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Each key's file, and the key our manifest knows the chunk by.
    let mut file_of = BTreeMap::new();
    let mut key_of = BTreeMap::new();
    for (key, v) in m {
        let value = v.get("file").and_then(Value::as_str).unwrap_or_default();
        let Some(file) = locate(value, files) else {
            b.warnings.push(format!(
                "{name}: entry {key:?} names {value}, which is not in the source tree"
            ));
            continue;
        };
        let ours = if files.contains_key(key) && *key != file {
            // Vite's key for an HTML page names the page's entry chunk:
            // the page keeps its key and imports the chunk.
            b.graphs
                .entry(key.clone())
                .or_default()
                .imports
                .push(file.clone());
            file.clone()
        } else {
            b.names.entry(file.clone()).or_default().insert(key.clone());
            key.clone()
        };
        key_of.insert(key.clone(), ours);
        file_of.insert(key.clone(), file);
    }
    for (key, file) in &file_of {
        let v = &m[key];
        let keys = |field| {
            strings(v, field)
                .iter()
                .filter_map(|k| key_of.get(k).cloned())
                .collect()
        };
        let paths = |field| {
            strings(v, field)
                .iter()
                .filter_map(|f| locate(f, files))
                .collect()
        };
        let g = b.graphs.entry(file.clone()).or_default();
        if g.imports.is_empty() && g.css.is_empty() {
            g.imports = keys("imports");
            g.dynamic_imports = keys("dynamicImports");
            g.css = paths("css");
            g.assets = paths("assets");
        }
    }
}

/// Reads a webpack-manifest-plugin / webpack-assets-manifest manifest:
/// names, and for each entry point of `entrypoints`, its last script (the
/// entry chunk) imports the others and needs the stylesheets.
fn webpack(name: &str, m: &Map<String, Value>, files: &BTreeMap<String, Vec<u8>>, b: &mut Bundled) {
    for (key, v) in m.iter().filter(|(k, _)| *k != "entrypoints") {
        let value = webpack_file(v).unwrap_or_default();
        match locate(value, files) {
            Some(file) if file != *key => {
                b.names.entry(file).or_default().insert(key.clone());
            }
            Some(_) => {}
            None => b.warnings.push(format!(
                "{name}: entry {key:?} names {value}, which is not in the source tree"
            )),
        }
    }
    let Some(entrypoints) = m.get("entrypoints").and_then(Value::as_object) else {
        return;
    };
    for e in entrypoints.values() {
        let assets = e.get("assets").unwrap_or(e);
        let list = |kind: &str| -> Vec<String> {
            assets
                .get(kind)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|f| locate(f, files))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut js = list("js");
        let Some(main) = js.pop() else { continue };
        let g = b.graphs.entry(main).or_default();
        g.imports = js;
        g.css = list("css");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(names: &[&str]) -> BTreeMap<String, Vec<u8>> {
        names.iter().map(|n| (n.to_string(), Vec::new())).collect()
    }

    #[test]
    fn vite_names_and_graph() {
        let files = tree(&[
            "index.html",
            "assets/index-B1.js",
            "assets/d-C2.js",
            "assets/index-D3.css",
            "assets/logo-E4.png",
        ]);
        let m: Map<String, Value> = serde_json::from_str(
            r#"{
            "index.html": {"file": "assets/index-B1.js", "isEntry": true,
                "dynamicImports": ["src/d.js"], "css": ["assets/index-D3.css"],
                "assets": ["assets/logo-E4.png"]},
            "src/d.js": {"file": "assets/d-C2.js", "imports": ["index.html"]},
            "src/logo.png": {"file": "assets/logo-E4.png"},
            "gone.js": {"file": "assets/gone-F5.js"}
        }"#,
        )
        .unwrap();
        let mut b = Bundled::default();
        vite("m", &m, &files, &mut b);
        assert_eq!(b.graphs["index.html"].imports, ["assets/index-B1.js"]);
        let entry = &b.graphs["assets/index-B1.js"];
        assert_eq!(entry.dynamic_imports, ["src/d.js"]);
        assert_eq!(entry.css, ["assets/index-D3.css"]);
        assert_eq!(entry.assets, ["assets/logo-E4.png"]);
        assert_eq!(b.graphs["assets/d-C2.js"].imports, ["assets/index-B1.js"]);
        assert!(b.names["assets/d-C2.js"].contains("src/d.js"));
        assert!(!b.names.contains_key("assets/index-B1.js"));
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        assert!(b.warnings[0].contains("gone.js"));
    }

    #[test]
    fn webpack_manifests_and_web_app_manifests() {
        let files = tree(&[
            "main.1a2b3c4d.js",
            "runtime.5e6f7a8b.js",
            "main.9c0d1e2f.css",
        ]);
        let plugin: Map<String, Value> = serde_json::from_str(
            r#"{"main.js": "/main.1a2b3c4d.js", "main.css": "/static/main.9c0d1e2f.css",
                "entrypoints": {"main": {"assets": {"js": ["runtime.5e6f7a8b.js", "main.1a2b3c4d.js"], "css": ["main.9c0d1e2f.css"]}}}}"#,
        )
        .unwrap();
        assert!(is_webpack(&plugin, &files));
        let mut b = Bundled::default();
        webpack("m", &plugin, &files, &mut b);
        assert!(b.names["main.9c0d1e2f.css"].contains("main.css"));
        assert_eq!(
            b.graphs["main.1a2b3c4d.js"].imports,
            ["runtime.5e6f7a8b.js"]
        );
        assert_eq!(b.graphs["main.1a2b3c4d.js"].css, ["main.9c0d1e2f.css"]);
        let pwa: Map<String, Value> =
            serde_json::from_str(r#"{"name": "App", "icons": [{"src": "i.png"}]}"#).unwrap();
        assert!(!is_webpack(&pwa, &files) && !is_vite(&pwa));
        let names_only: Map<String, Value> =
            serde_json::from_str(r#"{"name": "App", "short_name": "A"}"#).unwrap();
        assert!(!is_webpack(&names_only, &files));
    }
}
