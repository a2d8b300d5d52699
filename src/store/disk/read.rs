//! Reading an entry file back, verified before anything of it is handed
//! out: an entry small enough is read whole (one read) and verified whole;
//! a larger one has its head read and verified, its parts of at most one
//! chunk read and verified, and its larger parts left on disk, to be read
//! and verified a chunk at a time as they are sent (`chunks`).
//!
//! The same steps run blocking (a `File`, on the blocking pool) or without
//! waiting (`store::nowait`, on a worker thread: any read that would wait
//! gives up, and the caller takes the blocking path).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use bytes::Bytes;

use super::chunks::{self, OpenEntry, StoredPart};
use super::format::Bad;
use super::head::{self, Head, PartAt, Shape, LENGTHS_MAX, MIN_FILE_LEN};
use crate::store::nowait;

/// Bytes read first from an entry too large to read whole: the head of
/// most entries (lengths, key, record and a chunk table of up to 300 MiB
/// of parts); a longer head takes a second read.
const HEAD_READ: usize = 16 << 10;

/// One part of an entry as read.
#[derive(Debug, Clone)]
pub enum Part {
    /// Read whole and verified.
    Whole(Bytes),
    /// Left on disk: read and verified a chunk at a time.
    Stored(StoredPart),
}

impl Part {
    /// Its length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Part::Whole(b) => b.len() as u64,
            Part::Stored(p) => p.size(),
        }
    }
}

/// What a read verified, before the parts left on disk are tied to the
/// file they are read from.
pub(super) struct Good {
    /// The metadata JSON.
    pub meta: Bytes,
    /// Chunks are `1 << shift` bytes.
    shift: u32,
    /// Each part: read whole, or where it is.
    parts: Vec<Result<Bytes, PartAt>>,
    /// Whole file length.
    pub len: u64,
}

impl Good {
    /// The parts, those left on disk read from `entry` (made only if some are).
    pub fn into_parts(self, entry: impl FnOnce() -> Arc<OpenEntry>) -> Vec<Part> {
        let Some(open) = self.parts.iter().any(Result::is_err).then(entry) else {
            // Every part read whole.
            return self.parts.into_iter().flatten().map(Part::Whole).collect();
        };
        let shift = self.shift;
        self.parts
            .into_iter()
            .map(|p| match p {
                Ok(b) => Part::Whole(b),
                Err(at) => Part::Stored(StoredPart::new(open.clone(), &at, shift)),
            })
            .collect()
    }
}

/// A good entry, or why it is bad.
pub(super) type Checked = Result<Good, Bad>;

/// Why a read gave up without telling whether the entry is good.
pub(super) enum Miss {
    /// It would have waited for the disk (non-blocking reads only).
    Wait,
    /// The read failed.
    Io(io::Error),
}

/// Where an entry's bytes are read from.
pub(super) trait Source {
    /// `len` bytes at `offset`; `Ok(None)` if the file ends before.
    fn read_at(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Miss>;
}

impl Source for File {
    fn read_at(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Miss> {
        let mut buf = vec![
            0u8;
            usize::try_from(len)
                .map_err(|_| Miss::Io(io::ErrorKind::OutOfMemory.into()))?
        ];
        match std::os::unix::fs::FileExt::read_exact_at(self, &mut buf, offset) {
            Ok(()) => Ok(Some(buf)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(e) => Err(Miss::Io(e)),
        }
    }
}

/// Bytes in memory (the fuzz targets' files).
#[cfg(test)]
impl Source for &[u8] {
    fn read_at(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Miss> {
        let end = offset.checked_add(len).filter(|e| *e <= self.len() as u64);
        Ok(end.map(|e| self[offset as usize..e as usize].to_vec()))
    }
}

/// A descriptor read without waiting: what is not in the page cache (or
/// past the end) is `Miss::Wait`.
pub(super) struct NoWait<'a>(pub &'a OwnedFd);

impl Source for NoWait<'_> {
    fn read_at(&self, offset: u64, len: u64) -> Result<Option<Vec<u8>>, Miss> {
        nowait::read_at(self.0, offset, len)
            .map(Some)
            .ok_or(Miss::Wait)
    }
}

/// Reads the entry for `key` of `len` bytes from `src`, verified: whole
/// when `len` is at most `whole_up_to`, else the head and the parts of at
/// most one chunk, larger parts left on disk.
pub(super) fn read(
    src: &impl Source,
    len: u64,
    key: &str,
    whole_up_to: u64,
) -> Result<Checked, Miss> {
    if len < MIN_FILE_LEN {
        return Ok(Err(Bad::Header));
    }
    if len <= whole_up_to {
        return Ok(match src.read_at(0, len)? {
            Some(b) => whole(Bytes::from(b), key),
            None => Err(Bad::LengthIndex),
        });
    }
    let Some(mut first) = src.read_at(0, len.min(HEAD_READ as u64))? else {
        return Ok(Err(Bad::LengthIndex));
    };
    let shape = match Shape::decode(&first[..first.len().min(LENGTHS_MAX)]) {
        Ok(shape) => shape,
        Err(why) => return Ok(Err(why)),
    };
    let Some(head_len) = shape.head_len().filter(|_| shape.file_len() == Some(len)) else {
        return Ok(Err(Bad::LengthHeader));
    };
    let have = first.len() as u64;
    if head_len > have {
        let Some(rest) = src.read_at(have, head_len - have)? else {
            return Ok(Err(Bad::LengthIndex));
        };
        first.extend_from_slice(&rest);
    }
    first.truncate(head_len as usize);
    let head = match Head::verify(&Bytes::from(first), len, key) {
        Ok(head) => head,
        Err(why) => return Ok(Err(why)),
    };
    let chunk = 1u64 << head.shift;
    let mut parts = Vec::with_capacity(head.parts.len());
    for at in head.parts {
        if at.len > chunk {
            parts.push(Err(at));
            continue;
        }
        let Some(b) = src.read_at(at.offset, at.len)? else {
            return Ok(Err(Bad::LengthIndex));
        };
        if !chunks::verify(&b, &at.table, head.shift) {
            return Ok(Err(Bad::Hash));
        }
        parts.push(Ok(Bytes::from(b)));
    }
    Ok(Ok(Good {
        meta: head.meta,
        shift: head.shift,
        parts,
        len,
    }))
}

/// Verifies a whole entry file read into `buf` for `key`: its head (shape,
/// length, the head's blake3, the key), then every chunk of every part.
/// Nothing read from disk is trusted without it: not even a file this
/// process wrote a moment ago (anything else may have written over it since).
pub(super) fn whole(buf: Bytes, key: &str) -> Checked {
    let len = buf.len() as u64;
    let head = Head::verify(&buf, len, key)?;
    let mut parts = Vec::with_capacity(head.parts.len());
    for at in &head.parts {
        // In range: the head's lengths add up to the file's (verified).
        let part = buf.slice(at.offset as usize..(at.offset + at.len) as usize);
        if !chunks::verify(&part, &at.table, head.shift) {
            return Err(Bad::Hash);
        }
        parts.push(Ok(part));
    }
    Ok(Good {
        meta: head.meta,
        shift: head.shift,
        parts,
        len,
    })
}

/// What the head of an entry file says of its key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyRead {
    /// The key, which names the file, and the entry's tags.
    Key(String, super::tagged::Tags),
    /// The head is not ours, does not add up to the file's length, or its
    /// key does not name this file: a bad entry.
    Bad,
    /// A file of an older format: deleted quietly.
    Old,
}

/// The key stored in the entry file at `path` for `id`, and the tags its
/// metadata names, read from its head only (one open, one or two small
/// reads; see [`head::key_of`]). Errors name the path.
pub(super) fn read_key(path: &std::path::Path, id: super::format::Id) -> io::Result<KeyRead> {
    use std::os::unix::fs::FileExt;
    let named = |e| super::format::at(path, e);
    let file = File::open(path).map_err(named)?;
    let len = file.metadata().map_err(named)?.len();
    if len < MIN_FILE_LEN {
        return Ok(KeyRead::Bad);
    }
    let mut b = vec![0u8; len.min(LENGTHS_MAX as u64) as usize];
    file.read_exact_at(&mut b, 0).map_err(named)?;
    let shape = match Shape::decode(&b) {
        Ok(shape) => shape,
        Err(Bad::Old) => return Ok(KeyRead::Old),
        Err(_) => return Ok(KeyRead::Bad),
    };
    let key_end = head::key_at(shape.parts.len()) as u64 + u64::from(shape.key_len);
    let end = key_end + u64::from(shape.meta_len);
    if end > len {
        return Ok(KeyRead::Bad);
    }
    if end > b.len() as u64 {
        let have = b.len();
        b.resize(end as usize, 0);
        file.read_exact_at(&mut b[have..], have as u64)
            .map_err(named)?;
    }
    Ok(match head::key_of(&b, len, id) {
        Ok(Some(key)) => KeyRead::Key(
            key,
            super::tagged::of_meta(&b[key_end as usize..end as usize]),
        ),
        Err(Bad::Old) => KeyRead::Old,
        _ => KeyRead::Bad,
    })
}
