//! Opening a client-chosen path under the static root without a
//! check-then-open race: the path is resolved by the kernel, relative to a
//! descriptor of the root, with `openat2(RESOLVE_BENEATH)` (Linux 5.6), so
//! no symlink swapped in at any moment can lead the open outside the root.
//! The real path of what was opened is then read from the descriptor
//! itself (`/proc/self/fd`), never from the name, to apply the rest of the
//! policy (no dot-named file or directory on the way).
//!
//! The policy stays the one documented: symlinks are followed when what
//! they lead to lies inside the root. A relative symlink resolves beneath
//! the root in the same call; an absolute one (which `RESOLVE_BENEATH`
//! refuses outright) is resolved by name and, if its target lies inside the
//! root, opened again beneath the root by that relative path, so the file
//! opened is inside the root whatever happens meanwhile.
//!
//! Files are first opened `O_PATH` (no read access, nothing happens to a
//! FIFO or a device), checked with `fstat`, and only regular files are
//! then opened for reading, through the descriptor.

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// The root directory, opened for one resolution (a root replaced on disk
/// is picked up by the next one, as with paths).
pub struct Root<'a> {
    fd: OwnedFd,
    /// The canonical path of the root.
    path: &'a Path,
}

/// Something found under the root: an `O_PATH` descriptor, its metadata
/// and its real path.
pub struct Handle {
    fd: OwnedFd,
    /// `fstat` of the descriptor (symlinks followed).
    pub meta: Metadata,
    /// The real path of what was opened (no symlink left in it).
    pub real: PathBuf,
}

impl<'a> Root<'a> {
    /// Opens the root directory at its canonical `path`.
    pub fn open(path: &'a Path) -> io::Result<Self> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = openat2(CWD, path, flags, Mode::empty(), ResolveFlags::empty())
            .map_err(|e| at(path, e.into()))?;
        Ok(Root { fd, path })
    }

    /// Resolves `rel` (a relative path, `""` for the root itself) beneath
    /// the root: `None` when nothing is there, when it leads outside the
    /// root, or when its real path passes through a dot-named file or
    /// directory. Errors other than "absent" (a permission refused, EIO)
    /// are returned.
    pub fn resolve(&self, rel: &str) -> io::Result<Option<Handle>> {
        #[cfg(test)]
        tests::before_open(self.path, rel);
        let rel = if rel.is_empty() { "." } else { rel };
        let fd = match self.open_beneath(rel) {
            Ok(fd) => fd,
            // An absolute symlink on the way (or one leading out): resolved
            // by name, and opened beneath the root again if inside it.
            Err(Errno::XDEV) => match self.inside_by_name(rel)? {
                Some(inner) => match self.open_beneath(&inner) {
                    Ok(fd) => fd,
                    Err(Errno::XDEV) => return Ok(None),
                    Err(e) => return absent_or(e.into()),
                },
                None => return Ok(None),
            },
            Err(e) => return absent_or(e.into()),
        };
        let real = std::fs::read_link(fd_path(&fd))?;
        let Some(inner) = self.relative(&real) else {
            return Ok(None);
        };
        if hidden(inner) {
            return Ok(None);
        }
        let meta = File::from(fd.try_clone()?).metadata()?;
        Ok(Some(Handle { fd, meta, real }))
    }

    fn open_beneath(&self, rel: &str) -> Result<OwnedFd, Errno> {
        let flags = OFlags::PATH | OFlags::CLOEXEC;
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        openat2(&self.fd, rel, flags, Mode::empty(), how)
    }

    /// `rel` with every symlink followed by name, relative to the root,
    /// when it lies inside it.
    fn inside_by_name(&self, rel: &str) -> io::Result<Option<String>> {
        let real = match self.path.join(rel).canonicalize() {
            Ok(p) => p,
            Err(e) => return absent_or(e),
        };
        Ok(self
            .relative(&real)
            .map(|p| p.to_string_lossy().into_owned())
            .map(|p| if p.is_empty() { ".".to_string() } else { p }))
    }

    fn relative<'p>(&self, real: &'p Path) -> Option<&'p Path> {
        real.strip_prefix(self.path).ok()
    }
}

impl Handle {
    /// Opens what the handle names for reading (through the descriptor:
    /// the same file, whatever its name leads to now). Only for regular
    /// files: the caller checks `meta` first.
    pub fn open_read(&self) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC;
        let fd = openat2(
            CWD,
            fd_path(&self.fd),
            flags,
            Mode::empty(),
            ResolveFlags::empty(),
        )
        .map_err(|e| at(&self.real, e.into()))?;
        Ok(File::from(fd))
    }
}

/// Opens a file by its real path (one with no symlink in it, as
/// [`Handle::real`]) for reading, refusing to follow any symlink swapped
/// in on the way since: for bodies streamed from disk, opened again on
/// each request.
pub fn open_real(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let how = ResolveFlags::NO_SYMLINKS;
    let fd = openat2(CWD, path, flags, Mode::empty(), how).map_err(|e| at(path, e.into()))?;
    Ok(File::from(fd))
}

/// Whether a path relative to the root passes through a dot-named file or
/// directory.
fn hidden(rel: &Path) -> bool {
    rel.components()
        .any(|c| matches!(c, Component::Normal(s) if s.as_encoded_bytes().starts_with(b".")))
}

fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// `Ok(None)` for errors that just mean "there is no such file here",
/// else the error.
fn absent_or<T>(e: io::Error) -> io::Result<Option<T>> {
    if is_absent(&e) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Errors that just mean "there is no such file here".
pub fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ENAMETOOLONG | libc::ELOOP | libc::ENOENT | libc::ENOTDIR)
    )
}

fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
