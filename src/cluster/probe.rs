//! Active health: every `cluster.probe_ms`, one background task asks every
//! other peer for its readiness (`GET /_edge/ready` with the token, within
//! `client::PROBE_TIMEOUT`; all peers at once, the next round once this one
//! is over). A 200 marks the peer up at once, even before `down_secs`
//! ended, and sends it the purges kept for it; anything else (no answer,
//! a refused token, 503 while it drains) marks it down as a failed miss
//! does. A peer that fails its probe is logged as a warning; while the
//! cluster starts (nodes started together come up one after the other),
//! a peer that has never answered is not, until one `down_secs` has
//! passed ([`Startup`]). Not here: the table of who is down (`health`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;

use super::client::CallError;
use super::{Cluster, Peer};

impl Cluster {
    /// Probes the peers every `every`, for as long as the task runs.
    pub(super) async fn probe_every(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.probe_all().await;
        }
    }

    /// Probes every other peer once, all at once.
    pub async fn probe_all(self: &Arc<Self>) {
        let ring = self.peers.ring();
        let calls = ring
            .peers()
            .filter(|p| !self.peers.is_me(p))
            .map(|peer| async move {
                let result = self.client.ready(peer).await;
                self.probed(peer, result);
            });
        join_all(calls).await;
    }

    /// Takes a probe's result for `peer`: up (and kept purges sent), or
    /// down for `down_secs` from the clock's now.
    fn probed(self: &Arc<Self>, peer: &Peer, result: Result<(), CallError>) {
        match result {
            Ok(()) => {
                self.startup.answered(peer);
                self.answered(peer)
            }
            Err(e) => {
                let now = self.clock.now();
                let was_up = self.health.is_up(peer, now);
                self.health.mark_down(peer, now);
                match self.startup.failed(peer, now) {
                    Failure::Starting => {
                        tracing::debug!(peer = %peer, "cluster peer not answering yet ({e})")
                    }
                    Failure::NeverAnswered => tracing::warn!(
                        peer = %peer,
                        "cluster peer has not answered since this node started ({e}); down"
                    ),
                    Failure::Failed if was_up => {
                        tracing::warn!(peer = %peer, "cluster peer failed its probe ({e}); down")
                    }
                    Failure::Failed => {}
                }
            }
        }
    }
}

/// The start of the cluster as the probes see it: which peers have
/// answered once, and until when a peer that never did is taken to be
/// starting too.
#[derive(Debug)]
pub(super) struct Startup {
    grace_until: SystemTime,
    /// Peers that answered a probe once, or were reported as never having
    /// answered: from then on their failures are ordinary.
    settled: Mutex<HashSet<Peer>>,
}

/// What a failed probe means, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// A peer that never answered, within the grace: it may be starting.
    Starting,
    /// A peer that never answered, past the grace: reported once.
    NeverAnswered,
    /// A peer that answered before.
    Failed,
}

impl Startup {
    /// A start at `now`, with a grace of `grace`.
    pub(super) fn new(now: SystemTime, grace: Duration) -> Self {
        Self {
            grace_until: now.checked_add(grace).unwrap_or(now),
            settled: Mutex::default(),
        }
    }

    fn answered(&self, peer: &Peer) {
        self.lock().insert(peer.clone());
    }

    fn failed(&self, peer: &Peer, now: SystemTime) -> Failure {
        let mut settled = self.lock();
        if settled.contains(peer) {
            Failure::Failed
        } else if now < self.grace_until {
            Failure::Starting
        } else {
            settled.insert(peer.clone());
            Failure::NeverAnswered
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<Peer>> {
        self.settled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::cluster::pending::Batch;
    use crate::cluster::{PeerSource, Settings};

    fn node(clock: Arc<Clock>) -> Arc<Cluster> {
        let me: Peer = "http://127.0.0.1:1".parse().unwrap();
        // Port 1 on loopback: nothing listens, every call is refused.
        let settings = Settings {
            advertise: me.clone(),
            token: "t".repeat(32),
            source: PeerSource::Static(vec![me, "http://127.0.0.1:2".parse().unwrap()]),
            down_for: Duration::from_secs(10),
            probe_every: None,
        };
        Arc::new(Cluster::new(&settings, clock).unwrap())
    }

    #[tokio::test]
    async fn a_good_probe_ends_down_secs_early_and_a_failed_one_starts_them() {
        let clock = Arc::new(Clock::new());
        let c = node(clock.clone());
        let other: Peer = "http://127.0.0.1:2".parse().unwrap();
        c.probed(&other, Err(CallError::Down("refused".into())));
        assert!(!c.health().is_up(&other, clock.now()));
        // Long before down_secs end, a good probe brings it back.
        clock.advance(1);
        c.probed(&other, Ok(()));
        assert!(c.health().is_up(&other, clock.now()));
        // A failed probe of a live peer marks it down until down_secs pass.
        c.probed(&other, Err(CallError::Down("refused".into())));
        clock.advance(9);
        assert!(!c.health().is_up(&other, clock.now()));
        clock.advance(1);
        assert!(c.health().is_up(&other, clock.now()));
    }

    #[test]
    fn peers_starting_together_are_not_reported_until_the_grace_ends() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Startup::new(t0, Duration::from_secs(10));
        let (a, b): (Peer, Peer) = ("http://a:1".parse().unwrap(), "http://b:1".parse().unwrap());
        assert_eq!(s.failed(&a, t0), Failure::Starting);
        assert_eq!(s.failed(&a, t0 + Duration::from_secs(9)), Failure::Starting);
        // A peer still silent after the grace is reported, once.
        assert_eq!(
            s.failed(&a, t0 + Duration::from_secs(10)),
            Failure::NeverAnswered
        );
        assert_eq!(s.failed(&a, t0 + Duration::from_secs(11)), Failure::Failed);
        // A peer that answered once fails as any peer does, grace or not.
        s.answered(&b);
        assert_eq!(s.failed(&b, t0), Failure::Failed);
    }

    #[tokio::test]
    async fn probing_a_peer_that_is_not_there_marks_it_down() {
        let clock = Arc::new(Clock::new());
        let c = node(clock.clone());
        let other: Peer = "http://127.0.0.1:2".parse().unwrap();
        c.probe_all().await;
        assert_eq!(c.health().down(clock.now()), vec![other.clone()]);
        // A purge for it is kept, not sent, while it is down.
        let batch = Batch::of_paths(vec!["/a.css".into()], false);
        let results = c.purge_peers(&batch).await;
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].purged, Err(crate::cluster::PurgeFailed::Down));
        assert!(c.pending.has(&other));
    }
}
