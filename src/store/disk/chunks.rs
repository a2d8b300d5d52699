//! The parts of an entry as chunks: each part is cut into chunks of
//! `1 << shift` bytes (the last one shorter) whose blake3 the head records
//! (`head`), so that any chunk can be read and verified on its own.
//!
//! A part too large to be read whole ([`StoredPart`]) is read a chunk at a
//! time as its response is sent: each chunk is verified before any byte of
//! it is handed out. A chunk that does not match drops the entry (index and
//! file), counts it under `hash` and logs the throttled warning, and the
//! read fails: the caller aborts its response before its end.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::format::{Bad, Id};
use super::head::{PartAt, HASH_LEN};
use super::shared::Shared;
use super::Found;
use crate::store::nowait;

/// Chunks are written `1 << SHIFT` bytes long: 64 KiB, so a response
/// streamed from disk holds one or two chunks (128 KiB) at a time, and a
/// chunk table costs 32 bytes per 64 KiB (16 KiB for a 32 MiB part).
pub(super) const SHIFT: u32 = 16;

/// Chunks of a part of `len` bytes.
pub(super) fn count(len: u64, shift: u32) -> u64 {
    len.div_ceil(1 << shift)
}

/// The chunk table of `part`: the blake3 of each of its chunks.
pub(super) fn table(part: &[u8], shift: u32) -> Vec<u8> {
    let mut t = Vec::with_capacity(count(part.len() as u64, shift) as usize * HASH_LEN);
    for chunk in part.chunks(1 << shift) {
        t.extend_from_slice(blake3::hash(chunk).as_bytes());
    }
    t
}

/// Whether every chunk of `part` hashes to its entry in `table`.
pub(super) fn verify(part: &[u8], table: &[u8], shift: u32) -> bool {
    table.len() == count(part.len() as u64, shift) as usize * HASH_LEN
        && part
            .chunks(1 << shift)
            .zip(table.chunks(HASH_LEN))
            .all(|(c, h)| blake3::hash(c).as_bytes()[..] == *h)
}

/// The file one verified read of an entry opened, shared by the parts of
/// it left on disk: what is needed to read them, and to drop the entry if
/// a chunk turns out bad.
pub(super) struct OpenEntry {
    pub fd: Arc<OwnedFd>,
    pub shared: Arc<Shared>,
    pub id: Id,
    pub key: Box<str>,
    /// How the read found the entry (the generation it was, if indexed).
    pub found: Found,
    /// A bad chunk was found already: the entry is dropped and counted once.
    pub dropped: AtomicBool,
}

impl OpenEntry {
    /// A chunk did not verify: drops the entry (if the index still has
    /// the version read), counts and logs it, once per read.
    fn bad(&self, why: Bad) {
        if self.dropped.swap(true, Ordering::Relaxed) {
            return;
        }
        let s = &self.shared;
        s.bad_entries.found(&s.path(self.id), &self.key, why);
        s.drop_bad(self.id, self.found);
    }
}

/// A part of a verified entry left on disk, read and verified a chunk at
/// a time (see the module docs). Cheap to clone; holds the entry's file
/// open until the last clone is dropped (so a newer version or an eviction
/// meanwhile changes nothing of what it reads).
#[derive(Clone)]
pub struct StoredPart {
    entry: Arc<OpenEntry>,
    offset: u64,
    len: u64,
    hash: [u8; HASH_LEN],
    table: Bytes,
    shift: u32,
}

impl std::fmt::Debug for StoredPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPart")
            .field("key", &self.entry.key)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl StoredPart {
    /// The part at `at` of the entry open as `entry`, with chunks of `1 << shift` bytes.
    pub(super) fn new(entry: Arc<OpenEntry>, at: &PartAt, shift: u32) -> Self {
        Self {
            entry,
            offset: at.offset,
            len: at.len,
            hash: at.hash,
            // Its own copy: the head it came in is not kept.
            table: Bytes::copy_from_slice(&at.table),
            shift,
        }
    }

    /// Its length in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }

    /// The blake3 of the whole part, as recorded when it was written.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Bytes of each chunk (the last one may be shorter).
    pub fn chunk_len(&self) -> u64 {
        1 << self.shift
    }

    /// Bytes it holds in memory (its chunk table).
    pub fn heap_bytes(&self) -> usize {
        self.table.len()
    }

    /// Where chunk `i` is in the file, and its length; `None` past the end.
    fn chunk(&self, i: u64) -> Option<(u64, usize)> {
        let start = i.checked_mul(self.chunk_len())?;
        (start < self.len).then(|| {
            let n = (self.len - start).min(self.chunk_len());
            (self.offset + start, n as usize)
        })
    }

    fn matches(&self, i: u64, bytes: &[u8]) -> bool {
        let at = i as usize * HASH_LEN;
        self.table
            .get(at..at + HASH_LEN)
            .is_some_and(|h| blake3::hash(bytes).as_bytes()[..] == *h)
    }

    /// Chunk `i`, read and verified (blocking: on the blocking pool only).
    /// A chunk that does not verify, or a file now shorter than its head
    /// says, drops the entry, is counted and logged, and fails with
    /// `InvalidData`: the response sending it must be aborted.
    pub fn read_chunk(&self, i: u64) -> io::Result<Bytes> {
        let (at, n) = self
            .chunk(i)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "past the part's end"))?;
        let mut buf = vec![0u8; n];
        let mut done = 0;
        while done < n {
            match rustix::io::pread(&*self.entry.fd, &mut buf[done..], at + done as u64) {
                Ok(0) => return Err(self.bad(Bad::LengthHeader)),
                Ok(k) => done += k,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !self.matches(i, &buf) {
            return Err(self.bad(Bad::Hash));
        }
        Ok(Bytes::from(buf))
    }

    /// Chunk `i` if every byte of it is in the page cache and it verifies,
    /// without waiting (on a worker thread); `None` otherwise: then
    /// [`read_chunk`](Self::read_chunk) on the blocking pool, which also
    /// deals with a bad chunk.
    pub fn read_chunk_now(&self, i: u64) -> Option<Bytes> {
        let (at, n) = self.chunk(i)?;
        let buf = nowait::read_at(&*self.entry.fd, at, n as u64)?;
        self.matches(i, &buf).then(|| Bytes::from(buf))
    }

    /// Drops the entry for `why` and makes the error the reader returns.
    fn bad(&self, why: Bad) -> io::Error {
        self.entry.bad(why);
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("disk cache entry: {} (response aborted)", why.describe()),
        )
    }
}
