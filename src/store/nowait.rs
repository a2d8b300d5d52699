//! File I/O that never waits for a disk, for the worker threads: a path is
//! resolved only from the kernel's lookup caches (`openat2` with
//! `RESOLVE_CACHED`, Linux 5.12) and bytes are read only from the page cache
//! (`preadv2` with `RWF_NOWAIT`, Linux 4.14). Whatever would wait, and
//! every error, answers "don't know", and the caller takes its blocking
//! path on the blocking pool instead. So the common case — a file read a
//! moment ago, a path known not to exist — costs no trip to another thread.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// True when the kernel knows, without any I/O, that `path` does not exist
/// (a cached negative lookup); false when it exists or it would take I/O to
/// tell.
pub fn known_absent(path: &Path) -> bool {
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    match openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED) {
        Err(e) => e == Errno::NOENT || e == Errno::NOTDIR,
        Ok(_) => false,
    }
}

/// A regular file opened without waiting, with what `fstat` told of it.
pub struct Opened {
    /// The descriptor (read-only).
    pub fd: OwnedFd,
    /// Its length.
    pub len: u64,
    /// Its modification time.
    pub modified: SystemTime,
}

/// Opens the regular file at `path` read-only if its path is in the lookup
/// caches and it is at most `limit` bytes; `None` otherwise (take the
/// blocking path).
pub fn open(path: &Path, limit: u64) -> Option<Opened> {
    // No access-time updates: reads of a cache's own files need none (and
    // each one cost a timestamp write on a disk hit). Refused with EPERM
    // for files of another owner: those are opened without it.
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = openat2(
        CWD,
        path,
        flags | OFlags::NOATIME,
        Mode::empty(),
        ResolveFlags::CACHED,
    )
    .or_else(|e| match e {
        Errno::PERM => openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED),
        e => Err(e),
    })
    .ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let len = u64::try_from(st.st_size).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
        || len > limit
    {
        return None;
    }
    let modified = SystemTime::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
    Some(Opened { fd, len, modified })
}

/// Reads `len` bytes of `fd` from `offset` if every one is in the page
/// cache; `None` when that would wait, failed, or the file is shorter.
pub fn read_at(fd: &impl AsFd, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::with_capacity(usize::try_from(len).ok()?);
    while bytes.len() < bytes.capacity() {
        if read_nowait_into(fd, offset, &mut bytes)? == 0 {
            return None; // shorter
        }
    }
    Some(bytes)
}

/// Appends to `bytes`, without waiting, what the file holds at `base +
/// bytes.len()`, up to the vector's capacity; the count read, `None` when
/// that would wait or failed. The spare capacity is written by the kernel
/// directly (not zeroed first: at 16 KiB objects the zeroing was a tenth of
/// a disk hit's read cost).
fn read_nowait_into(fd: &impl AsFd, base: u64, bytes: &mut Vec<u8>) -> Option<usize> {
    let spare = bytes.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    let offset = libc::off_t::try_from(base.checked_add(bytes.len() as u64)?).ok()?;
    // SAFETY: the one iovec covers the vector's spare capacity, which the
    // kernel only writes; `fd` is an open descriptor for the call.
    let n = unsafe { libc::preadv2(fd.as_fd().as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
    // -1: would wait (EAGAIN) or failed.
    let n = usize::try_from(n).ok()?;
    // SAFETY: the kernel initialised the first `n` bytes of the spare
    // capacity (n <= its length).
    unsafe { bytes.set_len(bytes.len() + n) };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_just_written_is_read_without_waiting() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let _ = std::fs::read(&p); // in the caches now
        let o = open(&p, 100).expect("cached");
        assert_eq!(o.len, 5);
        assert_eq!(read_at(&o.fd, 0, o.len).unwrap(), b"hello");
        assert_eq!(read_at(&o.fd, 0, 3).unwrap(), b"hel");
        assert!(read_at(&o.fd, 0, 6).is_none(), "shorter than asked");
        assert_eq!(read_at(&o.fd, 1, 3).unwrap(), b"ell");
        assert!(read_at(&o.fd, 3, 3).is_none(), "past the end");
        assert_eq!(
            o.modified,
            std::fs::metadata(&p).unwrap().modified().unwrap()
        );
        assert!(open(&p, 4).is_none(), "over the limit");
        assert!(open(d.path(), 100).is_none(), "not a regular file");
    }

    #[test]
    fn absence_is_known_only_for_paths_that_do_not_exist() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        assert!(!known_absent(&p));
        let missing = d.path().join("missing");
        let _ = std::fs::metadata(&missing); // a cached negative lookup
        assert!(known_absent(&missing));
        assert!(!known_absent(d.path()));
    }
}
