//! `cdn-edge build SRC --out DIR`: turns a source tree into the tree the
//! edge serves. Every file gets a fingerprinted copy (`app.<hash>.css`, the
//! hash taken of its final content) beside its plain name, save two kinds:
//! a name that already carries a hash (by the fingerprint patterns: a
//! bundler's output) is kept as is, bytes untouched; an HTML page is an
//! entry point, kept under its own name (served `no-cache`) with its
//! references rewritten. CSS references, ES module specifiers (see `js`)
//! and source-map comments are rewritten to fingerprinted names; compressible files get `.br` / `.zst` /
//! `.gz` siblings; `manifest.json` maps logical paths (and a bundler manifest's
//! names, with its chunk graph) to the results (with SRI hashes) and is
//! written last.
//!
//! Order of work: check the arguments, read every source (so an unreadable
//! file fails the build before anything is written), rewrite and hash in
//! dependency order, then write outputs in parallel, then the manifest,
//! then the history and the optional prune. Not here: serving (the server
//! only reads what this writes).
//!
//! Its steps, one file each: `walk` (the source tree), `bundler` (what a
//! bundler's manifest says), `css`, `js` (ES module specifiers) and `html`
//! (references rewritten), `graph` (the order stylesheets and modules are
//! fingerprinted in), `importmap` (`--importmap`), `emit`
//! (one file and its siblings written), `history` (the deploys kept, and
//! the prune).

mod bundler;
mod deltas;
mod deps;
mod emit;
mod graph;
mod history;
mod importmap;
mod process;
mod walk;

pub mod css;
pub mod html;
pub mod js;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::fingerprint::Patterns;
use crate::fsutil::write_atomic;
use crate::manifest::{self, Manifest};
use crate::precompress::{self, Settings, Wanted};
pub use deltas::{is_delta_type, Options as DeltaOptions};
use emit::{Emitted, Encodings};

/// How to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source tree.
    pub src: PathBuf,
    /// The output tree.
    pub out: PathBuf,
    /// Hex digits of blake3 in fingerprinted names (8..=64).
    pub hash_len: usize,
    /// The siblings to produce (`.br`, `.zst`, `.gz`) for compressible files.
    pub encodings: Wanted,
    /// Compression settings.
    pub settings: Settings,
    /// Remove outputs only older manifests referenced.
    pub prune: bool,
    /// How many manifests `prune` keeps.
    pub keep: usize,
    /// Deltas against earlier versions (`--dictionary-versions`,
    /// `--dictionary-min-gain`).
    pub deltas: DeltaOptions,
    /// Worker threads (0 = one per core).
    pub jobs: usize,
    /// Warnings (missing references, non-UTF-8 text, unusable bundler
    /// manifests) fail the build.
    pub strict: bool,
    /// File names that already carry a hash (a bundler's): kept as they are.
    pub patterns: Patterns,
    /// Fingerprint HTML pages too (by default they keep their name).
    pub fingerprint_html: bool,
    /// The asset host's base URL, recorded in the manifest and the start of
    /// every entry's `url` (`--base-url`).
    pub base_url: Option<String>,
    /// Leave ES module specifiers as written and write `importmap.json`
    /// (and `importmap.html`) mapping each module to its fingerprinted URL
    /// (`--importmap`).
    pub importmap: bool,
    /// Show a progress bar (only drawn when stdout is a terminal).
    pub progress: bool,
}

/// What a build did.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Source files built.
    pub files: usize,
    /// Bytes of their final content.
    pub bytes_in: u64,
    /// `.br` siblings kept and their bytes.
    pub br: (usize, u64),
    /// `.zst` siblings kept and their bytes.
    pub zstd: (usize, u64),
    /// `.gz` siblings kept and their bytes.
    pub gzip: (usize, u64),
    /// `dcz` deltas kept and their bytes.
    pub dcz: (usize, u64),
    /// `dcb` deltas kept and their bytes.
    pub dcb: (usize, u64),
    /// Files whose outputs were already there (not recompressed).
    pub reused: usize,
    /// Warnings (missing references with file and line, non-UTF-8 text,
    /// unusable bundler manifests), one line each.
    pub warnings: Vec<String>,
    /// Files and bytes removed by `--prune`.
    pub pruned: (usize, u64),
    /// Modules listed by the import map (`importmap.json`): with
    /// `--importmap` all of them, else those in import cycles.
    pub mapped: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Why a build failed. Each is one line naming the path or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// SRC is missing or not a directory.
    #[error("source {path}: {reason}")]
    Source { path: String, reason: String },
    /// DIR is inside SRC (or the other way round).
    #[error("output {out} is inside source {src}: choose an output outside the source tree")]
    OutInsideSrc { out: String, src: String },
    /// SRC is inside DIR.
    #[error("source {src} is inside output {out}: choose an output outside the source tree")]
    SrcInsideOut { out: String, src: String },
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// A file name is not UTF-8.
    #[error("file name is not UTF-8: {path}")]
    NotUtf8 { path: String },
    /// Stylesheets reference each other in a cycle.
    #[error("reference cycle: {cycle}")]
    Cycle { cycle: String },
    /// `--strict` and the build warned (never empty); nothing was written.
    #[error("--strict: {} warning(s), nothing written; first: {}", .warnings.len(), .warnings[0])]
    Warned { warnings: Vec<String> },
    /// Writing the output failed.
    #[error("cannot write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The settings a build's reuse depends on, recorded beside the history.
fn settings_id(o: &Options) -> String {
    let s = &o.settings;
    format!(
        "hash_len={} br={} zstd={} gzip={} brotli_quality={} brotli_window={} zstd_level={} gzip_level={} min_saving={}\n",
        o.hash_len,
        o.encodings.br,
        o.encodings.zstd,
        o.encodings.gzip,
        s.brotli_quality,
        s.brotli_window,
        s.zstd_level,
        s.gzip_level,
        s.min_saving
    )
}

/// Runs a build.
pub fn run(o: &Options) -> Result<Summary, BuildError> {
    let started = Instant::now();
    if !(8..=64).contains(&o.hash_len) {
        return Err(BuildError::Invalid(format!(
            "hash length {}: allowed 8 to 64",
            o.hash_len
        )));
    }
    let (src, out) = check_paths(&o.src, &o.out)?;
    let sources = walk::walk(&src)?;
    let mut contents = BTreeMap::new();
    for f in &sources {
        let bytes = std::fs::read(&f.path).map_err(|e| BuildError::Read {
            path: f.path.display().to_string(),
            source: e,
        })?;
        contents.insert(f.logical.clone(), bytes);
    }

    let mut summary = Summary::default();
    let bundled = bundler::read(&src, &contents);
    for m in &bundled.manifests {
        contents.remove(m);
    }
    let process::Output {
        processed,
        map,
        graphs,
    } = process::process(&contents, o, &mut summary)?;
    summary.warnings.extend(bundled.warnings.iter().cloned());
    if o.strict && !summary.warnings.is_empty() {
        return Err(BuildError::Warned {
            warnings: summary.warnings,
        });
    }

    let settings_path = out.join(history::DIR_NAME).join("settings.txt");
    let id = settings_id(o);
    let same_settings = std::fs::read_to_string(&settings_path).is_ok_and(|s| s == id);
    let previous = if same_settings {
        manifest::read(&out).ok().flatten().unwrap_or_default()
    } else {
        Manifest::new()
    };

    let write_err = |path: &Path| {
        let path = path.display().to_string();
        move |source| BuildError::Write { path, source }
    };
    std::fs::create_dir_all(&out).map_err(write_err(&out))?;
    let bar = progress_bar(o.progress, processed.len());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.jobs)
        .build()
        .map_err(|e| BuildError::Invalid(e.to_string()))?;
    // Largest first, one file per task: compression time grows with size,
    // and big files left to the end (or bunched in one thread's share)
    // would leave cores idle.
    let mut order: Vec<usize> = (0..processed.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(processed[i].bytes.len()));
    let mut emitted: Vec<(usize, Emitted)> = pool.install(|| {
        order
            .par_iter()
            .with_max_len(1)
            .map(|&i| {
                let p = &processed[i];
                let compressible = precompress::is_compressible(&p.logical);
                let enc = Encodings {
                    wanted: if compressible {
                        o.encodings
                    } else {
                        Wanted::NONE
                    },
                    settings: o.settings,
                };
                let r = emit::emit(&out, p, previous.get(&p.logical), &enc)
                    .map_err(write_err(&out.join(&p.file)));
                bar.inc(1);
                r.map(|e| (i, e))
            })
            .collect::<Result<_, _>>()
    })?;
    emitted.sort_by_key(|(i, _)| *i);
    bar.finish_and_clear();

    // Deltas against the versions of the last builds, measured against
    // the brotli siblings just made.
    let history = history::recent(&out, o.deltas.versions).unwrap_or_default();
    let made: Vec<Vec<manifest::Delta>> = pool.install(|| {
        processed
            .par_iter()
            .zip(&emitted)
            .with_max_len(1)
            .map(|(p, (_, e))| {
                // By its logical path, else (a name a bundler hashed, new
                // each deploy) by the bundler's names for it.
                let names = std::iter::once(&p.logical)
                    .chain(bundled.names.get(&p.logical).into_iter().flatten());
                let earlier = names
                    .filter(|_| p.fingerprinted && deltas::is_delta_type(&p.logical))
                    .map(|n| deltas::earlier_files(&history, n, &p.file, o.deltas.versions))
                    .find(|e| !e.is_empty())
                    .unwrap_or_default();
                if earlier.is_empty() {
                    return Ok(Vec::new());
                }
                let reference = e.entry.encodings.get("br").copied().unwrap_or(e.entry.size);
                deltas::make(&out, &p.file, &p.bytes, reference, &earlier, &o.deltas)
                    .map_err(write_err(&out.join(&p.file)))
            })
            .collect::<Result<_, _>>()
    })?;

    let mut manifest = Manifest::new();
    let mut aliases = Vec::new();
    for ((p, (_, mut e)), deltas) in processed.iter().zip(emitted).zip(made) {
        summary.files += 1;
        for d in &deltas {
            for (token, kept) in [("dcz", &mut summary.dcz), ("dcb", &mut summary.dcb)] {
                if let Some(n) = d.encodings.get(token) {
                    *kept = (kept.0 + 1, kept.1 + n);
                }
            }
        }
        e.entry.deltas = deltas;
        summary.bytes_in += e.entry.size;
        summary.reused += usize::from(e.reused);
        for (token, kept) in [
            ("br", &mut summary.br),
            ("zstd", &mut summary.zstd),
            ("gzip", &mut summary.gzip),
        ] {
            if let Some(n) = e.entry.encodings.get(token) {
                *kept = (kept.0 + 1, kept.1 + n);
            }
        }
        // A bundler's graph of a file, else the one found here.
        if let Some(g) = bundled.graphs.get(&p.logical).or(graphs.get(&p.logical)) {
            e.entry.imports = g.imports.clone();
            e.entry.dynamic_imports = g.dynamic_imports.clone();
            e.entry.css = g.css.clone();
            e.entry.assets = g.assets.clone();
        }
        for name in bundled.names.get(&p.logical).into_iter().flatten() {
            aliases.push((name.clone(), e.entry.clone()));
        }
        manifest.insert(p.logical.clone(), e.entry);
    }
    // A bundler's name for a file never hides a file of that name.
    for (name, entry) in aliases {
        manifest.entry(name).or_insert(entry);
    }
    if !map.is_empty() {
        map.write(&out)
            .map_err(write_err(&out.join(importmap::FILE_NAME)))?;
    }
    // The manifest goes last: it only ever points at files already written.
    let bytes = manifest::to_bytes(&manifest::Document::of(manifest, o.base_url.clone()));
    let manifest_path = out.join(manifest::FILE_NAME);
    write_atomic(&manifest_path, &bytes).map_err(write_err(&manifest_path))?;
    history::record(&out, &bytes).map_err(write_err(&out.join(history::DIR_NAME)))?;
    write_atomic(&settings_path, id.as_bytes()).map_err(write_err(&settings_path))?;
    if o.prune {
        // The builds deltas are made against stay (and their files), so
        // the next build still finds every version it makes deltas of.
        let keep = o.keep.max(o.deltas.versions + 1);
        let p = history::prune(&out, keep).map_err(write_err(&out))?;
        summary.pruned = (p.files, p.bytes);
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Canonical SRC and DIR, refusing a missing SRC and either inside the other.
fn check_paths(src: &Path, out: &Path) -> Result<(PathBuf, PathBuf), BuildError> {
    let source_err = |reason: &str| BuildError::Source {
        path: src.display().to_string(),
        reason: reason.to_string(),
    };
    let src = src.canonicalize().map_err(|e| source_err(&e.to_string()))?;
    if !src.is_dir() {
        return Err(source_err("not a directory"));
    }
    // DIR may not exist yet: resolve its nearest existing ancestor.
    let mut existing = out.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            _ => break,
        }
    }
    let mut out_abs = existing.canonicalize().map_err(|e| BuildError::Write {
        path: out.display().to_string(),
        source: e,
    })?;
    for name in rest.iter().rev() {
        out_abs.push(name);
    }
    let names = || (out_abs.display().to_string(), src.display().to_string());
    if out_abs.starts_with(&src) {
        let (out, src) = names();
        return Err(BuildError::OutInsideSrc { out, src });
    }
    if src.starts_with(&out_abs) {
        let (out, src) = names();
        return Err(BuildError::SrcInsideOut { out, src });
    }
    Ok((src, out_abs))
}

fn progress_bar(wanted: bool, len: usize) -> indicatif::ProgressBar {
    if !wanted || !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} files {wide_bar} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
