//! What the edge holds of the origin's answers, counted against
//! `cache.memory_bytes` (DESIGN: "Keys, bounds and trust"):
//!
//! - a body being fetched whole is reserved as it arrives ([`Buffer`], the
//!   origin client's `Room`), up to what the node could keep (the memory
//!   cache's largest entry; with a disk cache, `origin.max_object_bytes`)
//!   and while all bodies being fetched take at most half the bound. Past
//!   either, the answer is streamed instead of buffered on faith.
//! - the body then carries its reservation ([`Buffer::seal`]): an answer
//!   passed on uncached stays counted until the last response sending it
//!   is dropped; one stored in memory is counted by the cache instead
//!   ([`Buffer::release`]), and by its entry once the cache lets it go
//!   while it is still being sent (`Weigh::outlive`).
//! - a streamed answer is counted for what the HTTP client reads ahead of
//!   the node's client ([`STREAM_BYTES`]), against the whole bound; with
//!   no room left it is refused (503) rather than started.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::lookup::Memory;
use crate::origin::client::{FetchError, Overflow, Room, Streamed};
use crate::store::memory::Reservation;

/// What one streamed response is counted for: the HTTP client's read
/// buffer (hyper's grows to 8 KiB + 400 KiB on a fast origin), the part
/// queued in its body channel (as large), and the slice being sent.
pub const STREAM_BYTES: usize = 1 << 20;

/// A reservation grows by at least this much (or half of what it holds)
/// at a time, for fewer passes over the cache's shards. The first is
/// exact: a declared length, or the first part of an undeclared one.
const STEP: usize = 64 << 10;

/// A body being fetched, held against the memory bound.
pub(super) struct Buffer<'a> {
    memory: &'a Memory,
    /// The largest body held whole; a larger one is streamed.
    whole: u64,
    held: Option<Arc<Reservation>>,
}

impl<'a> Buffer<'a> {
    /// Room for a body of at most `whole` bytes in `memory`'s bound.
    pub(super) fn new(memory: &'a Memory, whole: u64) -> Self {
        Self {
            memory,
            whole,
            held: None,
        }
    }

    /// The body held is counted elsewhere from now on (stored in memory,
    /// or by the entry holding it): its reservation is given back.
    pub(super) fn release(&self) {
        if let Some(r) = &self.held {
            r.release();
        }
    }

    /// What bodies being fetched may reserve together: half the bound,
    /// so they never evict more than half the cache, and streams (which
    /// cannot fall back to anything) always find room beside them.
    fn ceiling(&self) -> usize {
        self.memory.capacity() / 2
    }
}

impl Room for Buffer<'_> {
    fn grow(&mut self, total: u64) -> Result<(), Overflow> {
        if total > self.whole {
            return Err(Overflow::TooLarge);
        }
        let total = usize::try_from(total).map_err(|_| Overflow::TooLarge)?;
        let ceiling = self.ceiling();
        match &self.held {
            _ if total == 0 => Ok(()),
            Some(r) if r.bytes() >= total => Ok(()),
            Some(r) => {
                let more = (r.bytes() / 2).max(STEP);
                let ahead = total.max(r.bytes() + more).min(self.whole as usize);
                if self.memory.try_grow(r, ahead, ceiling)
                    || self.memory.try_grow(r, total, ceiling)
                {
                    Ok(())
                } else {
                    Err(Overflow::NoRoom)
                }
            }
            None => {
                let r = self
                    .memory
                    .try_reserve(total, ceiling)
                    .ok_or(Overflow::NoRoom)?;
                self.held = Some(Arc::new(r));
                Ok(())
            }
        }
    }

    fn seal(&mut self, body: BytesMut) -> Bytes {
        let body = body.freeze();
        match &self.held {
            Some(held) => Bytes::from_owner(Charged {
                body,
                _held: held.clone(),
            }),
            None => body,
        }
    }
}

/// A body with the reservation that counts it: released when the last
/// `Bytes` of it is dropped (or earlier, by [`Buffer::release`]).
struct Charged {
    body: Bytes,
    _held: Arc<Reservation>,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

/// Room in the whole bound for a streamed response: [`STREAM_BYTES`], or
/// its `declared` length if smaller; `NoRoom` when the bound has none now.
pub(crate) fn reserve_stream(
    memory: &Memory,
    declared: Option<u64>,
) -> Result<Reservation, FetchError> {
    let bytes = declared.map_or(STREAM_BYTES, |n| {
        usize::try_from(n).map_or(STREAM_BYTES, |n| n.min(STREAM_BYTES))
    });
    memory
        .try_reserve(bytes, memory.capacity())
        .ok_or(FetchError::NoRoom)
}

/// `s`, counted by `held` until its body is dropped.
pub(crate) fn counted(mut s: Streamed, held: Reservation) -> Streamed {
    s.body = s
        .body
        .map(move |part| {
            let _counted = &held;
            part
        })
        .boxed();
    s
}
