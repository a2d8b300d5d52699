//! Purges a peer missed: when a purge fans out and a peer is down (or its
//! purge fails), the node that fanned out keeps what the peer should have
//! dropped (or made stale), per peer, and sends it when the peer is seen up
//! again (a probe or a request it answers). Hard and soft purges are kept
//! apart (a peer gets each as it was sent). The queue is bounded: past
//! [`MAX_ITEMS`] paths, prefixes and tags of one kind for one peer, that
//! kind collapses into one purge of everything (prefix `/`), which is
//! always safe. It lives in memory only: what a node kept for its peers is
//! lost when that node restarts. Not here: sending (`fanout`), deciding
//! that a peer is up (`probe`, `health`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

pub use super::batch::Batch;
use super::peer::Peer;
use super::ring::Ring;

/// The most paths, prefixes and tags of one kind (hard or soft) kept for
/// one peer; beyond, the peer's whole cache is purged (or made stale) when
/// it comes back.
pub const MAX_ITEMS: usize = 1024;

/// The prefix that purges everything.
pub const EVERYTHING: &str = "/";

/// What is kept for one peer of one kind.
#[derive(Debug, Default)]
struct Items {
    paths: BTreeSet<String>,
    prefixes: BTreeSet<String>,
    tags: BTreeSet<String>,
    /// Overflowed (or asked for): purge everything.
    everything: bool,
}

impl Items {
    fn add(&mut self, batch: &Batch, max: usize) {
        if self.everything {
            return;
        }
        self.paths.extend(batch.paths.iter().cloned());
        self.prefixes.extend(batch.prefixes.iter().cloned());
        self.tags.extend(batch.tags.iter().cloned());
        let n = self.paths.len() + self.prefixes.len() + self.tags.len();
        if self.prefixes.contains(EVERYTHING) || n > max {
            *self = Self {
                everything: true,
                ..Self::default()
            };
        }
    }

    fn len(&self) -> usize {
        if self.everything {
            1
        } else {
            self.paths.len() + self.prefixes.len() + self.tags.len()
        }
    }

    fn into_batch(self, soft: bool) -> Batch {
        if self.everything {
            return Batch {
                prefixes: vec![EVERYTHING.to_string()],
                soft,
                ..Batch::default()
            };
        }
        Batch {
            paths: self.paths.into_iter().collect(),
            prefixes: self.prefixes.into_iter().collect(),
            tags: self.tags.into_iter().collect(),
            soft,
        }
    }
}

/// What is kept for one peer.
#[derive(Debug, Default)]
struct Queued {
    hard: Items,
    soft: Items,
}

impl Queued {
    fn add(&mut self, batch: &Batch, max: usize) {
        let items = if batch.soft {
            &mut self.soft
        } else {
            &mut self.hard
        };
        items.add(batch, max);
    }

    fn len(&self) -> usize {
        self.hard.len() + self.soft.len()
    }

    /// The hard purge first, then the soft one, those that name anything.
    fn into_batches(self) -> Vec<Batch> {
        [self.hard.into_batch(false), self.soft.into_batch(true)]
            .into_iter()
            .filter(|b| !b.is_empty())
            .collect()
    }
}

/// The purges each peer has yet to get.
#[derive(Debug)]
pub struct Pending {
    max: usize,
    queues: Mutex<HashMap<Peer, Queued>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self::new(MAX_ITEMS)
    }
}

impl Pending {
    /// Queues of at most `max` items each.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `batch` for `peer` (repeats are kept once).
    pub fn add(&self, peer: &Peer, batch: &Batch) {
        if batch.is_empty() {
            return;
        }
        self.lock()
            .entry(peer.clone())
            .or_default()
            .add(batch, self.max);
    }

    /// Takes everything kept for `peer`: the hard purge, then the soft
    /// one (those that name anything).
    pub fn take(&self, peer: &Peer) -> Vec<Batch> {
        self.lock()
            .remove(peer)
            .map(Queued::into_batches)
            .unwrap_or_default()
    }

    /// Whether anything is kept for `peer`.
    pub fn has(&self, peer: &Peer) -> bool {
        self.lock().contains_key(peer)
    }

    /// How many items are kept for all peers (a purge of everything is one
    /// of its kind).
    pub fn items(&self) -> usize {
        self.lock().values().map(Queued::len).sum()
    }

    /// Forgets the peers not in `keep` (they left the cluster).
    pub fn retain(&self, keep: &Ring) {
        self.lock().retain(|p, _| keep.contains(p));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Peer, Queued>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> Peer {
        format!("http://10.0.0.{n}:8080").parse().unwrap()
    }

    fn paths(p: &[&str]) -> Batch {
        Batch::of_paths(p.iter().map(|s| s.to_string()).collect(), false)
    }

    #[test]
    fn purges_are_kept_per_peer_once_each_and_taken_whole() {
        let q = Pending::new(10);
        let (a, b) = (peer(1), peer(2));
        assert!(q.take(&a).is_empty());
        q.add(&a, &paths(&["/b.css", "/a.css"]));
        q.add(
            &a,
            &Batch {
                paths: vec!["/a.css".into()],
                prefixes: vec!["/img/".into()],
                tags: vec!["r42".into()],
                ..Batch::default()
            },
        );
        let soft = Batch {
            tags: vec!["r43".into()],
            soft: true,
            ..Batch::default()
        };
        q.add(&a, &soft);
        q.add(&b, &paths(&["/c.css"]));
        q.add(&b, &Batch::default());
        assert!(q.has(&a) && q.has(&b));
        assert_eq!(q.items(), 6);
        assert_eq!(
            q.take(&a),
            [
                Batch {
                    paths: vec!["/a.css".into(), "/b.css".into()],
                    prefixes: vec!["/img/".into()],
                    tags: vec!["r42".into()],
                    soft: false,
                },
                soft
            ]
        );
        assert!(!q.has(&a) && q.take(&a).is_empty());
        assert_eq!(q.items(), 1);
    }

    #[test]
    fn past_the_bound_a_peer_gets_one_purge_of_everything() {
        let q = Pending::new(3);
        let a = peer(1);
        q.add(&a, &paths(&["/1", "/2", "/3"]));
        assert_eq!(q.items(), 3, "at the bound: kept as they are");
        q.add(&a, &paths(&["/4"]));
        assert_eq!(q.items(), 1);
        q.add(&a, &paths(&["/5", "/6", "/7", "/8"]));
        let everything = Batch {
            prefixes: vec![EVERYTHING.into()],
            ..Batch::default()
        };
        assert_eq!(q.take(&a), std::slice::from_ref(&everything));
        // A purge of `/` is everything already.
        q.add(
            &a,
            &Batch {
                paths: vec!["/x".into()],
                prefixes: vec!["/".into()],
                ..Batch::default()
            },
        );
        assert_eq!(q.take(&a), [everything]);
    }

    #[test]
    fn peers_that_left_are_forgotten() {
        let q = Pending::default();
        q.add(&peer(1), &paths(&["/a"]));
        q.add(&peer(2), &paths(&["/a"]));
        q.retain(&Ring::new([peer(2), peer(3)]));
        assert!(!q.has(&peer(1)) && q.has(&peer(2)));
    }
}
