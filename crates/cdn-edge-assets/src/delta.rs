//! Deltas: a file compressed against an older version of itself, as the
//! bodies of RFC 9842's `dcz` (zstd, the old bytes as a raw prefix) and
//! `dcb` (brotli, the old bytes as a custom dictionary) codings, each
//! behind its fixed header (magic and the old bytes' SHA-256). Shared by
//! `build` (deltas from deploy history) and the server (deltas of pulled
//! objects on the compression pool).
//!
//! A browser decodes both with the dictionary as raw content: zstd's
//! `--patch-from` and brotli's raw shared dictionary (a prefix of the
//! window) are that. Windows stay inside what a client must accept: zstd
//! at most 8 MB or 1.25 times the dictionary (§5), brotli 16 MB (§4).

use std::io::{self, Write};

use sha2::Digest;

/// A dictionary's identity: the SHA-256 of its bytes (RFC 9842 §2.2).
pub type Hash = [u8; 32];

/// The first bytes of a `dcb` body (RFC 9842 §4): `0xff` `DCB`, then the hash.
pub const DCB_MAGIC: [u8; 4] = [0xff, 0x44, 0x43, 0x42];

/// The first bytes of a `dcz` body (RFC 9842 §5): a zstd skippable frame
/// (magic `0x184D2A5E`, 32 bytes long) that holds the hash.
pub const DCZ_MAGIC: [u8; 8] = [0x5e, 0x2a, 0x4d, 0x18, 0x20, 0x00, 0x00, 0x00];

/// The largest brotli window a `dcb` stream may use: 16 MB (RFC 9842 §4), the
/// dictionary included (lgwin 24).
pub const DCB_WINDOW_LOG: u32 = 24;

/// The `dcb` header for a dictionary: 36 bytes.
pub fn dcb_header(dictionary: &Hash) -> [u8; 36] {
    let mut h = [0u8; 36];
    h[..4].copy_from_slice(&DCB_MAGIC);
    h[4..].copy_from_slice(dictionary);
    h
}

/// The `dcz` header for a dictionary: 40 bytes.
pub fn dcz_header(dictionary: &Hash) -> [u8; 40] {
    let mut h = [0u8; 40];
    h[..8].copy_from_slice(&DCZ_MAGIC);
    h[8..].copy_from_slice(dictionary);
    h
}

/// The zstd window (log2) a `dcz` stream against a dictionary of `len`
/// bytes may use: at most 8 MB or 1.25 times the dictionary, whichever is
/// larger (RFC 9842 §5), and never past zstd's 2 GiB.
pub fn dcz_window_log(len: u64) -> u32 {
    let allowed = (8u64 << 20).max(len.saturating_add(len / 4));
    // The largest power of two not above `allowed`.
    (63 - allowed.leading_zeros()).min(31)
}

/// The brotli window (log2) a `dcb` stream of `total` bytes (dictionary
/// and file) uses: just over both, so every byte of the dictionary stays
/// in reach, and no larger (an encoder's ring buffer and match tables grow
/// with it): between 16 and [`DCB_WINDOW_LOG`].
pub fn dcb_window_log(total: usize) -> u32 {
    bits_for(total).clamp(16, DCB_WINDOW_LOG)
}

/// The zstd hash and chain table size (log2) for `total` bytes searched:
/// between 16 and 20.
fn table_log(total: usize) -> u32 {
    bits_for(total).clamp(16, 20)
}

/// The least `b` with 2^b ≥ `n` + 16 (brotli keeps 16 bytes of the window
/// unused).
fn bits_for(n: usize) -> u32 {
    (n as u64 + 16).next_power_of_two().trailing_zeros()
}

/// Deltas are made against dictionaries of at most this many bytes (and
/// for files of at most as many): brotli's 16 MB window must hold both
/// for the delta to pay, and no browser keeps larger dictionaries for long.
pub const MAX_DICTIONARY: usize = 16 << 20;

/// zstd level of build-time deltas (as `--patch-from` at `-19`).
pub const ZSTD_LEVEL: i32 = 19;
/// brotli quality of build-time deltas.
pub const BROTLI_QUALITY: u32 = 11;

/// The SHA-256 of a dictionary: what `Available-Dictionary` names.
pub fn hash(dictionary: &[u8]) -> Hash {
    sha2::Sha256::digest(dictionary).into()
}

/// `data` as a `dcz` body against `dictionary` (header included).
pub fn dcz(data: &[u8], dictionary: &[u8], level: i32) -> io::Result<Vec<u8>> {
    use zstd::zstd_safe::CParameter;
    let mut c = zstd::bulk::Compressor::new(level)?;
    let window = dcz_window_log(dictionary.len() as u64);
    c.set_parameter(CParameter::WindowLog(window))?;
    // The match finder's tables sized to what there is to search, and at
    // most 2^20 entries each (4 MiB): level 19's own, for an 8 MB input,
    // take 80 MiB per encoder.
    let tables = table_log(data.len() + dictionary.len());
    c.set_parameter(CParameter::HashLog(tables))?;
    c.set_parameter(CParameter::ChainLog(tables))?;
    c.set_parameter(CParameter::ContentSizeFlag(true))?;
    c.set_parameter(CParameter::ChecksumFlag(true))?;
    let frame = c.compress_with_prefix(data, dictionary)?;
    let mut out = Vec::with_capacity(40 + frame.len());
    out.extend_from_slice(&dcz_header(&hash(dictionary)));
    out.extend_from_slice(&frame);
    Ok(out)
}

/// `data` as a `dcb` body against `dictionary` (header included).
pub fn dcb(data: &[u8], dictionary: &[u8], quality: u32) -> io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: dcb_window_log(data.len() + dictionary.len()) as i32,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(36 + data.len() / 4);
    out.extend_from_slice(&dcb_header(&hash(dictionary)));
    let mut input = [0u8; 4096];
    let mut output = [0u8; 4096];
    let mut nop =
        |_: &mut brotli::interface::PredictionModeContextMap<brotli::InputReferenceMut>,
         _: &mut [brotli::interface::StaticCommand],
         _: brotli::InputPair,
         _: &mut brotli::enc::StandardAlloc| ();
    brotli::enc::BrotliCompressCustomIoCustomDict(
        &mut brotli::IoReaderWrapper(&mut &data[..]),
        &mut brotli::IoWriterWrapper(&mut out),
        &mut input,
        &mut output,
        &params,
        brotli::enc::StandardAlloc::default(),
        &mut nop,
        dictionary,
        io::Error::new(io::ErrorKind::UnexpectedEof, "unexpected end of input"),
    )?;
    out.flush()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> (Vec<u8>, Vec<u8>) {
        let mut old = Vec::new();
        for i in 0..4000 {
            writeln!(
                old,
                "export function f{i}(x) {{ return x * {i} + {}; }}",
                i % 7
            )
            .unwrap();
        }
        let new = String::from_utf8(old.clone())
            .unwrap()
            .replace("return x * 1999 ", "return x * 2000 ")
            .into_bytes();
        (old, new)
    }

    #[test]
    fn a_dcz_delta_decodes_against_the_old_bytes() {
        let (old, new) = versions();
        let d = dcz(&new, &old, 19).unwrap();
        assert_eq!(d[..8], DCZ_MAGIC);
        assert_eq!(d[8..40], hash(&old));
        use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
        let mut z = Decoder::with_ref_prefix(&old).unwrap();
        let mut back = vec![0u8; new.len() + 64];
        let mut input = InBuffer::around(&d[40..]);
        let mut output = OutBuffer::around(&mut back[..]);
        z.run(&mut input, &mut output).unwrap();
        let n = output.pos();
        assert_eq!(back[..n], new[..]);
        // Against the old version it is a small fraction of the plain zstd.
        let plain = zstd::bulk::compress(&new, 19).unwrap();
        assert!(d.len() * 10 < plain.len(), "{} vs {}", d.len(), plain.len());
    }

    #[test]
    fn a_dcb_delta_carries_its_header_and_is_small() {
        // Decoded against the old bytes by Google's decoder in the
        // integration tests (tests/it/dictionaries.rs).
        let (old, new) = versions();
        let d = dcb(&new, &old, 11).unwrap();
        assert_eq!(d[..4], DCB_MAGIC);
        assert_eq!(d[4..36], hash(&old));
        let plain = crate::precompress::brotli(&new, 11, 24);
        assert!(d.len() * 10 < plain.len(), "{} vs {}", d.len(), plain.len());
    }

    #[test]
    fn headers_carry_magic_and_hash() {
        let h = [7u8; 32];
        let z = dcz_header(&h);
        assert_eq!(z[..8], DCZ_MAGIC);
        assert_eq!(z[8..], h);
        let b = dcb_header(&h);
        assert_eq!(b[..4], [0xff, b'D', b'C', b'B']);
        assert_eq!(b[4..], h);
    }

    #[test]
    fn dcz_window_is_8_mb_or_a_quarter_more_than_the_dictionary() {
        assert_eq!(dcz_window_log(0), 23);
        assert_eq!(dcz_window_log(6 << 20), 23);
        // 10 MiB * 1.25 = 12.5 MiB: the window may be 8 MiB, not 16.
        assert_eq!(dcz_window_log(10 << 20), 23);
        assert_eq!(dcz_window_log(14 << 20), 24);
        assert_eq!(dcz_window_log(u64::MAX), 31);
        assert_eq!(dcb_window_log(0), 16);
        assert_eq!(dcb_window_log(120_000), 17);
        assert_eq!(dcb_window_log((1 << 20) - 16), 20);
        assert_eq!(dcb_window_log((1 << 20) - 15), 21);
        assert_eq!(dcb_window_log(32 << 20), 24);
        assert_eq!(table_log(8 << 20), 20);
    }

    #[test]
    fn hash_is_sha256() {
        let h = hash(b"");
        assert_eq!(h[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }
}
