//! Writes that failed, by kind: a full disk (`ENOSPC`, `EDQUOT`), an I/O
//! error (`EIO`) or anything else. A failed write leaves no file behind
//! (its temp file is removed; the previous entry, if any, stays or is
//! dropped, never half-replaced) and the caller serves on without it.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// What kind of failure a write met (the `kind` label of
/// `cdn_edge_disk_write_errors_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteErrorKind {
    /// No space left (or quota exceeded).
    Enospc,
    /// An I/O error of the device.
    Eio,
    /// Anything else (permissions, too many open files, ...).
    Other,
}

impl WriteErrorKind {
    /// Every kind, in counter order.
    pub const ALL: [WriteErrorKind; 3] = [Self::Enospc, Self::Eio, Self::Other];
    /// How many kinds there are.
    pub const COUNT: usize = Self::ALL.len();

    /// The kind of an error met while writing.
    pub fn of(e: &io::Error) -> Self {
        match os_error(e) {
            Some(libc::ENOSPC | libc::EDQUOT) => Self::Enospc,
            Some(libc::EIO) => Self::Eio,
            _ if e.kind() == io::ErrorKind::StorageFull => Self::Enospc,
            _ => Self::Other,
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enospc => "enospc",
            Self::Eio => "eio",
            Self::Other => "other",
        }
    }
}

/// The errno of `e`, or of the first I/O error in its chain of sources
/// (errors here name their path around the OS error).
fn os_error(e: &io::Error) -> Option<i32> {
    if let Some(n) = e.raw_os_error() {
        return Some(n);
    }
    let mut next = e.get_ref().and_then(|inner| inner.source());
    while let Some(err) = next {
        if let Some(n) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(n);
        }
        next = err.source();
    }
    None
}

/// Failed writes so far, by kind.
#[derive(Debug, Default)]
pub(super) struct WriteErrors([AtomicU64; WriteErrorKind::COUNT]);

impl WriteErrors {
    /// Counts a failed write.
    pub fn count(&self, e: &io::Error) {
        let i = WriteErrorKind::ALL
            .iter()
            .position(|k| *k == WriteErrorKind::of(e))
            .unwrap_or(WriteErrorKind::COUNT - 1);
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts, indexed as [`WriteErrorKind::ALL`].
    pub fn counts(&self) -> [u64; WriteErrorKind::COUNT] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}
