//! The static root: resolving a key to a file under it (never outside it),
//! reading the file and its `.br` / `.zst` / `.gz` siblings into an [`Asset`], and
//! stamping the files so a later check can tell whether they changed.
//!
//! Everything here is blocking file I/O; callers run it off the async
//! workers. It does not cache: that is [`super::memory`]'s job.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use actix_web::http::header;
use bytes::Bytes;

use super::beneath::{self, Handle, Root};
use super::manifest_index::{Index, ManifestIndex};
use super::policy::Policy;
use crate::asset::{self, Asset, Coding, Representation};

/// A static root with its header policy.
#[derive(Debug)]
pub struct LocalStore {
    /// The canonical root directory; `None`: no root (origin-only mode),
    /// every key is absent.
    root: Option<PathBuf>,
    policy: Policy,
    manifest: Option<ManifestIndex>,
    /// Representations are kept in memory while an asset's total stays
    /// under this; the rest are streamed from disk.
    memory_budget: u64,
}

/// What a key resolves to.
#[derive(Debug)]
pub enum Found {
    /// A file, loaded, with the stamp of the files it was built from.
    Asset(Box<Asset>, Stamp),
    /// A directory asked for without its trailing slash.
    Directory,
    /// Nothing servable.
    NotFound,
}

/// What a loaded asset was built from: each source file and its identity
/// at load time. Equal stamps mean nothing changed on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    files: Vec<(PathBuf, Option<FileId>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

impl Stamp {
    /// Heap bytes the stamp holds (paths and their vector), for the memory
    /// cache's byte bound.
    pub fn heap_bytes(&self) -> usize {
        /// A (path, id) slot and the path's allocation beyond its bytes.
        const SLOT: usize = 80;
        self.files
            .iter()
            .map(|(p, _)| SLOT + p.as_os_str().len())
            .sum()
    }

    /// Re-reads the files' metadata (one `stat` each) and tells whether any
    /// changed, appeared or disappeared since the stamp was taken.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|(path, id)| file_id(path) != *id)
    }
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| FileId::of(&m))
}

/// The encodings a file can have as siblings, each with its suffix (the
/// build's, `precompress::FORMS`): `.br`, `.zst`, `.gz`.
fn siblings() -> impl Iterator<Item = (Coding, &'static str)> {
    Coding::ENCODINGS
        .into_iter()
        .filter_map(|c| crate::precompress::sibling_ext(c.token()).map(|ext| (c, ext)))
}

/// The file served for a directory.
const INDEX: &str = "index.html";

impl LocalStore {
    /// Opens a root directory; fails when it is missing or not a directory.
    /// An asset keeps at most `memory_budget` bytes of representations in
    /// memory; larger ones are hashed once and streamed from disk.
    pub fn open(root: &Path, policy: Policy, memory_budget: u64) -> io::Result<Self> {
        let root = root
            .canonicalize()
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", root.display())))?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("root {}: not a directory", root.display()),
            ));
        }
        // Files are opened with `openat2` (Linux 5.6): refused at start on
        // a kernel without it, not on the first request.
        Root::open(&root).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("root {}: cannot open it with openat2: {e}", root.display()),
            )
        })?;
        Ok(Self {
            manifest: Some(ManifestIndex::new(&root, policy.fingerprints().clone())),
            root: Some(root),
            policy,
            memory_budget,
        })
    }

    /// A store without a root: every key is absent (origin-only mode).
    pub fn none(policy: Policy) -> Self {
        Self {
            root: None,
            policy,
            manifest: None,
            memory_budget: 0,
        }
    }

    /// True when the kernel knows, without waiting for the disk, that the
    /// root holds nothing at `key` (see `store::nowait`): `load` would say
    /// `NotFound`. False when it may hold it, or telling would take I/O.
    pub fn known_absent(&self, key: &str) -> bool {
        match &self.root {
            Some(root) => !key.is_empty() && super::nowait::known_absent(&root.join(key)),
            None => true,
        }
    }

    /// The canonical root directory; `None` without a root.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Resolves `key` (a normalised relative path, see `http::path`) and
    /// loads it. `dir_request` is true when the request path ended in `/`.
    /// Files are opened beneath the root (see [`beneath`]): nothing swapped
    /// in meanwhile leads outside it. A permission refused on the way is an
    /// error of kind `PermissionDenied`.
    pub fn load(&self, key: &str, dir_request: bool) -> io::Result<Found> {
        let (Some(root_dir), Some(manifest)) = (&self.root, &self.manifest) else {
            return Ok(Found::NotFound);
        };
        let root = Root::open(root_dir)?;
        let Some(target) = root.resolve(key)? else {
            return Ok(Found::NotFound);
        };
        let (rel, target) = if target.meta.is_dir() {
            if !dir_request && !key.is_empty() {
                // A real directory inside the root: `resolve` says nothing
                // of a symlink leading out, not even that it exists.
                return Ok(Found::Directory);
            }
            let rel = if key.is_empty() {
                INDEX.to_string()
            } else {
                format!("{key}/{INDEX}")
            };
            match root.resolve(&rel)? {
                Some(t) => (rel, t),
                None => return Ok(Found::NotFound),
            }
        } else if dir_request {
            return Ok(Found::NotFound);
        } else {
            (key.to_string(), target)
        };
        let mut budget = self.memory_budget;
        let index = manifest.get();
        let Some((identity, meta)) =
            self.read_inside(target, Coding::Identity, &mut budget, &index, &rel)?
        else {
            return Ok(Found::NotFound);
        };
        let file = root_dir.join(&rel);
        let mut stamp = vec![(file.clone(), Some(FileId::of(&meta)))];
        let mut reps = vec![identity];
        for (coding, ext) in siblings() {
            let sibling = root.resolve(&format!("{rel}.{ext}"))?;
            match sibling {
                Some(h) => match self.read_inside(h, coding, &mut budget, &index, &rel)? {
                    Some((rep, m)) => {
                        stamp.push((append_ext(&file, ext), Some(FileId::of(&m))));
                        reps.push(rep);
                    }
                    None => stamp.push((append_ext(&file, ext), None)),
                },
                None => stamp.push((append_ext(&file, ext), None)),
            }
        }
        let mut deltas = None;
        if let Some(d) = index.dictionary(&rel) {
            let identity = reps[0].etag.clone();
            let mut by_dictionary = Vec::new();
            for (hash, files) in &d.deltas {
                let mut found = Vec::new();
                for (coding, path, size) in files {
                    let Some(h) = root.resolve(path)? else {
                        continue;
                    };
                    match self.read_delta(h, *size, &mut budget)? {
                        Some((body, m)) => {
                            stamp.push((root_dir.join(path), Some(FileId::of(&m))));
                            let etag = asset::deltas::etag(&identity, *coding, hash);
                            found.push(Representation::with_etag(*coding, body, etag));
                        }
                        None => stamp.push((root_dir.join(path), None)),
                    }
                }
                if !found.is_empty() {
                    by_dictionary.push((*hash, found));
                }
            }
            deltas = Some(asset::deltas::Deltas::new(d.use_as.clone(), by_dictionary));
        }
        let (cache_control, extra) = self.policy.headers_for(&rel, index.listing(&rel));
        // A rule's own `Link` fields replace the node's (on the 103 too).
        let ruled = extra.iter().any(|(n, _)| n == header::LINK);
        let preload = (self.policy.preload_links() && !ruled).then(|| index.preload(&rel).cloned());
        let asset = Asset::new(
            reps,
            asset::content_type(&rel),
            meta.modified().ok(),
            Some(cache_control),
            extra,
        )
        .with_preload(preload.flatten());
        let asset = match deltas {
            Some(d) => asset.with_deltas(d),
            None => asset,
        };
        Ok(Found::Asset(Box::new(asset), Stamp { files: stamp }))
    }

    /// Loads the regular file `found` (resolved beneath the root) as a
    /// representation; `None` when it is not a regular file. It goes in
    /// memory if it fits what is left of `budget` (which it then uses up),
    /// else it is hashed and left on disk. When the manifest vouches for
    /// the file's hash (and its size matches), the hash is taken from there
    /// instead of computed.
    fn read_inside(
        &self,
        found: Handle,
        coding: Coding,
        budget: &mut u64,
        index: &Index,
        rel: &str,
    ) -> io::Result<Option<(Representation, std::fs::Metadata)>> {
        let encoding = (coding != Coding::Identity).then(|| coding.token());
        let known = index.known(rel, encoding);
        let Some(mut file) = open_regular(&found)? else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        let rep = if meta.len() <= *budget {
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            io::Read::read_to_end(&mut file, &mut bytes)?;
            *budget = budget.saturating_sub(bytes.len() as u64);
            match known.filter(|k| k.size == bytes.len() as u64) {
                Some(k) => Representation::with_hash(coding, Bytes::from(bytes), k.blake3),
                None => Representation::new(coding, Bytes::from(bytes)),
            }
        } else {
            let hex = match known.filter(|k| k.size == meta.len()) {
                Some(k) => k.blake3.to_string(),
                None => {
                    let mut hasher = blake3::Hasher::new();
                    io::copy(&mut file, &mut hasher)?;
                    hasher.finalize().to_hex().to_string()
                }
            };
            Representation::on_disk(coding, found.real, meta.modified().ok(), meta.len(), &hex)
        };
        Ok(Some((rep, meta)))
    }
}

impl LocalStore {
    /// A delta file (resolved beneath the root) read into memory, when it
    /// is a regular file of the size the manifest gives and fits what is
    /// left of `budget` (a delta is only worth sending from memory).
    fn read_delta(
        &self,
        found: Handle,
        size: u64,
        budget: &mut u64,
    ) -> io::Result<Option<(Bytes, std::fs::Metadata)>> {
        if found.meta.len() != size || size > *budget {
            return Ok(None);
        }
        let Some(mut file) = open_regular(&found)? else {
            return Ok(None);
        };
        let meta = file.metadata()?;
        let mut bytes = Vec::with_capacity(size as usize);
        io::Read::read_to_end(&mut file, &mut bytes)?;
        if bytes.len() as u64 != size {
            return Ok(None);
        }
        *budget -= size;
        Ok(Some((Bytes::from(bytes), meta)))
    }
}

/// `found` opened for reading, when it is a regular file still there:
/// opening a FIFO or a device could block or worse.
fn open_regular(found: &Handle) -> io::Result<Option<std::fs::File>> {
    if !found.meta.is_file() {
        return Ok(None);
    }
    match found.open_read() {
        Ok(f) => Ok(Some(f)),
        Err(e) if beneath::is_absent(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn append_ext(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn store(root: &Path) -> LocalStore {
        let policy = Policy::new(
            HeaderValue::from_static("imm"),
            HeaderValue::from_static("rev"),
            crate::fingerprint::Patterns::default(),
            vec![],
        );
        LocalStore::open(root, policy, 1 << 20).unwrap()
    }

    #[test]
    fn every_encoding_has_a_sibling_suffix_and_the_build_makes_no_other() {
        let ours: Vec<_> = siblings().map(|(c, ext)| (c.token(), ext)).collect();
        let build: Vec<_> = crate::precompress::FORMS
            .iter()
            .map(|f| (f.token, f.ext))
            .collect();
        assert_eq!(ours, build);
        assert_eq!(ours.len(), Coding::ENCODINGS.len());
    }

    #[test]
    fn loads_siblings_and_detects_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.css"), "body{}").unwrap();
        std::fs::write(dir.path().join("a.css.br"), "BR").unwrap();
        let s = store(dir.path());
        let Found::Asset(asset, stamp) = s.load("a.css", false).unwrap() else {
            panic!()
        };
        assert_eq!(asset.representations().len(), 2);
        assert!(!stamp.changed());
        std::fs::write(dir.path().join("a.css.gz"), "GZ").unwrap();
        assert!(stamp.changed());
        let Found::Asset(_, stamp) = s.load("a.css", false).unwrap() else {
            panic!()
        };
        std::fs::write(dir.path().join("a.css.zst"), "ZST").unwrap();
        assert!(stamp.changed(), "a new .zst is a change");
        let Found::Asset(asset, _) = s.load("a.css", false).unwrap() else {
            panic!()
        };
        assert_eq!(asset.representations().len(), 4);
        let zstd = asset.select(Some("zstd")).unwrap();
        assert_eq!((zstd.coding, zstd.len), (Coding::Zstd, 3));
        assert!(zstd.etag_str().ends_with("-zst\""));
    }

    #[test]
    fn directories_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/index.html"), "hi").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
        let s = store(dir.path());
        assert!(matches!(s.load("d", false).unwrap(), Found::Directory));
        assert!(matches!(s.load("d", true).unwrap(), Found::Asset(..)));
        assert!(matches!(
            s.load("d/index.html", true).unwrap(),
            Found::NotFound
        ));
        assert!(matches!(s.load("link", false).unwrap(), Found::NotFound));
        assert!(matches!(s.load("linkdir", false).unwrap(), Found::NotFound));
        assert!(matches!(s.load("missing", false).unwrap(), Found::NotFound));
        assert!(matches!(s.load("", true).unwrap(), Found::NotFound));
    }
}
