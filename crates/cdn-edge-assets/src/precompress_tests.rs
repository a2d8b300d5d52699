//! The tests of `precompress`: each encoder round-trips and is reproducible,
//! parameters clamp, windows stay standard (brotli 24 bits, zstd 8 MiB),
//! and what is kept follows the flags and the threshold.

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

fn unzstd(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    zstd::stream::read::Decoder::new(data)
        .expect("decoder")
        .read_to_end(&mut out)
        .expect("valid zstd");
    out
}

/// The window a zstd frame asks its decoder for (RFC 8878 §3.1.1.1):
/// the content size for a single-segment frame, else its Window_Descriptor.
fn zstd_window(frame: &[u8]) -> u64 {
    assert_eq!(&frame[..4], &[0x28, 0xb5, 0x2f, 0xfd], "zstd magic");
    let fhd = frame[4];
    let single_segment = fhd & 0x20 != 0;
    if single_segment {
        let dict_id_len = [0, 1, 2, 4][(fhd & 3) as usize];
        let fcs_len = [1, 2, 4, 8][(fhd >> 6) as usize];
        let at = 5 + dict_id_len;
        let mut size = [0u8; 8];
        size[..fcs_len].copy_from_slice(&frame[at..at + fcs_len]);
        let size = u64::from_le_bytes(size);
        return if fcs_len == 2 { size + 256 } else { size };
    }
    let wd = frame[5];
    let log = 10 + u64::from(wd >> 3);
    let base = 1u64 << log;
    base + (base / 8) * u64::from(wd & 7)
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
        "header", "nav", "card", "button", "footer", "modal", "table", "form", "alert", "badge",
        "sidebar", "grid", "hero", "tooltip", "tabs", "menu",
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
    assert_eq!(s.zstd_level, 19);
    assert_eq!(s.min_saving, 0.05);
}

#[test]
fn zstd_round_trips() {
    let css = sample_css(10_000);
    for level in [1, 3, 6, 12, 19] {
        let out = zstd(css.as_bytes(), level);
        assert_eq!(unzstd(&out), css.as_bytes(), "level {level}");
    }
    assert_eq!(zstd(css.as_bytes(), 0), zstd(css.as_bytes(), 1));
    assert_eq!(zstd(css.as_bytes(), 99), zstd(css.as_bytes(), 19));
    assert_eq!(zstd(css.as_bytes(), 19), zstd(css.as_bytes(), 19));
}

#[test]
fn zstd_window_holds_the_input_and_never_exceeds_8_mib() {
    assert_eq!(zstd_window_for(0), 10);
    assert_eq!(zstd_window_for(1 << 10), 10);
    assert_eq!(zstd_window_for((1 << 10) + 1), 11);
    assert_eq!(zstd_window_for(1 << 20), 20);
    assert_eq!(zstd_window_for(usize::MAX), ZSTD_MAX_WINDOW);
    // Small input: a single-segment frame, its window the content size.
    let small = sample_css(20_000);
    assert_eq!(zstd_window(&zstd(small.as_bytes(), 19)), small.len() as u64);
    // Larger than 8 MiB: the frame names a window, and it is 8 MiB
    // (RFC 9659 §3), not the level's own (512 KiB at 1, 2 MiB at 3).
    let mut big = random_bytes(3 << 20, 9);
    big.extend_from_slice(&big.clone());
    big.extend_from_slice(&big.clone()[..(3 << 20)]);
    for level in [1, 3] {
        let out = zstd(&big, level);
        assert_eq!(zstd_window(&out), 8 << 20, "level {level}");
        let mut dec = zstd::stream::read::Decoder::new(&out[..]).unwrap();
        dec.window_log_max(ZSTD_MAX_WINDOW).unwrap();
        let mut back = Vec::new();
        dec.read_to_end(&mut back).unwrap();
        assert!(
            back == big,
            "level {level} round-trips with an 8 MiB window"
        );
    }
}

#[test]
fn forms_name_each_encoding_once() {
    let tokens: Vec<_> = FORMS.iter().map(|f| f.token).collect();
    assert_eq!(tokens, ["br", "zstd", "gzip"]);
    assert_eq!(sibling_ext("zstd"), Some("zst"));
    assert_eq!(sibling_ext("gzip"), Some("gz"));
    assert_eq!(sibling_ext("identity"), None);
    for f in FORMS {
        assert!(Wanted::ALL.has(f.token) && !Wanted::NONE.has(f.token));
    }
    let css = sample_css(5_000);
    let forms: Vec<_> = compress(css.as_bytes(), &Settings::default(), Wanted::ALL)
        .into_forms()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(forms, tokens);
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
        compress(css.as_bytes(), &s, Wanted::ALL),
        compress(css.as_bytes(), &s, Wanted::ALL)
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
    let got = compress(&data, &Settings::default(), Wanted::ALL);
    assert_eq!(got, Compressed::default());
}

#[test]
fn css_keeps_every_form_and_brotli_wins() {
    let css = sample_css(30_000);
    let got = compress(css.as_bytes(), &Settings::default(), Wanted::ALL);
    let br = got.br.expect("brotli kept");
    let zst = got.zstd.expect("zstd kept");
    let gz = got.gzip.expect("gzip kept");
    assert!(br.len() < gz.len(), "br {} >= gzip {}", br.len(), gz.len());
    assert!(
        zst.len() < gz.len(),
        "zstd {} >= gzip {}",
        zst.len(),
        gz.len()
    );
    assert_eq!(unbrotli(&br), css.as_bytes());
    assert_eq!(unzstd(&zst), css.as_bytes());
    assert_eq!(ungzip(&gz), css.as_bytes());
}

#[test]
fn compress_honours_flags_and_threshold() {
    let css = sample_css(5_000);
    let s = Settings::default();
    let only = |br, zstd, gzip| compress(css.as_bytes(), &s, Wanted { br, zstd, gzip });
    let only_br = only(true, false, false);
    assert!(only_br.br.is_some() && only_br.zstd.is_none() && only_br.gzip.is_none());
    let only_zstd = only(false, true, false);
    assert!(only_zstd.br.is_none() && only_zstd.zstd.is_some() && only_zstd.gzip.is_none());
    let only_gz = only(false, false, true);
    assert!(only_gz.br.is_none() && only_gz.zstd.is_none() && only_gz.gzip.is_some());
    assert_eq!(
        compress(css.as_bytes(), &s, Wanted::NONE),
        Compressed::default()
    );
    // A threshold nothing reaches keeps nothing.
    let strict = Settings {
        min_saving: 0.9999,
        ..s
    };
    assert_eq!(
        compress(css.as_bytes(), &strict, Wanted::ALL),
        Compressed::default()
    );
    // Tiny inputs do not shrink, so are not kept.
    assert_eq!(compress(b"a{}", &s, Wanted::ALL), Compressed::default());
}

#[test]
fn empty_input() {
    assert_eq!(
        compress(b"", &Settings::default(), Wanted::ALL),
        Compressed::default()
    );
    // The codecs themselves still produce valid, empty streams.
    assert_eq!(unbrotli(&brotli(b"", 11, 24)), b"");
    assert_eq!(ungzip(&gzip(b"", 9)), b"");
    assert_eq!(unzstd(&zstd(b"", 19)), b"");
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
        let got = compress(&data, &Settings::default(), Wanted::ALL);
        if let Some(br) = got.br {
            prop_assert!(br.len() < data.len());
            prop_assert_eq!(unbrotli(&br), data.clone());
        }
        if let Some(z) = got.zstd {
            prop_assert!(z.len() < data.len());
            prop_assert_eq!(unzstd(&z), data.clone());
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
        prop_assert_eq!(unzstd(&zstd(&data, 3)), data.clone());
    }
}
