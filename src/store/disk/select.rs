//! Purges and listings that select entries by key prefix or tag
//! ([`Select`]) once the index is complete: a walk of the index under its
//! lock, then the heads of entries whose key or tags are still unknown read
//! outside it (`Shared::learn_keys`). Not here: `remove_prefix`, which also
//! works while the rebuild runs (it records the prefix for it).

use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::format::Id;
use super::tagged::Select;
use super::DiskCache;

impl DiskCache {
    /// Removes every entry `select` names (waiting for the rebuild to end
    /// first); returns how many.
    pub fn remove_selected(&self, select: Select<'_>) -> io::Result<usize> {
        let s = &*self.shared;
        let matched = self.walk(select, false);
        s.close_dropped();
        let mut first_err = None;
        for (id, _) in &matched {
            if let Err(e) = s.unlink_if_dead(*id) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(matched.len()),
        }
    }

    /// The keys of the entries `select` names (waiting for the rebuild to
    /// end first), left in place.
    pub fn keys_selected(&self, select: Select<'_>) -> Vec<String> {
        self.walk(select, true)
            .into_iter()
            .map(|(_, k)| k)
            .collect()
    }

    /// (tags of live entries, one per entry and tag; bytes the index holds
    /// for them); no lock taken.
    pub fn tag_usage(&self) -> (u64, u64) {
        let c = &self.shared.counters;
        (
            c.tags.load(Ordering::Relaxed),
            c.tag_bytes.load(Ordering::Relaxed),
        )
    }

    /// Counts the bytes the index holds for tags in `r` (a reservation of
    /// the memory cache's bound) from now on, as they change; replaces the
    /// reservation given before.
    pub fn charge_tags_to(&self, r: crate::store::memory::Reservation) {
        self.shared.lock().charge_tags_to(r);
    }

    /// The entries `select` names, with their keys: dropped from the index
    /// (for the caller to unlink) unless `keep`.
    fn walk(&self, select: Select<'_>, keep: bool) -> Vec<(Id, String)> {
        let s = &*self.shared;
        // Files the rebuild has not reached are not indexed yet.
        while !self.wait_ready(Duration::from_secs(1)) {
            if s.stop.load(Ordering::Relaxed) {
                return Vec::new();
            }
        }
        let (mut matched, unknown) = {
            let mut ix = s.lock();
            let (mut matched, mut unknown) = (Vec::new(), Vec::new());
            for (id, e) in ix.entries() {
                match (&e.key, &e.tags) {
                    (Some(k), Some(t)) if select.matches(k, t) => matched.push((id, k.to_string())),
                    (Some(_), Some(_)) => {}
                    _ => unknown.push((id, e.generation)),
                }
            }
            if !keep {
                for (id, _) in &matched {
                    ix.forget(*id);
                }
            }
            (matched, unknown)
        };
        let (found, bad, old) = s.learn_keys(&unknown, Some(select), keep);
        matched.extend(found);
        s.unlink_victims(bad);
        s.unlink_victims(old);
        matched
    }
}
