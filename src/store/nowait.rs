//! File I/O that never waits for a disk, for the worker threads: a path is
//! resolved only from the kernel's lookup caches (`openat2` with
//! `RESOLVE_CACHED`, Linux 5.12) and bytes are read only from the page cache
//! (`preadv2` with `RWF_NOWAIT`, Linux 4.14). Whatever would wait, and
//! every error, answers "don't know", and the caller takes its blocking
//! path on the blocking pool instead. So the common case — a file read a
//! moment ago, a path known not to exist — costs no trip to another thread.

use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::{preadv2, Errno, ReadWriteFlags};

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
    let mut bytes = vec![0u8; len as usize];
    let mut done = 0;
    while done < bytes.len() {
        let mut bufs = [std::io::IoSliceMut::new(&mut bytes[done..])];
        match preadv2(&fd, &mut bufs, done as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) | Err(_) => return None, // shrank, would wait, or failed
            Ok(n) => done += n,
        }
    }
    let modified = SystemTime::UNIX_EPOCH
        + std::time::Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32);
    Some(Whole { bytes, modified })
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
