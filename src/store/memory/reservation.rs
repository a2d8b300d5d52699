//! Bytes of a [`MemoryCache`](super::MemoryCache)'s bound held back for what
//! the node holds outside the cache: encodings being made, bodies arriving
//! from the origin, streamed responses' buffers, and stored bodies still
//! being sent to a client after the cache let go of them. While reserved,
//! they shrink what the cache may keep, so the cache and everything
//! reserved together stay within the bound.
//!
//! A reservation is owned (no borrow of the cache), so it can travel with
//! what it accounts for: into a body's `Bytes`, a response body, an entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The count of reserved bytes, shared by a cache and its reservations.
#[derive(Debug, Default)]
pub(super) struct Reserved(AtomicUsize);

impl Reserved {
    /// Bytes reserved now.
    pub(super) fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds `bytes` if the total stays at most `ceiling`; whether it did.
    pub(super) fn try_add(&self, bytes: usize, ceiling: usize) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                cur.checked_add(bytes).filter(|n| *n <= ceiling)
            })
            .is_ok()
    }

    fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.0.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Bytes held back from a cache's bound; released when dropped (or by
/// [`Reservation::release`]).
#[derive(Debug)]
pub struct Reservation {
    reserved: Arc<Reserved>,
    bytes: AtomicUsize,
}

impl Reservation {
    /// A reservation of `bytes` already added to `reserved`.
    pub(super) fn taken(reserved: Arc<Reserved>, bytes: usize) -> Self {
        Self {
            reserved,
            bytes: AtomicUsize::new(bytes),
        }
    }

    /// Adds `bytes` to `reserved` whatever the total (for bytes that exist
    /// already and must be counted).
    pub(super) fn forced(reserved: &Arc<Reserved>, bytes: usize) -> Self {
        reserved.add(bytes);
        Self::taken(reserved.clone(), bytes)
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether this reservation counts against `reserved`.
    pub(super) fn is_of(&self, reserved: &Arc<Reserved>) -> bool {
        Arc::ptr_eq(&self.reserved, reserved)
    }

    /// Grows to `to` bytes if the cache's reserved total stays at most
    /// `ceiling`; whether it holds `to` now. Never shrinks.
    pub(super) fn try_grow(&self, to: usize, ceiling: usize) -> bool {
        let have = self.bytes();
        if to <= have {
            return true;
        }
        if !self.reserved.try_add(to - have, ceiling) {
            return false;
        }
        self.bytes.fetch_add(to - have, Ordering::Relaxed);
        true
    }

    /// Holds exactly `to` bytes from now on, whatever the cache's total
    /// (for bytes that exist already and must be counted, as they grow and
    /// shrink). Callers serialise their calls.
    pub fn set(&self, to: usize) {
        let have = self.bytes.swap(to, Ordering::Relaxed);
        if to > have {
            self.reserved.add(to - have);
        } else {
            self.reserved.sub(have - to);
        }
    }

    /// Gives the bytes back now (what they stood for is counted elsewhere,
    /// or gone); the reservation holds nothing from then on.
    pub fn release(&self) {
        let n = self.bytes.swap(0, Ordering::Relaxed);
        self.reserved.sub(n);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_under_the_ceiling_and_gives_back_once() {
        let reserved = Arc::new(Reserved::default());
        assert!(reserved.try_add(100, 150));
        let r = Reservation::taken(reserved.clone(), 100);
        assert!(r.try_grow(150, 150));
        assert!(!r.try_grow(151, 150), "past the ceiling");
        assert!(r.try_grow(120, 150), "never shrinks");
        assert_eq!((r.bytes(), reserved.get()), (150, 150));
        let forced = Reservation::forced(&reserved, 1000);
        assert_eq!(reserved.get(), 1150, "forced past any ceiling");
        r.release();
        r.release();
        assert_eq!(reserved.get(), 1000);
        drop(r);
        drop(forced);
        assert_eq!(reserved.get(), 0);
    }
}
