//! The node's calls to its peers that are not misses: a probe of a peer's
//! readiness (`GET /_edge/ready`) and a purge (`POST /_edge/purge`), each
//! with the cluster token and the hop field, and a short time limit. These
//! two endpoints answer only peer requests (a client's request for them is
//! an ordinary request for a path). Misses go through the origin client's
//! pool instead (`pull::route`). Not here: what a probe or a purge result
//! means for the peer (`probe`, `fanout`).

use std::time::Duration;

use super::auth;
use super::peer::Peer;
use super::pending::Batch;

/// A peer's readiness, as peers ask it: 200 while it serves, 503 once it
/// drains for shutdown.
pub const READY_PATH: &str = "/_edge/ready";
/// Where peers send purges: the body of `POST /_purge`, purged there and
/// not sent on.
pub const PURGE_PATH: &str = "/_edge/purge";
/// Longest a probe waits for a peer's answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a purge waits for one peer's answer.
pub const PURGE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest a connection to a peer takes to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a call to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No usable answer (no connection, no answer in time, a 5xx, a broken
    /// or unexpected body, a refused token): the peer counts as down.
    #[error("{0}")]
    Down(String),
    /// A 4xx other than a refused token: the peer is up but will never take
    /// this request (a version that does not know it).
    #[error("{0}")]
    Refused(String),
}

/// An HTTP client that speaks as this node to its peers.
#[derive(Debug, Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    token: String,
    hop: String,
}

impl PeerClient {
    /// A client sending `token`, and `me` as the hop field.
    pub fn new(me: &Peer, token: &str) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(4))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            token: token.to_string(),
            hop: me.url().to_string(),
        })
    }

    /// Asks `peer` whether it can serve: `Ok` for a 200, else why not.
    pub async fn ready(&self, peer: &Peer) -> Result<(), CallError> {
        let req = self.http.get(format!("{}{READY_PATH}", peer.url()));
        self.send(req, PROBE_TIMEOUT).await.map(drop)
    }

    /// Sends `batch` to `peer` to purge there; its count of objects dropped.
    pub async fn purge(&self, peer: &Peer, batch: &Batch) -> Result<usize, CallError> {
        let body = serde_json::to_vec(batch).map_err(|e| CallError::Refused(e.to_string()))?;
        let req = self
            .http
            .post(format!("{}{PURGE_PATH}", peer.url()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        let body = self.send(req, PURGE_TIMEOUT).await?;
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("purged")?.as_u64())
            .map(|n| n as usize)
            .ok_or_else(|| CallError::Down(format!("not a purge answer: {:?}", first_line(&body))))
    }

    /// Sends `req` with the token and the hop field, within `limit`; the
    /// body of a 2xx answer, or why it failed.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        limit: Duration,
    ) -> Result<String, CallError> {
        let req = req
            .header(auth::TOKEN.as_str(), &self.token)
            .header(auth::HOP.as_str(), &self.hop)
            .timeout(limit);
        let down = |e: reqwest::Error| CallError::Down(describe(&e, limit));
        let resp = req.send().await.map_err(down)?;
        let status = resp.status();
        let refused = resp.headers().contains_key(auth::REFUSED.as_str());
        let body = resp.text().await.map_err(down)?;
        if status.is_success() {
            return Ok(body);
        }
        if status == reqwest::StatusCode::FORBIDDEN && refused {
            return Err(CallError::Down(
                "it refused our cluster token (is cluster.token the same on every node?)".into(),
            ));
        }
        let why = format!("answered {}: {}", status.as_u16(), first_line(&body));
        Err(if status.is_client_error() {
            CallError::Refused(why)
        } else {
            CallError::Down(why)
        })
    }
}

/// A reqwest error with its causes (the OS error at the end).
fn describe(e: &reqwest::Error, limit: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} ms", limit.as_millis());
    }
    crate::error_chain::chain(e)
}

/// The first line of an answer's body, at most 200 bytes of it.
fn first_line(body: &str) -> &str {
    let line = body.lines().next().unwrap_or_default();
    let mut end = line.len().min(200);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}
