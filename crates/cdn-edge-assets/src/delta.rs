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

use cdn_edge_http::dictionary::{self, Hash};
use sha2::Digest;

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
    let window = dictionary::dcz_window_log(dictionary.len() as u64);
    c.set_parameter(CParameter::WindowLog(window))?;
    c.set_parameter(CParameter::ContentSizeFlag(true))?;
    c.set_parameter(CParameter::ChecksumFlag(true))?;
    let frame = c.compress_with_prefix(data, dictionary)?;
    let mut out = Vec::with_capacity(40 + frame.len());
    out.extend_from_slice(&dictionary::dcz_header(&hash(dictionary)));
    out.extend_from_slice(&frame);
    Ok(out)
}

/// `data` as a `dcb` body against `dictionary` (header included).
pub fn dcb(data: &[u8], dictionary: &[u8], quality: u32) -> io::Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: quality as i32,
        lgwin: dictionary::DCB_WINDOW_LOG as i32,
        size_hint: data.len(),
        ..Default::default()
    };
    let mut out = Vec::with_capacity(36 + data.len() / 4);
    out.extend_from_slice(&dictionary::dcb_header(&hash(dictionary)));
    let mut input = [0u8; 4096];
    let mut output = [0u8; 4096];
    let mut nop = |_: &mut brotli::interface::PredictionModeContextMap<
        brotli::InputReferenceMut,
    >,
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
            writeln!(old, "export function f{i}(x) {{ return x * {i} + {}; }}", i % 7).unwrap();
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
        assert_eq!(d[..8], dictionary::DCZ_MAGIC);
        assert_eq!(d[8..40], hash(&old));
        let mut z = zstd::bulk::Decompressor::new().unwrap();
        z.context_mut().ref_prefix(&old).unwrap();
        let back = z.decompress(&d[40..], new.len()).unwrap();
        assert_eq!(back, new);
        // Against the old version it is a small fraction of the plain zstd.
        let plain = zstd::bulk::compress(&new, 19).unwrap();
        assert!(d.len() * 10 < plain.len(), "{} vs {}", d.len(), plain.len());
    }

    #[test]
    fn a_dcb_delta_decodes_against_the_old_bytes() {
        let (old, new) = versions();
        let d = dcb(&new, &old, 11).unwrap();
        assert_eq!(d[..4], dictionary::DCB_MAGIC);
        assert_eq!(d[4..36], hash(&old));
        let mut back = Vec::new();
        let (mut i, mut o) = ([0u8; 4096], [0u8; 4096]);
        brotli_decompressor::BrotliDecompressCustomDict(
            &mut &d[36..],
            &mut back,
            &mut i,
            &mut o,
            old.clone(),
        )
        .unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn hash_is_sha256() {
        let h = hash(b"");
        assert_eq!(h[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }
}
