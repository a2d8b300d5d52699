//! Writing one processed file into the output tree: its fingerprinted name
//! and its plain name, each with the `.br` / `.zst` / `.gz` siblings worth keeping,
//! all written atomically. Content-addressed outputs that already hold the
//! right bytes (and whose siblings the previous manifest recorded) are
//! reused rather than recompressed; files whose bytes already match are not
//! rewritten, so a rebuild of an unchanged tree touches nothing.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use base64::Engine;
use sha2::Digest;

use crate::fsutil::write_atomic;
use crate::manifest::Entry;
use crate::precompress::{self, Settings, Wanted, FORMS};

/// A source file after rewriting, ready to be written.
#[derive(Debug)]
pub struct Processed {
    /// Logical path (`css/app.css`).
    pub logical: String,
    /// Fingerprinted path relative to the output (`css/app.0123456789.css`).
    pub file: String,
    /// Final content.
    pub bytes: Vec<u8>,
    /// blake3 of `bytes`, hex.
    pub blake3: String,
    /// MIME type.
    pub content_type: String,
    /// `file` carries a content hash (false for an entry point kept under
    /// its own name).
    pub fingerprinted: bool,
}

/// What writing one file did.
#[derive(Debug)]
pub struct Emitted {
    /// Its manifest entry.
    pub entry: Entry,
    /// Compression was skipped: the outputs were already there.
    pub reused: bool,
}

/// Which codings to produce, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Encodings {
    /// The siblings to produce (`.br`, `.zst`, `.gz`).
    pub wanted: Wanted,
    /// Compression settings.
    pub settings: Settings,
}

/// Writes `p` under `out`. `previous` is the same logical file's entry in
/// the manifest already in `out`, when that build used the same settings.
pub fn emit(
    out: &Path,
    p: &Processed,
    previous: Option<&Entry>,
    enc: &Encodings,
) -> io::Result<Emitted> {
    let fp_path = out.join(&p.file);
    // `previous` is only given when the build settings are unchanged, so
    // the same bytes would get the same siblings: reuse them if present.
    let reusable = previous
        .filter(|e| e.blake3 == p.blake3 && e.file == p.file)
        .filter(|_| same_bytes(&fp_path, &p.bytes))
        .filter(|e| {
            e.encodings.iter().all(|(key, size)| {
                precompress::sibling_ext(key)
                    .is_some_and(|ext| file_size(&sibling(&fp_path, ext)) == Some(*size))
            })
        });
    let (siblings, reused) = match reusable {
        Some(e) => {
            let mut s = BTreeMap::new();
            for f in FORMS {
                if e.encodings.contains_key(f.token) {
                    s.insert(f.token, std::fs::read(sibling(&fp_path, f.ext))?);
                }
            }
            (s, true)
        }
        None => {
            let c = precompress::compress(&p.bytes, &enc.settings, enc.wanted);
            (c.into_forms().into_iter().collect(), false)
        }
    };
    // The fingerprinted file and the plain name get the same bytes and
    // siblings; siblings no longer wanted are removed from both.
    let plain_path = out.join(&p.logical);
    for base in [&fp_path, &plain_path] {
        sync_file(base, &p.bytes)?;
        for f in FORMS {
            let path = sibling(base, f.ext);
            match siblings.get(f.token) {
                Some(bytes) => sync_file(&path, bytes)?,
                None => remove_if_present(&path)?,
            }
        }
    }
    let entry = Entry {
        file: p.file.clone(),
        url: String::new(),
        fingerprinted: p.fingerprinted,
        size: p.bytes.len() as u64,
        content_type: p.content_type.clone(),
        blake3: p.blake3.clone(),
        integrity: integrity(&p.bytes),
        encodings: siblings
            .iter()
            .map(|(k, v)| (k.to_string(), v.len() as u64))
            .collect(),
        encodings_blake3: siblings
            .iter()
            .map(|(k, v)| (k.to_string(), blake3::hash(v).to_hex().to_string()))
            .collect(),
        imports: Vec::new(),
        dynamic_imports: Vec::new(),
        css: Vec::new(),
        assets: Vec::new(),
        deltas: Vec::new(),
    };
    Ok(Emitted { entry, reused })
}

/// Subresource Integrity: `sha384-` and the base64 of the SHA-384 digest.
pub fn integrity(bytes: &[u8]) -> String {
    let digest = sha2::Sha384::digest(bytes);
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn sibling(path: &Path, ext: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    s.into()
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    file_size(path) == Some(bytes.len() as u64) && std::fs::read(path).is_ok_and(|b| b == bytes)
}

/// Writes `bytes` at `path` unless the file already holds exactly them.
fn sync_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if same_bytes(path, bytes) {
        return Ok(());
    }
    write_atomic(path, bytes)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri_matches_known_vector() {
        // SHA-384 of "abc" (FIPS 180-2 example), base64.
        assert_eq!(
            integrity(b"abc"),
            "sha384-ywB1P0WjXou1oD1pmsZQBycsMqsO3tFjGotgWkP/W+2AhgcroefMI1i67KE0yCWn"
        );
    }
}
