//! Independent oracles for the bytes the node and `cdn-edge build` write,
//! as dev-dependencies (no program beyond the Rust toolchain needed), each
//! another implementation than the one the node uses:
//!
//! | check | oracle | the node uses |
//! |---|---|---|
//! | brotli | Google's reference decoder (C), through `brotlic` | the `brotli` crate (Rust) |
//! | gzip | libdeflate (C), through `libdeflater`: checks the CRC-32 and length | flate2 (miniz_oxide) |
//! | zstd | the reference library (C, through the `zstd` crate) as an HTTP client must decode it: a window of at most 8 MiB (RFC 9659 §3) | the same library: this checks the frame and its window, not a second implementation |
//! | `dcb` (RFC 9842 §4) | Google's reference decoder with the dictionary attached as a raw shared dictionary, as Chrome decodes it (`brotlic-sys`) | the `brotli` crate's custom dictionary |
//! | `dcz` (RFC 9842 §5) | the reference library with the dictionary as a raw-content prefix, window at most 8 MiB or 1.25 × the dictionary | the same library |
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

/// Decodes a `dcb` body (RFC 9842 §4: `0xff DCB`, the dictionary's
/// SHA-256, a brotli stream) against `dictionary` with Google's decoder,
/// the dictionary attached raw as browsers attach it; panics on a wrong
/// header or hash, or anything that is not one complete valid stream.
pub fn undcb(b: &[u8], dictionary: &[u8]) -> Vec<u8> {
    use brotlic_sys::*;
    assert!(
        b.len() >= 36 && b[..4] == [0xff, b'D', b'C', b'B'],
        "not a dcb header"
    );
    assert_eq!(
        &b[4..36],
        &sha256(dictionary)[..],
        "dcb: another dictionary's hash"
    );
    let stream = &b[36..];
    let mut out = Vec::new();
    // SAFETY: the state is created, used with buffers that outlive each
    // call and destroyed here; pointers and lengths come from live slices.
    unsafe {
        let state = BrotliDecoderCreateInstance(None, None, std::ptr::null_mut());
        assert!(!state.is_null());
        let attached = BrotliDecoderAttachDictionary(
            state,
            BrotliSharedDictionaryType_BROTLI_SHARED_DICTIONARY_RAW,
            dictionary.len(),
            dictionary.as_ptr(),
        );
        assert_eq!(attached, 1, "dictionary not attached");
        let mut next_in = stream.as_ptr();
        let mut avail_in = stream.len();
        let mut buf = vec![0u8; 1 << 16];
        let result = loop {
            let mut next_out = buf.as_mut_ptr();
            let mut avail_out = buf.len();
            let r = BrotliDecoderDecompressStream(
                state,
                &mut avail_in,
                &mut next_in,
                &mut avail_out,
                &mut next_out,
                std::ptr::null_mut(),
            );
            out.extend_from_slice(&buf[..buf.len() - avail_out]);
            if r != BrotliDecoderResult_BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT {
                break r;
            }
        };
        BrotliDecoderDestroyInstance(state);
        assert_eq!(
            (result, avail_in),
            (BrotliDecoderResult_BROTLI_DECODER_RESULT_SUCCESS, 0),
            "not one complete dcb stream against this dictionary"
        );
    }
    out
}

/// Decodes a `dcz` body (RFC 9842 §5: a skippable frame holding the
/// dictionary's SHA-256, then a zstd frame) against `dictionary` as a
/// raw-content prefix, refusing a window past 8 MiB or 1.25 × the
/// dictionary (the most a client must accept); panics on anything else.
pub fn undcz(b: &[u8], dictionary: &[u8]) -> Vec<u8> {
    use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
    let magic = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0, 0, 0];
    assert!(b.len() >= 40 && b[..8] == magic, "not a dcz header");
    assert_eq!(
        &b[8..40],
        &sha256(dictionary)[..],
        "dcz: another dictionary's hash"
    );
    let allowed = (8u64 << 20).max(dictionary.len() as u64 * 5 / 4);
    let window_log = 63 - allowed.leading_zeros();
    let mut d = Decoder::with_ref_prefix(dictionary).expect("zstd decoder");
    d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(window_log))
        .expect("window log");
    let mut input = InBuffer::around(&b[40..]);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let mut output = OutBuffer::around(&mut buf[..]);
        let hint = d
            .run(&mut input, &mut output)
            .unwrap_or_else(|e| panic!("not a valid dcz frame against this dictionary: {e}"));
        let n = output.pos();
        out.extend_from_slice(&buf[..n]);
        if hint == 0 && n < buf.len() {
            break;
        }
        assert!(
            n > 0 || input.pos() < input.src.len(),
            "truncated dcz frame"
        );
    }
    assert_eq!(input.pos(), b.len() - 40, "bytes after the dcz frame");
    out
}

/// SHA-256 with ring (a dictionary's identity, RFC 9842 §2.2).
pub fn sha256(b: &[u8]) -> [u8; 32] {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .try_into()
        .unwrap()
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
