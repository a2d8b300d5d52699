//! Precompression of static assets: brotli and gzip encodings made ahead of
//! time, kept only when they are worth serving instead of the original.
//!
//! This module is shared by the `build` subcommand (which writes `.br` and
//! `.gz` siblings beside assets) and the origin puller (which compresses
//! pulled objects off the request path). It is pure: bytes in, bytes out.
//!
//! What it is not: it does no file I/O, picks no file names, and takes no
//! part in content negotiation (choosing an encoding from `Accept-Encoding`
//! belongs to the server). It is also not for on-the-fly compression on the
//! request path: the default settings (brotli 11, gzip 9) are slow by design.
//!
//! Output is reproducible: the same input and settings give the same bytes,
//! so rebuilt trees do not churn. Gzip output carries no file name, no
//! comment, an mtime of zero and a fixed OS byte (like `gzip -9 -n`). Brotli
//! output uses a standard window of at most 24 bits, which every browser
//! decodes, never the non-standard "large window" extension.
//!
//! Parameters are taken as already validated; out-of-range values are
//! clamped to the valid range rather than panicking.

use std::io::Write;

use brotli::enc::backward_references::BrotliEncoderMode;
use brotli::enc::BrotliEncoderParams;
use flate2::{Compression, GzBuilder};

/// The lowest brotli quality.
pub const BROTLI_MIN_QUALITY: u32 = 0;
/// The highest (smallest, slowest) brotli quality.
pub const BROTLI_MAX_QUALITY: u32 = 11;
/// The smallest brotli window, in bits.
pub const BROTLI_MIN_WINDOW: u32 = 10;
/// The largest standard brotli window, in bits (decodable by every browser).
pub const BROTLI_MAX_WINDOW: u32 = 24;
/// The lowest gzip level.
pub const GZIP_MIN_LEVEL: u32 = 1;
/// The highest (smallest, slowest) gzip level.
pub const GZIP_MAX_LEVEL: u32 = 9;
/// The OS byte written in every gzip header: 255, "unknown" (RFC 1952).
pub const GZIP_OS: u8 = 255;

/// How to precompress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Brotli quality 0..=11 (default 11).
    pub brotli_quality: u32,
    /// Brotli window bits 10..=24 (default 24, the largest standard window).
    pub brotli_window: u32,
    /// Gzip level 1..=9 (default 9).
    pub gzip_level: u32,
    /// Minimum share of the original bytes a form must save to be kept, 0.0..1.0 (default 0.05).
    pub min_saving: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            brotli_quality: BROTLI_MAX_QUALITY,
            brotli_window: BROTLI_MAX_WINDOW,
            gzip_level: GZIP_MAX_LEVEL,
            min_saving: 0.05,
        }
    }
}

/// Extensions (lower case) of formats that are not already compressed.
const COMPRESSIBLE_EXTENSIONS: &[&str] = &[
    // Styles, scripts and their source maps.
    "css",
    "js",
    "mjs",
    "cjs",
    "jsx",
    "ts",
    "tsx",
    "map",
    // Data.
    "json",
    "jsonld",
    "geojson",
    "topojson",
    "webmanifest",
    "yaml",
    "yml",
    "toml",
    "csv",
    "tsv",
    // Markup and feeds.
    "html",
    "htm",
    "xhtml",
    "xml",
    "xsl",
    "xslt",
    "svg",
    "rss",
    "atom",
    "rdf",
    // Plain text.
    "txt",
    "text",
    "md",
    "markdown",
    "log",
    "vtt",
    "srt",
    "ics",
    "vcf",
    // Binary but uncompressed.
    "wasm",
    "ttf",
    "otf",
    "eot",
    "ico",
    "bmp",
];

/// Whether files of this name are worth compressing, by extension (case-insensitive).
///
/// Yes for text formats (css, js, json, html, svg, xml, txt, ...) and for
/// binary formats that are not compressed themselves (wasm, ttf, otf, eot,
/// ico, bmp). No for already-compressed formats (png, jpg, gif, webp, avif,
/// woff, woff2, mp4, webm, mp3, ogg, zip, gz, br, zst, 7z, rar, bz2, xz,
/// pdf, ...), for unknown extensions and for names without one. A leading
/// path (`/` or `\` separated) is ignored; a leading dot alone (`.htaccess`)
/// is not an extension.
pub fn is_compressible(file_name: &str) -> bool {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rfind('.') {
        Some(dot) if dot > 0 => {
            let ext = &base[dot + 1..];
            COMPRESSIBLE_EXTENSIONS
                .iter()
                .any(|known| known.eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

/// The smallest window (bits) that holds all of `len` bytes, at least 18:
/// a larger one compresses no better, and the encoder allocates and zeroes
/// its whole ring buffer (4 MiB at 22 bits) for every input, which made
/// that most of the cost of compressing a small file. (Below 18 bits this
/// encoder turned slow in our measurements.)
fn window_for(len: usize) -> u32 {
    // A window of `w` bits holds (1 << w) - 16 bytes.
    let bits = usize::BITS - (len + 15).leading_zeros();
    bits.clamp(18, BROTLI_MAX_WINDOW)
}

/// Brotli-compresses `data` (deterministic: same input and settings give the same bytes).
///
/// `quality` is clamped to 0..=11 and `window` (bits) to 10..=24.
pub fn brotli(data: &[u8], quality: u32, window: u32) -> Vec<u8> {
    let quality = quality.clamp(BROTLI_MIN_QUALITY, BROTLI_MAX_QUALITY);
    let window = window
        .clamp(BROTLI_MIN_WINDOW, BROTLI_MAX_WINDOW)
        .min(window_for(data.len()));
    let params = BrotliEncoderParams {
        quality: quality as i32,
        lgwin: window as i32,
        mode: BrotliEncoderMode::BROTLI_MODE_GENERIC,
        large_window: false,
        size_hint: data.len(),
        ..BrotliEncoderParams::default()
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    // Reading a slice and writing a Vec cannot fail.
    brotli::BrotliCompress(&mut input, &mut out, &params).expect("brotli into memory cannot fail");
    out
}

/// Gzip-compresses `data` reproducibly: no file name or comment, mtime 0, a fixed OS byte.
///
/// `level` is clamped to 1..=9. The output is like `gzip -9 -n` in form
/// (header fields, XFL), though its deflate bytes come from a different
/// implementation.
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let level = level.clamp(GZIP_MIN_LEVEL, GZIP_MAX_LEVEL);
    let out = Vec::with_capacity(data.len() / 2 + 32);
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS)
        .write(out, Compression::new(level));
    // Writing into a Vec cannot fail.
    encoder
        .write_all(data)
        .expect("gzip into memory cannot fail");
    encoder.finish().expect("gzip into memory cannot fail")
}

/// Whether `compressed` bytes save at least `min_saving` of `original` bytes (and are strictly smaller).
///
/// `min_saving` is clamped to 0.0..=1.0 (NaN counts as 0.0). The share is
/// computed by division so that a saving of exactly, say, 5% keeps at 0.05.
pub fn worth_keeping(original: usize, compressed: usize, min_saving: f64) -> bool {
    if compressed >= original {
        return false;
    }
    let min_saving = if min_saving.is_nan() {
        0.0
    } else {
        min_saving.clamp(0.0, 1.0)
    };
    let saved = (original - compressed) as f64;
    saved / original as f64 >= min_saving
}

/// The compressed forms of some data worth keeping (each `None` when not worth it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compressed {
    /// The brotli form, if asked for and worth keeping.
    pub br: Option<Vec<u8>>,
    /// The gzip form, if asked for and worth keeping.
    pub gzip: Option<Vec<u8>>,
}

/// The brotli (if `br`) and gzip (if `gzip`) forms of `data` worth keeping under `settings`.
///
/// Both are `None` for empty `data`.
pub fn compress(data: &[u8], settings: &Settings, br: bool, gzip: bool) -> Compressed {
    if data.is_empty() {
        return Compressed::default();
    }
    let keep =
        |out: Vec<u8>| worth_keeping(data.len(), out.len(), settings.min_saving).then_some(out);
    Compressed {
        br: br
            .then(|| self::brotli(data, settings.brotli_quality, settings.brotli_window))
            .and_then(keep),
        gzip: gzip
            .then(|| self::gzip(data, settings.gzip_level))
            .and_then(keep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Read;

    fn unbrotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        brotli::Decompressor::new(data, 4096)
            .read_to_end(&mut out)
            .expect("valid brotli");
        out
    }

    fn ungzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    /// Deterministic pseudo-random bytes (xorshift64*), incompressible.
    fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    /// A realistic-looking stylesheet of at least `min_len` bytes: varied
    /// selectors, properties and values, as a site's bundled CSS is.
    fn sample_css(min_len: usize) -> String {
        const BLOCKS: &[&str] = &[
            "header", "nav", "card", "button", "footer", "modal", "table", "form", "alert",
            "badge", "sidebar", "grid", "hero", "tooltip", "tabs", "menu",
        ];
        const PARTS: &[&str] = &[
            "",
            "__title",
            "__body",
            "__icon",
            "__item",
            "__link",
            "--active",
            "--disabled",
            "--large",
            "--primary",
        ];
        const PROPS: &[&str] = &[
            "display: flex",
            "display: grid",
            "align-items: center",
            "justify-content: space-between",
            "position: relative",
            "position: absolute",
            "overflow: hidden",
            "font-weight: 600",
            "text-decoration: none",
            "cursor: pointer",
            "box-sizing: border-box",
            "transition: all 0.2s ease-in-out",
            "white-space: nowrap",
            "line-height: 1.5",
        ];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((rng >> 33) as usize) % n
        };
        let mut css = String::from(
            "/*! site.css | built by cdn-edge tests */\n\
             :root {\n  --brand: #0a66c2;\n  --text: #1d2226;\n  --muted: #666666;\n}\n",
        );
        while css.len() < min_len {
            let block = BLOCKS[next(BLOCKS.len())];
            let part = PARTS[next(PARTS.len())];
            css.push_str(&format!(".{block}{part}"));
            if next(3) == 0 {
                css.push_str(&format!(", .{block}{part}:hover"));
            }
            css.push_str(" {\n");
            for _ in 0..2 + next(5) {
                match next(6) {
                    0 => css.push_str(&format!("  margin: {}px {}px;\n", next(8) * 4, next(8) * 4)),
                    1 => css.push_str(&format!(
                        "  padding: {}rem {}rem;\n",
                        next(4),
                        next(6) as f32 * 0.25
                    )),
                    2 => css.push_str(&format!("  color: #{:06x};\n", next(0x1_00_00_00))),
                    3 => css.push_str(&format!(
                        "  background-color: rgba({}, {}, {}, 0.{});\n",
                        next(256),
                        next(256),
                        next(256),
                        next(10)
                    )),
                    4 => css.push_str(&format!("  font-size: {}px;\n", 10 + next(20))),
                    _ => {
                        css.push_str("  ");
                        css.push_str(PROPS[next(PROPS.len())]);
                        css.push_str(";\n");
                    }
                }
            }
            css.push_str("}\n");
            if next(12) == 0 {
                css.push_str(&format!(
                    "@media (max-width: {}px) {{\n  .{block} {{ display: none; }}\n}}\n",
                    480 + next(4) * 240
                ));
            }
        }
        css
    }

    #[test]
    fn default_settings() {
        let s = Settings::default();
        assert_eq!(s.brotli_quality, 11);
        assert_eq!(s.brotli_window, 24);
        assert_eq!(s.gzip_level, 9);
        assert_eq!(s.min_saving, 0.05);
    }

    #[test]
    fn brotli_round_trips() {
        let css = sample_css(10_000);
        for (quality, window) in [(0, 10), (1, 16), (5, 22), (9, 24), (11, 24)] {
            let out = brotli(css.as_bytes(), quality, window);
            assert_eq!(unbrotli(&out), css.as_bytes(), "q{quality} w{window}");
        }
    }

    #[test]
    fn gzip_round_trips() {
        let css = sample_css(10_000);
        for level in 1..=9 {
            let out = gzip(css.as_bytes(), level);
            assert_eq!(ungzip(&out), css.as_bytes(), "level {level}");
        }
    }

    #[test]
    fn out_of_range_parameters_are_clamped() {
        let data = sample_css(2_000);
        assert_eq!(
            brotli(data.as_bytes(), 99, 99),
            brotli(data.as_bytes(), 11, 24)
        );
        assert_eq!(
            brotli(data.as_bytes(), 0, 0),
            brotli(data.as_bytes(), 0, 10)
        );
        assert_eq!(gzip(data.as_bytes(), 0), gzip(data.as_bytes(), 1));
        assert_eq!(gzip(data.as_bytes(), 42), gzip(data.as_bytes(), 9));
        assert_eq!(unbrotli(&brotli(data.as_bytes(), 99, 99)), data.as_bytes());
        assert_eq!(ungzip(&gzip(data.as_bytes(), 0)), data.as_bytes());
    }

    #[test]
    fn the_window_holds_the_whole_input_and_no_more() {
        assert_eq!(window_for(0), 18);
        assert_eq!(window_for((1 << 18) - 16), 18);
        assert_eq!(window_for((1 << 18) - 15), 19);
        assert_eq!(window_for(1 << 20), 21);
        assert_eq!(window_for(usize::MAX >> 8), BROTLI_MAX_WINDOW);
        let big = random_bytes(300_000, 7);
        assert_eq!(unbrotli(&brotli(&big, 5, 24)), big);
    }

    #[test]
    fn brotli_window_is_standard() {
        // A brotli stream starts with WBITS (RFC 7932 section 9.1), read
        // from the low bits: 24 is `1` then `111`, so the low nibble is 0xf;
        // a large-window stream would start with the 7 bits 0x11 instead.
        // A small input gets the smallest window that holds it, 18 bits:
        // `1` then `001`, whatever was asked for.
        let out = brotli(sample_css(1_000).as_bytes(), 11, 24);
        assert_eq!(out[0] & 0x0f, 0x03);
        assert_ne!(out[0] & 0x7f, 0x11);
        // 20 bits (`1` then `011`) for 600 KB, when allowed.
        let big = random_bytes(600_000, 3);
        assert_eq!(brotli(&big, 1, 24)[0] & 0x0f, 0x07);
        // Never more than asked: 19 bits is `1` then `010`.
        assert_eq!(brotli(&big, 1, 19)[0] & 0x0f, 0x05);
    }

    #[test]
    fn output_is_reproducible() {
        let css = sample_css(30_000);
        let s = Settings::default();
        assert_eq!(
            brotli(css.as_bytes(), s.brotli_quality, s.brotli_window),
            brotli(css.as_bytes(), s.brotli_quality, s.brotli_window)
        );
        assert_eq!(gzip(css.as_bytes(), 9), gzip(css.as_bytes(), 9));
        assert_eq!(
            compress(css.as_bytes(), &s, true, true),
            compress(css.as_bytes(), &s, true, true)
        );
    }

    #[test]
    fn gzip_header_is_fixed() {
        for data in [&b""[..], b"hello", sample_css(5_000).as_bytes()] {
            let out = gzip(data, 9);
            assert_eq!(&out[0..3], &[0x1f, 0x8b, 8], "magic and deflate method");
            assert_eq!(out[3], 0, "FLG: no FTEXT, FHCRC, FEXTRA, FNAME or FCOMMENT");
            assert_eq!(out[3] & 0x08, 0, "no FNAME bit");
            assert_eq!(&out[4..8], &[0, 0, 0, 0], "mtime is zero");
            assert_eq!(out[8], 2, "XFL: maximum compression");
            assert_eq!(out[9], GZIP_OS, "fixed OS byte");
        }
        assert_eq!(gzip(b"x", 1)[8], 4, "XFL: fastest");
    }

    #[test]
    fn worth_keeping_boundaries() {
        // Exactly 5% saved keeps; a byte less does not.
        assert!(worth_keeping(100, 95, 0.05));
        assert!(!worth_keeping(100, 96, 0.05));
        assert!(worth_keeping(1_000, 950, 0.05));
        assert!(!worth_keeping(1_000, 951, 0.05));
        assert!(worth_keeping(20, 19, 0.05));
        assert!(!worth_keeping(19, 19, 0.05));
        // Other shares whose product with the size would round up.
        assert!(worth_keeping(100, 93, 0.07));
        assert!(!worth_keeping(100, 94, 0.07));
        assert!(worth_keeping(1_000, 900, 0.1));
        assert!(worth_keeping(300, 210, 0.3));
        // Equal or larger never keeps, whatever the threshold.
        for min in [0.0, 0.05, -1.0, f64::NAN] {
            assert!(!worth_keeping(100, 100, min));
            assert!(!worth_keeping(100, 101, min));
            assert!(!worth_keeping(0, 0, min));
        }
        // Out-of-range thresholds clamp.
        assert!(worth_keeping(100, 99, 0.0));
        assert!(worth_keeping(100, 99, -0.5));
        assert!(worth_keeping(100, 99, f64::NAN));
        assert!(!worth_keeping(100, 1, 1.0));
        assert!(!worth_keeping(100, 1, 7.0));
        assert!(worth_keeping(100, 1, 0.99));
    }

    #[test]
    fn incompressible_data_keeps_neither() {
        let data = random_bytes(64 * 1024, 42);
        let got = compress(&data, &Settings::default(), true, true);
        assert_eq!(got, Compressed::default());
    }

    #[test]
    fn css_keeps_both_and_brotli_wins() {
        let css = sample_css(30_000);
        let got = compress(css.as_bytes(), &Settings::default(), true, true);
        let br = got.br.expect("brotli kept");
        let gz = got.gzip.expect("gzip kept");
        assert!(br.len() < gz.len(), "br {} >= gzip {}", br.len(), gz.len());
        assert_eq!(unbrotli(&br), css.as_bytes());
        assert_eq!(ungzip(&gz), css.as_bytes());
    }

    #[test]
    fn compress_honours_flags_and_threshold() {
        let css = sample_css(5_000);
        let s = Settings::default();
        let only_br = compress(css.as_bytes(), &s, true, false);
        assert!(only_br.br.is_some() && only_br.gzip.is_none());
        let only_gz = compress(css.as_bytes(), &s, false, true);
        assert!(only_gz.br.is_none() && only_gz.gzip.is_some());
        assert_eq!(
            compress(css.as_bytes(), &s, false, false),
            Compressed::default()
        );
        // A threshold nothing reaches keeps nothing.
        let strict = Settings {
            min_saving: 0.9999,
            ..s
        };
        assert_eq!(
            compress(css.as_bytes(), &strict, true, true),
            Compressed::default()
        );
        // Tiny inputs do not shrink, so are not kept.
        assert_eq!(compress(b"a{}", &s, true, true), Compressed::default());
    }

    #[test]
    fn empty_input() {
        assert_eq!(
            compress(b"", &Settings::default(), true, true),
            Compressed::default()
        );
        // The codecs themselves still produce valid, empty streams.
        assert_eq!(unbrotli(&brotli(b"", 11, 24)), b"");
        assert_eq!(ungzip(&gzip(b"", 9)), b"");
        assert!(!worth_keeping(0, 0, 0.05));
    }

    #[test]
    fn compressible_by_extension() {
        let yes = [
            "site.css",
            "app.js",
            "mod.mjs",
            "lib.cjs",
            "data.json",
            "app.js.map",
            "logo.svg",
            "feed.xml",
            "index.html",
            "page.htm",
            "notes.txt",
            "README.md",
            "table.csv",
            "app.wasm",
            "font.ttf",
            "font.otf",
            "font.eot",
            "favicon.ico",
            "site.webmanifest",
            "cal.ics",
            "feed.rss",
            "feed.atom",
        ];
        let no = [
            "a.png",
            "a.jpg",
            "a.jpeg",
            "a.gif",
            "a.webp",
            "a.avif",
            "a.woff",
            "a.woff2",
            "a.mp4",
            "a.webm",
            "a.mp3",
            "a.ogg",
            "a.zip",
            "a.css.gz",
            "a.js.br",
            "a.zst",
            "a.7z",
            "a.rar",
            "a.bz2",
            "a.xz",
            "a.pdf",
            "a.unknown",
            "a.exe",
        ];
        for name in yes {
            assert!(is_compressible(name), "{name} should be compressible");
        }
        for name in no {
            assert!(!is_compressible(name), "{name} should not be compressible");
        }
    }

    #[test]
    fn compressible_is_case_insensitive() {
        for name in ["SITE.CSS", "App.Js", "Index.HTML", "logo.SvG", "x.WASM"] {
            assert!(is_compressible(name), "{name}");
        }
        for name in ["PHOTO.JPG", "Font.WOFF2", "A.PNG"] {
            assert!(!is_compressible(name), "{name}");
        }
    }

    #[test]
    fn compressible_edge_names() {
        // No extension, dot-files, trailing dots, empty names.
        for name in [
            "",
            "Makefile",
            "LICENSE",
            ".htaccess",
            ".css",
            "css",
            "file.",
            ".",
            "..",
            "dir.css/file",
            "dir.js\\file",
        ] {
            assert!(!is_compressible(name), "{name:?}");
        }
        // Paths are fine: only the last component counts.
        assert!(is_compressible("assets/v1.2/app.css"));
        assert!(is_compressible("static\\css\\site.css"));
        assert!(is_compressible("/abs/path/.well-known/x.json"));
        assert!(!is_compressible("assets.css/logo.png"));
        // Non-ASCII does not panic.
        assert!(!is_compressible("ファイル.画像"));
        assert!(is_compressible("ファイル.css"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_input_round_trips(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            quality in 0u32..=11,
            window in 10u32..=24,
            level in 1u32..=9,
        ) {
            prop_assert_eq!(unbrotli(&brotli(&data, quality, window)), data.clone());
            prop_assert_eq!(ungzip(&gzip(&data, level)), data.clone());
            let got = compress(&data, &Settings::default(), true, true);
            if let Some(br) = got.br {
                prop_assert!(br.len() < data.len());
                prop_assert_eq!(unbrotli(&br), data.clone());
            }
            if let Some(gz) = got.gzip {
                prop_assert!(gz.len() < data.len());
                prop_assert_eq!(ungzip(&gz), data.clone());
            }
        }

        #[test]
        fn repetitive_input_round_trips(
            unit in proptest::collection::vec(any::<u8>(), 1..64),
            repeats in 1usize..512,
        ) {
            let data: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * repeats).collect();
            prop_assert_eq!(unbrotli(&brotli(&data, 11, 24)), data.clone());
            prop_assert_eq!(ungzip(&gzip(&data, 9)), data.clone());
        }
    }
}
