//! Several nodes as one cache: who the peers are (`peers`, from a
//! `source`), which of them owns a key (`ring`), and which are up
//! (`health`). [`Cluster`] ties them together and answers the one question
//! routing asks on a miss: whom to ask, in order, before the origin.
//!
//! `auth` tells a peer's request from an outside one (token, hop field).
//! Not here: asking a peer over HTTP (`edge::route`), purge fan-out,
//! probes and metrics (not built yet). `config::cluster` reads the
//! `[cluster]` table into [`Settings`].

pub mod auth;
pub mod health;
pub mod peer;
pub mod peers;
pub mod ring;
pub mod source;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use health::Health;
pub use peer::Peer;
pub use peers::Peers;
pub use ring::Ring;
pub use source::PeerSource;

/// The `[cluster]` table, checked and in the types the cluster uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// This node, as its peers reach it (`cluster.advertise`).
    pub advertise: Peer,
    /// The token that peer requests carry (`cluster.token` or the
    /// contents of `cluster.token_file`).
    pub token: String,
    /// Where the peer list comes from.
    pub source: PeerSource,
    /// How long a peer that failed is skipped (`cluster.down_secs`).
    pub down_for: Duration,
    /// How often peers are probed (`cluster.probe_ms`); `None` = never.
    pub probe_every: Option<Duration>,
}

/// A node's view of its cluster: the live peers and their health.
#[derive(Debug)]
pub struct Cluster {
    peers: Arc<Peers>,
    health: Arc<Health>,
    token: String,
}

impl Cluster {
    /// The cluster of `settings`, with only what a static list gives until
    /// [`Cluster::start`] reads a file or a DNS name.
    pub fn new(settings: &Settings) -> Self {
        Self {
            peers: Arc::new(Peers::new(
                settings.advertise.clone(),
                settings.source.clone(),
            )),
            health: Arc::new(Health::new(settings.down_for)),
            token: settings.token.clone(),
        }
    }

    /// Reads the source once (a failure is logged and leaves this node
    /// alone until a later read works) and spawns the task that keeps the
    /// set current. Call within a tokio runtime.
    pub async fn start(&self) -> tokio::task::JoinHandle<()> {
        if let Err(e) = self.peers.reload().await {
            tracing::warn!("{e}; serving alone until it can be read");
        }
        let health = self.health.clone();
        tokio::spawn(self.peers.clone().watch(move |ring| health.retain(ring)))
    }

    /// The token peer requests carry.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether a request with `headers` comes from a peer, an outside
    /// client, or a client posing as a peer (see [`auth`]).
    pub fn caller(&self, headers: &actix_web::http::header::HeaderMap) -> auth::Caller {
        auth::caller(headers, &self.token)
    }

    /// Reads the peers' source again now (SIGHUP); a failure is logged and
    /// leaves the set in force.
    pub async fn reread(&self) {
        match self.peers.reload().await {
            Ok(true) => {
                self.health.retain(&self.peers.ring());
                tracing::info!("cluster peers: {}", self.describe());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(
                "{e}; keeping the {} peers in force",
                self.peers.ring().len()
            ),
        }
    }

    /// The peers in force, for the log: `http://a:1 http://b:1 (me: http://a:1)`.
    pub fn describe(&self) -> String {
        let ring = self.peers.ring();
        let list: Vec<&str> = ring.peers().map(Peer::url).collect();
        format!("{} (this node: {})", list.join(" "), self.peers.me())
    }

    /// The live peer set.
    pub fn peers(&self) -> &Arc<Peers> {
        &self.peers
    }

    /// Which peers are down.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// The peers to ask for `key` at `now`, in order: the owner, then the
    /// next in rendezvous order, each skipped while down, stopping before
    /// this node. Empty when this node comes first: it asks the origin
    /// itself (as it does after every peer in the list failed).
    pub fn upstreams(&self, key: &[u8], now: SystemTime) -> Vec<Peer> {
        let ring = self.peers.ring();
        ring.ranked(key)
            .into_iter()
            .take_while(|p| !self.peers.is_me(p))
            .filter(|p| self.health.is_up(p, now))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(me: &str, others: &[&str]) -> Settings {
        Settings {
            advertise: me.parse().unwrap(),
            token: "t".repeat(32),
            source: PeerSource::Static(others.iter().map(|u| u.parse().unwrap()).collect()),
            down_for: Duration::from_secs(10),
            probe_every: None,
        }
    }

    const NODES: [&str; 3] = [
        "http://10.0.0.1:8080",
        "http://10.0.0.2:8080",
        "http://10.0.0.3:8080",
    ];

    #[test]
    fn the_owner_asks_no_one_and_the_others_ask_it_first() {
        let nodes: Vec<Cluster> = NODES
            .iter()
            .map(|me| Cluster::new(&settings(me, &NODES)))
            .collect();
        let now = SystemTime::UNIX_EPOCH;
        for i in 0..200 {
            let key = format!("/k/{i}");
            let owner = nodes[0]
                .peers()
                .ring()
                .owner(key.as_bytes())
                .unwrap()
                .clone();
            for node in &nodes {
                let up = node.upstreams(key.as_bytes(), now);
                if node.peers().is_me(&owner) {
                    assert!(up.is_empty(), "{key}: the owner asks the origin");
                } else {
                    assert_eq!(up.first(), Some(&owner), "{key}");
                    assert!(!up.iter().any(|p| node.peers().is_me(p)));
                }
            }
        }
    }

    #[test]
    fn a_down_owner_is_skipped_until_down_secs_pass() {
        let node = Cluster::new(&settings(NODES[0], &NODES));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let key = (0..)
            .map(|i| format!("/k/{i}"))
            .find(|k| node.upstreams(k.as_bytes(), t0).len() == 2)
            .unwrap();
        let ranked = node.upstreams(key.as_bytes(), t0);
        node.health().mark_down(&ranked[0], t0);
        assert_eq!(node.upstreams(key.as_bytes(), t0), vec![ranked[1].clone()]);
        node.health().mark_down(&ranked[1], t0);
        assert!(
            node.upstreams(key.as_bytes(), t0).is_empty(),
            "then the origin"
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(node.upstreams(key.as_bytes(), later), ranked);
    }

    #[tokio::test]
    async fn start_reads_a_file_and_a_missing_one_leaves_the_node_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(NODES[0], &[]);
        s.source = PeerSource::File {
            path: dir.path().join("absent"),
            every: Duration::from_secs(60),
        };
        let node = Cluster::new(&s);
        node.start().await.abort();
        assert_eq!(node.peers().ring().len(), 1);
        let path = dir.path().join("peers");
        std::fs::write(&path, NODES.join("\n")).unwrap();
        s.source = PeerSource::File {
            path,
            every: Duration::from_secs(60),
        };
        let node = Cluster::new(&s);
        node.start().await.abort();
        assert_eq!(node.peers().ring().len(), 3);
    }

    #[tokio::test]
    async fn reread_takes_a_changed_file_and_keeps_it_on_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers");
        std::fs::write(&path, NODES[1]).unwrap();
        let mut s = settings(NODES[0], &[]);
        s.source = PeerSource::File {
            path: path.clone(),
            every: Duration::from_secs(3600),
        };
        let node = Cluster::new(&s);
        node.reread().await;
        assert_eq!(node.peers().ring().len(), 2);
        std::fs::write(&path, NODES.join("\n")).unwrap();
        node.reread().await;
        assert_eq!(node.peers().ring().len(), 3);
        assert!(node
            .describe()
            .contains("(this node: http://10.0.0.1:8080)"));
        std::fs::write(&path, "not a url").unwrap();
        node.reread().await;
        assert_eq!(node.peers().ring().len(), 3);
    }
}
