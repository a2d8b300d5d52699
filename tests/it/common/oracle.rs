//! Independent oracles for the bytes the node and `cdn-edge build` write,
//! as dev-dependencies (no program beyond the Rust toolchain needed), each
//! another implementation than the one the node uses:
//!
//! | check | oracle | the node uses |
//! |---|---|---|
//! | brotli | Google's reference decoder (C), through `brotlic` | the `brotli` crate (Rust) |
//! | gzip | libdeflate (C), through `libdeflater`: checks the CRC-32 and length | flate2 (miniz_oxide) |
//! | zstd | the reference library (C, through the `zstd` crate) as an HTTP client must decode it: a window of at most 8 MiB (RFC 9659 §3) | the same library: this checks the frame and its window, not a second implementation |
//! | SRI `sha384-` | ring's SHA-384 | RustCrypto's `sha2` |
//!
//! A known answer from each specification anchors the oracles themselves
//! (the tests below).

use std::io::Read;

use base64::Engine;

/// Decodes a whole brotli stream with Google's reference decoder; panics
/// on anything that is not one complete valid stream.
pub fn unbrotli(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotlic::DecompressorReader::new(b)
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("not a valid brotli stream ({} bytes): {e}", b.len()));
    out
}

/// Decodes a whole gzip member with libdeflate, which checks its CRC-32
/// and length; panics on anything else.
pub fn gunzip(b: &[u8]) -> Vec<u8> {
    // The trailer's ISIZE is the length (mod 2^32) libdeflate checks too.
    let isize = match b.len() {
        n if n >= 18 => u32::from_le_bytes(b[n - 4..].try_into().unwrap()) as usize,
        n => panic!("not a gzip member: {n} bytes"),
    };
    assert!(isize <= 1 << 30, "gzip ISIZE {isize}: beyond any test file");
    let mut out = vec![0; isize];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(b, &mut out)
        .unwrap_or_else(|e| panic!("not a valid gzip member ({} bytes): {e:?}", b.len()));
    out.truncate(n);
    out
}

/// Decodes zstd frames with the reference library, refusing (panicking on)
/// any frame whose window exceeds 8 MiB, the most an HTTP client must
/// accept (RFC 9659 §3), or anything that is not valid zstd.
pub fn unzstd(b: &[u8]) -> Vec<u8> {
    let mut d = zstd::stream::read::Decoder::new(b).expect("zstd decoder");
    d.window_log_max(23).expect("window log 23");
    let mut out = Vec::new();
    d.read_to_end(&mut out).unwrap_or_else(|e| {
        panic!(
            "not valid zstd within an 8 MiB window ({} bytes): {e}",
            b.len()
        )
    });
    out
}

/// The Subresource Integrity value `sha384-<base64>` of `b`, with ring.
pub fn sri_sha384(b: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA384, b);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

#[test]
fn the_oracles_give_the_specifications_answers() {
    // SRI, section 3.1 (W3C): the integrity of `alert('Hello, world.');`.
    assert_eq!(
        sri_sha384(b"alert('Hello, world.');"),
        "sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO"
    );
    // RFC 7932 section 9.2: one empty last meta-block (ISLAST, ISLASTEMPTY).
    assert_eq!(unbrotli(&[0x06]), b"");
    // RFC 1952 and 1951: an empty member (one final fixed-Huffman block
    // holding only its end code; CRC-32 0, ISIZE 0), as `gzip` writes it.
    let empty = [
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(gunzip(&empty), b"");
    // RFC 8878 §3.1.1: an empty frame (magic, a single-segment header of
    // content size 0, one empty last raw block).
    assert_eq!(
        unzstd(&[0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00]),
        b""
    );
    // A damaged member is refused, not read.
    let mut bad = empty;
    bad[12] = 1; // the CRC no longer matches
    assert!(std::panic::catch_unwind(|| gunzip(&bad)).is_err());
}
