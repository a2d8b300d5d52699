//! Precompression of static assets: brotli, zstd and gzip encodings made
//! ahead of time, kept only when they are worth serving instead of the
//! original. [`FORMS`] lists them with their siblings' file extensions.
//!
//! This module is shared by the `build` subcommand (which writes `.br`,
//! `.zst` and `.gz` siblings beside assets) and the server's compression
//! pool (which compresses pulled objects and local text off the request
//! path). It is pure: bytes in, bytes out.
//!
//! What it is not: it does no file I/O, picks no file names, and takes no
//! part in content negotiation (choosing an encoding from `Accept-Encoding`
//! belongs to the server). It is also not for on-the-fly compression on the
//! request path: the default settings (brotli 11, zstd 19, gzip 9) are slow
//! by design.
//!
//! Output is reproducible: the same input and settings give the same bytes,
//! so rebuilt trees do not churn. Gzip output carries no file name, no
//! comment, an mtime of zero and a fixed OS byte (like `gzip -9 -n`). Brotli
//! output uses a standard window of at most 24 bits, which every browser
//! decodes, never the non-standard "large window" extension. Zstd output
//! (RFC 8878) is one frame with its content size, no checksum, and a window
//! of at most 8 MiB (RFC 9659 §3: what an HTTP client must decode), set
//! explicitly rather than left to the level's table, with long-distance
//! matching off.
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
/// The lowest zstd level used.
pub const ZSTD_MIN_LEVEL: u32 = 1;
/// The highest zstd level used: 20 to 22 ("ultra") only pay with windows
/// beyond the 8 MiB HTTP allows.
pub const ZSTD_MAX_LEVEL: u32 = 19;
/// The largest zstd window, in bits: 8 MiB, the most an HTTP client must
/// decode (RFC 9659 §3).
pub const ZSTD_MAX_WINDOW: u32 = 23;

/// An encoding precompression makes: its content-coding token (also its
/// key in the manifest and in a disk record) and the extension of its
/// sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    /// The content-coding token (`br`, `zstd`, `gzip`).
    pub token: &'static str,
    /// The sibling's extension, without the dot (`br`, `zst`, `gz`).
    pub ext: &'static str,
}

/// The encodings precompression makes, in the server's order of preference
/// between equal sizes (the order of `http::accept_encoding::Coding::ENCODINGS`,
/// whose tokens these are; the server checks that they agree).
pub const FORMS: [Form; 3] = [
    Form {
        token: "br",
        ext: "br",
    },
    Form {
        token: "zstd",
        ext: "zst",
    },
    Form {
        token: "gzip",
        ext: "gz",
    },
];

/// The extension of the sibling holding the encoding named `token`.
pub fn sibling_ext(token: &str) -> Option<&'static str> {
    FORMS.iter().find(|f| f.token == token).map(|f| f.ext)
}

/// How to precompress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Brotli quality 0..=11 (default 11).
    pub brotli_quality: u32,
    /// Brotli window bits 10..=24 (default 24, the largest standard window).
    pub brotli_window: u32,
    /// Gzip level 1..=9 (default 9).
    pub gzip_level: u32,
    /// Zstd level 1..=19 (default 19).
    pub zstd_level: u32,
    /// Minimum share of the original bytes a form must save to be kept, 0.0..1.0 (default 0.05).
    pub min_saving: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            brotli_quality: BROTLI_MAX_QUALITY,
            brotli_window: BROTLI_MAX_WINDOW,
            gzip_level: GZIP_MAX_LEVEL,
            zstd_level: ZSTD_MAX_LEVEL,
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

/// The smallest zstd window (bits) that holds all of `len` bytes, from 10
/// (zstd's least) to [`ZSTD_MAX_WINDOW`].
fn zstd_window_for(len: usize) -> u32 {
    let bits = usize::BITS - len.saturating_sub(1).leading_zeros();
    bits.clamp(10, ZSTD_MAX_WINDOW)
}

/// Zstd-compresses `data` (deterministic: same input and level give the
/// same bytes): one frame recording the content size, no checksum, a
/// window that holds the input up to 8 MiB (RFC 9659 §3) and never more,
/// no long-distance matching.
///
/// `level` is clamped to 1..=19.
pub fn zstd(data: &[u8], level: u32) -> Vec<u8> {
    use zstd::zstd_safe::CParameter;
    let level = level.clamp(ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL);
    let params = [
        CParameter::CompressionLevel(level as i32),
        CParameter::WindowLog(zstd_window_for(data.len())),
        CParameter::EnableLongDistanceMatching(false),
        CParameter::ContentSizeFlag(true),
        CParameter::ChecksumFlag(false),
    ];
    // Only allocation can fail here (every parameter is in range).
    let mut c = zstd::bulk::Compressor::new(level as i32).expect("zstd context");
    for p in params {
        c.set_parameter(p).expect("zstd parameter in range");
    }
    c.compress(data).expect("zstd into memory cannot fail")
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

/// Which of the [`FORMS`] to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// Brotli.
    pub br: bool,
    /// Zstd.
    pub zstd: bool,
    /// Gzip.
    pub gzip: bool,
}

impl Wanted {
    /// Every form.
    pub const ALL: Wanted = Wanted {
        br: true,
        zstd: true,
        gzip: true,
    };
    /// None.
    pub const NONE: Wanted = Wanted {
        br: false,
        zstd: false,
        gzip: false,
    };

    /// Whether the form named `token` is wanted.
    pub fn has(&self, token: &str) -> bool {
        match token {
            "br" => self.br,
            "zstd" => self.zstd,
            "gzip" => self.gzip,
            _ => false,
        }
    }
}

/// The compressed forms of some data worth keeping (each `None` when not worth it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compressed {
    /// The brotli form, if asked for and worth keeping.
    pub br: Option<Vec<u8>>,
    /// The zstd form, if asked for and worth keeping.
    pub zstd: Option<Vec<u8>>,
    /// The gzip form, if asked for and worth keeping.
    pub gzip: Option<Vec<u8>>,
}

impl Compressed {
    /// The forms kept, each with its token, in the order of [`FORMS`].
    pub fn into_forms(self) -> Vec<(&'static str, Vec<u8>)> {
        [("br", self.br), ("zstd", self.zstd), ("gzip", self.gzip)]
            .into_iter()
            .filter_map(|(token, b)| b.map(|b| (token, b)))
            .collect()
    }
}

/// The forms of `data` that are `wanted` and worth keeping under `settings`.
///
/// All are `None` for empty `data`.
pub fn compress(data: &[u8], settings: &Settings, wanted: Wanted) -> Compressed {
    if data.is_empty() {
        return Compressed::default();
    }
    let keep =
        |out: Vec<u8>| worth_keeping(data.len(), out.len(), settings.min_saving).then_some(out);
    Compressed {
        br: wanted
            .br
            .then(|| self::brotli(data, settings.brotli_quality, settings.brotli_window))
            .and_then(keep),
        zstd: wanted
            .zstd
            .then(|| self::zstd(data, settings.zstd_level))
            .and_then(keep),
        gzip: wanted
            .gzip
            .then(|| self::gzip(data, settings.gzip_level))
            .and_then(keep),
    }
}

#[cfg(test)]
#[path = "precompress_tests.rs"]
mod tests;
