//! Purge everywhere: a purge a client sent to this node is sent on to
//! every other peer of the live set, all at once, each within
//! `client::PURGE_TIMEOUT`. A peer marked down is not called: the purge is
//! kept for it (`pending`); a peer whose purge fails is marked down and
//! the purge kept too. What is kept for a peer goes with the next purge
//! sent to it, or as soon as it is seen up again (a probe, or a miss it
//! answers: [`Cluster::answered`]). Peers never send a purge on: the
//! receiving node purges only itself. Not here: purging this node, and the
//! JSON answer (`server::purge`).

use std::sync::Arc;

use futures_util::future::join_all;

use super::pending::Batch;
use super::stats::Stats;
use super::{Cluster, Peer};

/// One peer's part in a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResult {
    /// The peer.
    pub node: Peer,
    /// How many objects it dropped, or why it did not (then the purge is
    /// kept for it).
    pub purged: Result<usize, String>,
}

impl Cluster {
    /// Sends `batch` to every peer but this node, in parallel; each one's
    /// result, in URL order.
    pub async fn purge_peers(&self, batch: &Batch) -> Vec<NodeResult> {
        let now = self.clock.now();
        let ring = self.peers.ring();
        let calls = ring
            .peers()
            .filter(|p| !self.peers.is_me(p))
            .map(|peer| async move {
                let purged = if self.health.is_up(peer, now) {
                    self.send_purge(peer, batch.clone()).await
                } else {
                    self.keep(peer, batch);
                    Err("down: kept until it is back".to_string())
                };
                NodeResult {
                    node: peer.clone(),
                    purged,
                }
            });
        join_all(calls).await
    }

    /// Records that `peer` answered (a probe, or a miss): up from now on,
    /// and what was kept for it is sent in the background.
    pub fn answered(self: &Arc<Self>, peer: &Peer) {
        if self.health.mark_up(peer) {
            tracing::info!(peer = %peer, "cluster peer is up again");
        }
        if self.pending.has(peer) {
            let cluster = self.clone();
            let peer = peer.clone();
            tokio::spawn(async move {
                // A failure is logged, counted and kept again by send_purge.
                if let Ok(n) = cluster.send_purge(&peer, Batch::default()).await {
                    tracing::info!(peer = %peer, purged = n, "kept purges delivered");
                }
            });
        }
    }

    /// Sends `batch` and what was kept for `peer`; on failure, marks the
    /// peer down and keeps it all for it.
    async fn send_purge(&self, peer: &Peer, mut batch: Batch) -> Result<usize, String> {
        if let Some(kept) = self.pending.take(peer) {
            batch.paths.extend(kept.paths);
            batch.prefixes.extend(kept.prefixes);
        }
        if batch.is_empty() {
            return Ok(0);
        }
        match self.client.purge(peer, &batch).await {
            Ok(n) => {
                Stats::bump(&self.stats.purges_sent);
                self.health.mark_up(peer);
                Ok(n)
            }
            Err(e) => {
                Stats::bump(&self.stats.purges_failed);
                tracing::warn!(
                    peer = %peer,
                    "cluster peer failed a purge ({e}); kept until it is back, down for cluster.down_secs"
                );
                self.health.mark_down(peer, self.clock.now());
                self.keep(peer, &batch);
                Err(format!("{e}; kept until it is back"))
            }
        }
    }

    /// Keeps `batch` for `peer` until it is back.
    fn keep(&self, peer: &Peer, batch: &Batch) {
        Stats::bump(&self.stats.purges_queued);
        self.pending.add(peer, batch);
    }
}
