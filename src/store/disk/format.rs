//! The entry file of the disk cache: its name and place under the cache
//! directory, its bytes (header, key, metadata, parts, blake3 trailer),
//! writing it atomically, and reading it back checked.
//!
//! Not the index, eviction or any locking: callers decide when a file may be
//! renamed or unlinked.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// File magic.
pub(super) const MAGIC: [u8; 8] = *b"cdnedisk";
/// Format version; 1 was key + meta + one body under `ab/cd/<64 hex>.obj`.
pub(super) const VERSION: u32 = 2;
/// Fixed head of the header: magic, version, key_len, meta_len, part count.
pub(super) const FIXED_LEN: usize = 24;
/// The trailing blake3.
pub(super) const TRAILER_LEN: usize = 32;
/// Most parts an entry may have (a header is at most 24 + 8 * 64 bytes).
pub(super) const MAX_PARTS: usize = 64;
/// Suffix of entry files.
pub(super) const OBJ_SUFFIX: &str = ".obj";
/// Suffix of temp files.
pub(super) const TMP_SUFFIX: &str = ".tmp";
/// Hex digits of the id that name the fan-out directory (4096 of them).
pub(super) const FAN_DIGITS: usize = 3;
/// Hex digits of an entry's file name: 128 bits of blake3(key).
pub(super) const NAME_DIGITS: usize = 32;
/// What a file is charged: its length rounded up to this (a filesystem block).
pub(super) const BLOCK: u64 = 4096;

/// An entry's identity: the first 128 bits of blake3(key), which name its file.
pub(super) type Id = u128;

/// The id of `key`.
pub(super) fn id_of(key: &str) -> Id {
    let mut b = [0u8; 16];
    b.copy_from_slice(&blake3::hash(key.as_bytes()).as_bytes()[..16]);
    u128::from_be_bytes(b)
}

/// `dir/abc/<32 hex>.obj` for `id`.
pub(super) fn entry_path(dir: &Path, id: Id) -> PathBuf {
    let name = format!("{id:032x}");
    dir.join(&name[..FAN_DIGITS])
        .join(format!("{name}{OBJ_SUFFIX}"))
}

/// The id named by `file` in fan-out directory `fan`, if it is a well-formed entry name there.
pub(super) fn parse_name(fan: &str, file: &str) -> Option<Id> {
    let hex = file.strip_suffix(OBJ_SUFFIX)?;
    if hex.len() != NAME_DIGITS || !is_lower_hex(hex) || !hex.starts_with(fan) {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

/// Lowercase hex digits only (and at least one).
pub(super) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What a file of `len` bytes is charged against the bound: whole blocks.
pub(super) fn charged(len: u64) -> u64 {
    len.div_ceil(BLOCK).saturating_mul(BLOCK)
}

/// Nanoseconds since the epoch of `t` (0 before it): recency stamps.
pub(super) fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// `e` with `path` in its message, same kind.
pub(super) fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        AtPath {
            path: path.display().to_string(),
            source: e,
        },
    )
}

/// An error with the path it happened at; the OS error stays its source
/// (so its errno can still be told, see `WriteErrorKind`).
#[derive(Debug)]
struct AtPath {
    path: String,
    source: io::Error,
}

impl std::fmt::Display for AtPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.source)
    }
}

impl std::error::Error for AtPath {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Removes `path`; already gone is fine. The error names the path.
pub(super) fn unlink(path: &Path) -> io::Result<()> {
    unlink_found(path).map(drop)
}

/// Deletes `path` if it exists; whether it did.
pub(super) fn unlink_found(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(at(path, e)),
    }
}

/// The header: lengths of key, metadata and each part.
pub(super) struct Header {
    /// Bytes of the key.
    pub key_len: u32,
    /// Bytes of the metadata JSON.
    pub meta_len: u32,
    /// Bytes of each part, in order.
    pub parts: Vec<u64>,
}

impl Header {
    /// Header bytes as written.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&self.key_len.to_le_bytes());
        b.extend_from_slice(&self.meta_len.to_le_bytes());
        b.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for p in &self.parts {
            b.extend_from_slice(&p.to_le_bytes());
        }
        b
    }

    /// Parts in the header whose fixed head is `fixed`; `None` unless
    /// magic, version and count are ours.
    fn count(fixed: &[u8]) -> Option<usize> {
        let u32_at = |i: usize| Some(u32::from_le_bytes(fixed.get(i..i + 4)?.try_into().ok()?));
        if fixed.get(..8)? != MAGIC || u32_at(8)? != VERSION {
            return None;
        }
        let n = usize::try_from(u32_at(20)?).ok()?;
        (n <= MAX_PARTS).then_some(n)
    }

    /// Decodes the header at the start of `b`; `None` unless it is ours and whole.
    pub fn decode(b: &[u8]) -> Option<Header> {
        let n = Self::count(b)?;
        let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
        let parts = (0..n)
            .map(|i| {
                let at = FIXED_LEN + 8 * i;
                Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
            })
            .collect::<Option<Vec<u64>>>()?;
        Some(Header {
            key_len: u32_at(12)?,
            meta_len: u32_at(16)?,
            parts,
        })
    }

    /// Length of the header itself.
    pub fn len(&self) -> usize {
        FIXED_LEN + 8 * self.parts.len()
    }

    /// Total file length this header promises; `None` on overflow (garbage).
    pub fn file_len(&self) -> Option<u64> {
        let mut n = (self.len() + TRAILER_LEN) as u64;
        n = n.checked_add(u64::from(self.key_len))?;
        n = n.checked_add(u64::from(self.meta_len))?;
        for p in &self.parts {
            n = n.checked_add(*p)?;
        }
        Some(n)
    }
}

/// Writes `chunks` and their blake3 to a fresh temp file beside `path`,
/// named with `tag` (this cache's), fsynced; returns its path. Nothing is
/// left behind on error; errors name the file.
pub(super) fn write_temp(path: &Path, tag: &str, chunks: &[&[u8]]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{tag}.{n}{TMP_SUFFIX}"));
    let result = (|| {
        let mut w = BufWriter::with_capacity(64 * 1024, File::create_new(&tmp)?);
        let mut hasher = blake3::Hasher::new();
        let mut written = 0;
        for chunk in chunks {
            hasher.update(chunk);
            injected_fault(&mut w, written, chunk)?;
            w.write_all(chunk)?;
            written += chunk.len();
        }
        w.write_all(hasher.finalize().as_bytes())?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(at(&tmp, e))
        }
    }
}

/// No faults outside tests.
#[cfg(not(test))]
#[inline(always)]
fn injected_fault(_: &mut impl Write, _: usize, _: &[u8]) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Test seam: `Some((n, errno))` makes this thread's temp file writes
    /// fail with `errno` once `n` bytes are written.
    pub(super) static FAIL_WRITE_AFTER: std::cell::Cell<Option<(usize, i32)>> =
        const { std::cell::Cell::new(None) };
}

/// Writes what fits before an injected fault, then fails (tests only).
#[cfg(test)]
fn injected_fault(w: &mut impl Write, written: usize, chunk: &[u8]) -> io::Result<()> {
    match FAIL_WRITE_AFTER.with(std::cell::Cell::get) {
        Some((after, errno)) if written + chunk.len() > after => {
            w.write_all(&chunk[..after.saturating_sub(written)])?;
            w.flush()?;
            Err(io::Error::from_raw_os_error(errno))
        }
        _ => Ok(()),
    }
}

/// A fully checked entry.
pub(super) struct Good {
    /// Metadata JSON.
    pub meta: Bytes,
    /// The parts, in order.
    pub parts: Vec<Bytes>,
    /// Whole file length.
    pub len: u64,
}

/// Why an entry file is bad (deleted, missed, counted by
/// [`Bad::REASONS`] in `cdn_edge_disk_bad_entries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bad {
    /// Its length is not the one the index recorded.
    LengthIndex,
    /// It is charged more than the whole bound.
    OverBound,
    /// Not our magic or version, or a header that does not decode.
    Header,
    /// Its length is not the one its header adds up to.
    LengthHeader,
    /// Its bytes do not hash to the blake3 it ends with.
    Hash,
    /// It holds another key (a collision, or a misplaced file).
    Key,
    /// Its record does not decode as the caller's metadata.
    Record,
}

impl Bad {
    /// The `reason` label values, in counter order: `length` (the file is
    /// not as long as the index or its header say, or exceeds the bound),
    /// `header`, `hash` (its bytes changed since they were written), `key`,
    /// `record`.
    pub const REASONS: [&'static str; 5] = ["length", "header", "hash", "key", "record"];

    /// Its label's position in [`Bad::REASONS`].
    pub fn reason_index(self) -> usize {
        match self {
            Bad::LengthIndex | Bad::OverBound | Bad::LengthHeader => 0,
            Bad::Header => 1,
            Bad::Hash => 2,
            Bad::Key => 3,
            Bad::Record => 4,
        }
    }

    /// What was found, for the log line.
    pub fn describe(self) -> &'static str {
        match self {
            Bad::LengthIndex => "length differs from the index",
            Bad::OverBound => "larger than the bound",
            Bad::Header => "bad magic, version or header",
            Bad::LengthHeader => "length differs from the header",
            Bad::Hash => "blake3 mismatch",
            Bad::Key => "key differs",
            Bad::Record => "metadata does not decode",
        }
    }
}

/// A good entry, or why it is bad.
pub(super) type Checked = Result<Good, Bad>;

/// Reads and fully checks the entry file for `key` at `path`: `Ok(Err(why))`
/// if it is bad. `expect` is its length per the index, when indexed; a file
/// charged more than `limit` is bad (never read into memory). Refreshes an
/// mtime older than `touch_every` (best effort). Errors name the path.
pub(super) fn read_entry(
    path: &Path,
    key: &str,
    expect: Option<u64>,
    limit: u64,
    touch_every: Duration,
) -> io::Result<Checked> {
    let mut file = File::open(path).map_err(|e| at(path, e))?;
    let md = file.metadata().map_err(|e| at(path, e))?;
    let len = md.len();
    if expect.is_some_and(|n| n != len) {
        return Ok(Err(Bad::LengthIndex));
    }
    if charged(len) > limit {
        return Ok(Err(Bad::OverBound));
    }
    let mut buf = Vec::with_capacity(len as usize);
    // Read at most one byte past `len`, so a growing file shows up as bad.
    (&mut file)
        .take(len + 1)
        .read_to_end(&mut buf)
        .map_err(|e| at(path, e))?;
    let checked = check(Bytes::from(buf), key);
    if checked.is_ok() {
        let now = SystemTime::now();
        let fresh = md
            .modified()
            .is_ok_and(|m| now.duration_since(m).unwrap_or_default() <= touch_every);
        if !fresh {
            let _ = file.set_modified(now);
        }
    }
    Ok(checked)
}

/// Full check of a whole entry file, on every read: header, lengths, the
/// trailing blake3 over everything before it (key, record and every part),
/// and the key. Nothing read from disk is trusted without it: not even a
/// file this process wrote a moment ago (anything else may have written
/// over it since).
pub(super) fn check(buf: Bytes, key: &str) -> Checked {
    let header = Header::decode(&buf).ok_or(Bad::Header)?;
    if header.file_len() != Some(buf.len() as u64) {
        return Err(Bad::LengthHeader);
    }
    let body_end = buf.len() - TRAILER_LEN;
    let mut trailer = [0u8; TRAILER_LEN];
    trailer.copy_from_slice(&buf[body_end..]);
    if blake3::hash(&buf[..body_end]) != blake3::Hash::from(trailer) {
        return Err(Bad::Hash);
    }
    let key_end = header.len() + header.key_len as usize;
    let meta_end = key_end + header.meta_len as usize;
    // A different key here is a collision or a misplaced file.
    if &buf[header.len()..key_end] != key.as_bytes() {
        return Err(Bad::Key);
    }
    let mut parts = Vec::with_capacity(header.parts.len());
    let mut start = meta_end;
    for p in &header.parts {
        // In range: the lengths add up to the file's (checked above).
        let end = start + *p as usize;
        parts.push(buf.slice(start..end));
        start = end;
    }
    Ok(Good {
        meta: buf.slice(key_end..meta_end),
        parts,
        len: buf.len() as u64,
    })
}

/// The key stored in the entry file at `path` and the file's length, read
/// from its header only (one open, two small reads); `Ok(None)` if the
/// header is not ours, the lengths disagree with the file's, or the key
/// does not name this file. Errors name the path.
pub(super) fn read_key(path: &Path, id: Id) -> io::Result<Option<(String, u64)>> {
    let mut file = File::open(path).map_err(|e| at(path, e))?;
    let len = file.metadata().map_err(|e| at(path, e))?.len();
    let mut fixed = [0u8; FIXED_LEN];
    if len < (FIXED_LEN + TRAILER_LEN) as u64 {
        return Ok(None);
    }
    file.read_exact(&mut fixed).map_err(|e| at(path, e))?;
    let Some(n) = Header::count(&fixed) else {
        return Ok(None);
    };
    let mut head = fixed.to_vec();
    head.resize(FIXED_LEN + 8 * n, 0);
    if len < head.len() as u64 {
        return Ok(None);
    }
    file.read_exact(&mut head[FIXED_LEN..])
        .map_err(|e| at(path, e))?;
    let Some(header) = Header::decode(&head) else {
        return Ok(None);
    };
    if header.file_len() != Some(len) {
        return Ok(None);
    }
    let mut key = vec![0u8; header.key_len as usize];
    file.read_exact(&mut key).map_err(|e| at(path, e))?;
    match String::from_utf8(key) {
        Ok(key) if id_of(&key) == id => Ok(Some((key, len))),
        _ => Ok(None),
    }
}
