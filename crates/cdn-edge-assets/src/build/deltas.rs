//! Deltas from deploy history (RFC 9842): for each fingerprinted script,
//! stylesheet, JSON, SVG or WASM file whose logical name had other
//! versions in earlier builds of the same output, the new bytes
//! compressed against each of the last `--dictionary-versions` of them,
//! as `dcz` and `dcb` files beside it (`<file>.<16 hex of the old bytes'
//! SHA-256>.dcz`). A browser that holds the old version as a dictionary
//! gets the new one as a fraction of its brotli size.
//!
//! A delta is kept only when it saves at least `--dictionary-min-gain` of
//! the file's brotli size (its identity size when it has no `.br`);
//! otherwise the plain codings serve as well. A delta already written by
//! an earlier build (same new file, same dictionary) is reused. Old
//! versions come from the history the build keeps (`history`), newest
//! first, and only while their files are still in the output.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::delta;
use crate::fsutil::write_atomic;
use crate::manifest::{delta_file, Delta, Manifest};

/// What `build` makes deltas with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// How many earlier versions of a file get a delta (0: none).
    pub versions: usize,
    /// The least share of the reference size a delta must save (0.2: 20 %).
    pub min_gain: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            versions: 2,
            min_gain: 0.2,
        }
    }
}

/// Whether a logical path is of a type that gets deltas.
pub fn is_delta_type(logical: &str) -> bool {
    let l = logical.to_ascii_lowercase();
    [".js", ".mjs", ".css", ".json", ".svg", ".wasm"]
        .iter()
        .any(|e| l.ends_with(e))
}

/// The files of the earlier versions of `logical` in `history` (newest
/// first), other than `current`, each once, at most `n`.
pub fn earlier_files(history: &[Manifest], logical: &str, current: &str, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in history {
        if out.len() >= n {
            break;
        }
        let ext = |f: &str| f.rsplit_once('.').map(|(_, x)| x.to_ascii_lowercase());
        if let Some(e) = m.get(logical) {
            // Another type under the name (a bundler's page key) is no version.
            let same_type = ext(&e.file) == ext(current);
            if e.file != current && e.fingerprinted && same_type && !out.contains(&e.file) {
                out.push(e.file.clone());
            }
        }
    }
    out
}

/// The deltas of `file` (bytes `bytes`, reference size `reference`)
/// against each of `earlier` still in `out`, written or reused.
pub fn make(
    out: &Path,
    file: &str,
    bytes: &[u8],
    reference: u64,
    earlier: &[String],
    o: &Options,
) -> io::Result<Vec<Delta>> {
    let mut deltas = Vec::new();
    if bytes.len() > delta::MAX_DICTIONARY {
        return Ok(deltas);
    }
    let most = (reference as f64 * (1.0 - o.min_gain)).floor() as u64;
    for from in earlier {
        let old = match std::fs::read(out.join(from)) {
            Ok(b) if b.len() <= delta::MAX_DICTIONARY => b,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let hash = delta::hash(&old);
        let mut encodings = BTreeMap::new();
        for coding in ["dcz", "dcb"] {
            let path = out.join(delta_file(file, &hash, coding));
            let size = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => m.len(),
                _ => {
                    let body = match coding {
                        "dcz" => delta::dcz(bytes, &old, delta::ZSTD_LEVEL)?,
                        _ => delta::dcb(bytes, &old, delta::BROTLI_QUALITY)?,
                    };
                    if body.len() as u64 > most {
                        continue;
                    }
                    write_atomic(&path, &body)?;
                    body.len() as u64
                }
            };
            if size <= most {
                encodings.insert(coding.to_string(), size);
            }
        }
        if !encodings.is_empty() {
            deltas.push(Delta::new(&hash, from, encodings));
        }
    }
    Ok(deltas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Entry;

    fn entry(file: &str) -> Entry {
        Entry {
            file: file.to_string(),
            fingerprinted: true,
            ..Default::default()
        }
    }

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        files
            .iter()
            .map(|(l, f)| (l.to_string(), entry(f)))
            .collect()
    }

    #[test]
    fn earlier_versions_newest_first_each_once() {
        let history = [
            manifest(&[("app.js", "app.3.js")]),
            manifest(&[("app.js", "app.2.js")]),
            manifest(&[("app.js", "app.2.js"), ("x.js", "x.1.js")]),
            manifest(&[("app.js", "app.1.js")]),
        ];
        assert_eq!(
            earlier_files(&history, "app.js", "app.3.js", 2),
            ["app.2.js", "app.1.js"]
        );
        assert_eq!(
            earlier_files(&history, "app.js", "app.4.js", 1),
            ["app.3.js"]
        );
        assert!(earlier_files(&history, "y.js", "y.1.js", 2).is_empty());
    }

    #[test]
    fn deltas_are_written_kept_by_gain_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let old: Vec<u8> = (0..3000)
            .flat_map(|i| format!("function f{i}() {{ return {i}; }}\n").into_bytes())
            .collect();
        let mut new = old.clone();
        new.extend_from_slice(b"function g() { return 1; }\n");
        std::fs::write(dir.path().join("app.1.js"), &old).unwrap();
        let br = crate::precompress::brotli(&new, 11, 22).len() as u64;
        let o = Options::default();
        let d = make(dir.path(), "app.2.js", &new, br, &["app.1.js".into()], &o).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].from, "app.1.js");
        let hash = delta::hash(&old);
        for coding in ["dcz", "dcb"] {
            let size = d[0].encodings[coding];
            assert!(size * 10 < br, "{coding}: {size} vs br {br}");
            let path = dir.path().join(delta_file("app.2.js", &hash, coding));
            assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        }
        // Reused as written (a marker byte shows it was not made again).
        let path = dir.path().join(delta_file("app.2.js", &hash, "dcz"));
        let mut marked = std::fs::read(&path).unwrap();
        marked.push(0);
        std::fs::write(&path, &marked).unwrap();
        let again = make(dir.path(), "app.2.js", &new, br, &["app.1.js".into()], &o).unwrap();
        assert_eq!(again[0].encodings["dcz"], marked.len() as u64);
        // A delta that does not save the least gain is not kept (nor
        // written), and a version no longer in the output is skipped.
        let strict = Options {
            min_gain: 0.999,
            ..o
        };
        let none = make(
            dir.path(),
            "app.3.js",
            &new,
            br,
            &["app.1.js".into(), "gone.js".into()],
            &strict,
        )
        .unwrap();
        assert!(none.is_empty(), "{none:?}");
        assert!(!dir
            .path()
            .join(delta_file("app.3.js", &hash, "dcz"))
            .exists());
    }
}
