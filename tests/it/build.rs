//! `cdn-edge build`: fingerprinting, CSS/source-map rewriting,
//! precompression, manifest, determinism, incremental rebuilds, pruning,
//! errors, output, and how `serve` treats a built tree.
//!
//! Expected names and bytes are computed here from the fixture, independently
//! of the implementation (blake3 crate, and `common::oracle`: Google's
//! brotli decoder, libdeflate, ring's SHA-384).

mod browser;
mod bundlers;
mod esm;
pub(crate) mod support;
use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use support::*;

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Builds that compare exact file sets: no deltas against earlier builds
/// (those are tested in `dictionaries`).
const NO_DELTAS: &[&str] = &["--dictionary-versions", "0"];

/// Every logical path of the main fixture.
fn main_logical() -> BTreeSet<String> {
    main_sources().into_keys().collect()
}

// ---------------------------------------------------------------------------
// Naming and plain copies
// ---------------------------------------------------------------------------

#[test]
fn fingerprinted_names_follow_the_naming_rules() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), HASH_LEN);
    for (l, want) in &exp.file {
        assert_eq!(&mfile(&m, l), want, "fingerprinted name of {l}");
        assert!(out.join(want).is_file(), "{want} not written");
    }
    // Spot checks of the shapes, written out literally.
    let png = mfile(&m, "img/bg.png");
    let h = &b3(&main_sources()["img/bg.png"])[..10];
    assert_eq!(png, format!("img/bg.{h}.png"));
    let jq = mfile(&m, "js/jquery.min.js");
    let h = &b3(&main_sources()["js/jquery.min.js"])[..10];
    assert_eq!(
        jq,
        format!("js/jquery.min.{h}.js"),
        "hash before the last extension"
    );
    let lic = mfile(&m, "LICENSE");
    let h = &b3(&main_sources()["LICENSE"])[..10];
    assert_eq!(lic, format!("LICENSE.{h}"), "no extension: <name>.<hash>");
    assert_eq!(
        mfile(&m, "js/vendor.0123456789.js"),
        "js/vendor.0123456789.js",
        "an already hashed name is its own fingerprinted name"
    );
    let js_dir: BTreeSet<String> = fs::read_dir(out.join("js"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("vendor."))
        .collect();
    assert_eq!(
        js_dir,
        [
            "vendor.0123456789.js",
            "vendor.0123456789.js.br",
            "vendor.0123456789.js.gz",
            "vendor.0123456789.js.zst"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        "vendor.0123456789.js must not be hashed a second time"
    );
    // Each fingerprint is the blake3 of the written (final) bytes.
    for l in main_logical() {
        if l == "js/vendor.0123456789.js" {
            continue;
        }
        let f = mfile(&m, &l);
        let bytes = fs::read(out.join(&f)).unwrap();
        assert_eq!(
            f,
            fp_path(&l, &b3(&bytes), 10),
            "{l}: hash of final content"
        );
    }
}

#[test]
fn name_edge_cases() {
    let t = Tree::with(&[
        ("0123abcd.js", b"first part is hex: not a hash\n"),
        ("app.abc123.js", b"short hex part: not a hash\n"),
        ("lib.0123456789abcdef.min.js", b"hash in a middle part\n"),
        ("up.0123ABCD.css", b"uppercase hex is hex\n"),
        ("x.css.map", b"{}\n"),
    ]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let h = |c: &[u8]| b3(c)[..10].to_string();
    assert_eq!(
        mfile(&m, "0123abcd.js"),
        format!("0123abcd.{}.js", h(b"first part is hex: not a hash\n"))
    );
    assert_eq!(
        mfile(&m, "app.abc123.js"),
        format!("app.abc123.{}.js", h(b"short hex part: not a hash\n"))
    );
    assert_eq!(
        mfile(&m, "lib.0123456789abcdef.min.js"),
        "lib.0123456789abcdef.min.js"
    );
    assert_eq!(mfile(&m, "up.0123ABCD.css"), "up.0123ABCD.css");
    assert_eq!(mfile(&m, "x.css.map"), format!("x.css.{}.map", h(b"{}\n")));
}

#[test]
fn plain_copies_hold_the_final_content() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), HASH_LEN);
    for (l, want) in &exp.content {
        let plain = fs::read(out.join(l)).unwrap_or_else(|e| panic!("plain {l}: {e}"));
        let fp = fs::read(out.join(mfile(&m, l))).unwrap();
        assert!(plain == *want, "plain {l} must hold the final content");
        assert!(fp == *want, "fingerprinted {l} must hold the final content");
    }
}

#[test]
fn dotfiles_are_skipped_and_the_tree_is_exactly_as_expected() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let keys: BTreeSet<String> = m.keys().cloned().collect();
    assert_eq!(
        keys,
        main_logical(),
        "manifest keys = the non-hidden files of SRC"
    );
    let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
    let want = expected_public_files(&m, &[&m]);
    assert_eq!(
        public, want,
        "files outside .cdn-edge/: exactly manifest.json, plain names, fingerprinted names and kept siblings"
    );
    assert!(!out.join(".hidden").exists());
    assert!(!out.join(".git").exists());
    for k in snapshot(&out).keys() {
        assert!(
            !k.contains(".hidden") && !k.starts_with(".git/"),
            "hidden source file output as {k}"
        );
    }
}

// ---------------------------------------------------------------------------
// CSS and source maps
// ---------------------------------------------------------------------------

#[test]
fn css_references_are_rewritten_keeping_query_and_fragment() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let css = String::from_utf8(fs::read(out.join("css/app.css")).unwrap()).unwrap();
    let name = |l: &str| mfile(&m, l).rsplit('/').next().unwrap().to_string();
    for want in [
        format!("@import \"{}\";", name("css/base.css")),
        format!("url(\"../fonts/{}?#iefix\")", name("fonts/icons.eot")),
        format!("url('../fonts/{}')", name("fonts/icons.woff2")),
        format!("url(../fonts/{}#icons)", name("fonts/icons.svg")),
        format!("url(../img/{})", name("img/logo.svg")),
        format!("url(\"/img/{}\")", name("img/bg.png")),
    ] {
        assert!(css.contains(&want), "app.css must contain {want:?}:\n{css}");
    }
    let exp = expected_main(&main_sources(), HASH_LEN);
    assert_eq!(
        css,
        String::from_utf8(exp.content["css/app.css"].clone()).unwrap(),
        "app.css: only the reference file names change"
    );
    let base = fs::read(out.join("css/base.css")).unwrap();
    assert_eq!(
        String::from_utf8(base).unwrap(),
        String::from_utf8(exp.content["css/base.css"].clone()).unwrap()
    );
}

#[test]
fn external_and_data_urls_are_untouched_and_not_reported() {
    let t = Tree::main();
    let out = t.out("dist");
    let r = build_ok(&t.src, &out, &[]);
    let css = String::from_utf8(fs::read(out.join("css/app.css")).unwrap()).unwrap();
    for keep in [
        "url(data:image/png;base64,AAAA)",
        "url(\"https://example.com/x.png\")",
        "url(//cdn.example.com/y.png)",
    ] {
        assert!(
            css.contains(keep),
            "{keep:?} must be left as written:\n{css}"
        );
    }
    for l in r.stderr.lines() {
        let low = l.to_lowercase();
        if low.contains("warn") {
            assert!(
                !l.contains("example.com") && !l.contains("data:"),
                "external/data URL reported as missing: {l}"
            );
        }
    }
}

#[test]
fn missing_reference_warns_and_strict_fails() {
    let t = Tree::main();
    let out = t.out("dist");
    let r = build_ok(&t.src, &out, &[]);
    let warned = r
        .stderr
        .lines()
        .any(|l| l.to_lowercase().contains("warning") && l.contains("../img/nope.png"));
    assert!(
        warned,
        "a stderr line containing `warning` and `../img/nope.png` expected:\n{}",
        r.show()
    );
    let css = String::from_utf8(fs::read(out.join("css/app.css")).unwrap()).unwrap();
    assert!(
        css.contains("url(../img/nope.png)"),
        "missing reference left as written"
    );

    let out2 = t.out("strict");
    let r = build(&t.src, &out2, &["--strict"]);
    assert!(
        !r.ok(),
        "--strict with a missing reference must fail:\n{}",
        r.show()
    );
    assert!(
        r.stderr.contains("nope.png"),
        "error must name the reference:\n{}",
        r.show()
    );
    assert!(
        !out2.join("manifest.json").exists(),
        "a failed --strict build must not publish a manifest"
    );

    // strict = true from the config file.
    let cfg = t.out("cfg.toml");
    write_file(&cfg, "[build]\nstrict = true\n");
    let out3 = t.out("strict-cfg");
    let r = build(&t.src, &out3, &["--config", &s(&cfg)]);
    assert!(!r.ok(), "[build] strict = true must fail:\n{}", r.show());
    assert!(r.stderr.contains("nope.png"), "{}", r.show());
}

#[test]
fn css_import_cycle_is_an_error_naming_both_files() {
    let t = Tree::with(&[
        ("styles/a.css", b"@import \"b.css\";\n.a { color: red; }\n"),
        (
            "styles/b.css",
            b"@import url(\"a.css\");\n.b { color: blue; }\n",
        ),
        ("ok.txt", b"fine\n"),
    ]);
    let out = t.out("dist");
    let r = build(&t.src, &out, &[]);
    assert!(!r.ok(), "a.css <-> b.css cycle must fail:\n{}", r.show());
    assert!(
        r.stderr.contains("a.css") && r.stderr.contains("b.css"),
        "message must name both files:\n{}",
        r.show()
    );
    assert!(
        !out.join("manifest.json").exists(),
        "no manifest after a failed build"
    );

    // A diamond (a -> b, a -> c, b -> d, c -> d) is not a cycle.
    let t = Tree::with(&[
        ("a.css", b"@import \"b.css\";\n@import \"c.css\";\n"),
        ("b.css", b"@import \"d.css\";\n.b{}\n"),
        ("c.css", b"@import \"d.css\";\n.c{}\n"),
        ("d.css", b".d{}\n"),
    ]);
    build_ok(&t.src, &t.out("dist"), &[]);
}

#[test]
fn changing_an_image_changes_every_css_that_uses_it() {
    let t = Tree::main();
    let out1 = t.out("v1");
    build_ok(&t.src, &out1, &[]);
    let m1 = manifest(&out1);
    t.write("img/bg.png", &[0x89, b'P', b'N', b'G', 1, 2, 3, 4, 5, 6, 7]);
    let out2 = t.out("v2");
    build_ok(&t.src, &out2, &[]);
    let m2 = manifest(&out2);
    for changed in ["img/bg.png", "css/app.css"] {
        assert_ne!(
            mfile(&m1, changed),
            mfile(&m2, changed),
            "{changed} must get a new name"
        );
    }
    for same in [
        "css/base.css",
        "img/logo.svg",
        "js/app.js",
        "fonts/icons.woff2",
    ] {
        assert_eq!(
            mfile(&m1, same),
            mfile(&m2, same),
            "{same} does not use bg.png"
        );
    }
    let mut src = main_sources();
    src.insert(
        "img/bg.png".into(),
        vec![0x89, b'P', b'N', b'G', 1, 2, 3, 4, 5, 6, 7],
    );
    let exp = expected_main(&src, HASH_LEN);
    assert_eq!(mfile(&m2, "css/app.css"), exp.file["css/app.css"]);

    // Through @import: x.png -> b.css -> a.css; c.css unrelated.
    let t = Tree::with(&[
        ("a.css", b"@import \"b.css\";\n.a { color: red; }\n"),
        ("b.css", b".b { background: url(x.png); }\n"),
        ("c.css", b".c { color: blue; }\n"),
        ("x.png", b"\x89PNG one"),
    ]);
    let o1 = t.out("v1");
    build_ok(&t.src, &o1, &[]);
    t.write("x.png", b"\x89PNG two");
    let o2 = t.out("v2");
    build_ok(&t.src, &o2, &[]);
    let (a, b) = (manifest(&o1), manifest(&o2));
    for changed in ["x.png", "b.css", "a.css"] {
        assert_ne!(
            mfile(&a, changed),
            mfile(&b, changed),
            "{changed} must get a new name"
        );
    }
    assert_eq!(mfile(&a, "c.css"), mfile(&b, "c.css"));
    let a_css = fs::read_to_string(o2.join("a.css")).unwrap();
    let b_name = mfile(&b, "b.css");
    assert_eq!(
        a_css,
        format!("@import \"{b_name}\";\n.a {{ color: red; }}\n")
    );
}

#[test]
fn source_map_comments_are_rewritten() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let js = fs::read_to_string(out.join("js/app.js")).unwrap();
    let map = mfile(&m, "js/app.js.map");
    let map_name = map.rsplit('/').next().unwrap();
    assert!(
        map_name.starts_with("app.js.") && map_name.ends_with(".map"),
        "{map_name}"
    );
    assert!(
        js.ends_with(&format!("//# sourceMappingURL={map_name}\n")),
        "app.js must point at {map_name}:\n{js}"
    );
    let exp = expected_main(&main_sources(), HASH_LEN);
    assert_eq!(js.as_bytes(), &exp.content["js/app.js"][..]);
    let css = fs::read_to_string(out.join("css/base.css")).unwrap();
    let cmap = mfile(&m, "css/base.css.map");
    let cmap_name = cmap.rsplit('/').next().unwrap();
    assert!(
        css.ends_with(&format!("/*# sourceMappingURL={cmap_name} */\n")),
        "base.css must point at {cmap_name}:\n{css}"
    );
    // The maps themselves are copied unchanged.
    assert_eq!(
        fs::read(out.join(&map)).unwrap(),
        main_sources()["js/app.js.map"]
    );

    // A map that does not exist: the comment stays as written.
    let src = b"console.log(1);\n//# sourceMappingURL=nomap.js.map\n";
    let t = Tree::with(&[("nomap.js", src)]);
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    assert_eq!(fs::read(out.join("nomap.js")).unwrap(), src);
}

// ---------------------------------------------------------------------------
// Precompression
// ---------------------------------------------------------------------------

#[test]
fn siblings_decompress_to_the_content_and_are_recorded() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), HASH_LEN);
    for l in MAIN_WITH_SIBLINGS {
        let enc = mencodings(&m, l);
        assert_eq!(
            enc.keys().cloned().collect::<Vec<_>>(),
            vec!["br".to_string(), "gzip".to_string(), "zstd".to_string()],
            "{l}: every sibling expected"
        );
        let content = &exp.content[*l];
        for name in [l.to_string(), mfile(&m, l)] {
            let br = out.join(format!("{name}.br"));
            let gz = out.join(format!("{name}.gz"));
            let zst = out.join(format!("{name}.zst"));
            assert!(
                unbrotli(&br) == *content,
                "{name}.br must decompress to the content"
            );
            assert!(
                gunzip(&gz) == *content,
                "{name}.gz must decompress to the content"
            );
            assert!(
                unzstd(&zst) == *content,
                "{name}.zst must decompress to the content"
            );
            let br_len = fs::metadata(&br).unwrap().len();
            let gz_len = fs::metadata(&gz).unwrap().len();
            let zst_len = fs::metadata(&zst).unwrap().len();
            assert_eq!(br_len, enc["br"], "{name}: manifest br size");
            assert_eq!(gz_len, enc["gzip"], "{name}: manifest gzip size");
            assert_eq!(zst_len, enc["zstd"], "{name}: manifest zstd size");
            for (n, len) in [("br", br_len), ("gz", gz_len), ("zst", zst_len)] {
                assert!(
                    len * 100 <= content.len() as u64 * 95,
                    "{name}.{n}: {len} bytes saves less than 5% of {}",
                    content.len()
                );
            }
            let g = fs::read(&gz).unwrap();
            assert_eq!(&g[..3], &[0x1f, 0x8b, 8], "{name}.gz: gzip/deflate header");
            assert_eq!(g[3] & 0x08, 0, "{name}.gz: FNAME must not be set (no name)");
            assert_eq!(&g[4..8], &[0, 0, 0, 0], "{name}.gz: MTIME must be 0");
        }
        assert_eq!(
            fs::read(out.join(format!("{l}.br"))).unwrap(),
            fs::read(out.join(format!("{}.br", mfile(&m, l)))).unwrap(),
            "{l}: plain and fingerprinted .br identical"
        );
    }
}

#[test]
fn no_siblings_for_images_woff2_tiny_random_or_unknown_files() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    for l in MAIN_WITHOUT_SIBLINGS {
        assert!(
            mencodings(&m, l).is_empty(),
            "{l}: manifest must list no encodings"
        );
        for name in [l.to_string(), mfile(&m, l)] {
            for ext in ["br", "gz"] {
                let p = out.join(format!("{name}.{ext}"));
                assert!(!p.exists(), "{} must not exist", p.display());
            }
        }
    }
}

#[test]
fn min_saving_and_encodings_flags() {
    // ~50% compressible: 2 KiB random then 2 KiB of one byte.
    let mut half = noise(2048, 7);
    half.extend(std::iter::repeat_n(b'a', 2048));
    let t = Tree::with(&[
        ("half.js", &half),
        ("doc.css", main_sources()["css/base.css"].as_slice()),
    ]);
    let fp = fp_path("half.js", &b3(&half), 10);

    let out = t.out("default");
    build_ok(&t.src, &out, &[]);
    for ext in ["br", "zst", "gz"] {
        assert!(
            out.join(format!("half.js.{ext}")).is_file(),
            "half.js.{ext}"
        );
        assert!(out.join(format!("{fp}.{ext}")).is_file(), "{fp}.{ext}");
    }

    let out = t.out("min60");
    build_ok(&t.src, &out, &["--min-saving", "60"]);
    assert!(
        mencodings(&manifest(&out), "half.js").is_empty(),
        "~50% saving < 60%"
    );
    for p in [
        "half.js.br",
        "half.js.gz",
        "half.js.zst",
        &format!("{fp}.br"),
        &format!("{fp}.gz"),
        &format!("{fp}.zst"),
    ] {
        assert!(!out.join(p).exists(), "--min-saving 60: {p} must not exist");
    }
    assert!(
        out.join("doc.css.br").is_file(),
        "doc.css saves far more than 60%"
    );

    let cfg = t.out("cfg.toml");
    write_file(&cfg, "[build]\nmin_saving_percent = 60\n");
    let out = t.out("min60cfg");
    build_ok(&t.src, &out, &["--config", &s(&cfg)]);
    assert!(
        !out.join("half.js.br").exists(),
        "min_saving_percent = 60 from the config"
    );

    let cases: [(&str, &[&str]); 7] = [
        ("gzip", &["gzip"]),
        ("br", &["br"]),
        ("zstd", &["zstd"]),
        ("none", &[]),
        ("br,gzip", &["br", "gzip"]),
        ("zstd,br", &["br", "zstd"]),
        ("br,zstd,gzip", &["br", "gzip", "zstd"]),
    ];
    for (flag, want) in cases {
        let out = t.out(&format!("enc-{flag}"));
        build_ok(&t.src, &out, &["--encodings", flag]);
        let m = manifest(&out);
        let got: Vec<String> = mencodings(&m, "doc.css").into_keys().collect();
        assert_eq!(got, want.to_vec(), "--encodings {flag}: manifest encodings");
        for (enc, ext) in [("br", "br"), ("gzip", "gz"), ("zstd", "zst")] {
            let should = want.contains(&enc);
            for name in ["doc.css".to_string(), mfile(&m, "doc.css")] {
                assert_eq!(
                    out.join(format!("{name}.{ext}")).exists(),
                    should,
                    "--encodings {flag}: {name}.{ext}"
                );
            }
        }
    }
}

#[test]
fn compression_levels_are_applied() {
    let mut css = String::new();
    for i in 0..600 {
        css.push_str(&format!(
            ".rule-{i} {{ color: #{:06x}; padding: {}px {}px; content: \"{}\"; }}\n",
            (i * 2_654_435_761u64) % 0xff_ffff,
            i % 13,
            i % 29,
            i * i
        ));
    }
    let t = Tree::with(&[("big.css", css.as_bytes())]);
    let sizes = |out: &Path| mencodings(&manifest(out), "big.css");
    let best = t.out("best");
    build_ok(&t.src, &best, &[]);
    let fast = t.out("fast");
    build_ok(
        &t.src,
        &fast,
        &[
            "--brotli-quality",
            "1",
            "--gzip-level",
            "1",
            "--zstd-level",
            "1",
        ],
    );
    let (b, f) = (sizes(&best), sizes(&fast));
    assert!(
        b["br"] < f["br"],
        "brotli q11 ({}) must beat q1 ({})",
        b["br"],
        f["br"]
    );
    assert!(
        b["gzip"] < f["gzip"],
        "gzip -9 ({}) must beat -1 ({})",
        b["gzip"],
        f["gzip"]
    );
    assert!(
        b["zstd"] < f["zstd"],
        "zstd -19 ({}) must beat -1 ({})",
        b["zstd"],
        f["zstd"]
    );
    assert_eq!(unbrotli(&fast.join("big.css.br")), css.as_bytes());
    assert_eq!(gunzip(&fast.join("big.css.gz")), css.as_bytes());
    assert_eq!(unzstd(&fast.join("big.css.zst")), css.as_bytes());
    // The same settings from the config file give the same bytes.
    let cfg = t.out("cfg.toml");
    write_file(
        &cfg,
        "[build]\nbrotli_quality = 1\ngzip_level = 1\nzstd_level = 1\njobs = 1\n",
    );
    let fast_cfg = t.out("fast-cfg");
    build_ok(&t.src, &fast_cfg, &["--config", &s(&cfg)]);
    assert_eq!(snapshot_public(&fast), snapshot_public(&fast_cfg));
}

// ---------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------

#[test]
fn manifest_fields_and_sri() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), HASH_LEN);
    let essence: BTreeMap<&str, &[&str]> = [
        ("css/app.css", &["text/css"][..]),
        ("css/base.css", &["text/css"][..]),
        ("css/base.css.map", &["application/json"][..]),
        ("img/logo.svg", &["image/svg+xml"][..]),
        ("img/bg.png", &["image/png"][..]),
        ("fonts/icons.woff2", &["font/woff2"][..]),
        ("fonts/icons.eot", &["application/vnd.ms-fontobject"][..]),
        ("fonts/icons.svg", &["image/svg+xml"][..]),
        (
            "js/app.js",
            &["text/javascript", "application/javascript"][..],
        ),
        ("js/app.js.map", &["application/json"][..]),
        (
            "js/vendor.0123456789.js",
            &["text/javascript", "application/javascript"][..],
        ),
        (
            "js/jquery.min.js",
            &["text/javascript", "application/javascript"][..],
        ),
        ("robots.txt", &["text/plain"][..]),
        ("misc/noise.txt", &["text/plain"][..]),
        ("LICENSE", &["application/octet-stream"][..]),
    ]
    .into_iter()
    .collect();
    assert_eq!(essence.len(), main_logical().len());
    for (l, content) in &exp.content {
        let e = &m[l.as_str()];
        let f = mfile(&m, l);
        assert_eq!(f, exp.file[l], "{l}.file");
        assert_eq!(e["size"].as_u64(), Some(content.len() as u64), "{l}.size");
        assert_eq!(
            e["blake3"].as_str(),
            Some(b3(content).as_str()),
            "{l}.blake3"
        );
        let ty = e["type"]
            .as_str()
            .unwrap_or_else(|| panic!("{l}.type missing"));
        let ess = ty.split(';').next().unwrap().trim();
        assert!(essence[l.as_str()].contains(&ess), "{l}.type = {ty:?}");
        let sri = sri_of_file(&out.join(&f));
        assert_eq!(e["integrity"].as_str(), Some(sri.as_str()), "{l}.integrity");
        let enc = mencodings(&m, l);
        let want: Vec<String> = if MAIN_WITH_SIBLINGS.contains(&l.as_str()) {
            vec!["br".into(), "gzip".into(), "zstd".into()]
        } else {
            vec![]
        };
        assert_eq!(
            enc.keys().cloned().collect::<Vec<_>>(),
            want,
            "{l}.encodings"
        );
        for (k, v) in &enc {
            let len = fs::metadata(out.join(format!("{f}{}", sibling_ext(k))))
                .unwrap()
                .len();
            assert_eq!(*v, len, "{l}.encodings.{k}");
        }
    }
    // Keys appear sorted in the file itself.
    let raw = fs::read_to_string(out.join("manifest.json")).unwrap();
    let pos: Vec<usize> = main_logical()
        .iter()
        .map(|k| {
            // As a key: a graph may name it earlier.
            raw.find(&format!("\"{k}\": {{"))
                .unwrap_or_else(|| panic!("{k} not in text"))
        })
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "manifest keys not sorted:\n{raw}"
    );
}

#[test]
fn hash_len_flag_and_its_bounds() {
    let t = Tree::main();
    for n in [8usize, 16, 64] {
        let out = t.out(&format!("h{n}"));
        build_ok(&t.src, &out, &["--hash-len", &n.to_string()]);
        let m = manifest(&out);
        let exp = expected_main(&main_sources(), n);
        for (l, want) in &exp.file {
            assert_eq!(&mfile(&m, l), want, "--hash-len {n}: {l}");
        }
    }
    for bad in ["7", "65", "0"] {
        let out = t.out(&format!("bad{bad}"));
        let r = build(&t.src, &out, &["--hash-len", bad]);
        assert!(!r.ok(), "--hash-len {bad} must be refused:\n{}", r.show());
        assert_absent_or_empty(&out, &format!("--hash-len {bad}"));
    }
}

#[test]
fn zstd_level_and_encodings_are_checked() {
    let t = Tree::with(&[("a.css", b"a { color: red }\n".repeat(50).as_slice())]);
    for args in [
        &["--zstd-level", "0"][..],
        &["--zstd-level", "20"],
        &["--encodings", "zstd,lz4"],
        &["--encodings", "zst"],
    ] {
        let out = t.out(&format!("bad{}", args[1]));
        let r = build(&t.src, &out, args);
        assert!(!r.ok(), "{args:?} must be refused:\n{}", r.show());
        let key = if args[0] == "--zstd-level" {
            "zstd_level"
        } else {
            "--encodings"
        };
        assert!(
            r.show().contains(key),
            "{args:?}: names {key}:\n{}",
            r.show()
        );
        assert_absent_or_empty(&out, &format!("{args:?}"));
    }
    let cfg = t.out("bad.toml");
    write_file(&cfg, "[build]\nzstd_level = 22\n");
    let r = build(&t.src, &t.out("badcfg"), &["--config", &s(&cfg)]);
    assert!(
        !r.ok() && r.show().contains("build.zstd_level"),
        "{}",
        r.show()
    );
}

#[test]
fn config_file_settings_and_flags_win() {
    let t = Tree::main();
    let cfg = t.out("cfg.toml");
    write_file(&cfg, "[build]\nhash_len = 12\nencodings = [\"gzip\"]\n");
    let out = t.out("cfg");
    build_ok(&t.src, &out, &["--config", &s(&cfg)]);
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), 12);
    for (l, want) in &exp.file {
        assert_eq!(&mfile(&m, l), want, "hash_len = 12: {l}");
    }
    assert_eq!(
        mencodings(&m, "css/app.css")
            .into_keys()
            .collect::<Vec<_>>(),
        vec!["gzip".to_string()]
    );
    assert!(!out.join("css/app.css.br").exists());
    assert!(out.join("css/app.css.gz").exists());

    let out = t.out("cfg-flags");
    build_ok(
        &t.src,
        &out,
        &[
            "--config",
            &s(&cfg),
            "--hash-len",
            "16",
            "--encodings",
            "br",
        ],
    );
    let m = manifest(&out);
    let exp = expected_main(&main_sources(), 16);
    for (l, want) in &exp.file {
        assert_eq!(&mfile(&m, l), want, "--hash-len 16 over hash_len = 12: {l}");
    }
    assert_eq!(
        mencodings(&m, "css/app.css")
            .into_keys()
            .collect::<Vec<_>>(),
        vec!["br".to_string()]
    );
    assert!(out.join("css/app.css.br").exists());
    assert!(!out.join("css/app.css.gz").exists());
}

// ---------------------------------------------------------------------------
// Determinism, incremental, prune, atomicity
// ---------------------------------------------------------------------------

#[test]
fn two_fresh_builds_are_byte_identical() {
    let t = Tree::main();
    let a = t.out("a");
    let b = t.out("b");
    build_ok(&t.src, &a, &["--jobs", "1"]);
    build_ok(&t.src, &b, &[]);
    let (sa, sb) = (snapshot(&a), snapshot(&b));
    let pa: BTreeMap<_, _> = sa
        .iter()
        .filter(|(k, _)| !k.starts_with(".cdn-edge/"))
        .collect();
    let pb: BTreeMap<_, _> = sb
        .iter()
        .filter(|(k, _)| !k.starts_with(".cdn-edge/"))
        .collect();
    assert_eq!(
        pa.keys().collect::<Vec<_>>(),
        pb.keys().collect::<Vec<_>>(),
        "same file list"
    );
    for (k, v) in &pa {
        assert!(pb[k] == *v, "{k} differs between two fresh builds");
    }
    // Including the manifest history under .cdn-edge/.
    assert_eq!(
        sa.keys().collect::<Vec<_>>(),
        sb.keys().collect::<Vec<_>>(),
        "same file list including .cdn-edge/"
    );
    for (k, v) in &sa {
        assert!(sb[k] == *v, "{k} differs between two fresh builds");
    }
}

#[test]
fn incremental_rebuild_matches() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, NO_DELTAS);
    let first = snapshot_public(&out);
    build_ok(&t.src, &out, NO_DELTAS);
    assert!(
        snapshot_public(&out) == first,
        "unchanged rebuild must give the same tree"
    );

    // After a change, the incremental result agrees with a fresh build.
    let orig = main_sources()["img/logo.svg"].clone();
    let mut changed = orig.clone();
    let i = changed.iter().position(|&b| b == b'6').unwrap();
    changed[i] = b'7'; // same size
    t.write("img/logo.svg", &changed);
    build_ok(&t.src, &out, NO_DELTAS);
    let fresh = t.out("fresh");
    build_ok(&t.src, &fresh, NO_DELTAS);
    let inc = snapshot_public(&out);
    for (k, v) in snapshot_public(&fresh) {
        assert!(
            inc.get(&k) == Some(&v),
            "after a change: {k} differs from a fresh build"
        );
    }
    let first_m: serde_json::Value = serde_json::from_slice(&first["manifest.json"]).unwrap();
    assert_ne!(
        Some(mfile(&manifest(&out), "img/logo.svg").as_str()),
        first_m["assets"]["img/logo.svg"]["file"].as_str(),
        "a same-size change must be noticed"
    );
    // Revert: back to the first manifest.
    t.write("img/logo.svg", &orig);
    build_ok(&t.src, &out, NO_DELTAS);
    assert_eq!(
        fs::read(out.join("manifest.json")).unwrap(),
        first["manifest.json"],
        "reverting the change must give the first manifest again"
    );
    for l in ["img/logo.svg", "css/app.css", "css/base.css"] {
        assert_eq!(
            fs::read(out.join(l)).unwrap(),
            first[l],
            "plain {l} after revert"
        );
    }
}

#[test]
fn rebuild_with_other_settings_or_smaller_content_leaves_no_stale_siblings() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    // New compression settings into the same DIR: the result is what a
    // fresh build with those settings gives.
    let args = ["--brotli-quality", "1", "--gzip-level", "1"];
    build_ok(&t.src, &out, &args);
    let fresh = t.out("fresh");
    build_ok(&t.src, &fresh, &args);
    let inc = snapshot_public(&out);
    for (k, v) in snapshot_public(&fresh) {
        assert!(
            inc.get(&k) == Some(&v),
            "new settings: {k} differs from a fresh build"
        );
    }
    // No encodings: the plain names lose their siblings (they would be
    // served for the plain name otherwise).
    build_ok(&t.src, &out, &["--encodings", "none"]);
    for l in MAIN_WITH_SIBLINGS {
        for ext in ["br", "gz"] {
            assert!(
                !out.join(format!("{l}.{ext}")).exists(),
                "--encodings none: stale {l}.{ext} beside the plain name"
            );
        }
        assert!(mencodings(&manifest(&out), l).is_empty());
    }
    // A file that shrinks below the saving threshold: its plain siblings go.
    build_ok(&t.src, &out, &[]);
    assert!(out.join("css/base.css.br").exists());
    t.write("css/base.css", b"a{}\n");
    build_ok(&t.src, &out, &[]);
    for ext in ["br", "gz"] {
        let p = out.join(format!("css/base.css.{ext}"));
        assert!(
            !p.exists(),
            "stale {} (old content) beside the new plain css/base.css",
            p.display()
        );
    }
}

#[test]
fn prune_keeps_the_last_n_manifests() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, NO_DELTAS);
    let m1 = manifest(&out);
    t.write("img/bg.png", b"\x89PNG second version");
    build_ok(&t.src, &out, NO_DELTAS);
    let m2 = manifest(&out);
    for l in ["img/bg.png", "css/app.css"] {
        assert_ne!(mfile(&m1, l), mfile(&m2, l));
        assert!(
            out.join(mfile(&m1, l)).exists(),
            "without --prune nothing is removed: {l}"
        );
    }
    t.write("robots.txt", b"User-agent: *\nDisallow: /v3/\n");
    build_ok(
        &t.src,
        &out,
        &["--prune", "--keep", "2", "--dictionary-versions", "0"],
    );
    let m3 = manifest(&out);
    assert!(
        out.join(".cdn-edge").is_dir(),
        "manifest history lives in DIR/.cdn-edge/"
    );
    // v1-only files (and their siblings) are gone.
    let old_css = mfile(&m1, "css/app.css");
    for gone in [
        mfile(&m1, "img/bg.png"),
        old_css.clone(),
        format!("{old_css}.br"),
        format!("{old_css}.gz"),
        format!("{old_css}.zst"),
    ] {
        assert!(
            !out.join(&gone).exists(),
            "--keep 2 must remove v1-only {gone}"
        );
    }
    let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
    assert_eq!(
        public,
        expected_public_files(&m3, &[&m2, &m3]),
        "after --prune --keep 2"
    );
    // Plain names reflect the newest build.
    for l in m3.keys() {
        assert!(
            fs::read(out.join(l)).unwrap() == fs::read(out.join(mfile(&m3, l))).unwrap(),
            "plain {l} must be the newest version"
        );
    }
    let robots_v1 = mfile(&m1, "robots.txt"); // in v1 and v2, not v3
    assert!(
        out.join(&robots_v1).exists(),
        "v2 still references {robots_v1}"
    );

    // Default keep is 3: v2, v3, v4 kept.
    t.write("img/bg.png", b"\x89PNG fourth version");
    build_ok(&t.src, &out, &["--prune", "--dictionary-versions", "0"]);
    let m4 = manifest(&out);
    assert!(
        out.join(&robots_v1).exists(),
        "default --keep 3 keeps v2's {robots_v1}"
    );
    let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
    assert_eq!(
        public,
        expected_public_files(&m4, &[&m2, &m3, &m4]),
        "after --prune (keep 3)"
    );
    t.write("img/bg.png", b"\x89PNG fifth version");
    build_ok(&t.src, &out, &["--prune", "--dictionary-versions", "0"]);
    let m5 = manifest(&out);
    assert!(!out.join(&robots_v1).exists(), "v2 fell out of the last 3");
    let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
    assert_eq!(
        public,
        expected_public_files(&m5, &[&m3, &m4, &m5]),
        "after 2nd --prune"
    );

    build_ok(
        &t.src,
        &out,
        &["--prune", "--keep", "1", "--dictionary-versions", "0"],
    );
    let m6 = manifest(&out);
    let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
    assert_eq!(
        public,
        expected_public_files(&m6, &[&m6]),
        "after --prune --keep 1"
    );
}

#[test]
fn no_temp_files_are_left_behind() {
    let t = Tree::main();
    let out = t.out("dist");
    let check = |when: &str| {
        for k in snapshot(&out).keys() {
            let name = k.rsplit('/').next().unwrap().to_lowercase();
            assert!(
                !name.contains("tmp")
                    && !name.contains("temp")
                    && !name.ends_with('~')
                    && !name.ends_with(".part")
                    && !name.ends_with(".partial"),
                "{when}: leftover {k}"
            );
            if !k.starts_with(".cdn-edge/") {
                assert!(!name.starts_with('.'), "{when}: leftover dotfile {k}");
            }
        }
        let m = manifest(&out);
        let public: BTreeSet<String> = snapshot_public(&out).into_keys().collect();
        assert_eq!(
            public,
            expected_public_files(&m, &[&m]),
            "{when}: exact file set"
        );
    };
    build_ok(&t.src, &out, NO_DELTAS);
    check("cold build");
    build_ok(&t.src, &out, NO_DELTAS);
    check("incremental build");
    t.write("css/base.css", b"body { color: black; }\n");
    build_ok(
        &t.src,
        &out,
        &["--prune", "--keep", "1", "--dictionary-versions", "0"],
    );
    check("pruning build");
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn error_src_missing() {
    let t = Tree::empty();
    let missing = t.out("nosuchsrc");
    let out = t.out("dist");
    let r = build(&missing, &out, &[]);
    assert_one_line_error(&r, "SRC missing");
    assert!(
        r.stderr.contains("nosuchsrc"),
        "message must name SRC:\n{}",
        r.show()
    );
    assert_absent_or_empty(&out, "SRC missing");
}

#[test]
fn error_src_is_a_file() {
    let t = Tree::main();
    let file = t.src.join("robots.txt");
    let out = t.out("dist");
    let r = build(&file, &out, &[]);
    assert_one_line_error(&r, "SRC is a file");
    assert!(
        r.stderr.contains("robots.txt"),
        "message must name SRC:\n{}",
        r.show()
    );
    assert_absent_or_empty(&out, "SRC is a file");
}

#[test]
fn error_out_inside_src() {
    let t = Tree::main();
    let before = snapshot(&t.src);
    let dist = t.src.join("dist");
    let r = build(&t.src, &dist, &[]);
    assert_one_line_error(&r, "DIR inside SRC");
    assert!(!dist.exists(), "SRC/dist must not be created");
    let dotted = t.src.join("css/../deep/dist");
    let r = build(&t.src, &dotted, &[]);
    assert_one_line_error(&r, "DIR inside SRC via ..");
    assert!(!t.src.join("deep").exists(), "SRC/deep must not be created");
    let r = build(&t.src, &t.src, &[]);
    assert_one_line_error(&r, "DIR = SRC");
    assert!(snapshot(&t.src) == before, "SRC must be left untouched");
}

#[test]
fn error_unreadable_file() {
    if is_root() {
        eprintln!("skipped: running as root, chmod 000 does not prevent reading");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let t = Tree::main();
    let p = t.src.join("img/secret.svg");
    fs::write(&p, b"<svg/>").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    let out = t.out("dist");
    let r = build(&t.src, &out, &[]);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    assert_one_line_error(&r, "unreadable file");
    assert!(
        r.stderr.contains("secret.svg"),
        "message must name the file:\n{}",
        r.show()
    );
    assert_absent_or_empty(&out, "unreadable file");
}

#[test]
fn error_non_utf8_file_name() {
    let t = Tree::main();
    let name = OsStr::from_bytes(b"bad\xffname.txt");
    fs::write(t.src.join("img").join(name), b"x").unwrap();
    let out = t.out("dist");
    let r = build(&t.src, &out, &[]);
    assert_one_line_error(&r, "non-UTF-8 name");
    assert_absent_or_empty(&out, "non-UTF-8 name");
    // An existing but empty DIR stays empty.
    let out = t.out("existing");
    fs::create_dir(&out).unwrap();
    let r = build(&t.src, &out, &[]);
    assert!(!r.ok());
    assert_absent_or_empty(&out, "non-UTF-8 name, existing DIR");
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

#[test]
fn quiet_prints_nothing_and_summary_has_no_terminal_escapes() {
    let t = Tree::main();
    for q in ["-q", "--quiet"] {
        let r = build_ok(&t.src, &t.out(&format!("q{q}")), &[q]);
        assert_eq!(r.stdout, "", "{q}: stdout must be empty");
    }
    let r = build_ok(&t.src, &t.out("loud"), &[]);
    assert!(
        !r.stdout.trim().is_empty(),
        "a summary is printed without -q"
    );
    let n = main_logical().len().to_string();
    assert!(
        r.stdout
            .split(|c: char| !c.is_ascii_digit())
            .any(|w| w == n),
        "summary must report {n} files:\n{}",
        r.stdout
    );
    let low = r.stdout.to_lowercase();
    assert!(
        low.contains("br") && low.contains("gz"),
        "bytes per encoding:\n{}",
        r.stdout
    );
    for (what, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !text.contains('\u{1b}'),
            "{what} has escape sequences: {text:?}"
        );
        assert!(
            !text.contains('\r'),
            "{what} has carriage returns (progress bar): {text:?}"
        );
    }
    let r = build_ok(&t.src, &t.out("verbose"), &["-v"]);
    assert!(!r.stdout.contains('\u{1b}') && !r.stderr.contains('\u{1b}'));
}

// ---------------------------------------------------------------------------
// Serving a built tree
// ---------------------------------------------------------------------------

#[test]
fn server_headers_on_a_built_tree() {
    let t = Tree::main();
    let out = t.out("dist");
    build_ok(&t.src, &out, &[]);
    let m = manifest(&out);
    let srv = common::Server::start(&out, &common::config_with(""));
    let immutable = "public, max-age=31536000, immutable";

    let app_fp = mfile(&m, "css/app.css");
    let app = fs::read(out.join("css/app.css")).unwrap();
    let r = srv.get(&format!("/{app_fp}"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("cache-control"),
        Some(immutable),
        "fingerprinted CSS"
    );
    assert!(r.body == app);
    let etag_built = r.header("etag").expect("etag").to_string();

    for fp in [
        mfile(&m, "LICENSE"),
        mfile(&m, "img/bg.png"),
        mfile(&m, "js/vendor.0123456789.js"),
    ] {
        let r = srv.get(&format!("/{fp}"));
        assert_eq!(r.status, 200, "{fp}: {}", r.summary());
        assert_eq!(r.header("cache-control"), Some(immutable), "{fp}");
    }
    for plain in ["/css/app.css", "/img/bg.png", "/LICENSE", "/manifest.json"] {
        let r = srv.get(plain);
        assert_eq!(r.status, 200, "{plain}: {}", r.summary());
        assert_eq!(
            r.header("cache-control"),
            Some("public, no-cache"),
            "{plain}"
        );
    }
    assert_eq!(
        srv.get("/manifest.json").body,
        fs::read(out.join("manifest.json")).unwrap()
    );

    let r = srv.get_h(&format!("/{app_fp}"), &[("Accept-Encoding", "br")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("br"), "{}", r.summary());
    assert!(
        r.body == fs::read(out.join(format!("{app_fp}.br"))).unwrap(),
        "the .br bytes"
    );
    assert_eq!(r.header("cache-control"), Some(immutable));

    // The history is a dot-dir: never served.
    let hist = fs::read_dir(out.join(".cdn-edge"))
        .expect(".cdn-edge/ exists")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .next();
    if let Some(h) = hist {
        let r = srv.get(&format!("/.cdn-edge/{h}"));
        assert_eq!(r.status, 404, "{}", r.summary());
    }

    // Same bytes in an unbuilt tree: same ETag.
    let plain = tempfile::tempdir().unwrap();
    fs::write(plain.path().join("x.css"), &app).unwrap();
    let srv2 = common::Server::start(plain.path(), &common::config_with(""));
    let r = srv2.get("/x.css");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("etag"),
        Some(etag_built.as_str()),
        "ETag is a content hash"
    );
}

#[test]
fn the_manifest_is_a_versioned_document_with_urls_and_the_base_url() {
    let t = Tree::main();
    let out = t.out("base");
    build_ok(&t.src, &out, &["--base-url", "https://static.example.com/"]);
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["base_url"], "https://static.example.com/");
    let m = manifest(&out);
    for (logical, e) in &m {
        assert_eq!(
            e["url"].as_str().unwrap(),
            format!("https://static.example.com/{}", e["file"].as_str().unwrap()),
            "{logical}"
        );
    }
    // Without a base URL: absolute paths, and `null` says so.
    let plain = t.out("nobase");
    build_ok(&t.src, &plain, &[]);
    let doc: serde_json::Value =
        serde_json::from_slice(&fs::read(plain.join("manifest.json")).unwrap()).unwrap();
    assert!(doc["base_url"].is_null());
    let f = mfile(&manifest(&plain), "css/app.css");
    assert_eq!(manifest(&plain)["css/app.css"]["url"], format!("/{f}"));
    // A base URL that cannot start a URL is refused in one line.
    for bad in [
        "static.example.com",
        "https://x.example/?v=1",
        "//x.example/",
    ] {
        let r = build(&t.src, &t.out("bad"), &["--base-url", bad]);
        assert!(!r.ok(), "{bad}");
        assert!(r.stderr.contains("build.base_url"), "{bad}: {}", r.stderr);
        assert_eq!(nonempty(&r.stderr), 1, "{bad}: {}", r.stderr);
    }
}

fn nonempty(s: &str) -> usize {
    s.lines().filter(|l| !l.trim().is_empty()).count()
}
