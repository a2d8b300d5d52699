//! The entry file of the disk cache: its name and place under the cache
//! directory, writing it atomically, and why a file read back is bad. Its
//! bytes are a head (`head`: lengths, key, record, hashes) and the parts,
//! verified a chunk at a time (`chunks`); `read` reads them back.
//!
//! Not the index, eviction or any locking: callers decide when a file may be
//! renamed or unlinked.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// What follows the head in a file being written.
pub(super) enum Data<'a> {
    /// These parts, in order.
    Parts(&'a [&'a [u8]]),
    /// `len` bytes of `from` at `offset` (the parts of an older version,
    /// copied as they are: their chunk table comes with them).
    Copy {
        from: &'a File,
        offset: u64,
        len: u64,
    },
}

/// Writes `head` and `data` to a fresh temp file beside `path`, named with
/// `tag` (this cache's), fsynced; returns its path. Nothing is left behind
/// on error; errors name the file.
pub(super) fn write_temp(
    path: &Path,
    tag: &str,
    head: &[u8],
    data: Data<'_>,
) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| at(dir, e))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{tag}.{n}{TMP_SUFFIX}"));
    let result = (|| {
        let mut w = BufWriter::with_capacity(64 * 1024, File::create_new(&tmp)?);
        let mut written = 0;
        let mut put = |w: &mut BufWriter<File>, chunk: &[u8]| {
            injected_fault(w, written, chunk)?;
            w.write_all(chunk)?;
            written += chunk.len();
            io::Result::Ok(())
        };
        put(&mut w, head)?;
        match data {
            Data::Parts(parts) => {
                for part in parts {
                    put(&mut w, part)?;
                }
            }
            Data::Copy { from, offset, len } => {
                let mut buf = vec![0u8; 64 * 1024];
                let mut done = 0;
                while done < len {
                    let n = buf.len().min((len - done) as usize);
                    std::os::unix::fs::FileExt::read_exact_at(from, &mut buf[..n], offset + done)?;
                    put(&mut w, &buf[..n])?;
                    done += n as u64;
                }
            }
        }
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
    /// Written by an older version of the node (format 1 or 2): not bad,
    /// but not read either; deleted quietly, not counted, fetched again.
    Old,
}

impl Bad {
    /// The `reason` label values, in counter order: `length` (the file is
    /// not as long as the index or its header say, or exceeds the bound),
    /// `header`, `hash` (its bytes changed since they were written), `key`,
    /// `record`.
    pub const REASONS: [&'static str; 5] = ["length", "header", "hash", "key", "record"];

    /// Its label's position in [`Bad::REASONS`]; `None` for an entry of
    /// an older format, which is not counted.
    pub fn reason_index(self) -> Option<usize> {
        Some(match self {
            Bad::LengthIndex | Bad::OverBound | Bad::LengthHeader => 0,
            Bad::Header => 1,
            Bad::Hash => 2,
            Bad::Key => 3,
            Bad::Record => 4,
            Bad::Old => return None,
        })
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
            Bad::Old => "an older format version",
        }
    }
}
