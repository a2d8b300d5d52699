//! Several nodes as one cache: who the peers are (`peers`, from a
//! `source`), which of them owns a key (`ring`), and which are up
//! (`health`). [`Cluster`] ties them together and answers the one question
//! routing asks on a miss: whom to ask, in order, before the origin.
//!
//! `auth` tells a peer's request from an outside one (token, hop field);
//! `probe` asks the peers whether they can serve; `fanout` sends purges to
//! every peer and keeps those a peer missed (`pending`) until it is back,
//! over `client`; `stats` counts it for `/metrics`. Not here: asking a
//! peer for a miss (`pull::route`). `config::cluster` reads the
//! `[cluster]` table into [`Settings`].

pub(crate) mod auth;
mod batch;
pub(crate) mod client;
pub(crate) mod fanout;
pub(crate) mod health;
pub(crate) mod peer;
pub(crate) mod peers;
pub(crate) mod pending;
mod probe;
pub(crate) mod ring;
pub(crate) mod source;
pub(crate) mod stats;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
pub use fanout::{NodeResult, PurgeFailed};
pub use health::Health;
pub use peer::Peer;
pub use peers::Peers;
pub use pending::Batch;
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
    /// The node's clock: `now` for health.
    clock: Arc<Clock>,
    /// Probes and purges to peers.
    client: client::PeerClient,
    /// Purges kept for peers that missed them.
    pending: Arc<pending::Pending>,
    /// Traffic with the peers, for `/metrics`.
    stats: stats::Stats,
    probe_every: Option<Duration>,
    /// Which peers answered since the start, for the probes' warnings.
    startup: probe::Startup,
    /// The background tasks (peer source watcher, probes), for [`Cluster::stop`].
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Cluster {
    /// The cluster of `settings`, reading time from `clock`, with only
    /// what a static list gives until [`Cluster::start`] reads a file or a
    /// DNS name. Fails only if its HTTP client cannot be built.
    pub fn new(settings: &Settings, clock: Arc<Clock>) -> Result<Self, reqwest::Error> {
        let startup = probe::Startup::new(clock.now(), settings.down_for);
        Ok(Self {
            peers: Arc::new(Peers::new(
                settings.advertise.clone(),
                settings.source.clone(),
            )),
            health: Arc::new(Health::new(settings.down_for)),
            token: settings.token.clone(),
            clock,
            client: client::PeerClient::new(&settings.advertise, &settings.token)?,
            pending: Arc::default(),
            stats: stats::Stats::default(),
            probe_every: settings.probe_every,
            startup,
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Reads the source once (a failure is logged and leaves this node
    /// alone until a later read works), spawns the task that keeps the set
    /// current and, with `probe_ms`, the one that probes the peers. Call
    /// within a tokio runtime; [`Cluster::stop`] ends both.
    pub async fn start(self: &Arc<Self>) {
        if let Err(e) = self.peers.reload().await {
            let e = crate::error_chain::chain(&e);
            tracing::warn!("{e}; serving alone until it can be read");
        }
        let (health, pending) = (self.health.clone(), self.pending.clone());
        let watcher = tokio::spawn(self.peers.clone().watch(move |ring| {
            health.retain(ring);
            pending.retain(ring);
        }));
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(watcher.abort_handle());
        if let Some(every) = self.probe_every {
            let probes = tokio::spawn(self.clone().probe_every(every));
            tasks.push(probes.abort_handle());
        }
    }

    /// Ends the background tasks (at shutdown).
    pub fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
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
                self.pending.retain(&self.peers.ring());
                tracing::info!("cluster peers: {}", self.describe());
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(
                "{}; keeping the {} peers in force",
                crate::error_chain::chain(&e),
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

    /// The traffic counters, for `/metrics`.
    pub fn stats(&self) -> &stats::Stats {
        &self.stats
    }

    /// Every other peer, in URL order, and whether it is up now.
    pub fn peer_states(&self) -> Vec<(Peer, bool)> {
        let now = self.clock.now();
        self.peers
            .ring()
            .peers()
            .filter(|p| !self.peers.is_me(p))
            .map(|p| (p.clone(), self.health.is_up(p, now)))
            .collect()
    }

    /// How many purge items are kept for peers that missed them.
    pub fn pending_purges(&self) -> usize {
        self.pending.items()
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

    fn cluster(s: &Settings) -> Arc<Cluster> {
        Arc::new(Cluster::new(s, Arc::new(Clock::new())).unwrap())
    }

    const NODES: [&str; 3] = [
        "http://10.0.0.1:8080",
        "http://10.0.0.2:8080",
        "http://10.0.0.3:8080",
    ];

    #[test]
    fn the_owner_asks_no_one_and_the_others_ask_it_first() {
        let nodes: Vec<Arc<Cluster>> = NODES
            .iter()
            .map(|me| cluster(&settings(me, &NODES)))
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
        let node = cluster(&settings(NODES[0], &NODES));
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
        let node = cluster(&s);
        node.start().await;
        node.stop();
        assert_eq!(node.peers().ring().len(), 1);
        let path = dir.path().join("peers");
        std::fs::write(&path, NODES.join("\n")).unwrap();
        s.source = PeerSource::File {
            path,
            every: Duration::from_secs(60),
        };
        let node = cluster(&s);
        node.start().await;
        node.stop();
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
        let node = cluster(&s);
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
