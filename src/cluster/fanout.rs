//! Purge everywhere: a purge a client sent to this node is sent on to
//! every other peer of the live set, all at once, each within
//! `client::PURGE_TIMEOUT`. A peer marked down is not called: the purge is
//! kept for it (`pending`); a peer whose purge fails is marked down and
//! the purge kept too. What is kept for a peer goes with the next purge
//! sent to it, or as soon as it is seen up again (a probe, or a miss it
//! answers: [`Cluster::answered`]). A peer that answers a purge with a
//! 4xx (a version that does not know it) stays up and is not sent it
//! again: that could never work. Peers never send a purge on: the
//! receiving node purges only itself. Not here: purging this node, and the
//! JSON answer (`server::purge`).

use std::sync::Arc;

use futures_util::future::join_all;

use super::client::CallError;
use super::pending::Batch;
use super::stats::Stats;
use super::{Cluster, Peer};

/// One peer's part in a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResult {
    /// The peer.
    pub node: Peer,
    /// How many objects it dropped, or why it did not.
    pub purged: Result<usize, PurgeFailed>,
}

/// Why a peer did not purge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurgeFailed {
    /// It is marked down and was not called: the purge is kept for it.
    #[error("down: kept until it is back")]
    Down,
    /// It refused the purge (a 4xx): it is not sent again.
    #[error("refused: {0}")]
    Refused(String),
    /// The call failed: the peer is marked down and the purge kept for it.
    #[error("{0}; kept until it is back")]
    Failed(String),
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
                    Err(PurgeFailed::Down)
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

    /// Sends `batch` and what was kept for `peer` (kept purges of the same
    /// kind, hard or soft, go with it in one call; the other kind in a call
    /// of its own); on failure, marks the peer down and keeps for it what
    /// it did not get. A refused call is not kept, and the others still go.
    async fn send_purge(&self, peer: &Peer, batch: Batch) -> Result<usize, PurgeFailed> {
        let mut calls = self.pending.take(peer);
        match calls.iter_mut().find(|b| b.soft == batch.soft) {
            Some(kept) => kept.extend(batch),
            None => calls.push(batch),
        }
        calls.retain(|b| !b.is_empty());
        let (mut purged, mut refused) = (0, None);
        for (i, call) in calls.iter().enumerate() {
            match self.client.purge(peer, call).await {
                Ok(n) => {
                    Stats::bump(&self.stats.purges_sent);
                    self.health.mark_up(peer);
                    purged += n;
                }
                Err(CallError::Refused(e)) => {
                    Stats::bump(&self.stats.purges_failed);
                    tracing::warn!(peer = %peer, "cluster peer refused a purge ({e}); not sent again");
                    refused.get_or_insert(PurgeFailed::Refused(e));
                }
                Err(CallError::Down(e)) => {
                    Stats::bump(&self.stats.purges_failed);
                    tracing::warn!(
                        peer = %peer,
                        "cluster peer failed a purge ({e}); kept until it is back, down for cluster.down_secs"
                    );
                    self.health.mark_down(peer, self.clock.now());
                    for left in &calls[i..] {
                        self.keep(peer, left);
                    }
                    return Err(PurgeFailed::Failed(e));
                }
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(purged),
        }
    }

    /// Keeps `batch` for `peer` until it is back.
    fn keep(&self, peer: &Peer, batch: &Batch) {
        Stats::bump(&self.stats.purges_queued);
        self.pending.add(peer, batch);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::clock::Clock;
    use crate::cluster::{PeerSource, Settings};

    /// A peer on loopback that answers every request with `status`.
    async fn answering(status: &'static str) -> Peer {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let body = "{\"purged\": 2}";
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                });
            }
        });
        Peer::from_addr(addr)
    }

    fn node(others: Vec<Peer>) -> Arc<Cluster> {
        let me: Peer = "http://127.0.0.1:1".parse().unwrap();
        let settings = Settings {
            advertise: me.clone(),
            token: "t".repeat(32),
            source: PeerSource::Static(others),
            down_for: Duration::from_secs(10),
            probe_every: None,
        };
        Arc::new(Cluster::new(&settings, Arc::new(Clock::new())).unwrap())
    }

    fn batch(path: &str) -> Batch {
        Batch::of_paths(vec![path.into()], false)
    }

    #[tokio::test]
    async fn kept_purges_go_with_the_next_and_a_4xx_is_not_kept() {
        let (ok, refusing, failing) = (
            answering("200 OK").await,
            answering("404 Not Found").await,
            answering("500 Internal Server Error").await,
        );
        let c = node(vec![ok.clone(), refusing.clone(), failing.clone()]);
        c.pending.add(&ok, &batch("/kept.css"));
        let results = c.purge_peers(&batch("/a.css")).await;
        let of = |p: &Peer| {
            results
                .iter()
                .find(|r| r.node == *p)
                .unwrap()
                .purged
                .clone()
        };
        assert_eq!(of(&ok), Ok(2));
        assert!(!c.pending.has(&ok), "what was kept went along");
        let e = of(&refusing).unwrap_err();
        assert!(matches!(e, PurgeFailed::Refused(_)), "{e}");
        let e = e.to_string();
        assert!(e.starts_with("refused: answered 404"), "{e}");
        assert!(!c.pending.has(&refusing), "it could never work");
        assert!(c.health().is_up(&refusing, c.clock.now()));
        let e = of(&failing).unwrap_err();
        assert!(matches!(e, PurgeFailed::Failed(_)), "{e}");
        let e = e.to_string();
        assert!(
            e.contains("answered 500") && e.ends_with("kept until it is back"),
            "{e}"
        );
        assert!(c.pending.has(&failing));
        assert!(!c.health().is_up(&failing, c.clock.now()));
        assert_eq!(Stats::get(&c.stats.purges_sent), 1);
        assert_eq!(Stats::get(&c.stats.purges_failed), 2);
        assert_eq!(Stats::get(&c.stats.purges_queued), 1);
    }
}
