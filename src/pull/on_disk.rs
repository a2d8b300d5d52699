//! A part of a disk-cache entry left on disk (`store::disk::StoredPart`)
//! as the body of a representation (`asset::Stored`): each response reads
//! the chunks its bytes (or its range) cover, one at a time, from the page
//! cache without waiting when it can (`store::nowait`), else on the
//! blocking pool, never on a worker thread; each chunk is verified before
//! any of it is yielded, and a bad one ends the stream with an error (the
//! entry is dropped, counted and logged by the disk cache).
//!
//! A response counts two chunks (128 KiB) against the memory bound while
//! it is sent (the chunk being read, and the one its connection is still
//! writing), or what its range covers if less; with no room in the bound
//! it is not started (503, like a streamed origin answer, see `buffer`).

use std::io;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::asset::{ByteStream, Stored};
use crate::lookup::Memory;
use crate::store::disk::StoredPart;

/// A stored part, streamed with its chunks in flight counted in `memory`.
pub(super) struct OnDisk {
    part: StoredPart,
    memory: Memory,
}

impl std::fmt::Debug for OnDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.part.fmt(f)
    }
}

impl OnDisk {
    /// `part`, counted against `memory`'s bound while streamed.
    pub(super) fn new(part: StoredPart, memory: Memory) -> Self {
        Self { part, memory }
    }
}

/// Chunks a response holds at most at a time.
const IN_FLIGHT: u64 = 2;

impl Stored for OnDisk {
    fn size(&self) -> u64 {
        self.part.size()
    }

    fn heap_bytes(&self) -> usize {
        self.part.heap_bytes()
    }

    fn stream(&self, offset: u64, len: u64) -> Option<ByteStream> {
        let end = offset.checked_add(len).filter(|e| *e <= self.part.size())?;
        if len == 0 {
            return Some(futures_util::stream::empty().boxed());
        }
        let chunk = self.part.chunk_len();
        let (first, last) = (offset / chunk, (end - 1) / chunk);
        let hold = chunk * (last - first + 1).min(IN_FLIGHT);
        let held = self
            .memory
            .try_reserve(usize::try_from(hold).ok()?, self.memory.capacity())?;
        let part = self.part.clone();
        let next = move |(i, held)| {
            let part = part.clone();
            async move {
                if i > last {
                    return None;
                }
                let read = match part.read_chunk_now(i) {
                    Some(b) => Ok(b),
                    None => read_blocking(part, i).await,
                };
                match read {
                    Ok(b) => {
                        // The range's ends, within their chunks.
                        let from = if i == first { offset - i * chunk } else { 0 };
                        let to = if i == last { end - i * chunk } else { chunk };
                        let (from, to) = (from as usize, (to as usize).min(b.len()));
                        Some((Ok(b.slice(from.min(to)..to)), (i + 1, held)))
                    }
                    // Nothing more after an error: the response is aborted.
                    Err(e) => Some((Err(e), (last + 1, held))),
                }
            }
        };
        Some(futures_util::stream::unfold((first, held), next).boxed())
    }
}

/// Chunk `i` of `part`, read on the blocking pool.
async fn read_blocking(part: StoredPart, i: u64) -> io::Result<Bytes> {
    tokio::task::spawn_blocking(move || part.read_chunk(i))
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)))
}
