//! The live peer set: read from its source (a static list, a file, DNS),
//! always with this node in it, and read again while serving — a file
//! when it changes (and on `reload`, for SIGHUP), a DNS name every
//! `cluster.dns_refresh_secs`. Readers get the current [`Ring`] through an
//! atomic pointer, never a lock. A source that fails (an unreadable file,
//! a bad line, a name that does not resolve) leaves the last good set in
//! force. Not here: which peers are up (`health`).

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::peer::Peer;
use super::ring::Ring;
use super::source::{parse_list, BadLine, PeerSource};
use crate::error_chain::chain;

/// Why the peers' source could not be read again (the set in force stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The peers file cannot be read.
    #[error("cluster.peers_file {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why not.
        source: std::io::Error,
    },
    /// A line of the peers file is not a peer.
    #[error("cluster.peers_file {}", path.display())]
    Parse {
        /// The file.
        path: std::path::PathBuf,
        /// Which line, and why.
        source: BadLine,
    },
    /// The peers' DNS name does not resolve.
    #[error("cluster.peers_dns {name}")]
    Resolve {
        /// `name:port`.
        name: String,
        /// The resolver's error.
        source: std::io::Error,
    },
    /// The peers' DNS name resolves to nothing.
    #[error("cluster.peers_dns {0}: no address")]
    NoAddress(String),
}

/// This node, its source of peers and the ring they make now.
#[derive(Debug)]
pub struct Peers {
    me: Peer,
    source: PeerSource,
    ring: ArcSwap<Ring>,
    /// One reload at a time, so an older answer never replaces a newer one.
    reloading: tokio::sync::Mutex<()>,
}

impl Peers {
    /// The set of `me` and, for a static source, its list; a file or a DNS
    /// name is first read by [`Peers::reload`].
    pub fn new(me: Peer, source: PeerSource) -> Self {
        let listed = match &source {
            PeerSource::Static(list) => list.clone(),
            _ => Vec::new(),
        };
        let ring = Ring::new(listed.into_iter().chain([me.clone()]));
        Self {
            me,
            source,
            ring: ArcSwap::from_pointee(ring),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// This node, as its peers name it (`cluster.advertise`).
    pub fn me(&self) -> &Peer {
        &self.me
    }

    /// Whether `peer` is this node.
    pub fn is_me(&self, peer: &Peer) -> bool {
        *peer == self.me
    }

    /// The ring of the peers in force now.
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// Reads the source again; `Ok(true)` when the set changed. On an
    /// error the set in force stays, and the error says what failed.
    pub async fn reload(&self) -> Result<bool, ReloadError> {
        let _one = self.reloading.lock().await;
        let listed = match &self.source {
            PeerSource::Static(_) => return Ok(false),
            PeerSource::File { path, .. } => {
                let text =
                    tokio::fs::read_to_string(path)
                        .await
                        .map_err(|source| ReloadError::Read {
                            path: path.clone(),
                            source,
                        })?;
                parse_list(&text).map_err(|source| ReloadError::Parse {
                    path: path.clone(),
                    source,
                })?
            }
            PeerSource::Dns { name, .. } => {
                let name = name.to_string();
                let addrs = tokio::net::lookup_host(&name).await.map_err(|source| {
                    ReloadError::Resolve {
                        name: name.clone(),
                        source,
                    }
                })?;
                let peers: Vec<Peer> = addrs.map(Peer::from_addr).collect();
                if peers.is_empty() {
                    return Err(ReloadError::NoAddress(name));
                }
                peers
            }
        };
        let ring = Ring::new(listed.into_iter().chain([self.me.clone()]));
        if *self.ring.load_full() == ring {
            return Ok(false);
        }
        self.ring.store(Arc::new(ring));
        Ok(true)
    }

    /// Reloads every time the source may have changed (a file each
    /// second, DNS every `dns_refresh_secs`), calling `on_change` with each
    /// new ring; logs a failure once until the source works again. Returns
    /// at once for a static list; otherwise runs until dropped.
    pub async fn watch(self: Arc<Self>, on_change: impl Fn(&Ring) + Send + 'static) {
        let Some(every) = self.source.every() else {
            return;
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        let mut failing: Option<String> = None;
        loop {
            ticks.tick().await;
            match self.reload().await {
                Ok(changed) => {
                    if failing.take().is_some() {
                        tracing::info!("cluster peers can be read again");
                    }
                    if changed {
                        let ring = self.ring();
                        let list: Vec<&str> = ring.peers().map(Peer::url).collect();
                        tracing::info!("cluster peers: {}", list.join(" "));
                        on_change(&ring);
                    }
                }
                Err(e) => {
                    let e = chain(&e);
                    if failing.as_ref() != Some(&e) {
                        tracing::warn!("{e}; keeping the {} peers in force", self.ring().len());
                        failing = Some(e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    fn peer(s: &str) -> Peer {
        s.parse().unwrap()
    }

    fn urls(p: &Peers) -> Vec<String> {
        p.ring().peers().map(|p| p.to_string()).collect()
    }

    const ME: &str = "http://10.0.0.1:8080";

    #[tokio::test]
    async fn a_static_list_always_holds_this_node() {
        let p = Peers::new(
            peer(ME),
            PeerSource::Static(vec![peer("http://10.0.0.2:8080")]),
        );
        assert_eq!(urls(&p), [ME, "http://10.0.0.2:8080"]);
        assert!(p.is_me(&peer("HTTP://10.0.0.1:8080/")));
        assert!(matches!(p.reload().await, Ok(false)));
        Arc::new(p)
            .watch(|_| panic!("a static list never changes"))
            .await;
    }

    #[tokio::test]
    async fn a_file_is_read_again_and_a_bad_one_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers");
        let source = PeerSource::File {
            path: path.clone(),
            every: Duration::from_secs(1),
        };
        let p = Peers::new(peer(ME), source);
        assert_eq!(urls(&p), [ME], "alone until the file is read");
        std::fs::write(&path, "http://10.0.0.2:8080\n").unwrap();
        assert!(matches!(p.reload().await, Ok(true)));
        assert_eq!(urls(&p), [ME, "http://10.0.0.2:8080"]);
        assert!(matches!(p.reload().await, Ok(false)));
        std::fs::write(&path, "# moved\nhttp://10.0.0.3:8080\n").unwrap();
        assert!(matches!(p.reload().await, Ok(true)));
        assert_eq!(urls(&p), [ME, "http://10.0.0.3:8080"]);
        std::fs::write(&path, "http://10.0.0.4:8080\nnot a url\n").unwrap();
        let e = chain(&p.reload().await.unwrap_err());
        assert!(
            e.contains("cluster.peers_file") && e.contains("line 2"),
            "{e}"
        );
        std::fs::remove_file(&path).unwrap();
        let e = p.reload().await.unwrap_err();
        assert!(matches!(e, ReloadError::Read { .. }), "{e}");
        assert!(chain(&e).contains("No such file"), "{e}");
        assert_eq!(urls(&p), [ME, "http://10.0.0.3:8080"]);
    }

    #[tokio::test]
    async fn the_watcher_sees_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers");
        std::fs::write(&path, "http://10.0.0.2:8080\n").unwrap();
        let source = PeerSource::File {
            path: path.clone(),
            every: Duration::from_millis(10),
        };
        let p = Arc::new(Peers::new(peer(ME), source));
        p.reload().await.unwrap();
        let changes = Arc::new(AtomicUsize::new(0));
        let seen = changes.clone();
        let watcher = tokio::spawn(p.clone().watch(move |ring| {
            assert!(ring.contains(&peer("http://10.0.0.5:8080")));
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        std::fs::write(&path, "http://10.0.0.5:8080\nhttp://10.0.0.2:8080\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while changes.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < deadline,
                "the watcher never saw the change"
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        watcher.abort();
        assert_eq!(
            urls(&p),
            [ME, "http://10.0.0.2:8080", "http://10.0.0.5:8080"]
        );
    }

    #[tokio::test]
    async fn every_address_of_a_name_is_a_peer() {
        let me = peer("http://10.9.9.9:18080");
        let source = PeerSource::Dns {
            name: "localhost:18080".parse().unwrap(),
            every: Duration::from_secs(5),
        };
        let p = Peers::new(me.clone(), source);
        assert!(matches!(p.reload().await, Ok(true)));
        let ring = p.ring();
        assert!(ring.contains(&me));
        assert!(ring.contains(&peer("http://127.0.0.1:18080")), "{ring:?}");
        for other in ring.peers().filter(|x| **x != me) {
            // and `[::1]` where localhost has an IPv6 address too
            assert!(other.url().ends_with(":18080"), "{other}");
        }
        assert!(
            matches!(p.reload().await, Ok(false)),
            "the same answer again"
        );
    }
}
