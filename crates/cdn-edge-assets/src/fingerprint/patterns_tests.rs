use super::*;
use crate::fingerprint::fingerprinted_name;
use proptest::prelude::*;

fn default() -> Patterns {
    Patterns::default()
}

/// Names as the tools write them (default settings unless said).
const FINGERPRINTED: &[(&str, &str)] = &[
    // cdn-edge build: blake3 hex, 10 digits by default (8 to 64).
    ("cdn-edge build", "app.3f2a9c1b7d.css"),
    ("cdn-edge build", "jquery.min.0123456789.js"),
    ("cdn-edge build", "logo.6ce24c5802.svg"),
    ("cdn-edge build, all digits", "app.2024010112.css"),
    // Vite 5+ / Rollup 4: `assets/[name]-[hash]`, 8 base64url characters.
    ("Vite", "index-DiwrgTda.js"),
    ("Vite", "vendor-BxK3f_9a.js"),
    ("Vite", "index-D8b4DHJx.css"),
    ("Vite", "react-CHdo91hT.svg"),
    ("Vite, '-' in the hash", "index-B-5Kx2aZ.js"),
    ("Vite, hash starting with '-'", "index--Kx2aZ9q.js"),
    ("Vite, '_' in the hash", "index-_aZ3k9Qw.js"),
    ("Vite, dashed name", "Inter-Variable-DiwrgTda.woff2"),
    ("Vite, source map", "index-DiwrgTda.js.map"),
    ("Vite legacy plugin", "polyfills-legacy-CqP2s8Zw.js"),
    ("Rollup 4 chunk", "chunk-C3fdgmkC.js"),
    // Vite 4 / Rollup 3: 8 hex digits after `-`.
    ("Vite 4", "index-5d1c3f2a.js"),
    ("Rollup 3", "vendor-a1b2c3d4.js"),
    // SvelteKit and Astro: `[name].[hash]` with Vite's hash.
    ("SvelteKit", "start.BXkSd2a1.js"),
    ("SvelteKit", "app.CZ0Nq5sJ.js"),
    ("Astro", "hoisted.BxK3f_9a.js"),
    // webpack 5: `[name].[contenthash]`, 20 hex digits by default.
    ("webpack", "main.7e2c49a4a1d8f3b2c1a0.js"),
    ("webpack", "main.7e2c49a4a1d8f3b2.js"),
    ("webpack chunk", "123.0f1e2d3c.chunk.js"),
    (
        "webpack",
        "vendors-node_modules_react_index_js.3b1c2d4e5f6a7b8c9d0e.js",
    ),
    ("Create React App", "main.073c9b0a.css"),
    (
        "Create React App media",
        "logo.6ce24c58023cc2f8fd88fe9d219db6c6.svg",
    ),
    ("Angular <= 16", "main-es2015.8f2d5c1a9b3e4f6a.js"),
    ("Vue CLI", "chunk-vendors.5f3e4a2b.js"),
    // Next.js: `-[16 hex]`.
    ("Next.js", "main-0123456789abcdef.js"),
    ("Next.js", "_app-1f2e3d4c5b6a7980.js"),
    ("Next.js", "webpack-5f3c0e4d1a2b3c4d.js"),
    // esbuild (`[name]-[hash]`, 8 base32 characters) and Angular 17+.
    ("esbuild", "chunk-5JZG2WQ4.js"),
    ("esbuild, letters only", "chunk-KRPGHKOW.js"),
    ("Angular 17", "main-2WLW5ZSE.js"),
    ("Angular 17", "polyfills-RT5I6R6G.js"),
    ("Angular 17", "styles-5INURTSO.css"),
    // Parcel 2: `[name].[hash].[ext]`, 8 hex digits.
    ("Parcel", "index.975ef6c8.js"),
    ("Parcel", "index.3d7b5f0a.css"),
    ("Parcel", "logo.6c1a2b3d.png"),
];

/// Names that must keep the revalidate policy.
const PLAIN: &[&str] = &[
    "app.css",
    "index.html",
    "jquery-3.7.1.js",
    "jquery-3.7.1.min.js",
    "lodash-4.17.21.js",
    "my-component.js",
    "index-abcdefgh.js",
    "app-settings.js",
    "report-20240101.pdf",
    "IMG-20240101.jpg",
    "backup-deadbeef.css",
    "OpenSans-SemiBold.woff2",
    "Inter-Variable.woff2",
    "Poppins-DemiBold.ttf",
    "jquery.Validate.js",
    "bootstrap.bundle.min.js",
    "react-dom.production.min.js",
    "font-awesome.min.css",
    "roboto-v30-latin-regular.woff2",
    "android-chrome-192x192.png",
    "favicon-32x32.png",
    "safari-pinned-tab.svg",
    "polyfills-es2015.js",
    "app.3f2a9c1.css",
    "3f2a9c1b00.css",
    "app.css.3f2a9c1b00",
    "app.zzzzzzzzzz.css",
    "LICENSE",
];

#[test]
fn real_names_from_each_tool_are_fingerprinted() {
    let p = default();
    for (tool, name) in FINGERPRINTED {
        assert!(
            p.matches(name),
            "{tool}: {name} should count as fingerprinted"
        );
    }
}

#[test]
fn words_versions_and_numbers_are_not() {
    let p = default();
    for name in PLAIN {
        assert!(!p.matches(name), "{name} should not count as fingerprinted");
    }
}

/// The trade-off, pinned: an 8-character tail after `-` that mixes
/// letters and digits or cases like a hash, or is all capitals like an
/// esbuild hash, counts. A `[[rules]]` override or a manifest (whose plain
/// names are never taken for fingerprinted) corrects such a file.
#[test]
fn known_false_positives() {
    let p = default();
    for name in [
        "charts-BarChart.js",
        "icons-v2-solid.css",
        "app-SETTINGS.css",
    ] {
        assert!(p.matches(name), "{name}");
    }
}

#[test]
fn looks_random_tells_hashes_from_words() {
    for h in ["DiwrgTda", "BxK3f_9a", "5d1c3f2a", "B-5Kx2aZ", "aB", "Abc1"] {
        assert!(looks_random(h), "{h}");
    }
    for w in [
        "settings", "SETTINGS", "20240101", "Variable", "SemiBold", "Settings", "set_ting", "",
        "--------",
    ] {
        assert!(!looks_random(w), "{w}");
    }
}

#[test]
fn vite_hashes_are_almost_always_recognised() {
    // Deterministic pseudo-random 8-character base64url hashes, as Rollup
    // makes them: the share recognised must match the documented rate.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let p = default();
    let n = 20_000;
    let recognised = (0..n)
        .filter(|i: &u32| {
            let bytes = blake3::hash(&i.to_le_bytes());
            let hash: String = bytes.as_bytes()[..8]
                .iter()
                .map(|b| ALPHABET[(*b & 63) as usize] as char)
                .collect();
            p.matches(&format!("index-{hash}.js"))
        })
        .count();
    let missed = n as usize - recognised;
    // About 1 in 240 expected (0.42 %): allow up to 1 %.
    assert!(missed < n as usize / 100, "{missed} of {n} missed");
}

#[test]
fn a_custom_list_replaces_the_defaults() {
    let p = Patterns::new(&[r"^_nuxt/"]).unwrap();
    assert!(!p.matches("app.3f2a9c1b7d.css"));
    let p = Patterns::new(&[r"^(?P<hash>[A-Za-z0-9_-]{8})\.js$"]).unwrap();
    assert!(p.matches("C3fdgmkC.js"));
    assert!(!p.matches("Settings.js"));
    let none: [&str; 0] = [];
    assert!(!Patterns::new(&none).unwrap().matches("app.3f2a9c1b7d.css"));
}

#[test]
fn bad_patterns_are_reported_with_their_index() {
    let e = Patterns::new(&[r"\.[0-9a-f]{8,}\.", "a("]).unwrap_err();
    assert_eq!(e.index, 1);
    assert!(!e.message.contains('\n'), "{}", e.message);
    assert!(e.message.contains("unclosed group"), "{}", e.message);
    let e = Patterns::new(&[""]).unwrap_err();
    assert_eq!(e.index, 0);
}

proptest! {
    /// Every name `cdn-edge build` writes is recognised by the defaults,
    /// whatever `--hash-len` (8 to 64) and the source name.
    #[test]
    fn build_names_are_recognised(
        stem in "[A-Za-z][A-Za-z0-9._-]{0,16}",
        ext in "[a-z0-9]{1,5}",
        hash in "[0-9a-f]{8,64}",
    ) {
        let name = fingerprinted_name(&format!("{stem}.{ext}"), &hash);
        prop_assert!(default().matches(&name), "{}", name);
    }
}

#[test]
fn the_hash_is_found_where_each_family_writes_it() {
    let p = Patterns::default();
    let hash = |n: &str| p.hash_span(n).map(|r| n[r].to_string());
    assert_eq!(hash("app.3f2a9c1b7d.css").as_deref(), Some("3f2a9c1b7d"));
    assert_eq!(hash("index-DiwrgTda.js").as_deref(), Some("DiwrgTda"));
    assert_eq!(hash("index-5d1c3f2a.js").as_deref(), Some("5d1c3f2a"));
    assert_eq!(hash("chunk-5JZG2WQ4.js").as_deref(), Some("5JZG2WQ4"));
    assert_eq!(hash("app.CZ0Nq5sJ.js").as_deref(), Some("CZ0Nq5sJ"));
    assert_eq!(hash("app-settings.js"), None);
    assert_eq!(hash("app.js"), None);
}
