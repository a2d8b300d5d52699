//! Fingerprint recognition over HTTP: which names get the immutable
//! Cache-Control by the default patterns (real names from Vite, Rollup,
//! webpack, esbuild, Parcel and `cdn-edge build`), a configured pattern
//! list, refusal of a bad pattern, and the plain copies a build writes.

use crate::common;

use common::*;
use std::ffi::OsString;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, no-cache";

fn cache_control(s: &Server, path: &str) -> String {
    let r = s.get(path);
    assert_eq!(r.status, 200, "{path}: {}", r.summary());
    r.header("cache-control").unwrap_or_default().to_string()
}

#[test]
fn bundler_names_are_immutable_by_default() {
    let f = Fixture::new();
    let fingerprinted = [
        "assets/index-DiwrgTda.js",                     // Vite 5+
        "assets/vendor-BxK3f_9a.js",                    // Vite 5+
        "assets/index-D8b4DHJx.css",                    // Vite 5+
        "assets/index-DiwrgTda.js.map",                 // Vite source map
        "assets/index-5d1c3f2a.js",                     // Vite 4 / Rollup 3
        "_app/immutable/app.CZ0Nq5sJ.js",               // SvelteKit
        "static/js/main.7e2c49a4a1d8f3b2.js",           // webpack [contenthash]
        "static/js/123.0f1e2d3c.chunk.js",              // webpack / Create React App chunk
        "chunk-5JZG2WQ4.js",                            // esbuild
        "main-2WLW5ZSE.js",                             // Angular 17+ (esbuild)
        "index.975ef6c8.js",                            // Parcel 2
        "_next/static/chunks/main-0123456789abcdef.js", // Next.js
        "css/app.3f2a9c1b7d.css",                       // cdn-edge build
    ];
    let plain = [
        "js/jquery-3.7.1.js",
        "js/my-component.js",
        "js/index-abcdefgh.js",
        "js/app-settings.js",
        "fonts/OpenSans-SemiBold.woff2",
        "docs/report-20240101.pdf",
    ];
    for p in fingerprinted.iter().chain(&plain) {
        f.write(p, b"x");
    }
    let s = Server::start(&f.root, &config_with(""));
    for p in fingerprinted {
        assert_eq!(cache_control(&s, &format!("/{p}")), IMMUTABLE, "{p}");
    }
    for p in plain {
        assert_eq!(cache_control(&s, &format!("/{p}")), REVALIDATE, "{p}");
    }
    // A 304 carries the same policy.
    let etag = s
        .get("/assets/index-DiwrgTda.js")
        .header("etag")
        .unwrap()
        .to_string();
    let r = s.get_h("/assets/index-DiwrgTda.js", &[("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert_eq!(r.header("cache-control"), Some(IMMUTABLE));
}

#[test]
fn a_configured_list_replaces_the_defaults() {
    let f = Fixture::new();
    f.write("_nuxt/C3fdgmkC.js", b"x");
    f.write("_nuxt/Settings.js", b"x");
    let s = Server::start(
        &f.root,
        &config_with(
            "[cache_control]\nfingerprint_patterns = ['^(?P<hash>[A-Za-z0-9_-]{8})\\.js$']\n",
        ),
    );
    assert_eq!(cache_control(&s, "/_nuxt/C3fdgmkC.js"), IMMUTABLE);
    // The `hash` group must look like a hash, not a word.
    assert_eq!(cache_control(&s, "/_nuxt/Settings.js"), REVALIDATE);
    // The defaults are gone: the build's hex rule no longer applies.
    assert_eq!(cache_control(&s, "/app.3f2a9c1b7d.js"), REVALIDATE);
}

#[test]
fn an_empty_list_turns_name_recognition_off() {
    let f = Fixture::new();
    let s = Server::start(
        &f.root,
        &config_with("[cache_control]\nfingerprint_patterns = []\n"),
    );
    assert_eq!(cache_control(&s, "/app.3f2a9c1b7d.js"), REVALIDATE);
}

#[test]
fn a_bad_pattern_is_refused_at_start_with_one_line() {
    let f = Fixture::new();
    let (status, stderr) = run_config_expect_exit(
        &f.root,
        "[cache_control]\nfingerprint_patterns = ['\\.[0-9a-f]{8,}\\.', 'index-(']\n",
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    let lines = nonempty_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("cache_control.fingerprint_patterns[1]")
            && lines[0].contains("index-(")
            && lines[0].contains("unclosed group"),
        "{stderr}"
    );
}

/// `cdn-edge build` over a Vite output: a name the bundler hashed keeps its
/// name (no second hash, no plain copy) and is immutable; a file it renames
/// is immutable under its new name and its plain copy revalidates.
#[test]
fn build_keeps_bundler_names_and_plain_copies_revalidate() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(src.join("assets")).unwrap();
    std::fs::write(src.join("assets/index-DiwrgTda.js"), b"console.log(1);\n").unwrap();
    std::fs::write(src.join("assets/charts-BarChart.js"), b"console.log(2);\n").unwrap();
    std::fs::write(src.join("assets/app-settings.js"), b"console.log(3);\n").unwrap();
    let (status, stderr) = run_to_exit(
        &[
            OsString::from("build"),
            src.clone().into_os_string(),
            "--out".into(),
            out.clone().into_os_string(),
            "-q".into(),
        ],
        None,
    );
    assert!(status.success(), "{stderr}");
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let manifest = &document["assets"];
    let s = Server::start(&out, &config_with(""));
    for logical in ["assets/index-DiwrgTda.js", "assets/charts-BarChart.js"] {
        let file = manifest[logical]["file"].as_str().unwrap();
        assert_eq!(file, logical, "kept by the fingerprint patterns");
        assert_eq!(cache_control(&s, &format!("/{file}")), IMMUTABLE, "{file}");
    }
    let logical = "assets/app-settings.js";
    let file = manifest[logical]["file"].as_str().unwrap();
    assert_ne!(file, logical);
    assert_eq!(cache_control(&s, &format!("/{file}")), IMMUTABLE, "{file}");
    assert_eq!(
        cache_control(&s, &format!("/{logical}")),
        REVALIDATE,
        "{logical}"
    );
}
