//! File I/O that never waits for a disk, for the worker threads: a path is
//! resolved only from the kernel's lookup caches (`openat2` with
//! `RESOLVE_CACHED`, Linux 5.12) and bytes are read only from the page cache
//! (`preadv2` with `RWF_NOWAIT`, Linux 4.14). Whatever would wait, and
//! every error, answers "don't know", and the caller takes its blocking
//! path on the blocking pool instead. So the common case — a file read a
//! moment ago, a path known not to exist — costs no trip to another thread.

use std::os::fd::{AsFd, AsRawFd};
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

/// A whole file read without waiting.
pub struct Whole {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its modification time.
    pub modified: SystemTime,
}

/// Reads all of the regular file at `path`, if its path is in the lookup
/// caches, it is at most `limit` bytes, and every byte is in the page
/// cache; `None` otherwise (take the blocking path).
pub fn read_whole(path: &Path, limit: u64) -> Option<Whole> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = openat2(CWD, path, flags, Mode::empty(), ResolveFlags::CACHED).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let len = u64::try_from(st.st_size).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
        || len > limit
    {
        return None;
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(len as usize);
    while bytes.len() < len as usize {
        let n = read_nowait_into(&fd, &mut bytes)?;
        if n == 0 {
            return None; // shrank
        }
    }
    let modified = SystemTime::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
    Some(Whole { bytes, modified })
}

/// Appends to `bytes`, without waiting, what the file holds at offset
/// `bytes.len()`, up to the vector's capacity; the count read, `None` when
/// that would wait or failed. The spare capacity is written by the kernel
/// directly (not zeroed first: at 16 KiB objects the zeroing was a tenth of
/// a disk hit's read cost).
fn read_nowait_into(fd: &impl AsFd, bytes: &mut Vec<u8>) -> Option<usize> {
    let spare = bytes.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    let offset = libc::off_t::try_from(bytes.len()).ok()?;
    // SAFETY: the one iovec covers the vector's spare capacity, which the
    // kernel only writes; `fd` is an open descriptor for the call.
    let n = unsafe { libc::preadv2(fd.as_fd().as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
    let n = usize::try_from(n).ok()?; // -1: would wait (EAGAIN) or failed
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
        let w = read_whole(&p, 100).expect("cached");
        assert_eq!(w.bytes, b"hello");
        assert_eq!(
            w.modified,
            std::fs::metadata(&p).unwrap().modified().unwrap()
        );
        assert!(read_whole(&p, 4).is_none(), "over the limit");
        assert!(read_whole(d.path(), 100).is_none(), "not a regular file");
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
