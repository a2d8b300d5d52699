//! Phase "upstream" in a cluster: a miss of a pulled object goes to the
//! key's owner before the origin. The owners to ask come from
//! `cluster::Cluster::upstreams` (the owner, then the next peers in
//! rendezvous order that are up, stopping at this node); each is asked the
//! same GET the origin would get, plus the cluster token and the hop field
//! (`cluster::auth`), through the origin client's connection pool. A peer
//! that cannot be reached, times out, breaks its answer or refuses the
//! token is marked down (passive health) and the next one is asked, then
//! the origin: one dead peer fails no request; a peer that answers is
//! marked up, and gets the purges kept for it (`Cluster::answered`). Each
//! ask is counted, with its latency (`cluster::stats`). A peer's answer,
//! 5xx and 304 included, is treated as the origin's would be. A request
//! that came from a peer is never routed again.

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderValue};

use super::{Job, Puller};
use crate::cluster::{auth, Cluster, Peer};
use crate::http::namespace;
use crate::origin::client::{FetchError, Got, OriginClient, Room};

/// The cluster, and how its peers are asked.
#[derive(Debug, Clone)]
pub struct Route {
    cluster: Arc<Cluster>,
    /// The origin client's pool, with peers' timeouts and no `Host`.
    client: OriginClient,
    token: HeaderValue,
    hop: HeaderValue,
}

/// Why the cluster's token or this node's address cannot be sent to peers.
#[derive(Debug, thiserror::Error)]
#[error("{key}: not a header value")]
pub struct RouteError {
    /// The config key (`cluster.token`, `cluster.advertise`).
    key: &'static str,
    /// What the header type says of it.
    source: InvalidHeaderValue,
}

/// Where an upstream answer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Answered {
    /// The origin (counted in the origin's figures).
    Origin,
    /// A peer of the cluster.
    Peer(Peer),
}

impl Route {
    /// Routing through `cluster`, asking peers with `client` (see
    /// `OriginClient::for_peers`).
    pub fn new(cluster: Arc<Cluster>, client: OriginClient) -> Result<Self, RouteError> {
        let value =
            |key, v: &str| HeaderValue::from_str(v).map_err(|source| RouteError { key, source });
        let token = value("cluster.token", cluster.token())?;
        let hop = value("cluster.advertise", cluster.peers().me().url())?;
        Ok(Self {
            cluster,
            client,
            token,
            hop,
        })
    }

    /// GETs `target` from `peer` with the forwarded `headers`, the token and
    /// the hop field. A 403 that says the token was refused is a failure.
    ///
    /// The node's own fields (`X-CDN-Edge-*`) are believed on this answer
    /// only, and only for what they say about the exchange itself: it came
    /// on this node's own connection to the peer's advertised URL, in
    /// answer to a request carrying the cluster token, and every node
    /// strips the namespace from whatever it relays (`end_to_end`), so a
    /// field in it was written by the peer, not by its origin. Then they
    /// are removed: clients never see them.
    async fn ask(
        &self,
        peer: &Peer,
        target: &str,
        headers: &HeaderMap,
        room: &mut dyn Room,
    ) -> Result<Got, FetchError> {
        let mut h = headers.clone();
        h.insert(auth::TOKEN, self.token.clone());
        h.insert(auth::HOP, self.hop.clone());
        let mut got = self.client.get_from(peer.url(), target, &h, room).await?;
        let headers = match &mut got {
            Got::Whole(f) => (f.status, &mut f.headers),
            Got::Streamed(s, _) => (s.status, &mut s.headers),
        };
        let refused = headers.0 == 403 && headers.1.contains_key(auth::REFUSED);
        strip_own(headers.1);
        if refused {
            return Err(FetchError::Unreachable(
                "it refused our cluster token (is cluster.token the same on every node?)".into(),
            ));
        }
        Ok(got)
    }
}

/// Removes the node's own fields from a peer's answer.
fn strip_own(headers: &mut HeaderMap) {
    let own: Vec<HeaderName> = (headers.keys())
        .filter(|n| namespace::is_own(n.as_str()))
        .cloned()
        .collect();
    for n in own {
        headers.remove(n);
    }
}

impl Puller {
    /// Phase "upstream": the job's GET with `headers`, sent to the key's
    /// owner and the peers after it while they fail, then to the origin;
    /// its body held as far as `room` allows (a peer's answer too: it
    /// comes through the same client).
    pub(super) async fn upstream_get(
        &self,
        job: &Job<'_>,
        headers: &HeaderMap,
        room: &mut dyn Room,
    ) -> (Result<Got, FetchError>, Answered) {
        if let (Some(route), false) = (&self.route, job.ask.from_peer) {
            let cluster = &route.cluster;
            let owners = cluster.upstreams(job.primary.as_bytes(), self.clock.now());
            for peer in owners {
                let started = std::time::Instant::now();
                let asked = route.ask(&peer, job.target, headers, room).await;
                let failed = matches!(&asked, Err(e) if !matches!(e, FetchError::TooLarge(_)));
                cluster.stats().peer_request(started.elapsed(), failed);
                match asked {
                    Ok(f) => {
                        cluster.answered(&peer);
                        return (Ok(f), Answered::Peer(peer));
                    }
                    // Alive, but the object is too large to store: it is
                    // streamed from the origin.
                    Err(e @ FetchError::TooLarge(_)) => return (Err(e), Answered::Peer(peer)),
                    Err(e) => {
                        tracing::warn!(
                            peer = %peer,
                            path = job.target,
                            "cluster peer failed ({e}); down for cluster.down_secs, asking the next"
                        );
                        cluster.health().mark_down(&peer, self.clock.now());
                    }
                }
            }
        }
        (
            self.client.get(job.target, headers, room).await,
            Answered::Origin,
        )
    }
}
