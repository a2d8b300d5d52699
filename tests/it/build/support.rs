//! Helpers for `build.rs`: running `cdn-edge build`, the fixture source
//! tree, the independently computed expected output (names and final bytes),
//! tree snapshots, and the oracles (`common::oracle`: Google's brotli
//! decoder, libdeflate, ring's SHA-384) the output is checked against.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::Duration;

use tempfile::TempDir;

use crate::common::oracle;

/// How long one build may take before the test gives up.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// Default hash length.
pub const HASH_LEN: usize = 10;

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// What a finished `cdn-edge` run printed.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// For assertion messages.
    pub fn show(&self) -> String {
        format!(
            "status={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }

    /// The non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Runs the binary with these args; stdout and stderr captured (so neither is
/// a terminal); stdin null.
pub fn cdn(args: &[OsString]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdn-edge"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cdn-edge");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let to = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let te = thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let status = match crate::common::wait_timeout(&mut child, BUILD_TIMEOUT) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cdn-edge {args:?} did not finish within {BUILD_TIMEOUT:?}");
        }
    };
    Run {
        status,
        stdout: String::from_utf8_lossy(&to.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&te.join().unwrap()).into_owned(),
    }
}

/// `cdn-edge build SRC --out OUT EXTRA...`
pub fn build(src: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec![
        "build".into(),
        src.as_os_str().to_owned(),
        "--out".into(),
        out.as_os_str().to_owned(),
    ];
    args.extend(extra.iter().map(OsString::from));
    cdn(&args)
}

/// Like [`build`], asserting success.
pub fn build_ok(src: &Path, out: &Path, extra: &[&str]) -> Run {
    let r = build(src, out, extra);
    assert!(
        r.ok(),
        "cdn-edge build {} --out {} {extra:?} failed:\n{}",
        src.display(),
        out.display(),
        r.show()
    );
    r
}

/// Whether this process runs as root (uid 0), from /proc/self/status.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Oracles (`common::oracle`): Google's brotli, libdeflate, ring
// ---------------------------------------------------------------------------

/// The SRI `sha384-...` of a file, by an independent SHA-384.
pub fn sri_of_file(file: &Path) -> String {
    oracle::sri_sha384(&fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// A `.br` file, decoded by Google's reference decoder.
pub fn unbrotli(file: &Path) -> Vec<u8> {
    oracle::unbrotli(&fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// A `.zst` file, decoded by the reference library within an 8 MiB window.
pub fn unzstd(file: &Path) -> Vec<u8> {
    oracle::unzstd(&fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// A `.gz` file, decoded by libdeflate.
pub fn gunzip(file: &Path) -> Vec<u8> {
    oracle::gunzip(&fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// Lowercase hex blake3 of bytes.
pub fn b3(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

// ---------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------

/// Whether a file name already carries a hash: a dot-separated part other
/// than the first and the last made of ≥ 8 hex digits.
pub fn already_hashed(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The fingerprinted path of logical path `rel` with content hash `hex`.
pub fn fp_path(rel: &str, hex: &str, len: usize) -> String {
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (format!("{d}/"), n),
        None => (String::new(), rel),
    };
    if already_hashed(name) {
        return rel.to_string();
    }
    let h = &hex[..len];
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{dir}{stem}.{h}.{ext}"),
        _ => format!("{dir}{name}.{h}"),
    }
}

/// Resolves a CSS/JS reference path (no query/fragment) against the folder of
/// the referencing file; `None` if it climbs out of SRC.
pub fn resolve(from_dir: &str, reference: &str) -> Option<String> {
    let mut parts: Vec<&str> = if reference.starts_with('/') || from_dir.is_empty() {
        Vec::new()
    } else {
        from_dir.split('/').collect()
    };
    for seg in reference.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The reference `reference` (as written in a file in `from_dir`) rewritten to
/// the fingerprinted name: same path prefix, fingerprinted file name, query
/// and fragment kept. Panics if the target is not in `names`.
pub fn rewrite_ref(from_dir: &str, reference: &str, names: &BTreeMap<String, String>) -> String {
    let cut = reference.find(['?', '#']).unwrap_or(reference.len());
    let (path, suffix) = reference.split_at(cut);
    let target = resolve(from_dir, path).expect("reference inside SRC");
    let fp = names
        .get(&target)
        .unwrap_or_else(|| panic!("no expected name for {target}"));
    let fp_name = fp.rsplit('/').next().unwrap();
    let prefix = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    format!("{prefix}{fp_name}{suffix}")
}

// ---------------------------------------------------------------------------
// Fixture contents
// ---------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

fn css_padding(tag: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                ".{tag}{i} {{ color: #{:06x}; margin: {i}px {}px; }}\n",
                (i * 7919) % 0xff_ffff,
                i % 7
            )
        })
        .collect()
}

/// `css/app.css`, with every in-SRC reference passed through `r`.
pub fn app_css(r: &dyn Fn(&str) -> String) -> String {
    format!(
        r#"@import "{base}";
@font-face {{
  font-family: "icons";
  src: url("{eot}") format("embedded-opentype"),
       url('{woff2}') format("woff2"),
       url({svgfont}) format("svg");
}}
.logo {{ background: url({logo}) no-repeat; }}
.bg {{ background-image: url("{bg}"); }}
.dot {{ background: url(data:image/png;base64,AAAA); }}
.ext {{ background: url("https://example.com/x.png"); }}
.proto {{ background: url(//cdn.example.com/y.png); }}
.gone {{ background: url(../img/nope.png); }}
{pad}"#,
        base = r("base.css"),
        eot = r("../fonts/icons.eot?#iefix"),
        woff2 = r("../fonts/icons.woff2"),
        svgfont = r("../fonts/icons.svg#icons"),
        logo = r("../img/logo.svg"),
        bg = r("/img/bg.png"),
        pad = css_padding("app", 40),
    )
}

/// `css/base.css`.
pub fn base_css(r: &dyn Fn(&str) -> String) -> String {
    format!(
        "body {{ background: url({logo}) repeat-x; font-family: sans-serif; }}\n{pad}/*# sourceMappingURL={map} */\n",
        logo = r("../img/logo.svg"),
        pad = css_padding("base", 30),
        map = r("base.css.map"),
    )
}

/// `js/app.js`.
pub fn app_js(r: &dyn Fn(&str) -> String) -> String {
    let mut s = String::from("(function () {\n  'use strict';\n");
    for i in 0..40 {
        s.push_str(&format!(
            "  function handler{i}(event) {{ return event.target.dataset.value{i} || {i}; }}\n"
        ));
    }
    s.push_str("})();\n");
    s.push_str(&format!("//# sourceMappingURL={}\n", r("app.js.map")));
    s
}

fn source_map(file: &str, source: &str) -> String {
    let mappings = vec!["AAAA,SAAS,CAAC,EAAE"; 80].join(";");
    format!(
        "{{\"version\":3,\"file\":\"{file}\",\"sources\":[\"{source}\"],\"names\":[],\"mappings\":\"{mappings}\"}}\n"
    )
}

fn svg_doc(n: usize) -> String {
    let mut s =
        String::from("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 100 100\">\n");
    for i in 0..n {
        s.push_str(&format!(
            "  <rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"#336699\"/>\n",
            i % 10,
            i / 10
        ));
    }
    s.push_str("</svg>\n");
    s
}

fn svg_font() -> String {
    let mut s = String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"><defs><font id=\"icons\" horiz-adv-x=\"1000\">\n");
    for i in 0..25 {
        s.push_str(&format!(
            "  <glyph glyph-name=\"icon{i}\" unicode=\"&#xe{i:03x};\" d=\"M0 0L{i} 100L100 {i}Z\"/>\n"
        ));
    }
    s.push_str("</font></defs></svg>\n");
    s
}

fn repetitive(header: &[u8], n: usize) -> Vec<u8> {
    let mut v = header.to_vec();
    v.extend((0..n).map(|i| (i % 16) as u8));
    v
}

/// The source bytes of the main fixture, by logical path (plus the two hidden
/// files, which are not logical paths).
pub fn main_sources() -> BTreeMap<String, Vec<u8>> {
    let id = |p: &str| p.to_string();
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: Vec<u8>| {
        m.insert(k.to_string(), v);
    };
    put("css/app.css", app_css(&id).into_bytes());
    put("css/base.css", base_css(&id).into_bytes());
    put(
        "css/base.css.map",
        source_map("base.css", "base.scss").into_bytes(),
    );
    put("img/logo.svg", svg_doc(30).into_bytes());
    put("img/bg.png", repetitive(b"\x89PNG\r\n\x1a\n", 2048));
    put("fonts/icons.woff2", repetitive(b"wOF2", 2048));
    put("fonts/icons.eot", repetitive(b"\x00\x01EOT-FONT", 2048));
    put("fonts/icons.svg", svg_font().into_bytes());
    put("js/app.js", app_js(&id).into_bytes());
    put("js/app.js.map", source_map("app.js", "app.ts").into_bytes());
    put(
        "js/vendor.0123456789.js",
        "/* vendor */\n"
            .bytes()
            .chain((0..40).flat_map(|i| {
                format!("window.vendor{i} = function () {{ return {i}; }};\n").into_bytes()
            }))
            .collect(),
    );
    put(
        "js/jquery.min.js",
        (0..40)
            .flat_map(|i| {
                format!("!function(e,t){{e.jq{i}=t(e,{i})}}(this,function(e,n){{return n}});")
                    .into_bytes()
            })
            .collect(),
    );
    put("robots.txt", b"User-agent: *\nDisallow:\n".to_vec());
    put("misc/noise.txt", noise(4096, 42));
    put(
        "LICENSE",
        "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy.\n"
            .repeat(8)
            .into_bytes(),
    );
    m
}

/// Logical paths whose output must have `.br` and `.gz` siblings (default
/// settings): compressible types with plenty of redundancy.
pub const MAIN_WITH_SIBLINGS: &[&str] = &[
    "css/app.css",
    "css/base.css",
    "css/base.css.map",
    "fonts/icons.eot",
    "fonts/icons.svg",
    "img/logo.svg",
    "js/app.js",
    "js/app.js.map",
    "js/jquery.min.js",
    "js/vendor.0123456789.js",
];

/// Logical paths that must get no siblings: not compressible types (even
/// though their bytes compress well), tiny, random, or without extension.
pub const MAIN_WITHOUT_SIBLINGS: &[&str] = &[
    "img/bg.png",
    "fonts/icons.woff2",
    "robots.txt",
    "misc/noise.txt",
    "LICENSE",
];

/// Expected final bytes and fingerprinted path of every logical path of the
/// main fixture, computed from the sources independently of the build.
pub struct Expected {
    pub content: BTreeMap<String, Vec<u8>>,
    pub file: BTreeMap<String, String>,
}

pub fn expected_main(src: &BTreeMap<String, Vec<u8>>, len: usize) -> Expected {
    let mut content = BTreeMap::new();
    let mut file = BTreeMap::new();
    let rewritten = ["css/app.css", "css/base.css", "js/app.js"];
    for (k, v) in src {
        if !rewritten.contains(&k.as_str()) {
            content.insert(k.clone(), v.clone());
            file.insert(k.clone(), fp_path(k, &b3(v), len));
        }
    }
    // base.css: logo.svg and base.css.map are leaves.
    let base = base_css(&|r| rewrite_ref("css", r, &file)).into_bytes();
    file.insert(
        "css/base.css".into(),
        fp_path("css/base.css", &b3(&base), len),
    );
    content.insert("css/base.css".into(), base);
    let app = app_css(&|r| rewrite_ref("css", r, &file)).into_bytes();
    file.insert("css/app.css".into(), fp_path("css/app.css", &b3(&app), len));
    content.insert("css/app.css".into(), app);
    let js = app_js(&|r| rewrite_ref("js", r, &file)).into_bytes();
    file.insert("js/app.js".into(), fp_path("js/app.js", &b3(&js), len));
    content.insert("js/app.js".into(), js);
    Expected { content, file }
}

// ---------------------------------------------------------------------------
// Fixture trees
// ---------------------------------------------------------------------------

/// A temp dir with `src/` (the build input) and room for output dirs.
pub struct Tree {
    pub tmp: TempDir,
    pub src: PathBuf,
}

impl Tree {
    /// An empty source tree.
    pub fn empty() -> Tree {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        Tree { tmp, src }
    }

    /// The main fixture, including `.hidden` and `.git/x`.
    pub fn main() -> Tree {
        let t = Tree::empty();
        for (k, v) in main_sources() {
            t.write(&k, &v);
        }
        t.write(".hidden", b"hidden dotfile, never output\n");
        t.write(".git/x", b"inside a dot-directory, never output\n");
        t
    }

    /// A source tree from (path, bytes) pairs.
    pub fn with(files: &[(&str, &[u8])]) -> Tree {
        let t = Tree::empty();
        for (k, v) in files {
            t.write(k, v);
        }
        t
    }

    /// Writes a file under `src/`, creating folders.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.src.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
    }

    /// A path beside `src/` (not yet created).
    pub fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

// ---------------------------------------------------------------------------
// Reading output trees
// ---------------------------------------------------------------------------

/// Every regular file under `dir`, by `/`-separated relative path (dot files
/// and dot-dirs included).
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .expect("utf-8 output name")
                    .to_string();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The snapshot without `.cdn-edge/` (the manifest history).
pub fn snapshot_public(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(dir)
        .into_iter()
        .filter(|(k, _)| !k.starts_with(".cdn-edge/"))
        .collect()
}

/// The parsed `manifest.json` of an output dir.
pub fn manifest(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = fs::read(dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("read {}/manifest.json: {e}", dir.display()));
    match serde_json::from_slice(&text).expect("manifest.json is JSON") {
        // Format 2: the entries are under `assets`.
        serde_json::Value::Object(mut m) if m.contains_key("version") => match m.remove("assets") {
            Some(serde_json::Value::Object(a)) => a,
            other => panic!("manifest.json has no assets object: {other:?}"),
        },
        serde_json::Value::Object(m) => m,
        other => panic!("manifest.json is not an object: {other}"),
    }
}

/// `manifest[logical].file`.
pub fn mfile(m: &serde_json::Map<String, serde_json::Value>, logical: &str) -> String {
    m.get(logical)
        .unwrap_or_else(|| {
            panic!(
                "manifest has no {logical:?}; keys: {:?}",
                m.keys().collect::<Vec<_>>()
            )
        })
        .get("file")
        .and_then(|f| f.as_str())
        .unwrap_or_else(|| panic!("manifest[{logical:?}].file missing or not a string"))
        .to_string()
}

/// `manifest[logical].encodings` as (name → size).
pub fn mencodings(
    m: &serde_json::Map<String, serde_json::Value>,
    logical: &str,
) -> BTreeMap<String, u64> {
    let e = m
        .get(logical)
        .and_then(|v| v.get("encodings"))
        .unwrap_or_else(|| panic!("manifest[{logical:?}].encodings missing"));
    e.as_object()
        .unwrap_or_else(|| panic!("manifest[{logical:?}].encodings not an object: {e}"))
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_u64()
                    .unwrap_or_else(|| panic!("encodings.{k} of {logical} not a number: {v}")),
            )
        })
        .collect()
}

/// The file-name suffix of an encoding name in the manifest.
pub fn sibling_ext(enc: &str) -> &'static str {
    match enc {
        "br" => ".br",
        "zstd" => ".zst",
        "gzip" => ".gz",
        other => panic!("unexpected encoding {other:?} in manifest"),
    }
}

/// Exactly which files a built dir must hold outside `.cdn-edge/`, for the
/// given manifests (all of whose fingerprinted files must be there) and the
/// newest manifest (whose plain names must be there).
pub fn expected_public_files(
    newest: &serde_json::Map<String, serde_json::Value>,
    kept: &[&serde_json::Map<String, serde_json::Value>],
) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    s.insert("manifest.json".to_string());
    for l in newest.keys() {
        s.insert(l.clone());
        for enc in mencodings(newest, l).keys() {
            s.insert(format!("{l}{}", sibling_ext(enc)));
        }
    }
    for m in kept {
        for l in m.keys() {
            let f = mfile(m, l);
            for enc in mencodings(m, l).keys() {
                s.insert(format!("{f}{}", sibling_ext(enc)));
            }
            s.insert(f);
        }
    }
    s
}

/// Asserts a directory does not exist or is empty.
pub fn assert_absent_or_empty(dir: &Path, ctx: &str) {
    if dir.exists() {
        let files: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            files.is_empty(),
            "{ctx}: {} must not exist or be empty after a failed build, holds {files:?}",
            dir.display()
        );
    }
}

/// Asserts a failed run: non-zero exit and exactly one non-empty stderr line.
pub fn assert_one_line_error(r: &Run, ctx: &str) {
    assert!(!r.ok(), "{ctx}: build must fail:\n{}", r.show());
    let lines = r.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "{ctx}: expected a one-line error message on stderr:\n{}",
        r.show()
    );
}

/// Writes text to a file.
pub fn write_file(p: &Path, text: &str) {
    let mut f = fs::File::create(p).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
