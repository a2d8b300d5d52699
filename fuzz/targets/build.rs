//! What a build tree hands the node: stylesheets and scripts (the
//! reference rewriter of `cdn-edge build`) and `manifest.json` (read by
//! the server to know fingerprinted files and their hashes).

use proptest::prelude::*;

use super::{bytes, every_seed, text};
use crate::asset::{etag_value, Coding};
use crate::build::css;
use crate::store::manifest_index::ManifestIndex;

// -------------------------------------------------------- CSS rewriter --

fn check_css(src: &str) {
    let from = "css/app.css";
    for path in css::css_dependencies(src, from) {
        assert!(
            !path.starts_with('/')
                && !path
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == ".."),
            "{src:?}: dependency {path:?} not normalised"
        );
    }
    // Nothing known: the text is unchanged.
    let same = css::rewrite_css(src, from, &|_| None);
    assert_eq!(
        same.text, src,
        "rewriting with nothing known changed the text"
    );
    // Everything known: every reference is rewritten, once; rewriting the
    // result again with the same answer finds the new names only.
    let all = css::rewrite_css(src, from, &|p| Some(format!("{p}.0123456789")));
    assert!(all.missing.is_empty(), "{src:?}: {:?}", all.missing);
    let js = css::rewrite_js(src, "js/app.js", &|p| Some(format!("{p}.0123456789")));
    assert!(js.missing.is_empty());
    for url in src.split(['(', ')', '"', '\'', ' ']) {
        if let Some(p) = css::resolve(from, url) {
            assert!(!p.split('/').any(|s| s == ".."), "{url:?} -> {p:?}");
        }
    }
}

#[test]
fn fuzz_css_seeds() {
    every_seed("css", |b| check_css(&String::from_utf8_lossy(b)));
}

proptest! {
    #![proptest_config(super::config("build"))]

    #[test]
    fn fuzz_css(src in text("css")) {
        check_css(&src);
    }
}

// ------------------------------------------------------------- manifest --

/// The node reads `manifest.json` from its root, as after a deploy, and
/// asks it about each file it names: never a panic, and what it vouches
/// for makes a valid ETag.
fn check_manifest(json: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("manifest.json"), json).expect("write manifest");
    let index = ManifestIndex::new(dir.path(), Default::default()).get();
    let names: Vec<String> = serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .map(|o| {
            o.iter()
                .flat_map(|(k, v)| {
                    let file = v.get("file").and_then(|f| f.as_str()).unwrap_or("");
                    [k.clone(), file.to_string()]
                })
                .collect()
        })
        .unwrap_or_default();
    for name in names {
        let rel = name.trim_start_matches('/');
        let _ = index.listing(rel);
        let encoded = Coding::ENCODINGS.map(|c| (Some(c.token()), c));
        for (enc, coding) in std::iter::once((None, Coding::Identity)).chain(encoded) {
            if let Some(k) = index.known(rel, enc) {
                let tag = etag_value(coding, k.blake3);
                assert!(tag.to_str().is_ok(), "{:?}", k.blake3);
            }
        }
    }
}

/// A manifest shaped like the build's, with arbitrary strings where the
/// build would write paths and hashes.
fn manifest_json() -> impl Strategy<Value = Vec<u8>> {
    let hex = prop_oneof![
        "[0-9a-f]{64}",
        "\\PC{64}",
        ".{0,70}",
        "[0-9a-f]{63}[^0-9a-f]"
    ];
    let entry = (
        "[a-z/._-]{1,20}",
        hex.clone(),
        any::<u64>(),
        proptest::option::of(hex),
    );
    proptest::collection::vec(entry, 0..5).prop_map(|entries| {
        let mut m = serde_json::Map::new();
        for (i, (file, blake3, size, br)) in entries.into_iter().enumerate() {
            let mut e = serde_json::json!({
                "file": file, "size": size, "type": "text/css", "blake3": blake3,
                "integrity": "", "encodings": {}
            });
            if let Some(h) = br {
                e["encodings"] = serde_json::json!({ "br": size / 2 });
                e["encodings_blake3"] = serde_json::json!({ "br": h });
            }
            m.insert(format!("logical{i}/{file}"), e);
        }
        serde_json::to_vec(&m).expect("json")
    })
}

#[test]
fn fuzz_manifest_seeds() {
    every_seed("manifest", check_manifest);
}

proptest! {
    #![proptest_config(super::config("build"))]

    #[test]
    fn fuzz_manifest(json in prop_oneof![bytes("manifest"), manifest_json()]) {
        check_manifest(&json);
    }
}
