//! Purges a peer missed: when a purge fans out and a peer is down (or its
//! purge fails), the node that fanned out keeps what the peer should have
//! dropped, per peer, and sends it when the peer is seen up again (a probe
//! or a request it answers). The queue is bounded: past [`MAX_ITEMS`]
//! paths and prefixes for one peer, it collapses into one purge of
//! everything (prefix `/`), which is always safe. It lives in memory only:
//! what a node kept for its peers is lost when that node restarts. Not
//! here: sending (`fanout`), deciding that a peer is up (`probe`, `health`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::peer::Peer;
use super::ring::Ring;

/// The most paths and prefixes kept for one peer; beyond, the peer's
/// whole cache is purged when it comes back.
pub const MAX_ITEMS: usize = 1024;

/// The prefix that purges everything.
pub const EVERYTHING: &str = "/";

/// What one purge drops: request paths (with every query and `Vary`
/// variant) and path prefixes; the body of `POST /_purge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Request paths to drop (`/app.css`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Path prefixes to drop (`/img/`).
    #[serde(default)]
    pub prefixes: Vec<String>,
}

impl Batch {
    /// How many paths and prefixes it names.
    pub fn len(&self) -> usize {
        self.paths.len() + self.prefixes.len()
    }

    /// Whether it names nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What is kept for one peer.
#[derive(Debug, Default)]
struct Queued {
    paths: BTreeSet<String>,
    prefixes: BTreeSet<String>,
    /// Overflowed (or asked for): purge everything.
    everything: bool,
}

impl Queued {
    fn add(&mut self, batch: &Batch, max: usize) {
        if self.everything {
            return;
        }
        self.paths.extend(batch.paths.iter().cloned());
        self.prefixes.extend(batch.prefixes.iter().cloned());
        if self.prefixes.contains(EVERYTHING) || self.paths.len() + self.prefixes.len() > max {
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
            self.paths.len() + self.prefixes.len()
        }
    }

    fn into_batch(self) -> Batch {
        if self.everything {
            return Batch {
                paths: Vec::new(),
                prefixes: vec![EVERYTHING.to_string()],
            };
        }
        Batch {
            paths: self.paths.into_iter().collect(),
            prefixes: self.prefixes.into_iter().collect(),
        }
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

    /// Takes everything kept for `peer`, if anything.
    pub fn take(&self, peer: &Peer) -> Option<Batch> {
        self.lock().remove(peer).map(Queued::into_batch)
    }

    /// Whether anything is kept for `peer`.
    pub fn has(&self, peer: &Peer) -> bool {
        self.lock().contains_key(peer)
    }

    /// How many items are kept for all peers (a purge of everything is one).
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
        Batch {
            paths: p.iter().map(|s| s.to_string()).collect(),
            prefixes: Vec::new(),
        }
    }

    #[test]
    fn purges_are_kept_per_peer_once_each_and_taken_whole() {
        let q = Pending::new(10);
        let (a, b) = (peer(1), peer(2));
        assert!(q.take(&a).is_none());
        q.add(&a, &paths(&["/b.css", "/a.css"]));
        q.add(
            &a,
            &Batch {
                paths: vec!["/a.css".into()],
                prefixes: vec!["/img/".into()],
            },
        );
        q.add(&b, &paths(&["/c.css"]));
        q.add(&b, &Batch::default());
        assert!(q.has(&a) && q.has(&b));
        assert_eq!(q.items(), 4);
        assert_eq!(
            q.take(&a),
            Some(Batch {
                paths: vec!["/a.css".into(), "/b.css".into()],
                prefixes: vec!["/img/".into()],
            })
        );
        assert!(!q.has(&a) && q.take(&a).is_none());
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
            paths: Vec::new(),
            prefixes: vec![EVERYTHING.into()],
        };
        assert_eq!(q.take(&a), Some(everything.clone()));
        // A purge of `/` is everything already.
        q.add(
            &a,
            &Batch {
                paths: vec!["/x".into()],
                prefixes: vec!["/".into()],
            },
        );
        assert_eq!(q.take(&a), Some(everything));
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
