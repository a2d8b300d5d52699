//! Which peers are down: a peer that failed (a connect error, a timeout) is
//! marked down for `cluster.down_secs` and skipped until then, or until it
//! answers again. Time is always passed in (`now`, from the node's clock),
//! so tests move it instead of waiting. Not here: deciding that a call
//! failed, or probing (the caller's), and the ring itself (`ring`).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use super::peer::Peer;

/// Peers marked down, and until when.
#[derive(Debug)]
pub struct Health {
    down_for: Duration,
    down_until: RwLock<HashMap<Peer, SystemTime>>,
}

impl Health {
    /// A table where a failed peer stays down for `down_for`.
    pub fn new(down_for: Duration) -> Self {
        Self {
            down_for,
            down_until: RwLock::new(HashMap::new()),
        }
    }

    /// Records a failure of `peer` at `now`: down until `now + down_for`
    /// (a later failure extends it, an earlier one never shortens it).
    pub fn mark_down(&self, peer: &Peer, now: SystemTime) {
        let until = now.checked_add(self.down_for).unwrap_or(now);
        let mut map = self.down_until.write().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(peer.clone()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Records that `peer` answered: up from now on. Whether it had been
    /// marked down (its down time may have ended already).
    pub fn mark_up(&self, peer: &Peer) -> bool {
        let known = self.read().contains_key(peer);
        if known {
            let mut map = self.down_until.write().unwrap_or_else(|e| e.into_inner());
            return map.remove(peer).is_some();
        }
        false
    }

    /// Whether `peer` may be asked at `now`.
    pub fn is_up(&self, peer: &Peer, now: SystemTime) -> bool {
        self.read().get(peer).is_none_or(|until| now >= *until)
    }

    /// The peers down at `now`, in URL order (for metrics and logs).
    pub fn down(&self, now: SystemTime) -> Vec<Peer> {
        let mut down: Vec<Peer> = self
            .read()
            .iter()
            .filter(|(_, until)| now < **until)
            .map(|(p, _)| p.clone())
            .collect();
        down.sort();
        down
    }

    /// Forgets every peer not in `keep` (peers that left the cluster).
    pub fn retain(&self, keep: &super::ring::Ring) {
        let mut map = self.down_until.write().unwrap_or_else(|e| e.into_inner());
        map.retain(|p, _| keep.contains(p));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Peer, SystemTime>> {
        self.down_until.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ring::Ring;

    fn peer(n: u8) -> Peer {
        format!("http://10.0.0.{n}:8080").parse().unwrap()
    }

    #[test]
    fn a_failed_peer_is_down_for_down_secs_then_up() {
        let h = Health::new(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let (a, b) = (peer(1), peer(2));
        assert!(h.is_up(&a, t0));
        h.mark_down(&a, t0);
        assert!(!h.is_up(&a, t0));
        assert!(!h.is_up(&a, t0 + Duration::from_secs(9)));
        assert!(h.is_up(&a, t0 + Duration::from_secs(10)));
        assert!(h.is_up(&b, t0), "only the failed peer is down");
        assert_eq!(h.down(t0), vec![a.clone()]);
        assert!(h.down(t0 + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn later_failures_extend_and_an_answer_ends_it() {
        let h = Health::new(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = peer(1);
        h.mark_down(&a, t0 + Duration::from_secs(5));
        h.mark_down(&a, t0); // an older failure reported late
        assert!(!h.is_up(&a, t0 + Duration::from_secs(14)));
        assert!(h.is_up(&a, t0 + Duration::from_secs(15)));
        assert!(h.mark_up(&a));
        assert!(h.is_up(&a, t0));
        assert!(!h.mark_up(&a));
        assert!(!h.mark_up(&peer(9))); // unknown peers are fine
    }

    #[test]
    fn peers_that_left_are_forgotten() {
        let h = Health::new(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH;
        h.mark_down(&peer(1), t0);
        h.mark_down(&peer(2), t0);
        h.retain(&Ring::new([peer(2), peer(3)]));
        assert_eq!(h.down(t0), vec![peer(2)]);
    }
}
